//! The HTML report in a real browser: headless Chromium (Debian's chromium) loads the report
//! of a real capture, runs the page's chart check, takes a screenshot; the test fails on any
//! console message (errors included), on an empty chart (a share chart without one mark per
//! member, a heatmap without clients × members cells, a timeline without points) and on a
//! blank screenshot. A page with its heatmap cells removed must fail the same check, so the
//! check itself is known to work.

use crate::common::{self, heavy, missing, pcdns, sample};
use std::path::Path;
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
    if !common::tool_available(CHROMIUM) {
        return missing("chromium (apt-get install chromium)");
    }
    let dir = tempfile::tempdir().expect("temp dir");
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
    if !common::tool_available(CHROMIUM) {
        return missing("chromium (apt-get install chromium)");
    }
    let dir = tempfile::tempdir().expect("temp dir");
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
    if !common::tool_available(CHROMIUM) {
        return missing("chromium (apt-get install chromium)");
    }
    let dir = tempfile::tempdir().expect("temp dir");
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
    if !common::tool_available(CHROMIUM) {
        return missing("chromium (apt-get install chromium)");
    }
    let dir = tempfile::tempdir().expect("temp dir");
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
    if !common::tool_available(CHROMIUM) {
        return missing("chromium (apt-get install chromium)");
    }
    let dir = tempfile::tempdir().expect("temp dir");
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
    let discovery = dir.path().join("discovery.html");
    let output = pcdns(&[
        "analyze",
        sample("broken.pcap").to_str().unwrap(),
        "--html",
        discovery.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
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
}

#[test]
fn every_chart_has_a_legend_naming_the_stale_address_as_not_a_member() {
    let _heavy = heavy();
    if !common::tool_available(CHROMIUM) {
        return missing("chromium (apt-get install chromium)");
    }
    let dir = tempfile::tempdir().expect("temp dir");
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
