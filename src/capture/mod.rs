//! Capture stage: the only code that reads packets. It turns capture files (pcap, pcapng,
//! optionally gzip- or zstd-compressed, or standard input) and, with the `live` feature, network
//! interfaces (libpcap) into [`FrameBatch`]es of raw frames with their metadata, behind one
//! trait, [`BatchSource`]. It also writes capture files (synthetic captures, evidence). It never
//! decodes protocols above the capture format.

mod evidence;
mod files;
mod format;
#[cfg(feature = "live")]
mod live;
mod segments;
mod source;
mod write;

pub use evidence::{EvidenceRef, EvidenceWriter, FrameRing, FrameTap};
pub use files::FileSource;
pub use format::{CaptureReader, FileSummary};
#[cfg(feature = "live")]
pub use live::{default_filter, LiveError, LiveOptions, LiveSource, DEFAULT_BPF};
pub use segments::{MappedPcap, SegmentWalk, WalkEnd};
pub use source::{InputPath, ProgressFn, ReadProgress};
pub use write::{CaptureWriter, WriteFormat};

/// A capture stage: files or interfaces, read into batches by the pipeline's reader.
pub trait BatchSource: Send {
    /// Appends the next frames to the empty `batch` (at most `max_frames` frames or about
    /// `max_bytes` bytes). A live source may return with no frames but a wall-clock tick
    /// ([`FrameBatch::tick_ns`]) so that timeouts fire on a quiet link. Returns false when the
    /// source has ended (the batch may still hold its last frames).
    fn next_batch(&mut self, batch: &mut FrameBatch, max_frames: usize, max_bytes: usize) -> bool;

    /// Ends the source: what was read, and what went wrong.
    fn finish(&mut self) -> SourceSummary;
}

/// What a capture source read, once it ended.
#[derive(Debug, Clone, Default)]
pub struct SourceSummary {
    /// One summary per input file that could be opened.
    pub files: Vec<FileSummary>,
    /// Interfaces captured on, with their libpcap statistics.
    pub interfaces: Vec<InterfaceHealth>,
    /// Inputs that could not be read (to their end), or the interface error that ended a capture.
    pub errors: Vec<CaptureError>,
}

/// Capture health of one interface: libpcap's counters since the capture opened.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InterfaceHealth {
    /// Interface name.
    pub interface: String,
    /// Packets that passed the filter and reached pcdns (counted by pcdns).
    pub received: u64,
    /// Packets dropped by the kernel because pcdns did not read fast enough (libpcap `ps_drop`).
    pub kernel_dropped: u64,
    /// Packets dropped by the interface or its driver (libpcap `ps_ifdrop`).
    pub interface_dropped: u64,
    /// Seconds since the capture opened.
    pub seconds: f64,
}

use std::fmt;
use std::sync::Arc;

/// The largest single record (pcap record or pcapng block) pcdns will buffer. A header that
/// claims more is reported as corrupt instead of allocating what it claims.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// Where one frame's bytes live inside its batch, and what the capture said about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMeta {
    /// Capture timestamp in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Which input file (index into the run's input list).
    pub file_index: u16,
    /// Frame number within its file, counted from 1 as Wireshark numbers them.
    pub frame_number: u64,
    /// Link-layer header type (LINKTYPE_* value) of this frame.
    pub link_type: u32,
    /// Offset of the frame's first byte in the batch's bytes: [`FrameBatch::bytes`], or the
    /// mapped file when [`FrameBatch::mapped`] is set.
    pub start: u64,
    /// Number of bytes captured.
    pub caplen: u32,
    /// Length of the frame on the wire (larger than `caplen` when cut by snaplen).
    pub wire_len: u32,
}

/// A run of frames from a capture, handed to decode workers as one unit. Frames of a
/// memory-mapped file are not copied: the batch holds the map and points into it. Frames of a
/// stream or an interface are copied into [`FrameBatch::bytes`]. One batch never mixes the two.
#[derive(Debug, Default)]
pub struct FrameBatch {
    /// Sequence number of the batch in capture order (set by the reader).
    pub sequence: u64,
    /// Live capture: the wall clock (ns since the Unix epoch) when the batch was handed on, so
    /// the analysis can let time pass on a quiet link. 0 for files.
    pub tick_ns: u64,
    /// Copied frames' bytes, back to back.
    pub bytes: Vec<u8>,
    /// The mapped capture file the frames point into, if they were not copied.
    pub mapped: Option<Arc<memmap2::Mmap>>,
    /// Captured bytes of all frames in the batch (copied or mapped).
    pub frame_bytes_total: usize,
    /// One entry per frame, in capture order.
    pub frames: Vec<FrameMeta>,
}

impl FrameBatch {
    /// Empties the batch, keeping its allocations for reuse.
    pub fn clear(&mut self) {
        self.tick_ns = 0;
        self.bytes.clear();
        self.mapped = None;
        self.frame_bytes_total = 0;
        self.frames.clear();
    }

    /// The captured bytes of `frame`.
    pub fn frame_bytes(&self, frame: &FrameMeta) -> &[u8] {
        let start = frame.start as usize;
        let backing: &[u8] = match &self.mapped {
            Some(map) => map,
            None => &self.bytes,
        };
        &backing[start..start + frame.caplen as usize]
    }

    /// Appends a frame by copying `data` (its `start` is set here). An empty frame fits any
    /// batch; others only batches without mapped frames.
    pub fn push_copied(&mut self, mut meta: FrameMeta, data: &[u8]) {
        debug_assert!(
            data.is_empty() || self.mapped.is_none(),
            "a batch never mixes copied and mapped frames"
        );
        meta.start = self.bytes.len() as u64;
        meta.caplen = data.len() as u32;
        self.bytes.extend_from_slice(data);
        self.frame_bytes_total += data.len();
        self.frames.push(meta);
    }

    /// Appends a frame that lies at `meta.start` in `map`, without copying it. The batch must
    /// be empty or already point into the same map.
    pub fn push_mapped(&mut self, map: &Arc<memmap2::Mmap>, meta: FrameMeta) {
        debug_assert!(
            self.bytes.is_empty(),
            "a batch never mixes copied and mapped frames"
        );
        if self.mapped.is_none() {
            self.mapped = Some(Arc::clone(map));
        }
        debug_assert!(self.mapped.as_ref().is_some_and(|m| Arc::ptr_eq(m, map)));
        self.frame_bytes_total += meta.caplen as usize;
        self.frames.push(meta);
    }
}

/// Why a capture file could not be read (further).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureProblem {
    /// The file could not be opened or read.
    Io(String),
    /// The first bytes are neither pcap, pcapng, gzip nor zstd.
    UnknownFormat([u8; 4]),
    /// The file ends in the middle of a record.
    Truncated {
        /// Bytes the record needs.
        needed: usize,
        /// Bytes left in the file.
        available: usize,
    },
    /// A record header claims more bytes than pcdns will buffer.
    RecordTooLarge {
        /// The length in the record header.
        claimed: usize,
    },
    /// The format parser rejected the bytes at this offset.
    Corrupt(String),
}

/// A capture source error: the file, the byte offset (in the decompressed stream) and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureError {
    /// The input as the user named it.
    pub file: String,
    /// Byte offset where the problem starts (0 for open errors).
    pub offset: u64,
    /// What went wrong.
    pub problem: CaptureProblem,
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            CaptureProblem::Io(message) => write!(f, "{}: {}", self.file, message),
            CaptureProblem::UnknownFormat(magic) => write!(
                f,
                "{}: not a capture file: first bytes {:02x} {:02x} {:02x} {:02x} are not pcap, pcapng, gzip or zstd",
                self.file, magic[0], magic[1], magic[2], magic[3]
            ),
            CaptureProblem::Truncated { needed, available } => write!(
                f,
                "{}: truncated at byte offset {}: the record there needs {} bytes but the file ends after {}",
                self.file, self.offset, needed, available
            ),
            CaptureProblem::RecordTooLarge { claimed } => write!(
                f,
                "{}: corrupt at byte offset {}: the record there claims {} bytes (limit {})",
                self.file, self.offset, claimed, MAX_RECORD_BYTES
            ),
            CaptureProblem::Corrupt(what) => {
                write!(f, "{}: corrupt at byte offset {}: {}", self.file, self.offset, what)
            }
        }
    }
}

impl std::error::Error for CaptureError {}
