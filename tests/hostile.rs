//! Hostile traffic (scaled down so the debug suite stays fast): floods of queries never
//! answered, and random-subdomain floods. pcdns stays inside its configured caps and says what
//! it evicted or did not track.

use crate::common::{run_config, synth_capture};
use pcdns::analyze::Watching;
use pcdns::capture::WriteFormat;
use pcdns::decode::WatchList;
use pcdns::pipeline::{self, RunOutcome};
use pcdns::synth::{SynthConfig, POOL_NAME};

fn flood(packets: u64, other_dns: f64, unanswered: f64) -> SynthConfig {
    SynthConfig {
        packets,
        seed: 99,
        non_dns: 0.0,
        other_dns,
        wrong: 0.0,
        unanswered,
        pool_size: 2,
        clients: 60_000,
        vlan: 0.0,
        ipv6: 0.5,
        responses_only: false,
        max_payload: 0,
    }
}

fn run(
    file: &tempfile::NamedTempFile,
    watching: Watching,
    watch: WatchList,
    max_pending: usize,
) -> RunOutcome {
    pipeline::run_unlogged(&run_config(file, watching, watch, 2, max_pending))
}

#[test]
fn queries_never_answered_stay_within_the_pending_cap_and_evictions_are_counted() {
    // 200 k watched queries from 60 k clients, none answered, all within one query timeout.
    let file = synth_capture(flood(200_000, 0.0, 1.0), WriteFormat::Pcapng);
    let text =
        format!("[[pool]]\nname = \"{POOL_NAME}\"\nmembers = [\"10.10.10.1\", \"10.10.10.2\"]\n");
    let watching = Watching::Expectations(pcdns::expect::parse("x.toml", &text).unwrap());
    let cap = 5_000;
    let outcome = run(&file, watching, WatchList::names([POOL_NAME]), cap);
    let pairing = outcome.analysis.traffic.pairing;
    assert_eq!(
        pairing.evicted_queries + pairing.unanswered + pairing.pending,
        200_000
    );
    assert!(pairing.pending as usize <= cap, "{pairing:?}");
    assert!(pairing.evicted_queries >= 190_000, "{pairing:?}");
}

#[test]
fn queries_never_answered_stay_within_the_pairing_byte_cap() {
    // The same flood in discovery (every query tracked) with a 1 MiB pairing budget and no
    // effective entry cap: the byte budget alone bounds the state.
    let file = synth_capture(flood(200_000, 0.5, 1.0), WriteFormat::Pcapng);
    let mut config = run_config(
        &file,
        Watching::Discovery,
        WatchList::everything(),
        2,
        1 << 30,
    );
    let budget = 1 << 20;
    config.pairing.max_bytes = budget;
    let pairing = pipeline::run_unlogged(&config).analysis.traffic.pairing;
    // The budget is split among the analysis shards, each checks its share before an entry is
    // added: each may pass it by one entry (< 4 kB); the peak is the shards' peaks added up.
    let slack = 4096 * pcdns::pipeline::shards::SHARDS as u64;
    assert!(pairing.peak_bytes <= budget as u64 + slack, "{pairing:?}");
    assert!(pairing.peak_bytes >= budget as u64 / 2, "{pairing:?}");
    assert!(pairing.evicted_queries > 150_000, "{pairing:?}");
    assert_eq!(
        pairing.evicted_queries + pairing.unanswered + pairing.pending,
        200_000
    );
}

#[test]
fn random_subdomain_flood_is_capped_in_discovery_and_the_rest_counted() {
    // 300 k exchanges for random names out of 100 k: discovery holds at most its budget of
    // names (the default split across the shards), the rest counted.
    let file = synth_capture(flood(300_000, 1.0, 0.0), WriteFormat::Pcapng);
    let outcome = run(&file, Watching::Discovery, WatchList::everything(), 250_000);
    let names = outcome.analysis.discovered.names.len();
    let per_shard = pipeline::DISCOVERED_NAMES.div_ceil(pipeline::shards::SHARDS);
    assert!(names <= per_shard, "{names}");
    assert!(outcome.analysis.traffic.untracked_name_responses > 0);
    assert_eq!(outcome.analysis.traffic.responses, 150_000);
}
