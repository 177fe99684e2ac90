//! The transaction log: one JSON object per line (NDJSON) per query/response transaction,
//! with field names a Zeek dns.log user recognises (`ts`, `id.orig_h`, `trans_id`, `rtt`,
//! `query`, `qtype_name`, `rcode_name`, `AA`, `TC`, `RD`, `RA`, `answers`, `TTLs`) plus pcdns's
//! own (`status`, `retries`, frames, `answer_records`, `watched`).

use super::{Ipv4Text, Rfc3339Clock, Rfc3339Text};
use crate::analyze::{FrameRef, Transaction};
use crate::decode::{type_name, Answer, AnswerData, Transport};
use crate::pipeline::{LogRenderer, LogWriter};
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::io::{self, Write};
use std::net::IpAddr;

/// A frame reference: the input as named on the command line and the frame number.
#[derive(Debug, Serialize)]
pub struct LogFrame<'a> {
    /// The input file.
    pub file: &'a str,
    /// Frame number (from 1).
    pub frame: u64,
}

/// An answer's RDATA in presentation form (address, target name, ...), written as it is
/// serialized (no string made for it).
#[derive(Debug)]
pub struct Presentation<'a>(&'a AnswerData);

impl Serialize for Presentation<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            AnswerData::A(v4) => AddressText(IpAddr::V4(*v4)).serialize(serializer),
            AnswerData::Aaaa(v6) => AddressText(IpAddr::V6(*v6)).serialize(serializer),
            AnswerData::Cname(text) | AnswerData::Other(text) => serializer.serialize_str(text),
        }
    }
}

/// An address in its usual text form, IPv4 written without the formatting machinery.
#[derive(Debug)]
pub struct AddressText(IpAddr);

impl Serialize for AddressText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            IpAddr::V4(v4) => Ipv4Text::new(v4).serialize(serializer),
            IpAddr::V6(v6) => serializer.collect_str(&v6),
        }
    }
}

/// One answer record in presentation form.
#[derive(Debug, Serialize)]
pub struct AnswerRecord<'a> {
    /// Owner name.
    pub name: &'a str,
    /// TYPE number.
    #[serde(rename = "type")]
    pub rtype: u16,
    /// TYPE mnemonic.
    pub type_name: Cow<'static, str>,
    /// TTL in seconds.
    pub ttl: u32,
    /// RDATA in presentation form (address, target name, ...).
    pub data: Presentation<'a>,
}

/// The answers' RDATA in order.
#[derive(Debug)]
pub struct Answers<'a>(&'a [Answer]);

impl Serialize for Answers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|a| Presentation(&a.data)))
    }
}

/// The answers' TTLs in order.
#[derive(Debug)]
pub struct Ttls<'a>(&'a [Answer]);

impl Serialize for Ttls<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|a| a.ttl))
    }
}

/// The answer records with names and types.
#[derive(Debug)]
pub struct Records<'a>(&'a [Answer]);

impl Serialize for Records<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|a| AnswerRecord {
            name: &a.name,
            rtype: a.rtype,
            type_name: type_name(a.rtype),
            ttl: a.ttl,
            data: Presentation(&a.data),
        }))
    }
}

/// One log line, borrowing from its transaction.
#[derive(Debug)]
pub struct LogLine<'a> {
    /// Time of the first query (or of the response, without a query), seconds since the epoch.
    pub ts: f64,
    /// Client address.
    pub orig_h: AddressText,
    /// Client port.
    pub orig_p: u16,
    /// DNS server address.
    pub resp_h: AddressText,
    /// DNS server port.
    pub resp_p: u16,
    /// "udp" or "tcp".
    pub proto: Transport,
    /// DNS id.
    pub trans_id: u16,
    /// Seconds from the first query to the response.
    pub rtt: Option<f64>,
    /// Question name as sent.
    pub query: &'a str,
    /// QTYPE number.
    pub qtype: u16,
    /// QTYPE mnemonic.
    pub qtype_name: Cow<'static, str>,
    /// RCODE of the response.
    pub rcode: Option<u8>,
    /// RCODE mnemonic.
    pub rcode_name: Option<Cow<'static, str>>,
    /// Authoritative answer.
    pub aa: bool,
    /// Truncated.
    pub tc: bool,
    /// Recursion desired (from the query when there is one).
    pub rd: bool,
    /// Recursion available.
    pub ra: bool,
    /// Answer section data in order, presentation form.
    pub answers: Answers<'a>,
    /// Answer TTLs in order.
    pub ttls: Ttls<'a>,
    /// answered, unanswered, pending, orphan, duplicate, unpaired or evicted.
    pub status: &'static str,
    /// Query retransmissions.
    pub retries: u32,
    /// The first query (RFC 3339, UTC).
    pub query_ts: Option<Rfc3339Text>,
    /// The response (RFC 3339, UTC).
    pub response_ts: Option<Rfc3339Text>,
    /// Frame of the first query.
    pub query_frame: Option<LogFrame<'a>>,
    /// Frame of the response.
    pub response_frame: Option<LogFrame<'a>>,
    /// Frames of retransmitted queries (the first few).
    pub retry_frames: Vec<LogFrame<'a>>,
    /// Answer records with names and types.
    pub answer_records: Records<'a>,
    /// The answer section was cut (snaplen) or malformed part-way.
    pub answers_incomplete: bool,
    /// Duplicates: the answers differ from the first response's.
    pub answers_differ: bool,
    /// Orphans: within one query timeout of the capture's start.
    pub near_capture_start: bool,
    /// The watched name this counts for.
    pub watched: Option<&'a str>,
    /// EDNS0 UDP payload size advertised by the query.
    pub query_edns_udp_size: Option<u16>,
    /// EDNS0 UDP payload size advertised by the response.
    pub response_edns_udp_size: Option<u16>,
    /// A TCP query retrying a truncated UDP answer: that answer's frame (its log line has TC).
    pub retry_of_truncated: Option<LogFrame<'a>>,
}

impl LogLine<'_> {
    /// Appends the line's JSON object (no newline) to `out`: the keys as literals, each value
    /// through serde_json. Fails only if a value's `Serialize` does (none of the log's does),
    /// leaving part of the object written.
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let mut object = JsonObject::open(out);
        object.field("ts", &self.ts)?;
        object.field("id.orig_h", &self.orig_h)?;
        object.field("id.orig_p", &self.orig_p)?;
        object.field("id.resp_h", &self.resp_h)?;
        object.field("id.resp_p", &self.resp_p)?;
        object.field("proto", &self.proto)?;
        object.field("trans_id", &self.trans_id)?;
        object.field("rtt", &self.rtt)?;
        object.field("query", &self.query)?;
        object.field("qtype", &self.qtype)?;
        object.field("qtype_name", &self.qtype_name)?;
        object.field("rcode", &self.rcode)?;
        object.field("rcode_name", &self.rcode_name)?;
        object.field("AA", &self.aa)?;
        object.field("TC", &self.tc)?;
        object.field("RD", &self.rd)?;
        object.field("RA", &self.ra)?;
        object.field("answers", &self.answers)?;
        object.field("TTLs", &self.ttls)?;
        object.field("status", &self.status)?;
        object.field("retries", &self.retries)?;
        object.field("query_ts", &self.query_ts)?;
        object.field("response_ts", &self.response_ts)?;
        object.field("query_frame", &self.query_frame)?;
        object.field("response_frame", &self.response_frame)?;
        object.field("retry_frames", &self.retry_frames)?;
        object.field("answer_records", &self.answer_records)?;
        object.field("answers_incomplete", &self.answers_incomplete)?;
        object.field("answers_differ", &self.answers_differ)?;
        object.field("near_capture_start", &self.near_capture_start)?;
        object.field("watched", &self.watched)?;
        object.field("query_edns_udp_size", &self.query_edns_udp_size)?;
        object.field("response_edns_udp_size", &self.response_edns_udp_size)?;
        object.field("retry_of_truncated", &self.retry_of_truncated)?;
        object.close();
        Ok(())
    }
}

/// One JSON object written a field at a time: keys are plain ASCII literals (nothing to
/// escape), values are serialized by serde_json, so the bytes are those of a derived
/// `Serialize` with the same fields in the same order.
struct JsonObject<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> JsonObject<'o> {
    fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        JsonObject { out, empty: true }
    }

    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> serde_json::Result<()> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        serde_json::to_writer(&mut *self.out, value)
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// RCODE mnemonic (RFC 6895 §2.3).
pub fn rcode_name(rcode: u8) -> Cow<'static, str> {
    let name = match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        other => return Cow::Owned(format!("RCODE{other}")),
    };
    Cow::Borrowed(name)
}

/// A transaction's time in the logs (`ts`): its first query, or its response when there is
/// no query (ns since the epoch).
pub fn first_ts_ns(transaction: &Transaction) -> u64 {
    transaction
        .query
        .map(|(ts, _)| ts)
        .or(transaction.response.as_ref().map(|r| r.frame.ts_ns))
        .unwrap_or_default()
}

fn seconds(ns: u64) -> f64 {
    // Six decimals, as Zeek writes them.
    (ns as f64 / 1_000.0).round() / 1_000_000.0
}

/// The log line of `transaction`; `file_names` maps file indexes to input names, `clock`
/// writes its times.
pub fn log_line<'a>(
    transaction: &'a Transaction,
    file_names: &'a [String],
    clock: &mut Rfc3339Clock,
) -> LogLine<'a> {
    let frame = |f: FrameRef| LogFrame {
        file: file_names
            .get(usize::from(f.file_index))
            .map_or("", String::as_str),
        frame: f.frame_number,
    };
    let response = transaction.response.as_deref();
    let response_ts = response.map(|r| r.frame.ts_ns);
    let first_ts = first_ts_ns(transaction);
    let answers = response.map(|r| r.answers.as_slice()).unwrap_or_default();
    let flags = response.map(|r| r.flags).unwrap_or_default();
    LogLine {
        ts: seconds(first_ts),
        orig_h: AddressText(transaction.client.ip()),
        orig_p: transaction.client.port(),
        resp_h: AddressText(transaction.server.ip()),
        resp_p: transaction.server.port(),
        proto: transaction.transport,
        trans_id: transaction.id,
        rtt: transaction.rtt_ns.map(seconds),
        query: transaction.qname(),
        qtype: transaction.qtype,
        qtype_name: type_name(transaction.qtype),
        rcode: response.map(|r| r.flags.rcode),
        rcode_name: response.map(|r| rcode_name(r.flags.rcode)),
        aa: flags.authoritative,
        tc: flags.truncated,
        rd: transaction.query_flags.unwrap_or(flags).recursion_desired,
        ra: flags.recursion_available,
        answers: Answers(answers),
        ttls: Ttls(answers),
        status: transaction.status.label(),
        retries: transaction.retries,
        query_ts: transaction.query.map(|(ts, _)| clock.text(ts)),
        response_ts: response_ts.map(|ts| clock.text(ts)),
        query_frame: transaction.query.map(|(_, f)| frame(f)),
        response_frame: response.map(|r| {
            frame(FrameRef {
                file_index: r.frame.file_index,
                frame_number: r.frame.frame_number,
            })
        }),
        retry_frames: transaction.retry_frames.iter().map(|f| frame(*f)).collect(),
        answer_records: Records(answers),
        answers_incomplete: response.is_some_and(|r| !r.answers_complete),
        answers_differ: transaction.answers_differ,
        near_capture_start: transaction.near_capture_start,
        watched: transaction.watched.as_ref().map(|w| &*w.display),
        query_edns_udp_size: transaction.query_edns_udp_size,
        response_edns_udp_size: response.and_then(|r| r.edns_udp_size),
        retry_of_truncated: transaction.retry_of_truncated.map(frame),
    }
}

/// NDJSON lines one lane rendered from one batch: back to back, and where each ends.
#[derive(Debug, Default)]
pub struct NdjsonLines {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// Writes the lines' times (kept across batches).
    clock: Rfc3339Clock,
}

impl NdjsonLines {
    /// Line `index`, its newline included.
    fn line(&self, index: usize) -> &[u8] {
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before]);
        &self.bytes[start..self.ends[index]]
    }
}

/// Renders log lines on the lanes' threads, each serialized straight into its chunk's bytes.
#[derive(Debug)]
pub struct NdjsonRenderer<'n> {
    /// Input names by file index.
    pub file_names: &'n [String],
}

impl LogRenderer for NdjsonRenderer<'_> {
    type Chunk = NdjsonLines;

    fn render(&self, transaction: &Transaction, chunk: &mut NdjsonLines) {
        let start = chunk.bytes.len();
        // Into memory this fails only if a field's Serialize does, and none of these does;
        // were one to, its line would be left out rather than written half.
        let line = log_line(transaction, self.file_names, &mut chunk.clock);
        if line.write_json(&mut chunk.bytes).is_ok() {
            chunk.bytes.push(b'\n');
        } else {
            chunk.bytes.truncate(start);
        }
        chunk.ends.push(chunk.bytes.len());
    }

    fn clear(&self, chunk: &mut NdjsonLines) {
        chunk.bytes.clear();
        chunk.ends.clear();
    }
}

/// Writes rendered lines to `out` in the log's order; keeps the first write error (and writes
/// nothing after it) for the caller to report.
#[derive(Debug)]
pub struct NdjsonWriter<W: Write> {
    /// Where the lines go.
    pub out: W,
    /// The first write error.
    pub error: Option<io::Error>,
}

impl<W: Write> LogWriter<NdjsonLines> for NdjsonWriter<W> {
    fn write(&mut self, chunks: &[&NdjsonLines], order: &[(usize, usize)]) {
        for &(chunk, line) in order {
            if self.error.is_some() {
                return;
            }
            if let Err(e) = self.out.write_all(chunks[chunk].line(line)) {
                self.error = Some(e);
            }
        }
    }
}
