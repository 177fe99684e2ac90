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
mod source;
mod write;

pub use evidence::{EvidenceRef, EvidenceWriter, FrameRing, FrameTap};
pub use files::FileSource;
pub use format::{CaptureReader, FileSummary};
#[cfg(feature = "live")]
pub use live::{default_filter, LiveError, LiveOptions, LiveSource, DEFAULT_BPF};
pub use source::InputPath;
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
    /// Offset of the frame's first byte in [`FrameBatch::bytes`].
    pub start: u32,
    /// Number of bytes captured.
    pub caplen: u32,
    /// Length of the frame on the wire (larger than `caplen` when cut by snaplen).
    pub wire_len: u32,
}

/// A run of frames copied out of a capture, handed to decode workers as one unit.
#[derive(Debug, Default)]
pub struct FrameBatch {
    /// Sequence number of the batch in capture order (set by the reader).
    pub sequence: u64,
    /// Live capture: the wall clock (ns since the Unix epoch) when the batch was handed on, so
    /// the analysis can let time pass on a quiet link. 0 for files.
    pub tick_ns: u64,
    /// The frames' bytes, back to back.
    pub bytes: Vec<u8>,
    /// One entry per frame, in capture order.
    pub frames: Vec<FrameMeta>,
}

impl FrameBatch {
    /// Empties the batch, keeping its allocations for reuse.
    pub fn clear(&mut self) {
        self.tick_ns = 0;
        self.bytes.clear();
        self.frames.clear();
    }

    /// The captured bytes of `frame`.
    pub fn frame_bytes(&self, frame: &FrameMeta) -> &[u8] {
        let start = frame.start as usize;
        &self.bytes[start..start + frame.caplen as usize]
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
    Truncated { needed: usize, available: usize },
    /// A record header claims more bytes than pcdns will buffer.
    RecordTooLarge { claimed: usize },
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
