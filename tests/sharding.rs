//! The sharded analysis gives the same bytes whatever the number of threads (lanes) and however
//! the capture is cut into batches and segments: on a synthetic capture of many batches, with
//! pairing and reassembly budgets small enough to evict, for the report's state (the whole
//! analysis) without the transaction log and, with it, for the log itself (the lanes' merged
//! transactions, and the binary's NDJSON bytes); and (a property) for random segment sizes and
//! thread counts.

use crate::common::*;
use pcdns::analyze::Watching;
use pcdns::capture::WriteFormat;
use pcdns::decode::WatchList;
use pcdns::pipeline::{self, RunConfig};
use pcdns::synth::{SynthConfig, POOL_NAME};
use proptest::prelude::*;

/// A mix of watched answers (some wrong, some unanswered), other names, non-DNS, VLANs and
/// IPv6, over a few thousand clients.
fn mix(packets: u64, seed: u64) -> SynthConfig {
    SynthConfig {
        packets,
        seed,
        non_dns: 0.2,
        other_dns: 0.3,
        wrong: 0.1,
        unanswered: 0.2,
        pool_size: 3,
        clients: 3_000,
        vlan: 0.2,
        ipv6: 0.3,
        responses_only: false,
        max_payload: 64,
    }
}

fn expectations() -> Watching {
    let toml = format!(
        "[[pool]]\nname = \"{POOL_NAME}\"\nmembers = [\"10.10.10.1\", \"10.10.10.2\", \"10.10.10.3\"]\n"
    );
    Watching::Expectations(pcdns::expect::parse("synth.toml", &toml).unwrap())
}

/// A run's configuration: `max_pending` small enough that pairing evicts, and few enough
/// discovered names per shard that discovery's top-k tables evict and filter.
fn config(
    file: &tempfile::NamedTempFile,
    watching: Watching,
    threads: usize,
    segment_bytes: usize,
) -> RunConfig {
    let watch = match &watching {
        Watching::Discovery => WatchList::everything(),
        Watching::Expectations(_) => WatchList::names([POOL_NAME]),
    };
    let mut config = run_config(file, watching, watch, threads, 300);
    config.segment_bytes = segment_bytes;
    config.discovered_names = 32 * 12;
    config
}

/// Everything an unlogged run produces that a report shows.
fn unlogged(config: &RunConfig) -> String {
    let outcome = pipeline::run_unlogged(config);
    format!(
        "{}\n{}\n{:?}\n{}\n{:?}",
        serde_json::to_string(&outcome.analysis).expect("json"),
        serde_json::to_string(&outcome.mergeable).expect("json"),
        outcome.files,
        outcome.timestamps_backwards,
        outcome.errors
    )
}

/// The analysis and the transaction log of a logged run.
fn logged(config: &RunConfig) -> (String, Vec<String>) {
    let (outcome, log) = logged_run(config);
    (serde_json::to_string(&outcome.analysis).expect("json"), log)
}

#[test]
fn reports_are_the_same_on_any_number_of_threads_and_any_cut() {
    let file = synth_capture(mix(30_000, 5), WriteFormat::Pcap);
    for watching in [expectations(), Watching::Discovery] {
        let reference = unlogged(&config(&file, watching.clone(), 1, 0));
        let evicted = pipeline::run_unlogged(&config(&file, watching.clone(), 1, 0));
        assert!(
            evicted.analysis.traffic.pairing.evicted_queries > 0,
            "the budget is small enough to evict"
        );
        assert!(evicted.analysis.traffic.packets > 10 * pipeline::BATCH_FRAMES as u64);
        if matches!(watching, Watching::Discovery) {
            let traffic = &evicted.analysis.traffic;
            assert!(
                traffic.untracked_name_responses > 0,
                "discovery's tables are small enough to drop names"
            );
        }
        for (threads, segment_bytes) in [
            (1, pipeline::SEGMENT_BYTES),
            (1, 4_096),
            (2, 0),
            (2, pipeline::SEGMENT_BYTES),
            (3, 65_536),
            (5, 4_096),
            (16, 0),
            (16, pipeline::SEGMENT_BYTES),
        ] {
            {
                let run = unlogged(&config(&file, watching.clone(), threads, segment_bytes));
                assert!(
                    run == reference,
                    "--threads {threads} --segment-bytes {segment_bytes} differs from one thread"
                );
            }
        }
        // With the transaction log: the same analysis, and the same log in the same order
        // (expiries, evictions and what is pending at the end included: the capture spans a
        // third of a second, so with a 50 ms timeout queries expire, and some are evicted).
        let (analysis, _) = logged(&config(&file, watching.clone(), 1, 0));
        assert!(reference.starts_with(&analysis));
        let config = |threads, segment_bytes| {
            let mut config = config(&file, watching.clone(), threads, segment_bytes);
            config.pairing.query_timeout_ns = 50_000_000;
            config.pairing.max_pending = 2_000;
            config
        };
        let (analysis, log) = logged(&config(1, 0));
        assert!(log.len() > 1_000, "{} transactions", log.len());
        for status in ["Unanswered", "Evicted", "Pending", "Answered"] {
            let status = format!("status: {status},");
            assert!(log.iter().any(|t| t.contains(&status)), "no {status}");
        }
        for (threads, segment_bytes) in [
            (1, 4_096),
            (2, 0),
            (2, pipeline::SEGMENT_BYTES),
            (3, 0),
            (3, 65_536),
            (4, 65_536),
            (16, 0),
            (16, 4_096),
        ] {
            let run = logged(&config(threads, segment_bytes));
            assert!(
                run == (analysis.clone(), log.clone()),
                "the log with --threads {threads} --segment-bytes {segment_bytes} differs"
            );
        }
    }
}

#[test]
fn the_ndjson_log_is_the_same_bytes_on_any_threads_and_any_cut() {
    // Through the binary: lanes render the lines, the calling thread merges them. The capture
    // spans a second and a half (ticks of the one-second grid); a 100 ms query timeout and a
    // small pending cap make queries expire and be evicted.
    let file = synth_capture(mix(150_000, 11), WriteFormat::Pcap);
    let path = file.path().to_str().expect("utf-8 path");
    let log = |threads: &str, segment_bytes: &str| {
        let output = pcdns(&[
            "log",
            path,
            "--threads",
            threads,
            "--segment-bytes",
            segment_bytes,
            "--max-pending",
            "5000",
            "--query-timeout",
            "100ms",
            "--no-progress",
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        output.stdout
    };
    let reference = log("1", "0");
    let text = String::from_utf8(reference.clone()).expect("utf-8");
    assert!(
        text.lines().count() > 5_000,
        "{} lines",
        text.lines().count()
    );
    for status in ["unanswered", "evicted", "pending", "answered"] {
        let field = format!("\"status\":\"{status}\"");
        assert!(text.contains(&field), "no {status} line");
    }
    for (threads, segment_bytes) in [
        ("1", "4096"),
        ("2", "0"),
        ("2", "4194304"),
        ("3", "65536"),
        ("16", "0"),
        ("16", "4096"),
    ] {
        assert!(
            log(threads, segment_bytes) == reference,
            "pcdns log --threads {threads} --segment-bytes {segment_bytes} differs"
        );
    }
}

#[test]
fn a_pcapng_capture_read_by_the_threaded_reader_gives_the_same_report() {
    // pcapng is never read in segments: the reader thread and decode workers.
    let pcapng = synth_capture(mix(20_000, 9), WriteFormat::Pcapng);
    for watching in [expectations(), Watching::Discovery] {
        let reference = unlogged(&config(&pcapng, watching.clone(), 1, 0));
        for threads in [2, 4] {
            let run = unlogged(&config(&pcapng, watching.clone(), threads, 0));
            assert!(run == reference, "pcapng on {threads} threads");
        }
    }
}

#[test]
fn files_that_overlap_in_time_give_the_same_report_on_any_threads() {
    // The second file repeats the first's times: the capture clock stays at its largest
    // timestamp (no tick until it is passed), and pairing looks at each message's own time.
    let first = synth_capture(mix(10_000, 3), WriteFormat::Pcap);
    let second = synth_capture(mix(10_000, 4), WriteFormat::Pcap);
    let both = |threads: usize, segment_bytes: usize| {
        let mut config = config(&first, expectations(), threads, segment_bytes);
        config
            .inputs
            .push(pcdns::capture::InputPath::File(second.path().to_path_buf()));
        unlogged(&config)
    };
    let reference = both(1, 0);
    let outcome = {
        let mut config = config(&first, expectations(), 1, 0);
        config
            .inputs
            .push(pcdns::capture::InputPath::File(second.path().to_path_buf()));
        pipeline::run_unlogged(&config)
    };
    assert!(
        outcome.timestamps_backwards > 0,
        "the second file goes back in time"
    );
    for (threads, segment_bytes) in [(2, 0), (3, pipeline::SEGMENT_BYTES), (7, 4_096)] {
        assert!(
            both(threads, segment_bytes) == reference,
            "--threads {threads} --segment-bytes {segment_bytes}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, .. ProptestConfig::default() })]

    #[test]
    fn any_segment_size_and_thread_count_give_one_threads_report(
        seed in 0u64..1_000,
        segment_bytes in 64usize..200_000,
        threads in 1usize..9,
        discovery in any::<bool>(),
    ) {
        let file = synth_capture(mix(8_000, seed), WriteFormat::Pcap);
        let watching = if discovery { Watching::Discovery } else { expectations() };
        let reference = unlogged(&config(&file, watching.clone(), 1, 0));
        let run = unlogged(&config(&file, watching, threads, segment_bytes));
        prop_assert!(run == reference, "--threads {threads} --segment-bytes {segment_bytes}");
    }
}
