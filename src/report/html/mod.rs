//! The HTML report: one self-contained file (inline CSS and SVG, no network access needed to
//! view it) with a verdict per name, the summary, the findings table and, per name, its answer
//! sets, DNS servers, a member share chart, a client heatmap and a timeline. A small inline
//! script counts the marks of every chart and reports an empty one on the console, which the
//! browser test watches.
//!
//! Written with maud templates: every value is inserted through a splice that escapes it, so
//! markup comes only from the templates' literal text (the style sheet and the check script are
//! constants).

mod charts;
mod heatmap;

use super::fix::fix;
use super::insight::InsightReport;
use super::words::{abbreviated, address_list, plural, rcodes_text, set_text};
use super::{FailureReport, FindingReport, NameReport, Report};
use crate::analyze::Severity;
use charts::Charted;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::net::IpAddr;

const STYLE: &str = concat!(
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}",
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;",
    "text-align:left;font-size:90%;vertical-align:top}th{background:#eee}.error{color:#b00}",
    ".warning{color:#a60}.info{color:#555}.ok{color:#070}svg{display:block;margin:.5em 0}",
    "h2{margin-top:1.5em}table.findings{width:100%}",
    "table.findings td.what{width:40%;overflow-wrap:anywhere}",
);

/// Renders the whole report as one HTML document.
pub fn render_html(report: &Report) -> String {
    let names = names_with_findings_first(report);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width";
                title { "pcdns report" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "pcdns report" }
                (verdict(report, &names))
                (failing_names(report))
                (summary(report))
                (findings(report))
                @for name in &names {
                    @if let Some(insight) = &name.insight {
                        (name_section(report, name, insight))
                    }
                }
                script { (PreEscaped(CHECK_SCRIPT)) }
            }
        }
    };
    let mut html = page.into_string();
    html.push('\n');
    html
}

/// The findings about `name`.
fn findings_of<'a>(report: &'a Report, name: &'a str) -> impl Iterator<Item = &'a FindingReport> {
    report
        .findings
        .iter()
        .filter(move |f| f.name.eq_ignore_ascii_case(name))
}

/// The names, those with the most severe findings first (then the most errors, the most
/// warnings), otherwise in report order.
fn names_with_findings_first(report: &Report) -> Vec<&NameReport> {
    let mut names: Vec<&NameReport> = report.names.iter().collect();
    names.sort_by_key(|name| {
        let severities: Vec<Severity> = findings_of(report, &name.name)
            .map(|f| f.severity)
            .collect();
        let count = |severity| severities.iter().filter(|s| **s == severity).count();
        std::cmp::Reverse((
            severities.iter().max().copied(),
            count(Severity::Error),
            count(Severity::Warning),
        ))
    });
    names
}

/// One line per name at the top: OK, or its findings counted by severity and kind; in
/// discovery, the failing names first.
fn verdict(report: &Report, names: &[&NameReport]) -> Markup {
    html! {
        section id="verdict" {
            h2 { "Verdict" }
            ul {
                @for failure in &report.failures {
                    li class="error" {
                        b { (failure.name) } ": lookups failing: " (failure_text(failure))
                    }
                }
                @for name in names {
                    (verdict_line(report, name))
                }
            }
        }
    }
}

/// A failing name's failures: "NXDOMAIN 3", "2 unanswered", "SERVFAIL 1, 1 unanswered".
fn failure_text(failure: &FailureReport) -> String {
    let rcodes = Some(rcodes_text(&failure.rcodes)).filter(|r| r != "none");
    let unanswered = Some(failure.unanswered)
        .filter(|n| *n > 0)
        .map(|n| format!("{n} unanswered"));
    let parts: Vec<String> = rcodes.into_iter().chain(unanswered).collect();
    parts.join(", ")
}

fn verdict_line(report: &Report, name: &NameReport) -> Markup {
    let findings: Vec<&FindingReport> = findings_of(report, &name.name).collect();
    let Some(worst) = findings.iter().map(|f| f.severity).max() else {
        return html! {
            @if name.expected.is_some() {
                li class="ok" { b { (name.name) } ": OK, every answer matched" }
            } @else {
                li class="info" {
                    b { (name.name) } ": answered (" (plural(name.responses, "response"))
                    "); no expectations to check it against"
                }
            }
        };
    };
    let count =
        |severity: Severity| findings.iter().filter(|f| f.severity == severity).count() as u64;
    html! {
        li class=(worst.label()) {
            b { (name.name) } ": "
            (plural(count(Severity::Error), "error")) ", "
            (plural(count(Severity::Warning), "warning")) ", "
            (count(Severity::Info)) " info: " (kinds_text(&findings))
        }
    }
}

/// The kinds of `findings`, each once with its subjects (addresses in numeric order,
/// abbreviated past a few): "wrong address 10.0.0.9; member missing from answer 10.0.0.2, 10.0.0.3".
fn kinds_text(findings: &[&FindingReport]) -> String {
    let mut kinds: Vec<(&str, Vec<&str>)> = Vec::new();
    for finding in findings {
        let label = finding.kind.label();
        let index = match kinds.iter().position(|(kind, _)| *kind == label) {
            Some(index) => index,
            None => {
                kinds.push((label, Vec::new()));
                kinds.len() - 1
            }
        };
        if !finding.subject.is_empty() {
            kinds[index].1.push(&finding.subject);
        }
    }
    let parts: Vec<String> = kinds
        .iter()
        .map(|(kind, subjects)| {
            let addresses: Option<Vec<IpAddr>> = subjects.iter().map(|s| s.parse().ok()).collect();
            let subjects = match addresses {
                Some(addresses) => address_list(&addresses, "addresses", ", "),
                None => {
                    let subjects: Vec<String> = subjects.iter().map(|s| s.to_string()).collect();
                    abbreviated(&subjects, "subjects")
                }
            };
            match subjects.as_str() {
                "" => kind.to_string(),
                subjects => format!("{kind} {subjects}"),
            }
        })
        .collect();
    parts.join("; ")
}

/// A rotation test's p-value in words.
fn p_words(p: Option<f64>) -> String {
    match p {
        None => "too few answers to test".into(),
        Some(p) if p < 0.05 => format!("uneven beyond chance (p = {p:.1e})"),
        Some(p) => format!("consistent with even rotation (p = {p:.2})"),
    }
}

fn summary(report: &Report) -> Markup {
    let s = &report.summary;
    let files: Vec<&str> = s.files.iter().map(|f| f.name.as_str()).collect();
    let counts = &report.finding_counts;
    html! {
        table class="summary" {
            tr { th { "files" } td { (files.join(", ")) } }
            tr {
                th { "capture" }
                td {
                    (s.first_seen.as_deref().unwrap_or("-")) " .. "
                    (s.last_seen.as_deref().unwrap_or("-")) " (" (s.span_seconds) " s)"
                }
            }
            tr {
                th { "traffic" }
                td {
                    (s.packets) " packets, " (s.dns_messages) " DNS messages, "
                    (s.responses) " responses, " (s.watched_responses) " watched"
                }
            }
            tr {
                th { "findings" }
                td {
                    (plural(counts.error, "error")) ", " (plural(counts.warning, "warning")) ", "
                    (counts.info) " info"
                }
            }
        }
    }
}

fn findings(report: &Report) -> Markup {
    html! {
        h2 { "Findings" }
        @if report.findings.is_empty() {
            p { "No findings." }
        } @else {
            table class="findings" {
                tr {
                    th { "severity" } th { "finding" } th { "name" } th { "subject" }
                    th { "count" } th { "first seen" } th { "frames" } th { "DNS servers" }
                    th { "what it means, and the fix" }
                }
                @for finding in &report.findings {
                    (finding_row(report, finding))
                }
            }
        }
    }
}

fn finding_row(report: &Report, f: &FindingReport) -> Markup {
    let frames: Vec<String> = f.examples.iter().map(|e| e.frame.to_string()).collect();
    let severity = f.severity.label();
    html! {
        tr class=(severity) {
            td { (severity) }
            td { (f.kind.label()) }
            td { (breakable(&f.name)) }
            td class="subject" { (breakable(&f.subject)) }
            td { (f.count) }
            td { (f.first_seen.as_deref().unwrap_or("-")) }
            td { (frames.join(", ")) }
            td { (address_list(&f.servers, "servers", ", ")) }
            td class="what" {
                (f.message)
                @if !f.clients.is_empty() {
                    br; b { "clients:" } " " (address_list(&f.clients, "clients", ", "))
                }
                @if let Some(fix) = fix(f, report) {
                    br; b { "fix:" } " " (fix)
                }
            }
        }
    }
}

/// Longer than this, a name or subject may wrap after its dots (a long one would widen the
/// findings table past the window); shorter ones, addresses among them, never wrap.
const LONG_SUBJECT: usize = 24;

/// `text`, with a chance to wrap after each dot when it is long.
fn breakable(text: &str) -> Markup {
    html! {
        @if text.len() <= LONG_SUBJECT {
            (text)
        } @else {
            @for part in text.split_inclusive('.') {
                (part) wbr;
            }
        }
    }
}

/// Discovery: the names whose lookups failed, with their rcodes and unanswered queries.
fn failing_names(report: &Report) -> Markup {
    html! {
        @if !report.failures.is_empty() {
            section id="failing" {
                h2 { "Failing names" }
                table class="failing" {
                    tr { th { "name" } th { "failures" } th { "rcodes" } th { "unanswered" } }
                    @for failure in &report.failures {
                        tr class="error" {
                            td { (failure.name) }
                            td { (failure.failures) }
                            td { (rcodes_text(&failure.rcodes)) }
                            td { (failure.unanswered) }
                        }
                    }
                }
            }
        }
    }
}

/// A name's answer sets and the DNS servers that answered it; a large pool's sets are described
/// against its members ("all 129 members").
fn answer_sets_and_servers(name: &NameReport) -> Markup {
    let set_text = |addresses: &[IpAddr]| set_text(addresses, name.expected_members());
    html! {
        h3 { "Answer sets" }
        table class="answer-sets" {
            tr { th { "count" } th { "addresses (sorted)" } th { "first seen" } th { "first frames" } }
            @for set in &name.answer_sets {
                @let frames: Vec<String> = set.examples.iter().map(|e| e.frame.to_string()).collect();
                tr {
                    td { (set.count) }
                    td { (set_text(&set.addresses)) }
                    td { (set.first_seen.as_deref().unwrap_or("-")) }
                    td { (frames.join(", ")) }
                }
            }
        }
        h3 { "DNS servers" }
        table class="servers" {
            tr {
                th { "server" } th { "authorized" } th { "responses" } th { "rcodes" }
                th { "answer sets" } th { "p50 ms" }
            }
            @for server in &name.servers {
                tr {
                    td { (server.server) }
                    td {
                        @match server.authorized {
                            Some(true) => "yes",
                            Some(false) => b class="error" { "no" },
                            None => "-",
                        }
                    }
                    td { (server.responses) }
                    td { (rcodes_text(&server.rcodes)) }
                    td {
                        @for (i, set) in server.answer_sets.iter().enumerate() {
                            @if i > 0 { br; }
                            "[" (set_text(&set.addresses)) "] " (set.count)
                        }
                    }
                    td {
                        @match &server.latency {
                            Some(latency) => (format!("{:.3}", latency.p50_ms)),
                            None => "-",
                        }
                    }
                }
            }
        }
    }
}

fn name_section(report: &Report, name: &NameReport, insight: &InsightReport) -> Markup {
    let charted = Charted::all(insight);
    let clients = match &name.distinct_clients {
        Some(distinct) if distinct.relative_error > 0.0 => {
            format!("about {} distinct clients", distinct.count)
        }
        Some(distinct) => plural(distinct.count, "distinct client"),
        None => format!(
            "{}, {}",
            plural(insight.roles.stub_clients, "stub client"),
            plural(insight.roles.resolver_clients, "resolver")
        ),
    };
    let overall = &insight.rotation.overall;
    let flagged: Vec<IpAddr> = findings_of(report, &name.name)
        .flat_map(|f| f.clients.iter().copied())
        .collect();
    html! {
        h2 { (name.name) }
        p {
            (plural(name.responses, "response")) ", " (clients) "; first positions among members: "
            (p_words(overall.p_value)) " (chi-square "
            (overall.chi_square.map_or("-".into(), |c| c.to_string()))
            ", df " (overall.degrees_of_freedom) ")"
        }
        (answer_sets_and_servers(name))
        (charts::share_chart(name, &charted))
        (heatmap::heatmap(name, &charted, &flagged))
        (charts::timeline(insight, &charted))
    }
}

/// Checks every chart once the page has loaded: a share chart needs one mark per member, a
/// heatmap rows × columns cells, a timeline its points. Problems go to the console as errors;
/// the result also lands on `<body data-chart-check>`.
const CHECK_SCRIPT: &str = r#"
(function () {
  var problems = [], counts = [];
  document.querySelectorAll("svg.share").forEach(function (svg) {
    var marks = svg.querySelectorAll("rect.mark").length;
    counts.push("share:" + marks);
    if (marks === 0) problems.push("member share chart without marks");
  });
  document.querySelectorAll("svg.heatmap").forEach(function (svg) {
    var cells = svg.querySelectorAll("rect.cell").length;
    var want = Number(svg.dataset.rows) * Number(svg.dataset.columns);
    counts.push("heatmap:" + cells);
    if (cells === 0 || cells !== want) problems.push("heatmap has " + cells + " cells, expected " + want);
  });
  document.querySelectorAll("svg.timeline").forEach(function (svg) {
    var points = svg.querySelectorAll("circle.point").length;
    counts.push("timeline:" + points);
    if (points === 0) problems.push("timeline without points");
  });
  problems.forEach(function (p) { console.error("pcdns chart check: " + p); });
  document.body.dataset.chartCheck = (problems.length ? "FAIL " : "ok ") + counts.join(" ");
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_groups_subjects_by_kind() {
        let finding = |kind, subject: &str| {
            FindingReport::without_frames(kind, "pool.example", subject.into(), 1, String::new())
        };
        use crate::analyze::FindingKind::{MissingMember, UnauthorizedServer, WrongAddress};
        let findings = [
            finding(WrongAddress, "10.0.0.9"),
            finding(MissingMember, "10.0.0.11"),
            finding(MissingMember, "10.0.0.2"),
            finding(UnauthorizedServer, "192.0.2.1"),
        ];
        let refs: Vec<&FindingReport> = findings.iter().collect();
        assert_eq!(
            kinds_text(&refs),
            "wrong address 10.0.0.9; member missing from answer 10.0.0.2, 10.0.0.11; \
             unauthorized server 192.0.2.1"
        );
    }
}
