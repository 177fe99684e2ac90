//! `pcdns merge`: JSON reports combine through the state they carry, exactly.

use crate::common::*;
use serde_json::Value;

/// Writes `pcdns analyze FILE -e contoso.toml -f json` into `dir` and returns its path.
fn json_report(dir: &tempfile::TempDir, capture: &str) -> String {
    let output = pcdns(&[
        "analyze",
        &format!("samples/{capture}"),
        "-e",
        "samples/contoso.toml",
        "-f",
        "json",
    ]);
    let path = dir.path().join(format!("{capture}.json"));
    std::fs::write(&path, &output.stdout).expect("write report");
    path.display().to_string()
}

#[test]
fn merging_one_report_gives_that_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = json_report(&dir, "broken.pcap");
    let merged = pcdns(&["merge", &report]);
    let original = pcdns(&[
        "analyze",
        "samples/broken.pcap",
        "-e",
        "samples/contoso.toml",
    ]);
    assert_eq!(merged.status.code(), Some(1), "{}", stderr(&merged));
    assert_eq!(stdout(&merged), stdout(&original));
}

#[test]
fn merging_reports_of_two_files_equals_analysing_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let broken = json_report(&dir, "broken.pcap");
    let healthy = json_report(&dir, "healthy.pcap");
    let mut merged = json(&pcdns(&["merge", &broken, &healthy, "-f", "json"]));
    let mut both = json(&pcdns(&[
        "analyze",
        "samples/broken.pcap",
        "samples/healthy.pcap",
        "-e",
        "samples/contoso.toml",
        "-f",
        "json",
    ]));
    // One run over both files sees time go back between them (healthy.pcap is older): that
    // is counted, and in the raw state an answer set's first sighting is the first in reading
    // order there, the earliest timestamp in a merge. The peak memory of pairing is a peak,
    // not a sum: a merge keeps the larger run's. Everything else in the report is the same.
    assert_eq!(both["summary"]["timestamps_backwards"], 1);
    for report in [&mut merged, &mut both] {
        report["summary"]["timestamps_backwards"] = Value::Null;
        report["summary"]["transactions"]["peak_bytes"] = Value::Null;
        report["state"] = Value::Null;
    }
    assert_eq!(merged, both);
}

#[test]
fn merge_takes_the_insight_settings_like_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let report = json_report(&dir, "broken.pcap");
    let settings = ["--bucket", "2", "--client-prefix-v4", "8"];
    let merged = json(&pcdns(
        &[&["merge", &report, "-f", "json"][..], &settings].concat(),
    ));
    let analysed = json(&pcdns(
        &[
            &[
                "analyze",
                "samples/broken.pcap",
                "-e",
                "samples/contoso.toml",
                "-f",
                "json",
            ][..],
            &settings,
        ]
        .concat(),
    ));
    let pool = |report: &Value| report["names"][2]["insight"].clone();
    assert_eq!(pool(&merged)["timeline"]["bucket_seconds"], 2);
    assert_eq!(
        pool(&merged)["rotation"]["subnets"][0]["subnet"],
        "127.0.0.0/8"
    );
    assert_eq!(pool(&merged), pool(&analysed));
}

#[test]
fn a_monitors_json_lines_count_by_their_last_report() {
    let dir = tempfile::tempdir().unwrap();
    let broken = json_report(&dir, "broken.pcap");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&broken).unwrap()).unwrap();
    // Events and an earlier (empty) report before the last report, as `monitor -f json` writes.
    let mut early = report.clone();
    early["state"]["analysis"]["names"] = serde_json::json!({});
    let lines = [
        r#"{"type":"finding","kind":"wrong_address"}"#.to_string(),
        serde_json::to_string(&early).unwrap(),
        serde_json::to_string(&report).unwrap(),
        r#"{"type":"finding","kind":"nxdomain"}"#.to_string(),
    ];
    let ndjson = dir.path().join("monitor.ndjson");
    std::fs::write(&ndjson, lines.join("\n") + "\n").unwrap();
    let merged = pcdns(&["merge", &ndjson.display().to_string()]);
    let original = pcdns(&[
        "analyze",
        "samples/broken.pcap",
        "-e",
        "samples/contoso.toml",
    ]);
    assert_eq!(stdout(&merged), stdout(&original), "{}", stderr(&merged));
}

#[test]
fn merging_what_is_not_a_report_or_mixed_expectations_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let broken = json_report(&dir, "broken.pcap");
    let output = pcdns(&["merge", &broken, "samples/contoso.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("not a pcdns JSON report"),
        "{}",
        stderr(&output)
    );
    let discovery = dir.path().join("discovery.json");
    std::fs::write(
        &discovery,
        pcdns(&["analyze", "samples/healthy.pcap", "-f", "json"]).stdout,
    )
    .unwrap();
    let output = pcdns(&["merge", &broken, &discovery.display().to_string()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("different expectations"),
        "{}",
        stderr(&output)
    );
}

#[cfg(not(feature = "live"))]
#[test]
fn monitor_without_the_live_feature_says_how_to_get_it() {
    let output = pcdns(&["monitor", "-i", "lo"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--features live"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("libpcap-dev"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_silent_server_survives_a_merge_with_a_report_where_it_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let silent = json_report(&dir, "silent-server.pcap");
    let healthy = json_report(&dir, "healthy.pcap");
    let merged = json(&pcdns(&["merge", &healthy, &silent, "-f", "json"]));
    let found: Vec<&Value> = merged["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "server_silent_at_end")
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (&found[0]["subject"], &found[0]["count"]),
        (&"127.0.0.56".into(), &3.into())
    );
    let tally = &merged["state"]["analysis"]["servers"]["servers"]["127.0.0.56"];
    assert_eq!(tally["pending"], 3, "{tally}");
}

#[test]
fn merging_discovery_reports_equals_discovering_both_files() {
    // The reports carry each name's summary (top answer sets, client sketch) and the failing
    // names, so the names, their clients and the failures come out as in one run.
    let dir = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    for capture in ["broken.pcap", "healthy.pcap"] {
        let output = pcdns(&["analyze", &format!("samples/{capture}"), "-f", "json"]);
        let path = dir.path().join(format!("{capture}.json"));
        std::fs::write(&path, &output.stdout).expect("write report");
        reports.push(path.display().to_string());
    }
    let merged = json(&pcdns(&["merge", &reports[0], &reports[1], "-f", "json"]));
    let both = json(&pcdns(&[
        "analyze",
        "samples/broken.pcap",
        "samples/healthy.pcap",
        "-f",
        "json",
    ]));
    assert_eq!(merged["mode"], "discovery");
    assert_eq!(merged["names"], both["names"]);
    assert_eq!(merged["failures"], both["failures"]);
    let pool = &merged["names"][0];
    assert_eq!(pool["name"], "PersistentChatPool.contoso.com");
    assert_eq!(pool["distinct_clients"]["count"], 3);
    assert_eq!(pool["answer_sets"].as_array().unwrap().len(), 3);
}
