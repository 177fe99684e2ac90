//! Differential test against tshark: for every capture in the shared corpus and in samples/,
//! every DNS response must agree, frame by frame, on the id, rcode, question name and type, and
//! the A/AAAA/CNAME records of the answer section in order. Both tools read DNS on ports 53,
//! 8053 and 1053 (the corpus README's `-d` options). One stated rule leaves mDNS and LLMNR out:
//! only tshark's `dns` protocol is compared (its `mdns` and `llmnr` dissectors own 5353/5355),
//! and pcdns reads only its DNS ports. Every other difference must have a known cause, listed
//! below and printed grouped by cause; anything else fails.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const DNS_PORTS: [u16; 3] = [53, 8053, 1053];

/// What both tools must agree on for one response.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Response {
    id: u16,
    rcode: u8,
    qname: String,
    qtype: u16,
    answers: Vec<(u16, String)>,
}

/// Frame-level facts from tshark that explain known differences.
#[derive(Debug, Default, Clone)]
struct FrameFacts {
    protocols: String,
    ports: Vec<u16>,
    malformed: bool,
    not_query_opcode: bool,
}

/// Known causes of a difference, with the reason printed beside each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cause {
    IcmpQuote,
    UnsupportedLink,
    NotDnsPort,
    NoReadableQuestion,
    NamePresentation,
    IncompleteAnswers,
    NotQueryOpcode,
    Tunnel,
}

impl Cause {
    fn reason(self) -> &'static str {
        match self {
            Cause::IcmpQuote => "a DNS response quoted inside an ICMP error never reached the client; pcdns does not read it",
            Cause::UnsupportedLink => "the link type is not one pcdns decodes (a counted skip that names it)",
            Cause::NotDnsPort => "tshark decodes this frame as DNS although neither port is 53, 8053 or 1053 (fuzzed frames; DNS over TCP port 5353)",
            Cause::NoReadableQuestion => "the question cannot be decoded (malformed or cut): pcdns counts a skip, tshark shows a partial response",
            Cause::IncompleteAnswers => "pcdns stops at the first undecodable record and marks the answers incomplete; tshark reads on",
            Cause::NotQueryOpcode => "pcdns analyses standard queries only (opcode QUERY); NOTIFY, UPDATE and others are counted, not decoded",
            Cause::Tunnel => "DNS inside Geneve/VXLAN tunnels is not decapsulated",
            Cause::NamePresentation => "same name bytes: pcdns writes RFC 1035 presentation form (\\DDD, \\., \".\" for the root), tshark raw bytes and <Root>",
        }
    }
}

fn tshark_decode_args(file: &Path) -> Vec<String> {
    let mut args = vec!["-r".to_string(), file.display().to_string(), "-n".into()];
    for port in &DNS_PORTS[1..] {
        args.extend([
            "-d".into(),
            format!("udp.port=={port},dns"),
            "-d".into(),
            format!("tcp.port=={port},dns"),
        ]);
    }
    args
}

fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn text(value: &Value) -> String {
    as_list(value)
        .first()
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

fn number(value: &Value) -> u64 {
    let text = text(value);
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).unwrap_or(u64::MAX),
        None => text.parse().unwrap_or(u64::MAX),
    }
}

fn tshark_response(dns: &Value) -> Option<Response> {
    if text(&dns["dns.flags_tree"]["dns.flags.response"]) != "1" {
        return None;
    }
    let question = dns["Queries"]
        .as_object()
        .and_then(|q| q.values().next())
        .map(|q| as_list(q)[0].clone());
    let mut answers = Vec::new();
    if let Some(section) = dns["Answers"].as_object() {
        for entry in section.values().flat_map(as_list) {
            let rtype = number(&entry["dns.resp.type"]) as u16;
            let data = match rtype {
                1 => text(&entry["dns.a"]),
                28 => text(&entry["dns.aaaa"]),
                5 => text(&entry["dns.cname"]),
                _ => continue,
            };
            answers.push((rtype, data));
        }
    }
    Some(Response {
        id: number(&dns["dns.id"]) as u16,
        rcode: number(&dns["dns.flags_tree"]["dns.flags.rcode"]) as u8,
        qname: question
            .as_ref()
            .map(|q| text(&q["dns.qry.name"]))
            .unwrap_or_default(),
        qtype: question
            .as_ref()
            .map(|q| number(&q["dns.qry.type"]) as u16)
            .unwrap_or_default(),
        answers,
    })
}

fn tshark(file: &Path) -> (BTreeMap<u64, Vec<Response>>, BTreeMap<u64, FrameFacts>) {
    let mut args = tshark_decode_args(file);
    args.extend(
        [
            "-T",
            "json",
            "--no-duplicate-keys",
            "-J",
            "frame udp tcp dns _ws.malformed",
        ]
        .map(String::from),
    );
    let output = Command::new("tshark")
        .args(&args)
        .output()
        .expect("run tshark");
    let packets: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Array(Vec::new()));
    let mut responses = BTreeMap::new();
    let mut facts = BTreeMap::new();
    for packet in packets.as_array().into_iter().flatten() {
        let layers = &packet["_source"]["layers"];
        let frame = number(&layers["frame"]["frame.number"]);
        let mut ports: Vec<u16> = Vec::new();
        for udp in as_list(&layers["udp"])
            .into_iter()
            .chain(as_list(&layers["tcp"]))
        {
            for key in ["udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport"] {
                if !udp[key].is_null() {
                    ports.push(number(&udp[key]) as u16);
                }
            }
        }
        facts.insert(
            frame,
            FrameFacts {
                protocols: text(&layers["frame"]["frame.protocols"]),
                ports,
                malformed: !layers["_ws.malformed"].is_null(),
                not_query_opcode: as_list(&layers["dns"])
                    .iter()
                    .any(|dns| text(&dns["dns.flags_tree"]["dns.flags.opcode"]) != "0"),
            },
        );
        let found: Vec<Response> = as_list(&layers["dns"])
            .into_iter()
            .filter_map(tshark_response)
            .collect();
        if !found.is_empty() {
            responses.insert(frame, found);
        }
    }
    (responses, facts)
}

/// pcdns's responses per frame, and the frames whose answers pcdns marked incomplete.
fn pcdns_responses(
    file: &Path,
) -> (
    BTreeMap<u64, Vec<Response>>,
    std::collections::BTreeSet<u64>,
) {
    let path = file.to_str().unwrap();
    let output = pcdns(&[
        "log",
        path,
        "--dns-port",
        "8053",
        "--dns-port",
        "1053",
        "--threads",
        "2",
    ]);
    assert!(
        matches!(output.status.code(), Some(0) | Some(2)),
        "{path}: {}",
        stderr(&output)
    );
    let mut responses: BTreeMap<u64, Vec<Response>> = BTreeMap::new();
    let mut incomplete = std::collections::BTreeSet::new();
    for line in stdout(&output).lines() {
        let entry: Value = serde_json::from_str(line).expect("log line is JSON");
        let Some(frame) = entry["response_frame"]["frame"].as_u64() else {
            continue;
        };
        if entry["answers_incomplete"] == true {
            incomplete.insert(frame);
        }
        let answers = entry["answer_records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| matches!(r["type"].as_u64(), Some(1 | 5 | 28)))
            .map(|r| {
                (
                    r["type"].as_u64().unwrap() as u16,
                    r["data"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        responses.entry(frame).or_default().push(Response {
            id: entry["trans_id"].as_u64().unwrap() as u16,
            rcode: entry["rcode"].as_u64().unwrap() as u8,
            qname: entry["query"].as_str().unwrap().to_string(),
            qtype: entry["qtype"].as_u64().unwrap() as u16,
            answers,
        });
    }
    (responses, incomplete)
}

/// True when pcdns's answers are a prefix of tshark's and pcdns said its answers were incomplete.
fn answers_cut_short(theirs: &[Response], ours: &[Response]) -> bool {
    theirs.len() == ours.len()
        && theirs.iter().zip(ours).all(|(t, o)| {
            (t.id, t.rcode, &t.qname, t.qtype) == (o.id, o.rcode, &o.qname, o.qtype)
                && t.answers.starts_with(&o.answers)
        })
}

/// Undoes backslash escapes: `\DDD` in `radix` (pcdns writes decimal as RFC 1035 says, tshark
/// octal) and `\X`; other characters become their bytes, non-ASCII ones a 0x80 marker.
fn unescape(name: &str, radix: u32) -> Vec<u8> {
    let chars: Vec<char> = name.chars().collect();
    let mut bytes = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let digits: String = chars
            .get(index + 1..index + 4)
            .map(|d| d.iter().collect())
            .unwrap_or_default();
        match chars[index] {
            '\\' if digits.len() == 3 && u8::from_str_radix(&digits, radix).is_ok() => {
                bytes.push(u8::from_str_radix(&digits, radix).unwrap_or(b'?'));
                index += 4;
            }
            '\\' if index + 1 < chars.len() && chars[index + 1].is_ascii() => {
                bytes.push(chars[index + 1] as u8);
                index += 2;
            }
            c => {
                bytes.push(if c.is_ascii() { c as u8 } else { 0x80 });
                index += 1;
            }
        }
    }
    bytes
}

/// The ASCII skeleton of a name: every run of bytes above 0x7f (which tshark prints as lossy
/// UTF-8) collapsed to one `?`.
fn skeleton(bytes: &[u8]) -> String {
    let mut text = String::new();
    for &byte in bytes {
        if byte < 0x80 {
            text.push(char::from(byte));
        } else if !text.ends_with('\u{fffd}') {
            text.push('\u{fffd}');
        }
    }
    text
}

/// True when a pcdns name and a tshark name are the same bytes as far as tshark shows them.
fn same_name(pcdns: &str, tshark: &str) -> bool {
    let root = |name: &str| {
        if name == "<Root>" {
            ".".to_string()
        } else {
            name.to_string()
        }
    };
    skeleton(&unescape(&root(pcdns), 10)) == skeleton(&unescape(&root(tshark), 8))
}

/// True when the responses differ only in how names are printed.
fn same_but_for_names(theirs: &[Response], ours: &[Response]) -> bool {
    theirs.len() == ours.len()
        && theirs.iter().zip(ours).all(|(t, o)| {
            (t.id, t.rcode, t.qtype) == (o.id, o.rcode, o.qtype)
                && same_name(&o.qname, &t.qname)
                && t.answers.len() == o.answers.len()
                && t.answers
                    .iter()
                    .zip(&o.answers)
                    .all(|((tt, td), (ot, od))| {
                        tt == ot
                            && if *tt == 5 {
                                same_name(od, td)
                            } else {
                                td == od
                            }
                    })
        })
}

fn cause_of(facts: &FrameFacts, only_in_tshark: bool) -> Option<Cause> {
    let protocols: Vec<&str> = facts.protocols.split(':').collect();
    const DECODED_LINKS: [&str; 8] = ["eth", "sll", "raw", "null", "loop", "nflog", "ip", "ipv6"];
    if !DECODED_LINKS.contains(&protocols[0]) {
        return Some(Cause::UnsupportedLink);
    }
    if protocols.contains(&"icmp") || protocols.contains(&"icmpv6") {
        return Some(Cause::IcmpQuote);
    }
    if protocols.contains(&"vxlan") || protocols.contains(&"geneve") {
        return Some(Cause::Tunnel);
    }
    if only_in_tshark && facts.not_query_opcode {
        return Some(Cause::NotQueryOpcode);
    }
    if !facts.ports.iter().any(|p| DNS_PORTS.contains(p)) {
        return Some(Cause::NotDnsPort);
    }
    if only_in_tshark && facts.malformed {
        return Some(Cause::NoReadableQuestion);
    }
    None
}

fn captures() -> Option<Vec<std::path::PathBuf>> {
    let dir = corpus_dir()?;
    let mut files: Vec<_> = manifest(&dir)
        .into_iter()
        .map(|(path, _)| dir.join(path))
        .collect();
    files.extend(
        [
            "healthy.pcap",
            "broken.pcap",
            "large-pool.pcap",
            "rotation.pcap",
            "netmask.pcap",
        ]
        .map(sample),
    );
    Some(files)
}

#[test]
fn every_response_agrees_with_tshark() {
    let _heavy = heavy();
    if !tool_available("tshark") {
        return missing("tshark");
    }
    let Some(files) = captures() else {
        return missing("the shared corpus (../shared/corpus or PCDNS_CORPUS_DIR)");
    };
    let mut known: BTreeMap<Cause, Vec<String>> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut total_compared = 0;
    for file in &files {
        let name = file
            .strip_prefix(root().join(".."))
            .unwrap_or(file)
            .display()
            .to_string();
        let (theirs, facts) = tshark(file);
        let (ours, incomplete) = pcdns_responses(file);
        let mut compared = 0;
        let frames: std::collections::BTreeSet<u64> =
            theirs.keys().chain(ours.keys()).copied().collect();
        for frame in frames {
            let frame_facts = facts.get(&frame).cloned().unwrap_or_default();
            match (theirs.get(&frame), ours.get(&frame)) {
                (Some(t), Some(o)) if t == o => compared += t.len(),
                (Some(t), Some(o)) if incomplete.contains(&frame) && answers_cut_short(t, o) => {
                    known
                        .entry(Cause::IncompleteAnswers)
                        .or_default()
                        .push(format!("{name} frame {frame}"));
                }
                (Some(t), Some(o)) if same_but_for_names(t, o) => {
                    compared += t.len();
                    known
                        .entry(Cause::NamePresentation)
                        .or_default()
                        .push(format!("{name} frame {frame}"));
                }
                (Some(t), Some(o)) => failures.push(format!(
                    "{name} frame {frame}: tshark {t:?}\n    pcdns  {o:?}"
                )),
                (Some(t), None) if t.iter().all(|r| r.qname.is_empty() && r.qtype == 0) => known
                    .entry(Cause::NoReadableQuestion)
                    .or_default()
                    .push(format!("{name} frame {frame} (no question)")),
                (Some(t), None) => match cause_of(&frame_facts, true) {
                    Some(cause) => known
                        .entry(cause)
                        .or_default()
                        .push(format!("{name} frame {frame} ({} responses)", t.len())),
                    None => {
                        failures.push(format!("{name} frame {frame}: only tshark decodes {t:?}"))
                    }
                },
                (None, Some(o)) => match cause_of(&frame_facts, false) {
                    Some(cause) => known
                        .entry(cause)
                        .or_default()
                        .push(format!("{name} frame {frame} (pcdns only)")),
                    None => {
                        failures.push(format!("{name} frame {frame}: only pcdns decodes {o:?}"))
                    }
                },
                (None, None) => {}
            }
        }
        let explained: usize = known
            .values()
            .flatten()
            .filter(|d| d.starts_with(&format!("{name} frame")))
            .count();
        println!("{name}: compared {compared} responses, {explained} known differences");
        if !theirs.is_empty() && compared == 0 && explained == 0 {
            failures.push(format!(
                "{name}: tshark has responses but none were compared"
            ));
        }
        total_compared += compared;
    }
    println!(
        "\ncompared {total_compared} responses in {} files; known differences by cause:",
        files.len()
    );
    for (cause, differences) in &known {
        println!("- {cause:?} ({}): {}", differences.len(), cause.reason());
        for difference in differences {
            println!("    {difference}");
        }
    }
    assert!(
        total_compared > 800,
        "only {total_compared} responses compared"
    );
    assert!(
        failures.is_empty(),
        "{} differences without a known cause:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
