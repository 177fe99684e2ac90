//! Reruns the sample scripts (real BIND 9 or Unbound and dig in a network namespace the script
//! creates, captured with tcpdump) and checks that the fresh captures give the same findings as
//! the committed ones. Needs root, bind9, unbound, dnsutils, tcpdump, iproute2 and tshark.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

const CONTOSO: &str = "samples/contoso.toml";
const LARGE_POOL: &str = "samples/large-pool.toml";
const ROTATION: &str = "samples/rotation.toml";

/// (severity, kind, name, subject, count) of every finding: what must not change on a rerun.
fn findings_of(capture: &Path, expectations: &str) -> Vec<(String, String, String, String, u64)> {
    // One timeline interval for the whole capture: which answers share an interval decides
    // `divergent_servers`, and where the automatic interval boundaries fall among a script's
    // last queries depends on its wall-clock timing (a fresh broken.pcap once lost the finding
    // that way; other findings do not depend on intervals).
    let report = json(&pcdns(&[
        "analyze",
        capture.to_str().unwrap(),
        "--expect",
        expectations,
        "--format",
        "json",
        "--bucket",
        "3600",
    ]));
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut findings: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                text(&f["severity"]),
                text(&f["kind"]),
                text(&f["name"]),
                text(&f["subject"]),
                f["count"].as_u64().unwrap(),
            )
        })
        .collect();
    findings.sort();
    findings
}

/// True as root with every tool on PATH; otherwise reports what is missing.
fn have(tools: &[&str]) -> bool {
    root_and_programs(
        tools,
        "bind9, unbound, dnsutils, tcpdump, iproute2, tshark, python3",
    )
}

/// Runs `script` with a fresh output directory and returns it.
fn rerun(script: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("bash")
        .arg(root().join(script))
        .arg(dir.path())
        .status()
        .expect("run the script");
    assert!(status.success(), "{script} failed");
    dir
}

#[test]
fn fresh_samples_from_bind_give_the_committed_findings() {
    let _heavy = heavy();
    if !have(&["named", "dig", "tcpdump", "ip"]) {
        return;
    }
    let dir = rerun("samples/make-samples.sh");
    for name in ["healthy.pcap", "broken.pcap"] {
        let committed = findings_of(&sample(name), CONTOSO);
        assert_eq!(
            findings_of(&dir.path().join(name), CONTOSO),
            committed,
            "{name}"
        );
        if name == "broken.pcap" {
            assert!(committed
                .iter()
                .any(|f| f.1 == "wrong_address" && f.3 == "10.10.10.3"));
            assert!(committed
                .iter()
                .any(|f| f.1 == "unanswered" && f.3 == "127.0.0.55"));
        }
    }
}

#[test]
fn fresh_large_pool_sample_from_unbound_gives_the_committed_findings() {
    let _heavy = heavy();
    if !have(&["unbound", "dig", "tcpdump", "ip", "tshark"]) {
        return;
    }
    let dir = rerun("samples/make-large-pool-sample.sh");
    let fresh = dir.path().join("large-pool.pcap");
    let committed = findings_of(&sample("large-pool.pcap"), LARGE_POOL);
    assert_eq!(findings_of(&fresh, LARGE_POOL), committed);
    let report = json(&pcdns(&[
        "analyze",
        fresh.to_str().unwrap(),
        "--expect",
        LARGE_POOL,
        "--format",
        "json",
    ]));
    let members = report["names"][0]["addresses"].as_array().unwrap();
    assert!(
        members.len() == 120 && members.iter().all(|m| m["present"] == 5),
        "every member in every full answer"
    );
}

#[test]
fn fresh_rotation_sample_gives_the_committed_findings() {
    let _heavy = heavy();
    if !have(&["named", "unbound", "dig", "tcpdump", "ip", "python3"]) {
        return;
    }
    let dir = rerun("samples/make-rotation-sample.sh");
    // Which member Unbound caches first depends on where BIND's rotation stood; findings name
    // no member in their subject (the statistical ones are one per name and kind), so they
    // compare as they are.
    let committed = findings_of(&sample("rotation.pcap"), ROTATION);
    let fresh = findings_of(&dir.path().join("rotation.pcap"), ROTATION);
    assert_eq!(fresh, committed);
    assert!(committed.iter().any(|f| f.1 == "not_rotating"));
    assert!(committed.iter().any(|f| f.1 == "clients_stuck"));
}

#[test]
fn fresh_evidence_samples_give_the_committed_findings() {
    let _heavy = heavy();
    if !have(&["named", "dig", "tcpdump", "ip"]) {
        return;
    }
    let dir = rerun("samples/make-evidence-samples.sh");
    for name in ["silent-server.pcap", "other-port.pcap", "cname.pcap"] {
        let committed = findings_of(&sample(name), CONTOSO);
        assert_eq!(
            findings_of(&dir.path().join(name), CONTOSO),
            committed,
            "{name}"
        );
    }
}
