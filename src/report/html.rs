//! The HTML report: one self-contained file (inline CSS and SVG, no network access needed to
//! view it) with the summary, the findings table and, per name, a member share chart, a
//! per-client heatmap and a timeline. A small inline script counts the marks of every chart
//! and reports an empty one on the console, which the browser test watches.

use super::fix::fix;
use super::insight::InsightReport;
use super::words::{address_list, plural, rcodes_text};
use super::{FindingReport, NameReport, Report};
use crate::analyze::Severity;
use std::fmt::Write;
use std::net::IpAddr;

/// Clients drawn in a heatmap; the rest are summed into one row.
pub const HEATMAP_CLIENTS: usize = 40;
const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#bcbd22", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];
/// The colour of an address that is not an expected member, in every chart (no member has it).
const NON_MEMBER: &str = "#d00000";

/// An address drawn in a chart: a rotation candidate, or an answered address that is not a
/// member (drawn in [`NON_MEMBER`], labelled so).
struct Charted {
    address: IpAddr,
    non_member: bool,
}

impl Charted {
    /// The candidates, then the non-members: the order of the timeline's counts.
    fn all(insight: &InsightReport) -> Vec<Charted> {
        let candidates = insight.rotation.candidates.iter().map(|a| Charted {
            address: *a,
            non_member: false,
        });
        let others = insight.non_members.iter().map(|n| Charted {
            address: n.address,
            non_member: true,
        });
        candidates.chain(others).collect()
    }

    /// The colour of the `index`th charted address.
    fn colour(&self, index: usize) -> &'static str {
        if self.non_member {
            NON_MEMBER
        } else {
            colour(index)
        }
    }

    /// Its label: the address, and "not a member" when it is not one.
    fn label(&self) -> String {
        if self.non_member {
            format!("{} (not a member)", self.address)
        } else {
            self.address.to_string()
        }
    }

    /// `data-role` of its marks.
    fn role(&self) -> &'static str {
        if self.non_member {
            "non-member"
        } else {
            "member"
        }
    }
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn colour(index: usize) -> &'static str {
    PALETTE[index % PALETTE.len()]
}

/// Renders the whole report as one HTML document.
pub fn render_html(report: &Report) -> String {
    let mut html = String::new();
    html.push_str(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width\">",
        "<title>pcdns report</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}",
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;",
        "text-align:left;font-size:90%}th{background:#eee}.error{color:#b00}.warning{color:#a60}",
        ".info{color:#555}.ok{color:#070}svg{display:block;margin:.5em 0}h2{margin-top:1.5em}",
        "</style></head><body>\n<h1>pcdns report</h1>\n"
    ));
    let names = names_with_findings_first(report);
    verdict(&mut html, report, &names);
    summary(&mut html, report);
    findings(&mut html, report);
    for name in names {
        if let Some(insight) = &name.insight {
            name_section(&mut html, name, insight);
        }
    }
    failing_names(&mut html, report);
    html.push_str(CHECK_SCRIPT);
    html.push_str("</body></html>\n");
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

/// One line per name at the top: OK, or its findings counted by severity and kind.
fn verdict(html: &mut String, report: &Report, names: &[&NameReport]) {
    html.push_str("<section id=\"verdict\"><h2>Verdict</h2><ul>\n");
    for name in names {
        let findings: Vec<&FindingReport> = findings_of(report, &name.name).collect();
        let Some(worst) = findings.iter().map(|f| f.severity).max() else {
            let _ = writeln!(
                html,
                "<li class=\"ok\"><b>{}</b>: OK, every answer matched</li>",
                escape(&name.name)
            );
            continue;
        };
        let count =
            |severity: Severity| findings.iter().filter(|f| f.severity == severity).count() as u64;
        let kinds: Vec<String> = findings
            .iter()
            .map(|f| match f.subject.as_str() {
                "" => f.kind.label().to_string(),
                subject => format!("{} {}", f.kind.label(), escape(subject)),
            })
            .collect();
        let _ = writeln!(
            html,
            "<li class=\"{}\"><b>{}</b>: {}, {}, {} info: {}</li>",
            worst.label(),
            escape(&name.name),
            plural(count(Severity::Error), "error"),
            plural(count(Severity::Warning), "warning"),
            count(Severity::Info),
            kinds.join("; ")
        );
    }
    html.push_str("</ul></section>\n");
}

/// A rotation test's p-value in words.
fn p_words(p: Option<f64>) -> String {
    match p {
        None => "too few answers to test".into(),
        Some(p) if p < 0.05 => format!("uneven beyond chance (p = {p:.1e})"),
        Some(p) => format!("consistent with even rotation (p = {p:.2})"),
    }
}

fn summary(html: &mut String, report: &Report) {
    let s = &report.summary;
    let files: Vec<String> = s.files.iter().map(|f| escape(&f.name)).collect();
    let _ = writeln!(
        html,
        "<table class=\"summary\"><tr><th>files</th><td>{}</td></tr>\
         <tr><th>capture</th><td>{} .. {} ({} s)</td></tr>\
         <tr><th>traffic</th><td>{} packets, {} DNS messages, {} responses, {} watched</td></tr>\
         <tr><th>findings</th><td>{} errors, {} warnings, {} info</td></tr></table>",
        files.join(", "),
        s.first_seen.as_deref().unwrap_or("-"),
        s.last_seen.as_deref().unwrap_or("-"),
        s.span_seconds,
        s.packets,
        s.dns_messages,
        s.responses,
        s.watched_responses,
        report.finding_counts.error,
        report.finding_counts.warning,
        report.finding_counts.info,
    );
}

fn findings(html: &mut String, report: &Report) {
    html.push_str("<h2>Findings</h2>\n");
    if report.findings.is_empty() {
        html.push_str("<p>No findings.</p>\n");
        return;
    }
    html.push_str(
        "<table class=\"findings\"><tr><th>severity</th><th>finding</th><th>name</th>\
         <th>subject</th><th>count</th><th>first seen</th><th>frames</th><th>DNS servers</th>\
         <th>what it means, and the fix</th></tr>\n",
    );
    for f in &report.findings {
        let frames: Vec<String> = f.examples.iter().map(|e| e.frame.to_string()).collect();
        let fix = fix(f, report.expected_of(&f.name))
            .map(|fix| format!("<br><b>fix:</b> {}", escape(&fix)))
            .unwrap_or_default();
        let _ = writeln!(
            html,
            "<tr class=\"{sev}\"><td>{sev}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}{fix}</td></tr>",
            f.kind.label(),
            escape(&f.name),
            escape(&f.subject),
            f.count,
            f.first_seen.as_deref().unwrap_or("-"),
            frames.join(","),
            escape(&address_list(&f.servers, "servers", ", ")),
            escape(&f.message),
            sev = f.severity.label(),
        );
    }
    html.push_str("</table>\n");
}

/// Discovery: the names whose lookups failed, with their rcodes and unanswered queries.
fn failing_names(html: &mut String, report: &Report) {
    if report.failures.is_empty() {
        return;
    }
    html.push_str(
        "<section id=\"failing\"><h2>Failing names</h2>\n<table class=\"failing\">\
         <tr><th>name</th><th>failures</th><th>rcodes</th><th>unanswered</th></tr>\n",
    );
    for failure in &report.failures {
        let _ = writeln!(
            html,
            "<tr class=\"error\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&failure.name),
            failure.failures,
            rcodes_text(&failure.rcodes),
            failure.unanswered,
        );
    }
    html.push_str("</table></section>\n");
}

/// A name's answer sets and the DNS servers that answered it.
fn answer_sets_and_servers(html: &mut String, name: &NameReport) {
    let set_text = |addresses: &[IpAddr]| escape(&address_list(addresses, "addresses", " "));
    html.push_str(
        "<h3>Answer sets</h3><table class=\"answer-sets\"><tr><th>count</th>\
         <th>addresses (sorted)</th><th>first seen</th><th>first frames</th></tr>\n",
    );
    for set in &name.answer_sets {
        let frames: Vec<String> = set.examples.iter().map(|e| e.frame.to_string()).collect();
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            set.count,
            set_text(&set.addresses),
            set.first_seen.as_deref().unwrap_or("-"),
            frames.join(","),
        );
    }
    html.push_str(
        "</table>\n<h3>DNS servers</h3><table class=\"servers\"><tr><th>server</th>\
         <th>authorized</th><th>responses</th><th>rcodes</th><th>answer sets</th><th>p50 ms</th></tr>\n",
    );
    for server in &name.servers {
        let sets: Vec<String> = server
            .answer_sets
            .iter()
            .map(|set| format!("[{}] {}", set_text(&set.addresses), set.count))
            .collect();
        let authorized = match server.authorized {
            Some(true) => "yes",
            Some(false) => "<b class=\"error\">no</b>",
            None => "-",
        };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{authorized}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            server.server,
            server.responses,
            rcodes_text(&server.rcodes),
            sets.join("<br>"),
            server
                .latency
                .as_ref()
                .map_or("-".into(), |l| format!("{:.3}", l.p50_ms)),
        );
    }
    html.push_str("</table>\n");
}

fn name_section(html: &mut String, name: &NameReport, insight: &InsightReport) {
    let charted = Charted::all(insight);
    let clients = match &name.distinct_clients {
        Some(distinct) if distinct.relative_error > 0.0 => {
            format!("about {} distinct clients", distinct.count)
        }
        Some(distinct) => format!("{} distinct clients", distinct.count),
        None => format!(
            "{} stub clients, {} resolvers",
            insight.roles.stub_clients, insight.roles.resolver_clients
        ),
    };
    let _ = writeln!(
        html,
        "<h2>{}</h2>\n<p>{} responses, {}; first positions among members: {} \
         (chi-square {}, df {})</p>",
        escape(&name.name),
        name.responses,
        escape(&clients),
        p_words(insight.rotation.overall.p_value),
        insight
            .rotation
            .overall
            .chi_square
            .map_or("-".into(), |c| c.to_string()),
        insight.rotation.overall.degrees_of_freedom,
    );
    answer_sets_and_servers(html, name);
    share_chart(html, name, &charted);
    heatmap(html, name, &charted);
    timeline(html, insight, &charted);
}

/// Members listed in a chart's legend (every non-member is listed too).
const LEGEND_MEMBERS: usize = 16;

/// The legend under a chart: each address's colour and whether it is a member, then what the
/// marks mean.
fn legend(html: &mut String, candidates: &[Charted], marks: &str) {
    html.push_str("<p class=\"legend\">");
    let members = candidates.iter().filter(|c| !c.non_member).count();
    for (i, charted) in candidates.iter().enumerate() {
        if !charted.non_member && i >= LEGEND_MEMBERS {
            continue;
        }
        let _ = write!(
            html,
            "<span class=\"key\" data-role=\"{}\"><span style=\"display:inline-block;width:10px;\
             height:10px;background:{}\"></span> {}</span> ",
            charted.role(),
            charted.colour(i),
            escape(&charted.label())
        );
    }
    if members > LEGEND_MEMBERS {
        let _ = write!(html, "(and {} more members) ", members - LEGEND_MEMBERS);
    }
    let _ = writeln!(html, "<br><small>{}</small></p>", escape(marks));
}

/// Horizontal bars per candidate: share of answers holding it, share where it came first.
fn share_chart(html: &mut String, name: &NameReport, candidates: &[Charted]) {
    let answers = name.answer_sets.iter().map(|s| s.count).sum::<u64>().max(1);
    let first_total = name.addresses.iter().map(|a| a.first).sum::<u64>().max(1);
    let (label_w, bar_w) = (230.0, 420.0);
    // Many members: thinner rows, so a 120-member pool stays a readable page long.
    let row_h = if candidates.len() <= 16 { 34.0 } else { 16.0 };
    let bar_h = (row_h - 10.0) / 2.0;
    let height = row_h * candidates.len() as f64 + 30.0;
    let _ = writeln!(
        html,
        "<h3>Member share</h3><svg class=\"chart share\" width=\"{w}\" height=\"{height}\" \
         role=\"img\" aria-label=\"member share\">",
        w = label_w + bar_w + 200.0
    );
    for (i, charted) in candidates.iter().enumerate() {
        let member = charted.address;
        let facts = name.addresses.iter().find(|a| a.address == member);
        let (present, first) = facts.map_or((0, 0), |a| (a.present, a.first));
        let y = 10.0 + row_h * i as f64;
        let present_w = bar_w * present as f64 / answers as f64;
        let first_w = bar_w * first as f64 / first_total as f64;
        let _ = writeln!(
            html,
            "<text x=\"0\" y=\"{ty}\" font-size=\"{fs}\" fill=\"{tc}\">{label}</text>\
             <rect class=\"mark\" data-member=\"{member}\" data-role=\"{role}\" x=\"{label_w}\" y=\"{y}\" width=\"{pw:.1}\" height=\"{bar_h}\" fill=\"{c}\" opacity=\"0.45\"><title>{member}: in {present} of {answers} answers</title></rect>\
             <rect class=\"mark-first\" x=\"{label_w}\" y=\"{y2}\" width=\"{fw:.1}\" height=\"{bar_h}\" fill=\"{c}\"><title>{member}: first in {first} answers</title></rect>\
             <text x=\"{tx}\" y=\"{ty}\" font-size=\"{fs}\">{pp:.0}% present, {fp:.0}% first</text>",
            ty = y + bar_h + 3.0,
            y2 = y + bar_h + 1.0,
            fs = if row_h > 20.0 { 12 } else { 10 },
            pw = present_w.max(1.0),
            fw = first_w,
            c = charted.colour(i),
            tc = if charted.non_member { NON_MEMBER } else { "#222" },
            label = charted.label(),
            role = charted.role(),
            tx = label_w + bar_w + 6.0,
            pp = 100.0 * present as f64 / answers as f64,
            fp = 100.0 * first as f64 / first_total as f64,
        );
    }
    html.push_str("</svg>\n");
    legend(
        html,
        candidates,
        "pale bar: share of answers holding the address; solid bar: share of first positions",
    );
}

/// Clients × candidates: the share of a client's responses in which each candidate came first.
fn heatmap(html: &mut String, name: &NameReport, candidates: &[Charted]) {
    let shown = name.clients.len().min(HEATMAP_CLIENTS);
    let rest = &name.clients[shown..];
    let rows = shown + usize::from(!rest.is_empty());
    // Many members: narrow columns with their labels turned, the whole map about 900 px wide.
    let narrow = candidates.len() > 8;
    let (label_w, cell_h) = (190.0, 18.0);
    let cell_w = if narrow {
        (720.0 / candidates.len() as f64).max(6.0)
    } else {
        90.0
    };
    let header_h = if narrow { 70.0 } else { 18.0 };
    let _ = writeln!(
        html,
        "<h3>Clients (share of responses with each member first)</h3>\
         <svg class=\"chart heatmap\" data-rows=\"{rows}\" data-columns=\"{columns}\" width=\"{w}\" \
         height=\"{h}\" role=\"img\" aria-label=\"client heatmap\">",
        columns = candidates.len(),
        w = label_w + cell_w * candidates.len() as f64 + 10.0,
        h = header_h + cell_h * rows as f64 + 10.0
    );
    for (j, charted) in candidates.iter().enumerate() {
        let x = label_w + cell_w * j as f64 + 4.0;
        let turn = if narrow {
            format!(" transform=\"rotate(-70 {x} {})\"", header_h - 4.0)
        } else {
            String::new()
        };
        let _ = write!(
            html,
            "<text x=\"{x}\" y=\"{}\" font-size=\"{}\" fill=\"{}\"{turn}>{}</text>",
            header_h - 4.0,
            if narrow { 7 } else { 11 },
            if charted.non_member {
                NON_MEMBER
            } else {
                "#222"
            },
            if charted.non_member {
                format!("{} ✗", charted.address)
            } else {
                charted.address.to_string()
            }
        );
    }
    let row = |html: &mut String,
               index: usize,
               label: String,
               responses: u64,
               first: &dyn Fn(&IpAddr) -> u64| {
        let y = header_h + cell_h * index as f64;
        let _ = write!(
            html,
            "<text x=\"0\" y=\"{}\" font-size=\"11\">{}</text>",
            y + 13.0,
            escape(&label)
        );
        for (j, charted) in candidates.iter().enumerate() {
            let share = first(&charted.address) as f64 / responses.max(1) as f64;
            // Members in shades of blue, an address that is not a member in shades of red.
            let (fade, deep) = (
                (255.0 * (1.0 - share)) as u8,
                (255.0 * (1.0 - share * 0.6)) as u8,
            );
            let fill = if charted.non_member {
                format!("rgb(255,{fade},{fade})")
            } else {
                format!("rgb({fade},{deep},255)")
            };
            let _ = write!(
                html,
                "<rect class=\"cell\" data-role=\"{role}\" x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" \
                 fill=\"{fill}\" stroke=\"#fff\"><title>{label}: {member} first in {pct:.0}% of {responses} responses</title></rect>",
                role = charted.role(),
                member = charted.label(),
                x = label_w + cell_w * j as f64,
                w = cell_w,
                h = cell_h,
                label = escape(&label),
                pct = 100.0 * share,
            );
        }
        html.push('\n');
    };
    for (i, client) in name.clients[..shown].iter().enumerate() {
        let first = |m: &IpAddr| {
            client
                .addresses
                .iter()
                .find(|a| a.address == *m)
                .map_or(0, |a| a.first)
        };
        let label = format!("{} ({})", client.client, client.role);
        row(html, i, label, client.responses, &first);
    }
    if !rest.is_empty() {
        let responses = rest.iter().map(|c| c.responses).sum();
        let first = |m: &IpAddr| {
            rest.iter()
                .flat_map(|c| c.addresses.iter())
                .filter(|a| a.address == *m)
                .map(|a| a.first)
                .sum()
        };
        let label = format!("{} more clients", rest.len());
        row(html, shown, label, responses, &first);
    }
    html.push_str("</svg>\n");
    legend(
        html,
        candidates,
        "darker cell: the address came first more often for that client (red scale: not a member)",
    );
}

/// Lines per candidate (answers holding it per interval) and failures, over time.
fn timeline(html: &mut String, insight: &InsightReport, candidates: &[Charted]) {
    let intervals = &insight.timeline.intervals;
    let (w, h, left, bottom) = (640.0, 220.0, 40.0, 30.0);
    let peak = intervals
        .iter()
        .flat_map(|i| i.present.iter().copied().chain([i.failures + i.unanswered]))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let step = (w - left) / intervals.len().max(1) as f64;
    let x = |i: usize| left + step * (i as f64 + 0.5);
    let y = |v: u64| (h - bottom) - (h - bottom - 10.0) * v as f64 / peak;
    let _ = writeln!(
        html,
        "<h3>Timeline ({} s intervals; answers holding each member, failures in grey)</h3>\
         <svg class=\"chart timeline\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"timeline\">\
         <line x1=\"{left}\" y1=\"{base}\" x2=\"{w}\" y2=\"{base}\" stroke=\"#999\"/>\
         <text x=\"0\" y=\"14\" font-size=\"11\">{peak}</text><text x=\"0\" y=\"{base}\" font-size=\"11\">0</text>",
        insight.timeline.bucket_seconds,
        base = h - bottom,
    );
    if let (Some(first), Some(last)) = (intervals.first(), intervals.last()) {
        let _ = write!(
            html,
            "<text x=\"{left}\" y=\"{h}\" font-size=\"10\">{}</text>\
             <text x=\"{}\" y=\"{h}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            first.start, w, last.start
        );
    }
    let series = candidates
        .iter()
        .enumerate()
        .map(|(j, charted)| {
            let values: Vec<u64> = intervals
                .iter()
                .map(|i| i.present.get(j).copied().unwrap_or(0))
                .collect();
            (charted.label(), charted.colour(j), values)
        })
        .chain([(
            "failures".to_string(),
            "#888",
            intervals
                .iter()
                .map(|i| i.failures + i.unanswered)
                .collect(),
        )]);
    for (label, colour, values) in series {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = write!(
            html,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        for (i, v) in values.iter().enumerate() {
            let _ = write!(
                html,
                "<circle class=\"point\" data-series=\"{label}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"><title>{label}: {v} in {}</title></circle>",
                x(i),
                y(*v),
                intervals[i].start
            );
        }
    }
    html.push_str("</svg>\n");
    legend(
        html,
        candidates,
        "a line per address: answers holding it per interval; grey: failed or unanswered queries",
    );
}

/// Checks every chart once the page has loaded: a share chart needs one mark per member, a
/// heatmap rows × columns cells, a timeline its points. Problems go to the console as errors;
/// the result also lands on `<body data-chart-check>`.
const CHECK_SCRIPT: &str = r#"<script>
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
</script>
"#;

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
