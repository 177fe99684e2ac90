//! Reports: an owned, ordered snapshot of an analysis ([`Report`]) and its renderings (text
//! table, JSON). Deterministic: the same input gives the same bytes (sorted by count, then key).
//! The only module that knows output formats.

mod build;
mod event;
mod expectations;
mod fix;
mod html;
pub mod insight;
mod insight_text;
mod json_bytes;
mod log;
mod metrics;
#[cfg(feature = "parquet")]
pub mod parquet;
mod state;
mod table;
mod text;
mod text_forms;
mod words;

pub use build::{build, build_judged, ReportOptions};
pub use event::{render_event, EventFacts};
pub use expectations::{expectations_toml, failed_lookups_warning};
pub use html::render_html;
pub use log::{first_ts_ns, rcode_name, NdjsonLines, NdjsonRenderer, NdjsonWriter};
pub use metrics::{render_metrics, MonitorCounters};
pub use state::{read_report, SavedReport, SavedRun};
pub use text::{render_text, TextStyle};
pub use text_forms::{AddressText, Rfc3339Clock, Rfc3339Text};

use crate::analyze::{FindingKind, Severity};
use crate::capture::FileSummary;
use crate::expect::EntryKind;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Version of the JSON report schema; bumped on any incompatible change.
pub const SCHEMA: &str = "pcdns.report/1";

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Schema identifier ([`SCHEMA`]).
    pub schema: &'static str,
    /// "expectations" or "discovery".
    pub mode: &'static str,
    /// The expectations file, in expectations mode.
    pub expectations: Option<String>,
    /// Capture-level summary.
    pub summary: Summary,
    /// Inputs that could not be read to the end ("file: byte offset N: problem").
    pub capture_errors: Vec<String>,
    /// Findings, most severe first, then by count.
    pub findings: Vec<FindingReport>,
    /// Findings per severity.
    pub finding_counts: FindingCounts,
    /// Per watched name (expectations: file order; discovery: top names by responses).
    pub names: Vec<NameReport>,
    /// Discovery only: names whose responses were failures (NXDOMAIN, SERVFAIL, REFUSED, other).
    pub failures: Vec<FailureReport>,
    /// The raw mergeable state behind this report (`pcdns merge` reads it).
    pub state: SavedRun,
}

/// Capture health of one interface (live capture).
#[derive(Debug, Clone, Serialize)]
pub struct InterfaceReport {
    /// Interface name.
    pub interface: String,
    /// Packets that passed the filter and reached pcdns.
    pub received: u64,
    /// Dropped by the kernel: pcdns did not keep up.
    pub kernel_dropped: u64,
    /// Dropped by the interface or its driver.
    pub interface_dropped: u64,
    /// Packets per second received, over the whole capture.
    pub packets_per_second: f64,
    /// Seconds captured.
    pub seconds: f64,
}

/// Capture-level summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Per input file.
    pub files: Vec<FileSummary>,
    /// Live capture: health per interface (received, drops, rate).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceReport>,
    /// Frames read.
    pub packets: u64,
    /// DNS messages on DNS ports.
    pub dns_messages: u64,
    /// DNS queries (messages that are not responses).
    pub queries: u64,
    /// DNS responses.
    pub responses: u64,
    /// Responses attributed to a watched (or discovered) name.
    pub watched_responses: u64,
    /// Frames that produced no DNS message, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Sum of `skipped`.
    pub skipped_total: u64,
    /// Frames cut by the snaplen.
    pub snaplen_truncated: u64,
    /// Frames with a timestamp earlier than the frame before.
    pub timestamps_backwards: u64,
    /// Discovery: responses for names beyond the tracking limit.
    pub untracked_name_responses: u64,
    /// First capture timestamp (RFC 3339, UTC).
    pub first_seen: Option<String>,
    /// Last capture timestamp (RFC 3339, UTC).
    pub last_seen: Option<String>,
    /// Capture time span in seconds.
    pub span_seconds: f64,
    /// Packets per second of capture time.
    pub capture_packets_per_second: f64,
    /// Query/response pairing.
    pub transactions: TransactionSummary,
    /// IP fragment and TCP stream reassembly.
    pub reassembly: ReassemblySummary,
}

/// What reassembly did, and what it had to drop.
#[derive(Debug, Clone, Serialize)]
pub struct ReassemblySummary {
    /// `--frag-timeout` in force.
    pub frag_timeout_seconds: f64,
    /// `--tcp-idle` in force.
    pub tcp_idle_seconds: f64,
    /// IP fragments of UDP datagrams.
    pub ip_fragments: u64,
    /// Datagrams reassembled.
    pub datagrams_reassembled: u64,
    /// Datagrams given up incomplete (their first fragment is decoded as far as it goes).
    pub datagrams_incomplete: u64,
    /// Datagrams dropped at the limits.
    pub datagrams_evicted: u64,
    /// Fragments overlapping bytes already held.
    pub fragment_overlaps: u64,
    /// Overlaps with different bytes, or conflicting datagram ends.
    pub fragment_inconsistent: u64,
    /// Fragments past the largest possible datagram, or larger than the whole budget.
    pub fragments_oversized: u64,
    /// Most bytes the fragment table held.
    pub fragment_peak_bytes: usize,
    /// TCP segments on DNS ports.
    pub tcp_segments: u64,
    /// DNS messages taken out of TCP streams.
    pub tcp_messages: u64,
    /// TCP directions followed.
    pub tcp_directions: u64,
    /// Directions dropped at the limits.
    pub tcp_evicted: u64,
    /// Bytes dropped (gaps, partial messages at close, resynchronisation, eviction).
    pub tcp_dropped_bytes: u64,
    /// Retransmitted bytes ignored.
    pub tcp_retransmitted_bytes: u64,
    /// Times a stream resynchronised on a message boundary.
    pub tcp_resyncs: u64,
    /// Most bytes the TCP streams held.
    pub tcp_peak_bytes: usize,
    /// Truncated (TC) UDP responses.
    pub truncated_responses: u64,
    /// ... followed by the same question over TCP.
    pub truncated_retried_over_tcp: u64,
    /// ... not followed within the query timeout.
    pub truncated_not_retried: u64,
    /// ... still undecided when the capture ended.
    pub truncated_pending_at_end: u64,
}

/// How the query/response transactions ended.
#[derive(Debug, Clone, Serialize)]
pub struct TransactionSummary {
    /// The query timeout in force (capture time).
    pub query_timeout_seconds: f64,
    /// The cap on queries and recent answers held.
    pub max_pending: usize,
    /// The cap on the bytes pairing holds (estimate).
    pub max_bytes: usize,
    /// Most bytes pairing held at once (estimate).
    pub peak_bytes: u64,
    /// Queries with their response.
    pub answered: u64,
    /// Queries without a response within the timeout.
    pub unanswered: u64,
    /// Queries younger than the timeout when the capture ended.
    pub pending_at_end: u64,
    /// Responses whose query is not in the capture.
    pub orphan_responses: u64,
    /// Second responses to answered queries.
    pub duplicate_responses: u64,
    /// Responses to aliases whose queries were not tracked (not watched names).
    pub unpaired_responses: u64,
    /// Query retransmissions.
    pub retries: u64,
    /// Pending queries dropped at the cap.
    pub evicted_queries: u64,
    /// Recent answers dropped at the cap (a later duplicate then shows as an orphan).
    pub evicted_answers: u64,
}

/// Response times from a fixed-bucket histogram (quantiles are bucket upper bounds).
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// Answered queries measured.
    pub count: u64,
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile, milliseconds.
    pub p90_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Largest, milliseconds (exact).
    pub max_ms: f64,
    /// Non-empty buckets as [bucket index, count]; bucket i ends at 1 µs × 2^(i/4).
    pub buckets: Vec<[u64; 2]>,
}

/// Findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FindingCounts {
    /// Errors.
    pub error: u64,
    /// Warnings.
    pub warning: u64,
    /// Informational.
    pub info: u64,
}

/// A frame a person can open: file name and Wireshark frame number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FrameReport {
    /// The input file as named on the command line.
    pub file: String,
    /// Frame number (from 1).
    pub frame: u64,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct FindingReport {
    /// error, warning or info.
    pub severity: Severity,
    /// Machine-readable kind.
    pub kind: FindingKind,
    /// The watched name.
    pub name: String,
    /// The address, server, record type or rcode concerned ("" when none).
    pub subject: String,
    /// One sentence for people.
    pub message: String,
    /// How many responses showed it (0 for findings about absence).
    pub count: u64,
    /// First time seen (RFC 3339, UTC).
    pub first_seen: Option<String>,
    /// Last time seen.
    pub last_seen: Option<String>,
    /// The earliest frames that show it.
    pub examples: Vec<FrameReport>,
    /// DNS servers involved (up to 8).
    pub servers: Vec<IpAddr>,
    /// Clients involved (up to 8).
    pub clients: Vec<IpAddr>,
}

impl FindingReport {
    /// A finding judged from the analysis as a whole (absence, rotation, divergence): no times,
    /// no example frames, no peers.
    pub fn without_frames(
        kind: FindingKind,
        name: &str,
        subject: String,
        count: u64,
        message: String,
    ) -> Self {
        FindingReport {
            severity: kind.severity(),
            kind,
            name: name.to_string(),
            subject,
            message,
            count,
            first_seen: None,
            last_seen: None,
            examples: Vec::new(),
            servers: Vec::new(),
            clients: Vec::new(),
        }
    }
}

/// The expected answers of a watched name.
#[derive(Debug, Clone, Serialize)]
pub struct ExpectedReport {
    /// server, pool or host.
    pub kind: EntryKind,
    /// Addresses required in answers.
    pub members: Vec<IpAddr>,
    /// Addresses allowed but not required.
    pub standby: Vec<IpAddr>,
    /// Largest acceptable TTL.
    pub max_ttl: Option<u32>,
}

/// One distinct answer set.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerSetReport {
    /// The addresses, sorted.
    pub addresses: Vec<IpAddr>,
    /// Responses with exactly this set.
    pub count: u64,
    /// First time seen.
    pub first_seen: Option<String>,
    /// Last time seen.
    pub last_seen: Option<String>,
    /// The earliest frames.
    pub examples: Vec<FrameReport>,
}

/// How one address fared in the answers for a name.
#[derive(Debug, Clone, Serialize)]
pub struct AddressReport {
    /// The address.
    pub address: IpAddr,
    /// member, standby, unexpected (expectations) or observed (discovery).
    pub role: &'static str,
    /// Answers containing it.
    pub present: u64,
    /// Answers in which it came first.
    pub first: u64,
}

/// What one client received.
#[derive(Debug, Clone, Serialize)]
pub struct ClientReport {
    /// The client address.
    pub client: IpAddr,
    /// stub (only asks) or resolver (also answers as a DNS server: a forwarder's upstream view).
    pub role: &'static str,
    /// Responses it received.
    pub responses: u64,
    /// Per address: present and first, by address.
    pub addresses: Vec<AddressReport>,
}

/// What one DNS server gave.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    /// The server address.
    pub server: IpAddr,
    /// Responses it sent.
    pub responses: u64,
    /// On the authorized list (None when no list is configured).
    pub authorized: Option<bool>,
    /// Responses by rcode class.
    pub rcodes: BTreeMap<&'static str, u64>,
    /// Distinct answer sets with counts.
    pub answer_sets: Vec<AnswerSetCount>,
    /// Response times of its answered queries for this name.
    pub latency: Option<LatencyReport>,
}

/// An answer set with a count.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerSetCount {
    /// The addresses, sorted.
    pub addresses: Vec<IpAddr>,
    /// How many responses.
    pub count: u64,
}

/// Everything about one name.
#[derive(Debug, Clone, Serialize)]
pub struct NameReport {
    /// The name.
    pub name: String,
    /// What was expected (None in discovery).
    pub expected: Option<ExpectedReport>,
    /// Queries seen.
    pub queries: u64,
    /// Responses seen.
    pub responses: u64,
    /// Queries without a response within the query timeout.
    pub unanswered: u64,
    /// Response times of answered queries.
    pub latency: Option<LatencyReport>,
    /// Responses by rcode class (NOERROR, NODATA, NXDOMAIN, SERVFAIL, REFUSED, OTHER).
    pub rcodes: BTreeMap<&'static str, u64>,
    /// Distinct answer sets, most frequent first.
    pub answer_sets: Vec<AnswerSetReport>,
    /// Per address: role, present, first (expected members first, then by presence).
    pub addresses: Vec<AddressReport>,
    /// Required members that never appeared.
    pub members_never_seen: Vec<IpAddr>,
    /// Per client, most responses first (expected names; discovery counts them instead).
    pub clients: Vec<ClientReport>,
    /// Discovery: how many distinct clients received a response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct_clients: Option<DistinctClientsReport>,
    /// Per DNS server, most responses first.
    pub servers: Vec<ServerReport>,
    /// Names asked that led here through CNAMEs.
    pub aliases: BTreeMap<String, u64>,
    /// Where this name led through CNAMEs (the chain's last name), with counts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub cname_targets: BTreeMap<String, u64>,
    /// Responses beyond the per-name tracking limits (clients, servers, answer sets).
    pub untracked: BTreeMap<&'static str, u64>,
    /// Pool insight: roles, rotation, changes, timeline, divergence (None without responses).
    pub insight: Option<insight::InsightReport>,
}

impl NameReport {
    /// The members its expectations require (none in discovery).
    pub fn expected_members(&self) -> &[IpAddr] {
        self.expected.as_ref().map_or(&[], |e| e.members.as_slice())
    }
}

/// How many distinct clients a discovered name had.
#[derive(Debug, Clone, Serialize)]
pub struct DistinctClientsReport {
    /// The count: exact, or estimated by a HyperLogLog sketch.
    pub count: u64,
    /// The estimate's relative standard error (0 when exact).
    pub relative_error: f64,
}

/// Discovery: a name whose lookups failed (error responses, or no response).
#[derive(Debug, Clone, Serialize)]
pub struct FailureReport {
    /// The name.
    pub name: String,
    /// Failed responses and unanswered queries.
    pub failures: u64,
    /// Failed responses by rcode class.
    pub rcodes: BTreeMap<&'static str, u64>,
    /// Queries without a response within the query timeout.
    pub unanswered: u64,
}

/// Formats a capture timestamp as RFC 3339 in UTC with microseconds.
pub fn rfc3339(ts_ns: u64) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ns))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time.format(&format).unwrap_or_default()
}

impl Report {
    /// What `name` expects, when the report watches it.
    pub fn expected_of(&self, name: &str) -> Option<&ExpectedReport> {
        self.names
            .iter()
            .find(|n| n.name.eq_ignore_ascii_case(name))
            .and_then(|n| n.expected.as_ref())
    }

    /// The DNS servers that answered `name` without being authorized to.
    pub fn unauthorized_servers_of(&self, name: &str) -> Vec<IpAddr> {
        self.names
            .iter()
            .filter(|n| n.name.eq_ignore_ascii_case(name))
            .flat_map(|n| n.servers.iter())
            .filter(|s| s.authorized == Some(false))
            .map(|s| s.server)
            .collect()
    }
}

/// Renders `report` as one line of JSON (JSON lines: a monitor's periodic reports).
pub fn render_json_line(report: &Report) -> String {
    with_newline(serde_json::to_string(report))
}

/// Renders `report` as pretty JSON with a trailing newline.
pub fn render_json(report: &Report) -> String {
    let mut json = Vec::new();
    write_json(report, &mut json).expect("writing into memory does not fail");
    String::from_utf8(json).expect("serde_json writes UTF-8")
}

/// Writes `report` as pretty JSON with a trailing newline, as it is serialized: the report of
/// thousands of clients is megabytes, and building it in memory first cost a run's last
/// stretch (one thread) fresh pages and copies.
pub fn write_json(report: &Report, out: &mut impl std::io::Write) -> std::io::Result<()> {
    match serde_json::to_writer_pretty(&mut *out, report) {
        Ok(()) => out.write_all(b"\n"),
        Err(e) if e.is_io() => Err(e.into()),
        // Only a map whose keys are not strings fails, a bug no input can cause: fail loudly
        // rather than print half a report.
        Err(e) => panic!("every map in the report has string keys: {e}"),
    }
}

/// The serialized report and a newline. Serializing can only fail on a map whose keys are not
/// strings, a bug no input can cause: fail loudly rather than print an empty report.
fn with_newline(json: serde_json::Result<String>) -> String {
    let mut json = json.expect("every map in the report has string keys");
    json.push('\n');
    json
}
