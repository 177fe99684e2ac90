//! Turns transactions into Arrow columns of the Parquet log's schema, a batch at a time: the
//! same facts as the NDJSON line ([`crate::report::NdjsonRenderer`]), typed. Pure: no I/O.

use super::schema::{frame_fields, record_fields, schema};
use crate::analyze::{FrameRef, Transaction};
use crate::decode::{type_name, AnswerData};
use crate::expect::Expectations;
use crate::report::{first_ts_ns, rcode_name, AddressText};
use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder, UInt16Builder, UInt32Builder, UInt64Builder, UInt8Builder,
};
use arrow_array::{ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBufferBuilder};
use arrow_schema::{ArrowError, DataType, Field, Fields, SchemaRef};
use std::net::IpAddr;
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

/// Bytes per string value that builders make room for.
const BYTES_PER_STRING: usize = 24;
/// List items per row that builders make room for (answers, addresses).
const ITEMS_PER_ROW: usize = 4;

/// A string column with room for `rows` values.
fn strings(rows: usize) -> StringBuilder {
    StringBuilder::with_capacity(rows, rows * BYTES_PER_STRING)
}

/// A list of strings whose items are never null, with room for `rows` rows.
fn string_list(rows: usize) -> ListBuilder<StringBuilder> {
    ListBuilder::with_capacity(strings(rows * ITEMS_PER_ROW), rows)
        .with_field(Arc::new(Field::new("element", DataType::Utf8, false)))
}

fn timestamps(rows: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC")
}

fn micros(ts_ns: u64) -> i64 {
    nanos(ts_ns / 1_000)
}

fn nanos(ns: u64) -> i64 {
    i64::try_from(ns).unwrap_or(i64::MAX)
}

/// Frame references as the columns of a struct.
struct Frames {
    file: StringBuilder,
    frame: UInt64Builder,
}

impl Frames {
    fn with_capacity(rows: usize) -> Self {
        Frames {
            file: strings(rows),
            frame: UInt64Builder::with_capacity(rows),
        }
    }

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

impl OptionalFrames {
    fn with_capacity(rows: usize) -> Self {
        OptionalFrames {
            frames: Frames::with_capacity(rows),
            valid: NullBufferBuilder::new(rows),
        }
    }

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

impl Offsets {
    fn with_capacity(rows: usize) -> Self {
        Offsets(OffsetBufferBuilder::new(rows))
    }

    fn finish(self, items: StructArray, fields: Fields) -> Result<ArrayRef, ArrowError> {
        let offsets = self.0.finish();
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
struct Records {
    name: StringBuilder,
    rtype: UInt16Builder,
    type_name: StringBuilder,
    ttl: UInt32Builder,
    data: StringBuilder,
}

impl Records {
    fn with_capacity(items: usize) -> Self {
        Records {
            name: strings(items),
            rtype: UInt16Builder::with_capacity(items),
            type_name: strings(items),
            ttl: UInt32Builder::with_capacity(items),
            data: strings(items),
        }
    }

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
    /// Rows the builders have room for (a finished batch leaves a builder of the same size).
    capacity: usize,
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

impl RowBuilder {
    /// An empty builder with room for `rows` rows.
    pub fn with_capacity(rows: usize) -> Self {
        RowBuilder {
            schema: Arc::new(schema()),
            capacity: rows,
            rows: 0,
            ts: timestamps(rows),
            ts_ns: Int64Builder::with_capacity(rows),
            sensor: strings(rows),
            orig_h: strings(rows),
            orig_p: UInt16Builder::with_capacity(rows),
            resp_h: strings(rows),
            resp_p: UInt16Builder::with_capacity(rows),
            proto: strings(rows),
            trans_id: UInt16Builder::with_capacity(rows),
            rtt: Float64Builder::with_capacity(rows),
            rtt_ns: Int64Builder::with_capacity(rows),
            query: strings(rows),
            qtype: UInt16Builder::with_capacity(rows),
            qtype_name: strings(rows),
            rcode: UInt8Builder::with_capacity(rows),
            rcode_name: strings(rows),
            aa: BooleanBuilder::with_capacity(rows),
            tc: BooleanBuilder::with_capacity(rows),
            rd: BooleanBuilder::with_capacity(rows),
            ra: BooleanBuilder::with_capacity(rows),
            answers: string_list(rows),
            ttls: ListBuilder::with_capacity(
                UInt32Builder::with_capacity(rows * ITEMS_PER_ROW),
                rows,
            )
            .with_field(Arc::new(Field::new("element", DataType::UInt32, false))),
            status: strings(rows),
            retries: UInt32Builder::with_capacity(rows),
            query_ts: timestamps(rows),
            response_ts: timestamps(rows),
            query_frame: OptionalFrames::with_capacity(rows),
            response_frame: OptionalFrames::with_capacity(rows),
            retry_frames: Frames::with_capacity(0),
            retry_offsets: Offsets::with_capacity(rows),
            records: Records::with_capacity(rows * ITEMS_PER_ROW),
            record_offsets: Offsets::with_capacity(rows),
            answers_incomplete: BooleanBuilder::with_capacity(rows),
            answers_differ: BooleanBuilder::with_capacity(rows),
            near_capture_start: BooleanBuilder::with_capacity(rows),
            watched: strings(rows),
            addresses: string_list(rows),
            unexpected: string_list(rows),
            query_edns_udp_size: UInt16Builder::with_capacity(rows),
            response_edns_udp_size: UInt16Builder::with_capacity(rows),
            retry_of_truncated: OptionalFrames::with_capacity(rows),
            text: String::new(),
        }
    }
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
        let ts_ns = first_ts_ns(transaction);
        self.rows += 1;
        self.ts.append_value(micros(ts_ns));
        self.ts_ns.append_value(nanos(ts_ns));
        self.sensor.append_value(context.sensor);
        push_address(&mut self.orig_h, transaction.client.ip());
        self.orig_p.append_value(transaction.client.port());
        push_address(&mut self.resp_h, transaction.server.ip());
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
            push_address(self.addresses.values(), *address);
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
                    push_address(self.unexpected.values(), *address);
                }
            }
        }
        self.unexpected.append(true);
    }

    /// The rows appended so far as one batch; the builder starts empty again, with as much
    /// room.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut full = std::mem::replace(self, RowBuilder::with_capacity(self.capacity));
        let retry_frames = full.retry_frames.finish(None)?;
        let records = full.records.finish()?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(full.ts.finish()),
            Arc::new(full.ts_ns.finish()),
            Arc::new(full.sensor.finish()),
            Arc::new(full.orig_h.finish()),
            Arc::new(full.orig_p.finish()),
            Arc::new(full.resp_h.finish()),
            Arc::new(full.resp_p.finish()),
            Arc::new(full.proto.finish()),
            Arc::new(full.trans_id.finish()),
            Arc::new(full.rtt.finish()),
            Arc::new(full.rtt_ns.finish()),
            Arc::new(full.query.finish()),
            Arc::new(full.qtype.finish()),
            Arc::new(full.qtype_name.finish()),
            Arc::new(full.rcode.finish()),
            Arc::new(full.rcode_name.finish()),
            Arc::new(full.aa.finish()),
            Arc::new(full.tc.finish()),
            Arc::new(full.rd.finish()),
            Arc::new(full.ra.finish()),
            Arc::new(full.answers.finish()),
            Arc::new(full.ttls.finish()),
            Arc::new(full.status.finish()),
            Arc::new(full.retries.finish()),
            Arc::new(full.query_ts.finish()),
            Arc::new(full.response_ts.finish()),
            full.query_frame.finish()?,
            full.response_frame.finish()?,
            full.retry_offsets.finish(retry_frames, frame_fields())?,
            full.record_offsets.finish(records, record_fields())?,
            Arc::new(full.answers_incomplete.finish()),
            Arc::new(full.answers_differ.finish()),
            Arc::new(full.near_capture_start.finish()),
            Arc::new(full.watched.finish()),
            Arc::new(full.addresses.finish()),
            Arc::new(full.unexpected.finish()),
            Arc::new(full.query_edns_udp_size.finish()),
            Arc::new(full.response_edns_udp_size.finish()),
            full.retry_of_truncated.finish()?,
        ];
        RecordBatch::try_new(full.schema, columns)
    }
}

/// Appends `address` as text to `column`.
fn push_address(column: &mut StringBuilder, address: IpAddr) {
    column.append_value(AddressText::new(address).as_str());
}

/// RDATA in presentation form, as the NDJSON log writes it.
fn presentation(data: &AnswerData, out: &mut String) {
    match data {
        AnswerData::A(v4) => out.push_str(AddressText::new((*v4).into()).as_str()),
        AnswerData::Aaaa(v6) => out.push_str(AddressText::new((*v6).into()).as_str()),
        AnswerData::Cname(text) | AnswerData::Other(text) => out.push_str(text),
    }
}
