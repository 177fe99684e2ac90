//! The file capture source: reads the inputs one after the other, in timeline order, into
//! batches. A file that cannot be opened or read to its end is recorded as an error and the
//! next one is read.

use super::{
    BatchSource, CaptureError, CaptureReader, FileSummary, FrameBatch, InputPath, ProgressFn,
    ReadProgress,
};

/// Reads capture files (or standard input) in order.
pub struct FileSource {
    inputs: Vec<InputPath>,
    /// Index in the run of `inputs[0]`.
    first_file_index: u16,
    progress: Option<ProgressFn>,
    /// Progress of the run before the current input.
    done: ReadProgress,
    next_input: usize,
    reader: Option<CaptureReader>,
    files: Vec<FileSummary>,
    errors: Vec<CaptureError>,
}

impl FileSource {
    /// A source over `inputs`; `progress` is called after each batch.
    pub fn new(inputs: Vec<InputPath>, progress: Option<ProgressFn>) -> Self {
        FileSource {
            done: ReadProgress::start(&inputs),
            inputs,
            first_file_index: 0,
            progress,
            next_input: 0,
            reader: None,
            files: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// A source over the one input `input`, the `file_index`-th of a run that had come to
    /// `done` before it (for progress).
    pub fn single(
        input: InputPath,
        file_index: u16,
        progress: Option<ProgressFn>,
        done: ReadProgress,
    ) -> Self {
        FileSource {
            first_file_index: file_index,
            done,
            ..FileSource::new(vec![input], progress)
        }
    }

    /// Opens the next input that can be opened; false when none is left.
    fn open_next(&mut self) -> bool {
        while let Some(input) = self.inputs.get(self.next_input) {
            let file_index = self.first_file_index + self.next_input as u16;
            self.next_input += 1;
            match CaptureReader::open(input, file_index) {
                Ok(reader) => {
                    self.reader = Some(reader);
                    return true;
                }
                Err(error) => self.errors.push(error),
            }
        }
        false
    }

    /// Closes the current input and records its summary.
    fn close_current(&mut self) {
        if let Some(reader) = self.reader.take() {
            let input = &self.inputs[self.next_input - 1];
            self.done = self.done.past(input, reader.summary());
            self.files.push(reader.summary().clone());
        }
    }
}

impl BatchSource for FileSource {
    fn next_batch(&mut self, batch: &mut FrameBatch, max_frames: usize, max_bytes: usize) -> bool {
        loop {
            if self.reader.is_none() && !self.open_next() {
                return false;
            }
            let Some(reader) = self.reader.as_mut() else {
                return false;
            };
            let filled = reader.fill_batch(batch, max_frames, max_bytes);
            if let Some(progress) = self.progress {
                let summary = reader.summary();
                progress(self.done.plus(summary.captured_bytes, summary.packets));
            }
            match filled {
                Ok(0) => self.close_current(),
                Ok(_) => return true,
                Err(error) => {
                    self.errors.push(error);
                    self.close_current();
                }
            }
            if !batch.frames.is_empty() {
                return true;
            }
        }
    }

    fn finish(&mut self) -> super::SourceSummary {
        self.close_current();
        super::SourceSummary {
            files: std::mem::take(&mut self.files),
            errors: std::mem::take(&mut self.errors),
            ..Default::default()
        }
    }
}
