//! Fuzzes the per-frame decoder: byte 0 picks a link type, bit 0 of byte 1 marks the frame as
//! cut by snaplen (wire length larger than captured), the rest is the frame. Decoded with every
//! name watched and with one watched name; decoding must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pcdns::capture::FrameMeta;
use pcdns::decode::{decode_frame, DecodeConfig, WatchList};
use std::sync::OnceLock;

const LINK_TYPES: [u32; 9] = [1, 113, 276, 101, 228, 229, 0, 108, 239];

fn configs() -> &'static [DecodeConfig; 2] {
    static CONFIGS: OnceLock<[DecodeConfig; 2]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        [
            DecodeConfig {
                dns_ports: vec![53, 5353],
                watch: WatchList::everything(),
                connection_targets: Vec::new(),
            },
            DecodeConfig {
                dns_ports: vec![53, 5353],
                watch: WatchList::names(["pool.contoso.com"]),
                connection_targets: Vec::new(),
            },
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let link_type = LINK_TYPES[usize::from(data[0]) % LINK_TYPES.len()];
    let cut = data[1] & 1 == 1;
    let bytes = &data[2..];
    let len = bytes.len() as u32;
    let meta = FrameMeta {
        ts_ns: 0,
        file_index: 0,
        frame_number: 1,
        link_type,
        start: 0,
        caplen: len,
        wire_len: if cut { len + 100 } else { len },
    };
    for config in configs() {
        let outcome = decode_frame(&meta, bytes, config);
        assert_eq!(outcome.snaplen_truncated, cut);
        let _ = format!("{:?}", outcome.result);
    }
});
