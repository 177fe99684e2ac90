//! The Parquet transaction log's schema (version [`SCHEMA_VERSION`]): the NDJSON log's fields
//! with real types, plus the sensor, the addresses at the end of the CNAME chain and those the
//! expectations do not allow. docs/log.md documents every column; a change of a column's name,
//! type or meaning bumps the version.

use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use std::sync::Arc;

/// Version of the schema, written to every file's key-value metadata as
/// [`SCHEMA_VERSION_KEY`].
pub const SCHEMA_VERSION: u32 = 1;
/// Key of the schema version in the file metadata.
pub const SCHEMA_VERSION_KEY: &str = "pcdns.schema_version";

/// The leaf columns (as Parquet paths) whose values are nearly all different from row to row:
/// times, durations, frame numbers, ports and DNS ids. A dictionary of them would cost a hash
/// per value and hold as many entries as rows (a row group's never outgrows the dictionary
/// page limit), so they are written plainly.
pub(super) fn distinct_value_columns() -> Vec<Vec<&'static str>> {
    let frame = |column: &'static str| vec![column, "frame"];
    vec![
        vec!["ts"],
        vec!["ts_ns"],
        vec!["orig_p"],
        vec!["trans_id"],
        vec!["rtt"],
        vec!["rtt_ns"],
        vec!["query_ts"],
        vec!["response_ts"],
        frame("query_frame"),
        frame("response_frame"),
        vec!["retry_frames", "list", "element", "frame"],
        frame("retry_of_truncated"),
    ]
}

/// A timestamp in microseconds, UTC (Spark reads no finer unit).
fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// A list of non-null `item`s (the element named as the Parquet LIST convention names it).
pub(super) fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("element", item, false)))
}

/// A list of non-null structs with `fields`.
pub(super) fn list_of_structs(fields: Fields) -> DataType {
    list_of(DataType::Struct(fields))
}

/// A frame reference: the input and the frame number.
pub(super) fn frame_fields() -> Fields {
    Fields::from(vec![
        Field::new("file", DataType::Utf8, false),
        Field::new("frame", DataType::UInt64, false),
    ])
}

/// An answer record.
pub(super) fn record_fields() -> Fields {
    Fields::from(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("type", DataType::UInt16, false),
        Field::new("type_name", DataType::Utf8, false),
        Field::new("ttl", DataType::UInt32, false),
        Field::new("data", DataType::Utf8, false),
    ])
}

/// The schema of every file, columns in this order.
pub fn schema() -> Schema {
    use DataType::{Boolean, Float64, Int64, UInt16, UInt32, UInt8, Utf8};
    let required = |name: &str, data_type: DataType| Field::new(name, data_type, false);
    let optional = |name: &str, data_type: DataType| Field::new(name, data_type, true);
    let frame = || DataType::Struct(frame_fields());
    Schema::new(vec![
        required("ts", timestamp()),
        required("ts_ns", Int64),
        required("sensor", Utf8),
        required("orig_h", Utf8),
        required("orig_p", UInt16),
        required("resp_h", Utf8),
        required("resp_p", UInt16),
        required("proto", Utf8),
        required("trans_id", UInt16),
        optional("rtt", Float64),
        optional("rtt_ns", Int64),
        required("query", Utf8),
        required("qtype", UInt16),
        required("qtype_name", Utf8),
        optional("rcode", UInt8),
        optional("rcode_name", Utf8),
        required("AA", Boolean),
        required("TC", Boolean),
        required("RD", Boolean),
        required("RA", Boolean),
        required("answers", list_of(Utf8)),
        required("TTLs", list_of(UInt32)),
        required("status", Utf8),
        required("retries", UInt32),
        optional("query_ts", timestamp()),
        optional("response_ts", timestamp()),
        optional("query_frame", frame()),
        optional("response_frame", frame()),
        required("retry_frames", list_of_structs(frame_fields())),
        required("answer_records", list_of_structs(record_fields())),
        required("answers_incomplete", Boolean),
        required("answers_differ", Boolean),
        required("near_capture_start", Boolean),
        optional("watched", Utf8),
        required("addresses", list_of(Utf8)),
        optional("unexpected", list_of(Utf8)),
        optional("query_edns_udp_size", UInt16),
        optional("response_edns_udp_size", UInt16),
        optional("retry_of_truncated", frame()),
    ])
}
