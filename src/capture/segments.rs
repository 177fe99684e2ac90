//! Legacy pcap over a memory map, walked in segments: a hand-written record walker (16-byte
//! record headers, either byte order, microsecond or nanosecond timestamps) that reads any
//! stretch of the file on its own, and the speculative resynchronisation that finds where the
//! records of a stretch start without reading what comes before it. The walker gives exactly
//! the frames, timestamps and errors of [`super::CaptureReader`]; what it guesses (the start of
//! a segment) the caller must check against the record chain (the pipeline does). It never
//! copies frames, never decodes above the capture format and knows nothing about threads.

use super::source::{map_file, populate_pages, prefetch, release_pages};
use super::source::{release_block_end, release_start};
use super::source::{InputPath, PREFETCH_DISTANCE_BYTES};
use super::{format::linktype_number, format::ContainerFormat, source::Compression};
use super::{CaptureError, CaptureProblem, FileSummary, FrameBatch, FrameMeta, MAX_RECORD_BYTES};
use std::fs::File;
use std::sync::Arc;

/// Bytes of a legacy pcap file header.
const FILE_HEADER_BYTES: usize = 24;
/// Bytes of a (not modified) legacy pcap record header: ts_sec, ts_frac, caplen, origlen.
const RECORD_HEADER_BYTES: usize = 16;
const NANOS_PER_SECOND: u64 = 1_000_000_000;
/// Plausible record headers that must follow each other before resynchronisation believes it
/// found a record start (fewer when the chain ends exactly at the end of the file).
const RESYNC_CHAIN: usize = 8;
/// Most seconds between the timestamps of a resynchronisation chain: real records a few
/// kilobytes apart are close in time; payload bytes read as headers rarely are.
const RESYNC_MAX_SPREAD_SECONDS: u32 = 24 * 60 * 60;
/// Bytes ahead of a walk whose pages are mapped in one go at the start of each batch (more
/// than a batch holds, so a batch rarely faults); behind the walk the pages are released, so a
/// walker keeps only a few megabytes of the file resident.
const POPULATE_AHEAD_BYTES: usize = 4 * 1024 * 1024;
/// Walked bytes released at a time: each release makes the kernel flush the other threads'
/// TLBs (an interrupt per core), so not after every batch.
const RELEASE_STEP_BYTES: usize = 8 * 1024 * 1024;

/// A regular, uncompressed legacy pcap file with 16-byte record headers, mapped into memory.
#[derive(Debug)]
pub struct MappedPcap {
    name: String,
    map: Arc<memmap2::Mmap>,
    file_index: u16,
    big_endian: bool,
    nanosecond: bool,
    link_type: u32,
}

/// One record header as the file has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordHeader {
    ts_sec: u32,
    ts_frac: u32,
    caplen: u32,
    origlen: u32,
}

/// What lies at a record start.
enum Record {
    /// A record whose frame is inside the file; the next record starts at `next`.
    Frame { header: RecordHeader, next: usize },
    /// The end of the file.
    End,
    /// A record that does not fit in the file.
    Broken(CaptureProblem),
}

/// How a walk over a segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkEnd {
    /// The first record start at or after the segment's end (or the end of the file).
    Next(usize),
    /// The record at this offset is broken: the error the file reader gives there.
    Broken(usize, CaptureProblem),
}

impl MappedPcap {
    /// Maps `input` (the `file_index`-th input of the run) if it is a regular file holding
    /// uncompressed legacy pcap with 16-byte record headers. `None` for anything else, and for
    /// files that cannot be opened: the file reader then reads them, or reports why not.
    pub fn open(input: &InputPath, file_index: u16) -> Option<Self> {
        let InputPath::File(path) = input else {
            return None;
        };
        // Checked before opening: opening a named pipe would take the writer's data (or wait
        // for a writer) that the file reader needs.
        if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            return None;
        }
        let file = File::open(path).ok()?;
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() || metadata.len() < FILE_HEADER_BYTES as u64 {
            return None;
        }
        let map = map_file(&file).ok()?;
        let (_, header) = pcap_parser::parse_pcap_header(&map).ok()?;
        if header.is_modified_format() {
            return None;
        }
        Some(MappedPcap {
            name: input.display_name(),
            file_index,
            big_endian: header.is_bigendian(),
            nanosecond: header.is_nanosecond_precision(),
            link_type: linktype_number(header.network.0),
            map: Arc::new(map),
        })
    }

    /// Bytes in the file.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True for a file of no bytes (never, once opened: the file header is there).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Offset of the first record.
    pub fn first_record(&self) -> usize {
        FILE_HEADER_BYTES
    }

    /// Index of the input in the run.
    pub fn file_index(&self) -> u16 {
        self.file_index
    }

    /// The summary of a file from which `packets` frames of `captured_bytes` bytes were read.
    pub fn summary(&self, packets: u64, captured_bytes: u64) -> FileSummary {
        FileSummary {
            name: self.name.clone(),
            format: ContainerFormat::Pcap,
            compression: Compression::None,
            packets,
            captured_bytes,
            link_types: if packets > 0 {
                vec![self.link_type]
            } else {
                Vec::new()
            },
        }
    }

    /// The error the file reader reports for `problem` at `offset`.
    pub fn error(&self, offset: usize, problem: CaptureProblem) -> CaptureError {
        CaptureError {
            file: self.name.clone(),
            offset: offset as u64,
            problem,
        }
    }

    fn header_at(&self, offset: usize) -> Option<RecordHeader> {
        let bytes: [u8; RECORD_HEADER_BYTES] = self
            .map
            .get(offset..offset.checked_add(RECORD_HEADER_BYTES)?)?
            .try_into()
            .ok()?;
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let words = [word(0), word(4), word(8), word(12)];
        // One test of the byte order per header, not one per field.
        let [ts_sec, ts_frac, caplen, origlen] = if self.big_endian {
            words.map(u32::swap_bytes)
        } else {
            words
        };
        Some(RecordHeader {
            ts_sec,
            ts_frac,
            caplen,
            origlen,
        })
    }

    /// The record starting at `offset`, with the file reader's errors: a header cut short
    /// needs 16 bytes; a frame cut short needs its header and caplen, which above
    /// [`MAX_RECORD_BYTES`] is too large rather than truncated. A record that fits is never an
    /// error, whatever its size.
    fn record_at(&self, offset: usize) -> Record {
        let available = self.map.len().saturating_sub(offset);
        if available == 0 {
            return Record::End;
        }
        let Some(header) = self.header_at(offset) else {
            return Record::Broken(CaptureProblem::Truncated {
                needed: RECORD_HEADER_BYTES,
                available,
            });
        };
        let needed = RECORD_HEADER_BYTES.saturating_add(header.caplen as usize);
        if needed > available {
            return Record::Broken(if needed > MAX_RECORD_BYTES {
                CaptureProblem::RecordTooLarge { claimed: needed }
            } else {
                CaptureProblem::Truncated { needed, available }
            });
        }
        Record::Frame {
            header,
            next: offset + needed,
        }
    }

    fn ts_ns(&self, header: &RecordHeader) -> u64 {
        let per_fraction = if self.nanosecond { 1 } else { 1000 };
        u64::from(header.ts_sec) * NANOS_PER_SECOND + u64::from(header.ts_frac) * per_fraction
    }

    /// A header real capture software could have written: a timestamp fraction below one
    /// second, a frame no longer on capture than on the wire, no longer than pcdns buffers,
    /// and not empty on the wire.
    fn plausible(&self, header: &RecordHeader) -> bool {
        let fractions_per_second = if self.nanosecond {
            1_000_000_000
        } else {
            1_000_000
        };
        header.ts_frac < fractions_per_second
            && header.origlen > 0
            && header.caplen <= header.origlen
            && (header.caplen as usize) <= MAX_RECORD_BYTES
    }

    /// A guess at the first record start in `from..limit`, made without reading what comes
    /// before `from`: the first offset from which [`RESYNC_CHAIN`] plausible records follow
    /// each other inside the file (or fewer that end exactly at its end). `limit` when there
    /// is none. Only a guess: a payload can hold such a chain too.
    pub fn resync(&self, from: usize, limit: usize) -> usize {
        (from..limit.min(self.len()))
            .find(|&offset| self.chain_starts_at(offset))
            .unwrap_or(limit)
    }

    fn chain_starts_at(&self, start: usize) -> bool {
        let mut offset = start;
        let mut first_second = None;
        for _ in 0..RESYNC_CHAIN {
            if offset == self.len() && offset != start {
                return true;
            }
            let Some(header) = self.header_at(offset) else {
                return false;
            };
            let first = *first_second.get_or_insert(header.ts_sec);
            if !self.plausible(&header) || header.ts_sec.abs_diff(first) > RESYNC_MAX_SPREAD_SECONDS
            {
                return false;
            }
            offset += RECORD_HEADER_BYTES + header.caplen as usize;
            if offset > self.len() {
                return false;
            }
        }
        true
    }

    /// A walk over the records whose headers start in `start..end`, from the record start
    /// `start` (which the caller knows or guessed).
    pub fn walk(&self, start: usize, end: usize) -> SegmentWalk<'_> {
        prefetch(&self.map, start, PREFETCH_DISTANCE_BYTES);
        SegmentWalk {
            pcap: self,
            position: start,
            end,
            frames: 0,
            finished: None,
            populated_to: start,
            released_to: release_start(start),
        }
    }
}

/// A walk over the records of one segment, frame numbers counted from 1 at its start.
pub struct SegmentWalk<'p> {
    pcap: &'p MappedPcap,
    position: usize,
    end: usize,
    frames: u64,
    finished: Option<WalkEnd>,
    /// Pages before this offset were mapped in (from the walk's start).
    populated_to: usize,
    /// Pages from the walk's start to this offset were released.
    released_to: usize,
}

impl SegmentWalk<'_> {
    /// Appends frames (pointing into the map) to the empty `batch` until it holds `max_frames`
    /// frames or about `max_bytes` bytes, or the walk ends. Frame numbers are relative: the
    /// first frame of the segment is number 1. Returns how the walk ended, once it has.
    pub fn fill_batch(
        &mut self,
        batch: &mut FrameBatch,
        max_frames: usize,
        max_bytes: usize,
    ) -> Option<WalkEnd> {
        let pcap = self.pcap;
        let ahead = (self.position + POPULATE_AHEAD_BYTES).min(self.end);
        if ahead > self.populated_to {
            populate_pages(&pcap.map, self.populated_to, ahead);
            self.populated_to = ahead;
        }
        while self.finished.is_none()
            && batch.frames.len() < max_frames
            && batch.frame_bytes_total < max_bytes
        {
            if self.position >= self.end {
                self.finished = Some(WalkEnd::Next(self.position));
                break;
            }
            match pcap.record_at(self.position) {
                Record::Frame { header, next } => {
                    self.frames += 1;
                    let meta = FrameMeta {
                        ts_ns: pcap.ts_ns(&header),
                        file_index: pcap.file_index,
                        frame_number: self.frames,
                        link_type: pcap.link_type,
                        start: (self.position + RECORD_HEADER_BYTES) as u64,
                        caplen: header.caplen,
                        wire_len: header.origlen,
                    };
                    batch.push_mapped(&pcap.map, meta);
                    prefetch(
                        &pcap.map,
                        self.position + PREFETCH_DISTANCE_BYTES,
                        next - self.position,
                    );
                    self.position = next;
                }
                Record::End => self.finished = Some(WalkEnd::Next(self.position)),
                Record::Broken(problem) => {
                    self.finished = Some(WalkEnd::Broken(self.position, problem))
                }
            }
        }
        self.finished.clone()
    }

    /// Releases the pages of the records walked so far (their batches must be decoded: frames
    /// point into these pages), every few megabytes and when the walk has ended. At the end the
    /// block holding the last record's end goes too, although the next segment's first records
    /// may share it: its walker may already have released it, and if this walk mapped it in
    /// again nobody else would release it (a block kept per segment grew resident memory with
    /// the file). A walker still reading there maps the block in again.
    pub fn release_walked(&mut self) {
        let end = match self.finished {
            Some(_) => release_block_end(self.position),
            None if self.position - self.released_to >= RELEASE_STEP_BYTES => self.position,
            None => return,
        };
        self.released_to = release_pages(&self.pcap.map, self.released_to, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pcap_file(records: &[(u32, u32, &[u8])], big_endian: bool) -> tempfile::NamedTempFile {
        let word = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut bytes = Vec::new();
        bytes.extend(word(0xa1b2_c3d4));
        bytes.extend(if big_endian {
            [0, 2, 0, 4]
        } else {
            [2, 0, 4, 0]
        });
        bytes.extend([0; 8]);
        bytes.extend(word(65535));
        bytes.extend(word(1));
        for (sec, frac, data) in records {
            for v in [*sec, *frac, data.len() as u32, data.len() as u32] {
                bytes.extend(word(v));
            }
            bytes.extend(*data);
        }
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&bytes).unwrap();
        file
    }

    fn walk_all(pcap: &MappedPcap, start: usize, end: usize) -> (Vec<FrameMeta>, WalkEnd) {
        let mut walk = pcap.walk(start, end);
        let mut frames = Vec::new();
        loop {
            let mut batch = FrameBatch::default();
            let ended = walk.fill_batch(&mut batch, 3, usize::MAX);
            frames.extend(batch.frames);
            if let Some(ended) = ended {
                return (frames, ended);
            }
        }
    }

    #[test]
    fn walks_either_byte_order_and_stops_after_the_segment() {
        for big_endian in [false, true] {
            let file = pcap_file(&[(1, 2, b"abc"), (3, 4, b""), (5, 6, b"defgh")], big_endian);
            let pcap = MappedPcap::open(&InputPath::File(file.path().into()), 7).unwrap();
            let (frames, end) = walk_all(&pcap, 24, 24 + 19 + 1);
            assert_eq!(end, WalkEnd::Next(24 + 19 + 16));
            let facts: Vec<_> = frames
                .iter()
                .map(|f| (f.ts_ns, f.frame_number, f.start, f.caplen, f.file_index))
                .collect();
            assert_eq!(
                facts,
                [(1_000_002_000, 1, 40, 3, 7), (3_000_004_000, 2, 59, 0, 7)]
            );
            assert_eq!(walk_all(&pcap, 59, 80).1, WalkEnd::Next(pcap.len()));
        }
    }

    #[test]
    fn cut_records_give_the_readers_errors() {
        let file = pcap_file(&[(1, 2, b"abc")], false);
        let whole = std::fs::read(file.path()).unwrap();
        let cut = |len: usize| {
            let mut short = tempfile::NamedTempFile::new().unwrap();
            short.write_all(&whole[..len]).unwrap();
            let pcap = MappedPcap::open(&InputPath::File(short.path().into()), 0).unwrap();
            walk_all(&pcap, 24, 1 << 20).1
        };
        let truncated = |needed, available| CaptureProblem::Truncated { needed, available };
        assert_eq!(cut(30), WalkEnd::Broken(24, truncated(16, 6)));
        assert_eq!(cut(41), WalkEnd::Broken(24, truncated(19, 17)));
        let mut huge = whole.clone();
        huge[32..36].copy_from_slice(&(MAX_RECORD_BYTES as u32).to_le_bytes());
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&huge).unwrap();
        let pcap = MappedPcap::open(&InputPath::File(file.path().into()), 0).unwrap();
        let claimed = MAX_RECORD_BYTES + 16;
        assert_eq!(
            walk_all(&pcap, 24, 1 << 20).1,
            WalkEnd::Broken(24, CaptureProblem::RecordTooLarge { claimed })
        );
    }

    /// Resident bytes of this process's map of `path`, from /proc/self/smaps.
    fn resident_kib(path: &std::path::Path) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let name = path.to_str().unwrap();
        let mut lines = smaps.lines().skip_while(|line| !line.ends_with(name));
        assert!(lines.next().is_some(), "{name} is not mapped");
        let rss = lines.find(|line| line.starts_with("Rss:")).unwrap();
        rss.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn walks_leave_no_page_mapped_whatever_order_the_segments_are_walked_in() {
        // 12 MiB of 1000-byte frames in three 4 MiB segments, walked 1, 0, 2 as two walkers
        // can: segment 0 then reads into the block segment 1's walk already released.
        const SEGMENT: usize = 4 << 20;
        let payload = [7u8; 1000 - RECORD_HEADER_BYTES];
        let records: Vec<(u32, u32, &[u8])> = (0..12_500).map(|i| (i, 0, &payload[..])).collect();
        let file = pcap_file(&records, false);
        let pcap = MappedPcap::open(&InputPath::File(file.path().into()), 0).unwrap();
        let first = pcap.first_record();
        let starts = [0, 1, 2].map(|segment: usize| {
            first + (segment * SEGMENT).saturating_sub(first).div_ceil(1000) * 1000
        });
        let mut touched = 0u64;
        for segment in [1, 0, 2] {
            let mut walk = pcap.walk(starts[segment], (segment + 1) * SEGMENT);
            loop {
                let mut batch = FrameBatch::default();
                let ended = walk.fill_batch(&mut batch, 64, usize::MAX);
                for frame in &batch.frames {
                    // What decoding does: read the frame, to its last byte.
                    let last = frame.start as usize + frame.caplen as usize - 1;
                    touched += u64::from(pcap.map[last]);
                }
                walk.release_walked();
                if ended.is_some() {
                    break;
                }
            }
        }
        assert_eq!(touched, 7 * 12_500);
        assert_eq!(
            resident_kib(file.path()),
            0,
            "pages left mapped after the walks"
        );
    }

    #[test]
    fn resync_finds_the_chain_and_skips_implausible_headers() {
        let payload = [0xffu8; 40];
        // Read 4 bytes late, each header is (fraction, caplen, origlen, data): plausible, but
        // the fractions as seconds spread too far.
        let records: Vec<(u32, u32, &[u8])> = (0..12)
            .map(|i| (100 + i, i * 90_000, &payload[..]))
            .collect();
        let file = pcap_file(&records, false);
        let pcap = MappedPcap::open(&InputPath::File(file.path().into()), 0).unwrap();
        assert_eq!(pcap.resync(24, pcap.len()), 24);
        assert_eq!(pcap.resync(25, pcap.len()), 24 + 56);
        // The last records form a chain that ends exactly at the end of the file.
        assert_eq!(pcap.resync(24 + 11 * 56 - 3, pcap.len()), 24 + 11 * 56);
        assert_eq!(pcap.resync(25, 24 + 56), 24 + 56, "none before the limit");
    }
}
