//! Reruns samples/make-samples.sh (real BIND 9 and dig in a network namespace the script
//! creates, captured with tcpdump) and checks that the fresh captures give the same findings as
//! the committed ones. Needs root, bind9, dnsutils, tcpdump and iproute2.

mod common;
use common::*;
use serde_json::Value;

/// (severity, kind, name, subject, count) of every finding: what must not change on a rerun.
fn findings_of(capture: &str) -> Vec<(String, String, String, String, u64)> {
    let report = json(&pcdns(&[
        "analyze",
        capture,
        "--expect",
        "samples/contoso.toml",
        "--format",
        "json",
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

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn fresh_samples_from_real_dns_software_give_the_committed_findings() {
    for tool in ["named", "dig", "tcpdump", "ip"] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return missing(tool);
        }
    }
    if !is_root() {
        return missing("root (network namespaces and capture)");
    }
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("bash")
        .arg(root().join("samples/make-samples.sh"))
        .arg(dir.path())
        .status()
        .expect("run make-samples.sh");
    assert!(status.success(), "make-samples.sh failed");
    for sample in ["healthy.pcap", "broken.pcap"] {
        let fresh = dir.path().join(sample);
        let committed = findings_of(&format!("samples/{sample}"));
        assert_eq!(findings_of(fresh.to_str().unwrap()), committed, "{sample}");
        if sample == "broken.pcap" {
            assert!(committed
                .iter()
                .any(|f| f.1 == "wrong_address" && f.3 == "10.10.10.3"));
        }
    }
}
