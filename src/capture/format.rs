//! Capture file formats: legacy pcap (microsecond, nanosecond and modified magic, either byte
//! order) and pcapng (several sections and interfaces, per-interface link type and timestamp
//! resolution, unknown blocks skipped). Record parsing is pcap-parser's; this module owns the
//! buffering, the offsets in error messages, the per-file frame numbering and the limits.

use super::source::{ByteWindow, Compression, InputPath};
use super::{CaptureError, CaptureProblem, FrameBatch, FrameMeta, MAX_RECORD_BYTES};
use pcap_parser::nom::{self, Needed};
use pcap_parser::pcapng::{Block, EnhancedPacketBlock};
use pcap_parser::{LegacyPcapBlock, PcapError, PcapHeader};

type ParseResult<'a, T> = nom::IResult<&'a [u8], T, PcapError<&'a [u8]>>;

const PCAPNG_MAGIC: u32 = 0x0a0d_0d0a;
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The container format of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerFormat {
    /// Legacy pcap.
    Pcap,
    /// pcapng.
    Pcapng,
}

/// What was read from one input: shown in the report's capture section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileSummary {
    /// The input as the user named it.
    pub name: String,
    /// pcap or pcapng.
    pub format: ContainerFormat,
    /// Compression wrapping the capture.
    pub compression: Compression,
    /// Frames read.
    pub packets: u64,
    /// Captured bytes of all frames.
    pub captured_bytes: u64,
    /// Link types seen, in order of first appearance.
    pub link_types: Vec<u32>,
}

#[derive(Clone, Copy)]
struct Interface {
    link_type: u32,
    ticks_per_second: u64,
    offset_seconds: i64,
}

enum Layout {
    Legacy {
        parse: LegacyParse,
        nanosecond: bool,
        link_type: u32,
    },
    Ng {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// Reads the frames of one capture file, in order, into batches.
pub struct CaptureReader {
    window: ByteWindow,
    layout: Layout,
    file_index: u16,
    summary: FileSummary,
    last_ts_ns: u64,
}

impl CaptureReader {
    /// Opens `input` (the `file_index`-th input of the run) and reads its file header.
    pub fn open(input: &InputPath, file_index: u16) -> Result<Self, CaptureError> {
        let mut window = ByteWindow::open(input)?;
        let name = input.display_name();
        let fail = |window: &ByteWindow, problem| CaptureError {
            file: name.clone(),
            offset: window.offset(),
            problem,
        };
        window
            .fill(28)
            .map_err(|e| fail(&window, CaptureProblem::Io(e.to_string())))?;
        let head = window.data();
        if head.len() < 4 {
            let needed = if head.is_empty() { 24 } else { 24 - head.len() };
            return Err(fail(
                &window,
                CaptureProblem::Truncated {
                    needed,
                    available: head.len(),
                },
            ));
        }
        let magic_le = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let (format, layout) = if magic_le == PCAPNG_MAGIC {
            (
                ContainerFormat::Pcapng,
                Layout::Ng {
                    big_endian: false,
                    interfaces: Vec::new(),
                },
            )
        } else {
            let header = match pcap_parser::parse_pcap_header(head) {
                Ok((_, header)) => header,
                Err(nom::Err::Incomplete(_)) => {
                    return Err(fail(
                        &window,
                        CaptureProblem::Truncated {
                            needed: 24,
                            available: head.len(),
                        },
                    ))
                }
                Err(_) => {
                    return Err(fail(
                        &window,
                        CaptureProblem::UnknownFormat([head[0], head[1], head[2], head[3]]),
                    ))
                }
            };
            window.consume(header.size());
            (ContainerFormat::Pcap, legacy_layout(&header))
        };
        let summary = FileSummary {
            name,
            format,
            compression: window.compression,
            packets: 0,
            captured_bytes: 0,
            link_types: Vec::new(),
        };
        Ok(CaptureReader {
            window,
            layout,
            file_index,
            summary,
            last_ts_ns: 0,
        })
    }

    /// What has been read so far.
    pub fn summary(&self) -> &FileSummary {
        &self.summary
    }

    /// Appends frames to `batch` until it holds `max_frames` frames or `max_bytes` bytes, or the
    /// file ends. Returns the number of frames appended (0 at the end of the file).
    pub fn fill_batch(
        &mut self,
        batch: &mut FrameBatch,
        max_frames: usize,
        max_bytes: usize,
    ) -> Result<usize, CaptureError> {
        let mut appended = 0;
        while appended < max_frames && batch.frame_bytes_total < max_bytes {
            match self.next_record(batch)? {
                Record::Frame => appended += 1,
                Record::Other => {}
                Record::End => break,
            }
        }
        Ok(appended)
    }

    fn error(&self, problem: CaptureProblem) -> CaptureError {
        CaptureError {
            file: self.summary.name.clone(),
            offset: self.window.offset(),
            problem,
        }
    }

    fn next_record(&mut self, batch: &mut FrameBatch) -> Result<Record, CaptureError> {
        loop {
            let data = self.window.data();
            if data.is_empty() && self.window.at_end() {
                return Ok(Record::End);
            }
            let available = data.len();
            let outcome = match &mut self.layout {
                Layout::Legacy {
                    parse,
                    nanosecond,
                    link_type,
                } => parse_legacy(data, *parse, *nanosecond, *link_type),
                Layout::Ng {
                    big_endian,
                    interfaces,
                } => parse_ng(data, big_endian, interfaces, self.last_ts_ns),
            };
            match outcome {
                Parsed::Frame(used, frame) => {
                    self.last_ts_ns = frame.ts_ns;
                    // Where the frame lies in the map, when the input is mapped (a frame that
                    // is not a piece of the window, such as an empty one, is copied instead).
                    let in_map = self.window.mapped().and_then(|(map, position)| {
                        let offset = offset_within(data, frame.data)?;
                        Some((map, (position + offset) as u64))
                    });
                    record_frame(&mut self.summary, self.file_index, batch, &frame, in_map);
                    self.window.consume(used);
                    return Ok(Record::Frame);
                }
                Parsed::Skipped(used) => {
                    self.window.consume(used);
                    return Ok(Record::Other);
                }
                Parsed::Corrupt(what) => return Err(self.error(CaptureProblem::Corrupt(what))),
                Parsed::Failed(nom::Err::Incomplete(needed)) => {
                    let more = match needed {
                        Needed::Size(n) => n.get(),
                        Needed::Unknown => 1,
                    };
                    let needed_total = available.saturating_add(more);
                    if needed_total > MAX_RECORD_BYTES {
                        return Err(self.error(CaptureProblem::RecordTooLarge {
                            claimed: needed_total,
                        }));
                    }
                    if self.window.at_end() {
                        return Err(self.error(CaptureProblem::Truncated {
                            needed: needed_total,
                            available,
                        }));
                    }
                    self.window
                        .fill(needed_total)
                        .map_err(|e| self.error(CaptureProblem::Io(e.to_string())))?;
                }
                Parsed::Failed(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                    let what = describe_parse_error(&e);
                    return Err(self.error(CaptureProblem::Corrupt(what)));
                }
            }
        }
    }
}

/// Copies one frame into the batch and counts it in the file's summary.
/// The offset of `piece` inside `whole`, if it is a non-empty piece of it.
fn offset_within(whole: &[u8], piece: &[u8]) -> Option<usize> {
    let offset = (piece.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (!piece.is_empty() && offset + piece.len() <= whole.len()).then_some(offset)
}

/// Counts `frame` in the file summary and appends it to `batch`: pointing into the map when
/// the input is mapped (`in_map`: the map and the frame's offset in it), copied otherwise.
fn record_frame(
    summary: &mut FileSummary,
    file_index: u16,
    batch: &mut FrameBatch,
    frame: &RawFrame<'_>,
    in_map: Option<(&std::sync::Arc<memmap2::Mmap>, u64)>,
) {
    summary.packets += 1;
    summary.captured_bytes += frame.data.len() as u64;
    if !summary.link_types.contains(&frame.link_type) {
        summary.link_types.push(frame.link_type);
    }
    let meta = FrameMeta {
        ts_ns: frame.ts_ns,
        file_index,
        frame_number: summary.packets,
        link_type: frame.link_type,
        start: in_map.map_or(0, |(_, offset)| offset),
        caplen: frame.data.len() as u32,
        wire_len: frame.wire_len,
    };
    match in_map {
        Some((map, _)) => batch.push_mapped(map, meta),
        None => batch.push_copied(meta, frame.data),
    }
}

enum Record {
    Frame,
    Other,
    End,
}

struct RawFrame<'a> {
    ts_ns: u64,
    link_type: u32,
    data: &'a [u8],
    wire_len: u32,
}

enum Parsed<'a> {
    Frame(usize, RawFrame<'a>),
    Skipped(usize),
    Corrupt(String),
    Failed(nom::Err<PcapError<&'a [u8]>>),
}

type LegacyParse = fn(&[u8]) -> ParseResult<'_, LegacyPcapBlock<'_>>;

/// Parses one legacy pcap record at the start of `data`.
fn parse_legacy(data: &[u8], parse: LegacyParse, nanosecond: bool, link_type: u32) -> Parsed<'_> {
    match parse(data) {
        Ok((rest, block)) => {
            let fraction_ns = u64::from(block.ts_usec) * if nanosecond { 1 } else { 1000 };
            let ts_ns = u64::from(block.ts_sec) * NANOS_PER_SECOND + fraction_ns;
            let frame = RawFrame {
                ts_ns,
                link_type,
                data: block.data,
                wire_len: block.origlen,
            };
            Parsed::Frame(data.len() - rest.len(), frame)
        }
        Err(e) => Parsed::Failed(e),
    }
}

/// Parses one pcapng block at the start of `data`, tracking sections and interfaces.
fn parse_ng<'a>(
    data: &'a [u8],
    big_endian: &mut bool,
    interfaces: &mut Vec<Interface>,
    last_ts_ns: u64,
) -> Parsed<'a> {
    let parse = if *big_endian {
        pcap_parser::pcapng::parse_block_be
    } else {
        pcap_parser::pcapng::parse_block_le
    };
    let (rest, block) = match parse(data) {
        Ok(parsed) => parsed,
        Err(e) => return Parsed::Failed(e),
    };
    let used = data.len() - rest.len();
    match block {
        Block::SectionHeader(section) => {
            *big_endian = section.big_endian();
            interfaces.clear();
            Parsed::Skipped(used)
        }
        Block::InterfaceDescription(idb) => {
            interfaces.push(Interface {
                link_type: linktype_number(idb.linktype.0),
                ticks_per_second: idb.ts_resolution().unwrap_or(1_000_000),
                offset_seconds: idb.ts_offset(),
            });
            Parsed::Skipped(used)
        }
        Block::EnhancedPacket(epb) => match interfaces.get(epb.if_id as usize) {
            Some(interface) => Parsed::Frame(used, enhanced_frame(&epb, interface)),
            None => Parsed::Corrupt(format!(
                "packet block names interface {} but only {} are described",
                epb.if_id,
                interfaces.len()
            )),
        },
        // A simple packet block has no timestamp (pcapng §4.4): it inherits the previous one.
        Block::SimplePacket(spb) => match interfaces.first() {
            Some(interface) => Parsed::Frame(
                used,
                RawFrame {
                    ts_ns: last_ts_ns,
                    link_type: interface.link_type,
                    data: &spb.data[..(spb.origlen as usize).min(spb.data.len())],
                    wire_len: spb.origlen,
                },
            ),
            None => Parsed::Corrupt("simple packet block before any interface description".into()),
        },
        _ => Parsed::Skipped(used),
    }
}

fn legacy_layout(header: &PcapHeader) -> Layout {
    let parse: LegacyParse = if header.is_modified_format() {
        pcap_parser::parse_pcap_frame_modified
    } else if header.is_bigendian() {
        pcap_parser::parse_pcap_frame_be
    } else {
        pcap_parser::parse_pcap_frame
    };
    Layout::Legacy {
        parse,
        nanosecond: header.is_nanosecond_precision(),
        link_type: linktype_number(header.network.0),
    }
}

/// The LINKTYPE value proper: the upper bits of the pcap header field carry FCS information.
pub(super) fn linktype_number(raw: i32) -> u32 {
    (raw as u32) & 0xffff
}

fn enhanced_frame<'a>(epb: &EnhancedPacketBlock<'a>, interface: &Interface) -> RawFrame<'a> {
    let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
    let per_second = u128::from(interface.ticks_per_second.max(1));
    let ts_ns = (u128::from(ticks) * u128::from(NANOS_PER_SECOND) / per_second) as i128
        + i128::from(interface.offset_seconds) * i128::from(NANOS_PER_SECOND);
    RawFrame {
        ts_ns: ts_ns.clamp(0, i128::from(u64::MAX)) as u64,
        link_type: interface.link_type,
        data: &epb.data[..(epb.caplen as usize).min(epb.data.len())],
        wire_len: epb.origlen,
    }
}

fn describe_parse_error(error: &PcapError<&[u8]>) -> String {
    match error {
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("the record header is invalid ({})", kind.description())
        }
        other => other.to_string(),
    }
}

impl FileSummary {
    /// "pcap", "pcapng", with "+gzip" or "+zstd" when compressed.
    pub fn format_label(&self) -> String {
        let format = match self.format {
            ContainerFormat::Pcap => "pcap",
            ContainerFormat::Pcapng => "pcapng",
        };
        match self.compression {
            Compression::None => format.to_string(),
            Compression::Gzip => format!("{format}+gzip"),
            Compression::Zstd => format!("{format}+zstd"),
        }
    }
}
