//! `pcdns merge` across file cuts: one capture cut into pieces, each analysed alone, merges
//! to the report of analysing the pieces together (`pcdns analyze A B`), with transactions
//! that straddle the cuts: an answer, a retransmission, an answer after the timeout, a query
//! never answered, a second (differing) copy of an answer.

use crate::common::*;
use pcdns::capture::{CaptureWriter, WriteFormat};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Capture time of the first frame (ns).
const T0: u64 = 1_700_000_000_000_000_000;
/// The query timeout the tests analyse with.
const TIMEOUT: &str = "2s";
const SERVER: [u8; 4] = [127, 0, 0, 53];
const POOL: &[&[u8]] = &[b"PersistentChatPool", b"contoso", b"com"];

/// One frame of the capture: when (ms after [`T0`]) and the raw IPv4 packet.
struct Frame {
    at_ms: u64,
    packet: Vec<u8>,
}

/// A raw IPv4/TCP segment from `source` to `destination`: `flags`, sequence number `seq`,
/// carrying `payload`.
fn tcp(
    source: ([u8; 4], u16),
    destination: ([u8; 4], u16),
    flags: u8,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut segment = source.1.to_be_bytes().to_vec();
    segment.extend_from_slice(&destination.1.to_be_bytes());
    segment.extend_from_slice(&seq.to_be_bytes());
    segment.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    segment.extend_from_slice(payload);
    ipv4_packet(6, source.0, destination.0, &segment)
}

/// A DNS message over TCP: its length, then the message.
fn framed(dns: &[u8]) -> Vec<u8> {
    [&(dns.len() as u16).to_be_bytes()[..], dns].concat()
}

/// Client 10's lookup: over UDP, answered truncated (TC) at `at_ms`, and, from `retry_ms`
/// on, again over TCP (handshake, query, answer).
fn truncated_then_tcp(at_ms: u64, retry_ms: u64) -> (Vec<Frame>, Vec<Frame>) {
    let (udp_client, tcp_client) = (client(10), ([192, 0, 2, 10], 50_000));
    let server = (SERVER, 53);
    let mut truncated = dns(10, true, &[]);
    truncated[2] |= 0x02;
    let udp_side = vec![
        Frame {
            at_ms: at_ms - 10,
            packet: udp_packet(udp_client, server, &dns(10, false, &[])),
        },
        Frame {
            at_ms,
            packet: udp_packet(server, udp_client, &truncated),
        },
    ];
    let (syn, ack, psh) = (0x02, 0x10, 0x08);
    let tcp_side = vec![
        Frame {
            at_ms: retry_ms,
            packet: tcp(tcp_client, server, syn, 1_000, &[]),
        },
        Frame {
            at_ms: retry_ms + 1,
            packet: tcp(server, tcp_client, syn | ack, 5_000, &[]),
        },
        Frame {
            at_ms: retry_ms + 10,
            packet: tcp(
                tcp_client,
                server,
                psh | ack,
                1_001,
                &framed(&dns(11, false, &[])),
            ),
        },
        Frame {
            at_ms: retry_ms + 20,
            packet: tcp(
                server,
                tcp_client,
                psh | ack,
                5_001,
                &framed(&dns(11, true, MEMBERS)),
            ),
        },
    ];
    (udp_side, tcp_side)
}

/// A DNS message for the pool (A record): a query, or a response with `answers`.
fn dns(id: u16, response: bool, answers: &[[u8; 4]]) -> Vec<u8> {
    let flags: [u8; 2] = if response { [0x81, 0x80] } else { [0x01, 0x00] };
    let mut wire = id.to_be_bytes().to_vec();
    wire.extend_from_slice(&flags);
    for count in [1, answers.len() as u16, 0, 0] {
        wire.extend_from_slice(&count.to_be_bytes());
    }
    for label in POOL {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
    }
    wire.extend_from_slice(&[0, 0, 1, 0, 1]);
    for address in answers {
        wire.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        wire.extend_from_slice(address);
    }
    wire
}

/// Client `n` (192.0.2.n, port 40000 + n).
fn client(n: u8) -> ([u8; 4], u16) {
    ([192, 0, 2, n], 40_000 + u16::from(n))
}

fn query(at_ms: u64, n: u8, id: u16) -> Frame {
    let packet = udp_packet(client(n), (SERVER, 53), &dns(id, false, &[]));
    Frame { at_ms, packet }
}

fn answer(at_ms: u64, n: u8, id: u16, members: &[[u8; 4]]) -> Frame {
    let packet = udp_packet((SERVER, 53), client(n), &dns(id, true, members));
    Frame { at_ms, packet }
}

const MEMBERS: &[[u8; 4]] = &[[10, 10, 10, 1], [10, 10, 10, 2]];

/// The capture, in time order, with the indexes of the frames where the tests cut it (a
/// piece starts at each). With a 2 s timeout:
/// - client 1 asks and is answered within the first piece;
/// - client 2 is never answered (unanswered within the first piece);
/// - client 3's answer opens the second piece;
/// - client 4 retransmits in the second piece and is answered there;
/// - client 5's answer comes after the timeout (unanswered; the answer unsolicited);
/// - client 6 is never answered (pending at the first cut, unanswered in all);
/// - client 7 is answered before the cut, and a differing copy of the answer follows it;
/// - client 10 is answered truncated before the cut and retries over TCP after it;
/// - clients 8 and 9 ask and are answered well after the cuts (9 stays pending at the end).
fn capture() -> (Vec<Frame>, [usize; 2]) {
    let (udp_side, tcp_side) = truncated_then_tcp(3_530, 3_740);
    let mut frames = vec![
        query(0, 1, 1),
        answer(100, 1, 1, MEMBERS),
        query(500, 2, 2),
        query(3_000, 3, 3),
        query(3_200, 4, 4),
        query(3_400, 5, 5),
        query(3_450, 6, 6),
        query(3_500, 7, 7),
    ];
    frames.extend(udp_side);
    frames.push(answer(3_550, 7, 7, MEMBERS));
    // First cut (frame 11).
    frames.push(answer(3_700, 3, 3, MEMBERS));
    frames.extend(tcp_side);
    frames.extend([
        query(3_800, 4, 4),
        answer(3_900, 7, 7, &[[10, 10, 10, 9]]),
        // Second cut (frame 18).
        answer(4_000, 4, 4, MEMBERS),
        answer(6_000, 5, 5, MEMBERS),
        query(8_000, 8, 8),
        answer(8_100, 8, 8, MEMBERS),
        query(9_000, 9, 9),
    ]);
    (frames, [11, 18])
}

/// Writes `frames` as a pcapng file at `path`.
fn write(path: &Path, frames: &[Frame]) {
    let out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut writer = CaptureWriter::with_link_type(out, WriteFormat::Pcapng, 101).expect("header");
    for frame in frames {
        writer
            .write_frame(T0 + frame.at_ms * 1_000_000, &frame.packet)
            .expect("frame");
    }
    writer.finish().expect("flush");
}

/// The capture cut at `cuts` (frame indexes), one file per piece in `dir`.
fn pieces(dir: &Path, cuts: &[usize]) -> Vec<String> {
    let (frames, _) = capture();
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(frames.len());
    bounds
        .windows(2)
        .enumerate()
        .map(|(index, range)| {
            let path: PathBuf = dir.join(format!("piece{index}.pcapng"));
            write(&path, &frames[range[0]..range[1]]);
            path.display().to_string()
        })
        .collect()
}

/// `pcdns analyze FILES` with the tests' settings (`extra`: expectations or not, format).
fn analyze(files: &[String], extra: &[&str]) -> std::process::Output {
    let mut args = vec!["analyze", "--exact-merge", "--query-timeout", TIMEOUT];
    args.extend(files.iter().map(String::as_str));
    args.extend_from_slice(extra);
    pcdns(&args)
}

/// The JSON report of each file alone, written next to it.
fn reports(files: &[String], extra: &[&str]) -> Vec<String> {
    files
        .iter()
        .map(|file| {
            let output = analyze(
                std::slice::from_ref(file),
                &[extra, &["-f", "json"]].concat(),
            );
            let path = format!("{file}.json");
            std::fs::write(&path, &output.stdout).expect("write report");
            path
        })
        .collect()
}

/// `pcdns merge REPORTS` (`extra`: format).
fn merge(reports: &[String], extra: &[&str]) -> std::process::Output {
    let mut args = vec!["merge"];
    args.extend(reports.iter().map(String::as_str));
    args.extend_from_slice(extra);
    pcdns(&args)
}

/// A JSON report without what legitimately differs between one run over the pieces and a
/// merge of their reports: pairing's peak memory (one run holds one state at a time, a merge
/// adds the pieces' peaks up).
fn comparable(mut report: Value) -> Value {
    report["summary"]["transactions"]["peak_bytes"] = Value::Null;
    report["state"]["analysis"]["traffic"]["pairing"]["peak_bytes"] = Value::Null;
    report
}

/// Merging the reports of the pieces cut at `cuts` equals analysing the pieces together, as
/// JSON (state included) and as text; returns the JSON report.
fn assert_merge_equals_analysis(cuts: &[usize], extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let files = pieces(dir.path(), cuts);
    let reports = reports(&files, extra);
    let together = analyze(&files, &[extra, &["-f", "json"]].concat());
    let merged = merge(&reports, &["-f", "json"]);
    assert_eq!(
        merged.status.code(),
        together.status.code(),
        "{}",
        stderr(&merged)
    );
    let together = comparable(json(&together));
    let merged = comparable(json(&merged));
    let differences = differences("", &together, &merged);
    assert!(
        differences.is_empty(),
        "cuts {cuts:?}:\n{}",
        differences.join("\n")
    );
    let text = |output: std::process::Output| {
        stdout(&output)
            .lines()
            .filter(|line| !line.contains("peak"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(text(merge(&reports, &[])), text(analyze(&files, extra)));
    together
}

/// Where `actual` differs from `expected`: JSON paths with both values (the first few).
fn differences(path: &str, expected: &Value, actual: &Value) -> Vec<String> {
    let mut found = match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let keys: std::collections::BTreeSet<&String> = e.keys().chain(a.keys()).collect();
            keys.into_iter()
                .flat_map(|key| {
                    let missing = Value::Null;
                    let (e, a) = (
                        e.get(key).unwrap_or(&missing),
                        a.get(key).unwrap_or(&missing),
                    );
                    differences(&format!("{path}/{key}"), e, a)
                })
                .collect()
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => e
            .iter()
            .zip(a)
            .enumerate()
            .flat_map(|(index, (e, a))| differences(&format!("{path}/{index}"), e, a))
            .collect(),
        _ if expected == actual => Vec::new(),
        _ => vec![format!("{path}: analyze {expected}\n    merge {actual}")],
    };
    found.truncate(8);
    found
}

const EXPECT: &[&str] = &["-e", "samples/contoso.toml"];

#[test]
fn an_answer_a_retry_and_a_copy_straddling_a_cut_merge_as_one_analysis() {
    let (_, [cut, _]) = capture();
    let report = assert_merge_equals_analysis(&[cut], EXPECT);
    let transactions = &report["summary"]["transactions"];
    // Clients 1, 3, 4, 7, 8 and 10 (over UDP, truncated, and TCP) answered; 2, 5 and 6
    // unanswered; 9 pending; the late answer to 5 an orphan; the copy to 7 a duplicate; 4's
    // retransmission one retry; 10's truncated answer retried over TCP.
    assert_eq!(transactions["answered"], 7, "{transactions}");
    assert_eq!(transactions["unanswered"], 3, "{transactions}");
    assert_eq!(transactions["pending_at_end"], 1, "{transactions}");
    assert_eq!(transactions["orphan_responses"], 1, "{transactions}");
    assert_eq!(transactions["duplicate_responses"], 1, "{transactions}");
    assert_eq!(transactions["retries"], 1, "{transactions}");
    let reassembly = &report["summary"]["reassembly"];
    assert_eq!(reassembly["tcp_messages"], 2, "{reassembly}");
    assert_eq!(reassembly["truncated_retried_over_tcp"], 1, "{reassembly}");
    assert_eq!(reassembly["truncated_pending_at_end"], 0, "{reassembly}");
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|finding| finding["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"conflicting_answers"), "{kinds:?}");
    assert!(kinds.contains(&"unsolicited_response"), "{kinds:?}");
}

#[test]
fn three_pieces_one_shorter_than_the_timeout_merge_as_one_analysis() {
    let (_, cuts) = capture();
    assert_merge_equals_analysis(&cuts, EXPECT);
    assert_merge_equals_analysis(&[3, 11, 16, 19], EXPECT);
}

#[test]
fn discovery_reports_merge_across_cuts_as_one_analysis() {
    let (_, cuts) = capture();
    assert_merge_equals_analysis(&cuts, &[]);
}

#[test]
fn a_merged_report_merges_again_as_one_analysis() {
    let (_, [first, second]) = capture();
    let dir = tempfile::tempdir().unwrap();
    let files = pieces(dir.path(), &[first, second]);
    let reports = reports(&files, EXPECT);
    let head = dir.path().join("head.json").display().to_string();
    std::fs::write(&head, merge(&reports[..2], &["-f", "json"]).stdout).unwrap();
    let again = merge(&[head, reports[2].clone()], &["-f", "json"]);
    let together = analyze(&files, &[EXPECT, &["-f", "json"]].concat());
    let differences = differences("", &comparable(json(&together)), &comparable(json(&again)));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Asserts that the pairing counters of `merged` are those of `alone` added up (nothing was
/// paired across the reports).
fn assert_counters_add_up(merged: &Value, alone: &[Value]) {
    let count = |report: &Value, field: &str| {
        report["summary"]["transactions"][field]
            .as_u64()
            .expect(field)
    };
    for field in [
        "answered",
        "unanswered",
        "pending_at_end",
        "orphan_responses",
        "retries",
    ] {
        let sum: u64 = alone.iter().map(|report| count(report, field)).sum();
        assert_eq!(count(merged, field), sum, "{field}");
    }
}

/// The capture cut at its first cut: the two pieces' report files, and each report alone.
fn two_reports(dir: &Path) -> (Vec<String>, Vec<Value>) {
    let (_, [cut, _]) = capture();
    let files = pieces(dir, &[cut]);
    let reports = reports(&files, EXPECT);
    let alone = reports
        .iter()
        .map(|report| json(&merge(std::slice::from_ref(report), &["-f", "json"])))
        .collect();
    (reports, alone)
}

#[test]
fn reports_given_out_of_time_order_pair_nothing_across_them() {
    // The second report starts before the first ends (as sensors at two sites would): each
    // keeps its pending queries and early answers as it counted them.
    let dir = tempfile::tempdir().unwrap();
    let (reports, alone) = two_reports(dir.path());
    let reversed = json(&merge(
        &[reports[1].clone(), reports[0].clone()],
        &["-f", "json"],
    ));
    assert_counters_add_up(&reversed, &alone);
    // The answer to client 3 opens the second piece: in reverse order it stays an orphan.
    assert_eq!(reversed["summary"]["transactions"]["orphan_responses"], 3);
}

#[test]
fn a_report_without_a_seam_merges_as_it_is() {
    // A report of an older pcdns (or of `monitor`) carries no seam: nothing is paired with it.
    // One is made by removing the seam from a report (its pairing counters stay whole).
    let dir = tempfile::tempdir().unwrap();
    let (reports, alone) = two_reports(dir.path());
    let mut old: Value =
        serde_json::from_str(&std::fs::read_to_string(&reports[1]).unwrap()).unwrap();
    let analysis = old["state"]["analysis"].as_object_mut().unwrap();
    analysis.remove("seam").expect("a seam");
    std::fs::write(&reports[1], serde_json::to_string(&old).unwrap()).unwrap();
    let merged = json(&merge(&reports, &["-f", "json"]));
    assert_counters_add_up(&merged, &alone);
}
