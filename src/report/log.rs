//! The transaction log: one JSON object per line (NDJSON) per query/response transaction,
//! with field names a Zeek dns.log user recognises (`ts`, `id.orig_h`, `trans_id`, `rtt`,
//! `query`, `qtype_name`, `rcode_name`, `AA`, `TC`, `RD`, `RA`, `answers`, `TTLs`) plus pcdns's
//! own (`status`, `retries`, frames, `answer_records`, `watched`).

use super::json_bytes::{self as json, JsonObject};
use super::Rfc3339Clock;
use crate::analyze::{FrameRef, Transaction};
use crate::decode::{type_name, Answer, AnswerData};
use crate::pipeline::{LogRenderer, LogWriter};
use std::borrow::Cow;
use std::io::{self, IoSlice, Write};

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

/// NDJSON lines one lane rendered from one batch: back to back, and where each ends.
#[derive(Debug, Default)]
pub struct NdjsonLines {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// Writes the lines' times (kept across batches).
    clock: Rfc3339Clock,
}

impl NdjsonLines {
    /// Where line `index` lies in the bytes, its newline included.
    fn range(&self, index: usize) -> std::ops::Range<usize> {
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before]);
        start..self.ends[index]
    }
}

/// Renders log lines on the lanes' threads, each written straight into its chunk's bytes.
#[derive(Debug)]
pub struct NdjsonRenderer {
    /// Per file index, the start of a frame reference: `{"file":"NAME","frame":`.
    frame_starts: Vec<Vec<u8>>,
}

impl NdjsonRenderer {
    /// The renderer of a run over the inputs `file_names` (by file index).
    pub fn new(file_names: &[String]) -> Self {
        let frame_starts = file_names
            .iter()
            .map(|name| {
                let mut start = b"{\"file\":".to_vec();
                start.extend_from_slice(&json::escape(name));
                start.extend_from_slice(b",\"frame\":");
                start
            })
            .collect();
        NdjsonRenderer { frame_starts }
    }

    /// A frame reference: `{"file":...,"frame":N}`.
    fn frame(&self, out: &mut Vec<u8>, frame: FrameRef) {
        match self.frame_starts.get(usize::from(frame.file_index)) {
            Some(start) => out.extend_from_slice(start),
            None => out.extend_from_slice(b"{\"file\":\"\",\"frame\":"),
        }
        json::integer(out, frame.frame_number);
        out.push(b'}');
    }

    /// The line's JSON object (no newline), with the field names of Zeek's dns.log where
    /// there is one.
    fn write_line(&self, transaction: &Transaction, clock: &mut Rfc3339Clock, out: &mut Vec<u8>) {
        let response = transaction.response.as_deref();
        let answers = response.map(|r| r.answers.as_slice()).unwrap_or_default();
        let flags = response.map(|r| r.flags).unwrap_or_default();
        let mut line = JsonObject::open(out);
        json::float(
            line.key(json::key!("ts")),
            seconds(first_ts_ns(transaction)),
        );
        json::address(line.key(json::key!("id.orig_h")), transaction.client.ip());
        json::integer(line.key(json::key!("id.orig_p")), transaction.client.port());
        json::address(line.key(json::key!("id.resp_h")), transaction.server.ip());
        json::integer(line.key(json::key!("id.resp_p")), transaction.server.port());
        json::string(line.key(json::key!("proto")), transaction.transport.label());
        json::integer(line.key(json::key!("trans_id")), transaction.id);
        let rtt = transaction.rtt_ns.map(seconds);
        json::option(line.key(json::key!("rtt")), rtt, json::float);
        json::string(line.key(json::key!("query")), transaction.qname());
        json::integer(line.key(json::key!("qtype")), transaction.qtype);
        json::string(
            line.key(json::key!("qtype_name")),
            &type_name(transaction.qtype),
        );
        let rcode = response.map(|r| r.flags.rcode);
        json::option(line.key(json::key!("rcode")), rcode, json::integer);
        json::option(line.key(json::key!("rcode_name")), rcode, |out, rcode| {
            json::string(out, &rcode_name(rcode))
        });
        json::boolean(line.key(json::key!("AA")), flags.authoritative);
        json::boolean(line.key(json::key!("TC")), flags.truncated);
        let rd = transaction.query_flags.unwrap_or(flags).recursion_desired;
        json::boolean(line.key(json::key!("RD")), rd);
        json::boolean(line.key(json::key!("RA")), flags.recursion_available);
        json::array(line.key(json::key!("answers")), answers, |out, a| {
            presentation(out, &a.data)
        });
        json::array(line.key(json::key!("TTLs")), answers, |out, a| {
            json::integer(out, a.ttl)
        });
        json::string(line.key(json::key!("status")), transaction.status.label());
        json::integer(line.key(json::key!("retries")), transaction.retries);
        let query_ts = transaction.query.map(|(ts, _)| ts);
        json::option(line.key(json::key!("query_ts")), query_ts, |out, ts| {
            json::string(out, clock.text(ts).as_str())
        });
        let response_ts = response.map(|r| r.frame.ts_ns);
        json::option(
            line.key(json::key!("response_ts")),
            response_ts,
            |out, ts| json::string(out, clock.text(ts).as_str()),
        );
        let query_frame = transaction.query.map(|(_, frame)| frame);
        json::option(
            line.key(json::key!("query_frame")),
            query_frame,
            |out, f| self.frame(out, f),
        );
        let response_frame = response.map(|r| FrameRef {
            file_index: r.frame.file_index,
            frame_number: r.frame.frame_number,
        });
        json::option(
            line.key(json::key!("response_frame")),
            response_frame,
            |out, f| self.frame(out, f),
        );
        json::array(
            line.key(json::key!("retry_frames")),
            &transaction.retry_frames,
            |out, f| self.frame(out, *f),
        );
        json::array(
            line.key(json::key!("answer_records")),
            answers,
            answer_record,
        );
        let incomplete = response.is_some_and(|r| !r.answers_complete);
        json::boolean(line.key(json::key!("answers_incomplete")), incomplete);
        json::boolean(
            line.key(json::key!("answers_differ")),
            transaction.answers_differ,
        );
        json::boolean(
            line.key(json::key!("near_capture_start")),
            transaction.near_capture_start,
        );
        let watched = transaction.watched.as_ref().map(|w| &*w.display);
        json::option(line.key(json::key!("watched")), watched, json::string);
        let query_edns = transaction.query_edns_udp_size;
        json::option(
            line.key(json::key!("query_edns_udp_size")),
            query_edns,
            json::integer,
        );
        let response_edns = response.and_then(|r| r.edns_udp_size);
        json::option(
            line.key(json::key!("response_edns_udp_size")),
            response_edns,
            json::integer,
        );
        json::option(
            line.key(json::key!("retry_of_truncated")),
            transaction.retry_of_truncated,
            |out, f| self.frame(out, f),
        );
        line.close();
    }
}

/// An answer's RDATA in presentation form (address, target name, ...).
fn presentation(out: &mut Vec<u8>, data: &AnswerData) {
    match data {
        AnswerData::A(v4) => json::address(out, (*v4).into()),
        AnswerData::Aaaa(v6) => json::address(out, (*v6).into()),
        AnswerData::Cname(text) | AnswerData::Other(text) => json::string(out, text),
    }
}

/// One answer record with its owner name and type.
fn answer_record(out: &mut Vec<u8>, answer: &Answer) {
    let mut record = JsonObject::open(out);
    json::string(record.key(json::key!("name")), &answer.name);
    json::integer(record.key(json::key!("type")), answer.rtype);
    json::string(
        record.key(json::key!("type_name")),
        &type_name(answer.rtype),
    );
    json::integer(record.key(json::key!("ttl")), answer.ttl);
    presentation(record.key(json::key!("data")), &answer.data);
    record.close();
}

impl LogRenderer for NdjsonRenderer {
    type Chunk = NdjsonLines;

    fn render(&self, transaction: &Transaction, chunk: &mut NdjsonLines) {
        self.write_line(transaction, &mut chunk.clock, &mut chunk.bytes);
        chunk.bytes.push(b'\n');
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

/// Slices one vectored write hands over at most (the usual IOV_MAX).
const SLICES_PER_WRITE: usize = 1024;

impl<W: Write> LogWriter<NdjsonLines> for NdjsonWriter<W> {
    /// Hands the lines over as they lie in their chunks, a thousand per vectored write, lines
    /// adjacent in one chunk as one slice: no copy into a buffer first.
    fn write(&mut self, chunks: &[&NdjsonLines], order: &[(usize, usize)]) {
        let mut runs: Vec<IoSlice<'_>> = Vec::with_capacity(order.len().min(SLICES_PER_WRITE));
        let mut run: Option<(usize, std::ops::Range<usize>)> = None;
        for &(chunk, line) in order {
            let bytes = chunks[chunk].range(line);
            match &mut run {
                Some((at, range)) if *at == chunk && range.end == bytes.start => {
                    range.end = bytes.end;
                }
                _ => {
                    if let Some((at, range)) = run.replace((chunk, bytes)) {
                        runs.push(IoSlice::new(&chunks[at].bytes[range]));
                    }
                    if runs.len() == SLICES_PER_WRITE {
                        self.write_all(&mut runs);
                    }
                }
            }
        }
        if let Some((at, range)) = run {
            runs.push(IoSlice::new(&chunks[at].bytes[range]));
        }
        self.write_all(&mut runs);
    }
}

impl<W: Write> NdjsonWriter<W> {
    /// Writes all of `slices` and empties the list, unless an earlier write failed; keeps the
    /// first error.
    fn write_all(&mut self, slices: &mut Vec<IoSlice<'_>>) {
        if self.error.is_none() {
            let mut left = slices.as_mut_slice();
            while !left.is_empty() {
                match self.out.write_vectored(left) {
                    Ok(0) => {
                        self.error = Some(io::ErrorKind::WriteZero.into());
                        break;
                    }
                    Ok(written) => IoSlice::advance_slices(&mut left, written),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.error = Some(e);
                        break;
                    }
                }
            }
        }
        slices.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes at most `step` bytes per call, vectored or not; fails once `fail_after` bytes
    /// were taken, if set.
    struct Trickle {
        taken: Vec<u8>,
        step: usize,
        fail_after: Option<usize>,
    }

    impl Write for Trickle {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if self
                .fail_after
                .is_some_and(|limit| self.taken.len() >= limit)
            {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let n = bytes.len().min(self.step);
            self.taken.extend_from_slice(&bytes[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Two lanes' chunks of lines, and an order taking lines from both, some adjacent.
    fn chunks() -> (Vec<NdjsonLines>, Vec<(usize, usize)>) {
        let renderer = NdjsonRenderer::new(&["a.pcap".to_string()]);
        let mut chunks: Vec<NdjsonLines> = (0..2).map(|_| NdjsonLines::default()).collect();
        for id in 0..6 {
            renderer.render(&Transaction::with_id(id), &mut chunks[usize::from(id) % 2]);
        }
        let order = vec![(0, 0), (1, 0), (1, 1), (1, 2), (0, 1), (0, 2)];
        (chunks, order)
    }

    fn written(step: usize, fail_after: Option<usize>) -> (Vec<u8>, bool) {
        let (chunks, order) = chunks();
        let mut writer = NdjsonWriter {
            out: Trickle {
                taken: Vec::new(),
                step,
                fail_after,
            },
            error: None,
        };
        let refs: Vec<&NdjsonLines> = chunks.iter().collect();
        writer.write(&refs, &order);
        writer.write(&refs, &order);
        (writer.out.taken, writer.error.is_some())
    }

    #[test]
    fn lines_are_written_whole_in_order_through_short_writes() {
        let (chunks, order) = chunks();
        let expected: Vec<u8> = [&order, &order]
            .into_iter()
            .flatten()
            .flat_map(|&(chunk, line)| chunks[chunk].bytes[chunks[chunk].range(line)].to_vec())
            .collect();
        let text = String::from_utf8(expected.clone()).unwrap();
        assert_eq!(text.lines().count(), 12);
        assert!(text.lines().all(|line| line.contains("\"trans_id\":")));
        for step in [1, 7, 100, usize::MAX] {
            assert_eq!(
                written(step, None),
                (expected.clone(), false),
                "step {step}"
            );
        }
    }

    #[test]
    fn a_failed_write_is_kept_and_nothing_is_written_after_it() {
        let (taken, failed) = written(5, Some(12));
        assert!(failed);
        assert_eq!(taken.len(), 15);
    }
}
