//! `monitor --log-parquet`: a live run's transactions into the Parquet log
//! ([`crate::report::parquet`]), its files closed every `--log-roll` (wall clock) and at the
//! end of each run (SIGINT, SIGTERM, SIGHUP). Built without the `parquet` feature, opening it
//! says how to get it.

use crate::analyze::Transaction;
use crate::cli::LiveParquetLog;
use crate::expect::Expectations;
use crate::job::CommandError;

/// The Parquet log of one monitor run.
#[cfg(feature = "parquet")]
pub struct LiveLog {
    /// Keeps the first failure: the log writes nothing more, and the run ends.
    writer: crate::report::parquet::ParquetLogWriter,
    roll_every: std::time::Duration,
    next_roll: std::time::Instant,
}

#[cfg(feature = "parquet")]
impl LiveLog {
    /// Opens the log of a run that captures on `sources` (the interfaces, as the frame
    /// references name them).
    pub fn open(
        config: &LiveParquetLog,
        expectations: Option<Expectations>,
        sources: Vec<String>,
    ) -> Result<Self, CommandError> {
        use crate::report::parquet::{ParquetLog, ParquetLogWriter, ParquetSettings};
        let sensor = config.sensor.clone().unwrap_or_else(crate::job::host_name);
        let settings = ParquetSettings::new(config.dir.clone(), sensor, expectations);
        let log = ParquetLog::create(settings, crate::job::wall_clock_ns())
            .map_err(|e| CommandError::Monitor(e.to_string()))?;
        let roll_every = std::time::Duration::from_nanos(config.roll_ns);
        Ok(LiveLog {
            writer: ParquetLogWriter::new(log, sources),
            roll_every,
            next_roll: std::time::Instant::now() + roll_every,
        })
    }

    /// Writes the entries `order` names (nothing after a failure).
    fn write(&mut self, chunks: &[&Vec<Transaction>], order: &[(usize, usize)]) {
        crate::pipeline::LogWriter::write(&mut self.writer, chunks, order);
    }

    /// Closes the open files when the roll is due; false once a write has failed.
    pub fn roll_if_due(&mut self) -> bool {
        let now = std::time::Instant::now();
        if now >= self.next_roll {
            self.next_roll = now + self.roll_every;
            self.writer.roll();
        }
        self.writer.failure().is_none()
    }

    /// Closes every open file.
    pub fn close(self) -> Result<(), CommandError> {
        self.writer
            .close()
            .map(drop)
            .map_err(|e| CommandError::Monitor(e.to_string()))
    }
}

/// The run's log as the pipeline's log writer (the monitor's progress callback rolls it too).
pub struct SharedLiveLog<'a>(pub &'a std::cell::RefCell<LiveLog>);

impl crate::pipeline::LogWriter<Vec<Transaction>> for SharedLiveLog<'_> {
    fn write(&mut self, chunks: &[&Vec<Transaction>], order: &[(usize, usize)]) {
        self.0.borrow_mut().write(chunks, order);
    }
}

/// Without the `parquet` feature there is no log to hold.
#[cfg(not(feature = "parquet"))]
pub struct LiveLog(std::convert::Infallible);

#[cfg(not(feature = "parquet"))]
impl LiveLog {
    /// Says how to build with Parquet output.
    pub fn open(
        _: &LiveParquetLog,
        _: Option<Expectations>,
        _: Vec<String>,
    ) -> Result<Self, CommandError> {
        Err(CommandError::ParquetNotBuilt)
    }

    /// Never called: no log exists.
    fn write(&mut self, _: &[&Vec<Transaction>], _: &[(usize, usize)]) {
        match self.0 {}
    }

    /// Never called: no log exists.
    pub fn roll_if_due(&mut self) -> bool {
        match self.0 {}
    }

    /// Never called: no log exists.
    pub fn close(self) -> Result<(), CommandError> {
        match self.0 {}
    }
}
