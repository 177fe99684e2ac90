//! Builds the [`Report`] snapshot from an analysis: orders everything and words each finding,
//! those recorded during the analysis and those `analyze::derived` judges from it as a whole.
//! It makes no findings.

use super::*;
use crate::analyze::derived::{
    derived_findings, members_never_seen, DerivedFinding, DerivedSettings, Detail,
};
use crate::analyze::empty_evidence::NoEvidence;
use crate::analyze::silent_servers::SilentServer;
use crate::analyze::MAX_NAMED_PEERS;
use crate::analyze::{
    Analysis, FindingKey, FrameRef, LatencyHistogram, NameFacts, Occurrences, PairingSettings,
    Placements, RcodeClass, Watching, SKETCH_RELATIVE_ERROR,
};
use crate::decode::ReassemblyLimits;
use crate::expect::{Expectations, ExpectedName};
use crate::pipeline::RunOutcome;
use insight::insight;
use std::collections::BTreeSet;
use words::{abbreviated, address_list, counted, plural, MAX_LISTED_ADDRESSES};

/// Choices that shape the report.
#[derive(Debug, Clone, Copy)]
pub struct ReportOptions {
    /// Discovery: how many names (and failing names) to list.
    pub top_names: usize,
    /// The pairing settings the run used (stated in the report).
    pub pairing: PairingSettings,
    /// The reassembly limits the run used.
    pub reassembly: ReassemblyLimits,
    /// Rotation settings and timeline buckets.
    pub insight: DerivedSettings,
}

/// Builds the report of `outcome` measured against `watching`.
pub fn build(outcome: &RunOutcome, watching: &Watching, options: ReportOptions) -> Report {
    let derived = derived_findings(
        &outcome.analysis,
        watching,
        options.top_names,
        &options.insight,
    );
    build_judged(outcome, watching, options, &derived)
}

/// Builds the report of `outcome` with `derived`, the findings judged from the analysis as a
/// whole (the monitor judges them once per report interval, not at every build).
pub fn build_judged(
    outcome: &RunOutcome,
    watching: &Watching,
    options: ReportOptions,
    derived: &[DerivedFinding],
) -> Report {
    let analysis = &outcome.analysis;
    // Frame references index the files, then the interfaces.
    let file_names: Vec<String> = outcome
        .files
        .iter()
        .map(|f| f.name.clone())
        .chain(outcome.interfaces.iter().map(|i| i.interface.clone()))
        .collect();
    let frames = |examples: &[FrameRef]| frame_reports(examples, &file_names);
    let stale = watching
        .expectations()
        .map(|expectations| analysis.stale_answer_findings(expectations))
        .unwrap_or_default();
    let mut findings: Vec<FindingReport> = analysis
        .findings
        .iter()
        .chain(stale.iter().map(|(key, occurrences)| (key, occurrences)))
        .map(|(key, occurrences)| {
            finding_report(key, occurrences, watching.expectations(), &frames)
        })
        .collect();
    findings.extend(derived.iter().map(derived_report));
    let resolvers = analysis.resolvers();
    let context = NameContext {
        resolvers: &resolvers,
        insight: &options.insight,
        frames: &frames,
    };
    let names: Vec<NameReport> = match watching {
        Watching::Expectations(expectations) => expectations
            .names
            .iter()
            .map(|entry| {
                let never_seen;
                let facts = match analysis.expected_facts(entry) {
                    Some(facts) => facts,
                    None => {
                        never_seen = NameFacts::named(entry.name.clone());
                        &never_seen
                    }
                };
                name_report(facts, Some(entry), expectations, &context)
            })
            .collect(),
        Watching::Discovery => {
            let none = Expectations::default();
            analysis
                .top_answered_names(options.top_names)
                .into_iter()
                .map(|(facts, clients)| NameReport {
                    distinct_clients: Some(DistinctClientsReport {
                        count: clients.count,
                        relative_error: if clients.estimated {
                            SKETCH_RELATIVE_ERROR
                        } else {
                            0.0
                        },
                    }),
                    ..name_report(&facts, None, &none, &context)
                })
                .collect()
        }
    };
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.count.cmp(&a.count))
            .then_with(|| {
                (a.kind, &a.name, subject_order(&a.subject)).cmp(&(
                    b.kind,
                    &b.name,
                    subject_order(&b.subject),
                ))
            })
    });
    let mut finding_counts = FindingCounts::default();
    for finding in &findings {
        match finding.severity {
            Severity::Error => finding_counts.error += 1,
            Severity::Warning => finding_counts.warning += 1,
            Severity::Info => finding_counts.info += 1,
        }
    }
    let failures = match watching {
        Watching::Discovery => failure_reports(analysis, options.top_names),
        Watching::Expectations(_) => Vec::new(),
    };
    Report {
        schema: SCHEMA,
        mode: if watching.expectations().is_some() {
            "expectations"
        } else {
            "discovery"
        },
        expectations: watching.expectations().map(|e| e.source.clone()),
        summary: summary(outcome, options),
        capture_errors: outcome.errors.iter().map(ToString::to_string).collect(),
        findings,
        finding_counts,
        names,
        failures,
        state: SavedRun::of(outcome, options.pairing, options.reassembly),
    }
}

/// Orders finding subjects that are addresses numerically (10.0.0.11 before 10.0.0.101), the
/// others (record types, rcodes) by their text, after the addresses.
fn subject_order(subject: &str) -> (bool, Option<IpAddr>, &str) {
    let address = subject.parse().ok();
    (address.is_none(), address, subject)
}

fn summary(outcome: &RunOutcome, options: ReportOptions) -> Summary {
    let pairing = options.pairing;
    let traffic = &outcome.analysis.traffic;
    let span_ns = match (traffic.first_ts_ns, traffic.last_ts_ns) {
        (Some(first), Some(last)) => last - first,
        _ => 0,
    };
    let span_seconds = span_ns as f64 / 1e9;
    let skipped: BTreeMap<String, u64> = traffic
        .skipped
        .iter()
        .map(|(why, count)| (why.key(), count))
        .collect();
    Summary {
        files: outcome.files.clone(),
        interfaces: outcome
            .interfaces
            .iter()
            .map(|i| InterfaceReport {
                interface: i.interface.clone(),
                received: i.received,
                kernel_dropped: i.kernel_dropped,
                interface_dropped: i.interface_dropped,
                packets_per_second: round3(i.received as f64 / i.seconds.max(1e-9)),
                seconds: round3(i.seconds),
            })
            .collect(),
        packets: traffic.packets,
        dns_messages: traffic.dns_messages,
        queries: traffic.dns_messages - traffic.responses,
        responses: traffic.responses,
        watched_responses: traffic.watched_responses,
        skipped_total: skipped.values().sum(),
        skipped,
        snaplen_truncated: traffic.snaplen_truncated,
        timestamps_backwards: outcome.timestamps_backwards,
        untracked_name_responses: traffic.untracked_name_responses,
        first_seen: traffic.first_ts_ns.map(rfc3339),
        last_seen: traffic.last_ts_ns.map(rfc3339),
        span_seconds: round3(span_seconds),
        capture_packets_per_second: if span_seconds > 0.0 {
            round3(traffic.packets as f64 / span_seconds)
        } else {
            0.0
        },
        transactions: TransactionSummary {
            query_timeout_seconds: pairing.query_timeout_ns as f64 / 1e9,
            max_pending: pairing.max_pending,
            max_bytes: pairing.max_bytes,
            peak_bytes: traffic.pairing.peak_bytes,
            answered: traffic.pairing.answered,
            unanswered: traffic.pairing.unanswered,
            pending_at_end: traffic.pairing.pending,
            orphan_responses: traffic.pairing.orphans,
            duplicate_responses: traffic.pairing.duplicates,
            unpaired_responses: traffic.pairing.unpaired,
            retries: traffic.pairing.retries,
            evicted_queries: traffic.pairing.evicted_queries,
            evicted_answers: traffic.pairing.evicted_answers,
        },
        reassembly: reassembly_summary(traffic, options.reassembly),
    }
}

fn reassembly_summary(
    traffic: &crate::analyze::TrafficCounters,
    limits: ReassemblyLimits,
) -> ReassemblySummary {
    let (fragments, tcp, truncation) = (
        &traffic.reassembly.fragments,
        &traffic.reassembly.tcp,
        &traffic.truncation,
    );
    ReassemblySummary {
        frag_timeout_seconds: limits.fragments.timeout_ns as f64 / 1e9,
        tcp_idle_seconds: limits.tcp.idle_ns as f64 / 1e9,
        ip_fragments: fragments.fragments,
        datagrams_reassembled: fragments.reassembled,
        datagrams_incomplete: fragments.incomplete,
        datagrams_evicted: fragments.evicted,
        fragment_overlaps: fragments.overlaps,
        fragment_inconsistent: fragments.inconsistent,
        fragments_oversized: fragments.oversized,
        fragment_peak_bytes: fragments.peak_bytes,
        tcp_segments: tcp.segments,
        tcp_messages: tcp.messages,
        tcp_directions: tcp.directions,
        tcp_evicted: tcp.evicted,
        tcp_dropped_bytes: tcp.dropped_bytes,
        tcp_retransmitted_bytes: tcp.retransmitted_bytes,
        tcp_resyncs: tcp.resyncs,
        tcp_peak_bytes: tcp.peak_bytes,
        truncated_responses: truncation.truncated,
        truncated_retried_over_tcp: truncation.retried,
        truncated_not_retried: truncation.not_retried,
        truncated_pending_at_end: truncation.pending_at_end,
    }
}

fn milliseconds(ns: u64) -> f64 {
    (ns as f64 / 1_000.0).round() / 1_000.0
}

fn latency_report(histogram: &LatencyHistogram) -> Option<LatencyReport> {
    let quantile = |q| milliseconds(histogram.quantile_ns(q).unwrap_or_default());
    (histogram.count > 0).then(|| LatencyReport {
        count: histogram.count,
        p50_ms: quantile(0.5),
        p90_ms: quantile(0.9),
        p99_ms: quantile(0.99),
        max_ms: milliseconds(histogram.max_ns),
        buckets: histogram.non_empty_buckets(),
    })
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

pub(super) fn frame_reports(examples: &[FrameRef], file_names: &[String]) -> Vec<FrameReport> {
    examples
        .iter()
        .map(|f| FrameReport {
            file: file_names
                .get(usize::from(f.file_index))
                .cloned()
                .unwrap_or_default(),
            frame: f.frame_number,
        })
        .collect()
}

pub(super) fn finding_report(
    key: &FindingKey,
    occurrences: &Occurrences,
    expectations: Option<&Expectations>,
    frames: &dyn Fn(&[FrameRef]) -> Vec<FrameReport>,
) -> FindingReport {
    let entry = expectations.and_then(|e| e.find(&key.name).map(|index| &e.names[index]));
    let expected = entry
        .map(|e| {
            address_list(
                &[e.members.as_slice(), e.standby.as_slice()].concat(),
                "addresses",
                ", ",
            )
        })
        .unwrap_or_default();
    let count = occurrences.count;
    let subject = &key.subject;
    let (answers, responses) = (plural(count, "answer"), plural(count, "response"));
    let queries = counted(count, "query", "queries");
    let were = if count == 1 { "was" } else { "were" };
    let message = match key.kind {
        FindingKind::WrongAddress => format!("{answers} held {subject}, which is not an expected address (expected {expected})"),
        FindingKind::Nxdomain => format!("{responses} said the name does not exist (NXDOMAIN)"),
        FindingKind::Servfail => format!("{responses} {were} SERVFAIL: the server could not answer"),
        FindingKind::Refused => format!("{responses} {were} REFUSED"),
        FindingKind::OtherRcode => format!("{responses} carried {subject}"),
        FindingKind::UnauthorizedServer => format!("{answers} came from {subject}, which is not an authorized DNS server"),
        FindingKind::MissingMember => format!("{answers} lacked member {subject}"),
        FindingKind::Nodata => format!("{responses} {were} NOERROR without {subject} records, which the expectations define"),
        FindingKind::TtlAboveMax => format!("{answers} had a TTL above the maximum ({subject}); highest {}", occurrences.largest),
        FindingKind::Unanswered => format!("{queries} sent to {subject} got no response within the query timeout"),
        FindingKind::UnsolicitedResponse => {
            format!("{responses} from {subject} answered a query that is not in the capture (spoofing shows this way)")
        }
        FindingKind::ConflictingAnswers => format!("{} {subject} sent a second, different answer to one query", counted(count, "time", "times")),
        FindingKind::TruncatedNotRetried => format!(
            "{} from {subject} {were} not followed by the same question over TCP within the query timeout: the client never got the whole answer",
            counted(count, "truncated (TC) answer", "truncated (TC) answers")
        ),
        FindingKind::StaleAnswer => format!("{answers} still held the older set {subject} after the answer set changed and that set's TTL ran out"),
        FindingKind::NearMiss => {
            let name = &key.name;
            format!("{} of {subject} {were} after {name} (suffix devolution or a single-label name) and failed", plural(count, "lookup"))
        }
        // Derived from the analysis as a whole (analyze/derived.rs), never recorded per
        // response: worded by `derived_report`.
        FindingKind::NotRotating
        | FindingKind::Unbalanced
        | FindingKind::MemberNeverFirst
        | FindingKind::ClientsStuck
        | FindingKind::NetmaskOrdering
        | FindingKind::DivergentServers
        | FindingKind::MemberNeverSeen
        | FindingKind::NameNotSeen
        | FindingKind::ServerNotAnswering
        | FindingKind::ServerSilentAtEnd
        | FindingKind::NoWatchedResponses => String::new(),
    };
    FindingReport {
        severity: key.kind.severity(),
        kind: key.kind,
        name: key.name.clone(),
        subject: key.subject.clone(),
        message,
        count,
        first_seen: Some(rfc3339(occurrences.first_ts_ns)),
        last_seen: Some(rfc3339(occurrences.last_ts_ns)),
        examples: frames(&occurrences.examples),
        servers: occurrences.servers.iter().copied().collect(),
        clients: occurrences.clients.iter().copied().collect(),
    }
}

/// The report of a finding derived from the analysis as a whole, worded from its detail.
pub(super) fn derived_report(finding: &DerivedFinding) -> FindingReport {
    let (name, subject, count) = (&finding.key.name, &finding.key.subject, finding.count);
    let message = match &finding.detail {
        Detail::NameNotSeen => "no response for this name anywhere in the capture".to_string(),
        Detail::MemberNeverSeen { member, responses } => {
            let responses = match responses {
                1 => "the 1 response".to_string(),
                n => format!("any of {n} responses"),
            };
            format!("member {member} never appeared in {responses}")
        }
        Detail::NetmaskOrdering {
            local_first,
            eligible_answers,
            p_value,
        } => format!(
            "{local_first} of {eligible_answers} answers to clients sharing a subnet with a member put that member first ({}): netmask ordering (Windows DNS Server's default), not a failure to rotate",
            p_text(*p_value)
        ),
        Detail::NotRotating { fixed, tested } => {
            let servers: Vec<String> = fixed
                .iter()
                .map(|f| format!("{} put {} first in all {} answers ({} after correction)", f.server, f.first, f.answers, p_text(f.p_value)))
                .collect();
            let verb = if fixed.len() == 1 { "does" } else { "do" };
            format!(
                "{} of {} tested {verb} not rotate, so their clients all try one member: {}",
                fixed.len(),
                plural(*tested, "server"),
                servers.join("; ")
            )
        }
        Detail::Unbalanced {
            shares,
            answers,
            chi_square,
            degrees_of_freedom,
            p_value,
            monte_carlo,
        } => {
            // A large pool's shares, most first first, abbreviated (the rotation table has all).
            let mut shares = shares.clone();
            if shares.len() > MAX_LISTED_ADDRESSES {
                shares.sort_by_key(|(address, first)| (std::cmp::Reverse(*first), *address));
            }
            let shares: Vec<String> = shares.iter().map(|(c, n)| format!("{c} {n}")).collect();
            let method = if *monte_carlo { " (Monte Carlo)" } else { "" };
            format!(
                "first positions over {answers} answers are not uniform ({}): chi-square {chi_square} with {degrees_of_freedom} degrees of freedom, {}{method}",
                abbreviated(&shares, "addresses"),
                p_text(*p_value)
            )
        }
        Detail::MemberNeverFirst {
            members,
            tested,
            p_value,
        } => {
            let members: Vec<String> = members
                .iter()
                .map(|(member, present)| format!("{member} (in {present} answers)"))
                .collect();
            format!(
                "{} of {} tested appeared in answers but never first, so clients rarely try them: {}; {} after correction",
                members.len(),
                plural(*tested, "member"),
                abbreviated(&members, "members"),
                p_text(*p_value)
            )
        }
        Detail::ClientsStuck {
            member,
            on_member,
            clients,
            tested,
            expected,
            min_answers,
            p_value,
        } => format!(
            "{clients} of {} (with at least {min_answers} answers each) got one member first in every answer, {on_member} of them {member}, where chance gives {expected:.1}; {}",
            plural(*tested, "client"),
            p_text(*p_value)
        ),
        Detail::DivergentServers {
            pairs,
            bucket_seconds,
        } => {
            let pairs: Vec<String> = pairs
                .iter()
                .map(|([a, b], intervals)| format!("{a} and {b} in {intervals}"))
                .collect();
            format!(
                "servers gave no answer set in common within intervals of {bucket_seconds} s: {}",
                pairs.join(", ")
            )
        }
        Detail::SilentServer(silent) => silent_server_message(silent),
        Detail::NoEvidence(evidence) => no_evidence_message(evidence),
    };
    let mut report =
        FindingReport::without_frames(finding.key.kind, name, subject.clone(), count, message);
    report.servers.clone_from(&finding.servers);
    report.clients.clone_from(&finding.clients);
    report
}

/// A p-value for people: two significant digits, and a floor where a double runs out.
fn p_text(p: f64) -> String {
    if p < 1e-300 {
        "p < 1e-300".to_string()
    } else {
        format!("p = {p:.1e}")
    }
}

/// Words a capture without a single watched response.
fn no_evidence_message(evidence: &NoEvidence) -> String {
    let NoEvidence {
        packets,
        dns_messages,
        other_ports,
    } = evidence;
    let mut message = format!(
        "not one response about a watched name in {packets} packets ({dns_messages} DNS messages on the DNS ports), so nothing was checked: wrong interface, capture filter or port?"
    );
    if !other_ports.is_empty() {
        let ports: Vec<String> = other_ports
            .iter()
            .map(|(port, count)| format!("{count} on UDP port {port}"))
            .collect();
        let options: Vec<String> = other_ports
            .iter()
            .map(|(port, _)| format!("--dns-port {port}"))
            .collect();
        message.push_str(&format!(
            " Responses about watched names were found on other ports ({}): rerun with {}",
            ports.join(", "),
            options.join(" ")
        ));
    }
    message
}

/// Words a server that answered none of its queries.
fn silent_server_message(silent: &SilentServer) -> String {
    let SilentServer {
        server,
        queries,
        clients,
        timed_out,
        longest_pending_wait_ns,
        pending_threshold_ns,
    } = silent;
    let clients = match clients.len() {
        1 => "1 client".to_string(),
        n if n >= MAX_NAMED_PEERS => format!("{n} or more clients"),
        n => format!("{n} clients"),
    };
    let milliseconds = |ns: &u64| *ns as f64 / 1e6;
    if *timed_out {
        format!("{server} answered none of {queries} queries from {clients}; some waited longer than the query timeout: is it down or unreachable?")
    } else {
        format!(
            "{server} answered none of {queries} queries from {clients}; when the capture ended the oldest had waited {:.1} ms, more than {:.1} ms (10 times the 99th percentile latency of the servers that answered, at least 20 ms)",
            milliseconds(longest_pending_wait_ns),
            milliseconds(pending_threshold_ns)
        )
    }
}

fn rcode_counts(counts: &BTreeMap<RcodeClass, u64>) -> BTreeMap<&'static str, u64> {
    RcodeClass::ALL
        .iter()
        .map(|class| (class.label(), counts.get(class).copied().unwrap_or(0)))
        .collect()
}

fn role_of(address: &IpAddr, entry: Option<&ExpectedName>) -> &'static str {
    match entry {
        None => "observed",
        Some(e) if e.members.contains(address) => "member",
        Some(e) if e.standby.contains(address) => "standby",
        Some(_) => "unexpected",
    }
}

fn address_reports(
    placements: &Placements,
    entry: Option<&ExpectedName>,
    include_absent_members: bool,
) -> Vec<AddressReport> {
    let mut reports: Vec<AddressReport> = placements
        .iter()
        .map(|(address, p)| AddressReport {
            address: *address,
            role: role_of(address, entry),
            present: p.present,
            first: p.first,
        })
        .collect();
    if let (Some(entry), true) = (entry, include_absent_members) {
        for member in entry.members.iter().chain(&entry.standby) {
            if !placements.contains_key(member) {
                reports.push(AddressReport {
                    address: *member,
                    role: role_of(member, Some(entry)),
                    present: 0,
                    first: 0,
                });
            }
        }
    }
    let rank = |role: &str| match role {
        "member" => 0,
        "standby" => 1,
        _ => 2,
    };
    reports.sort_by(|a, b| {
        rank(a.role)
            .cmp(&rank(b.role))
            .then(b.present.cmp(&a.present))
            .then(a.address.cmp(&b.address))
    });
    reports
}

/// What every name report needs besides the name's own facts.
struct NameContext<'a> {
    resolvers: &'a BTreeSet<IpAddr>,
    insight: &'a DerivedSettings,
    frames: &'a dyn Fn(&[FrameRef]) -> Vec<FrameReport>,
}

fn name_report(
    facts: &NameFacts,
    entry: Option<&ExpectedName>,
    expectations: &Expectations,
    context: &NameContext,
) -> NameReport {
    let frames = context.frames;
    let mut answer_sets: Vec<AnswerSetReport> = facts
        .answer_sets
        .iter()
        .map(|(addresses, o)| AnswerSetReport {
            addresses: addresses.clone(),
            count: o.count,
            first_seen: Some(rfc3339(o.first_ts_ns)),
            last_seen: Some(rfc3339(o.last_ts_ns)),
            examples: frames(&o.examples),
        })
        .collect();
    answer_sets.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.addresses.cmp(&b.addresses))
    });
    let mut clients: Vec<ClientReport> = facts
        .clients
        .iter()
        .map(|(client, c)| ClientReport {
            client: *client,
            role: if context.resolvers.contains(client) {
                "resolver"
            } else {
                "stub"
            },
            responses: c.responses,
            addresses: address_reports(&c.addresses, entry, false),
        })
        .collect();
    clients.sort_by(|a, b| b.responses.cmp(&a.responses).then(a.client.cmp(&b.client)));
    let has_list = !expectations.authorized_servers.is_empty();
    let mut servers: Vec<ServerReport> = facts
        .servers
        .iter()
        .map(|(server, s)| {
            let mut sets: Vec<AnswerSetCount> = s
                .answer_sets
                .iter()
                .map(|(a, c)| AnswerSetCount {
                    addresses: a.clone(),
                    count: *c,
                })
                .collect();
            sets.sort_by(|a, b| {
                b.count
                    .cmp(&a.count)
                    .then_with(|| a.addresses.cmp(&b.addresses))
            });
            ServerReport {
                server: *server,
                responses: s.responses,
                authorized: has_list.then(|| expectations.is_authorized(server)),
                rcodes: rcode_counts(&s.rcodes),
                answer_sets: sets,
                latency: latency_report(&s.latency),
            }
        })
        .collect();
    servers.sort_by(|a, b| b.responses.cmp(&a.responses).then(a.server.cmp(&b.server)));
    let untracked = [
        ("clients", facts.untracked_clients),
        ("servers", facts.untracked_servers),
        ("answer_sets", facts.untracked_answer_sets),
    ]
    .into_iter()
    .filter(|(_, count)| *count > 0)
    .collect();
    NameReport {
        name: facts.display.clone(),
        expected: entry.map(|e| ExpectedReport {
            kind: e.kind,
            members: e.members.clone(),
            standby: e.standby.clone(),
            max_ttl: e.max_ttl,
        }),
        queries: facts.queries,
        unanswered: facts.unanswered,
        latency: latency_report(&facts.latency),
        responses: facts.responses,
        rcodes: rcode_counts(&facts.rcodes),
        answer_sets,
        addresses: address_reports(&facts.addresses, entry, true),
        members_never_seen: entry
            .map(|e| {
                if facts.responses > 0 {
                    members_never_seen(e, Some(facts))
                } else {
                    Vec::new()
                }
            })
            .unwrap_or_default(),
        clients,
        distinct_clients: None,
        servers,
        aliases: facts.aliases.clone(),
        cname_targets: facts.cname_targets.clone(),
        untracked,
        insight: (facts.responses > 0).then(|| {
            let listed = entry.map_or((&[][..], &[][..]), |e| {
                (e.members.as_slice(), e.standby.as_slice())
            });
            insight(facts, listed, context.resolvers, context.insight)
        }),
    }
}

fn failure_reports(analysis: &Analysis, top: usize) -> Vec<FailureReport> {
    let mut failures: Vec<FailureReport> = analysis
        .discovered
        .failing
        .ranked()
        .into_iter()
        .map(|(_, counted)| {
            let failure = &counted.value;
            FailureReport {
                name: failure.display.clone(),
                failures: failure.failures(),
                rcodes: rcode_counts(&failure.rcodes.to_map()),
                unanswered: failure.unanswered,
            }
        })
        .collect();
    failures.sort_by(|a, b| {
        b.failures
            .cmp(&a.failures)
            .then_with(|| a.name.cmp(&b.name))
    });
    failures.truncate(top);
    failures
}
