//! Fuzzes the two bounded reassemblers with a script of operations taken from the input:
//!
//! ```text
//! op byte % 4 == 0|1  TCP segment: addr, flags, seq(4), dt(2), len(2), payload
//!              == 2   IP fragment: addr, id, mode, offset(4), dt(2), len(2), payload
//!              == 3   expire at now + dt(2) * 1000 ns
//! ```
//!
//! addr: low nibble = source index, high nibble = destination index into a small address set,
//! so streams and datagrams collide. After every operation the byte bounds must hold; after
//! `finish` nothing may be held. Small limits make eviction and gap handling frequent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pcdns::decode::{
    FragmentLimits, FragmentTable, FrameContext, OwnedFragment, OwnedSegment, TcpLimits,
    TcpStreams, STATE_OVERHEAD_BYTES,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

const TCP_LIMITS: TcpLimits = TcpLimits {
    idle_ns: 1_000_000,
    max_directions: 8,
    max_direction_bytes: 4096,
    max_bytes: 16384,
};

const FRAGMENT_LIMITS: FragmentLimits = FragmentLimits {
    timeout_ns: 1_000_000,
    max_datagrams: 8,
    max_bytes: 16384,
};

/// `PCDNS_FUZZ_WIDE_OFFSETS=1`: fragment offsets may take any usize value (the decoder only
/// produces offsets up to 65535 * 8, so by default they are limited to u32).
fn wide_offsets() -> bool {
    static WIDE: OnceLock<bool> = OnceLock::new();
    *WIDE.get_or_init(|| std::env::var_os("PCDNS_FUZZ_WIDE_OFFSETS").is_some())
}

/// `PCDNS_FUZZ_STRICT_TCP=1`: also assert `held_bytes <= max_bytes` after every segment.
fn strict_tcp() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("PCDNS_FUZZ_STRICT_TCP").is_some())
}

fn ip(index: u8) -> IpAddr {
    match index % 6 {
        0 => IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        1 => IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        2 => IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)),
        3 => IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
        4 => IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
        _ => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)),
    }
}

fn socket(index: u8) -> SocketAddr {
    let port = match (index / 6) % 3 {
        0 => 53,
        1 => 40000,
        _ => 40001,
    };
    SocketAddr::new(ip(index % 6), port)
}

struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if self.data.len() < count {
            return None;
        }
        let (head, tail) = self.data.split_at(count);
        self.data = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    /// A length, then that many bytes (or what is left).
    fn payload(&mut self, cap: usize) -> Option<Vec<u8>> {
        let length = usize::from(self.u16()?) % (cap + 1);
        let length = length.min(self.data.len());
        self.take(length).map(<[u8]>::to_vec)
    }
}

fn run(data: &[u8]) -> Option<()> {
    let mut input = Input { data };
    let mut streams = TcpStreams::new(TCP_LIMITS);
    let mut table = FragmentTable::new(FRAGMENT_LIMITS);
    let mut messages = Vec::new();
    let mut now: u64 = 0;
    let mut frame_number: u64 = 0;
    let loose_tcp_bound = TCP_LIMITS.max_bytes + 4096 + 2 * STATE_OVERHEAD_BYTES;
    let mut result = Some(());
    while result.is_some() {
        result = (|| {
            let op = input.u8()?;
            frame_number += 1;
            match op % 4 {
                0 | 1 => {
                    let addr = input.u8()?;
                    let flags = input.u8()?;
                    let sequence = input.u32()?;
                    now += u64::from(input.u16()?) * 100;
                    let payload = input.payload(6000)?;
                    let segment = OwnedSegment {
                        frame: FrameContext {
                            ts_ns: now,
                            file_index: 0,
                            frame_number,
                        },
                        source: socket(addr & 0x0f),
                        destination: socket(addr >> 4),
                        sequence,
                        syn: flags & 1 != 0,
                        fin: flags & 2 != 0,
                        rst: flags & 4 != 0 && flags & 8 != 0,
                        payload,
                    };
                    messages.clear();
                    streams.segment(&segment, &mut messages);
                    let held = streams.held_bytes();
                    assert!(
                        held <= loose_tcp_bound,
                        "tcp held {held} > {loose_tcp_bound} after {segment:?}"
                    );
                    if strict_tcp() {
                        assert!(
                            held <= TCP_LIMITS.max_bytes,
                            "tcp held {held} > max_bytes after a segment"
                        );
                    }
                    assert!(streams.directions() <= TCP_LIMITS.max_directions);
                    for message in &messages {
                        assert!(message.bytes.len() <= usize::from(u16::MAX));
                        assert_eq!(message.source, segment.source);
                        assert_eq!(message.destination, segment.destination);
                    }
                }
                2 => {
                    let addr = input.u8()?;
                    let identification = u32::from(input.u8()? % 4);
                    let mode = input.u8()?;
                    let offset = match mode % 4 {
                        // Like the decoder: 13-bit fragment offset in 8-byte units.
                        0 | 1 => usize::from(input.u16()? & 0x1fff) * 8,
                        // Byte-exact small offsets, to overlap pieces in odd ways.
                        2 => usize::from(input.u16()?) % 4096,
                        // Large offsets.
                        _ => {
                            if wide_offsets() {
                                input.u64()? as usize
                            } else {
                                input.u32()? as usize
                            }
                        }
                    };
                    now += u64::from(input.u16()?) * 100;
                    let payload = input.payload(4000)?;
                    let fragment = OwnedFragment {
                        frame: FrameContext {
                            ts_ns: now,
                            file_index: 0,
                            frame_number,
                        },
                        source: ip(addr & 0x0f),
                        destination: ip(addr >> 4),
                        identification,
                        offset,
                        more: mode & 0x80 == 0,
                        payload,
                    };
                    if let Some(datagram) = table.insert(&fragment) {
                        assert!(datagram.complete);
                        assert!(datagram.bytes.len() <= usize::from(u16::MAX));
                    }
                    let held = table.held_bytes();
                    assert!(
                        held <= FRAGMENT_LIMITS.max_bytes,
                        "fragments held {held} > {}",
                        FRAGMENT_LIMITS.max_bytes
                    );
                }
                _ => {
                    now += u64::from(input.u16()?) * 1000;
                    streams.expire(now);
                    for datagram in table.expire(now) {
                        assert!(!datagram.complete);
                    }
                    assert!(streams.held_bytes() <= loose_tcp_bound);
                    assert!(table.held_bytes() <= FRAGMENT_LIMITS.max_bytes);
                }
            }
            Some(())
        })();
    }
    streams.finish();
    assert_eq!(streams.held_bytes(), 0, "tcp bytes held after finish");
    assert_eq!(streams.directions(), 0, "tcp directions after finish");
    for datagram in table.finish() {
        assert!(!datagram.complete);
    }
    assert_eq!(table.held_bytes(), 0, "fragment bytes held after finish");
    assert!(table.counters.peak_bytes <= FRAGMENT_LIMITS.max_bytes);
    Some(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
