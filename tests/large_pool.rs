//! The large-pool sample (Unbound serving a 120-member Persistent Chat pool on a loopback with
//! MTU 1500, captured with tcpdump): every member must be reported from IP-fragmented UDP
//! answers and from DNS-over-TCP answers split across segments; a truncated answer retried over
//! TCP is linked to its retry, and one never retried is a finding.

use crate::common::*;
use serde_json::Value;

const CAPTURE: &str = "samples/large-pool.pcap";
const EXPECT: &str = "samples/large-pool.toml";
const MEMBERS: usize = 120;

fn report() -> Value {
    let output = pcdns(&["analyze", CAPTURE, "--expect", EXPECT, "--format", "json"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "only a warning is expected: {}",
        stderr(&output)
    );
    json(&output)
}

fn client<'a>(pool: &'a Value, address: &str) -> &'a Value {
    pool["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client"] == address)
        .unwrap_or_else(|| panic!("no client {address}"))
}

#[test]
fn every_member_arrives_over_fragmented_udp_and_over_tcp() {
    let report = report();
    let pool = &report["names"][0];
    let addresses = pool["addresses"].as_array().unwrap();
    assert_eq!(addresses.len(), MEMBERS);
    assert!(
        addresses
            .iter()
            .all(|a| a["role"] == "member" && a["present"] == 5),
        "every member in all 5 full answers"
    );
    assert!(pool["members_never_seen"].as_array().unwrap().is_empty());
    // 127.0.0.11 asked over UDP (answers IP-fragmented), 127.0.0.12 over TCP (split across segments).
    for (address, answers) in [("127.0.0.11", 2), ("127.0.0.12", 2), ("127.0.0.13", 1)] {
        let received = client(pool, address)["addresses"].as_array().unwrap();
        assert_eq!(received.len(), MEMBERS, "{address}");
        assert!(
            received.iter().all(|a| a["present"] == answers),
            "{address}"
        );
    }
    let reassembly = &report["summary"]["reassembly"];
    assert_eq!(reassembly["datagrams_reassembled"], 2);
    assert_eq!(reassembly["tcp_messages"], 6);
    assert_eq!(reassembly["tcp_dropped_bytes"], 0);
    assert_eq!(report["summary"]["transactions"]["answered"], 7);
}

#[test]
fn a_truncated_answer_never_retried_over_tcp_is_a_finding_and_a_retried_one_is_not() {
    let report = report();
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["kind"], "truncated_not_retried");
    assert_eq!(findings[0]["clients"][0], "127.0.0.14");
    let reassembly = &report["summary"]["reassembly"];
    assert_eq!(
        (
            reassembly["truncated_responses"].as_u64(),
            reassembly["truncated_retried_over_tcp"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(report["names"][0]["rcodes"]["TRUNCATED"], 2);
}

#[test]
fn the_log_links_the_tcp_retry_to_the_truncated_answer() {
    let log = stdout(&pcdns(&["log", CAPTURE]));
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let truncated = lines
        .iter()
        .find(|l| l["TC"] == true && l["id.orig_h"] == "127.0.0.13")
        .expect("truncated UDP answer to .13");
    let retry = lines
        .iter()
        .find(|l| l["proto"] == "tcp" && l["id.orig_h"] == "127.0.0.13")
        .expect("TCP retry of .13");
    assert_eq!(retry["retry_of_truncated"], truncated["response_frame"]);
    assert_eq!(retry["answers"].as_array().unwrap().len(), MEMBERS);
    assert_eq!(truncated["query_edns_udp_size"], 1232);
    assert_golden("large-pool-log.ndjson", &log);
}

#[test]
fn large_pool_text_report_matches_golden() {
    let output = pcdns(&["analyze", CAPTURE, "--expect", EXPECT]);
    assert_golden("large-pool.txt", &stdout(&output));
}
