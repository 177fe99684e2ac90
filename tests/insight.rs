//! Pool insight end to end. First on the real capture samples/rotation.pcap (BIND rotating,
//! Unbound caching and never rotating, clients connecting to the first address, near misses;
//! see samples/make-rotation-sample.sh). Then on a capture built here frame by frame
//! (etherparse + pcdns's pcap writer), so every number the report gives is known in advance: a
//! rotating and a non-rotating server, clients stuck on one member, near misses, an answer-set
//! change with a cache that keeps serving the old set past its TTL, servers that disagree,
//! clients connecting to members, the timeline, and the HTML report.

use crate::common::{json, pcdns, sample};
use etherparse::PacketBuilder;
use pcdns::capture::{CaptureWriter, WriteFormat};
use serde_json::Value;

const POOL: &str = "PersistentChatPool.contoso.com";
const ROTATING: [u8; 4] = [192, 0, 2, 53];
const FIXED: [u8; 4] = [192, 0, 2, 54];
/// An authoritative server that 192.0.2.53 asks iteratively (RD clear).
const AUTHORITATIVE: [u8; 4] = [192, 0, 2, 1];
/// Marks an exchange as iterative (RD clear) in [`Capture::exchange`]'s rcode.
const ITERATIVE: u8 = 0x80;
const SECOND: u64 = 1_000_000_000;
/// Capture start: 2026-01-01T00:00:00Z.
const START: u64 = 1_767_225_600 * SECOND;

fn member(last: u8) -> [u8; 4] {
    [10, 10, 10, last]
}

/// A DNS message: header (RD set unless `rcode` carries [`ITERATIVE`]), one question (A, IN),
/// then A answers with `ttl`.
fn dns(id: u16, response: bool, rcode: u8, name: &str, ttl: u32, answers: &[[u8; 4]]) -> Vec<u8> {
    let recursion_desired: u16 = if rcode & ITERATIVE == 0 { 0x0100 } else { 0 };
    let rcode = u16::from(rcode & 0x0f);
    let flags = recursion_desired | if response { 0x8480 | rcode } else { 0 };
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    for address in answers {
        m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&[0, 4]);
        m.extend_from_slice(address);
    }
    m
}

fn udp(from: [u8; 4], to: [u8; 4], ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(from, to, 64)
        .udp(ports.0, ports.1)
        .write(&mut frame, payload)
        .expect("build frame");
    frame
}

fn syn(from: [u8; 4], to: [u8; 4], port: u16) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(from, to, 64)
        .tcp(50000, port, 1, 64240)
        .syn()
        .write(&mut frame, &[])
        .expect("build frame");
    frame
}

/// The capture, frame by frame.
struct Capture {
    frames: Vec<(u64, Vec<u8>)>,
    next_id: u16,
}

impl Capture {
    /// A query from `client` to `server` and, 1 ms later, its response with `rcode` and
    /// `answers` (TTL `ttl`).
    fn exchange(
        &mut self,
        at: u64,
        (client, server): ([u8; 4], [u8; 4]),
        name: &str,
        (rcode, ttl): (u8, u32),
        answers: &[[u8; 4]],
    ) {
        self.next_id += 1;
        let (id, port) = (self.next_id, 20000 + self.next_id % 40000);
        let query = dns(id, false, rcode & ITERATIVE, name, 0, &[]);
        let response = dns(id, true, rcode, name, ttl, answers);
        self.frames
            .push((at, udp(client, server, (port, 53), &query)));
        self.frames
            .push((at + 1_000_000, udp(server, client, (53, port), &response)));
    }

    fn write(mut self, path: &std::path::Path) {
        self.frames.sort_by_key(|(ts, _)| *ts);
        let file = std::fs::File::create(path).expect("create capture");
        let mut writer = CaptureWriter::new(file, WriteFormat::Pcap).expect("header");
        for (ts, frame) in &self.frames {
            writer.write_frame(*ts, frame).expect("frame");
        }
        writer.finish().expect("finish");
    }
}

/// Builds the scenario. Members: .1 .2 (and .3 from t = 100 s).
/// - 192.0.2.53 rotates: answers alternate [.1 .2] / [.2 .1] to clients 172.16.1.x; from
///   t = 100 s it serves .1 .2 .3 (the change), rotating through the three orders.
/// - 192.0.2.54 never rotates: always [.1 .2] (TTL 60) to clients 172.16.2.x, also after the
///   change: stale from t = 160 s on, and it disagrees with .53.
/// - Near misses: NXDOMAIN for the devolved name and for the single label.
/// - Connections: each 172.16.1.x client connects to the first address it got; 172.16.9.9
///   connects to .2 without any answer.
fn scenario(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut capture = Capture {
        frames: Vec::new(),
        next_id: 0,
    };
    for round in 0..40u64 {
        let at = START + round * 10 * SECOND;
        let client = [172, 16, 1, (round % 10) as u8 + 1];
        let answer = match (round >= 10, round % 2, round % 3) {
            (true, _, 0) => vec![member(1), member(2), member(3)],
            (true, _, 1) => vec![member(2), member(3), member(1)],
            (true, _, _) => vec![member(3), member(1), member(2)],
            (false, 0, _) => vec![member(1), member(2)],
            (false, _, _) => vec![member(2), member(1)],
        };
        capture.exchange(at, (client, ROTATING), POOL, (0, 60), &answer);
        capture
            .frames
            .push((at + 5_000_000, syn(client, answer[0], 5061)));
        let stuck_client = [172, 16, 2, (round % 4) as u8 + 1];
        let fixed_answer = [member(1), member(2)];
        capture.exchange(
            at + 2 * SECOND,
            (stuck_client, FIXED),
            POOL,
            (0, 60),
            &fixed_answer,
        );
        // Before the change the rotating server is also a resolver: it asks the authoritative
        // server, which never rotates. That upstream view must not count in the rotation, nor
        // make .53 a stub client.
        if round < 10 {
            let upstream = (ROTATING, AUTHORITATIVE);
            let iterative = (ITERATIVE, 60);
            capture.exchange(at + 3 * SECOND, upstream, POOL, iterative, &fixed_answer);
        }
    }
    let devolved = format!("{POOL}.corp.contoso.com");
    let (first_client, second_client) = ([172, 16, 1, 1], [172, 16, 1, 2]);
    capture.exchange(
        START + 3 * SECOND,
        (first_client, ROTATING),
        &devolved,
        (3, 0),
        &[],
    );
    let single_label = "PersistentChatPool";
    capture.exchange(
        START + 4 * SECOND,
        (second_client, ROTATING),
        single_label,
        (3, 0),
        &[],
    );
    capture
        .frames
        .push((START + 7 * SECOND, syn([172, 16, 9, 9], member(2), 5061)));
    let pcap = dir.join("insight.pcap");
    capture.write(&pcap);
    let toml = dir.join("insight.toml");
    std::fs::write(
        &toml,
        format!(
            "authorized_servers = [\"192.0.2.1\", \"192.0.2.53\", \"192.0.2.54\"]\n\n[[pool]]\nname = \"{POOL}\"\nmembers = [\"10.10.10.1\", \"10.10.10.2\", \"10.10.10.3\"]\n"
        ),
    )
    .expect("write expectations");
    (pcap, toml)
}

fn finding<'a>(report: &'a Value, kind: &str, subject: &str) -> Option<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["kind"] == kind && f["subject"] == subject)
}

/// The servers named by the findings of `kind`.
fn servers_of<'a>(report: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a str> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(move |f| f["kind"] == kind)
        .flat_map(|f| f["servers"].as_array().expect("servers"))
        .map(|s| s.as_str().expect("address"))
}

fn run(extra: &[&str]) -> (Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (pcap, toml) = scenario(dir.path());
    let mut args = vec![
        "analyze",
        pcap.to_str().unwrap(),
        "--expect",
        toml.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let output = pcdns(&args);
    assert!(output.status.code().is_some_and(|c| c <= 1), "{output:?}");
    (json(&output), dir)
}

/// The JSON report of samples/NAME.pcap against samples/NAME.toml, with `extra` arguments.
fn sample_report(name: &str, extra: &[&str]) -> Value {
    let (capture, expectations) = (
        sample(&format!("{name}.pcap")),
        sample(&format!("{name}.toml")),
    );
    let mut args = vec!["analyze", capture.to_str().unwrap(), "--expect"];
    args.extend([expectations.to_str().unwrap(), "--format", "json"]);
    args.extend_from_slice(extra);
    json(&pcdns(&args))
}

#[test]
fn real_bind_rotates_and_a_caching_unbound_does_not() {
    let report = sample_report("rotation", &[]);
    let insight = &report["names"][0]["insight"];
    let servers = insight["rotation"]["servers"].as_array().unwrap();
    let server = |address: &str| servers.iter().find(|s| s["server"] == address).unwrap();
    // BIND (cyclic): 12 answers to stub clients, each member first 4 times.
    assert_eq!(
        server("127.0.0.53")["balance"]["first"],
        serde_json::json!([4, 4, 4])
    );
    // 4 answers expected per member: too few for chi-square, so no p-value per server.
    assert_eq!(server("127.0.0.53")["balance"]["p_value"], Value::Null);
    // Unbound: 12 answers, always the same member first (which one depends on BIND's turn).
    let unbound = &server("127.0.0.54");
    let stuck_on = unbound["never_rotates"]
        .as_str()
        .expect("unbound never rotates");
    assert_eq!(unbound["balance"]["answers"], 12);
    let not_rotating = finding(&report, "not_rotating", "").expect("finding");
    assert_eq!(not_rotating["count"], 12);
    assert_eq!(not_rotating["servers"], serde_json::json!(["127.0.0.54"]));
    let stuck = finding(&report, "clients_stuck", "").expect("stuck clients");
    assert!(stuck["message"].as_str().unwrap().contains(stuck_on));
    assert_eq!(
        stuck["clients"],
        serde_json::json!(["127.0.0.24", "127.0.0.25", "127.0.0.26"])
    );
    // Unbound asked BIND once, iteratively: a resolver, not a stub, and not in the rotation.
    assert_eq!(insight["roles"]["resolver_clients"], 1);
    assert_eq!(insight["roles"]["stub_clients"], 6);
    assert_eq!(insight["roles"]["iterative_responses"], 1);
    assert_eq!(insight["rotation"]["overall"]["answers"], 24);
    // Every client connected to the first address it got: connections per member equal its
    // first positions, all at position 0.
    let firsts = insight["rotation"]["overall"]["first"].as_array().unwrap();
    let connections = insight["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 3);
    for (connection, first) in connections.iter().zip(firsts) {
        assert_eq!(&connection["after_answer"], first);
        assert_eq!(connection["by_position"], serde_json::json!([first]));
        assert_eq!(connection["without_answer"], 0);
    }
    // The near misses, with the frames tshark would show.
    let refused =
        finding(&report, "near_miss", "persistentchatpool REFUSED").expect("single label");
    assert_eq!(refused["examples"][0]["frame"], 102);
    let devolved = "persistentchatpool.contoso.com.corp.contoso.com NXDOMAIN";
    assert_eq!(
        finding(&report, "near_miss", devolved).expect("devolution")["examples"][0]["frame"],
        100
    );
}

#[test]
fn real_netmask_ordering_is_recognised_not_called_a_failure() {
    let report = sample_report("netmask", &[]);
    let netmask = &report["names"][0]["insight"]["rotation"]["netmask"];
    assert_eq!(netmask["eligible_answers"], 16);
    assert_eq!(netmask["local_first"], 16);
    assert_eq!(netmask["detected"], true);
    // Every client always got its own site first: without the netmask rule these would be
    // stuck clients and a server that never rotates.
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["netmask_ordering"]);
    let subnets = report["names"][0]["insight"]["rotation"]["subnets"]
        .as_array()
        .unwrap();
    let texts: Vec<&str> = subnets
        .iter()
        .map(|s| s["subnet"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["10.10.10.0/24", "10.10.20.0/24"]);
    assert_eq!(subnets[0]["balance"]["first"], serde_json::json!([8, 0]));
    // With /16 subnets the clients no longer share a subnet with one member only.
    let wide = sample_report("netmask", &["--client-prefix-v4", "16"]);
    assert_eq!(
        wide["names"][0]["insight"]["rotation"]["netmask"]["detected"],
        false
    );
    assert!(finding(&wide, "clients_stuck", "").is_some());
}

#[test]
fn rotation_balance_stuck_clients_and_non_rotating_server() {
    let (report, _dir) = run(&[]);
    let insight = &report["names"][0]["insight"];
    let rotation = &insight["rotation"];
    // .53: 40 answers, first .1 in 5 + 10, .2 in 5 + 10, .3 in 10; .54: 40 answers, always .1.
    let servers = rotation["servers"].as_array().unwrap();
    let fixed = servers
        .iter()
        .find(|s| s["server"] == "192.0.2.54")
        .unwrap();
    assert_eq!(fixed["never_rotates"], "10.10.10.1");
    assert_eq!(fixed["balance"]["first"], serde_json::json!([40, 0, 0]));
    let rotating = servers
        .iter()
        .find(|s| s["server"] == "192.0.2.53")
        .unwrap();
    assert_eq!(rotating["never_rotates"], Value::Null);
    assert_eq!(
        rotating["balance"]["first"],
        serde_json::json!([15, 15, 10])
    );
    assert_eq!(rotation["overall"]["answers"], 80);
    // Chi-square of 55/15/10 against 80/3 each: 45.625 with df 2, p = exp(-45.625/2).
    assert_eq!(rotation["overall"]["chi_square"], 45.625);
    assert_eq!(rotation["overall"]["degrees_of_freedom"], 2);
    let p = rotation["overall"]["p_value"].as_f64().unwrap();
    assert!((p / (-45.625f64 / 2.0).exp() - 1.0).abs() < 1e-9, "{p}");
    assert!(finding(&report, "unbalanced", "").is_some());
    let not_rotating = finding(&report, "not_rotating", "").expect("not rotating");
    assert_eq!(not_rotating["count"], 40);
    assert_eq!(not_rotating["servers"], serde_json::json!(["192.0.2.54"]));
    // The four 172.16.2.x clients only ever got .1 first; the 172.16.1.x ones saw both.
    let stuck = finding(&report, "clients_stuck", "");
    let stuck = stuck.unwrap_or_else(|| panic!("stuck clients: {:#}", report["findings"]));
    assert_eq!(stuck["count"], 4);
    assert_eq!(stuck["clients"][0], "172.16.2.1");
    let subnets = rotation["subnets"].as_array().unwrap();
    let stuck_subnet = subnets
        .iter()
        .find(|s| s["subnet"] == "172.16.2.0/24")
        .unwrap();
    assert_eq!(stuck_subnet["clients"], 4);
    assert_eq!(
        stuck_subnet["balance"]["first"],
        serde_json::json!([40, 0, 0])
    );
    assert_eq!(insight["roles"]["stub_clients"], 14);
    assert_eq!(insight["roles"]["resolver_clients"], 1);
    assert_eq!(insight["roles"]["iterative_responses"], 10);
    assert!(servers.iter().all(|s| s["server"] != "192.0.2.1"));
    assert!(servers_of(&report, "not_rotating").all(|s| s != "192.0.2.1"));
}

#[test]
fn near_misses_changes_stale_answers_and_divergence() {
    let (report, _dir) = run(&[]);
    let devolved = format!("{}.corp.contoso.com NXDOMAIN", POOL.to_ascii_lowercase());
    let near = finding(&report, "near_miss", &devolved).expect("devolved near miss");
    assert_eq!(
        (near["name"].as_str(), near["count"].as_u64()),
        (Some(POOL), Some(1))
    );
    assert!(finding(&report, "near_miss", "persistentchatpool NXDOMAIN").is_some());
    let insight = &report["names"][0]["insight"];
    let change = &insight["changes"][0];
    assert_eq!(change["added"], serde_json::json!(["10.10.10.3"]));
    assert_eq!(change["at"], "2026-01-01T00:01:40.001000Z");
    assert_eq!(change["old_set_ttl_s"], 60);
    // .54 answered [.1 .2] until round 39 (t = 392.001 s): 292 s after the change at 100.001 s.
    assert_eq!(change["old_set_seen_for_s"], 292.0);
    // Stale: .54's answers after 160.001 s, at 162.001 s + 10 s steps up to 392.001 s: 24.
    let stale = finding(&report, "stale_answer", "10.10.10.1, 10.10.10.2").expect("stale");
    assert_eq!(stale["count"], 24);
    assert_eq!(stale["servers"], serde_json::json!(["192.0.2.54"]));
    let divergence = &insight["divergence"][0];
    assert_eq!(
        divergence["servers"],
        serde_json::json!(["192.0.2.53", "192.0.2.54"])
    );
    let divergent = finding(&report, "divergent_servers", "").expect("divergent servers");
    assert_eq!(
        divergent["servers"],
        serde_json::json!(["192.0.2.53", "192.0.2.54"])
    );
    let spans = insight["members"].as_array().unwrap();
    assert_eq!(spans[2]["first_seen"], "2026-01-01T00:01:40.001000Z");
}

#[test]
fn connections_follow_the_first_address_of_the_answer() {
    let (report, _dir) = run(&[]);
    let connections = report["names"][0]["insight"]["connections"]
        .as_array()
        .unwrap();
    let of = |address: &str| {
        connections
            .iter()
            .find(|c| c["address"] == address)
            .unwrap()
    };
    // 40 connections from 172.16.1.x, each to the first address it was given.
    assert_eq!(of("10.10.10.1")["after_answer"], 15);
    assert_eq!(of("10.10.10.1")["by_position"], serde_json::json!([15]));
    assert_eq!(of("10.10.10.2")["after_answer"], 15);
    assert_eq!(of("10.10.10.3")["after_answer"], 10);
    // 172.16.9.9 connected to .2 with no answer; every 172.16.1.x client got .2 first once.
    assert_eq!(of("10.10.10.2")["without_answer"], 1);
    assert_eq!(of("10.10.10.2")["clients"], 11);
    assert_eq!(of("10.10.10.1")["without_answer"], 0);
}

#[test]
fn timeline_buckets_follow_the_requested_interval() {
    let (report, _dir) = run(&["--bucket", "60"]);
    let timeline = &report["names"][0]["insight"]["timeline"];
    assert_eq!(timeline["bucket_seconds"], 60);
    let intervals = timeline["intervals"].as_array().unwrap();
    // 0 .. 392 s: 7 intervals of a minute; 90 pool responses in all (10 of them iterative).
    assert_eq!(intervals.len(), 7);
    let responses: u64 = intervals
        .iter()
        .map(|i| i["responses"].as_u64().unwrap())
        .sum();
    assert_eq!(responses, 90);
    assert_eq!(intervals[0]["start"], "2026-01-01T00:00:00.000000Z");
    // .3 appears from the interval holding t = 100 s on.
    assert_eq!(intervals[0]["present"][2], 0);
    assert_eq!(intervals[1]["present"][2], 2);
    let (auto, _dir) = run(&[]);
    let auto = &auto["names"][0]["insight"]["timeline"];
    // 393 s of traffic under 60 intervals: 10 s buckets.
    assert_eq!(auto["bucket_seconds"], 10);
}

#[test]
fn client_subnet_prefix_is_configurable() {
    let (report, _dir) = run(&["--client-prefix-v4", "16"]);
    let subnets = report["names"][0]["insight"]["rotation"]["subnets"]
        .as_array()
        .unwrap();
    assert_eq!(subnets.len(), 1);
    assert_eq!(subnets[0]["subnet"], "172.16.0.0/16");
    assert_eq!(subnets[0]["clients"], 14);
}

#[test]
fn html_report_is_written_self_contained() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (pcap, toml) = scenario(dir.path());
    let html = dir.path().join("report.html");
    let output = pcdns(&[
        "analyze",
        pcap.to_str().unwrap(),
        "--expect",
        toml.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    // Warnings only: exit 0 under the default --fail-on error.
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let page = std::fs::read_to_string(&html).expect("html written");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no outside resources"
    );
    // One share mark per member, clients x members heatmap cells.
    assert_eq!(page.matches("class=\"mark\"").count(), 3);
    // 15 receivers (14 stub clients and the resolver, labelled as such) x 3 members.
    assert_eq!(page.matches("class=\"cell\"").count(), 15 * 3);
    assert!(page.contains("192.0.2.53 (resolver)"));
}

/// `pcdns analyze samples/CAPTURE --expect samples/stats.toml --fail-on warning --format json`:
/// the exit code and the findings of warning severity.
fn stats_sample(capture: &str) -> (Option<i32>, Vec<Value>) {
    let (capture, expectations) = (sample(capture), sample("stats.toml"));
    let output = pcdns(&[
        "analyze",
        capture.to_str().unwrap(),
        "--expect",
        expectations.to_str().unwrap(),
        "--fail-on",
        "warning",
        "--format",
        "json",
    ]);
    let report = json(&output);
    let warnings = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .cloned()
        .collect();
    (output.status.code(), warnings)
}

/// The p-value a statistical finding's message states ("p = 3.5e-18").
fn stated_p(finding: &Value) -> f64 {
    let message = finding["message"].as_str().unwrap();
    let at = message.find("p = ").expect("a p-value") + 4;
    let number: String = message[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || ".e-".contains(*c))
        .collect();
    number.parse().expect("a number")
}

#[test]
fn healthy_bind_and_unbound_pools_raise_no_warning() {
    // Pools of 2 (53 clients, 6 answers each), 4 and 101 members; BIND cyclic and random,
    // Unbound with rrset-roundrobin (samples/make-stats-samples.sh).
    for capture in ["stats-healthy.pcap", "stats-large-pool.pcap"] {
        let (code, warnings) = stats_sample(capture);
        assert_eq!(
            (code, warnings.len()),
            (Some(0), 0),
            "{capture}: {warnings:#?}"
        );
    }
}

#[test]
fn a_bind_in_fixed_order_is_caught_within_30_answers() {
    let (code, warnings) = stats_sample("stats-fixed-order.pcap");
    assert_eq!(code, Some(1));
    let not_rotating = warnings
        .iter()
        .find(|f| f["kind"] == "not_rotating")
        .expect("not rotating");
    assert_eq!(not_rotating["servers"], serde_json::json!(["127.0.0.57"]));
    assert_eq!(not_rotating["count"], 30);
    // 30 answers of 4 addresses, one first in all: 4^-29.
    assert!((stated_p(not_rotating) / 4f64.powi(-29) - 1.0).abs() < 0.05);
    let kinds: Vec<&str> = warnings
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "not_rotating",
            "unbalanced",
            "clients_stuck",
            "member_never_first"
        ],
        "one finding per kind"
    );
}

#[test]
fn clients_behind_a_caching_resolver_without_round_robin_are_stuck() {
    let (code, warnings) = stats_sample("stats-stuck-resolver.pcap");
    assert_eq!(code, Some(1));
    let stuck = warnings
        .iter()
        .find(|f| f["kind"] == "clients_stuck")
        .expect("stuck clients");
    assert_eq!(stuck["count"], 20);
    // 20 clients with 3 answers of 2 addresses each: each stuck with chance 1/4.
    assert!((stated_p(stuck) / 0.25f64.powi(20) - 1.0).abs() < 0.05);
    let not_rotating = warnings.iter().find(|f| f["kind"] == "not_rotating");
    assert_eq!(
        not_rotating.expect("not rotating")["servers"],
        serde_json::json!(["127.0.0.58"])
    );
}
/// `pcdns analyze samples/CAPTURE --expect samples/contoso.toml --format json EXTRA...`, with
/// its exit status.
fn contoso_report(capture: &str, extra: &[&str]) -> (Value, Option<i32>) {
    let capture = sample(capture);
    let expectations = sample("contoso.toml");
    let mut args = vec!["analyze", capture.to_str().unwrap(), "--expect"];
    args.extend([expectations.to_str().unwrap(), "--format", "json"]);
    args.extend_from_slice(extra);
    let output = pcdns(&args);
    (json(&output), output.status.code())
}

#[test]
fn a_real_down_server_is_named_once_its_queries_waited_too_long() {
    // samples/silent-server.pcap (make-evidence-samples.sh): 3 queries from 2 clients to
    // 127.0.0.56, where nothing listens, about 0.6 s before the capture ends; BIND answers
    // the others in under a millisecond.
    let (report, status) = contoso_report("silent-server.pcap", &["--fail-on", "warning"]);
    assert_eq!(
        status,
        Some(0),
        "an info finding does not fail --fail-on warning"
    );
    let silent = finding(&report, "server_silent_at_end", "127.0.0.56").expect("named");
    assert_eq!(silent["severity"], "info");
    assert_eq!(silent["count"], 3);
    assert_eq!(silent["name"], "");
    assert_eq!(silent["servers"], serde_json::json!(["127.0.0.56"]));
    assert_eq!(
        silent["clients"],
        serde_json::json!(["127.0.0.31", "127.0.0.32"])
    );
    assert!(finding(&report, "server_silent_at_end", "127.0.0.53").is_none());
    assert_eq!(report["summary"]["transactions"]["pending_at_end"], 3);
    // Past the query timeout the same queries are unanswered: a warning that fails the run.
    let (report, status) = contoso_report(
        "silent-server.pcap",
        &["--fail-on", "warning", "--query-timeout", "100ms"],
    );
    assert_eq!(status, Some(1));
    let dead = finding(&report, "server_not_answering", "127.0.0.56").expect("named");
    assert_eq!(
        (&dead["severity"], &dead["count"]),
        (&"warning".into(), &3.into())
    );
    assert!(finding(&report, "server_silent_at_end", "127.0.0.56").is_none());
    // Discovery names it too.
    let capture = sample("silent-server.pcap");
    let discovery = json(&pcdns(&[
        "analyze",
        capture.to_str().unwrap(),
        "-f",
        "json",
    ]));
    assert!(finding(&discovery, "server_silent_at_end", "127.0.0.56").is_some());
}

#[test]
fn two_unanswered_queries_from_one_client_name_no_server() {
    // samples/broken.pcap: 127.0.0.55 is down, but only client 127.0.0.12 asked it, twice.
    let (report, _) = contoso_report("broken.pcap", &[]);
    assert!(finding(&report, "unanswered", "127.0.0.55").is_some());
    for kind in ["server_not_answering", "server_silent_at_end"] {
        assert!(finding(&report, kind, "127.0.0.55").is_none(), "{kind}");
    }
}
