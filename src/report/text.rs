//! The terminal report: a summary, the findings table, then one section per name with its
//! answer sets, addresses, clients and servers.

use super::fix::fix;
use super::table::{Colour, Table};
use super::words::{address_list, counted, plural, rcodes_text, set_text, MAX_LISTED_ADDRESSES};
use super::*;
use std::fmt::Write;

/// Choices for the text rendering.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextStyle {
    /// ANSI colours (terminal, NO_COLOR unset).
    pub colour: bool,
    /// Wall-clock processing rate to show (terminal only; never in golden outputs).
    pub processing: Option<(f64, f64)>,
    /// Clients listed per name before the rest are summarised.
    pub max_clients: usize,
}

fn frames_text(examples: &[FrameReport], several_files: bool) -> String {
    examples
        .iter()
        .map(|f| {
            if several_files {
                format!("{}#{}", f.file, f.frame)
            } else {
                f.frame.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Addresses in a text cell, in numeric order; long lists abbreviated (JSON has them all).
fn addresses_text(addresses: &[IpAddr]) -> String {
    if addresses.is_empty() {
        "-".into()
    } else {
        address_list(addresses, "addresses", " ")
    }
}

/// An answer set of `name` in a text cell: a large pool's described against its members ("all
/// 120 members"), others as [`addresses_text`] lists them.
fn answer_set_text(addresses: &[IpAddr], name: &NameReport) -> String {
    if addresses.is_empty() {
        "-".into()
    } else {
        set_text(addresses, name.expected_members())
    }
}

fn latency_text(latency: &LatencyReport) -> String {
    format!(
        "p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} answered)",
        latency.p50_ms, latency.p90_ms, latency.p99_ms, latency.max_ms, latency.count
    )
}

fn severity_colour(severity: Severity) -> Colour {
    match severity {
        Severity::Error => Colour::Red,
        Severity::Warning => Colour::Yellow,
        Severity::Info => Colour::Cyan,
    }
}

/// Renders the report for people.
pub fn render_text(report: &Report, style: TextStyle) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let several_files = s.files.len() + s.interfaces.len() > 1;
    let files: Vec<String> = s
        .files
        .iter()
        .map(|f| format!("{} ({}, {} packets)", f.name, f.format_label(), f.packets))
        .collect();
    let _ = writeln!(out, "pcdns {} report", report.mode);
    if s.interfaces.is_empty() || !files.is_empty() {
        let _ = writeln!(
            out,
            "  files         {}",
            if files.is_empty() {
                "none read".into()
            } else {
                files.join("; ")
            }
        );
    }
    for i in &s.interfaces {
        let _ = writeln!(
            out,
            "  interface     {}: {} received ({:.1}/s over {:.0} s), {} kernel drops, {} interface drops",
            i.interface,
            i.received,
            i.packets_per_second,
            i.seconds,
            i.kernel_dropped,
            i.interface_dropped
        );
    }
    if let Some(source) = &report.expectations {
        let _ = writeln!(
            out,
            "  expectations  {} ({})",
            source,
            plural(report.names.len() as u64, "name")
        );
    }
    match (&s.first_seen, &s.last_seen) {
        (Some(first), Some(last)) => {
            let _ = writeln!(
                out,
                "  capture       {first} .. {last} ({:.3} s, {:.1} packets/s)",
                s.span_seconds, s.capture_packets_per_second
            );
        }
        _ => {
            let _ = writeln!(out, "  capture       no packets");
        }
    }
    let _ = writeln!(
        out,
        "  traffic       {} packets, {} DNS messages, {} responses, {} watched responses",
        s.packets, s.dns_messages, s.responses, s.watched_responses
    );
    let t = &s.transactions;
    let _ = writeln!(
        out,
        "  transactions  {} answered, {} unanswered, {} pending at end, {} orphan, {} duplicate, {} unpaired responses, {} retries (query timeout {} s)",
        t.answered, t.unanswered, t.pending_at_end, t.orphan_responses, t.duplicate_responses, t.unpaired_responses, t.retries, t.query_timeout_seconds
    );
    let r = &s.reassembly;
    if r.ip_fragments + r.tcp_segments > 0 {
        let _ = writeln!(
            out,
            "  reassembly    {} IP fragments: {} datagrams, {} incomplete, {} evicted, {} overlaps ({} inconsistent); {} TCP segments: {} DNS messages, {} bytes dropped, {} resyncs, {} evicted",
            r.ip_fragments, r.datagrams_reassembled, r.datagrams_incomplete, r.datagrams_evicted, r.fragment_overlaps, r.fragment_inconsistent,
            r.tcp_segments, r.tcp_messages, r.tcp_dropped_bytes, r.tcp_resyncs, r.tcp_evicted
        );
    }
    if r.truncated_responses > 0 {
        let _ = writeln!(
            out,
            "  truncated     {} TC responses: {} retried over TCP, {} not retried, {} pending at end",
            r.truncated_responses, r.truncated_retried_over_tcp, r.truncated_not_retried, r.truncated_pending_at_end
        );
    }
    if t.evicted_queries + t.evicted_answers > 0 {
        let _ = writeln!(
            out,
            "  EVICTED       {} pending queries and {} recent answers at the cap of {} entries or {} MiB (raise --max-pending or --pairing-memory)",
            t.evicted_queries, t.evicted_answers, t.max_pending, t.max_bytes >> 20
        );
    }
    let skipped: Vec<String> = s
        .skipped
        .iter()
        .map(|(why, n)| format!("{why} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "  skipped       {}",
        if skipped.is_empty() {
            "none".into()
        } else {
            format!("{} ({})", s.skipped_total, skipped.join(", "))
        }
    );
    if s.snaplen_truncated > 0 || s.timestamps_backwards > 0 {
        let _ = writeln!(
            out,
            "  anomalies     {} frames cut by snaplen, {} timestamps going backwards",
            s.snaplen_truncated, s.timestamps_backwards
        );
    }
    if let Some((seconds, rate)) = style.processing {
        let _ = writeln!(out, "  processed in  {seconds:.3} s ({rate:.0} packets/s)");
    }
    for error in &report.capture_errors {
        let _ = writeln!(out, "  READ ERROR    {error}");
    }
    render_findings(&mut out, report, style, several_files);
    for name in &report.names {
        render_name(&mut out, name, style, several_files);
    }
    if !report.failures.is_empty() {
        let _ = writeln!(out, "\nFAILING NAMES");
        let mut table = Table::new(&["NAME", "FAILURES", "RCODES", "UNANSWERED"]);
        for failure in &report.failures {
            table.row(vec![
                failure.name.clone(),
                failure.failures.to_string(),
                rcodes_text(&failure.rcodes),
                failure.unanswered.to_string(),
            ]);
        }
        out.push_str(&table.render(2, style.colour));
    }
    out
}

fn render_findings(out: &mut String, report: &Report, style: TextStyle, several_files: bool) {
    let counts = report.finding_counts;
    if report.mode == "discovery" {
        return;
    }
    let _ = writeln!(
        out,
        "\nFINDINGS: {}, {}, {} info",
        plural(counts.error, "error"),
        plural(counts.warning, "warning"),
        counts.info
    );
    if report.findings.is_empty() {
        let _ = writeln!(out, "  none: every answer matched the expectations");
        return;
    }
    let mut table = Table::new(&[
        "SEVERITY",
        "FINDING",
        "NAME",
        "SUBJECT",
        "SERVERS",
        "COUNT",
        "FIRST SEEN",
        "LAST SEEN",
        "FRAMES",
    ]);
    for f in &report.findings {
        table.coloured_row(
            severity_colour(f.severity),
            vec![
                f.severity.label().into(),
                f.kind.label().into(),
                dash_if_empty(&f.name),
                dash_if_empty(&f.subject),
                addresses_text(&f.servers),
                f.count.to_string(),
                f.first_seen.clone().unwrap_or_else(|| "-".into()),
                f.last_seen.clone().unwrap_or_else(|| "-".into()),
                if f.examples.is_empty() {
                    "-".into()
                } else {
                    frames_text(&f.examples, several_files)
                },
            ],
        );
    }
    out.push_str(&table.render(2, style.colour));
    for f in &report.findings {
        render_finding_lines(out, f, report);
    }
}

/// A finding's sentence, the clients it concerns and its fix, under the findings table.
fn render_finding_lines(out: &mut String, f: &FindingReport, report: &Report) {
    let fix = fix(f, report);
    if f.message.is_empty() && fix.is_none() {
        return;
    }
    // A finding about no name (a server, the capture) starts with its kind.
    let (name, space) = match f.name.as_str() {
        "" => ("", ""),
        name => (name, " "),
    };
    let _ = writeln!(out, "  - {name}{space}{}: {}", f.kind.label(), f.message);
    if !f.clients.is_empty() {
        let _ = writeln!(
            out,
            "    clients: {}",
            address_list(&f.clients, "clients", " ")
        );
    }
    if let Some(fix) = fix {
        let _ = writeln!(out, "    fix: {fix}");
    }
}

/// `text`, or "-" when it is empty (a table cell).
fn dash_if_empty(text: &str) -> String {
    if text.is_empty() {
        "-".into()
    } else {
        text.to_string()
    }
}

fn render_name(out: &mut String, name: &NameReport, style: TextStyle, several_files: bool) {
    let _ = writeln!(out);
    match &name.expected {
        Some(e) => {
            let kind = match e.kind {
                EntryKind::Server => "server",
                EntryKind::Pool => "pool",
                EntryKind::Host => "host",
            };
            let standby = if e.standby.is_empty() {
                String::new()
            } else {
                format!("; standby {}", addresses_text(&e.standby))
            };
            let _ = writeln!(
                out,
                "{} ({kind}: {}{standby})",
                name.name,
                address_list(&e.members, "members", " ")
            );
        }
        None => {
            let _ = writeln!(out, "{}", name.name);
        }
    }
    let _ = writeln!(
        out,
        "  {}, {}: {}; {} unanswered",
        counted(name.queries, "query", "queries"),
        plural(name.responses, "response"),
        rcodes_text(&name.rcodes),
        name.unanswered
    );
    if let Some(latency) = &name.latency {
        let _ = writeln!(out, "  latency {}", latency_text(latency));
    }
    for (alias, count) in &name.aliases {
        let _ = writeln!(out, "  via alias {alias}: {}", plural(*count, "response"));
    }
    if !name.members_never_seen.is_empty() {
        let _ = writeln!(
            out,
            "  never seen: {}",
            addresses_text(&name.members_never_seen)
        );
    }
    if !name.answer_sets.is_empty() {
        let _ = writeln!(out, "  answer sets");
        let mut table = Table::new(&["COUNT", "ADDRESSES (sorted)", "FIRST FRAMES"]);
        for set in &name.answer_sets {
            table.row(vec![
                set.count.to_string(),
                answer_set_text(&set.addresses, name),
                frames_text(&set.examples, several_files),
            ]);
        }
        out.push_str(&table.render(4, style.colour));
    }
    if !name.addresses.is_empty() {
        let _ = writeln!(out, "  addresses");
        let mut table = Table::new(&["ADDRESS", "ROLE", "PRESENT", "FIRST"]);
        for a in &name.addresses {
            table.row(vec![
                a.address.to_string(),
                a.role.into(),
                a.present.to_string(),
                a.first.to_string(),
            ]);
        }
        out.push_str(&table.render(4, style.colour));
    }
    if let Some(distinct) = &name.distinct_clients {
        let _ = match distinct.relative_error {
            0.0 => writeln!(out, "  clients: {} distinct", distinct.count),
            error => writeln!(
                out,
                "  clients: about {} distinct (HyperLogLog estimate, standard error {:.1}%)",
                distinct.count,
                error * 100.0
            ),
        };
    }
    if !name.clients.is_empty() {
        let _ = writeln!(out, "  clients (address first/present)");
        let mut table = Table::new(&["CLIENT", "RESPONSES", "RECEIVED"]);
        for c in name.clients.iter().take(style.max_clients) {
            let mut received: Vec<String> = c
                .addresses
                .iter()
                // With many addresses, list those that came first; the count says the rest.
                .filter(|a| c.addresses.len() <= MAX_LISTED_ADDRESSES || a.first > 0)
                .take(MAX_LISTED_ADDRESSES)
                .map(|a| format!("{} {}/{}", a.address, a.first, a.present))
                .collect();
            if c.addresses.len() > MAX_LISTED_ADDRESSES {
                received.push(format!("{} addresses in all", c.addresses.len()));
            }
            let client = match c.role {
                "stub" => c.client.to_string(),
                role => format!("{} ({role})", c.client),
            };
            table.row(vec![
                client,
                c.responses.to_string(),
                if received.is_empty() {
                    "-".into()
                } else {
                    received.join(", ")
                },
            ]);
        }
        out.push_str(&table.render(4, style.colour));
        if name.clients.len() > style.max_clients {
            let rest = &name.clients[style.max_clients..];
            let _ = writeln!(
                out,
                "    ... and {} more with {} (all in --format json)",
                plural(rest.len() as u64, "client"),
                plural(rest.iter().map(|c| c.responses).sum::<u64>(), "response")
            );
        }
    }
    if !name.servers.is_empty() {
        let _ = writeln!(out, "  DNS servers");
        let mut table = Table::new(&[
            "SERVER",
            "AUTHORIZED",
            "RESPONSES",
            "P50 MS",
            "RCODES",
            "ANSWER SETS",
        ]);
        for s in &name.servers {
            let sets: Vec<String> = s
                .answer_sets
                .iter()
                .map(|set| format!("[{}] {}", answer_set_text(&set.addresses, name), set.count))
                .collect();
            let authorized = match s.authorized {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            table.row(vec![
                s.server.to_string(),
                authorized.into(),
                s.responses.to_string(),
                s.latency
                    .as_ref()
                    .map_or("-".into(), |l| format!("{:.3}", l.p50_ms)),
                rcodes_text(&s.rcodes),
                if sets.is_empty() {
                    "-".into()
                } else {
                    sets.join(", ")
                },
            ]);
        }
        out.push_str(&table.render(4, style.colour));
    }
    if let Some(insight) = &name.insight {
        super::insight_text::render_insight(out, insight, style.colour);
    }
    for (what, count) in &name.untracked {
        let _ = writeln!(
            out,
            "  {} beyond the {what} tracking limit (counted, not itemised)",
            plural(*count, "response")
        );
    }
}
