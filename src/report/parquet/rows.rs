//! Turns transactions into Arrow columns of the Parquet log's schema, a batch at a time: the
//! same facts as the NDJSON line ([`crate::report::log_line`]), typed. Pure: no I/O.

use super::schema::{frame_fields, record_fields, schema};
use crate::analyze::{FrameRef, Transaction};
use crate::decode::{type_name, AnswerData};
use crate::expect::Expectations;
use crate::report::rcode_name;
use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder, UInt16Builder, UInt32Builder, UInt64Builder, UInt8Builder,
};
use arrow_array::{ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBufferBuilder};
use arrow_schema::{ArrowError, DataType, Field, Fields, SchemaRef};
use std::fmt::Write;
use std::sync::Arc;

/// What a row needs besides its transaction.
#[derive(Debug, Clone, Copy)]
pub struct RowContext<'a> {
    /// The sensor that captured it.
    pub sensor: &'a str,
    /// Input names by file index.
    pub file_names: &'a [String],
    /// The expectations, when the log has them (for `unexpected`).
    pub expectations: Option<&'a Expectations>,
}

/// A list of strings whose items are never null.
fn string_list() -> ListBuilder<StringBuilder> {
    ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new(
        "element",
        DataType::Utf8,
        false,
    )))
}

fn timestamps() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

fn micros(ts_ns: u64) -> i64 {
    nanos(ts_ns / 1_000)
}

fn nanos(ns: u64) -> i64 {
    i64::try_from(ns).unwrap_or(i64::MAX)
}

/// Frame references as the columns of a struct.
#[derive(Default)]
struct Frames {
    file: StringBuilder,
    frame: UInt64Builder,
}

impl Frames {
    fn push(&mut self, file: &str, frame: u64) {
        self.file.append_value(file);
        self.frame.append_value(frame);
    }

    fn finish(
        &mut self,
        nulls: Option<arrow_buffer::NullBuffer>,
    ) -> Result<StructArray, ArrowError> {
        let columns: Vec<ArrayRef> =
            vec![Arc::new(self.file.finish()), Arc::new(self.frame.finish())];
        StructArray::try_new(frame_fields(), columns, nulls)
    }
}

/// A nullable frame reference column.
struct OptionalFrames {
    frames: Frames,
    valid: NullBufferBuilder,
}

impl Default for OptionalFrames {
    fn default() -> Self {
        OptionalFrames {
            frames: Frames::default(),
            valid: NullBufferBuilder::new(0),
        }
    }
}

impl OptionalFrames {
    fn push(&mut self, frame: Option<(&str, u64)>) {
        match frame {
            Some((file, number)) => {
                self.frames.push(file, number);
                self.valid.append_non_null();
            }
            None => {
                self.frames.push("", 0);
                self.valid.append_null();
            }
        }
    }

    fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        let nulls = self.valid.finish();
        Ok(Arc::new(self.frames.finish(nulls)?))
    }
}

/// Offsets of a list column whose items are built elsewhere.
struct Offsets(OffsetBufferBuilder<i32>);

impl Default for Offsets {
    fn default() -> Self {
        Offsets(OffsetBufferBuilder::new(0))
    }
}

impl Offsets {
    fn finish(&mut self, items: StructArray, fields: Fields) -> Result<ArrayRef, ArrowError> {
        let offsets = std::mem::replace(&mut self.0, OffsetBufferBuilder::new(0)).finish();
        let field = Arc::new(Field::new("element", DataType::Struct(fields), false));
        Ok(Arc::new(ListArray::try_new(
            field,
            offsets,
            Arc::new(items),
            None,
        )?))
    }
}

/// Answer records as the columns of a struct.
#[derive(Default)]
struct Records {
    name: StringBuilder,
    rtype: UInt16Builder,
    type_name: StringBuilder,
    ttl: UInt32Builder,
    data: StringBuilder,
}

impl Records {
    fn finish(&mut self) -> Result<StructArray, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.name.finish()),
            Arc::new(self.rtype.finish()),
            Arc::new(self.type_name.finish()),
            Arc::new(self.ttl.finish()),
            Arc::new(self.data.finish()),
        ];
        StructArray::try_new(record_fields(), columns, None)
    }
}

/// The columns of rows appended since the last [`RowBuilder::finish`].
pub struct RowBuilder {
    schema: SchemaRef,
    rows: usize,
    ts: TimestampMicrosecondBuilder,
    ts_ns: Int64Builder,
    sensor: StringBuilder,
    orig_h: StringBuilder,
    orig_p: UInt16Builder,
    resp_h: StringBuilder,
    resp_p: UInt16Builder,
    proto: StringBuilder,
    trans_id: UInt16Builder,
    rtt: Float64Builder,
    rtt_ns: Int64Builder,
    query: StringBuilder,
    qtype: UInt16Builder,
    qtype_name: StringBuilder,
    rcode: UInt8Builder,
    rcode_name: StringBuilder,
    aa: BooleanBuilder,
    tc: BooleanBuilder,
    rd: BooleanBuilder,
    ra: BooleanBuilder,
    answers: ListBuilder<StringBuilder>,
    ttls: ListBuilder<UInt32Builder>,
    status: StringBuilder,
    retries: UInt32Builder,
    query_ts: TimestampMicrosecondBuilder,
    response_ts: TimestampMicrosecondBuilder,
    query_frame: OptionalFrames,
    response_frame: OptionalFrames,
    retry_frames: Frames,
    retry_offsets: Offsets,
    records: Records,
    record_offsets: Offsets,
    answers_incomplete: BooleanBuilder,
    answers_differ: BooleanBuilder,
    near_capture_start: BooleanBuilder,
    watched: StringBuilder,
    addresses: ListBuilder<StringBuilder>,
    unexpected: ListBuilder<StringBuilder>,
    query_edns_udp_size: UInt16Builder,
    response_edns_udp_size: UInt16Builder,
    retry_of_truncated: OptionalFrames,
    /// Scratch space for presentation forms.
    text: String,
}

impl Default for RowBuilder {
    fn default() -> Self {
        RowBuilder {
            schema: Arc::new(schema()),
            rows: 0,
            ts: timestamps(),
            ts_ns: Int64Builder::new(),
            sensor: StringBuilder::new(),
            orig_h: StringBuilder::new(),
            orig_p: UInt16Builder::new(),
            resp_h: StringBuilder::new(),
            resp_p: UInt16Builder::new(),
            proto: StringBuilder::new(),
            trans_id: UInt16Builder::new(),
            rtt: Float64Builder::new(),
            rtt_ns: Int64Builder::new(),
            query: StringBuilder::new(),
            qtype: UInt16Builder::new(),
            qtype_name: StringBuilder::new(),
            rcode: UInt8Builder::new(),
            rcode_name: StringBuilder::new(),
            aa: BooleanBuilder::new(),
            tc: BooleanBuilder::new(),
            rd: BooleanBuilder::new(),
            ra: BooleanBuilder::new(),
            answers: string_list(),
            ttls: ListBuilder::new(UInt32Builder::new()).with_field(Arc::new(Field::new(
                "element",
                DataType::UInt32,
                false,
            ))),
            status: StringBuilder::new(),
            retries: UInt32Builder::new(),
            query_ts: timestamps(),
            response_ts: timestamps(),
            query_frame: OptionalFrames::default(),
            response_frame: OptionalFrames::default(),
            retry_frames: Frames::default(),
            retry_offsets: Offsets::default(),
            records: Records::default(),
            record_offsets: Offsets::default(),
            answers_incomplete: BooleanBuilder::new(),
            answers_differ: BooleanBuilder::new(),
            near_capture_start: BooleanBuilder::new(),
            watched: StringBuilder::new(),
            addresses: string_list(),
            unexpected: string_list(),
            query_edns_udp_size: UInt16Builder::new(),
            response_edns_udp_size: UInt16Builder::new(),
            retry_of_truncated: OptionalFrames::default(),
            text: String::new(),
        }
    }
}

/// Capture time of a transaction: the first query, or the response without one (the NDJSON
/// log's `ts`).
pub fn capture_ts_ns(transaction: &Transaction) -> u64 {
    transaction
        .query
        .map(|(ts, _)| ts)
        .or(transaction.response.as_ref().map(|r| r.frame.ts_ns))
        .unwrap_or_default()
}

impl RowBuilder {
    /// Rows appended since the last [`Self::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row waits.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends the row of `transaction`.
    pub fn append(&mut self, transaction: &Transaction, context: &RowContext<'_>) {
        let file_name = |f: FrameRef| {
            context
                .file_names
                .get(usize::from(f.file_index))
                .map_or("", String::as_str)
        };
        let response = transaction.response.as_deref();
        let answers = response.map(|r| r.answers.as_slice()).unwrap_or_default();
        let flags = response.map(|r| r.flags).unwrap_or_default();
        let ts_ns = capture_ts_ns(transaction);
        self.rows += 1;
        self.ts.append_value(micros(ts_ns));
        self.ts_ns.append_value(nanos(ts_ns));
        self.sensor.append_value(context.sensor);
        push_display(&mut self.orig_h, &mut self.text, transaction.client.ip());
        self.orig_p.append_value(transaction.client.port());
        push_display(&mut self.resp_h, &mut self.text, transaction.server.ip());
        self.resp_p.append_value(transaction.server.port());
        self.proto.append_value(transaction.transport.label());
        self.trans_id.append_value(transaction.id);
        self.rtt
            .append_option(transaction.rtt_ns.map(|ns| ns as f64 / 1e9));
        self.rtt_ns.append_option(transaction.rtt_ns.map(nanos));
        self.query.append_value(transaction.qname());
        self.qtype.append_value(transaction.qtype);
        self.qtype_name.append_value(type_name(transaction.qtype));
        self.rcode.append_option(response.map(|r| r.flags.rcode));
        self.rcode_name
            .append_option(response.map(|r| rcode_name(r.flags.rcode)));
        self.aa.append_value(flags.authoritative);
        self.tc.append_value(flags.truncated);
        self.rd
            .append_value(transaction.query_flags.unwrap_or(flags).recursion_desired);
        self.ra.append_value(flags.recursion_available);
        for answer in answers {
            self.text.clear();
            presentation(&answer.data, &mut self.text);
            self.answers.values().append_value(&self.text);
            self.ttls.values().append_value(answer.ttl);
            let records = &mut self.records;
            records.name.append_value(&answer.name);
            records.rtype.append_value(answer.rtype);
            records.type_name.append_value(type_name(answer.rtype));
            records.ttl.append_value(answer.ttl);
            records.data.append_value(&self.text);
        }
        self.answers.append(true);
        self.ttls.append(true);
        self.record_offsets.0.push_length(answers.len());
        self.status.append_value(transaction.status.label());
        self.retries.append_value(transaction.retries);
        self.query_ts
            .append_option(transaction.query.map(|(ts, _)| micros(ts)));
        self.response_ts
            .append_option(response.map(|r| micros(r.frame.ts_ns)));
        self.query_frame.push(
            transaction
                .query
                .map(|(_, f)| (file_name(f), f.frame_number)),
        );
        self.response_frame.push(response.map(|r| {
            let frame = FrameRef {
                file_index: r.frame.file_index,
                frame_number: r.frame.frame_number,
            };
            (file_name(frame), frame.frame_number)
        }));
        for frame in &transaction.retry_frames {
            self.retry_frames
                .push(file_name(*frame), frame.frame_number);
        }
        self.retry_offsets
            .0
            .push_length(transaction.retry_frames.len());
        self.answers_incomplete
            .append_value(response.is_some_and(|r| !r.answers_complete));
        self.answers_differ.append_value(transaction.answers_differ);
        self.near_capture_start
            .append_value(transaction.near_capture_start);
        self.watched
            .append_option(transaction.watched.as_ref().map(|w| &*w.display));
        let final_addresses = response.map(|r| r.view.addresses()).unwrap_or_default();
        for address in final_addresses {
            push_display(self.addresses.values(), &mut self.text, address);
        }
        self.addresses.append(true);
        self.append_unexpected(transaction, context.expectations);
        self.query_edns_udp_size
            .append_option(transaction.query_edns_udp_size);
        self.response_edns_udp_size
            .append_option(response.and_then(|r| r.edns_udp_size));
        self.retry_of_truncated.push(
            transaction
                .retry_of_truncated
                .map(|f| (file_name(f), f.frame_number)),
        );
    }

    /// With expectations: the addresses at the end of the chain of an answer with data that
    /// the watched name does not allow (the analysis's wrong addresses); otherwise null.
    fn append_unexpected(
        &mut self,
        transaction: &Transaction,
        expectations: Option<&Expectations>,
    ) {
        let Some(expectations) = expectations else {
            self.unexpected.append(false);
            return;
        };
        let entry = transaction
            .watched
            .as_ref()
            .and_then(|w| expectations.find_normalized(&w.key))
            .map(|index| &expectations.names[index]);
        let view = transaction.response.as_deref().map(|r| &r.view);
        if let (Some(entry), Some(view)) = (entry, view) {
            if view.rcode == crate::decode::RcodeClass::Noerror {
                for address in view.addresses().iter().filter(|a| !entry.allows(a)) {
                    push_display(self.unexpected.values(), &mut self.text, address);
                }
            }
        }
        self.unexpected.append(true);
    }

    /// The rows appended so far as one batch; the builder starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        self.rows = 0;
        let retry_frames = self.retry_frames.finish(None)?;
        let records = self.records.finish()?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.ts.finish()),
            Arc::new(self.ts_ns.finish()),
            Arc::new(self.sensor.finish()),
            Arc::new(self.orig_h.finish()),
            Arc::new(self.orig_p.finish()),
            Arc::new(self.resp_h.finish()),
            Arc::new(self.resp_p.finish()),
            Arc::new(self.proto.finish()),
            Arc::new(self.trans_id.finish()),
            Arc::new(self.rtt.finish()),
            Arc::new(self.rtt_ns.finish()),
            Arc::new(self.query.finish()),
            Arc::new(self.qtype.finish()),
            Arc::new(self.qtype_name.finish()),
            Arc::new(self.rcode.finish()),
            Arc::new(self.rcode_name.finish()),
            Arc::new(self.aa.finish()),
            Arc::new(self.tc.finish()),
            Arc::new(self.rd.finish()),
            Arc::new(self.ra.finish()),
            Arc::new(self.answers.finish()),
            Arc::new(self.ttls.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.retries.finish()),
            Arc::new(self.query_ts.finish()),
            Arc::new(self.response_ts.finish()),
            self.query_frame.finish()?,
            self.response_frame.finish()?,
            self.retry_offsets.finish(retry_frames, frame_fields())?,
            self.record_offsets.finish(records, record_fields())?,
            Arc::new(self.answers_incomplete.finish()),
            Arc::new(self.answers_differ.finish()),
            Arc::new(self.near_capture_start.finish()),
            Arc::new(self.watched.finish()),
            Arc::new(self.addresses.finish()),
            Arc::new(self.unexpected.finish()),
            Arc::new(self.query_edns_udp_size.finish()),
            Arc::new(self.response_edns_udp_size.finish()),
            self.retry_of_truncated.finish()?,
        ];
        RecordBatch::try_new(self.schema.clone(), columns)
    }
}

/// Appends `value` as text to `column` (formatted in `text`, reused).
fn push_display(column: &mut StringBuilder, text: &mut String, value: impl std::fmt::Display) {
    text.clear();
    let _ = write!(text, "{value}");
    column.append_value(text);
}

/// RDATA in presentation form, as the NDJSON log writes it.
fn presentation(data: &AnswerData, out: &mut String) {
    let _ = match data {
        AnswerData::A(v4) => write!(out, "{v4}"),
        AnswerData::Aaaa(v6) => write!(out, "{v6}"),
        AnswerData::Cname(text) | AnswerData::Other(text) => out.write_str(text),
    };
}
