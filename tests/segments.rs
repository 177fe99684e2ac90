//! Reading pcap files in segments on several threads gives exactly the serial reader's result:
//! the report, the exit status and the errors of `--segment-bytes 0` (one reader), with tiny
//! segments that put boundaries everywhere, on the corpus and the samples, on a capture whose
//! payloads hold fake record headers right after segment boundaries, on files cut or corrupted
//! in a late segment, and (a property) on random records with random segment sizes; and the
//! threaded reader of other inputs (`--segment-bytes 0` on 2 and 3 threads) as well.

use crate::common::*;
use pcdns::capture::{InputPath, MappedPcap};
use proptest::prelude::*;
use std::io::Write;
use std::path::Path;

/// 0: the reader thread and decode workers (and the calling thread decoding) instead.
const SEGMENT_SIZES: [&str; 3] = ["0", "512", "4096"];
const THREADS: [&str; 3] = ["1", "2", "3"];

/// Runs `analyze` on `file` serially and in segments; returns the differences.
fn compare_with_serial(file: &Path, extra: &[&str]) -> Vec<String> {
    let file = file.to_str().expect("utf-8 path");
    let args = [&["analyze", file, "--format", "json"][..], extra].concat();
    let serial = pcdns(&[&args[..], &["--segment-bytes", "0", "--threads", "1"]].concat());
    let mut differences = Vec::new();
    for segment in SEGMENT_SIZES {
        for threads in THREADS {
            let run = pcdns(
                &[
                    &args[..],
                    &["--segment-bytes", segment, "--threads", threads],
                ]
                .concat(),
            );
            let what = format!("{file} with --segment-bytes {segment} --threads {threads}");
            if run.status.code() != serial.status.code() {
                differences.push(format!(
                    "{what}: exit {:?}, serial {:?}",
                    run.status.code(),
                    serial.status.code()
                ));
            }
            if run.stdout != serial.stdout {
                differences.push(format!("{what}: the report differs"));
            }
            if run.stderr != serial.stderr {
                differences.push(format!(
                    "{what}: stderr differs:\n{}\nserial:\n{}",
                    stderr(&run),
                    stderr(&serial)
                ));
            }
        }
    }
    differences
}

#[test]
fn corpus_and_samples_in_tiny_segments_match_the_serial_reader() {
    let mut files: Vec<(std::path::PathBuf, Vec<&str>)> = ["broken", "healthy", "rotation"]
        .iter()
        .map(|name| {
            (
                sample(&format!("{name}.pcap")),
                vec!["--expect", "samples/contoso.toml"],
            )
        })
        .collect();
    for name in ["large-pool", "netmask"] {
        files.push((sample(&format!("{name}.pcap")), vec![]));
    }
    match corpus_dir() {
        Some(dir) => {
            for (path, _) in manifest(&dir) {
                let ports = vec!["--dns-port", "8053", "--dns-port", "1053"];
                files.push((dir.join(path), ports));
            }
        }
        None => missing("the shared corpus (../shared/corpus or PCDNS_CORPUS_DIR)"),
    }
    let differences: Vec<String> = files
        .iter()
        .flat_map(|(file, extra)| compare_with_serial(file, extra))
        .collect();
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

/// A legacy pcap file (microseconds, little-endian, Ethernet) of `records`: (ts_sec, ts_usec,
/// frame).
fn pcap_bytes(records: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for word in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        bytes.extend(word.to_le_bytes());
    }
    for (sec, usec, frame) in records {
        for word in [*sec, *usec, frame.len() as u32, frame.len() as u32] {
            bytes.extend(word.to_le_bytes());
        }
        bytes.extend(frame);
    }
    bytes
}

fn temp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(bytes).expect("write");
    file
}

/// DNS frames (queries and answers for the pool, some wrong) from the synthesiser.
fn dns_frames(seed: u64, packets: u64) -> Vec<Vec<u8>> {
    pcdns::synth::Synth::new(pcdns::synth::SynthConfig {
        packets,
        seed,
        non_dns: 0.2,
        other_dns: 0.3,
        wrong: 0.1,
        unanswered: 0.1,
        pool_size: 2,
        clients: 20,
        vlan: 0.1,
        ipv6: 0.3,
        responses_only: false,
        max_payload: 200,
    })
    .collect_frames()
}

#[test]
fn fake_record_headers_after_segment_boundaries_do_not_fool_the_reader() {
    const SEGMENT: usize = 4096;
    let frames = dns_frames(5, 400);
    // The trap: a non-DNS frame whose payload, from a segment boundary on, reads as a chain of
    // well-formed records holding DNS responses.
    let mut fake_chain = Vec::new();
    for frame in frames.iter().take(10) {
        for word in [1_700_000_000u32, 1, frame.len() as u32, frame.len() as u32] {
            fake_chain.extend(word.to_le_bytes());
        }
        fake_chain.extend(frame);
    }
    let mut records: Vec<(u32, u32, Vec<u8>)> = Vec::new();
    let mut length = 24;
    let mut traps = 0;
    for (n, frame) in frames.iter().enumerate() {
        let ts = (1_700_000_000 + n as u32 / 10, (n as u32 % 10) * 1000);
        let next_boundary = (length / SEGMENT + 1) * SEGMENT;
        // Room for a trap frame starting before the boundary: Ethernet header, then filler up to
        // the boundary, then the fake chain.
        if next_boundary - length > 16 + 14 + 64 && next_boundary - length < 600 {
            let mut trap = vec![0u8; 12];
            trap.extend([0x88, 0xb5]); // a local experimental ethertype: not IP
            trap.resize(next_boundary - length - 16, 0x5a);
            trap.extend(&fake_chain);
            length += 16 + trap.len();
            records.push((ts.0, ts.1, trap));
            traps += 1;
        }
        length += 16 + frame.len();
        records.push((ts.0, ts.1, frame.clone()));
    }
    assert!(traps >= 10, "only {traps} traps");
    let file = temp_file(&pcap_bytes(&records));
    // The trap is armed: a guess from a boundary with a trap lands on the fake chain.
    let pcap = MappedPcap::open(&InputPath::File(file.path().into()), 0).expect("mapped pcap");
    let fooled = (1..pcap.len() / SEGMENT)
        .filter(|k| pcap.resync(k * SEGMENT, (k + 1) * SEGMENT) == k * SEGMENT)
        .count();
    assert!(fooled >= 10, "resync picked only {fooled} fake chains");
    let differences = compare_with_serial(file.path(), &["--expect", "samples/contoso.toml"]);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// A synthetic DNS capture as legacy pcap bytes.
fn synth_pcap_bytes(seed: u64, packets: u64) -> Vec<u8> {
    let records: Vec<(u32, u32, Vec<u8>)> = dns_frames(seed, packets)
        .into_iter()
        .enumerate()
        .map(|(n, frame)| {
            (
                1_700_000_000 + n as u32 / 50,
                (n as u32 % 50) * 20_000,
                frame,
            )
        })
        .collect();
    pcap_bytes(&records)
}

/// Offsets of the record headers of legacy pcap `bytes` (little-endian, 16-byte headers).
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut offset = 24;
    while offset + 16 <= bytes.len() {
        offsets.push(offset);
        let caplen = u32::from_le_bytes(bytes[offset + 8..offset + 12].try_into().unwrap());
        offset += 16 + caplen as usize;
    }
    offsets
}

#[test]
fn files_cut_or_corrupted_in_a_late_segment_fail_as_with_one_reader() {
    let whole = synth_pcap_bytes(8, 1500);
    let offsets = record_offsets(&whole);
    let late = offsets[offsets.len() * 9 / 10];
    let expect = ["--expect", "samples/contoso.toml"];
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("cut inside a frame", whole[..late + 30].to_vec()),
        ("cut inside a record header", whole[..late + 7].to_vec()),
    ];
    let mut too_large = whole.clone();
    too_large[late + 8..late + 12].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    cases.push(("a record claiming 2 GB", too_large));
    let mut past_end = whole.clone();
    past_end[late + 8..late + 12].copy_from_slice(&100_000u32.to_le_bytes());
    cases.push(("a record running past the end", past_end));
    // A caplen a little too large swallows the next records: no error, another record chain,
    // which guesses for later segments do not follow.
    let mut swallowing = whole.clone();
    let early = offsets[offsets.len() / 3];
    let caplen = u32::from_le_bytes(whole[early + 8..early + 12].try_into().unwrap());
    swallowing[early + 8..early + 12].copy_from_slice(&(caplen + 3000).to_le_bytes());
    cases.push(("a caplen that swallows records", swallowing));
    for (what, bytes) in cases {
        let file = temp_file(&bytes);
        let serial = pcdns(&[
            "analyze",
            file.path().to_str().unwrap(),
            "--format",
            "json",
            "--expect",
            "samples/contoso.toml",
            "--segment-bytes",
            "0",
        ]);
        // The swallowing caplen leads the chain into frame bytes: whatever it reads there.
        if what != "a caplen that swallows records" {
            assert_eq!(serial.status.code(), Some(2), "{what}: {}", stderr(&serial));
            assert!(
                stderr(&serial).contains(&format!("byte offset {late}:")),
                "{what}: {}",
                stderr(&serial)
            );
        }
        let differences = compare_with_serial(file.path(), &expect);
        assert!(differences.is_empty(), "{what}: {}", differences.join("\n"));
    }
}

/// Everything a run produces that the report and the transaction log show.
fn run_facts(file: &Path, threads: usize, segment_bytes: usize) -> String {
    let mut config = run_config_for(file, threads);
    config.segment_bytes = segment_bytes;
    let (outcome, transactions) = logged_run(&config);
    format!(
        "{}\n{:?}\n{}\n{:?}\n{}",
        serde_json::to_string(&outcome.analysis).expect("json"),
        outcome.files,
        outcome.timestamps_backwards,
        outcome.errors,
        transactions.join("\n")
    )
}

fn run_config_for(file: &Path, threads: usize) -> pcdns::pipeline::RunConfig {
    let temp = tempfile::NamedTempFile::new().expect("temp file");
    let watch = pcdns::decode::WatchList::everything();
    let mut config = run_config(
        &temp,
        pcdns::analyze::Watching::Discovery,
        watch,
        threads,
        1000,
    );
    config.inputs = vec![InputPath::File(file.to_path_buf())];
    config
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn segmented_reading_equals_serial_reading(
        seed in 0u64..1000,
        packets in 1u64..400,
        padding in proptest::collection::vec(0usize..400, 1..50),
        backwards in proptest::collection::vec(any::<bool>(), 1..50),
        cut in proptest::option::of(any::<usize>()),
        segment_bytes in 17usize..20_000,
        threads in 1usize..4,
    ) {
        let records: Vec<(u32, u32, Vec<u8>)> = dns_frames(seed, packets)
            .into_iter()
            .enumerate()
            .map(|(n, mut frame)| {
                // Trailing bytes after the IP packet vary the record sizes; some timestamps
                // go back.
                frame.resize(frame.len() + padding[n % padding.len()], 0xa5);
                let second = if backwards[n % backwards.len()] { 5 } else { 10 + n as u32 / 7 };
                (1_700_000_000 + second, (n as u32 % 7) * 100_000, frame)
            })
            .collect();
        let mut bytes = pcap_bytes(&records);
        if let Some(cut) = cut {
            bytes.truncate(24 + cut % (bytes.len() - 23));
        }
        let file = temp_file(&bytes);
        let serial = run_facts(file.path(), 1, 0);
        let segmented = run_facts(file.path(), threads, segment_bytes);
        prop_assert_eq!(serial, segmented);
    }
}
