//! Fuzzes the segmented reading of plain pcap files differentially: the input (after its first
//! byte) is written to a per-process file under /tmp and analysed five times — with the serial
//! reader, read in segments (size from the first byte, 24 to 6144 bytes, so that even small
//! inputs have several) on one, two and three threads, and with the threaded reader on two —
//! and the runs must agree on the analysis, the file summaries, the timestamps that went
//! backwards, the errors and the transaction log. Never panicking is checked on the way. Every
//! input is analysed twice so: in discovery, and against expectations for the names of the
//! samples and of common corpus captures (findings, pairing and connection matching of watched
//! names then run too).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pcdns::analyze::{PairingSettings, Watching};
use pcdns::capture::InputPath;
use pcdns::decode::{DecodeConfig, WatchList};
use pcdns::expect;
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

/// Expectations naming the samples' pools and names common in the corpus, with members that
/// some answers hold and others do not.
const EXPECTATIONS: &str = r#"
[[pool]]
name = "PersistentChatPool.contoso.com"
members = ["10.10.10.1", "10.10.10.2", "10.10.10.3", "10.10.10.4"]

[[pool]]
name = "www.example.com"
members = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]

[[pool]]
name = "google.com"
members = ["142.250.185.78"]
"#;

/// Discovery (every name), or the expectations above.
fn watching(expected: bool) -> (Watching, WatchList) {
    if !expected {
        return (Watching::Discovery, WatchList::everything());
    }
    let expectations = expect::parse("fuzz.toml", EXPECTATIONS).expect("valid expectations");
    let watch = WatchList::names(expectations.names.iter().map(|n| n.name.as_str()));
    (Watching::Expectations(expectations), watch)
}

/// Everything a run produces, as text.
fn facts(expected: bool, threads: usize, segment_bytes: usize) -> String {
    let (watching, watch) = watching(expected);
    let connection_targets = watching
        .expectations()
        .map(expect::Expectations::addresses)
        .unwrap_or_default();
    let config = RunConfig {
        inputs: vec![InputPath::File(path().clone())],
        decode: DecodeConfig {
            dns_ports: vec![53],
            watch,
            connection_targets,
        },
        watching,
        threads,
        segment_bytes,
        progress: None,
        pairing: PairingSettings {
            query_timeout_ns: 5_000_000_000,
            max_pending: 64,
            max_bytes: 1 << 20,
        },
        reassembly: LIMITS,
        discovered_names: pcdns::pipeline::DISCOVERED_NAMES,
        pseudonymize: None,
        keeps_seam: true,
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
    for expected in [false, true] {
        let serial = facts(expected, 1, 0);
        assert_eq!(
            serial,
            facts(expected, 1, segment_bytes),
            "one thread, segments of {segment_bytes}, expectations {expected}"
        );
        // Two threads: one walker, and the calling thread walking while it waits.
        assert_eq!(
            serial,
            facts(expected, 2, segment_bytes),
            "two threads, segments of {segment_bytes}, expectations {expected}"
        );
        assert_eq!(
            serial,
            facts(expected, 3, segment_bytes),
            "three threads, segments of {segment_bytes}, expectations {expected}"
        );
        // The threaded reader: a reader thread and the calling thread decoding.
        assert_eq!(
            serial,
            facts(expected, 2, 0),
            "two threads, one reader, expectations {expected}"
        );
    }
});
