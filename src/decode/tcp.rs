//! DNS over TCP stream reassembly (RFC 7766 §8: each message behind a two-byte length). One
//! state per direction: in-order bytes are appended, retransmitted bytes dropped, out-of-order
//! segments held until the gap closes (or given up when too much waits behind it), and a stream
//! first seen mid-way resynchronises on the next plausible length-prefixed DNS header. Streams
//! end on FIN, RST or idle time; everything is bounded per stream and in total, and whatever is
//! dropped is counted. Pure: segments in, DNS message bytes out, capture time as a value.

use super::{FrameContext, OwnedSegment};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;

/// Bookkeeping charged per direction and per held segment on top of the bytes.
pub const STATE_OVERHEAD_BYTES: usize = 128;
const LENGTH_PREFIX: usize = 2;
const DNS_HEADER_LEN: usize = 12;

/// How much TCP state may be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TcpLimits {
    /// Capture time without a segment after which a direction is closed.
    pub idle_ns: u64,
    /// Directions (half-streams) tracked at once.
    pub max_directions: usize,
    /// Bytes held per direction (a partial message plus segments waiting behind a gap).
    pub max_direction_bytes: usize,
    /// Bytes held over all directions.
    pub max_bytes: usize,
}

/// What TCP reassembly counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TcpCounters {
    /// Segments on DNS ports.
    pub segments: u64,
    /// DNS messages taken out of streams.
    pub messages: u64,
    /// Directions opened.
    pub directions: u64,
    /// Directions dropped to stay within the limits.
    pub evicted: u64,
    /// Bytes dropped: gaps given up, partial messages at close, eviction, resynchronisation.
    pub dropped_bytes: u64,
    /// Bytes seen twice (retransmissions).
    pub retransmitted_bytes: u64,
    /// Times a stream had to find the next message boundary again.
    pub resyncs: u64,
    /// Most bytes held at once.
    pub peak_bytes: usize,
}

impl TcpCounters {
    /// Adds `other` into `self` (every field: a field left out fails to compile). Peaks add up:
    /// parts (shards, runs) may hold their state at the same time, so the merged peak is an upper
    /// bound of what they held together, never an understatement.
    pub fn merge(&mut self, other: &TcpCounters) {
        let TcpCounters {
            segments,
            messages,
            directions,
            evicted,
            dropped_bytes,
            retransmitted_bytes,
            resyncs,
            peak_bytes,
        } = *other;
        self.segments += segments;
        self.messages += messages;
        self.directions += directions;
        self.evicted += evicted;
        self.dropped_bytes += dropped_bytes;
        self.retransmitted_bytes += retransmitted_bytes;
        self.resyncs += resyncs;
        self.peak_bytes += peak_bytes;
    }
}

/// One DNS message taken out of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMessage {
    /// The segment that completed it.
    pub frame: FrameContext,
    /// Sender.
    pub source: SocketAddr,
    /// Receiver.
    pub destination: SocketAddr,
    /// The DNS message (without its length prefix).
    pub bytes: Vec<u8>,
}

type Key = (SocketAddr, SocketAddr);

#[derive(Debug)]
struct Direction {
    created: u64,
    /// Sequence number of stream byte 0.
    base: u32,
    /// Stream position of the next expected byte.
    next: u32,
    /// In-order bytes not yet taken as messages.
    buffer: Vec<u8>,
    /// Segments beyond a gap, by stream position.
    waiting: BTreeMap<u32, Vec<u8>>,
    waiting_bytes: usize,
    /// The start of the buffer is not known to be a message boundary.
    resync: bool,
    last_ts_ns: u64,
    held: usize,
}

impl Direction {
    fn new(created: u64, base: u32, resync: bool, ts_ns: u64) -> Self {
        Direction {
            created,
            base,
            next: 0,
            buffer: Vec::new(),
            waiting: BTreeMap::new(),
            waiting_bytes: 0,
            resync,
            last_ts_ns: ts_ns,
            held: STATE_OVERHEAD_BYTES,
        }
    }

    fn measure(&self) -> usize {
        STATE_OVERHEAD_BYTES
            + self.buffer.len()
            + self.waiting_bytes
            + self.waiting.len() * STATE_OVERHEAD_BYTES
    }

    /// Appends bytes at stream position `position`, trimming what was already seen.
    fn append(&mut self, position: u32, data: &[u8], counters: &mut TcpCounters) {
        let behind = self.next.wrapping_sub(position) as usize;
        if behind >= data.len() {
            counters.retransmitted_bytes += data.len() as u64;
            return;
        }
        counters.retransmitted_bytes += behind as u64;
        self.buffer.extend_from_slice(&data[behind..]);
        self.next = self.next.wrapping_add((data.len() - behind) as u32);
    }

    /// Moves waiting segments that now connect into the buffer.
    fn drain_waiting(&mut self, counters: &mut TcpCounters) {
        while let Some((&position, _)) = self.waiting.first_key_value() {
            if (position.wrapping_sub(self.next) as i32) > 0 {
                break;
            }
            let Some(data) = self.waiting.remove(&position) else {
                break;
            };
            self.waiting_bytes -= data.len();
            self.append(position, &data, counters);
        }
    }

    /// Gives up the gap before the first waiting segment: the partial message is lost.
    fn skip_gap(&mut self, counters: &mut TcpCounters) {
        let Some((&position, _)) = self.waiting.first_key_value() else {
            return;
        };
        counters.dropped_bytes += self.buffer.len() as u64;
        counters.resyncs += 1;
        self.buffer.clear();
        self.next = position;
        self.resync = true;
        self.drain_waiting(counters);
    }

    /// Takes every complete, length-prefixed message out of the buffer.
    fn take_messages(&mut self, counters: &mut TcpCounters) -> Vec<Vec<u8>> {
        let mut messages = Vec::new();
        let mut start = 0;
        loop {
            let rest = &self.buffer[start..];
            if rest.len() < LENGTH_PREFIX {
                break;
            }
            let length = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            if self.resync {
                if rest.len() < LENGTH_PREFIX + DNS_HEADER_LEN {
                    break;
                }
                if !plausible_message(length, &rest[LENGTH_PREFIX..LENGTH_PREFIX + DNS_HEADER_LEN])
                {
                    start += 1;
                    counters.dropped_bytes += 1;
                    continue;
                }
            }
            if rest.len() < LENGTH_PREFIX + length {
                break;
            }
            messages.push(rest[LENGTH_PREFIX..LENGTH_PREFIX + length].to_vec());
            start += LENGTH_PREFIX + length;
            self.resync = false;
        }
        self.buffer.drain(..start);
        messages
    }
}

/// A length and header that look like the start of a DNS message (used to resynchronise):
/// room for a header, one question, a standard query or notify opcode, and section counts the
/// message length could hold.
fn plausible_message(length: usize, header: &[u8]) -> bool {
    let count = |index: usize| usize::from(u16::from_be_bytes([header[index], header[index + 1]]));
    let opcode = (header[2] >> 3) & 0x0f;
    let records = count(6) + count(8) + count(10);
    length >= DNS_HEADER_LEN + 5
        && count(4) == 1
        && matches!(opcode, 0 | 4 | 5)
        && records * 11 <= length
}

/// Every TCP direction on a DNS port.
#[derive(Debug)]
pub struct TcpStreams {
    limits: TcpLimits,
    directions: HashMap<Key, Direction, foldhash::fast::RandomState>,
    /// Directions in creation order (the eviction order); entries of closed ones are stale.
    order: VecDeque<(u64, Key)>,
    held_bytes: usize,
    next_created: u64,
    /// What happened so far.
    pub counters: TcpCounters,
}

impl TcpStreams {
    /// No streams.
    pub fn new(limits: TcpLimits) -> Self {
        TcpStreams {
            limits,
            directions: HashMap::default(),
            order: VecDeque::new(),
            held_bytes: 0,
            next_created: 0,
            counters: TcpCounters::default(),
        }
    }

    /// Bytes held now (data plus bookkeeping).
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Directions tracked now.
    pub fn directions(&self) -> usize {
        self.directions.len()
    }

    /// Feeds one segment; complete DNS messages are appended to `out`.
    pub fn segment(&mut self, segment: &OwnedSegment, out: &mut Vec<StreamMessage>) {
        self.counters.segments += 1;
        let key = (segment.source, segment.destination);
        if segment.rst {
            self.close(&key);
            self.close(&(segment.destination, segment.source));
            return;
        }
        // Data in a SYN (TCP Fast Open) starts after the SYN's own sequence number.
        let data_sequence = if segment.syn {
            segment.sequence.wrapping_add(1)
        } else {
            segment.sequence
        };
        if segment.syn {
            self.close(&key);
        }
        if !self.directions.contains_key(&key) {
            if segment.payload.is_empty() && !segment.syn {
                return;
            }
            self.make_room(0, true);
            self.next_created += 1;
            self.counters.directions += 1;
            let direction = Direction::new(
                self.next_created,
                data_sequence,
                !segment.syn,
                segment.frame.ts_ns,
            );
            self.held_bytes += direction.held;
            self.directions.insert(key, direction);
            self.order.push_back((self.next_created, key));
            if self.order.len() > 2 * self.directions.len() + 1024 {
                let directions = &self.directions;
                self.order.retain(|(created, key)| {
                    directions.get(key).is_some_and(|d| d.created == *created)
                });
            }
        }
        let Some(direction) = self.directions.get_mut(&key) else {
            return;
        };
        direction.last_ts_ns = segment.frame.ts_ns;
        if !segment.payload.is_empty() {
            let position = data_sequence.wrapping_sub(direction.base);
            let ahead = position.wrapping_sub(direction.next) as i32;
            if ahead > 0 {
                // Bytes are missing before this segment. If nothing partial waits and the segment
                // itself starts a plausible message, the gap held whole messages the capture lost
                // (tshark decodes on the same way); otherwise wait for the gap to fill, within limits.
                let starts_message = direction.buffer.is_empty()
                    && direction.waiting.is_empty()
                    && segment.payload.len() >= LENGTH_PREFIX + DNS_HEADER_LEN
                    && plausible_message(
                        usize::from(u16::from_be_bytes([segment.payload[0], segment.payload[1]])),
                        &segment.payload[LENGTH_PREFIX..LENGTH_PREFIX + DNS_HEADER_LEN],
                    );
                if starts_message {
                    direction.next = position;
                    self.counters.resyncs += 1;
                } else if direction.waiting_bytes + segment.payload.len()
                    > self.limits.max_direction_bytes / 2
                {
                    direction.skip_gap(&mut self.counters);
                }
            }
            if ahead > 0 && direction.next != position {
                let data = segment.payload.clone();
                direction.waiting_bytes += data.len();
                if let Some(replaced) = direction.waiting.insert(position, data) {
                    direction.waiting_bytes -= replaced.len();
                    self.counters.retransmitted_bytes += replaced.len() as u64;
                }
            } else {
                direction.append(position, &segment.payload, &mut self.counters);
            }
            direction.drain_waiting(&mut self.counters);
        }
        if segment.fin {
            while !direction.waiting.is_empty() {
                direction.skip_gap(&mut self.counters);
            }
        }
        let messages = direction.take_messages(&mut self.counters);
        if direction.buffer.len() > self.limits.max_direction_bytes {
            // More than any DNS message can be: not DNS, or lost beyond repair.
            self.counters.dropped_bytes += direction.buffer.len() as u64;
            direction.buffer.clear();
            direction.resync = true;
            self.counters.resyncs += 1;
        }
        self.counters.messages += messages.len() as u64;
        out.extend(messages.into_iter().map(|bytes| StreamMessage {
            frame: segment.frame,
            source: segment.source,
            destination: segment.destination,
            bytes,
        }));
        let held = direction.measure();
        let previous = std::mem::replace(&mut direction.held, held);
        self.held_bytes = self.held_bytes + held - previous;
        if segment.fin {
            self.close(&key);
        }
        self.make_room(0, false);
        self.counters.peak_bytes = self.counters.peak_bytes.max(self.held_bytes);
    }

    fn close(&mut self, key: &Key) {
        if let Some(direction) = self.directions.remove(key) {
            self.counters.dropped_bytes +=
                (direction.buffer.len() + direction.waiting_bytes) as u64;
            self.held_bytes -= direction.held;
        }
    }

    /// Drops the oldest directions until the limits hold (with `new_direction`, with room for
    /// one more).
    fn make_room(&mut self, extra: usize, new_direction: bool) {
        let max_directions = self.limits.max_directions.max(1);
        while (new_direction && self.directions.len() >= max_directions)
            || self.held_bytes + extra > self.limits.max_bytes
        {
            let Some((created, key)) = self.order.pop_front() else {
                break;
            };
            if self
                .directions
                .get(&key)
                .is_some_and(|d| d.created == created)
            {
                self.close(&key);
                self.counters.evicted += 1;
            }
        }
    }

    /// Closes directions idle longer than the limit at `now_ns`.
    pub fn expire(&mut self, now_ns: u64) {
        let idle = self.limits.idle_ns;
        let stale: Vec<Key> = self
            .directions
            .iter()
            .filter(|(_, d)| d.last_ts_ns.saturating_add(idle) < now_ns)
            .map(|(k, _)| *k)
            .collect();
        for key in stale {
            self.close(&key);
        }
    }

    /// Closes every direction (the capture ended).
    pub fn finish(&mut self) {
        let keys: Vec<Key> = self.directions.keys().copied().collect();
        for key in keys {
            self.close(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: TcpLimits = TcpLimits {
        idle_ns: 60_000_000_000,
        max_directions: 64,
        max_direction_bytes: 200_000,
        max_bytes: 4 << 20,
    };

    /// A length-prefixed DNS-looking message of `length` bytes with id `id`.
    fn framed(id: u16, length: usize) -> Vec<u8> {
        let mut message = vec![0u8; length];
        message[..2].copy_from_slice(&id.to_be_bytes());
        message[2] = 0x81; // QR, RD
        message[5] = 1; // one question
        let mut framed = (length as u16).to_be_bytes().to_vec();
        framed.extend(message);
        framed
    }

    fn segment(sequence: u32, flags: &str, payload: &[u8], frame_number: u64) -> OwnedSegment {
        OwnedSegment {
            frame: FrameContext {
                ts_ns: frame_number * 1_000_000,
                file_index: 0,
                frame_number,
            },
            source: "192.0.2.53:53".parse().unwrap(),
            destination: "192.0.2.10:40000".parse().unwrap(),
            sequence,
            syn: flags.contains('S'),
            fin: flags.contains('F'),
            rst: flags.contains('R'),
            payload: payload.to_vec(),
        }
    }

    fn feed(streams: &mut TcpStreams, segments: &[OwnedSegment]) -> Vec<(u64, u16, usize)> {
        let mut out = Vec::new();
        for s in segments {
            streams.segment(s, &mut out);
        }
        out.iter()
            .map(|m| {
                (
                    m.frame.frame_number,
                    u16::from_be_bytes([m.bytes[0], m.bytes[1]]),
                    m.bytes.len(),
                )
            })
            .collect()
    }

    #[test]
    fn message_split_across_segments_and_several_in_one_segment() {
        let mut streams = TcpStreams::new(LIMITS);
        let big = framed(1, 3000);
        let mut two = framed(2, 40);
        two.extend(framed(3, 50));
        let got = feed(
            &mut streams,
            &[
                segment(100, "S", b"", 1),
                segment(101, "", &big[..1448], 2),
                segment(1549, "", &big[1448..], 3),
                segment(101 + 3002, "F", &two, 4),
            ],
        );
        assert_eq!(got, [(3, 1, 3000), (4, 2, 40), (4, 3, 50)]);
        assert_eq!(streams.held_bytes(), 0);
    }

    #[test]
    fn out_of_order_and_retransmitted_segments() {
        let mut streams = TcpStreams::new(LIMITS);
        let message = framed(7, 100);
        let got = feed(
            &mut streams,
            &[
                segment(0, "S", b"", 1),
                segment(51, "", &message[50..], 2),
                segment(1, "", &message[..60], 3),
                segment(1, "", &message[..60], 4),
            ],
        );
        assert_eq!(got, [(3, 7, 100)]);
        assert_eq!(streams.counters.retransmitted_bytes, 60 + 10);
    }

    #[test]
    fn stream_first_seen_midway_resynchronises_on_the_next_message() {
        let mut streams = TcpStreams::new(LIMITS);
        let mut bytes = framed(1, 80)[30..].to_vec(); // the tail of a message we never saw start
        bytes.extend(framed(9, 60));
        let got = feed(&mut streams, &[segment(5000, "", &bytes, 1)]);
        assert_eq!(got, [(1, 9, 60)]);
        assert!(streams.counters.dropped_bytes >= 52);
    }

    #[test]
    fn length_prefix_alone_in_its_own_segment() {
        let mut streams = TcpStreams::new(LIMITS);
        let message = framed(4, 33);
        let got = feed(
            &mut streams,
            &[
                segment(9, "", &message[..2], 1),
                segment(11, "", &message[2..], 2),
            ],
        );
        assert_eq!(got, [(2, 4, 33)]);
    }

    #[test]
    fn a_gap_that_never_closes_is_given_up_at_fin_and_counted() {
        let mut streams = TcpStreams::new(LIMITS);
        let first = framed(1, 100);
        let second = framed(2, 100);
        let got = feed(
            &mut streams,
            &[
                segment(0, "S", b"", 1),
                segment(1, "", &first[..50], 2),
                segment(1 + 102, "F", &second, 3),
            ],
        );
        assert_eq!(got, [(3, 2, 100)]);
        assert_eq!(streams.counters.dropped_bytes, 50);
    }

    #[test]
    fn endless_garbage_stream_stays_within_its_limit() {
        let limits = TcpLimits {
            max_direction_bytes: 70_000,
            ..LIMITS
        };
        let mut streams = TcpStreams::new(limits);
        let garbage = vec![0xffu8; 1400];
        let mut out = Vec::new();
        for index in 0..2_000u32 {
            streams.segment(
                &segment(index * 1400, "", &garbage, u64::from(index)),
                &mut out,
            );
            assert!(
                streams.held_bytes() <= limits.max_direction_bytes + STATE_OVERHEAD_BYTES + 1400
            );
        }
        assert!(out.is_empty());
        assert!(streams.counters.dropped_bytes > 2_000 * 1400 - 80_000);
    }

    #[test]
    fn many_concurrent_streams_stay_within_the_total_limits() {
        let limits = TcpLimits {
            max_directions: 500,
            max_bytes: 1 << 20,
            ..LIMITS
        };
        let mut streams = TcpStreams::new(limits);
        let partial = framed(1, 3000)[..1000].to_vec();
        let mut out = Vec::new();
        for client in 0..20_000u32 {
            let mut s = segment(0, "", &partial, u64::from(client));
            s.destination = SocketAddr::new(
                [10, (client >> 16) as u8, (client >> 8) as u8, client as u8].into(),
                5353,
            );
            streams.segment(&s, &mut out);
            assert!(streams.directions() <= limits.max_directions);
            assert!(streams.held_bytes() <= limits.max_bytes);
        }
        assert!(streams.counters.peak_bytes <= limits.max_bytes);
        assert_eq!(
            streams.counters.evicted as usize + streams.directions(),
            20_000
        );
    }
}
