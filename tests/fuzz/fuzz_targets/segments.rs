//! Fuzzes the segmented reading of plain pcap files differentially: the input (after its first
//! byte) is written to a per-process file under /tmp and analysed five times — with the serial
//! reader, read in segments (size from the first byte, 24 to 6144 bytes, so that even small
//! inputs have several) on one, two and three threads, and with the threaded reader on two —
//! and the runs must agree on the analysis, the file summaries, the timestamps that went
//! backwards, the errors and the transaction log. Never panicking is checked on the way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pcdns::analyze::{PairingSettings, Watching};
use pcdns::capture::InputPath;
use pcdns::decode::{DecodeConfig, WatchList};
use pcdns::pipeline::{run, RunConfig};
use std::path::PathBuf;
use std::sync::OnceLock;

#[path = "limits.rs"]
mod limits;
use limits::LIMITS;

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("pcdns-fuzz-segments-{}.pcap", std::process::id()))
    })
}

/// Everything a run produces, as text.
fn facts(threads: usize, segment_bytes: usize) -> String {
    let config = RunConfig {
        inputs: vec![InputPath::File(path().clone())],
        decode: DecodeConfig {
            dns_ports: vec![53],
            watch: WatchList::everything(),
            connection_targets: Vec::new(),
        },
        watching: Watching::Discovery,
        threads,
        segment_bytes,
        progress: None,
        pairing: PairingSettings {
            query_timeout_ns: 5_000_000_000,
            max_pending: 64,
            max_bytes: 1 << 20,
        },
        reassembly: LIMITS,
        pseudonymize: None,
    };
    let mut transactions = Vec::new();
    let outcome = run(&config, &mut |t| transactions.push(format!("{t:?}")));
    format!(
        "{:?}\n{:?}\n{}\n{:?}\n{}",
        outcome.analysis,
        outcome.files,
        outcome.timestamps_backwards,
        outcome.errors,
        transactions.join("\n")
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, capture)) = data.split_first() else {
        return;
    };
    if std::fs::write(path(), capture).is_err() {
        return;
    }
    let segment_bytes = 24 + usize::from(size) * 24;
    let serial = facts(1, 0);
    assert_eq!(
        serial,
        facts(1, segment_bytes),
        "one thread, segments of {segment_bytes}"
    );
    // Two threads: one walker, and the calling thread walking while it waits.
    assert_eq!(
        serial,
        facts(2, segment_bytes),
        "two threads, segments of {segment_bytes}"
    );
    assert_eq!(
        serial,
        facts(3, segment_bytes),
        "three threads, segments of {segment_bytes}"
    );
    // The threaded reader: a reader thread and the calling thread decoding.
    assert_eq!(serial, facts(2, 0), "two threads, one reader");
});
