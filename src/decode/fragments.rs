//! IP fragment reassembly for UDP (RFC 791 §3.2, RFC 8200 §4.5), bounded by the number of
//! datagrams in progress, the bytes held and time. Overlapping fragments keep the bytes that
//! arrived first (and are counted; differing overlaps separately); nothing here panics or grows
//! past its limits. Pure: fragments in, datagrams out, capture time as a value.

use super::{FrameContext, OwnedFragment};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;

/// Largest IP datagram payload (the 16-bit length fields of IPv4 and IPv6).
const MAX_DATAGRAM_BYTES: usize = 65_535;
/// Bookkeeping charged per stored piece on top of its bytes, so that floods of tiny fragments
/// meet the byte limit too.
pub const PIECE_OVERHEAD_BYTES: usize = 64;

/// How much fragment state may be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FragmentLimits {
    /// Capture time after the first fragment when an incomplete datagram is given up.
    pub timeout_ns: u64,
    /// Datagrams in progress at once.
    pub max_datagrams: usize,
    /// Bytes held over all datagrams in progress (pieces plus their bookkeeping).
    pub max_bytes: usize,
}

/// What fragment reassembly counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FragmentCounters {
    /// Fragments received.
    pub fragments: u64,
    /// Datagrams completed.
    pub reassembled: u64,
    /// Datagrams given up incomplete (timeout or end of capture).
    pub incomplete: u64,
    /// Datagrams dropped to stay within the limits.
    pub evicted: u64,
    /// Fragments overlapping bytes already held.
    pub overlaps: u64,
    /// Overlaps whose bytes differ from those held, or conflicting ends of datagram.
    pub inconsistent: u64,
    /// Fragments reaching past the largest possible datagram.
    pub oversized: u64,
    /// Most bytes held at once.
    pub peak_bytes: usize,
}

impl FragmentCounters {
    /// Adds `other` into `self` (every field: a field left out fails to compile). Peaks add up:
    /// parts (shards, runs) may hold their state at the same time, so the merged peak is an upper
    /// bound of what they held together, never an understatement.
    pub fn merge(&mut self, other: &FragmentCounters) {
        let FragmentCounters {
            fragments,
            reassembled,
            incomplete,
            evicted,
            overlaps,
            inconsistent,
            oversized,
            peak_bytes,
        } = *other;
        self.fragments += fragments;
        self.reassembled += reassembled;
        self.incomplete += incomplete;
        self.evicted += evicted;
        self.overlaps += overlaps;
        self.inconsistent += inconsistent;
        self.oversized += oversized;
        self.peak_bytes += peak_bytes;
    }
}

/// A datagram out of the fragment table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The frame that completed it (or, for an incomplete one, its first fragment).
    pub frame: FrameContext,
    /// IP source.
    pub source: IpAddr,
    /// IP destination.
    pub destination: IpAddr,
    /// The IP payload (UDP header and data); for an incomplete one, what the first fragments hold.
    pub bytes: Vec<u8>,
    /// False when the datagram was given up and only its beginning is here.
    pub complete: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    source: IpAddr,
    destination: IpAddr,
    identification: u32,
}

#[derive(Debug)]
struct Partial {
    sequence: u64,
    first_ts_ns: u64,
    pieces: BTreeMap<usize, Vec<u8>>,
    total_len: Option<usize>,
    held: usize,
    first_frame: Option<FrameContext>,
}

impl Partial {
    /// The bytes contiguous from offset 0.
    fn leading_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (start, piece) in &self.pieces {
            if *start != bytes.len() {
                break;
            }
            bytes.extend_from_slice(piece);
        }
        bytes
    }

    fn is_complete(&self) -> bool {
        let Some(total) = self.total_len else {
            return false;
        };
        let mut cursor = 0;
        for (start, piece) in &self.pieces {
            if *start != cursor {
                return false;
            }
            cursor += piece.len();
        }
        cursor >= total
    }
}

/// Datagrams in progress.
#[derive(Debug)]
pub struct FragmentTable {
    limits: FragmentLimits,
    partials: HashMap<Key, Partial, foldhash::fast::RandomState>,
    /// Datagrams in arrival order of their first fragment; entries of finished ones are stale.
    order: VecDeque<(u64, Key)>,
    held_bytes: usize,
    next_sequence: u64,
    /// What happened so far.
    pub counters: FragmentCounters,
}

impl FragmentTable {
    /// An empty table.
    pub fn new(limits: FragmentLimits) -> Self {
        FragmentTable {
            limits,
            partials: HashMap::default(),
            order: VecDeque::new(),
            held_bytes: 0,
            next_sequence: 0,
            counters: FragmentCounters::default(),
        }
    }

    /// Bytes held now (pieces plus bookkeeping).
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Adds a fragment; returns the datagram if this fragment completed it.
    pub fn insert(&mut self, fragment: &OwnedFragment) -> Option<Datagram> {
        self.counters.fragments += 1;
        let end = fragment.offset.saturating_add(fragment.payload.len());
        if end > MAX_DATAGRAM_BYTES {
            self.counters.oversized += 1;
            return None;
        }
        let key = Key {
            source: fragment.source,
            destination: fragment.destination,
            identification: fragment.identification,
        };
        if !self.partials.contains_key(&key) {
            self.make_room(0, true);
            self.next_sequence += 1;
            let partial = Partial {
                sequence: self.next_sequence,
                first_ts_ns: fragment.frame.ts_ns,
                pieces: BTreeMap::new(),
                total_len: None,
                held: 0,
                first_frame: None,
            };
            self.partials.insert(key, partial);
            self.order.push_back((self.next_sequence, key));
            // Keep the queue proportional to the live datagrams: drop stale entries now and then.
            if self.order.len() > 2 * self.partials.len() + 1024 {
                let partials = &self.partials;
                self.order.retain(|(sequence, key)| {
                    partials.get(key).is_some_and(|p| p.sequence == *sequence)
                });
            }
        }
        let new_pieces = self.place(&key, fragment);
        let added: usize = new_pieces
            .iter()
            .map(|(_, piece)| piece.len() + PIECE_OVERHEAD_BYTES)
            .sum();
        if added > self.limits.max_bytes {
            self.counters.oversized += 1;
            return None;
        }
        self.make_room(added, false);
        // Making room may have dropped this very datagram (it was the oldest): then so is this piece.
        let partial = self.partials.get_mut(&key)?;
        for (start, piece) in new_pieces {
            partial.pieces.insert(start, piece);
        }
        partial.held += added;
        self.held_bytes += added;
        self.counters.peak_bytes = self.counters.peak_bytes.max(self.held_bytes);
        if fragment.offset == 0 {
            partial.first_frame.get_or_insert(fragment.frame);
        }
        if !fragment.more {
            match partial.total_len {
                Some(total) if total != end => self.counters.inconsistent += 1,
                _ => partial.total_len = Some(end),
            }
        }
        if !partial.is_complete() {
            return None;
        }
        let partial = self.remove(&key)?;
        let total = partial.total_len.unwrap_or_default();
        let mut bytes = partial.leading_bytes();
        bytes.truncate(total);
        self.counters.reassembled += 1;
        Some(Datagram {
            frame: fragment.frame,
            source: key.source,
            destination: key.destination,
            bytes,
            complete: true,
        })
    }

    /// The parts of `fragment` not already held, as (offset, bytes); overlaps are counted.
    fn place(&mut self, key: &Key, fragment: &OwnedFragment) -> Vec<(usize, Vec<u8>)> {
        let Some(partial) = self.partials.get(key) else {
            return Vec::new();
        };
        let (offset, data) = (fragment.offset, &fragment.payload);
        let end = offset + data.len();
        let mut cursor = offset;
        let mut pieces = Vec::new();
        for (&start, held) in partial.pieces.range(..end) {
            let held_end = start + held.len();
            if held_end <= cursor {
                continue;
            }
            if start > cursor {
                pieces.push((cursor, data[cursor - offset..start - offset].to_vec()));
            }
            let (overlap_start, overlap_end) = (start.max(cursor), held_end.min(end));
            self.counters.overlaps += 1;
            if held[overlap_start - start..overlap_end - start]
                != data[overlap_start - offset..overlap_end - offset]
            {
                self.counters.inconsistent += 1;
            }
            cursor = held_end.max(cursor);
            if cursor >= end {
                break;
            }
        }
        if cursor < end {
            pieces.push((cursor, data[cursor - offset..].to_vec()));
        }
        pieces
    }

    /// Drops the oldest datagrams until `extra` more bytes (and, with `new_datagram`, one more
    /// datagram) fit within the limits.
    fn make_room(&mut self, extra: usize, new_datagram: bool) {
        let max_datagrams = self.limits.max_datagrams.max(1);
        while (new_datagram && self.partials.len() >= max_datagrams)
            || self.held_bytes + extra > self.limits.max_bytes
        {
            let Some(oldest) = self.oldest() else { break };
            self.remove(&oldest);
            self.counters.evicted += 1;
        }
    }

    /// The live datagram that arrived first (stale queue entries are dropped on the way).
    fn oldest(&mut self) -> Option<Key> {
        while let Some(&(sequence, key)) = self.order.front() {
            if self
                .partials
                .get(&key)
                .is_some_and(|p| p.sequence == sequence)
            {
                return Some(key);
            }
            self.order.pop_front();
        }
        None
    }

    fn remove(&mut self, key: &Key) -> Option<Partial> {
        let partial = self.partials.remove(key)?;
        self.held_bytes -= partial.held;
        Some(partial)
    }

    /// Gives up datagrams whose first fragment is older than the timeout at `now_ns`; returns
    /// what the beginning of each holds (for those whose first fragment arrived), oldest first.
    pub fn expire(&mut self, now_ns: u64) -> Vec<Datagram> {
        let timeout = self.limits.timeout_ns;
        self.give_up(|partial| partial.first_ts_ns.saturating_add(timeout) < now_ns)
    }

    /// Gives up every datagram still in progress (the capture ended).
    pub fn finish(&mut self) -> Vec<Datagram> {
        self.give_up(|_| true)
    }

    /// Gives up datagrams from the oldest on, while `due` says so.
    fn give_up(&mut self, due: impl Fn(&Partial) -> bool) -> Vec<Datagram> {
        let mut given_up = Vec::new();
        while let Some(key) = self.oldest() {
            if !self.partials.get(&key).is_some_and(&due) {
                break;
            }
            let Some(partial) = self.remove(&key) else {
                break;
            };
            self.counters.incomplete += 1;
            if let Some(frame) = partial.first_frame {
                let bytes = partial.leading_bytes();
                given_up.push(Datagram {
                    frame,
                    source: key.source,
                    destination: key.destination,
                    bytes,
                    complete: false,
                });
            }
        }
        given_up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: FragmentLimits = FragmentLimits {
        timeout_ns: 30_000_000_000,
        max_datagrams: 64,
        max_bytes: 1 << 20,
    };

    fn fragment(
        identification: u32,
        offset: usize,
        more: bool,
        payload: &[u8],
        frame_number: u64,
    ) -> OwnedFragment {
        OwnedFragment {
            frame: FrameContext {
                ts_ns: frame_number * 1_000,
                file_index: 0,
                frame_number,
            },
            source: "192.0.2.53".parse().unwrap(),
            destination: "192.0.2.10".parse().unwrap(),
            identification,
            offset,
            more,
            payload: payload.to_vec(),
        }
    }

    fn datagram_bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn out_of_order_fragments_complete_at_the_last_one_received() {
        let data = datagram_bytes(3000);
        let mut table = FragmentTable::new(LIMITS);
        assert!(table
            .insert(&fragment(1, 2960, false, &data[2960..], 1))
            .is_none());
        assert!(table
            .insert(&fragment(1, 0, true, &data[..1480], 2))
            .is_none());
        let done = table
            .insert(&fragment(1, 1480, true, &data[1480..2960], 3))
            .expect("complete");
        assert_eq!(done.bytes, data);
        assert_eq!(done.frame.frame_number, 3);
        assert_eq!(table.held_bytes(), 0);
        assert_eq!(table.counters.reassembled, 1);
    }

    #[test]
    fn duplicate_and_overlapping_fragments_are_counted_and_first_bytes_win() {
        let data = datagram_bytes(64);
        let mut table = FragmentTable::new(LIMITS);
        table.insert(&fragment(2, 0, true, &data[..32], 1));
        table.insert(&fragment(2, 0, true, &data[..32], 2));
        let mut conflicting = data[16..48].to_vec();
        conflicting[0] ^= 0xff;
        table.insert(&fragment(2, 16, true, &conflicting, 3));
        let done = table
            .insert(&fragment(2, 48, false, &data[48..], 4))
            .expect("complete");
        assert_eq!(done.bytes, data);
        assert_eq!(
            (table.counters.overlaps, table.counters.inconsistent),
            (2, 1)
        );
    }

    #[test]
    fn incomplete_datagram_gives_up_its_beginning_after_the_timeout() {
        let data = datagram_bytes(100);
        let mut table = FragmentTable::new(LIMITS);
        table.insert(&fragment(3, 0, true, &data[..40], 1));
        table.insert(&fragment(3, 80, false, &data[80..], 2));
        assert!(table.expire(1_000).is_empty());
        let given_up = table.expire(LIMITS.timeout_ns + 10_000);
        assert_eq!(given_up.len(), 1);
        assert_eq!(given_up[0].bytes, &data[..40]);
        assert!(!given_up[0].complete);
        assert_eq!(table.counters.incomplete, 1);
        assert_eq!(table.held_bytes(), 0);
    }

    /// Regression (found by fuzzing): an offset near usize::MAX overflowed `offset + len`.
    #[test]
    fn offset_that_would_overflow_is_refused() {
        let mut table = FragmentTable::new(LIMITS);
        assert!(table
            .insert(&fragment(5, usize::MAX - 3, true, &[0; 16], 1))
            .is_none());
        assert_eq!(table.counters.oversized, 1);
    }

    #[test]
    fn fragment_beyond_the_largest_datagram_is_refused() {
        let mut table = FragmentTable::new(LIMITS);
        assert!(table
            .insert(&fragment(4, 65_528, false, &[0; 16], 1))
            .is_none());
        assert_eq!(table.counters.oversized, 1);
        assert_eq!(table.held_bytes(), 0);
    }

    #[test]
    fn a_flood_of_never_completing_datagrams_stays_within_the_byte_and_count_limits() {
        let limits = FragmentLimits {
            timeout_ns: u64::MAX / 2,
            max_datagrams: 1000,
            max_bytes: 256 * 1024,
        };
        let mut table = FragmentTable::new(limits);
        let payload = [0xab; 1200];
        for id in 0..20_000u32 {
            table.insert(&fragment(id, 0, true, &payload, u64::from(id)));
            assert!(table.held_bytes() <= limits.max_bytes);
            assert!(table.partials.len() <= limits.max_datagrams);
        }
        assert!(table.counters.peak_bytes <= limits.max_bytes);
        assert_eq!(table.counters.evicted + table.partials.len() as u64, 20_000);
        assert!(table.counters.evicted > 19_000);
    }
}
