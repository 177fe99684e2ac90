//! Occurrences: how often something happened, when first and last, and example frames a person
//! can open in Wireshark. Mergeable: `Default` is the identity and `merge` is associative and
//! commutative, so per-shard results combine exactly.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;
use std::net::IpAddr;

/// Example frames kept per occurrence record.
pub const MAX_EXAMPLE_FRAMES: usize = 5;
/// Distinct servers or clients named per occurrence record.
pub const MAX_NAMED_PEERS: usize = 8;

/// A frame as Wireshark numbers it: input file index and frame number (from 1).
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
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
    pub servers: Peers,
    /// Clients involved (the lowest addresses, at most [`MAX_NAMED_PEERS`]).
    pub clients: Peers,
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
        self.servers.insert(event.server);
        self.clients.insert(event.client);
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
        let Occurrences {
            count,
            first_ts_ns,
            last_ts_ns,
            examples,
            servers,
            clients,
            largest,
            last_frame,
        } = other;
        self.count += count;
        self.last_frame = (self.last_ts_ns, self.last_frame)
            .max((last_ts_ns, last_frame))
            .1;
        self.first_ts_ns = self.first_ts_ns.min(first_ts_ns);
        self.last_ts_ns = self.last_ts_ns.max(last_ts_ns);
        self.largest = self.largest.max(largest);
        if self.examples.len() < MAX_EXAMPLE_FRAMES || examples.first() < self.examples.last() {
            self.examples.extend(examples);
            self.examples.sort_unstable();
            self.examples.dedup();
            self.examples.truncate(MAX_EXAMPLE_FRAMES);
        }
        self.servers.merge(&servers);
        self.clients.merge(&clients);
    }
}

/// The lowest distinct addresses of the servers or clients involved, at most
/// [`MAX_NAMED_PEERS`], in order and held inline: every finding and answer set records one of
/// each per event, and a short scan here costs a fraction of a tree's insert (saved and read as
/// a list, as the `BTreeSet` it replaces was).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peers(SmallVec<[IpAddr; MAX_NAMED_PEERS]>);

impl Peers {
    /// Adds `address` if it is among the lowest [`MAX_NAMED_PEERS`] held.
    pub fn insert(&mut self, address: IpAddr) {
        let held = &mut self.0;
        // Nearly always the address is held already (a few servers) or beyond the lowest held
        // (many clients); equality is cheaper to test than order.
        if held.len() == MAX_NAMED_PEERS && held.last().is_some_and(|last| address >= *last)
            || held.contains(&address)
        {
            return;
        }
        let position = held.iter().position(|peer| *peer > address);
        if held.len() == MAX_NAMED_PEERS {
            held.pop();
        }
        held.insert(position.unwrap_or(held.len()), address);
    }

    /// Adds every address of `other` (the lowest stay).
    pub fn merge(&mut self, other: &Peers) {
        for address in other.iter() {
            self.insert(*address);
        }
    }

    /// The addresses, lowest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &IpAddr> + ExactSizeIterator {
        self.0.iter()
    }
}

impl FromIterator<IpAddr> for Peers {
    fn from_iter<I: IntoIterator<Item = IpAddr>>(addresses: I) -> Self {
        let mut peers = Peers::default();
        addresses
            .into_iter()
            .for_each(|address| peers.insert(address));
        peers
    }
}

impl Serialize for Peers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Peers {
    /// Any list (a saved state is input): kept as recording its addresses would keep them.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<IpAddr>::deserialize(deserializer)?
            .into_iter()
            .collect())
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

    /// What [`Peers`] must hold: the lowest distinct addresses, at most [`MAX_NAMED_PEERS`].
    fn lowest(addresses: impl IntoIterator<Item = IpAddr>) -> Vec<IpAddr> {
        let all: std::collections::BTreeSet<IpAddr> = addresses.into_iter().collect();
        all.into_iter().take(MAX_NAMED_PEERS).collect()
    }

    #[test]
    fn peers_keep_the_lowest_addresses_and_save_as_a_sorted_list() {
        let mut rng = fastrand::Rng::with_seed(5);
        for _ in 0..300 {
            let addresses: Vec<IpAddr> = (0..rng.usize(0..40))
                .map(|_| match rng.u8(0..4) {
                    0 => IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, rng.u16(0..20)]),
                    _ => IpAddr::from([10, 0, rng.u8(0..3), rng.u8(0..12)]),
                })
                .collect();
            let split = rng.usize(0..=addresses.len());
            let peers: Peers = addresses.iter().copied().collect();
            assert_eq!(
                peers.iter().copied().collect::<Vec<_>>(),
                lowest(addresses.clone())
            );
            let mut merged: Peers = addresses[..split].iter().copied().collect();
            merged.merge(&addresses[split..].iter().copied().collect());
            assert_eq!(merged, peers);
            let json = serde_json::to_string(&peers).unwrap();
            assert_eq!(json, serde_json::to_string(&lowest(addresses)).unwrap());
            assert_eq!(serde_json::from_str::<Peers>(&json).unwrap(), peers);
        }
        let unsorted: Peers =
            serde_json::from_str(r#"["10.0.0.9","10.0.0.1","10.0.0.9"]"#).unwrap();
        assert_eq!(unsorted.iter().count(), 2);
        assert_eq!(unsorted.iter().next(), Some(&IpAddr::from([10, 0, 0, 1])));
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
        assert_eq!(all.servers.iter().count(), 3);
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
                servers: Peers::from_iter([e.server]),
                clients: Peers::from_iter([e.client]),
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
