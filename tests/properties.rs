//! Property tests: random and mutated packets never panic the decoder, random segment and
//! fragment sequences never panic reassembly nor break its limits, and analyses merge the same
//! whatever the grouping and order (Default is the identity).

use pcdns::analyze::{AddressFindings, Analysis, Watching};
use pcdns::capture::FrameMeta;
use pcdns::decode::{
    decode_frame, DecodeConfig, Decoded, FragmentLimits, FragmentTable, FrameContext,
    OwnedFragment, OwnedSegment, TcpLimits, TcpStreams, WatchList, STATE_OVERHEAD_BYTES,
};
use pcdns::synth::{Synth, SynthConfig, POOL_NAME};
use proptest::prelude::*;

const LINK_TYPES: [u32; 10] = [0, 1, 12, 101, 108, 113, 228, 229, 239, 276];

fn meta(link_type: u32, frame: &[u8], wire_extra: u32) -> FrameMeta {
    FrameMeta {
        ts_ns: 1,
        file_index: 0,
        frame_number: 1,
        link_type,
        start: 0,
        caplen: frame.len() as u32,
        wire_len: frame.len() as u32 + wire_extra,
    }
}

fn configs() -> [DecodeConfig; 2] {
    [
        DecodeConfig {
            dns_ports: vec![53, 5353],
            watch: WatchList::everything(),
            connection_targets: Vec::new(),
        },
        DecodeConfig {
            dns_ports: vec![53],
            watch: WatchList::names([POOL_NAME]),
            connection_targets: vec![[10, 10, 10, 1].into(), [10, 10, 10, 2].into()],
        },
    ]
}

fn synth_frames(seed: u64, packets: u64) -> Vec<Vec<u8>> {
    let config = SynthConfig {
        packets,
        seed,
        non_dns: 0.2,
        other_dns: 0.4,
        wrong: 0.3,
        unanswered: 0.1,
        pool_size: 3,
        clients: 20,
        vlan: 0.3,
        ipv6: 0.3,
        responses_only: false,
        max_payload: 64,
    };
    Synth::new(config).collect_frames()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn random_frames_never_panic(link in 0..LINK_TYPES.len(), frame in proptest::collection::vec(any::<u8>(), 0..600)) {
        for config in &configs() {
            let _ = decode_frame(&meta(LINK_TYPES[link], &frame, 0), &frame, config);
        }
    }

    #[test]
    fn mutated_real_frames_never_panic(seed in 0u64..1000, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        for frame in synth_frames(seed, 6) {
            let mut mutated = frame.clone();
            for (position, value) in &flips {
                let index = position % mutated.len();
                mutated[index] = *value;
            }
            mutated.truncate(cut % (mutated.len() + 1));
            for config in &configs() {
                let _ = decode_frame(&meta(1, &mutated, 4), &mutated, config);
            }
        }
    }

    #[test]
    fn random_segments_and_fragments_never_panic_and_stay_within_limits(
        records in proptest::collection::vec((any::<u8>(), any::<u32>(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..300)), 1..60)
    ) {
        let tcp_limits = TcpLimits { idle_ns: 1_000, max_directions: 4, max_direction_bytes: 2048, max_bytes: 8192 };
        let fragment_limits = FragmentLimits { timeout_ns: 1_000, max_datagrams: 4, max_bytes: 8192 };
        let mut streams = TcpStreams::new(tcp_limits);
        let mut table = FragmentTable::new(fragment_limits);
        let mut out = Vec::new();
        for (index, (kind, number, small, payload)) in records.into_iter().enumerate() {
            let frame = FrameContext { ts_ns: index as u64 * 100, file_index: 0, frame_number: index as u64 + 1 };
            let port = 53 + u16::from(kind % 3);
            if kind % 2 == 0 {
                let segment = OwnedSegment {
                    frame,
                    source: ([192, 0, 2, kind % 4], port).into(),
                    destination: ([192, 0, 2, 200], 40000).into(),
                    sequence: number,
                    syn: kind & 0x10 != 0,
                    fin: kind & 0x20 != 0,
                    rst: kind & 0x40 != 0,
                    payload,
                };
                streams.segment(&segment, &mut out);
                prop_assert!(streams.held_bytes() <= tcp_limits.max_bytes + 300 + 2 * STATE_OVERHEAD_BYTES);
            } else {
                let fragment = OwnedFragment {
                    frame,
                    source: [192, 0, 2, kind % 4].into(),
                    destination: [192, 0, 2, 200].into(),
                    identification: u32::from(small % 5),
                    offset: (number % 70_000) as usize,
                    more: kind & 0x80 != 0,
                    payload,
                };
                let _ = table.insert(&fragment);
                prop_assert!(table.held_bytes() <= fragment_limits.max_bytes);
            }
            if index % 7 == 0 {
                streams.expire(frame.ts_ns);
                let _ = table.expire(frame.ts_ns);
            }
        }
        streams.finish();
        let _ = table.finish();
        prop_assert_eq!(streams.held_bytes(), 0);
        prop_assert_eq!(table.held_bytes(), 0);
    }

    #[test]
    fn analyses_merge_the_same_whatever_the_grouping(seed in 0u64..500, split_a in 0usize..400, split_b in 0usize..400) {
        let watching = Watching::Expectations(
            pcdns::expect::parse("x.toml", &format!("[[pool]]\nname = \"{POOL_NAME}\"\nmembers = [\"10.10.10.1\", \"10.10.10.2\"]\n")).unwrap(),
        );
        let config = DecodeConfig { dns_ports: vec![53], watch: WatchList::everything(), connection_targets: Vec::new() };
        let messages: Vec<_> = synth_frames(seed, 400)
            .iter()
            .enumerate()
            .filter_map(|(index, frame)| {
                let mut m = meta(1, frame, 0);
                m.frame_number = index as u64 + 1;
                m.ts_ns = index as u64 * 1000;
                match decode_frame(&m, frame, &config).result {
                    Ok(Decoded::Watched(message)) => Some(message),
                    _ => None,
                }
            })
            .collect();
        let (first, second) = (split_a.min(split_b).min(messages.len()), split_a.max(split_b).min(messages.len()));
        let analysis_of = |slice: &[Box<pcdns::decode::DnsMessage>]| {
            let mut analysis = Analysis::default();
            let mut gathered = AddressFindings::default();
            for message in slice {
                analysis.ingest(message, &watching, &mut gathered);
            }
            gathered.fold_into(&mut analysis.findings);
            analysis
        };
        let whole = analysis_of(&messages);
        let (a, b, c) = (analysis_of(&messages[..first]), analysis_of(&messages[first..second]), analysis_of(&messages[second..]));
        let mut left = a.clone();
        left.merge(b.clone());
        left.merge(c.clone());
        let mut right = c;
        let mut ba = b;
        ba.merge(a);
        right.merge(ba);
        right.merge(Analysis::default());
        prop_assert_eq!(&left, &whole);
        prop_assert_eq!(&right, &whole);
    }
}
