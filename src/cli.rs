//! Command line: clap derive structs, turned into a validated [`Config`]. The only module that
//! knows clap; no raw strings travel past it.

use crate::analyze::derived::DerivedSettings;
use crate::analyze::rotation::RotationSettings;
use crate::analyze::{PairingSettings, Severity};
use crate::capture::InputPath;
use crate::decode::{FragmentLimits, ReassemblyLimits, TcpLimits};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// pcdns: what DNS answers do Persistent Chat clients really get?
#[derive(Debug, Parser)]
#[command(name = "pcdns", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse capture files against the deployment's expected DNS records.
    #[command(after_help = ANALYZE_HELP)]
    Analyze(AnalyzeArgs),
    /// Write a starting expectations file from a capture of a known-good deployment.
    #[command(after_help = EXPECT_HELP)]
    Expect(ExpectArgs),
    /// Write the transaction log: one JSON object per query/response transaction (NDJSON).
    #[command(after_help = LOG_HELP)]
    Log(LogArgs),
    /// Write a reproducible synthetic capture (for benchmarks and tests).
    #[command(after_help = SYNTH_HELP)]
    Synth(SynthArgs),
    /// Watch live interfaces: events as findings appear, a report every interval, Prometheus
    /// metrics (needs a build with `--features live` and libpcap).
    #[command(after_help = MONITOR_HELP)]
    Monitor(Box<MonitorArgs>),
    /// Combine JSON reports from several sensors or files into one report.
    #[command(after_help = MERGE_HELP)]
    Merge(MergeArgs),
}

/// The end of `pcdns analyze --help`: examples and exit codes.
const ANALYZE_HELP: &str = "\
Examples:
  pcdns analyze capture.pcap --expect contoso.toml
  pcdns analyze a.pcap b.pcapng.gz -e contoso.toml --format json --fail-on warning
  pcdns analyze day.pcap.zst --bucket 15m --html day.html   # discovery: the names seen

Exit codes:
  0  no finding at or above --fail-on
  1  findings at or above --fail-on (default: errors)
  2  an error: an input not read to its end, wrong expectations or a wrong option";

/// The end of `pcdns expect --help`.
const EXPECT_HELP: &str = "\
Examples:
  pcdns expect --from known-good.pcap > site.toml
  pcdns expect --from monday.pcap tuesday.pcap --top 5 > site.toml

Exit codes:
  0  the expectations were written
  2  an error: an input not read to its end or a wrong option";

/// The end of `pcdns log --help`.
const LOG_HELP: &str = "\
Examples:
  pcdns log capture.pcap --expect contoso.toml > watched.ndjson
  pcdns log capture.pcap | jq -c 'select(.status != \"answered\")'   # every name

Exit codes:
  0  the log was written
  2  an error: an input not read to its end, wrong expectations or a wrong option";

/// The end of `pcdns synth --help`.
const SYNTH_HELP: &str = "\
Examples:
  pcdns synth -o /tmp/bench.pcap --packets 5000000 --expect-out /tmp/synth.toml
  pcdns synth -o /tmp/small.pcapng --format pcapng --packets 1000 --wrong 0.2

Exit codes:
  0  the capture was written
  2  an error: the output could not be written or a wrong option";

/// The end of `pcdns monitor --help`.
const MONITOR_HELP: &str = "\
Examples:
  sudo pcdns monitor -i eth1 -e site.toml --metrics 9153 --events events.ndjson --user pcdns
  pcdns monitor -i eth1 -e site.toml --format json --interval 5m >> reports.ndjson
  pcdns monitor -i any   # discovery on every interface

Reports go to standard output; finding events (NDJSON) to --events FILE, or else to standard
error, with pcdns's own messages.

Exit codes:
  0  stopped by SIGINT or SIGTERM (findings do not change the exit code)
  2  an error: no permission, no such interface, an interface gone, wrong expectations, a build
     without the live feature or a wrong option";

/// The end of `pcdns merge --help`.
const MERGE_HELP: &str = "\
Examples:
  pcdns merge sensor-a.json sensor-b.json
  pcdns merge monday.json tuesday.json --format json > week.json

Exit codes:
  0  no error finding
  1  error findings
  2  an error: a report that cannot be read or merged, wrong expectations or a wrong option";

#[derive(Debug, Args)]
struct MonitorArgs {
    /// Interface to capture on (`any`: all); repeat for several.
    #[arg(long = "interface", short = 'i', required = true, value_name = "IFACE")]
    interfaces: Vec<String>,
    /// Expectations file (TOML). Without it, pcdns lists the names it sees (discovery).
    #[arg(long, short = 'e', value_name = "FILE")]
    expect: Option<PathBuf>,
    /// BPF capture filter [default: DNS ports, VLAN-tagged DNS and IP fragments].
    #[arg(long, value_name = "FILTER")]
    bpf: Option<String>,
    /// Bytes captured per frame.
    #[arg(long, value_name = "BYTES", default_value_t = 65_535, value_parser = clap::value_parser!(u32).range(64..=262_144))]
    snaplen: u32,
    /// Kernel capture buffer per interface, MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=2047))]
    buffer_size: u32,
    /// Promiscuous mode (the default: a span port delivers other hosts' traffic).
    #[arg(long, overrides_with = "no_promisc")]
    promisc: bool,
    /// No promiscuous mode.
    #[arg(long)]
    no_promisc: bool,
    /// Time between reports (500ms, 30s, 5m, 1h; a bare number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    interval: f64,
    /// Report format: text, or one JSON object per line.
    #[arg(long, short = 'f', value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
    /// Append finding events (NDJSON) to this file, reopened on SIGHUP [default: standard error;
    /// standard output carries only the reports].
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Least time between two events of the same kind for the same name (later ones are
    /// summed).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    event_interval: f64,
    /// Keep the frames behind each finding in rotating pcapng files in DIR; events name them.
    #[arg(long, value_name = "DIR")]
    evidence: Option<PathBuf>,
    /// Most MiB the evidence files may take in all (the oldest files are deleted).
    #[arg(long, value_name = "MIB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    evidence_max_mib: u64,
    /// Serve Prometheus metrics on ADDR (`PORT` or `HOST:PORT`; the host defaults to 127.0.0.1).
    #[arg(long, value_name = "ADDR", value_parser = metrics_address)]
    metrics: Option<std::net::SocketAddr>,
    /// Drop privileges to this user once the capture is open.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// Replace client addresses in events and reports by keyed-hash pseudonyms (fd00::/8).
    #[arg(long, value_name = "KEY")]
    pseudonymize: Option<String>,
    /// Write the transaction log as Parquet files under DIR, as `pcdns log --format parquet`
    /// does (needs a build with `--features parquet`).
    #[arg(long, value_name = "DIR")]
    log_parquet: Option<PathBuf>,
    /// Time between closes of the Parquet log's files (and at SIGINT/SIGTERM/SIGHUP).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration, requires = "log_parquet")]
    log_roll: f64,
    /// The sensor's name in the Parquet log [default: the host name].
    #[arg(long, value_name = "NAME", requires = "log_parquet")]
    sensor: Option<String>,
    /// Discovery: how many names to list.
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    #[command(flatten)]
    insight: InsightArgs,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// JSON reports (`analyze --format json`, or `monitor --format json` output: its last report).
    #[arg(required = true, value_name = "FILE")]
    reports: Vec<PathBuf>,
    /// Expectations file [default: the one the reports name].
    #[arg(long, short = 'e', value_name = "FILE")]
    expect: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
    /// Discovery: how many names to list.
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    #[command(flatten)]
    insight: InsightArgs,
}

/// `PORT`, `:PORT` or `HOST:PORT`; a bare port listens on loopback only.
fn metrics_address(text: &str) -> Result<std::net::SocketAddr, String> {
    let port_only = text.strip_prefix(':').unwrap_or(text);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        format!("\"{text}\" is not PORT or HOST:PORT (e.g. 9153, 127.0.0.1:9153, [::1]:9153)")
    })
}

#[derive(Debug, Args)]
struct SynthArgs {
    /// Output capture file.
    #[arg(long, short = 'o', value_name = "FILE")]
    out: PathBuf,
    /// Frames to write.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    packets: u64,
    /// Random seed (the same seed gives the same file).
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Container format.
    #[arg(long, value_enum, default_value_t = SynthFormatArg::Pcap)]
    format: SynthFormatArg,
    /// Share of events that are non-DNS packets (TCP/443).
    #[arg(long, value_name = "SHARE", default_value_t = 0.40, value_parser = share)]
    non_dns: f64,
    /// Share of events that are DNS exchanges for other names; the rest are for the watched pool.
    #[arg(long, value_name = "SHARE", default_value_t = 0.59, value_parser = share)]
    other_dns: f64,
    /// Share of pool answers holding a wrong address (10.10.10.250).
    #[arg(long, value_name = "SHARE", default_value_t = 0.05, value_parser = share)]
    wrong: f64,
    /// Share of queries left without a response.
    #[arg(long, value_name = "SHARE", default_value_t = 0.01, value_parser = share)]
    unanswered: f64,
    /// Pool members (10.10.10.1 and up).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=200))]
    pool_size: u8,
    /// Distinct clients.
    #[arg(long, value_name = "N", default_value_t = 5_000)]
    clients: u32,
    /// Share of frames with an 802.1Q VLAN tag.
    #[arg(long, value_name = "SHARE", default_value_t = 0.10, value_parser = share)]
    vlan: f64,
    /// Share of exchanges over IPv6.
    #[arg(long, value_name = "SHARE", default_value_t = 0.20, value_parser = share)]
    ipv6: f64,
    /// Write responses only (no queries).
    #[arg(long)]
    responses_only: bool,
    /// Largest payload of a non-DNS packet, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1200, value_parser = clap::value_parser!(u64).range(0..=9000))]
    max_payload: u64,
    /// Also write the matching expectations file here.
    #[arg(long, value_name = "FILE")]
    expect_out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SynthFormatArg {
    Pcap,
    Pcapng,
}

fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!("\"{text}\" is not a share between 0 and 1")),
    }
}

#[derive(Debug, Args)]
struct InputArgs {
    /// Extra UDP port carrying DNS (53 is always included); repeat for more.
    #[arg(long = "dns-port", value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    dns_ports: Vec<u16>,
    /// Busy threads in all: the thread that analyses in capture order (and decodes while it
    /// waits) and the threads that read and decode (1: one thread does everything) [default:
    /// number of CPUs].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Never show progress (shown on stderr only when it is a terminal, after half a second:
    /// a bar, or a spinner with bytes, packets and rate for standard input or a pipe).
    #[arg(long)]
    no_progress: bool,
    /// Bytes per segment when threads read a pcap file together; 0 reads with one reader
    /// (for tests: tiny segments exercise the segment boundaries).
    #[arg(long, value_name = "BYTES", hide = true, default_value_t = crate::pipeline::SEGMENT_BYTES)]
    segment_bytes: usize,
    /// Capture time after which a query without a response is unanswered (500ms, 30s, 5m, 1h;
    /// a bare number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    query_timeout: f64,
    /// Most queries (and recent answers) held for pairing; beyond it the oldest are evicted.
    #[arg(long, value_name = "N", default_value_t = 250_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_pending: u64,
    /// MiB the analysis may hold in all, split across its shards and parts: half for
    /// query/response pairing, a quarter for IP fragment and TCP stream reassembly, a
    /// sixteenth for the names discovery keeps; the rest is headroom for batches in flight and
    /// the report (the flags below override a part).
    #[arg(long, value_name = "MIB", default_value_t = 512, value_parser = clap::value_parser!(u64).range(4..=262_144))]
    memory: u64,
    /// MiB that query/response pairing may hold (queries, recent answers, their expiry queue)
    /// [default: half of --memory].
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pairing_memory: Option<u64>,
    /// Capture time after the first fragment when an incomplete IP datagram is given up.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    frag_timeout: f64,
    /// Capture time without a segment after which a TCP stream is closed.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    tcp_idle: f64,
    /// MiB that IP fragment and TCP stream reassembly may hold in all (a quarter for fragments)
    /// [default: a quarter of --memory].
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    reassembly_memory: Option<u64>,
    /// MiB that discovery may hold for the names it keeps (the busiest and the failing ones)
    /// [default: a sixteenth of --memory].
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    names_memory: Option<u64>,
}

/// TCP or fragment state beyond these counts is evicted (oldest first) and counted.
const MAX_DATAGRAMS_IN_PROGRESS: usize = 8192;
const MAX_TCP_DIRECTIONS: usize = 16_384;
/// Two maximal DNS messages (RFC 1035 §4.2.2: 16-bit length) per direction and then some.
const MAX_TCP_DIRECTION_BYTES: usize = 256 * 1024;

/// MiB as bytes (saturating).
fn mebibytes(mib: u64) -> usize {
    usize::try_from(mib)
        .unwrap_or(usize::MAX / 2)
        .saturating_mul(1 << 20)
}

/// Seconds as nanoseconds, rounded (`0.3` is not quite 0.3).
fn nanoseconds(seconds: f64) -> u64 {
    (seconds * 1e9).round() as u64
}

/// The forms every duration option accepts, for help and error messages.
const DURATION_FORMS: &str =
    "a number followed by ms, s, m or h (500ms, 30s, 1.5m, 1h), or a bare number of seconds (2.5)";

/// The longest duration an option takes: one day.
const MAX_DURATION_SECONDS: f64 = 86_400.0;

/// A duration option: `500ms`, `30s`, `5m`, `1h` or bare seconds (fractions allowed), more than
/// zero and at most a day; returned in seconds.
fn duration(text: &str) -> Result<f64, String> {
    let (number, unit_seconds) = [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)]
        .into_iter()
        .find_map(|(suffix, scale)| text.strip_suffix(suffix).map(|n| (n, scale)))
        .unwrap_or((text, 1.0));
    let starts_like_a_number = number.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    let seconds = number
        .parse::<f64>()
        .ok()
        .filter(|_| starts_like_a_number)
        .map(|n| n * unit_seconds)
        .ok_or_else(|| format!("not a duration; use {DURATION_FORMS}"))?;
    if seconds > 0.0 && seconds <= MAX_DURATION_SECONDS {
        Ok(seconds)
    } else {
        Err("out of range; a duration must be more than 0 and at most 24h".to_string())
    }
}

#[derive(Debug, Args)]
struct LogArgs {
    /// Capture files (pcap, pcapng, optionally gzip or zstd compressed); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Expectations file: log only the watched names (unless --all).
    #[arg(long, short = 'e', value_name = "FILE")]
    expect: Option<PathBuf>,
    /// Log every name, not only the watched ones.
    #[arg(long)]
    all: bool,
    /// Output format: NDJSON lines on standard output, or Parquet files under --output (needs
    /// a build with `--features parquet`).
    #[arg(long, value_enum, default_value = "ndjson")]
    format: LogFormatArg,
    /// Folder of the Parquet files (`date=YYYY-MM-DD/hour=HH/*.parquet`, by capture time).
    #[arg(
        long,
        short = 'o',
        value_name = "DIR",
        required_if_eq("format", "parquet")
    )]
    output: Option<PathBuf>,
    /// The sensor's name in the Parquet log's `sensor` column and file names [default: the
    /// host name].
    #[arg(long, value_name = "NAME", requires = "output")]
    sensor: Option<String>,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormatArg {
    Ndjson,
    Parquet,
}

/// Pool insight settings, shared by the commands that build reports.
#[derive(Debug, Args)]
struct InsightArgs {
    /// Width of one timeline interval, rounded up to whole seconds (30s, 5m, 1h; a bare number is
    /// seconds) [default: chosen so that at most 60 intervals span the DNS traffic seen; for
    /// `monitor`, the traffic since the start or the last SIGHUP, so the width grows from report
    /// to report: set it to keep reports comparable].
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    bucket: Option<f64>,
    /// Client subnet prefix length for IPv4, for the per-subnet rotation view.
    #[arg(long, value_name = "BITS", default_value_t = 24, value_parser = clap::value_parser!(u8).range(0..=32))]
    client_prefix_v4: u8,
    /// Client subnet prefix length for IPv6.
    #[arg(long, value_name = "BITS", default_value_t = 64, value_parser = clap::value_parser!(u8).range(0..=128))]
    client_prefix_v6: u8,
}

impl InsightArgs {
    fn options(&self) -> DerivedSettings {
        DerivedSettings {
            rotation: RotationSettings {
                v4_prefix: self.client_prefix_v4,
                v6_prefix: self.client_prefix_v6,
                ..RotationSettings::default()
            },
            bucket_ns: self.bucket.map(nanoseconds),
            ..DerivedSettings::default()
        }
    }
}

#[derive(Debug, Args)]
struct AnalyzeArgs {
    /// Capture files (pcap, pcapng, optionally gzip or zstd compressed); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Expectations file (TOML). Without it, pcdns lists the names it sees (discovery).
    #[arg(long, short = 'e', value_name = "FILE")]
    expect: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
    /// Exit with status 1 when a finding at or above this severity exists.
    #[arg(long, value_enum, default_value_t = FailOnArg::Error)]
    fail_on: FailOnArg,
    /// Discovery: how many names to list.
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    /// Clients listed per name in the text report (all are in JSON).
    #[arg(long, value_name = "N", default_value_t = 20)]
    max_clients: usize,
    /// When to colour the text report.
    #[arg(long, value_enum, default_value_t = ColourArg::Auto)]
    color: ColourArg,
    /// Also write a self-contained HTML report (charts included) to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// With `--format json`: also keep in the report what `pcdns merge` needs to pair
    /// transactions across the cut between this capture and the next or previous one (the
    /// queries pending at its end, the transactions near its start). The report grows by about
    /// the transactions of two query timeouts.
    #[arg(long)]
    exact_merge: bool,
    #[command(flatten)]
    insight: InsightArgs,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Debug, Args)]
struct ExpectArgs {
    /// Capture files of a healthy deployment.
    #[arg(long = "from", required = true, num_args = 1.., value_name = "FILE")]
    from: Vec<String>,
    /// How many names to write.
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FailOnArg {
    Error,
    Warning,
    Info,
    Never,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColourArg {
    Auto,
    Always,
    Never,
}

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Terminal tables.
    Text,
    /// JSON (schema `pcdns.report/1`).
    Json,
}

/// When to use ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Settings shared by every command that reads captures.
#[derive(Debug, Clone)]
pub struct InputConfig {
    /// Inputs in timeline order.
    pub inputs: Vec<InputPath>,
    /// UDP ports carrying DNS, 53 first.
    pub dns_ports: Vec<u16>,
    /// Busy threads in all.
    pub threads: usize,
    /// Show progress when stderr is a terminal.
    pub progress: bool,
    /// Segment size for reading pcap files on several threads (0: one reader).
    pub segment_bytes: usize,
    /// Query timeout and pairing state cap.
    pub pairing: PairingSettings,
    /// Reassembly timeouts and limits.
    pub reassembly: ReassemblyLimits,
    /// Most names discovery holds in all (split across the shards).
    pub discovered_names: usize,
}

/// `pcdns log`.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// What to read.
    pub input: InputConfig,
    /// Expectations file, if any.
    pub expect: Option<PathBuf>,
    /// Log every name even with expectations.
    pub all: bool,
    /// Where the log goes.
    pub output: LogOutput,
}

/// Where `pcdns log` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOutput {
    /// NDJSON on standard output.
    Ndjson,
    /// Parquet files under a folder.
    Parquet {
        /// The folder.
        dir: PathBuf,
        /// The sensor's name (None: the host name).
        sensor: Option<String>,
    },
}

/// `pcdns analyze`.
#[derive(Debug, Clone)]
pub struct AnalyzeConfig {
    /// What to read.
    pub input: InputConfig,
    /// Expectations file, if any.
    pub expect: Option<PathBuf>,
    /// Report format.
    pub format: Format,
    /// Lowest severity that makes the exit status 1 (None: never).
    pub fail_on: Option<Severity>,
    /// Discovery: names to list.
    pub top: usize,
    /// Clients per name in the text report.
    pub max_clients: usize,
    /// Colour choice.
    pub colour: ColourChoice,
    /// Where to write the HTML report, if anywhere.
    pub html: Option<PathBuf>,
    /// The JSON report keeps what merge needs to pair transactions across file cuts.
    pub exact_merge: bool,
    /// Rotation settings and timeline interval.
    pub insight: DerivedSettings,
}

/// `pcdns expect --from`.
#[derive(Debug, Clone)]
pub struct ExpectConfig {
    /// What to read.
    pub input: InputConfig,
    /// Names to write.
    pub top: usize,
}

/// `pcdns monitor`.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    /// Decoding, pairing and reassembly settings (`inputs` is empty).
    pub input: InputConfig,
    /// Expectations file, if any.
    pub expect: Option<PathBuf>,
    /// Interfaces.
    pub interfaces: Vec<String>,
    /// BPF filter override.
    pub bpf: Option<String>,
    /// Bytes per frame.
    pub snaplen: u32,
    /// Kernel buffer per interface, bytes.
    pub buffer_bytes: u32,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// Time between reports, ns.
    pub interval_ns: u64,
    /// Report format.
    pub format: Format,
    /// Events file (None: standard error).
    pub events: Option<PathBuf>,
    /// Least time between events of one kind for one name, ns.
    pub event_interval_ns: u64,
    /// Evidence directory.
    pub evidence: Option<PathBuf>,
    /// Most bytes of evidence in all.
    pub evidence_max_bytes: u64,
    /// Prometheus listen address.
    pub metrics: Option<std::net::SocketAddr>,
    /// User to switch to after opening the capture.
    pub user: Option<String>,
    /// Key for client pseudonyms.
    pub pseudonymize: Option<String>,
    /// The Parquet transaction log, if any.
    pub log_parquet: Option<LiveParquetLog>,
    /// Discovery: names to list.
    pub top: usize,
    /// Rotation settings and timeline interval.
    pub insight: DerivedSettings,
}

/// `monitor --log-parquet`: where, how often files are closed, and the sensor's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveParquetLog {
    /// The folder.
    pub dir: PathBuf,
    /// Time between rolls (ns).
    pub roll_ns: u64,
    /// The sensor's name (None: the host name).
    pub sensor: Option<String>,
}

/// `pcdns merge`.
#[derive(Debug, Clone)]
pub struct MergeConfig {
    /// The reports.
    pub reports: Vec<PathBuf>,
    /// Expectations override.
    pub expect: Option<PathBuf>,
    /// Output format.
    pub format: Format,
    /// Discovery: names to list.
    pub top: usize,
    /// Rotation settings and timeline interval.
    pub insight: DerivedSettings,
}

/// A validated command.
#[derive(Debug, Clone)]
pub enum Config {
    /// Watch live interfaces.
    Monitor(Box<MonitorConfig>),
    /// Merge JSON reports.
    Merge(MergeConfig),
    /// Analyse captures.
    Analyze(AnalyzeConfig),
    /// Write a starting expectations file.
    Expect(ExpectConfig),
    /// Write the transaction log.
    Log(LogConfig),
    /// Write a synthetic capture.
    Synth(SynthCommand),
}

/// `pcdns synth`.
#[derive(Debug, Clone)]
pub struct SynthCommand {
    /// What to generate.
    pub config: crate::synth::SynthConfig,
    /// Where to write it.
    pub out: PathBuf,
    /// pcap or pcapng.
    pub format: crate::capture::WriteFormat,
    /// Where to write the matching expectations, if anywhere.
    pub expect_out: Option<PathBuf>,
}

impl InputArgs {
    fn into_config(self, files: Vec<String>) -> InputConfig {
        let mut dns_ports = vec![53];
        dns_ports.extend(self.dns_ports.into_iter().filter(|p| *p != 53));
        dns_ports.dedup();
        let threads = self
            .threads
            .map(usize::from)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        InputConfig {
            inputs: files.iter().map(|f| InputPath::from_arg(f)).collect(),
            dns_ports,
            threads,
            progress: !self.no_progress,
            segment_bytes: self.segment_bytes,
            discovered_names: mebibytes(self.names_memory.unwrap_or(self.memory / 16))
                / crate::analyze::BYTES_PER_NAME,
            reassembly: {
                let total = mebibytes(self.reassembly_memory.unwrap_or(self.memory / 4));
                ReassemblyLimits {
                    fragments: FragmentLimits {
                        timeout_ns: nanoseconds(self.frag_timeout),
                        max_datagrams: MAX_DATAGRAMS_IN_PROGRESS,
                        max_bytes: total / 4,
                    },
                    tcp: TcpLimits {
                        idle_ns: nanoseconds(self.tcp_idle),
                        max_directions: MAX_TCP_DIRECTIONS,
                        max_direction_bytes: MAX_TCP_DIRECTION_BYTES,
                        max_bytes: total - total / 4,
                    },
                }
            },
            pairing: PairingSettings {
                query_timeout_ns: nanoseconds(self.query_timeout),
                max_pending: usize::try_from(self.max_pending).unwrap_or(usize::MAX),
                max_bytes: mebibytes(self.pairing_memory.unwrap_or(self.memory / 2)),
            },
        }
    }
}

/// Where `pcdns log` writes; `--output` without `--format parquet` is a usage error (clap's
/// own checks rule out the other mismatches).
fn log_output(format: LogFormatArg, output: Option<PathBuf>, sensor: Option<String>) -> LogOutput {
    match (format, output) {
        (LogFormatArg::Parquet, Some(dir)) => LogOutput::Parquet { dir, sensor },
        (LogFormatArg::Ndjson, None) => LogOutput::Ndjson,
        (_, Some(_)) | (LogFormatArg::Parquet, None) => {
            let message =
                "--output and --sensor go with --format parquet (NDJSON goes to standard output)";
            <Cli as clap::CommandFactory>::command()
                .error(clap::error::ErrorKind::ArgumentConflict, message)
                .exit()
        }
    }
}

fn format_of(format: FormatArg) -> Format {
    match format {
        FormatArg::Text => Format::Text,
        FormatArg::Json => Format::Json,
    }
}

impl Cli {
    /// Validates the parsed arguments.
    pub fn into_config(self) -> Config {
        match self.command {
            Command::Analyze(args) => Config::Analyze(AnalyzeConfig {
                input: args.input.into_config(args.files),
                expect: args.expect,
                format: format_of(args.format),
                fail_on: match args.fail_on {
                    FailOnArg::Error => Some(Severity::Error),
                    FailOnArg::Warning => Some(Severity::Warning),
                    FailOnArg::Info => Some(Severity::Info),
                    FailOnArg::Never => None,
                },
                top: args.top,
                max_clients: args.max_clients,
                colour: match args.color {
                    ColourArg::Auto => ColourChoice::Auto,
                    ColourArg::Always => ColourChoice::Always,
                    ColourArg::Never => ColourChoice::Never,
                },
                html: args.html,
                exact_merge: args.exact_merge,
                insight: args.insight.options(),
            }),
            Command::Expect(args) => Config::Expect(ExpectConfig {
                input: args.input.into_config(args.from),
                top: args.top,
            }),
            Command::Log(args) => Config::Log(LogConfig {
                input: args.input.into_config(args.files),
                expect: args.expect,
                all: args.all,
                output: log_output(args.format, args.output, args.sensor),
            }),
            Command::Monitor(args) => {
                let args = *args;
                Config::Monitor(Box::new(MonitorConfig {
                    input: args.input.into_config(Vec::new()),
                    expect: args.expect,
                    interfaces: args.interfaces,
                    bpf: args.bpf,
                    snaplen: args.snaplen,
                    buffer_bytes: args.buffer_size << 20,
                    promiscuous: !args.no_promisc,
                    interval_ns: nanoseconds(args.interval),
                    format: format_of(args.format),
                    events: args.events,
                    event_interval_ns: nanoseconds(args.event_interval),
                    evidence: args.evidence,
                    evidence_max_bytes: args.evidence_max_mib << 20,
                    metrics: args.metrics,
                    user: args.user,
                    pseudonymize: args.pseudonymize,
                    log_parquet: args.log_parquet.map(|dir| LiveParquetLog {
                        dir,
                        roll_ns: nanoseconds(args.log_roll),
                        sensor: args.sensor,
                    }),
                    top: args.top,
                    insight: args.insight.options(),
                }))
            }
            Command::Merge(args) => Config::Merge(MergeConfig {
                reports: args.reports,
                expect: args.expect,
                format: format_of(args.format),
                top: args.top,
                insight: args.insight.options(),
            }),
            Command::Synth(args) => Config::Synth(SynthCommand {
                config: crate::synth::SynthConfig {
                    packets: args.packets,
                    seed: args.seed,
                    non_dns: args.non_dns,
                    other_dns: args.other_dns.min(1.0 - args.non_dns),
                    wrong: args.wrong,
                    unanswered: args.unanswered,
                    pool_size: args.pool_size,
                    clients: args.clients,
                    vlan: args.vlan,
                    ipv6: args.ipv6,
                    responses_only: args.responses_only,
                    max_payload: args.max_payload as usize,
                },
                out: args.out,
                format: match args.format {
                    SynthFormatArg::Pcap => crate::capture::WriteFormat::Pcap,
                    SynthFormatArg::Pcapng => crate::capture::WriteFormat::Pcapng,
                },
                expect_out: args.expect_out,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metrics_port_alone_listens_on_loopback_only() {
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 9153));
        assert_eq!(metrics_address("9153"), Ok(loopback));
        assert_eq!(metrics_address(":9153"), Ok(loopback));
        assert_eq!(
            metrics_address("0.0.0.0:9153").map(|a| a.to_string()),
            Ok("0.0.0.0:9153".to_string())
        );
        assert_eq!(
            metrics_address("[::1]:9153").map(|a| a.to_string()),
            Ok("[::1]:9153".to_string())
        );
        assert!(metrics_address("localhost").is_err());
    }

    #[test]
    fn durations_take_units_and_bare_seconds() {
        for (text, seconds) in [
            ("500ms", 0.5),
            ("30s", 30.0),
            ("5m", 300.0),
            ("1h", 3600.0),
            ("1.5m", 90.0),
            ("2.5", 2.5),
            ("5", 5.0),
            (".25s", 0.25),
            ("24h", 86_400.0),
        ] {
            assert_eq!(duration(text), Ok(seconds), "{text}");
        }
    }

    #[test]
    fn a_wrong_duration_says_which_forms_are_accepted() {
        for text in [
            "2x", "", "s", "ms", "5 s", "5sec", "-5s", "inf", "nan", "5mh", "1d",
        ] {
            let error = duration(text).expect_err(text);
            assert!(error.contains("500ms, 30s, 1.5m, 1h"), "{text}: {error}");
        }
        for text in ["0", "0s", "0ms", "25h", "86401", "1e400"] {
            let error = duration(text).expect_err(text);
            assert!(error.contains("at most 24h"), "{text}: {error}");
        }
    }

    #[test]
    fn duration_options_become_nanoseconds() {
        let cli = Cli::try_parse_from([
            "pcdns",
            "monitor",
            "-i",
            "eth1",
            "--interval",
            "5m",
            "--event-interval",
            "300ms",
            "--query-timeout",
            "2",
            "--frag-timeout",
            "1h",
            "--tcp-idle",
            "90s",
            "--bucket",
            "10m",
        ])
        .unwrap();
        let Config::Monitor(config) = cli.into_config() else {
            panic!("not monitor");
        };
        assert_eq!(config.interval_ns, 300_000_000_000);
        assert_eq!(config.event_interval_ns, 300_000_000);
        assert_eq!(config.input.pairing.query_timeout_ns, 2_000_000_000);
        assert_eq!(
            config.input.reassembly.fragments.timeout_ns,
            3_600_000_000_000
        );
        assert_eq!(config.input.reassembly.tcp.idle_ns, 90_000_000_000);
        assert_eq!(config.insight.bucket_ns, Some(600_000_000_000));
    }

    #[test]
    fn monitor_defaults_suit_a_span_port() {
        let cli = Cli::try_parse_from(["pcdns", "monitor", "-i", "eth1", "-i", "eth2"]).unwrap();
        let Config::Monitor(config) = cli.into_config() else {
            panic!("not monitor");
        };
        assert_eq!(config.interfaces, ["eth1", "eth2"]);
        assert!(config.promiscuous);
        assert_eq!(config.buffer_bytes, 64 << 20);
        assert_eq!(config.interval_ns, 60_000_000_000);
        assert_eq!(config.metrics, None);
        let cli = Cli::try_parse_from(["pcdns", "monitor", "-i", "eth1", "--no-promisc"]).unwrap();
        let Config::Monitor(config) = cli.into_config() else {
            panic!("not monitor");
        };
        assert!(!config.promiscuous);
    }
}
