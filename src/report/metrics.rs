//! Prometheus text exposition (format 0.0.4) of a report: counters since the start of the run,
//! labelled only by bounded sets (watched or top names, their addresses, rcode classes, finding
//! kinds, skip reasons, interfaces); never by client.

use super::Report;
use crate::analyze::{bucket_upper_ns, LatencyHistogram};
use crate::expect::normalize;
use std::fmt::Write;

/// Latency buckets exposed: one per doubling from 1 µs to about 16.8 s (then `+Inf`).
const EXPOSED_BUCKET_STEP: usize = 4;
const EXPOSED_BUCKET_LAST: usize = 96;

/// Counters the monitor keeps beside the report.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonitorCounters {
    /// Finding events written.
    pub events: u64,
    /// Event announcements held back by the rate limit.
    pub events_held_back: u64,
}

/// Escapes a label value (backslash, double quote, newline).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
            .collect();
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{}}} {value}", labels.join(","));
        }
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], histogram: &LatencyHistogram) {
        let mut cumulative = 0;
        let mut next = 0;
        for index in (0..=EXPOSED_BUCKET_LAST).step_by(EXPOSED_BUCKET_STEP) {
            while next <= index {
                cumulative += histogram.buckets.get(next).copied().unwrap_or(0);
                next += 1;
            }
            let le = format!("{}", bucket_upper_ns(index) as f64 / 1e9);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&format!("{name}_bucket"), &with_le, cumulative);
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(&format!("{name}_bucket"), &with_le, histogram.count);
        self.sample(
            &format!("{name}_sum"),
            labels,
            histogram.sum_ns as f64 / 1e9,
        );
        self.sample(&format!("{name}_count"), labels, histogram.count);
    }
}

/// Renders `report` (and the monitor's own counters) as Prometheus text.
pub fn render_metrics(report: &Report, monitor: MonitorCounters) -> String {
    let mut e = Exposition { out: String::new() };
    let s = &report.summary;
    let traffic = &report.state.analysis.traffic;
    e.family(
        "pcdns_capture_received_packets_total",
        "counter",
        "Packets that passed the capture filter and reached pcdns.",
    );
    for i in &s.interfaces {
        e.sample(
            "pcdns_capture_received_packets_total",
            &[("interface", &i.interface)],
            i.received,
        );
    }
    e.family(
        "pcdns_capture_dropped_packets_total",
        "counter",
        "Packets lost before pcdns saw them: by the kernel (pcdns too slow) or by the interface.",
    );
    for i in &s.interfaces {
        e.sample(
            "pcdns_capture_dropped_packets_total",
            &[("interface", &i.interface), ("by", "kernel")],
            i.kernel_dropped,
        );
        e.sample(
            "pcdns_capture_dropped_packets_total",
            &[("interface", &i.interface), ("by", "interface")],
            i.interface_dropped,
        );
    }
    e.family("pcdns_packets_total", "counter", "Frames analysed.");
    e.sample("pcdns_packets_total", &[], s.packets);
    e.family(
        "pcdns_dns_messages_total",
        "counter",
        "DNS messages on DNS ports.",
    );
    e.sample("pcdns_dns_messages_total", &[("qr", "query")], s.queries);
    e.sample(
        "pcdns_dns_messages_total",
        &[("qr", "response")],
        s.responses,
    );
    e.family(
        "pcdns_skipped_packets_total",
        "counter",
        "Frames that produced no DNS message, by reason.",
    );
    for (reason, count) in &s.skipped {
        e.sample("pcdns_skipped_packets_total", &[("reason", reason)], count);
    }
    e.family(
        "pcdns_state_evictions_total",
        "counter",
        "State dropped at its bound, by kind of state.",
    );
    let evictions = [
        ("pending_queries", traffic.pairing.evicted_queries),
        ("recent_answers", traffic.pairing.evicted_answers),
        ("ip_fragments", traffic.reassembly.fragments.evicted),
        ("tcp_streams", traffic.reassembly.tcp.evicted),
    ];
    for (state, count) in evictions {
        e.sample("pcdns_state_evictions_total", &[("state", state)], count);
    }
    e.family(
        "pcdns_transactions_total",
        "counter",
        "Query/response transactions by outcome.",
    );
    let t = &s.transactions;
    for (outcome, count) in [
        ("answered", t.answered),
        ("unanswered", t.unanswered),
        ("orphan", t.orphan_responses),
        ("duplicate", t.duplicate_responses),
    ] {
        e.sample("pcdns_transactions_total", &[("outcome", outcome)], count);
    }
    e.family(
        "pcdns_responses_total",
        "counter",
        "Responses per watched name and rcode class.",
    );
    for name in &report.names {
        for (rcode, count) in &name.rcodes {
            e.sample(
                "pcdns_responses_total",
                &[("name", &name.name), ("rcode", rcode)],
                count,
            );
        }
    }
    e.family("pcdns_answer_address_total", "counter", "Answers per watched name containing an address, with its role (member, standby, unexpected, observed).");
    for name in &report.names {
        for address in &name.addresses {
            let text = address.address.to_string();
            e.sample(
                "pcdns_answer_address_total",
                &[
                    ("name", &name.name),
                    ("address", &text),
                    ("role", address.role),
                ],
                address.present,
            );
        }
    }
    e.family(
        "pcdns_unanswered_queries_total",
        "counter",
        "Queries per watched name without a response within the query timeout.",
    );
    for name in &report.names {
        e.sample(
            "pcdns_unanswered_queries_total",
            &[("name", &name.name)],
            name.unanswered,
        );
    }
    e.family(
        "pcdns_response_latency_seconds",
        "histogram",
        "Response time of answered queries per watched name.",
    );
    for name in &report.names {
        if let Some(facts) = report.state.analysis.names.get(&normalize(&name.name)) {
            e.histogram(
                "pcdns_response_latency_seconds",
                &[("name", &name.name)],
                &facts.latency,
            );
        }
    }
    e.family(
        "pcdns_findings",
        "gauge",
        "Distinct findings by kind and severity.",
    );
    e.family(
        "pcdns_finding_occurrences_total",
        "counter",
        "Occurrences of findings by kind and severity.",
    );
    let mut by_kind: std::collections::BTreeMap<(String, &str), (u64, u64)> = Default::default();
    for finding in &report.findings {
        // The kind as in JSON (snake_case).
        let kind = serde_json::to_value(finding.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let entry = by_kind.entry((kind, finding.severity.label())).or_default();
        entry.0 += 1;
        entry.1 += finding.count;
    }
    for ((kind, severity), (distinct, occurrences)) in by_kind {
        let labels = [("kind", kind.as_str()), ("severity", severity)];
        e.sample("pcdns_findings", &labels, distinct);
        e.sample("pcdns_finding_occurrences_total", &labels, occurrences);
    }
    e.family("pcdns_events_total", "counter", "Finding events written.");
    e.sample("pcdns_events_total", &[], monitor.events);
    e.family(
        "pcdns_events_held_back_total",
        "counter",
        "Event announcements delayed by the per-(kind, name) rate limit.",
    );
    e.sample(
        "pcdns_events_held_back_total",
        &[],
        monitor.events_held_back,
    );
    e.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn histograms_are_cumulative_and_end_with_inf_sum_and_count() {
        let mut histogram = LatencyHistogram::default();
        histogram.record(500); // 0.5 µs: first bucket
        histogram.record(3_000_000); // 3 ms
        let mut e = Exposition { out: String::new() };
        e.histogram("x", &[("name", "pool")], &histogram);
        let lines: Vec<&str> = e.out.lines().collect();
        assert_eq!(lines[0], "x_bucket{name=\"pool\",le=\"0.000001\"} 1");
        assert!(
            lines.contains(&"x_bucket{name=\"pool\",le=\"0.004096\"} 2"),
            "{}",
            e.out
        );
        assert!(
            lines.contains(&"x_bucket{name=\"pool\",le=\"0.002048\"} 1"),
            "{}",
            e.out
        );
        assert!(lines.contains(&"x_bucket{name=\"pool\",le=\"+Inf\"} 2"));
        assert!(lines.contains(&"x_sum{name=\"pool\"} 0.0030005"));
        assert!(lines.contains(&"x_count{name=\"pool\"} 2"));
        let counts: Vec<u64> = lines
            .iter()
            .filter(|l| l.starts_with("x_bucket"))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]));
    }
}
