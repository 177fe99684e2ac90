//! The HTML report in a real browser: headless Chromium (Debian's chromium) loads the report
//! of a real capture, runs the page's chart check, takes a screenshot; the test fails on any
//! console message (errors included), on an empty chart (a share chart without one mark per
//! member, a heatmap without clients × members cells, a timeline without points) and on a
//! blank screenshot. A page with its heatmap cells removed must fail the same check, so the
//! check itself is known to work. Layout checks measure the page at 1280 px (heatmap column
//! labels that overlap, findings rows too tall, a page wider than the window), with a page made
//! to overlap as their control. Full-page screenshots of the samples' reports stay in
//! `$PCDNS_ARTIFACTS/screenshots` (default `target/ci-artifacts/screenshots`) to look at.

use crate::common::{self, heavy, missing, pcdns, sample};
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "chromium";

/// Chromium flags for a closed network, as root, without a profile.
fn chromium(profile: &Path, extra: &[&str], page: &Path) -> std::process::Output {
    Command::new("timeout")
        .arg("120")
        .arg(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium")
}

/// Loads `page`; returns the chart check the page wrote and the console lines Chromium logged.
fn check_page(dir: &Path, page: &Path) -> (String, Vec<String>) {
    let output = chromium(&dir.join("profile-dom"), &["--dump-dom"], page);
    assert!(output.status.success(), "chromium failed: {output:?}");
    let dom = String::from_utf8_lossy(&output.stdout).to_string();
    let check = dom
        .split("data-chart-check=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("no check ran")
        .to_string();
    let console = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (check, console)
}

/// The rendered DOM of `page` (scripts run).
fn dom_of(dir: &Path, page: &Path) -> String {
    let output = chromium(&dir.join("profile-dom"), &["--dump-dom"], page);
    assert!(output.status.success(), "chromium failed: {output:?}");
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// The `<svg>` elements of `dom` whose class list holds `class`.
fn svgs<'a>(dom: &'a str, class: &str) -> Vec<&'a str> {
    dom.split("<svg ")
        .skip(1)
        .filter(|svg| svg.starts_with(&format!("class=\"chart {class}\"")))
        .map(|svg| svg.split("</svg>").next().unwrap_or(""))
        .collect()
}

/// A temporary folder for a browser test; None, the test skipped, without Chromium.
fn browser_dir() -> Option<tempfile::TempDir> {
    if !common::tool_available(CHROMIUM) {
        missing("chromium (apt-get install chromium)");
        return None;
    }
    Some(tempfile::tempdir().expect("temp dir"))
}

/// The discovery HTML of broken.pcap (no expectations).
fn broken_discovery(dir: &Path) -> PathBuf {
    let page = dir.join("broken-discovery.html");
    let output = pcdns(&[
        "analyze",
        sample("broken.pcap").to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    page
}

fn html_report(dir: &Path, capture: &str, expectations: &str) -> std::path::PathBuf {
    let page = dir.join(format!("{capture}.html"));
    let output = pcdns(&[
        "analyze",
        sample(capture).to_str().unwrap(),
        "--expect",
        sample(expectations).to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(output.status.code().is_some_and(|c| c <= 1), "{output:?}");
    page
}

#[test]
fn html_report_renders_in_chromium_with_every_chart_filled() {
    let _heavy = heavy();
    let Some(dir) = browser_dir() else { return };
    for (capture, expectations, members) in [
        // Names with findings first: the pool's two members and the stale 10.10.10.3, which
        // is not one, then the NXDOMAIN name and the healthy one.
        ("broken.pcap", "contoso.toml", &[3, 1, 1][..]),
        ("large-pool.pcap", "large-pool.toml", &[120]),
    ] {
        let page = html_report(dir.path(), capture, expectations);
        let (check, console) = check_page(dir.path(), &page);
        assert!(
            console.is_empty(),
            "{capture}: console messages: {console:?}"
        );
        assert!(check.starts_with("ok "), "{capture}: {check}");
        // One share chart per name with responses, one mark per member.
        let shares: Vec<usize> = check
            .split(' ')
            .filter_map(|c| c.strip_prefix("share:"))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(shares, members, "{capture}: {check}");
        let screenshot = dir.path().join(format!("{capture}.png"));
        let shot = format!("--screenshot={}", screenshot.display());
        let output = chromium(
            &dir.path().join("profile-shot"),
            &[&shot, "--window-size=1200,2000"],
            &page,
        );
        assert!(output.status.success(), "{output:?}");
        let png = std::fs::read(&screenshot).expect("screenshot written");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        // A blank 1200x2000 page compresses to a few kB; charts and tables do not.
        assert!(
            png.len() > 30_000,
            "{capture}: screenshot only {} bytes",
            png.len()
        );
    }
}

#[test]
fn chart_check_catches_an_empty_heatmap() {
    let _heavy = heavy();
    let Some(dir) = browser_dir() else { return };
    let page = html_report(dir.path(), "broken.pcap", "contoso.toml");
    let broken = dir.path().join("no-cells.html");
    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::write(&broken, html.replace("class=\"cell\"", "class=\"gone\"")).unwrap();
    let (check, console) = check_page(dir.path(), &broken);
    assert!(check.starts_with("FAIL "), "{check}");
    assert!(
        console
            .iter()
            .any(|line| line.contains("heatmap has 0 cells")),
        "{console:?}"
    );
}

#[test]
fn stale_address_is_drawn_in_every_chart_as_not_a_member() {
    let _heavy = heavy();
    let Some(dir) = browser_dir() else { return };
    let page = html_report(dir.path(), "broken.pcap", "contoso.toml");
    let dom = dom_of(dir.path(), &page);
    // broken.pcap's pool answers hold 10.10.10.3, which samples/contoso.toml does not list.
    let stale = "10.10.10.3";
    let share = svgs(&dom, "share");
    assert!(
        share.iter().any(|svg| svg
            .contains(&format!("data-member=\"{stale}\" data-role=\"non-member\""))
            && svg.contains(&format!("{stale} (not a member)"))),
        "no share bar for {stale} marked as not a member"
    );
    let heatmap = svgs(&dom, "heatmap");
    assert!(
        heatmap
            .iter()
            .any(|svg| svg.contains("data-role=\"non-member\"")
                && svg.contains(&format!("{stale} (not a member) first in"))),
        "no heatmap column for {stale} marked as not a member"
    );
    let timeline = svgs(&dom, "timeline");
    assert!(
        timeline
            .iter()
            .any(|svg| svg.contains(&format!("data-series=\"{stale} (not a member)\""))),
        "no timeline series for {stale}"
    );
}

#[test]
fn verdict_at_the_top_names_what_is_wrong_worst_first() {
    let _heavy = heavy();
    let Some(dir) = browser_dir() else { return };
    let page = html_report(dir.path(), "broken.pcap", "contoso.toml");
    let dom = dom_of(dir.path(), &page);
    let body = dom.split("<body").nth(1).expect("a body");
    // The first section after the title is the verdict.
    let first_h2 = body.split("<h2>").nth(1).unwrap_or("");
    assert!(first_h2.starts_with("Verdict</h2>"), "{first_h2:.200}");
    let items: Vec<&str> = first_h2
        .split("</ul>")
        .next()
        .unwrap_or("")
        .split("<li ")
        .skip(1)
        .collect();
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(
        items[0].starts_with(
            "class=\"error\"><b>PersistentChatPool.contoso.com</b>: 3 errors, 3 warnings"
        ) && items[0].contains("wrong address 10.10.10.3"),
        "{}",
        items[0]
    );
    assert!(
        items[2].starts_with("class=\"ok\"><b>PersistentChatServer01.contoso.com</b>: OK"),
        "{}",
        items[2]
    );
}

#[test]
fn names_show_answer_sets_servers_and_fixes_and_discovery_lists_failing_names() {
    let _heavy = heavy();
    let Some(dir) = browser_dir() else { return };
    let page = html_report(dir.path(), "broken.pcap", "contoso.toml");
    let dom = dom_of(dir.path(), &page);
    let findings = dom
        .split("<table class=\"findings\">")
        .nth(1)
        .expect("findings");
    assert!(
        findings.contains(
            "<b>fix:</b> remove the A record PersistentChatPool.contoso.com → 10.10.10.3 served by 127.0.0.53"
        ),
        "{findings:.2000}"
    );
    let sets = dom
        .split("<table class=\"answer-sets\">")
        .nth(1)
        .expect("answer sets");
    assert!(
        sets.contains("<td>10.10.10.1 10.10.10.2 10.10.10.3</td>"),
        "{sets:.800}"
    );
    let servers = dom
        .split("<table class=\"servers\">")
        .nth(1)
        .expect("servers");
    assert!(
        servers.contains("<td>127.0.0.54</td><td><b class=\"error\">no</b></td>"),
        "{servers:.800}"
    );
    // Discovery: the NXDOMAIN name and the pool's unanswered queries are listed.
    let discovery = broken_discovery(dir.path());
    let dom = dom_of(dir.path(), &discovery);
    let failing = dom
        .split("<section id=\"failing\">")
        .nth(1)
        .expect("failing names");
    assert!(
        failing.contains(
            "<td>PersistentChatServer02.contoso.com</td><td>3</td><td>NXDOMAIN 3</td><td>0</td>"
        ),
        "{failing:.800}"
    );
    assert!(
        failing
            .contains("<td>PersistentChatPool.contoso.com</td><td>2</td><td>none</td><td>2</td>"),
        "{failing:.800}"
    );
    // At the top: the verdict names the failing names first, their table follows it.
    let verdict = dom
        .split("<section id=\"verdict\">")
        .nth(1)
        .expect("a verdict");
    let first = verdict.split("<li ").nth(1).unwrap_or("");
    assert!(
        first.starts_with(
            "class=\"error\"><b>PersistentChatServer02.contoso.com</b>: lookups failing: NXDOMAIN 3"
        ),
        "{verdict:.800}"
    );
    assert!(verdict
        .split("</section>")
        .nth(1)
        .unwrap_or("")
        .starts_with("<section id=\"failing\">"));
}

#[test]
fn every_chart_has_a_legend_naming_the_stale_address_as_not_a_member() {
    let _heavy = heavy();
    let Some(dir) = browser_dir() else { return };
    let page = html_report(dir.path(), "broken.pcap", "contoso.toml");
    let dom = dom_of(dir.path(), &page);
    let charts: Vec<&str> = dom.split("<svg class=\"chart").skip(1).collect();
    assert!(charts.len() >= 3, "{} charts", charts.len());
    for chart in &charts {
        let after = chart.split("</svg>").nth(1).unwrap_or("");
        assert!(
            after.trim_start().starts_with("<p class=\"legend\">"),
            "a chart without a legend: {:.300}",
            after
        );
    }
    let first_legend = dom.split("<p class=\"legend\">").nth(1).expect("a legend");
    assert!(
        first_legend.contains("data-role=\"non-member\"") && first_legend.contains("10.10.10.3"),
        "{first_legend:.600}"
    );
}

/// The window the layout checks and screenshots use, as an admin's laptop shows the report.
const WIDTH: u32 = 1280;

/// Measures `page` as laid out at [`WIDTH`] px: a copy gets a script that writes
/// `width= height= labels= overlaps= tallest= rows= summary=` onto `<body data-layout>`
/// (heatmap column labels and how many pairs of them overlap, the tallest findings row, the
/// heatmaps' row count, the text of their summary rows).
fn layout_of(dir: &Path, page: &Path) -> std::collections::HashMap<String, String> {
    const MEASURE: &str = r#"<script>
(function () {
  var boxes = Array.from(document.querySelectorAll("svg.heatmap text.column"))
    .map(function (t) { return t.getBoundingClientRect(); });
  var overlaps = 0;
  for (var i = 0; i < boxes.length; i++) for (var j = i + 1; j < boxes.length; j++) {
    var a = boxes[i], b = boxes[j];
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps++;
  }
  var tallest = Array.from(document.querySelectorAll("table.findings tr"))
    .reduce(function (m, r) { return Math.max(m, r.getBoundingClientRect().height); }, 0);
  var rows = Array.from(document.querySelectorAll("svg.heatmap"))
    .map(function (s) { return s.dataset.rows; }).join(",");
  var summary = Array.from(document.querySelectorAll("svg.heatmap text.summary"))
    .map(function (t) { return t.textContent; }).join("|");
  var root = document.documentElement;
  document.body.dataset.layout = "width=" + root.scrollWidth + " height=" + root.scrollHeight +
    " labels=" + boxes.length + " overlaps=" + overlaps + " tallest=" + Math.round(tallest) +
    " rows=" + rows + " summary=" + summary;
})();
</script>"#;
    let measured = dir.join(format!(
        "measured-{}",
        page.file_name().unwrap().to_string_lossy()
    ));
    let html = std::fs::read_to_string(page).expect("read the page");
    std::fs::write(
        &measured,
        html.replace("</body>", &format!("{MEASURE}</body>")),
    )
    .unwrap();
    let window = format!("--window-size={WIDTH},2000");
    let dom = {
        let output = chromium(
            &dir.join("profile-dom"),
            &["--dump-dom", &window],
            &measured,
        );
        assert!(output.status.success(), "chromium failed: {output:?}");
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    let layout = dom
        .split("data-layout=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the measuring script ran");
    let (fields, summary) = layout.split_once(" summary=").unwrap_or((layout, ""));
    let mut values: std::collections::HashMap<String, String> = fields
        .split(' ')
        .filter_map(|field| field.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    values.insert("summary".into(), summary.to_string());
    values
}

fn number(layout: &std::collections::HashMap<String, String>, key: &str) -> u64 {
    layout[key]
        .parse()
        .unwrap_or_else(|_| panic!("{key}: {layout:?}"))
}

/// A synthetic capture of a 129-member pool asked by 300 clients, with wrong and missing
/// addresses, and its expectations.
fn pool_of_129(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (capture, expectations) = (dir.join("pool-129.pcap"), dir.join("pool-129.toml"));
    let output = pcdns(&[
        "synth",
        "-o",
        capture.to_str().unwrap(),
        "--packets",
        "40000",
        "--pool-size",
        "129",
        "--clients",
        "300",
        "--expect-out",
        expectations.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    (capture, expectations)
}

/// The HTML (and the JSON report) of `capture` against `expectations`, paths as given.
fn html_and_json(dir: &Path, capture: &Path, expectations: &Path) -> (PathBuf, serde_json::Value) {
    let page = dir.join(format!(
        "{}.html",
        capture.file_stem().unwrap().to_string_lossy()
    ));
    let (capture, expectations) = (capture.to_str().unwrap(), expectations.to_str().unwrap());
    let output = pcdns(&[
        "analyze",
        capture,
        "--expect",
        expectations,
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(output.status.code().is_some_and(|c| c <= 1), "{output:?}");
    let output = pcdns(&[
        "analyze",
        capture,
        "--expect",
        expectations,
        "--format",
        "json",
    ]);
    let json = serde_json::from_slice(&output.stdout).expect("a JSON report");
    (page, json)
}

#[test]
fn a_large_pool_reads_at_1280_px_labels_apart_rows_short_clients_summarised() {
    let _heavy = heavy();
    let Some(dir) = browser_dir() else { return };
    // The 120-member sample (4 clients: no summary row) and 129 members asked by 300 clients.
    let (capture, expectations) = pool_of_129(dir.path());
    for (capture, expectations) in [
        (sample("large-pool.pcap"), sample("large-pool.toml")),
        (capture, expectations),
    ] {
        let (page, report) = html_and_json(dir.path(), &capture, &expectations);
        let layout = layout_of(dir.path(), &page);
        let pool = &report["names"][0];
        let members = pool["addresses"].as_array().unwrap().len() as u64;
        // Labels thinned, never overlapping, yet enough to read the axis (one in three at least).
        assert_eq!(number(&layout, "overlaps"), 0, "{layout:?}");
        assert!(number(&layout, "labels") >= members / 3, "{layout:?}");
        assert!(number(&layout, "width") <= u64::from(WIDTH), "{layout:?}");
        // No findings row lists the pool (129 addresses take 30 lines and more): each stays
        // a dozen lines high at most.
        assert!(number(&layout, "tallest") <= 240, "{layout:?}");
        let clients = pool["clients"].as_array().unwrap();
        if clients.len() <= 20 {
            assert_eq!(layout["rows"], clients.len().to_string(), "{layout:?}");
            assert_eq!(layout["summary"], "", "{layout:?}");
            continue;
        }
        // 20 rows and one summary row holding every other client and its answers.
        assert_eq!(layout["rows"], "21", "{layout:?}");
        let html = std::fs::read_to_string(&page).unwrap();
        let heatmap = html.split("class=\"chart heatmap\"").nth(1).unwrap();
        let row_of = |client: &serde_json::Value| {
            heatmap.contains(&format!(">{} (", client.as_str().unwrap()))
        };
        let (shown, rest): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) =
            clients.iter().partition(|c| row_of(&c["client"]));
        assert_eq!(shown.len(), 20);
        let answers: u64 = rest.iter().map(|c| c["responses"].as_u64().unwrap()).sum();
        assert_eq!(
            layout["summary"],
            format!("and {} other clients, {answers} answers", rest.len()),
        );
        // The clients a finding names keep their rows, though not among the busiest.
        for finding in report["findings"].as_array().unwrap() {
            for client in finding["clients"].as_array().unwrap() {
                assert!(row_of(client), "no row for {client}");
            }
        }
    }
}

#[test]
fn layout_check_catches_overlapping_labels() {
    let _heavy = heavy();
    let Some(dir) = browser_dir() else { return };
    let page = html_report(dir.path(), "large-pool.pcap", "large-pool.toml");
    let crowded = dir.path().join("crowded.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let big_labels = "class=\"column\" style=\"font-size:40px\"";
    std::fs::write(&crowded, html.replace("class=\"column\"", big_labels)).unwrap();
    let layout = layout_of(dir.path(), &crowded);
    assert!(number(&layout, "overlaps") > 0, "{layout:?}");
}

/// A name and a file name made of markup, quotes and ampersands.
const HOSTILE: &str = r#"<script>alert("pwn")&'x'</script>"#;

#[test]
fn hostile_names_come_out_escaped() {
    let _heavy = heavy();
    let dir = tempfile::tempdir().expect("temp dir");
    let expectations = dir.path().join("hostile.toml");
    let name = format!("{HOSTILE}.contoso.com");
    let quoted = name.replace('"', "\\\"");
    std::fs::write(
        &expectations,
        format!("[[server]]\nname = \"{quoted}\"\naddress = \"10.10.10.1\"\n"),
    )
    .unwrap();
    let capture = dir.path().join("<i>\"q\"&'a'.pcap");
    std::fs::copy(sample("broken.pcap"), &capture).unwrap();
    let (page, _) = html_and_json(dir.path(), &capture, &expectations);
    let html = std::fs::read_to_string(&page).unwrap();
    let escaped = "&lt;script&gt;alert(&quot;pwn&quot;)&amp;'x'&lt;/script&gt;.contoso.com";
    assert!(html.contains(escaped), "{html:.3000}");
    assert!(
        html.contains("&lt;i&gt;&quot;q&quot;&amp;'a'.pcap"),
        "{html:.3000}"
    );
    assert!(
        !html.contains(HOSTILE) && !html.contains("<i>"),
        "{html:.3000}"
    );
    assert_eq!(html.matches("<script").count(), 1, "only the chart check");
    if !common::tool_available(CHROMIUM) {
        return missing("chromium (apt-get install chromium)");
    }
    // In the browser: the name is text of the verdict, and no element came from it.
    let dom = dom_of(dir.path(), &page);
    assert_eq!(dom.matches("<script").count(), 1, "{dom:.3000}");
    // The DOM serializes quotes in text as they are.
    let text = escaped.replace("&quot;", "\"");
    assert!(
        dom.contains(&format!("<li class=\"info\"><b>{text}</b>")),
        "{dom:.3000}"
    );
}

/// Where screenshots are kept: `$PCDNS_ARTIFACTS/screenshots`, else `ci-artifacts/screenshots`
/// in the target directory.
fn screenshot_dir() -> PathBuf {
    let artifacts = std::env::var_os("PCDNS_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| common::root().join("target"))
                .join("ci-artifacts")
        });
    let dir = artifacts.join("screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot folder");
    dir
}

#[test]
fn screenshots_of_the_samples_reports_at_1280_px_full_page() {
    let _heavy = heavy();
    let Some(dir) = browser_dir() else { return };
    let (synth, synth_expectations) = pool_of_129(dir.path());
    let discovery = broken_discovery(dir.path());
    let mut pages = vec![discovery];
    for (capture, expectations) in [
        (sample("broken.pcap"), sample("contoso.toml")),
        (sample("healthy.pcap"), sample("contoso.toml")),
        (sample("rotation.pcap"), sample("rotation.toml")),
        (sample("netmask.pcap"), sample("netmask.toml")),
        (sample("large-pool.pcap"), sample("large-pool.toml")),
        (synth, synth_expectations),
    ] {
        pages.push(html_and_json(dir.path(), &capture, &expectations).0);
    }
    let shots = screenshot_dir();
    for page in &pages {
        let stem = page.file_stem().unwrap().to_string_lossy().to_string();
        let layout = layout_of(dir.path(), page);
        assert!(
            number(&layout, "width") <= u64::from(WIDTH),
            "{stem}: {layout:?}"
        );
        let height = number(&layout, "height").clamp(600, 16_000);
        // Every page's charts check out, discovery's included.
        let (check, console) = check_page(dir.path(), page);
        assert!(
            console.is_empty() && check.starts_with("ok"),
            "{stem}: {check} {console:?}"
        );
        let screenshot = shots.join(format!("{stem}.png"));
        let _ = std::fs::remove_file(&screenshot);
        let output = chromium(
            &dir.path().join("profile-shot"),
            &[
                &format!("--screenshot={}", screenshot.display()),
                &format!("--window-size={WIDTH},{height}"),
                "--hide-scrollbars",
            ],
            page,
        );
        assert!(output.status.success(), "{output:?}");
        let png = std::fs::read(&screenshot).expect("screenshot written");
        assert!(png.starts_with(b"\x89PNG"), "{stem}: not a PNG");
        // The PNG header's size: the window's width and the page's whole height.
        let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
        assert_eq!((size(16), u64::from(size(20))), (WIDTH, height), "{stem}");
        eprintln!("screenshot: {}", screenshot.display());
    }
}

#[test]
fn fixes_change_records_on_authorized_servers_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (capture, expectations) = pool_of_129(dir.path());
    // Two of the synth's four servers authorized: the .54 ones answer without being so.
    let toml = std::fs::read_to_string(&expectations).unwrap();
    let authorized = "authorized_servers = [\"192.0.2.53\", \"2001:db8::53\"]\n";
    std::fs::write(&expectations, format!("{authorized}{toml}")).unwrap();
    let output = pcdns(&[
        "analyze",
        capture.to_str().unwrap(),
        "--expect",
        expectations.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&output.stdout);
    let fixes: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("fix: "))
        .collect();
    // The wrong address came from all four: removed on the two authorized ones only.
    let pool = "PersistentChatPool.contoso.com";
    let remove =
        format!("remove the A record {pool} → 10.10.10.250 served by 192.0.2.53, 2001:db8::53");
    assert!(fixes.contains(&remove.as_str()), "{fixes:#?}");
    // No record is to be added or removed on an unauthorized server; their clients move instead.
    assert!(
        fixes
            .iter()
            .filter(|f| f.starts_with("add ") || f.starts_with("remove "))
            .all(|f| !f.contains("192.0.2.54") && !f.contains("2001:db8::54")),
        "{fixes:#?}"
    );
    assert!(
        fixes
            .iter()
            .any(|f| f.ends_with("at an authorized DNS server instead of 192.0.2.54")),
        "{fixes:#?}"
    );
}
