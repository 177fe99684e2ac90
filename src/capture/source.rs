//! Byte sources for capture files: a memory-mapped regular file, or a stream (standard input,
//! gzip, zstd) read through one large reusable buffer. Compression is detected by magic bytes,
//! never by file name. Offsets are counted in the decompressed stream.

use super::{CaptureError, CaptureProblem, MAX_RECORD_BYTES};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

const STREAM_BUFFER_BYTES: usize = 4 * 1024 * 1024;
/// Consumed map bytes handed back to the kernel at a time.
const RELEASE_STEP_BYTES: usize = 32 * 1024 * 1024;
/// How far ahead of the read position mapped bytes are prefetched into the CPU cache: frames
/// are not copied, so nothing else streams them in, and reading record headers one by one would
/// wait on memory for each.
pub(super) const PREFETCH_DISTANCE_BYTES: usize = 8 * 1024;
/// Map bytes kept behind the read position: batches point into the map (frames are not
/// copied), and the batches still queued or being decoded lie in this stretch.
const RELEASE_MARGIN_BYTES: usize = 16 * 1024 * 1024;
const PAGE_BYTES: usize = 4096;
/// Consumed map bytes are handed back in whole blocks of this size, aligned to it in the file:
/// the size of a huge page, so that a file mapped with huge pages never has one split (a split
/// costs more than the release saves).
const RELEASE_BLOCK_BYTES: usize = 2 * 1024 * 1024;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// One input as the user named it: a path, or `-` for standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputPath {
    /// A file on disk.
    File(PathBuf),
    /// Standard input.
    Stdin,
}

impl InputPath {
    /// Interprets a command-line argument (`-` is standard input).
    pub fn from_arg(arg: &str) -> Self {
        if arg == "-" {
            InputPath::Stdin
        } else {
            InputPath::File(PathBuf::from(arg))
        }
    }

    /// The name shown in reports and errors.
    pub fn display_name(&self) -> String {
        match self {
            InputPath::File(path) => path.display().to_string(),
            InputPath::Stdin => "-".to_string(),
        }
    }

    /// Size on disk, if this is a regular file (used for progress; a pipe has none).
    pub fn size_bytes(&self) -> Option<u64> {
        match self {
            InputPath::File(path) => std::fs::metadata(path)
                .ok()
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len()),
            InputPath::Stdin => None,
        }
    }
}

/// How far reading the inputs has come, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadProgress {
    /// Bytes read: the size on disk of each input done (its captured bytes when it has no
    /// size), plus the captured bytes read so far of the current one.
    pub bytes: u64,
    /// Frames read.
    pub packets: u64,
    /// The inputs' size on disk in all; None when one of them has no size (standard input,
    /// a pipe).
    pub total_bytes: Option<u64>,
}

impl ReadProgress {
    /// Nothing read yet of `inputs`.
    pub fn start(inputs: &[InputPath]) -> Self {
        ReadProgress {
            bytes: 0,
            packets: 0,
            total_bytes: inputs.iter().map(InputPath::size_bytes).sum(),
        }
    }

    /// This progress plus `bytes` captured bytes and `packets` frames of the current input.
    pub fn plus(self, bytes: u64, packets: u64) -> Self {
        ReadProgress {
            bytes: self.bytes + bytes,
            packets: self.packets + packets,
            ..self
        }
    }

    /// This progress once `input`, which read as `summary`, is done.
    pub fn past(self, input: &InputPath, summary: &super::FileSummary) -> Self {
        let bytes = input.size_bytes().unwrap_or(summary.captured_bytes);
        self.plus(bytes, summary.packets)
    }
}

/// Called as inputs are read.
pub type ProgressFn = fn(ReadProgress);

/// Which compression wrapped the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain capture bytes.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Zstandard (RFC 8878).
    Zstd,
}

enum Backing {
    Mapped(Arc<memmap2::Mmap>),
    Stream {
        reader: Box<dyn Read + Send>,
        buffer: Vec<u8>,
        end: usize,
        eof: bool,
    },
}

/// A forward-only window over the (decompressed) bytes of one input.
pub struct ByteWindow {
    backing: Backing,
    /// Start of unconsumed data: an index into the map, or into the stream buffer.
    position: usize,
    /// Bytes consumed before `position`'s buffer was last shifted (streams only).
    shifted: u64,
    /// Map bytes before this offset were handed back to the kernel (mapped files only).
    released: usize,
    /// The compression that was detected.
    pub compression: Compression,
}

impl ByteWindow {
    /// Opens `input`, detects compression and returns a window at offset 0.
    pub fn open(input: &InputPath) -> Result<Self, CaptureError> {
        let name = input.display_name();
        let io_error = |e: io::Error, what: &str| CaptureError {
            file: name.clone(),
            offset: 0,
            problem: CaptureProblem::Io(format!("{what}: {e}")),
        };
        match input {
            InputPath::Stdin => {
                let reader = BufReader::with_capacity(1 << 16, io::stdin());
                Self::from_stream(reader).map_err(|e| io_error(e, "cannot read standard input"))
            }
            InputPath::File(path) => {
                let file = File::open(path).map_err(|e| io_error(e, "cannot open"))?;
                if !file.metadata().is_ok_and(|m| m.is_file()) {
                    // A named pipe or a device: read once as a stream (it can be neither
                    // mapped nor opened again).
                    let reader = BufReader::with_capacity(1 << 16, file);
                    return Self::from_stream(reader).map_err(|e| io_error(e, "cannot read"));
                }
                let mut head = [0u8; 4];
                let head_len =
                    read_up_to(&file, &mut head).map_err(|e| io_error(e, "cannot read"))?;
                if compression_of(&head[..head_len]) == Compression::None && head_len == 4 {
                    let map = map_file(&file).map_err(|e| io_error(e, "cannot map"))?;
                    return Ok(ByteWindow {
                        backing: Backing::Mapped(Arc::new(map)),
                        position: 0,
                        shifted: 0,
                        released: 0,
                        compression: Compression::None,
                    });
                }
                let reader = BufReader::with_capacity(
                    1 << 16,
                    File::open(path).map_err(|e| io_error(e, "cannot open"))?,
                );
                Self::from_stream(reader).map_err(|e| io_error(e, "cannot read"))
            }
        }
    }

    fn from_stream<R: BufRead + Send + 'static>(mut reader: R) -> io::Result<Self> {
        let head = reader.fill_buf()?;
        let compression = compression_of(head);
        let reader: Box<dyn Read + Send> = match compression {
            Compression::None => Box::new(reader),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
            Compression::Zstd => Box::new(
                ruzstd::decoding::StreamingDecoder::new(reader).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}"))
                })?,
            ),
        };
        Ok(ByteWindow {
            backing: Backing::Stream {
                reader,
                buffer: vec![0; STREAM_BUFFER_BYTES],
                end: 0,
                eof: false,
            },
            position: 0,
            shifted: 0,
            released: 0,
            compression,
        })
    }

    /// The unconsumed bytes currently available.
    pub fn data(&self) -> &[u8] {
        match &self.backing {
            Backing::Mapped(map) => &map[self.position..],
            Backing::Stream { buffer, end, .. } => &buffer[self.position..*end],
        }
    }

    /// Byte offset of the first unconsumed byte in the (decompressed) input.
    pub fn offset(&self) -> u64 {
        self.shifted + self.position as u64
    }

    /// True when no more bytes will arrive beyond [`Self::data`].
    pub fn at_end(&self) -> bool {
        match &self.backing {
            Backing::Mapped(_) => true,
            Backing::Stream { eof, .. } => *eof,
        }
    }

    /// Marks `count` bytes of [`Self::data`] as used.
    pub fn consume(&mut self, count: usize) {
        debug_assert!(count <= self.data().len());
        self.position += count;
        if let Backing::Mapped(map) = &self.backing {
            prefetch(map, self.position + PREFETCH_DISTANCE_BYTES, count);
            // Hand consumed pages back so that resident memory does not grow with the file.
            let behind = self.position.saturating_sub(RELEASE_MARGIN_BYTES);
            if behind.saturating_sub(self.released) >= RELEASE_STEP_BYTES {
                self.released = release_pages(map, self.released, behind);
            }
        }
    }

    /// The mapped file and the map offset of the first unconsumed byte, for mapped inputs:
    /// frames can then point into the map instead of being copied.
    pub fn mapped(&self) -> Option<(&Arc<memmap2::Mmap>, usize)> {
        match &self.backing {
            Backing::Mapped(map) => Some((map, self.position)),
            Backing::Stream { .. } => None,
        }
    }

    /// Reads until at least `wanted` bytes are available or the input ends.
    /// `wanted` must not exceed [`MAX_RECORD_BYTES`] plus a block header.
    pub fn fill(&mut self, wanted: usize) -> io::Result<()> {
        let Backing::Stream {
            reader,
            buffer,
            end,
            eof,
        } = &mut self.backing
        else {
            return Ok(());
        };
        if *end - self.position >= wanted || *eof {
            return Ok(());
        }
        // Shift the unconsumed tail to the front, then grow only as far as one record needs.
        buffer.copy_within(self.position..*end, 0);
        *end -= self.position;
        self.shifted += self.position as u64;
        self.position = 0;
        if buffer.len() < wanted {
            buffer.resize(wanted.min(MAX_RECORD_BYTES + 64), 0);
        }
        while *end < wanted && !*eof {
            match reader.read(&mut buffer[*end..]) {
                Ok(0) => *eof = true,
                Ok(read) => *end += read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Top up the rest of the buffer opportunistically, so small records parse in bulk.
        while *end < buffer.len() && !*eof {
            match reader.read(&mut buffer[*end..]) {
                Ok(0) => *eof = true,
                Ok(read) => {
                    *end += read;
                    if read < 4096 {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn compression_of(head: &[u8]) -> Compression {
    if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

fn read_up_to(mut file: &File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Asks the CPU to load `length` bytes of `map` from `start` into its cache (a hint; bytes
/// past the map are skipped).
pub(super) fn prefetch(map: &[u8], start: usize, length: usize) {
    let end = start.saturating_add(length).min(map.len());
    if start < end {
        crate::prefetch::prefetch_slice(&map[start..end]);
    }
}

/// Maps the pages of `map` covering `start..end` in one go (a hint; ignored by kernels before
/// 5.14). Faulting them in one by one costs more, and a CPU prefetch of a page not yet mapped
/// is dropped, so without it prefetching ahead is lost at every fault-around window.
pub(super) fn populate_pages(map: &memmap2::Mmap, start: usize, end: usize) {
    let first = start / PAGE_BYTES * PAGE_BYTES;
    let last = end.min(map.len());
    if last > first {
        let _ = map.advise_range(memmap2::Advice::PopulateRead, first, last - first);
    }
}

/// Maps a capture file read-only and asks for huge pages. A file the page cache holds in 2 MiB
/// pages (as a file read from disk mostly is; one just written is not) is then mapped with one
/// page-table entry per 2 MiB instead of 512, and pages the kernel reads in for this map go
/// into the cache that way. On mix (a) of issue #5 the kernel's page-table work was about half
/// of the run with 4 KiB pages.
#[allow(unsafe_code)]
pub(super) fn map_file(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only; pcdns does not modify capture files, and a file truncated by
    // another process while mapped is outside its contract.
    let map = unsafe { memmap2::Mmap::map(file) }?;
    // A hint: kernels without transparent huge pages refuse it, and the map works as before.
    let _ = map.advise(memmap2::Advice::HugePage);
    Ok(map)
}

/// Hands the whole release blocks of `map` inside `start..end` back to the kernel, so that
/// resident memory does not grow with the file. Returns where the next call should start: the
/// end of the last block released, or `start` when no whole block was inside. Callers start
/// from a block boundary ([`release_start`]), so nothing is left behind between calls.
#[allow(unsafe_code)]
pub(super) fn release_pages(map: &memmap2::Mmap, start: usize, end: usize) -> usize {
    let first = release_block_end(start);
    // The file's last block is released whole although it is shorter.
    let last = if end >= map.len() {
        map.len()
    } else {
        release_start(end)
    };
    if last <= first {
        return start;
    }
    // SAFETY: a read-only shared file mapping: MADV_DONTNEED only drops the pages from this
    // process; the data stays the file's, and whoever still reads one of them (a batch not yet
    // decoded, a segment read again) faults it in again from the file.
    let _ = unsafe {
        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, first, last - first)
    };
    last
}

/// The block boundary at or before `offset`: where releasing for a walk from `offset` starts.
pub(super) fn release_start(offset: usize) -> usize {
    offset / RELEASE_BLOCK_BYTES * RELEASE_BLOCK_BYTES
}

/// The block boundary at or after `offset`: releasing up to it includes the block `offset`
/// falls in.
pub(super) fn release_block_end(offset: usize) -> usize {
    offset.next_multiple_of(RELEASE_BLOCK_BYTES)
}
