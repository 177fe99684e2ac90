//! The Parquet transaction log: the rows of [`rows`] written to hive-style folders by capture
//! hour (`date=YYYY-MM-DD/hour=HH/`), each file named so that no run or sensor overwrites
//! another's, written as `_NAME.partial` in its final folder and renamed to `NAME.parquet` when
//! closed, so engines (which skip names starting with `_`) never read a half file and a crash
//! leaves every closed file whole. Rows are built into Arrow batches on the calling thread and
//! encoded on the [`encoder`]'s thread. Memory stays bounded: at most [`MAX_OPEN_FILES`] files
//! are open, each holding one batch of rows being built and one row group in progress (bounded
//! by rows and bytes), and at most three more batches wait for or are in the encoder. The API
//! is "append a transaction" and "close" (or "roll": close every open file), whatever delivers
//! the transactions.

mod encoder;
mod rows;
mod schema;

pub use rows::RowContext;
pub use schema::{schema, SCHEMA_VERSION, SCHEMA_VERSION_KEY};

use crate::analyze::Transaction;
use crate::expect::Expectations;
use encoder::{Encoder, OpenFile};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use rows::RowBuilder;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Files open at once; a row for another hour closes the file of the earliest hour first.
pub const MAX_OPEN_FILES: usize = 4;
/// Rows turned into one Arrow batch before the writer encodes them.
const BATCH_ROWS: usize = 8192;
const NS_PER_HOUR: u64 = 3_600_000_000_000;

/// Where and how the log is written.
#[derive(Debug, Clone)]
pub struct ParquetSettings {
    /// The folder under which the `date=…/hour=…/` folders go.
    pub dir: PathBuf,
    /// The sensor's name: the `sensor` column, and part of every file name.
    pub sensor: String,
    /// The expectations, when the log has them (the `unexpected` column).
    pub expectations: Option<Expectations>,
    /// Most rows per row group.
    pub row_group_rows: usize,
    /// Most bytes (encoded, estimated) per row group.
    pub row_group_bytes: usize,
}

impl ParquetSettings {
    /// Settings with the default row group bounds (128 Ki rows, 64 MiB).
    pub fn new(dir: PathBuf, sensor: String, expectations: Option<Expectations>) -> Self {
        ParquetSettings {
            dir,
            sensor,
            expectations,
            row_group_rows: 128 * 1024,
            row_group_bytes: 64 << 20,
        }
    }
}

/// Why the log could not be written: the file, and what went wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot write {path}: {message}")]
pub struct ParquetLogError {
    /// The file or folder.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

impl ParquetLogError {
    fn new(path: &Path, error: impl std::fmt::Display) -> Self {
        ParquetLogError {
            path: path.display().to_string(),
            message: error.to_string(),
        }
    }
}

/// The rows of an open file not yet handed to the encoder.
struct HourRows {
    /// Hours since the epoch (capture time) of its rows: the file's key.
    hour: u64,
    /// The file's name while written, for errors.
    partial: PathBuf,
    rows: RowBuilder,
}

/// The Parquet log of one run: transactions in, closed files out. Rows are built here and
/// encoded on the [`Encoder`]'s thread.
pub struct ParquetLog {
    settings: ParquetSettings,
    properties: WriterProperties,
    schema: arrow_schema::SchemaRef,
    /// What every file name of this run starts with: sensor, start time and process.
    run_prefix: String,
    next_sequence: u64,
    open: Vec<HourRows>,
    encoder: Encoder,
    /// Files closed so far.
    closed: u64,
}

impl ParquetLog {
    /// A log writing under `settings.dir` (created if needed); `started_ns`: the run's start
    /// (wall clock), part of every file name.
    pub fn create(settings: ParquetSettings, started_ns: u64) -> Result<Self, ParquetLogError> {
        fs::create_dir_all(&settings.dir).map_err(|e| ParquetLogError::new(&settings.dir, e))?;
        let metadata = vec![
            KeyValue::new(SCHEMA_VERSION_KEY.to_string(), SCHEMA_VERSION.to_string()),
            KeyValue::new("pcdns.sensor".to_string(), settings.sensor.clone()),
        ];
        let zstd = ZstdLevel::try_new(1).map_err(|e| ParquetLogError::new(&settings.dir, e))?;
        let mut properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(zstd))
            .set_max_row_group_row_count(Some(settings.row_group_rows.max(1)))
            .set_max_row_group_bytes(Some(settings.row_group_bytes.max(1)))
            .set_created_by(format!("pcdns {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(metadata));
        for path in schema::distinct_value_columns() {
            let path = ColumnPath::new(path.into_iter().map(String::from).collect());
            properties = properties.set_column_dictionary_enabled(path, false);
        }
        let properties = properties.build();
        let run_prefix = format!(
            "{}-{}-{}",
            file_name_part(&settings.sensor),
            compact_time(started_ns),
            std::process::id()
        );
        let encoder = Encoder::start(&settings.dir)?;
        Ok(ParquetLog {
            settings,
            properties,
            schema: Arc::new(schema()),
            run_prefix,
            next_sequence: 0,
            open: Vec::new(),
            encoder,
            closed: 0,
        })
    }

    /// Appends the row of `transaction`; `file_names` names the inputs by index (as for the
    /// NDJSON log).
    pub fn append(
        &mut self,
        transaction: &Transaction,
        file_names: &[String],
    ) -> Result<(), ParquetLogError> {
        let hour = crate::report::first_ts_ns(transaction) / NS_PER_HOUR;
        let index = match self.open.iter().position(|f| f.hour == hour) {
            Some(index) => index,
            None => self.open_file(hour)?,
        };
        let context = RowContext {
            sensor: &self.settings.sensor,
            file_names,
            expectations: self.settings.expectations.as_ref(),
        };
        let file = &mut self.open[index];
        file.rows.append(transaction, &context);
        if file.rows.len() >= BATCH_ROWS {
            let batch = finish_rows(file)?;
            self.encoder.write(hour, batch)?;
        }
        Ok(())
    }

    /// Opens a file for `hour`, first closing the earliest hour's when too many are open;
    /// returns its index in `open`.
    fn open_file(&mut self, hour: u64) -> Result<usize, ParquetLogError> {
        if self.open.len() >= MAX_OPEN_FILES {
            let earliest = (0..self.open.len())
                .min_by_key(|&i| self.open[i].hour)
                .unwrap_or_default();
            let file = self.open.swap_remove(earliest);
            self.close_file(file)?;
        }
        let folder = self.settings.dir.join(hour_folder(hour));
        fs::create_dir_all(&folder).map_err(|e| ParquetLogError::new(&folder, e))?;
        let (partial, path, file) = loop {
            let name = format!("{}-{:05}", self.run_prefix, self.next_sequence);
            self.next_sequence += 1;
            let path = folder.join(format!("{name}.parquet"));
            let partial = folder.join(format!("_{name}.partial"));
            if path.exists() {
                continue;
            }
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&partial)
            {
                Ok(file) => break (partial, path, file),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(ParquetLogError::new(&partial, e)),
            }
        };
        let fail = |e: &dyn std::fmt::Display| ParquetLogError::new(&partial, e);
        let handle = file.try_clone().map_err(|e| fail(&e))?;
        let writer =
            ArrowWriter::try_new(handle, self.schema.clone(), Some(self.properties.clone()))
                .map_err(|e| fail(&e))?;
        self.encoder.open(OpenFile {
            hour,
            partial: partial.clone(),
            path,
            file,
            writer,
        })?;
        self.open.push(HourRows {
            hour,
            partial,
            rows: RowBuilder::with_capacity(BATCH_ROWS),
        });
        Ok(self.open.len() - 1)
    }

    /// Hands the rest of `file`'s rows to the encoder, and closes it there.
    fn close_file(&mut self, mut file: HourRows) -> Result<(), ParquetLogError> {
        if !file.rows.is_empty() {
            let batch = finish_rows(&mut file)?;
            self.encoder.write(file.hour, batch)?;
        }
        self.encoder.close(file.hour)?;
        self.closed += 1;
        Ok(())
    }

    /// Closes every open file (the next row opens new ones) and waits until they are
    /// written: a roll.
    pub fn roll(&mut self) -> Result<(), ParquetLogError> {
        self.open.sort_by_key(|f| f.hour);
        for file in std::mem::take(&mut self.open) {
            self.close_file(file)?;
        }
        self.encoder.sync()
    }

    /// Closes every open file; returns how many files the log wrote.
    pub fn close(mut self) -> Result<u64, ParquetLogError> {
        self.roll()?;
        self.encoder.finish()?;
        Ok(self.closed)
    }
}

/// The rows of `file` built so far, as one batch (the builder starts again, empty).
fn finish_rows(file: &mut HourRows) -> Result<arrow_array::RecordBatch, ParquetLogError> {
    file.rows
        .finish()
        .map_err(|e| ParquetLogError::new(&file.partial, e))
}

/// A [`ParquetLog`] as the pipeline's log writer: transactions in the log's order, the first
/// failure kept (nothing written after it) and returned by [`ParquetLogWriter::close`]. Used by
/// `pcdns log` and, rolled on the wall clock, by `pcdns monitor --log-parquet`.
pub struct ParquetLogWriter {
    log: ParquetLog,
    /// Input names by file index (files, or the monitor's interfaces).
    file_names: Vec<String>,
    failure: Option<ParquetLogError>,
}

impl ParquetLogWriter {
    /// Writes into `log`; `file_names` names the inputs by index.
    pub fn new(log: ParquetLog, file_names: Vec<String>) -> Self {
        ParquetLogWriter {
            log,
            file_names,
            failure: None,
        }
    }

    /// Closes every open file (see [`ParquetLog::roll`]), unless a write has failed.
    pub fn roll(&mut self) {
        if self.failure.is_none() {
            self.failure = self.log.roll().err();
        }
    }

    /// The first failure, if a write or a roll has failed.
    pub fn failure(&self) -> Option<&ParquetLogError> {
        self.failure.as_ref()
    }

    /// Closes every open file; returns how many files the log wrote, or the first failure.
    pub fn close(self) -> Result<u64, ParquetLogError> {
        match self.failure {
            Some(failure) => Err(failure),
            None => self.log.close(),
        }
    }
}

impl crate::pipeline::LogWriter<Vec<Transaction>> for ParquetLogWriter {
    fn write(&mut self, chunks: &[&Vec<Transaction>], order: &[(usize, usize)]) {
        for &(chunk, entry) in order {
            if self.failure.is_some() {
                return;
            }
            self.failure = self
                .log
                .append(&chunks[chunk][entry], &self.file_names)
                .err();
        }
    }
}

/// `date=YYYY-MM-DD/hour=HH` of an hour since the epoch.
fn hour_folder(hour: u64) -> PathBuf {
    let seconds = i64::try_from(hour.saturating_mul(3600)).unwrap_or(0);
    let time = time::OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let date = time::macros::format_description!("[year]-[month]-[day]");
    PathBuf::from(format!("date={}", time.format(&date).unwrap_or_default()))
        .join(format!("hour={:02}", time.hour()))
}

/// A wall-clock time as `YYYYMMDDTHHMMSS.nnnnnnnnnZ`, for file names.
fn compact_time(ns: u64) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:9]Z"
    );
    time.format(&format).unwrap_or_default()
}

/// `text` with every character but ASCII letters, digits, `.` and `-` replaced by `_`, and a
/// leading `_` or `.` too (names starting with them are hidden from engines).
fn file_name_part(text: &str) -> String {
    let safe: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    match safe.strip_prefix(['_', '.']) {
        Some(rest) => format!("s{rest}"),
        None if safe.is_empty() => "sensor".to_string(),
        None => safe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_folders_are_hive_partitions_in_utc() {
        // 2026-11-25T11:21:27Z
        let ns = 1_795_605_687_000_000_000u64;
        assert_eq!(
            hour_folder(ns / NS_PER_HOUR),
            PathBuf::from("date=2026-11-25/hour=11")
        );
        assert_eq!(hour_folder(0), PathBuf::from("date=1970-01-01/hour=00"));
    }

    #[test]
    fn columns_without_dictionary_are_leaves_of_the_schema() {
        let parquet = parquet::arrow::ArrowSchemaConverter::new()
            .convert(&schema())
            .expect("parquet schema");
        let leaves: Vec<Vec<String>> = parquet
            .columns()
            .iter()
            .map(|c| c.path().parts().to_vec())
            .collect();
        for path in schema::distinct_value_columns() {
            let path: Vec<String> = path.into_iter().map(String::from).collect();
            assert!(leaves.contains(&path), "{path:?} in {leaves:?}");
        }
    }

    #[test]
    fn a_failure_while_encoding_is_the_failure_of_the_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = ParquetSettings::new(dir.path().to_path_buf(), "s".into(), None);
        let mut log = ParquetLog::create(settings, 0).expect("log");
        let transaction = Transaction::with_id(1);
        log.append(&transaction, &[]).expect("append");
        // The file's folder goes: renaming the closed file fails (on the encoder's thread).
        let hour = crate::report::first_ts_ns(&transaction) / NS_PER_HOUR;
        fs::remove_dir_all(dir.path().join(hour_folder(hour))).expect("remove");
        let error = log.close().expect_err("the rename fails");
        assert!(error.path.ends_with(".partial"), "{error}");
    }

    #[test]
    fn sensor_names_become_safe_file_name_parts() {
        assert_eq!(file_name_part("site-a.corp"), "site-a.corp");
        assert_eq!(file_name_part("a/b c"), "a_b_c");
        assert_eq!(file_name_part("_hidden"), "shidden");
        assert_eq!(file_name_part(".."), "s.");
        assert_eq!(file_name_part(""), "sensor");
    }
}
