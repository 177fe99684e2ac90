//! A second look at capture files that showed no watched response: counts, per UDP port that
//! is not a DNS port, the responses about watched names it carried, so the report can suggest
//! `--dns-port`. One thread, in file order; run only in that case, so the normal run pays
//! nothing for it. Standard input cannot be read twice and is left out.

use super::{BATCH_BYTES, BATCH_FRAMES};
use crate::capture::{BatchSource, FileSource, FrameBatch, InputPath};
use crate::decode::{watched_response_port, DecodeConfig};
use std::collections::BTreeMap;

/// Responses about watched names per server port, on UDP ports that `decode` does not take as
/// DNS, in the files among `inputs`.
pub fn watched_responses_on_other_ports(
    inputs: &[InputPath],
    decode: &DecodeConfig,
) -> BTreeMap<u16, u64> {
    let files: Vec<InputPath> = inputs
        .iter()
        .filter(|input| matches!(input, InputPath::File(_)))
        .cloned()
        .collect();
    let mut source = FileSource::new(files, None);
    let mut batch = FrameBatch::default();
    let mut counts = BTreeMap::new();
    loop {
        batch.clear();
        let more = source.next_batch(&mut batch, BATCH_FRAMES, BATCH_BYTES);
        for frame in &batch.frames {
            if let Some(port) = watched_response_port(frame, batch.frame_bytes(frame), decode) {
                *counts.entry(port).or_insert(0) += 1;
            }
        }
        if !more {
            break;
        }
    }
    source.finish();
    counts
}
