//! Capture formats built byte by byte: pcap in every magic and byte order, pcapng with several
//! interfaces and timestamp resolutions, gzip and zstd wrapping, and broken files.

use pcdns::capture::{CaptureProblem, CaptureReader, FrameBatch, FrameMeta, InputPath};
use std::io::Write;

const FRAME_A: &[u8] = &[0xaa; 20];
const FRAME_B: &[u8] = &[0xbb; 33];

fn pcap(magic: u32, big_endian: bool, link_type: u32, frames: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut file = u32b(magic).to_vec();
    file.extend_from_slice(&u16b(2));
    file.extend_from_slice(&u16b(4));
    file.extend_from_slice(&[0; 8]);
    file.extend_from_slice(&u32b(65535));
    file.extend_from_slice(&u32b(link_type));
    let modified = magic == 0xa1b2_cd34;
    for (seconds, fraction, data) in frames {
        file.extend_from_slice(&u32b(*seconds));
        file.extend_from_slice(&u32b(*fraction));
        file.extend_from_slice(&u32b(data.len() as u32));
        file.extend_from_slice(&u32b(data.len() as u32 + 4));
        if modified {
            file.extend_from_slice(&[0; 8]); // ifindex, protocol, pkt_type, pad
        }
        file.extend_from_slice(data);
    }
    file
}

fn block(block_type: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let total = (12 + padded) as u32;
    let mut bytes = block_type.to_le_bytes().to_vec();
    bytes.extend_from_slice(&total.to_le_bytes());
    bytes.extend_from_slice(body);
    bytes.resize(8 + padded, 0);
    bytes.extend_from_slice(&total.to_le_bytes());
    bytes
}

fn section_header() -> Vec<u8> {
    let mut body = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    block(0x0a0d_0d0a, &body)
}

fn interface(link_type: u16, tsresol: Option<u8>) -> Vec<u8> {
    let mut body = link_type.to_le_bytes().to_vec();
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&65535u32.to_le_bytes());
    if let Some(resolution) = tsresol {
        body.extend_from_slice(&9u16.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&[resolution, 0, 0, 0]);
        body.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
    }
    block(1, &body)
}

fn enhanced_packet(interface_id: u32, ticks: u64, data: &[u8]) -> Vec<u8> {
    let mut body = interface_id.to_le_bytes().to_vec();
    body.extend_from_slice(&((ticks >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(ticks as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    block(6, &body)
}

struct Read {
    frames: Vec<FrameMeta>,
    batch: FrameBatch,
    error: Option<pcdns::capture::CaptureError>,
}

fn read_bytes(bytes: &[u8]) -> Result<Read, pcdns::capture::CaptureError> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    let mut reader = CaptureReader::open(&InputPath::File(file.path().to_path_buf()), 3)?;
    let mut batch = FrameBatch::default();
    let mut error = None;
    loop {
        match reader.fill_batch(&mut batch, 1000, 1 << 20) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    Ok(Read {
        frames: batch.frames.clone(),
        batch,
        error,
    })
}

#[test]
fn pcap_in_every_magic_and_byte_order() {
    let cases = [
        (0xa1b2_c3d4, false, 1_000u64), // microseconds
        (0xa1b2_c3d4, true, 1_000),
        (0xa1b2_3c4d, false, 1), // nanoseconds
        (0xa1b2_3c4d, true, 1),
        (0xa1b2_cd34, false, 1_000), // modified pcap (Kuznetsov)
    ];
    for (magic, big_endian, ns_per_unit) in cases {
        let bytes = pcap(magic, big_endian, 1, &[(10, 5, FRAME_A), (11, 7, FRAME_B)]);
        let read = read_bytes(&bytes).unwrap_or_else(|e| panic!("{magic:x} {big_endian}: {e}"));
        assert!(read.error.is_none(), "{magic:x}: {:?}", read.error);
        assert_eq!(read.frames.len(), 2, "{magic:x} big_endian={big_endian}");
        assert_eq!(read.frames[0].ts_ns, 10_000_000_000 + 5 * ns_per_unit);
        assert_eq!(read.frames[1].frame_number, 2);
        assert_eq!(read.frames[1].file_index, 3);
        assert_eq!(read.frames[1].wire_len, FRAME_B.len() as u32 + 4);
        assert_eq!(read.batch.frame_bytes(&read.frames[1]), FRAME_B);
    }
}

#[test]
fn pcapng_interfaces_with_their_own_link_types_and_resolutions_and_unknown_blocks() {
    let mut bytes = section_header();
    bytes.extend(interface(1, None)); // Ethernet, microseconds
    bytes.extend(block(0x0bad_0bad, &[1, 2, 3, 4])); // unknown block: skipped
    bytes.extend(interface(101, Some(9))); // raw IP, nanoseconds
    bytes.extend(enhanced_packet(0, 1_500_000, FRAME_A));
    bytes.extend(enhanced_packet(1, 2_000_000_123, FRAME_B));
    let read = read_bytes(&bytes).unwrap();
    assert!(read.error.is_none(), "{:?}", read.error);
    let summary: Vec<_> = read
        .frames
        .iter()
        .map(|f| (f.link_type, f.ts_ns, f.frame_number))
        .collect();
    assert_eq!(summary, [(1, 1_500_000_000, 1), (101, 2_000_000_123, 2)]);
    assert_eq!(read.batch.frame_bytes(&read.frames[0]), FRAME_A);
}

#[test]
fn pcapng_packet_for_an_undescribed_interface_is_an_error_with_offset() {
    let mut bytes = section_header();
    bytes.extend(interface(1, None));
    let offset = bytes.len() as u64;
    bytes.extend(enhanced_packet(4, 1, FRAME_A));
    let read = read_bytes(&bytes).unwrap();
    let error = read.error.expect("error");
    assert_eq!(error.offset, offset);
    assert!(error.to_string().contains("interface 4"), "{error}");
}

#[test]
fn gzip_and_zstd_are_detected_by_magic_bytes() {
    let plain = pcap(0xa1b2_c3d4, false, 1, &[(1, 0, FRAME_A), (2, 0, FRAME_B)]);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&plain).unwrap();
    let gzipped = gzip.finish().unwrap();
    let zstd =
        ruzstd::encoding::compress_to_vec(&plain[..], ruzstd::encoding::CompressionLevel::Fastest);
    for compressed in [gzipped, zstd] {
        let read = read_bytes(&compressed).unwrap();
        assert!(read.error.is_none());
        assert_eq!(read.frames.len(), 2);
        assert_eq!(read.batch.frame_bytes(&read.frames[1]), FRAME_B);
    }
}

#[test]
fn file_cut_mid_record_keeps_earlier_frames_and_names_the_offset() {
    let bytes = pcap(0xa1b2_c3d4, false, 1, &[(1, 0, FRAME_A), (2, 0, FRAME_B)]);
    let second_record = 24 + 16 + FRAME_A.len();
    let read = read_bytes(&bytes[..second_record + 20]).unwrap();
    assert_eq!(read.frames.len(), 1);
    let error = read.error.expect("truncation error");
    assert_eq!(error.offset, second_record as u64);
    assert!(
        matches!(error.problem, CaptureProblem::Truncated { .. }),
        "{error}"
    );
}

#[test]
fn huge_record_length_is_refused_without_allocating_it() {
    let mut bytes = pcap(0xa1b2_c3d4, false, 1, &[(1, 0, FRAME_A)]);
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&0xfff0_0000u32.to_le_bytes());
    bytes.extend_from_slice(&0xfff0_0000u32.to_le_bytes());
    bytes.extend_from_slice(&[0; 64]);
    let read = read_bytes(&bytes).unwrap();
    assert_eq!(read.frames.len(), 1);
    let error = read.error.expect("error");
    assert!(
        matches!(error.problem, CaptureProblem::RecordTooLarge { .. }),
        "{error}"
    );
}

#[test]
fn empty_garbage_and_header_only_files() {
    let empty = read_bytes(&[]).err().expect("empty file is an error");
    assert!(empty.to_string().contains("truncated"), "{empty}");
    let garbage = read_bytes(b"this is not a capture file at all")
        .err()
        .expect("garbage is an error");
    assert!(
        garbage.to_string().contains("not a capture file"),
        "{garbage}"
    );
    let header_only = read_bytes(&pcap(0xa1b2_c3d4, false, 1, &[])).unwrap();
    assert!(header_only.error.is_none() && header_only.frames.is_empty());
}

#[test]
fn pcapng_block_with_a_bad_length_is_corrupt_at_its_offset() {
    let mut bytes = section_header();
    bytes.extend(interface(1, None));
    let offset = bytes.len() as u64;
    let mut bad = enhanced_packet(0, 1, FRAME_A);
    let wrong_total = (bad.len() as u32 - 3).to_le_bytes();
    bad[4..8].copy_from_slice(&wrong_total); // not a multiple of 4, and the trailer disagrees
    bytes.extend(bad);
    let read = read_bytes(&bytes).unwrap();
    assert!(read.frames.is_empty());
    let error = read.error.expect("error");
    assert_eq!(error.offset, offset);
}
