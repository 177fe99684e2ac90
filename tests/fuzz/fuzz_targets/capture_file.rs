//! Fuzzes the capture reader on whole files: the input is written to a per-process file under
//! /tmp and read to the end (or the first error) through `CaptureReader`, exactly as the CLI
//! reads a file. Every frame is checked to lie inside its batch, decoded, and run through the
//! reassembler in capture order, as the pipeline does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pcdns::capture::{CaptureReader, FrameBatch, InputPath};
use pcdns::decode::{decode_frame, DecodeConfig, Reassembler, WatchList};
use std::path::PathBuf;
use std::sync::OnceLock;

#[path = "limits.rs"]
mod limits;
use limits::LIMITS;

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("pcdns-fuzz-capture-{}.bin", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    if std::fs::write(path, data).is_err() {
        return;
    }
    let input = InputPath::File(path.clone());
    let Ok(mut reader) = CaptureReader::open(&input, 0) else {
        return;
    };
    let config = DecodeConfig {
        dns_ports: vec![53, 5353],
        watch: WatchList::everything(),
        connection_targets: Vec::new(),
    };
    let mut reassembler = Reassembler::new(&config, LIMITS);
    let mut out = Vec::new();
    let mut batch = FrameBatch::default();
    let mut frames = 0u64;
    loop {
        batch.clear();
        // Frames read before an error are in the batch too (the pipeline analyses them).
        let filled = reader.fill_batch(&mut batch, 1000, 1 << 20);
        if let Ok(count) = filled {
            assert_eq!(count, batch.frames.len(), "fill_batch count vs frames");
        }
        for meta in &batch.frames {
            frames += 1;
            assert_eq!(meta.frame_number, frames, "frame numbers count from 1");
            // frame_bytes panics on a frame outside its batch (its bytes or its mapped file).
            let bytes = batch.frame_bytes(meta);
            assert_eq!(bytes.len(), meta.caplen as usize, "frame length: {meta:?}");
            let outcome = decode_frame(meta, bytes, &config);
            if let Ok(decoded) = outcome.result {
                reassembler.accept(decoded, &mut out);
            }
            if frames % 64 == 0 {
                reassembler.advance(meta.ts_ns, &mut out);
            }
            out.clear();
        }
        if !matches!(filled, Ok(count) if count > 0) {
            break;
        }
    }
    let summary = reader.summary();
    assert_eq!(summary.packets, frames, "summary packets vs frames read");
    let _ = summary.format_label();
    reassembler.finish(&mut out);
    drop(reader);
});
