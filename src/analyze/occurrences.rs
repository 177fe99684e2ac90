//! Occurrences: how often something happened, when first and last, and example frames a person
//! can open in Wireshark. Mergeable: `Default` is the identity and `merge` is associative and
//! commutative, so per-shard results combine exactly.

use serde::Serialize;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// Example frames kept per occurrence record.
pub const MAX_EXAMPLE_FRAMES: usize = 5;
/// Distinct servers or clients named per occurrence record.
pub const MAX_NAMED_PEERS: usize = 8;

/// A frame as Wireshark numbers it: input file index and frame number (from 1).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
pub struct FrameRef {
    /// Index of the input file.
    pub file_index: u16,
    /// Frame number within that file.
    pub frame_number: u64,
}

/// Counted events with their time range and examples.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Occurrences {
    /// How many times.
    pub count: u64,
    /// Earliest capture timestamp (ns), when count > 0.
    pub first_ts_ns: u64,
    /// Latest capture timestamp (ns).
    pub last_ts_ns: u64,
    /// The earliest frames (by file, then frame number).
    pub examples: Vec<FrameRef>,
    /// DNS servers involved (the lowest addresses, at most [`MAX_NAMED_PEERS`]).
    pub servers: BTreeSet<IpAddr>,
    /// Clients involved (the lowest addresses, at most [`MAX_NAMED_PEERS`]).
    pub clients: BTreeSet<IpAddr>,
    /// The largest value seen, where the kind of occurrence has one (e.g. a TTL).
    pub largest: u64,
    /// The latest frame (by timestamp, then by frame): what a live event points at.
    #[serde(default)]
    pub last_frame: Option<FrameRef>,
}

/// One event to record.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// Capture timestamp (ns).
    pub ts_ns: u64,
    /// The frame it was seen in.
    pub frame: FrameRef,
    /// The DNS server that answered.
    pub server: IpAddr,
    /// The client that received the answer.
    pub client: IpAddr,
}

impl Occurrences {
    /// Records one event.
    pub fn record(&mut self, event: &Event) {
        self.record_value(event, 0);
    }

    /// Records one event that carries a value (the largest is kept).
    pub fn record_value(&mut self, event: &Event, value: u64) {
        // The same result as merging a one-event record, without building one.
        if self.count == 0 {
            self.first_ts_ns = event.ts_ns;
            self.last_ts_ns = event.ts_ns;
        }
        if self.count == 0 || (event.ts_ns, Some(event.frame)) >= (self.last_ts_ns, self.last_frame)
        {
            self.last_frame = Some(event.frame);
        }
        self.count += 1;
        self.first_ts_ns = self.first_ts_ns.min(event.ts_ns);
        self.last_ts_ns = self.last_ts_ns.max(event.ts_ns);
        self.largest = self.largest.max(value);
        if let Err(position) = self.examples.binary_search(&event.frame) {
            if position < MAX_EXAMPLE_FRAMES {
                self.examples.insert(position, event.frame);
                self.examples.truncate(MAX_EXAMPLE_FRAMES);
            }
        }
        insert_capped(&mut self.servers, event.server);
        insert_capped(&mut self.clients, event.client);
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: Occurrences) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other;
            return;
        }
        self.count += other.count;
        self.last_frame = (self.last_ts_ns, self.last_frame)
            .max((other.last_ts_ns, other.last_frame))
            .1;
        self.first_ts_ns = self.first_ts_ns.min(other.first_ts_ns);
        self.last_ts_ns = self.last_ts_ns.max(other.last_ts_ns);
        self.largest = self.largest.max(other.largest);
        if self.examples.len() < MAX_EXAMPLE_FRAMES || other.examples.first() < self.examples.last()
        {
            self.examples.extend(other.examples);
            self.examples.sort_unstable();
            self.examples.dedup();
            self.examples.truncate(MAX_EXAMPLE_FRAMES);
        }
        merge_capped(&mut self.servers, other.servers);
        merge_capped(&mut self.clients, other.clients);
    }
}

fn insert_capped(into: &mut BTreeSet<IpAddr>, address: IpAddr) {
    if into.len() < MAX_NAMED_PEERS || into.last().is_some_and(|last| address < *last) {
        into.insert(address);
        if into.len() > MAX_NAMED_PEERS {
            into.pop_last();
        }
    }
}

fn merge_capped(into: &mut BTreeSet<IpAddr>, from: BTreeSet<IpAddr>) {
    into.extend(from);
    while into.len() > MAX_NAMED_PEERS {
        into.pop_last();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ts_ns: u64, frame_number: u64, server: u8) -> Event {
        Event {
            ts_ns,
            frame: FrameRef {
                file_index: 0,
                frame_number,
            },
            server: IpAddr::from([192, 0, 2, server]),
            client: IpAddr::from([198, 51, 100, 1]),
        }
    }

    fn of(events: &[Event]) -> Occurrences {
        let mut occurrences = Occurrences::default();
        events.iter().for_each(|e| occurrences.record(e));
        occurrences
    }

    #[test]
    fn keeps_count_range_and_earliest_examples() {
        let events: Vec<_> = (1..=9).map(|n| event(n * 10, n, (n % 3) as u8)).collect();
        let all = of(&events);
        assert_eq!((all.count, all.first_ts_ns, all.last_ts_ns), (9, 10, 90));
        assert_eq!(
            all.examples
                .iter()
                .map(|f| f.frame_number)
                .collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(all.servers.len(), 3);
        assert_eq!(all.last_frame.map(|f| f.frame_number), Some(9));
    }

    #[test]
    fn recording_one_event_equals_merging_a_one_event_record() {
        let events: Vec<_> = (1..=40)
            .map(|n| event(1000 - (n * 37 % 101), n * 13 % 29 + 1, (n % 11) as u8))
            .collect();
        let mut recorded = Occurrences::default();
        let mut merged = Occurrences::default();
        for e in &events {
            recorded.record_value(e, e.ts_ns % 7);
            merged.merge(Occurrences {
                count: 1,
                first_ts_ns: e.ts_ns,
                last_ts_ns: e.ts_ns,
                examples: vec![e.frame],
                servers: BTreeSet::from([e.server]),
                clients: BTreeSet::from([e.client]),
                largest: e.ts_ns % 7,
                last_frame: Some(e.frame),
            });
        }
        assert_eq!(recorded, merged);
    }

    #[test]
    fn merge_is_commutative_and_associative_with_default_identity() {
        let events: Vec<_> = (1..=12).map(|n| event(1000 - n, n, n as u8)).collect();
        let (a, b, c) = (of(&events[..3]), of(&events[3..8]), of(&events[8..]));
        let mut left = a.clone();
        left.merge(b.clone());
        left.merge(c.clone());
        let mut right = c.clone();
        let mut bc = b.clone();
        bc.merge(a.clone());
        right.merge(bc);
        assert_eq!(left, right);
        assert_eq!(left, of(&events));
        let mut with_identity = left.clone();
        with_identity.merge(Occurrences::default());
        assert_eq!(with_identity, left);
    }
}
