//! Hostile traffic (scaled down so the debug suite stays fast): floods of queries never
//! answered, and random-subdomain floods. pcdns stays inside its configured caps and says what
//! it evicted or did not track.

use pcdns::analyze::{PairingSettings, Watching, MAX_DISCOVERED_NAMES};
use pcdns::capture::{CaptureWriter, InputPath, WriteFormat};
use pcdns::decode::{DecodeConfig, FragmentLimits, ReassemblyLimits, TcpLimits, WatchList};
use pcdns::pipeline::{self, RunConfig, RunOutcome};
use pcdns::synth::{Synth, SynthConfig, POOL_NAME};

fn capture(config: SynthConfig) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    let mut writer = CaptureWriter::new(
        std::io::BufWriter::new(std::fs::File::create(file.path()).unwrap()),
        WriteFormat::Pcapng,
    )
    .unwrap();
    let mut synth = Synth::new(config);
    let mut frame = Vec::new();
    while let Some(ts) = synth.next_frame(&mut frame) {
        writer.write_frame(ts, &frame).unwrap();
    }
    writer.finish().unwrap();
    file
}

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
    let config = RunConfig {
        inputs: vec![InputPath::File(file.path().to_path_buf())],
        decode: DecodeConfig {
            dns_ports: vec![53],
            watch,
        },
        watching,
        threads: 2,
        progress: None,
        pairing: PairingSettings {
            query_timeout_ns: 5_000_000_000,
            max_pending,
        },
        reassembly: ReassemblyLimits {
            fragments: FragmentLimits {
                timeout_ns: 30_000_000_000,
                max_datagrams: 64,
                max_bytes: 1 << 20,
            },
            tcp: TcpLimits {
                idle_ns: 60_000_000_000,
                max_directions: 64,
                max_direction_bytes: 1 << 18,
                max_bytes: 1 << 22,
            },
        },
    };
    pipeline::run(&config, &mut |_| {})
}

#[test]
fn queries_never_answered_stay_within_the_pending_cap_and_evictions_are_counted() {
    // 200 k watched queries from 60 k clients, none answered, all within one query timeout.
    let file = capture(flood(200_000, 0.0, 1.0));
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
fn random_subdomain_flood_is_capped_in_discovery_and_the_rest_counted() {
    // 300 k exchanges for random names out of 100 k: discovery tracks at most its limit.
    let file = capture(flood(300_000, 1.0, 0.0));
    let outcome = run(&file, Watching::Discovery, WatchList::everything(), 250_000);
    let names = outcome.analysis.names.len();
    assert!(names <= MAX_DISCOVERED_NAMES, "{names}");
    assert!(outcome.analysis.traffic.untracked_name_responses > 0);
    assert_eq!(outcome.analysis.traffic.responses, 150_000);
}
