//! DNS edge cases, each with a correct decode or a named skip: compression loops and forward
//! pointers, labels over 63 bytes, names over 255 bytes, counts larger than the message,
//! responses with no question, unknown record types, EDNS options, mixed A/AAAA answers.

use pcdns::capture::FrameMeta;
use pcdns::decode::{decode_frame, AnswerData, DecodeConfig, Decoded, Layer, Skip, WatchList};

/// A raw-IPv4 frame (link type 101) from 192.0.2.53:53 to 192.0.2.10:40000 carrying `dns`.
fn frame(dns: &[u8]) -> Vec<u8> {
    crate::common::udp_packet(([192, 0, 2, 53], 53), ([192, 0, 2, 10], 40_000), dns)
}

fn decode(dns: &[u8]) -> Result<Decoded, Skip> {
    let bytes = frame(dns);
    let meta = FrameMeta {
        ts_ns: 1,
        file_index: 0,
        frame_number: 1,
        link_type: 101,
        start: 0,
        caplen: bytes.len() as u32,
        wire_len: bytes.len() as u32,
    };
    decode_frame(
        &meta,
        &bytes,
        &DecodeConfig {
            dns_ports: vec![53],
            watch: WatchList::everything(),
            connection_targets: Vec::new(),
        },
    )
    .result
}

fn header(qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    let mut dns = vec![0x12, 0x34, 0x81, 0x80];
    for count in [qd, an, ns, ar] {
        dns.extend_from_slice(&count.to_be_bytes());
    }
    dns
}

fn name(labels: &[&[u8]]) -> Vec<u8> {
    let mut wire = Vec::new();
    for label in labels {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
    }
    wire.push(0);
    wire
}

fn record(rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let mut rr = vec![0xc0, 0x0c];
    rr.extend_from_slice(&rtype.to_be_bytes());
    rr.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
    rr.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    rr.extend_from_slice(rdata);
    rr
}

fn question(qtype: u16) -> Vec<u8> {
    let mut q = name(&[b"chat", b"contoso", b"com"]);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

fn watched(decoded: Result<Decoded, Skip>) -> Box<pcdns::decode::DnsMessage> {
    match decoded {
        Ok(Decoded::Watched(message)) => message,
        other => panic!("not decoded: {other:?}"),
    }
}

fn malformed(decoded: Result<Decoded, Skip>) -> bool {
    matches!(
        decoded,
        Ok(Decoded::Undecodable {
            why: Skip::Malformed(Layer::Dns),
            ..
        })
    )
}

#[test]
fn compression_loop_in_the_question_is_a_malformed_skip() {
    let mut dns = header(1, 0, 0, 0);
    dns.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
    assert!(malformed(decode(&dns)));
}

#[test]
fn forward_pointer_is_refused_and_counts_as_incomplete_answers() {
    let mut dns = header(1, 1, 0, 0);
    dns.extend(question(1));
    // A CNAME whose target points forward, past itself, into the rest of the message.
    let forward = (dns.len() + 12 + 2) as u16;
    let mut rdata = (0xc000u16 | forward).to_be_bytes().to_vec();
    rdata.extend(name(&[b"x"]));
    dns.extend(record(5, &rdata));
    let message = watched(decode(&dns));
    // hickory-proto refuses pointers that do not point backwards (RFC 1035 §4.1.4 "prior occurrence").
    assert!(
        message.answers.is_empty() && !message.answers_complete,
        "{message:?}"
    );
}

#[test]
fn label_over_63_bytes_is_malformed() {
    let mut dns = header(1, 0, 0, 0);
    let mut q = vec![64];
    q.extend_from_slice(&[b'a'; 64]);
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    dns.extend(q);
    assert!(malformed(decode(&dns)));
}

#[test]
fn name_over_255_bytes_is_malformed() {
    let mut dns = header(1, 0, 0, 0);
    let long: Vec<&[u8]> = vec![&[b'a'; 63][..]; 5];
    dns.extend(name(&long));
    dns.extend_from_slice(&[0, 1, 0, 1]);
    assert!(malformed(decode(&dns)));
}

#[test]
fn answer_count_larger_than_the_message_keeps_what_is_there() {
    let mut dns = header(1, 5, 0, 0);
    dns.extend(question(1));
    dns.extend(record(1, &[10, 10, 10, 1]));
    let message = watched(decode(&dns));
    assert_eq!(message.answers.len(), 1);
    assert!(!message.answers_complete);
}

#[test]
fn response_without_a_question_is_counted_not_analysed() {
    let mut dns = header(0, 1, 0, 0);
    dns.extend(name(&[b"chat", b"contoso", b"com"]));
    dns.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
    assert!(matches!(
        decode(&dns),
        Ok(Decoded::Unwatched { is_response: true })
    ));
}

#[test]
fn unknown_record_type_is_kept_in_presentation_form() {
    let mut dns = header(1, 1, 0, 0);
    dns.extend(question(65280));
    dns.extend(record(65280, &[0xde, 0xad]));
    let message = watched(decode(&dns));
    assert_eq!(message.answers[0].rtype, 65280);
    assert!(
        matches!(&message.answers[0].data, AnswerData::Other(text) if !text.is_empty()),
        "{:?}",
        message.answers[0].data
    );
}

#[test]
fn edns_options_are_skipped_and_the_udp_size_recorded() {
    let mut dns = header(1, 1, 0, 1);
    dns.extend(question(1));
    dns.extend(record(1, &[10, 10, 10, 1]));
    // OPT: root owner, type 41, class = UDP size 4096, TTL 0, an ECS option and a cookie.
    dns.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0]);
    let options = [
        &[0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2][..],
        &[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8][..],
    ]
    .concat();
    dns.extend_from_slice(&(options.len() as u16).to_be_bytes());
    dns.extend(options);
    let message = watched(decode(&dns));
    assert_eq!(message.edns_udp_size, Some(4096));
    assert!(message.answers_complete);
}

#[test]
fn mixed_a_and_aaaa_answers_keep_their_order() {
    let mut dns = header(1, 3, 0, 0);
    dns.extend(question(255));
    dns.extend(record(1, &[10, 10, 10, 1]));
    dns.extend(record(
        28,
        &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    ));
    dns.extend(record(1, &[10, 10, 10, 2]));
    let message = watched(decode(&dns));
    let addresses: Vec<String> = message
        .answers
        .iter()
        .filter_map(|a| a.data.address())
        .map(|a| a.to_string())
        .collect();
    assert_eq!(addresses, ["10.10.10.1", "2001:db8::1", "10.10.10.2"]);
}

/// Regression (found by fuzzing): an OPT record in the answer section.
#[test]
fn opt_record_in_the_answer_section_does_not_panic() {
    let mut dns = header(1, 1, 0, 0);
    dns.extend(name(&[b"pool", b"contoso", b"com"]));
    dns.extend_from_slice(&[0, 1, 0, 1]);
    dns.extend_from_slice(&[0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0]);
    let _ = decode(&dns);
}
