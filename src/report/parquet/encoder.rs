//! The Parquet log's encoding thread. The calling thread builds rows into Arrow batches and
//! hands each batch here, so that encoding and compressing it overlaps the analysis of the
//! frames after it. Jobs pass through a bounded queue in order (the calling thread waits when
//! [`QUEUED_JOBS`] are waiting), so the files are the same as if written in place. After the
//! first failure the thread writes nothing more; the calling thread learns of it at its next
//! job, at the latest when it rolls or closes the log.

use super::ParquetLogError;
use arrow_array::RecordBatch;
use crossbeam_channel::{Receiver, Sender};
use parquet::arrow::ArrowWriter;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// Jobs waiting for the encoder at most (a job holds at most one batch of rows).
const QUEUED_JOBS: usize = 2;

/// A file being written, named by the hour of its rows.
pub(super) struct OpenFile {
    /// Hours since the epoch (capture time) of its rows.
    pub hour: u64,
    /// Its name while written.
    pub partial: PathBuf,
    /// Its name once closed.
    pub path: PathBuf,
    /// The file itself, to sync before the rename.
    pub file: File,
    /// The writer, over a handle of the same file.
    pub writer: ArrowWriter<File>,
}

impl OpenFile {
    fn fail(&self, error: impl std::fmt::Display) -> ParquetLogError {
        ParquetLogError::new(&self.partial, error)
    }

    /// Encodes `batch` (a row group is written out when full).
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetLogError> {
        self.writer.write(batch).map_err(|e| self.fail(e))
    }

    /// Writes the rest and the footer, syncs and renames the file to its visible name.
    fn close(self) -> Result<(), ParquetLogError> {
        let fail = |e: &dyn std::fmt::Display| ParquetLogError::new(&self.partial, e);
        self.writer.close().map_err(|e| fail(&e))?;
        self.file.sync_all().map_err(|e| fail(&e))?;
        fs::rename(&self.partial, &self.path).map_err(|e| fail(&e))
    }
}

/// What the encoder does, in the order given.
enum Job {
    /// Start writing a file (boxed: a writer is large, the other jobs small).
    Open(Box<OpenFile>),
    /// Encode rows into the open file of `hour`.
    Write { hour: u64, batch: RecordBatch },
    /// Finish the open file of `hour`.
    Close { hour: u64 },
    /// Answer once every job before is done.
    Sync(Sender<()>),
}

/// The encoding thread, seen from the calling thread.
pub(super) struct Encoder {
    jobs: Sender<Job>,
    /// The thread's failure, sent once when a job fails (the thread then only answers syncs).
    failures: Receiver<ParquetLogError>,
    /// The failure, once received.
    failure: Option<ParquetLogError>,
    thread: JoinHandle<()>,
    /// The log's folder, for errors of the thread itself.
    dir: PathBuf,
}

impl Encoder {
    /// Starts the thread for the log under `dir`.
    pub fn start(dir: &Path) -> Result<Self, ParquetLogError> {
        let (jobs, queue) = crossbeam_channel::bounded(QUEUED_JOBS);
        let (failed, failures) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("parquet-encoder".into())
            .spawn(move || encode(&queue, &failed))
            .map_err(|e| ParquetLogError::new(dir, e))?;
        Ok(Encoder {
            jobs,
            failures,
            failure: None,
            thread,
            dir: dir.to_path_buf(),
        })
    }

    /// Starts writing `file`.
    pub fn open(&mut self, file: OpenFile) -> Result<(), ParquetLogError> {
        self.send(Job::Open(Box::new(file)))
    }

    /// Encodes `batch` into the open file of `hour`.
    pub fn write(&mut self, hour: u64, batch: RecordBatch) -> Result<(), ParquetLogError> {
        self.send(Job::Write { hour, batch })
    }

    /// Finishes the open file of `hour`.
    pub fn close(&mut self, hour: u64) -> Result<(), ParquetLogError> {
        self.send(Job::Close { hour })
    }

    /// Waits until every job given so far is done; the failure, if one failed.
    pub fn sync(&mut self) -> Result<(), ParquetLogError> {
        let (done, wait) = crossbeam_channel::bounded(1);
        self.send(Job::Sync(done))?;
        wait.recv().map_err(|_| self.gone())?;
        self.check()
    }

    /// Ends the thread once every job given is done; the failure, if one failed.
    pub fn finish(mut self) -> Result<(), ParquetLogError> {
        self.sync()?;
        let Encoder {
            jobs, thread, dir, ..
        } = self;
        drop(jobs);
        thread
            .join()
            .map_err(|_| ParquetLogError::new(&dir, "the Parquet encoder thread panicked"))
    }

    /// Queues `job`, unless the thread has failed.
    fn send(&mut self, job: Job) -> Result<(), ParquetLogError> {
        self.check()?;
        self.jobs.send(job).map_err(|_| self.gone())
    }

    /// The thread's failure, if it has sent one.
    fn check(&mut self) -> Result<(), ParquetLogError> {
        if let Ok(failure) = self.failures.try_recv() {
            self.failure = Some(failure);
        }
        self.failure.clone().map_or(Ok(()), Err)
    }

    /// The error of a thread that ended before its queue closed (it panicked).
    fn gone(&self) -> ParquetLogError {
        ParquetLogError::new(&self.dir, "the Parquet encoder thread ended unexpectedly")
    }
}

/// The thread: does the jobs in order until the queue closes. After a failure (sent on
/// `failed`) it writes nothing more and only answers syncs.
fn encode(queue: &Receiver<Job>, failed: &Sender<ParquetLogError>) {
    let mut open: Vec<OpenFile> = Vec::new();
    let mut failing = false;
    for job in queue {
        let done = match job {
            Job::Sync(done) => {
                // The caller waits for this answer; it may have gone (nothing to do then).
                let _ = done.send(());
                Ok(())
            }
            _ if failing => Ok(()),
            Job::Open(file) => {
                open.push(*file);
                Ok(())
            }
            Job::Write { hour, batch } => match open.iter_mut().find(|f| f.hour == hour) {
                Some(file) => file.write(&batch),
                None => Ok(()),
            },
            Job::Close { hour } => match open.iter().position(|f| f.hour == hour) {
                Some(index) => open.swap_remove(index).close(),
                None => Ok(()),
            },
        };
        if let Err(failure) = done {
            failing = true;
            open.clear();
            // Sent once: the channel holds one, and nothing else sends.
            let _ = failed.send(failure);
        }
    }
}
