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
    log: crate::report::parquet::ParquetLog,
    roll_every: std::time::Duration,
    next_roll: std::time::Instant,
    /// The interfaces, as the frame references name them.
    sources: Vec<String>,
    /// The first write that failed: the log writes nothing more, and the run ends.
    failure: Option<String>,
}

#[cfg(feature = "parquet")]
impl LiveLog {
    /// Opens the log of a run that captures on `sources`.
    pub fn open(
        config: &LiveParquetLog,
        expectations: Option<Expectations>,
        sources: Vec<String>,
    ) -> Result<Self, CommandError> {
        use crate::report::parquet::{ParquetLog, ParquetSettings};
        let sensor = config.sensor.clone().unwrap_or_else(crate::job::host_name);
        let settings = ParquetSettings::new(config.dir.clone(), sensor, expectations);
        let log = ParquetLog::create(settings, crate::job::wall_clock_ns())
            .map_err(|e| CommandError::Monitor(e.to_string()))?;
        let roll_every = std::time::Duration::from_nanos(config.roll_ns);
        Ok(LiveLog {
            log,
            roll_every,
            next_roll: std::time::Instant::now() + roll_every,
            sources,
            failure: None,
        })
    }

    /// Appends `transaction` (nothing after a failure).
    pub fn append(&mut self, transaction: &Transaction) {
        if self.failure.is_none() {
            if let Err(e) = self.log.append(transaction, &self.sources) {
                self.failure = Some(e.to_string());
            }
        }
    }

    /// Closes the open files when the roll is due; false once a write has failed.
    pub fn roll_if_due(&mut self) -> bool {
        let now = std::time::Instant::now();
        if self.failure.is_none() && now >= self.next_roll {
            self.next_roll = now + self.roll_every;
            if let Err(e) = self.log.roll() {
                self.failure = Some(e.to_string());
            }
        }
        self.failure.is_none()
    }

    /// Closes every open file.
    pub fn close(self) -> Result<(), CommandError> {
        if let Some(failure) = self.failure {
            return Err(CommandError::Monitor(failure));
        }
        self.log
            .close()
            .map(drop)
            .map_err(|e| CommandError::Monitor(e.to_string()))
    }
}

/// The run's log as the pipeline's log writer (the monitor's progress callback rolls it too).
pub struct SharedLiveLog<'a>(pub &'a std::cell::RefCell<LiveLog>);

impl crate::pipeline::LogWriter<Vec<Transaction>> for SharedLiveLog<'_> {
    fn write(&mut self, chunks: &[&Vec<Transaction>], order: &[(usize, usize)]) {
        let mut log = self.0.borrow_mut();
        for &(chunk, entry) in order {
            log.append(&chunks[chunk][entry]);
        }
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
    pub fn append(&mut self, _: &Transaction) {
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
