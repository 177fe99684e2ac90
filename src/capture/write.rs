//! Capture writers: legacy pcap (microsecond) and pcapng (one interface with nanosecond
//! timestamps), for synthetic captures and live evidence. Little-endian, as most writers produce.

use std::io::{self, Write};

/// Which container to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFormat {
    /// Legacy pcap, microsecond timestamps.
    Pcap,
    /// pcapng with a nanosecond-resolution interface.
    Pcapng,
}

const LINKTYPE_ETHERNET: u32 = 1;
const SNAPLEN: u32 = 262_144;

/// Writes frames of one link type (Ethernet unless chosen) to `out`.
pub struct CaptureWriter<W: Write> {
    out: W,
    format: WriteFormat,
}

impl<W: Write> CaptureWriter<W> {
    /// Writes the file header for Ethernet frames.
    pub fn new(out: W, format: WriteFormat) -> io::Result<Self> {
        Self::with_link_type(out, format, LINKTYPE_ETHERNET)
    }

    /// Writes the file header (pcap header, or pcapng section header and interface block) for
    /// frames of `link_type` (a LINKTYPE_* value).
    pub fn with_link_type(mut out: W, format: WriteFormat, link_type: u32) -> io::Result<Self> {
        match format {
            WriteFormat::Pcap => {
                out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
                out.write_all(&2u16.to_le_bytes())?;
                out.write_all(&4u16.to_le_bytes())?;
                out.write_all(&[0; 8])?;
                out.write_all(&SNAPLEN.to_le_bytes())?;
                out.write_all(&link_type.to_le_bytes())?;
            }
            WriteFormat::Pcapng => {
                let mut section = 0x1a2b_3c4du32.to_le_bytes().to_vec();
                section.extend_from_slice(&1u16.to_le_bytes());
                section.extend_from_slice(&0u16.to_le_bytes());
                section.extend_from_slice(&(-1i64).to_le_bytes());
                write_block(&mut out, 0x0a0d_0d0a, &section)?;
                let mut interface = (link_type as u16).to_le_bytes().to_vec();
                interface.extend_from_slice(&[0, 0]);
                interface.extend_from_slice(&SNAPLEN.to_le_bytes());
                // if_tsresol (option 9) = 9: nanoseconds; then opt_endofopt.
                interface.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
                write_block(&mut out, 1, &interface)?;
            }
        }
        Ok(CaptureWriter { out, format })
    }

    /// Writes one frame captured at `ts_ns`.
    pub fn write_frame(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        let length = frame.len() as u32;
        match self.format {
            WriteFormat::Pcap => {
                self.out
                    .write_all(&((ts_ns / 1_000_000_000) as u32).to_le_bytes())?;
                self.out
                    .write_all(&((ts_ns % 1_000_000_000 / 1_000) as u32).to_le_bytes())?;
                self.out.write_all(&length.to_le_bytes())?;
                self.out.write_all(&length.to_le_bytes())?;
                self.out.write_all(frame)
            }
            WriteFormat::Pcapng => {
                let padded = frame.len().div_ceil(4) * 4;
                let total = (32 + padded) as u32;
                self.out.write_all(&6u32.to_le_bytes())?;
                self.out.write_all(&total.to_le_bytes())?;
                self.out.write_all(&0u32.to_le_bytes())?;
                self.out.write_all(&((ts_ns >> 32) as u32).to_le_bytes())?;
                self.out.write_all(&(ts_ns as u32).to_le_bytes())?;
                self.out.write_all(&length.to_le_bytes())?;
                self.out.write_all(&length.to_le_bytes())?;
                self.out.write_all(frame)?;
                self.out.write_all(&[0; 3][..padded - frame.len()])?;
                self.out.write_all(&total.to_le_bytes())
            }
        }
    }

    /// Flushes what was written so far.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

fn write_block(out: &mut impl Write, block_type: u32, body: &[u8]) -> io::Result<()> {
    let padded = body.len().div_ceil(4) * 4;
    let total = (12 + padded) as u32;
    out.write_all(&block_type.to_le_bytes())?;
    out.write_all(&total.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&[0; 3][..padded - body.len()])?;
    out.write_all(&total.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CaptureReader, FrameBatch, InputPath};

    #[test]
    fn written_captures_read_back_frame_for_frame() {
        for format in [WriteFormat::Pcap, WriteFormat::Pcapng] {
            let file = tempfile::NamedTempFile::new().unwrap();
            let mut writer =
                CaptureWriter::new(std::fs::File::create(file.path()).unwrap(), format).unwrap();
            writer
                .write_frame(1_700_000_000_123_456_000, &[1, 2, 3, 4, 5])
                .unwrap();
            writer
                .write_frame(1_700_000_001_000_001_000, &[9; 64])
                .unwrap();
            writer.finish().unwrap();
            let mut reader =
                CaptureReader::open(&InputPath::File(file.path().to_path_buf()), 0).unwrap();
            let mut batch = FrameBatch::default();
            assert_eq!(reader.fill_batch(&mut batch, 10, 1 << 20).unwrap(), 2);
            assert_eq!(batch.frames[0].ts_ns, 1_700_000_000_123_456_000);
            assert_eq!(batch.frame_bytes(&batch.frames[0]), [1, 2, 3, 4, 5]);
            assert_eq!(batch.frame_bytes(&batch.frames[1]), [9; 64]);
        }
    }
}
