//! The file capture source: reads the inputs one after the other, in timeline order, into
//! batches. A file that cannot be opened or read to its end is recorded as an error and the
//! next one is read.

use super::{BatchSource, CaptureError, CaptureReader, FileSummary, FrameBatch, InputPath};

/// Reads capture files (or standard input) in order.
pub struct FileSource {
    inputs: Vec<InputPath>,
    /// Index in the run of `inputs[0]`.
    first_file_index: u16,
    progress: Option<fn(u64, u64)>,
    total_bytes: u64,
    done_bytes: u64,
    next_input: usize,
    reader: Option<CaptureReader>,
    files: Vec<FileSummary>,
    errors: Vec<CaptureError>,
}

impl FileSource {
    /// A source over `inputs`; `progress` is called with (bytes done, bytes total).
    pub fn new(inputs: Vec<InputPath>, progress: Option<fn(u64, u64)>) -> Self {
        let total_bytes = inputs.iter().filter_map(InputPath::size_bytes).sum();
        FileSource {
            inputs,
            first_file_index: 0,
            progress,
            total_bytes,
            done_bytes: 0,
            next_input: 0,
            reader: None,
            files: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// A source over the one input `input`, the `file_index`-th of a run in which
    /// `done_bytes` of `total_bytes` were read before it (for progress).
    pub fn single(
        input: InputPath,
        file_index: u16,
        progress: Option<fn(u64, u64)>,
        done_bytes: u64,
        total_bytes: u64,
    ) -> Self {
        FileSource {
            first_file_index: file_index,
            done_bytes,
            total_bytes,
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
            self.done_bytes += input.size_bytes().unwrap_or(0);
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
                progress(
                    self.done_bytes + reader.summary().captured_bytes,
                    self.total_bytes,
                );
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
