//! Evidence for live findings: a tap that keeps the most recent captured frames in a bounded
//! ring (by count and bytes), and a writer that copies the frames behind findings into rotating,
//! size-capped pcapng files that Wireshark opens (`evidence-000001.pcapng`, ...; the oldest
//! files are deleted beyond the cap).

use super::{BatchSource, CaptureWriter, FrameBatch, SourceSummary, WriteFormat};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A frame kept for evidence.
#[derive(Debug, Clone)]
struct KeptFrame {
    file_index: u16,
    frame_number: u64,
    ts_ns: u64,
    link_type: u32,
    bytes: Vec<u8>,
}

/// The most recent frames, bounded by count and bytes (oldest dropped first).
#[derive(Debug)]
pub struct FrameRing {
    frames: VecDeque<KeptFrame>,
    bytes: usize,
    max_frames: usize,
    max_bytes: usize,
}

impl FrameRing {
    /// A ring holding at most `max_frames` frames and `max_bytes` bytes.
    pub fn new(max_frames: usize, max_bytes: usize) -> Self {
        FrameRing {
            frames: VecDeque::new(),
            bytes: 0,
            max_frames,
            max_bytes,
        }
    }

    fn keep(&mut self, batch: &FrameBatch) {
        for frame in &batch.frames {
            let bytes = batch.frame_bytes(frame).to_vec();
            self.bytes += bytes.len();
            self.frames.push_back(KeptFrame {
                file_index: frame.file_index,
                frame_number: frame.frame_number,
                ts_ns: frame.ts_ns,
                link_type: frame.link_type,
                bytes,
            });
            while self.frames.len() > self.max_frames || self.bytes > self.max_bytes {
                match self.frames.pop_front() {
                    Some(old) => self.bytes -= old.bytes.len(),
                    None => break,
                }
            }
        }
    }

    fn find(&self, file_index: u16, frame_number: u64) -> Option<&KeptFrame> {
        self.frames
            .iter()
            .rev()
            .find(|f| f.file_index == file_index && f.frame_number == frame_number)
    }
}

/// A capture source that copies every frame it hands on into a shared [`FrameRing`].
pub struct FrameTap<'s> {
    inner: &'s mut dyn BatchSource,
    ring: Arc<Mutex<FrameRing>>,
}

impl<'s> FrameTap<'s> {
    /// Taps `inner` into `ring`.
    pub fn new(inner: &'s mut dyn BatchSource, ring: Arc<Mutex<FrameRing>>) -> Self {
        FrameTap { inner, ring }
    }
}

impl BatchSource for FrameTap<'_> {
    fn next_batch(&mut self, batch: &mut FrameBatch, max_frames: usize, max_bytes: usize) -> bool {
        let more = self.inner.next_batch(batch, max_frames, max_bytes);
        self.ring
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keep(batch);
        more
    }

    fn finish(&mut self) -> SourceSummary {
        self.inner.finish()
    }
}

/// Where a frame was written: the evidence file's name and the frame's number in it (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRef {
    /// File name inside the evidence directory.
    pub file: String,
    /// Frame number in that file, as Wireshark numbers it.
    pub frame: u64,
}

struct OpenEvidence {
    writer: CaptureWriter<BufWriter<File>>,
    name: String,
    link_type: u32,
    frames: u64,
    bytes: u64,
}

/// Writes evidence frames into rotating pcapng files in one directory.
pub struct EvidenceWriter {
    dir: PathBuf,
    max_file_bytes: u64,
    max_files: usize,
    next_index: u64,
    written: VecDeque<PathBuf>,
    current: Option<OpenEvidence>,
}

impl EvidenceWriter {
    /// Evidence in `dir` (created if needed): files of up to `max_file_bytes`, at most
    /// `max_total_bytes` in all (at least one file).
    pub fn new(dir: PathBuf, max_file_bytes: u64, max_total_bytes: u64) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(EvidenceWriter {
            dir,
            max_file_bytes,
            max_files: usize::try_from(max_total_bytes / max_file_bytes.max(1))
                .unwrap_or(usize::MAX)
                .max(1),
            next_index: 1,
            written: VecDeque::new(),
            current: None,
        })
    }

    fn rotate(&mut self, link_type: u32) -> io::Result<()> {
        if let Some(done) = self.current.take() {
            done.writer.finish()?;
        }
        // Files of earlier runs in the directory are left alone; names continue past them.
        let (name, path) = loop {
            let name = format!("evidence-{:06}.pcapng", self.next_index);
            self.next_index += 1;
            let path = self.dir.join(&name);
            if !path.exists() {
                break (name, path);
            }
        };
        let file = BufWriter::new(File::create(&path)?);
        self.written.push_back(path);
        while self.written.len() > self.max_files {
            if let Some(old) = self.written.pop_front() {
                let _ = std::fs::remove_file(old);
            }
        }
        self.current = Some(OpenEvidence {
            writer: CaptureWriter::with_link_type(file, WriteFormat::Pcapng, link_type)?,
            name,
            link_type,
            frames: 0,
            bytes: 0,
        });
        Ok(())
    }

    /// Copies frame `frame_number` of input `file_index` from `ring` into the evidence files.
    /// None when the frame has already left the ring.
    pub fn write(
        &mut self,
        ring: &Mutex<FrameRing>,
        file_index: u16,
        frame_number: u64,
    ) -> io::Result<Option<EvidenceRef>> {
        let ring = ring.lock().unwrap_or_else(|e| e.into_inner());
        let Some(frame) = ring.find(file_index, frame_number) else {
            return Ok(None);
        };
        let full = self
            .current
            .as_ref()
            .is_none_or(|c| c.link_type != frame.link_type || c.bytes >= self.max_file_bytes);
        if full {
            self.rotate(frame.link_type)?;
        }
        let Some(current) = self.current.as_mut() else {
            return Ok(None);
        };
        current.writer.write_frame(frame.ts_ns, &frame.bytes)?;
        current.writer.flush()?;
        current.frames += 1;
        current.bytes += 32 + frame.bytes.len() as u64;
        Ok(Some(EvidenceRef {
            file: current.name.clone(),
            frame: current.frames,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CaptureReader, FrameMeta, InputPath};

    fn batch(numbers: std::ops::RangeInclusive<u64>) -> FrameBatch {
        let mut batch = FrameBatch::default();
        for n in numbers {
            let meta = FrameMeta {
                ts_ns: n * 1000,
                file_index: 0,
                frame_number: n,
                link_type: 1,
                start: 0,
                caplen: 0,
                wire_len: 60,
            };
            batch.push_copied(meta, &[n as u8; 60]);
        }
        batch
    }

    #[test]
    fn the_ring_keeps_the_latest_frames_within_its_bounds() {
        let mut ring = FrameRing::new(3, 1 << 20);
        ring.keep(&batch(1..=5));
        assert!(ring.find(0, 2).is_none());
        assert_eq!(ring.find(0, 5).map(|f| f.bytes[0]), Some(5));
        let mut small = FrameRing::new(100, 130);
        small.keep(&batch(1..=5));
        assert_eq!(small.frames.len(), 2);
    }

    #[test]
    fn evidence_rotates_keeps_the_cap_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Mutex::new(FrameRing::new(100, 1 << 20));
        ring.lock().unwrap().keep(&batch(1..=10));
        // Files of about two frames, at most two files.
        let mut writer = EvidenceWriter::new(dir.path().to_path_buf(), 150, 300).unwrap();
        let refs: Vec<EvidenceRef> = (1..=10)
            .map(|n| writer.write(&ring, 0, n).unwrap().unwrap())
            .collect();
        assert_eq!(
            refs[0],
            EvidenceRef {
                file: "evidence-000001.pcapng".into(),
                frame: 1
            }
        );
        assert_eq!(refs[1].frame, 2);
        assert_eq!(refs[9].file, "evidence-000005.pcapng");
        assert!(writer.write(&ring, 0, 99).unwrap().is_none());
        drop(writer);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["evidence-000004.pcapng", "evidence-000005.pcapng"]);
        let path = dir.path().join("evidence-000005.pcapng");
        let mut reader = CaptureReader::open(&InputPath::File(path), 0).unwrap();
        let mut read = FrameBatch::default();
        assert_eq!(reader.fill_batch(&mut read, 10, 1 << 20).unwrap(), 2);
        assert_eq!(read.frame_bytes(&read.frames[1]), [10u8; 60]);
    }
}
