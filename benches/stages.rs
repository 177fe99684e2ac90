//! Criterion benches per stage (file reading, link/IP/UDP decode, DNS prefilter, hickory decode
//! of a watched response, aggregation) and end to end on synthetic captures: (a) no DNS,
//! (b) 40% non-DNS, 59% DNS for other names, 1% watched, (c) 100% watched responses.
//! Run with `cargo bench`; larger captures and the tcpdump/tshark comparison are in
//! benches/compare.sh.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pcdns::analyze::{Analyzer, PairingSettings, Watching};
use pcdns::capture::{CaptureReader, CaptureWriter, FrameBatch, FrameMeta, InputPath, WriteFormat};
use pcdns::decode::{
    decode_frame, DecodeConfig, Decoded, FragmentLimits, ReassemblyLimits, TcpLimits, WatchList,
};
use pcdns::pipeline::{self, RunConfig};
use pcdns::synth::{Synth, SynthConfig, POOL_NAME};
use std::hint::black_box;

const PACKETS: u64 = 100_000;

fn mix(non_dns: f64, other_dns: f64, responses_only: bool) -> SynthConfig {
    SynthConfig {
        packets: PACKETS,
        seed: 42,
        non_dns,
        other_dns,
        wrong: 0.05,
        unanswered: 0.01,
        pool_size: 4,
        clients: 5000,
        vlan: 0.1,
        ipv6: 0.2,
        responses_only,
        max_payload: 1200,
    }
}

fn frames(config: SynthConfig) -> Vec<Vec<u8>> {
    Synth::new(config).collect_frames()
}

fn write_capture(config: SynthConfig) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let out = std::io::BufWriter::new(std::fs::File::create(file.path()).expect("create"));
    let mut writer = CaptureWriter::new(out, WriteFormat::Pcap).expect("header");
    Synth::new(config).write_all(&mut writer).expect("frames");
    writer.finish().expect("flush");
    file
}

fn decode_config() -> DecodeConfig {
    DecodeConfig {
        dns_ports: vec![53],
        watch: WatchList::names([POOL_NAME]),
        connection_targets: Vec::new(),
    }
}

fn meta(frame: &[u8]) -> FrameMeta {
    FrameMeta {
        ts_ns: 0,
        file_index: 0,
        frame_number: 1,
        link_type: 1,
        start: 0,
        caplen: frame.len() as u32,
        wire_len: frame.len() as u32,
    }
}

fn watching() -> Watching {
    let text = format!("[[pool]]\nname = \"{POOL_NAME}\"\nmembers = [\"10.10.10.1\", \"10.10.10.2\", \"10.10.10.3\", \"10.10.10.4\"]\n");
    Watching::Expectations(pcdns::expect::parse("synth.toml", &text).expect("expectations"))
}

fn limits() -> ReassemblyLimits {
    ReassemblyLimits {
        fragments: FragmentLimits {
            timeout_ns: 30_000_000_000,
            max_datagrams: 8192,
            max_bytes: 32 << 20,
        },
        tcp: TcpLimits {
            idle_ns: 60_000_000_000,
            max_directions: 16_384,
            max_direction_bytes: 256 << 10,
            max_bytes: 96 << 20,
        },
    }
}

const PAIRING: PairingSettings = PairingSettings {
    query_timeout_ns: 5_000_000_000,
    max_pending: 250_000,
    max_bytes: 256 << 20,
};

fn file_reading(c: &mut Criterion) {
    let file = write_capture(mix(0.4, 0.59, false));
    let mut group = c.benchmark_group("stage");
    group.throughput(Throughput::Elements(PACKETS));
    group.bench_function("file reading", |b| {
        b.iter(|| {
            let mut reader =
                CaptureReader::open(&InputPath::File(file.path().to_path_buf()), 0).expect("open");
            let mut batch = FrameBatch::default();
            let mut frames = 0;
            while let Ok(n) = reader.fill_batch(&mut batch, 2048, 2 << 20) {
                if n == 0 {
                    break;
                }
                frames += n;
                batch.clear();
            }
            black_box(frames)
        })
    });
    group.finish();
}

fn decode_stages(c: &mut Criterion) {
    let config = decode_config();
    let non_dns = frames(mix(1.0, 0.0, false));
    let other_dns = frames(mix(0.0, 1.0, false));
    let watched = frames(mix(0.0, 0.0, true));
    let mut group = c.benchmark_group("stage");
    for (label, set) in [
        ("link/IP/UDP decode (non-DNS)", &non_dns),
        ("DNS prefilter (other names)", &other_dns),
        ("hickory decode (watched responses)", &watched),
    ] {
        group.throughput(Throughput::Elements(set.len() as u64));
        group.bench_function(label, |b| {
            b.iter(|| {
                let mut decoded = 0;
                for frame in set {
                    decoded +=
                        usize::from(decode_frame(&meta(frame), frame, &config).result.is_ok());
                }
                black_box(decoded)
            })
        });
    }
    let messages: Vec<_> = watched
        .iter()
        .filter_map(
            |frame| match decode_frame(&meta(frame), frame, &config).result {
                Ok(Decoded::Watched(message)) => Some(message),
                _ => None,
            },
        )
        .collect();
    let watching = watching();
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("aggregation (watched responses)", |b| {
        b.iter(|| {
            let mut analyzer = Analyzer::new(&watching, PAIRING, pipeline::DISCOVERED_NAMES, false);
            for message in &messages {
                analyzer.ingest(message.clone());
            }
            black_box(analyzer.finish(u64::MAX, &mut |_| {}, Default::default()))
        })
    });
    group.finish();
}

fn end_to_end(c: &mut Criterion) {
    let mut group = c.benchmark_group("end to end");
    group.sample_size(10);
    let captures = [
        ("(a) no DNS", write_capture(mix(1.0, 0.0, false))),
        ("(b) 40/59/1", write_capture(mix(0.4, 0.59, false))),
        ("(c) watched responses", write_capture(mix(0.0, 0.0, true))),
    ];
    for (label, file) in &captures {
        for threads in [1, 2] {
            let config = RunConfig {
                inputs: vec![InputPath::File(file.path().to_path_buf())],
                decode: decode_config(),
                watching: watching(),
                threads,
                segment_bytes: pipeline::SEGMENT_BYTES,
                progress: None,
                pairing: PAIRING,
                reassembly: limits(),
                discovered_names: pipeline::DISCOVERED_NAMES,
                pseudonymize: None,
                keeps_seam: true,
            };
            group.throughput(Throughput::Elements(PACKETS));
            group.bench_with_input(
                BenchmarkId::new(*label, format!("{threads} threads")),
                &config,
                |b, config| {
                    b.iter(|| black_box(pipeline::run_unlogged(config).analysis.traffic.packets))
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, file_reading, decode_stages, end_to_end);
criterion_main!(benches);
