//! The Parquet transaction log (`pcdns log --format parquet`, feature `parquet`): folders and
//! file names, every row against the NDJSON log, row group bounds, and the real engines
//! (pyarrow checks the schema against docs/log.md, DuckDB and Spark run the fleet report, which
//! must agree with `pcdns analyze`). The engines come from a Python virtual environment
//! (PCDNS_PYTHON, default /opt/pcdns-venv/bin/python, as .ci/run makes it); without it those
//! tests skip, or fail under PCDNS_REQUIRE_ALL=1.
#![cfg(feature = "parquet")]

use crate::common::{self, files_under, pcdns, root, sample, stdout};
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `pcdns log` over `captures` with the contoso expectations into `dir` as `sensor`.
fn log_parquet(captures: &[&str], dir: &Path, sensor: &str) {
    let mut args: Vec<String> = vec!["log".into()];
    args.extend(captures.iter().map(|c| sample(c).display().to_string()));
    args.extend(
        [
            "--expect",
            &sample("contoso.toml").display().to_string(),
            "--format",
            "parquet",
            "--output",
            &dir.display().to_string(),
            "--sensor",
            sensor,
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = pcdns(&args);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
}

/// The rows of a Parquet file as JSON objects: strings as they are, other values in arrow's
/// debug form.
fn rows_of(path: &Path) -> Vec<serde_json::Map<String, Value>> {
    use arrow_array::Array;
    let mut rows = Vec::new();
    for batch in common::parquet_batches(path) {
        let schema = batch.schema();
        for row in 0..batch.num_rows() {
            let mut object = serde_json::Map::new();
            for (column, field) in batch.columns().iter().zip(schema.fields()) {
                let value = arrow_array::cast::AsArray::as_string_opt::<i32>(column.as_ref())
                    .map(|strings| {
                        if strings.is_null(row) {
                            Value::Null
                        } else {
                            Value::from(strings.value(row))
                        }
                    })
                    .unwrap_or_else(|| Value::from(format!("{:?}", column.slice(row, 1))));
                object.insert(field.name().clone(), value);
            }
            rows.push(object);
        }
    }
    rows
}

#[test]
fn log_writes_hive_folders_with_one_row_per_ndjson_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    log_parquet(&["broken.pcap"], dir.path(), "site a/1");
    let files = files_under(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].display().to_string();
    assert!(
        name.starts_with("date=2026-11-25/hour=11/site_a_1-") && name.ends_with("-00000.parquet"),
        "{name}"
    );
    let ndjson = pcdns(&[
        "log",
        "samples/broken.pcap",
        "--expect",
        "samples/contoso.toml",
    ]);
    let lines: Vec<Value> = stdout(&ndjson)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let rows = rows_of(&dir.path().join(&files[0]));
    assert_eq!(rows.len(), lines.len());
    assert!(!rows.is_empty());
    for (row, line) in rows.iter().zip(&lines) {
        for (column, field) in [
            ("query", "query"),
            ("status", "status"),
            ("orig_h", "id.orig_h"),
            ("resp_h", "id.resp_h"),
            ("watched", "watched"),
            ("qtype_name", "qtype_name"),
            ("rcode_name", "rcode_name"),
        ] {
            assert_eq!(row[column], line[field], "{column} of {line}");
        }
        assert_eq!(row["sensor"], "site a/1");
    }
    // Metadata: schema version, and zstd on every column chunk.
    let reader =
        SerializedFileReader::new(std::fs::File::open(dir.path().join(&files[0])).unwrap())
            .expect("footer");
    let metadata = reader.metadata().file_metadata();
    let version = metadata
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == "pcdns.schema_version"))
        .and_then(|kv| kv.value.clone());
    assert_eq!(version.as_deref(), Some("1"));
    for group in reader.metadata().row_groups() {
        for column in group.columns() {
            assert!(
                matches!(column.compression(), parquet::basic::Compression::ZSTD(_)),
                "{:?}",
                column.compression()
            );
        }
    }
}

#[test]
fn rows_go_to_the_folder_of_their_capture_hour() {
    let dir = tempfile::tempdir().expect("temp dir");
    log_parquet(
        &["broken.pcap", "rotation.pcap", "cname.pcap"],
        dir.path(),
        "s",
    );
    let folders: Vec<String> = files_under(dir.path())
        .iter()
        .map(|f| f.parent().unwrap().display().to_string())
        .collect();
    assert_eq!(
        folders,
        [
            "date=2026-11-25/hour=11",
            "date=2026-11-25/hour=14",
            "date=2026-12-04/hour=20"
        ]
    );
}

#[test]
fn runs_and_sensors_never_overwrite_each_other() {
    let dir = tempfile::tempdir().expect("temp dir");
    log_parquet(&["broken.pcap"], dir.path(), "a");
    log_parquet(&["broken.pcap"], dir.path(), "a");
    log_parquet(&["broken.pcap"], dir.path(), "b");
    let files = files_under(dir.path());
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files
        .iter()
        .all(|f| f.extension().is_some_and(|e| e == "parquet")));
}

#[test]
fn wrong_parquet_options_are_errors() {
    let no_output = pcdns(&["log", "samples/broken.pcap", "--format", "parquet"]);
    assert_eq!(no_output.status.code(), Some(2));
    assert!(common::stderr(&no_output).contains("--output"));
    let ndjson_folder = pcdns(&["log", "samples/broken.pcap", "--output", "/tmp/x"]);
    assert_eq!(ndjson_folder.status.code(), Some(2));
    assert!(common::stderr(&ndjson_folder).contains("--format parquet"));
    let unwritable = pcdns(&[
        "log",
        "samples/broken.pcap",
        "--format",
        "parquet",
        "--output",
        "/proc/pcdns-cannot-be-here",
    ]);
    assert_eq!(unwritable.status.code(), Some(2));
    assert!(common::stderr(&unwritable).contains("cannot write /proc/pcdns-cannot-be-here"));
}

#[test]
fn row_groups_are_bounded_by_rows() {
    use pcdns::analyze::Watching;
    use pcdns::decode::WatchList;
    use pcdns::report::parquet::{ParquetLog, ParquetLogWriter, ParquetSettings};
    let config = pcdns::synth::SynthConfig {
        packets: 6_000,
        seed: 7,
        non_dns: 0.1,
        other_dns: 0.3,
        wrong: 0.0,
        unanswered: 0.01,
        pool_size: 4,
        clients: 100,
        vlan: 0.0,
        ipv6: 0.2,
        responses_only: false,
        max_payload: 64,
    };
    let capture = common::synth_capture(config, pcdns::capture::WriteFormat::Pcap);
    let run = common::run_config(
        &capture,
        Watching::Discovery,
        WatchList::everything(),
        1,
        100_000,
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = ParquetSettings {
        row_group_rows: 100,
        ..ParquetSettings::new(dir.path().to_path_buf(), "synth".into(), None)
    };
    let log = ParquetLog::create(settings, 0).expect("log");
    let names = vec!["synth.pcap".to_string()];
    let mut writer = ParquetLogWriter::new(log, names);
    let outcome = pcdns::pipeline::run(&run, &pcdns::pipeline::CopiedTransactions, &mut writer);
    assert!(outcome.errors.is_empty());
    let closed = writer.close().expect("close");
    // The same run's log, counted.
    let transactions = common::logged_run(&run).1.len() as u64;
    let files = files_under(dir.path());
    assert_eq!(closed, files.len() as u64);
    let mut rows = 0u64;
    for file in &files {
        let reader = SerializedFileReader::new(std::fs::File::open(dir.path().join(file)).unwrap())
            .expect("footer");
        for group in reader.metadata().row_groups() {
            assert!(group.num_rows() <= 100, "{}", group.num_rows());
            rows += group.num_rows() as u64;
        }
        assert!(reader.metadata().num_row_groups() > 1);
    }
    assert_eq!(rows, transactions);
}

/// The engines' Python, or None (the test then skips, or fails under PCDNS_REQUIRE_ALL=1).
fn engines_python() -> Option<PathBuf> {
    let python = std::env::var_os("PCDNS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/pcdns-venv/bin/python"));
    let ready = Command::new(&python)
        .args(["-c", "import pyarrow, duckdb, pyspark"])
        .status()
        .is_ok_and(|s| s.success())
        && common::tool_available("java");
    if !ready {
        common::missing(&format!(
            "{} with pyarrow, duckdb and pyspark, and java (see .ci/run)",
            python.display()
        ));
        return None;
    }
    Some(python)
}

fn run_python(python: &Path, args: &[&str]) -> String {
    let output = Command::new(python)
        .args(args)
        .current_dir(root())
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn pyarrow_reads_the_documented_schema_and_duckdb_every_row() {
    let _heavy = common::heavy();
    let Some(python) = engines_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let captures = ["broken.pcap", "cname.pcap", "healthy.pcap"];
    log_parquet(&captures, dir.path(), "s");
    let files: Vec<String> = files_under(dir.path())
        .iter()
        .map(|f| dir.path().join(f).display().to_string())
        .collect();
    let mut args = vec!["tests/parquet/engines.py", "schema", "docs/log.md"];
    args.extend(files.iter().map(String::as_str));
    let counted: Value = serde_json::from_str(&run_python(&python, &args)).expect("json");
    let mut log_args: Vec<String> = vec!["log".into()];
    log_args.extend(captures.iter().map(|c| format!("samples/{c}")));
    log_args.extend(["--expect".into(), "samples/contoso.toml".into()]);
    let log_args: Vec<&str> = log_args.iter().map(String::as_str).collect();
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for line in stdout(&pcdns(&log_args)).lines() {
        let line: Value = serde_json::from_str(line).expect("json");
        *statuses
            .entry(line["status"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(
        counted["statuses"],
        serde_json::to_value(&statuses).unwrap()
    );
}

/// What `pcdns analyze --format json` says of each watched name of `captures`.
fn analyzed(captures: &[&str]) -> Value {
    let mut args: Vec<String> = vec!["analyze".into()];
    args.extend(captures.iter().map(|c| format!("samples/{c}")));
    args.extend(
        [
            "--expect",
            "samples/contoso.toml",
            "--format",
            "json",
            "--fail-on",
            "never",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::json(&pcdns(&args))
}

/// True when an engine's quantile `engine_ms` lies within one latency bucket of the report's
/// `report_ms` (the upper bound of the quantile's bucket; four buckets per doubling).
fn within_one_bucket(engine_ms: f64, report_ms: f64) -> bool {
    let step = 2f64.powf(0.25);
    let slack = 0.0005; // the report rounds to microseconds
    engine_ms <= report_ms * step + slack && engine_ms >= report_ms / (step * step) - slack
}

/// Checks one engine's fleet report row against the analysis of the same captures.
fn check_row(engine: &str, row: &Value, name: &Value, findings: &[Value]) {
    let what = format!("{engine} {} {}", row["sensor"], row["name"]);
    let count = |v: &Value| v.as_u64().unwrap_or(0);
    assert_eq!(
        count(&row["responses"]),
        count(&name["responses"]),
        "{what} responses"
    );
    assert_eq!(
        count(&row["unanswered"]),
        count(&name["unanswered"]),
        "{what} unanswered"
    );
    assert_eq!(
        count(&row["nxdomain"]),
        count(&name["rcodes"]["NXDOMAIN"]),
        "{what} NXDOMAIN"
    );
    assert_eq!(
        count(&row["servfail"]),
        count(&name["rcodes"]["SERVFAIL"]),
        "{what} SERVFAIL"
    );
    let latency = &name["latency"];
    assert_eq!(
        count(&row["answered"]),
        count(&latency["count"]),
        "{what} answered"
    );
    for quantile in ["p50_ms", "p99_ms"] {
        if let (Some(engine_ms), Some(report_ms)) =
            (row[quantile].as_f64(), latency[quantile].as_f64())
        {
            assert!(
                within_one_bucket(engine_ms, report_ms),
                "{what} {quantile}: {engine_ms} vs the report's {report_ms}"
            );
        } else {
            assert_eq!(
                row[quantile].is_null(),
                latency[quantile].is_null(),
                "{what} {quantile}"
            );
        }
    }
    let wrong: BTreeMap<String, u64> = findings
        .iter()
        .filter(|f| f["kind"] == "wrong_address" && f["name"] == name["name"])
        .map(|f| {
            (
                f["subject"].as_str().unwrap().to_string(),
                count(&f["count"]),
            )
        })
        .collect();
    let engine_wrong: BTreeMap<String, u64> = row["wrong"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(address, n)| (address.clone(), count(n)))
        .collect();
    assert_eq!(engine_wrong, wrong, "{what} wrong addresses");
    assert_eq!(
        count(&row["wrong_addresses"]),
        wrong.values().sum::<u64>(),
        "{what}"
    );
    let rotation = &name["insight"]["rotation"];
    let candidates = rotation["candidates"].as_array().unwrap();
    for (index, member) in candidates.iter().enumerate() {
        let report_first = count(&rotation["overall"]["first"][index]);
        let engine_first = count(&row["first"][member.as_str().unwrap()]["count"]);
        assert_eq!(engine_first, report_first, "{what} first {member}");
    }
}

#[test]
fn spark_and_duckdb_fleet_reports_agree_with_analyze() {
    let _heavy = common::heavy();
    let Some(python) = engines_python() else {
        return;
    };
    let sensors: [(&str, &[&str]); 2] = [
        ("site-a", &["broken.pcap", "healthy.pcap"]),
        (
            "site-b",
            &["cname.pcap", "rotation.pcap", "silent-server.pcap"],
        ),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("logs");
    for (sensor, captures) in sensors {
        log_parquet(captures, &logs, sensor);
    }
    let spark_json = dir.path().join("spark.json");
    run_python(
        &python,
        &[
            "examples/spark/fleet_report.py",
            "--logs",
            &logs.display().to_string(),
            "--expect",
            "samples/contoso.toml",
            "--json",
            &spark_json.display().to_string(),
        ],
    );
    let spark: Value =
        serde_json::from_str(&std::fs::read_to_string(&spark_json).expect("spark json")).unwrap();
    let glob = format!("{}/**/*.parquet", logs.display());
    let duckdb: Value = serde_json::from_str(&run_python(
        &python,
        &[
            "tests/parquet/engines.py",
            "duckdb",
            "examples/duckdb/fleet_report.sql",
            &glob,
        ],
    ))
    .expect("duckdb json");
    for (engine, rows) in [("spark", &spark), ("duckdb", &duckdb)] {
        let rows = rows.as_array().expect("rows");
        let mut checked = 0;
        for (sensor, captures) in sensors {
            let report = analyzed(captures);
            let findings = report["findings"].as_array().unwrap();
            for name in report["names"].as_array().unwrap() {
                let seen = count_of(&name["responses"]) + count_of(&name["queries"]);
                let row = rows
                    .iter()
                    .find(|r| r["sensor"] == sensor && r["name"] == name["name"]);
                match row {
                    Some(row) => {
                        check_row(engine, row, name, findings);
                        checked += 1;
                    }
                    None => assert_eq!(seen, 0, "{engine}: no row for {sensor} {}", name["name"]),
                }
            }
        }
        assert_eq!(
            checked,
            rows.len(),
            "{engine}: rows the analysis does not have"
        );
        assert!(checked >= 4, "{engine}: {checked} rows");
    }
}

fn count_of(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}
