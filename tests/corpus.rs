//! Every capture in the shared corpus (../shared/corpus, or PCDNS_CORPUS_DIR): analysed without
//! a panic, the number of DNS responses checked against the manifest's `dns_responses` (which
//! tshark counted), every exception listed with its reason, and a one-thread run compared byte
//! for byte with a multi-thread run.

use crate::common::*;

const TCP_5353: &str = "DNS over TCP on port 5353, which tshark decodes as DNS; pcdns reads the DNS ports only (53, 8053, 1053 here)";
const MDNS: &str = "mDNS (5353) and LLMNR (5355) are not unicast DNS: pcdns reads DNS ports only";
const ICMP: &str = "a DNS response quoted inside an ICMP error never reached the client";
const LINK: &str =
    "FDDI (LINKTYPE 10) is not a link type pcdns decodes: a counted skip that names it";
const TUNNEL: &str = "DNS inside Geneve/VXLAN tunnels is not decapsulated";
const FUZZ_PORTS: &str =
    "fuzzed frames on non-DNS UDP ports (9587->156, 117->2769) that tshark still decodes as DNS";

/// Files where pcdns counts a different number of responses than the manifest, with the count
/// pcdns gives and why.
const EXCEPTIONS: &[(&str, u64, &str)] = &[
    ("nDPI/KakaoTalk_chat.pcap", 18, ICMP),
    ("nDPI/fuzz-2006-06-26-2594.pcap", 47, FUZZ_PORTS),
    ("nDPI/iphone.pcap", 19, MDNS),
    ("suricata-verify/dns-incomplete__input.pcap", 0, TCP_5353),
    (
        "suricata-verify/llmnr-authority-additional__input.pcap",
        0,
        MDNS,
    ),
    ("suricata-verify/llmnr-udp__input.pcap", 0, MDNS),
    ("zeek/dns-inverse-query.pcap", 0, LINK),
    ("zeek/geneve-vxlan-dns-truncated.pcap", 0, TUNNEL),
    ("zeek/mdns.pcap", 0, MDNS),
    ("zeek/wikipedia.pcap", 14, MDNS),
];

/// Files that are themselves cut short: pcdns reports what it read and exits 2.
const TRUNCATED_FILES: &[&str] = &["dpkt/truncated_dns_2.pcap"];

#[test]
fn every_corpus_capture_is_analysed_and_its_responses_agree_with_the_manifest() {
    let Some(dir) = corpus_dir() else {
        return missing("the shared corpus (../shared/corpus or PCDNS_CORPUS_DIR)");
    };
    let rows = manifest(&dir);
    assert!(rows.len() >= 100, "manifest has only {} rows", rows.len());
    let mut failures = Vec::new();
    let mut exceptions_seen = 0;
    for (path, fields) in &rows {
        let file = dir.join(path);
        let file = file.to_str().unwrap();
        let args = [
            "analyze",
            file,
            "--format",
            "json",
            "--dns-port",
            "8053",
            "--dns-port",
            "1053",
        ];
        let one = pcdns(&[&args[..], &["--threads", "1"]].concat());
        // Two threads: the calling thread decodes or walks beside one reader or walker.
        let two = pcdns(&[&args[..], &["--threads", "2"]].concat());
        let three = pcdns(&[&args[..], &["--threads", "3"]].concat());
        let expected_code = if TRUNCATED_FILES.contains(&path.as_str()) {
            2
        } else {
            0
        };
        if one.status.code() != Some(expected_code) {
            failures.push(format!(
                "{path}: exit {:?}, expected {expected_code}: {}",
                one.status.code(),
                stderr(&one)
            ));
            continue;
        }
        for (threads, run) in [("2", &two), ("3", &three)] {
            if one.stdout != run.stdout {
                failures.push(format!(
                    "{path}: --threads 1 and --threads {threads} reports differ"
                ));
            }
        }
        let report = json(&one);
        let ours = report["summary"]["responses"].as_u64().unwrap();
        let manifest_count: u64 = fields["dns_responses"].parse().unwrap();
        let packets: u64 = fields["packets"].parse().unwrap();
        if report["summary"]["packets"].as_u64() != Some(packets) {
            failures.push(format!(
                "{path}: read {} packets, manifest says {packets}",
                report["summary"]["packets"]
            ));
        }
        let expected = match EXCEPTIONS.iter().find(|(p, _, _)| p == path) {
            Some((_, count, reason)) => {
                exceptions_seen += 1;
                println!(
                    "{path}: {ours} responses (manifest {manifest_count}): exception: {reason}"
                );
                *count
            }
            None => manifest_count,
        };
        if ours != expected {
            failures.push(format!(
                "{path}: {ours} responses, expected {expected} (manifest {manifest_count})"
            ));
        }
    }
    assert_eq!(
        exceptions_seen,
        EXCEPTIONS.len(),
        "an exception names a file that is not in the manifest"
    );
    assert!(
        failures.is_empty(),
        "{} corpus files disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
