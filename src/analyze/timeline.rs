//! Timeline: per-name counts in time buckets (responses, failures, unanswered queries, each
//! address present and first, and which answer sets each DNS server gave). Buckets start at
//! one second and double in width when a capture outgrows [`MAX_BUCKETS`], so memory stays
//! bounded on captures of any length. Widths are always one second times a power of two and
//! buckets are aligned to multiples of their width, so re-bucketing is exact and `merge`
//! (coarsen both to the wider width, then add) is associative and commutative.

use super::caps::{insert_lowest, keep_lowest, keep_lowest_keys, lowest_entry};
use super::occurrences::{Event, Occurrences};
use super::placements::Placements;
use crate::keys::AnswerSet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The finest bucket width.
pub const BASE_BUCKET_NS: u64 = 1_000_000_000;
/// Buckets kept per name before their width doubles.
pub const MAX_BUCKETS: usize = 2048;
/// Addresses counted per bucket; answers naming further addresses count in `other_addresses`.
pub const MAX_ADDRESSES_PER_BUCKET: usize = 64;
/// Servers whose answer sets are kept per bucket (for divergence).
pub const MAX_SERVERS_PER_BUCKET: usize = 16;
/// Distinct answer sets kept per server and bucket.
pub const MAX_SETS_PER_SERVER: usize = 8;
/// Distinct complete answer sets whose sightings are kept per bucket (for stale answers).
pub const MAX_SETS_PER_BUCKET: usize = 16;
/// Intervals an automatic interval width aims to stay under.
pub const AUTO_INTERVALS: u64 = 60;
/// Interval widths (seconds) an automatic choice picks from.
const NICE_WIDTHS_S: [u64; 16] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400,
];

/// What happened to one name in one time bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Responses.
    pub responses: u64,
    /// Failed responses (NXDOMAIN, SERVFAIL, REFUSED, NODATA, other rcodes).
    pub failures: u64,
    /// Queries that got no response within the query timeout (at the time of the query).
    pub unanswered: u64,
    /// Per address: answers containing it, answers where it came first.
    pub addresses: Placements,
    /// Address occurrences beyond [`MAX_ADDRESSES_PER_BUCKET`].
    pub other_addresses: u64,
    /// Per DNS server, the distinct complete answer sets it gave (the lowest
    /// [`MAX_SERVERS_PER_BUCKET`] servers, the lowest [`MAX_SETS_PER_SERVER`] sets each: the
    /// divergence check compares these; what the caps leave out is not counted, as a set
    /// seen again cannot be told from a new one once dropped).
    pub server_sets: BTreeMap<IpAddr, BTreeSet<AnswerSet>>,
    /// Per complete answer set: the answers that carried it (the lowest
    /// [`MAX_SETS_PER_BUCKET`] sets; stale answers are judged on these once merged).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        with = "super::pairs"
    )]
    pub sets: BTreeMap<AnswerSet, Occurrences>,
    /// Answers whose complete set was beyond the lowest [`MAX_SETS_PER_BUCKET`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub other_sets: u64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

impl Bucket {
    fn merge(&mut self, other: Bucket) {
        let Bucket {
            responses,
            failures,
            unanswered,
            addresses,
            other_addresses,
            server_sets,
            sets,
            other_sets,
        } = other;
        self.responses += responses;
        self.failures += failures;
        self.unanswered += unanswered;
        self.other_addresses += other_addresses;
        self.other_sets += other_sets;
        for (set, occurrences) in sets {
            self.sets.entry(set).or_default().merge(occurrences);
        }
        self.addresses.merge(addresses);
        for (server, sets) in server_sets {
            self.server_sets.entry(server).or_default().extend(sets);
        }
        self.enforce_caps();
    }

    /// Keeps a merged bucket within its caps (the lowest keys stay, so the result does not
    /// depend on merge order).
    fn enforce_caps(&mut self) {
        while self.addresses.len() > MAX_ADDRESSES_PER_BUCKET {
            if let Some((_, placement)) = self.addresses.pop_last() {
                self.other_addresses += placement.present;
            }
        }
        let other_sets = &mut self.other_sets;
        keep_lowest(&mut self.sets, MAX_SETS_PER_BUCKET, |o| {
            *other_sets += o.count
        });
        keep_lowest(&mut self.server_sets, MAX_SERVERS_PER_BUCKET, drop);
        for sets in self.server_sets.values_mut() {
            keep_lowest_keys(sets, MAX_SETS_PER_SERVER);
        }
    }
}

/// One response, as the timeline needs it.
#[derive(Debug, Clone, Copy)]
pub struct TimelineResponse<'a> {
    /// When and where it was captured, its server and client.
    pub event: Event,
    /// Addresses in answer order.
    pub addresses: &'a [IpAddr],
    /// The sorted answer set, when the answer is complete and has addresses.
    pub complete_set: Option<&'a [IpAddr]>,
    /// A failure (NXDOMAIN, SERVFAIL, REFUSED, NODATA, other).
    pub failed: bool,
}

/// A name's buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    /// Width of every bucket (0 until the first event: then [`BASE_BUCKET_NS`] or wider).
    pub width_ns: u64,
    /// Buckets keyed by their start (ns since the epoch, a multiple of the width).
    pub buckets: BTreeMap<u64, Bucket>,
}

impl Timeline {
    fn bucket_at(&mut self, ts_ns: u64) -> &mut Bucket {
        if self.width_ns == 0 {
            self.width_ns = BASE_BUCKET_NS;
        }
        let start = ts_ns - ts_ns % self.width_ns;
        // Nearly every response falls in the latest bucket.
        if self
            .buckets
            .last_key_value()
            .is_some_and(|(last, _)| *last == start)
        {
            return self.buckets.last_entry().expect("just seen").into_mut();
        }
        if !self.buckets.contains_key(&start) && self.buckets.len() >= MAX_BUCKETS {
            self.coarsen(self.width_ns * 2);
            return self.bucket_at(ts_ns);
        }
        self.buckets.entry(start).or_default()
    }

    /// Records one response.
    pub fn record_response(&mut self, response: &TimelineResponse) {
        let event = &response.event;
        let bucket = self.bucket_at(event.ts_ns);
        bucket.responses += 1;
        bucket.failures += u64::from(response.failed);
        bucket.other_addresses += bucket
            .addresses
            .place_capped(response.addresses, MAX_ADDRESSES_PER_BUCKET);
        if let Some(set) = response.complete_set {
            // Known sets (nearly every response) are found without copying the key.
            if let Some(occurrences) = bucket.sets.get_mut(set) {
                occurrences.record(event);
            } else {
                let other_sets = &mut bucket.other_sets;
                let evicted = |o: Occurrences| *other_sets += o.count;
                match lowest_entry(&mut bucket.sets, set.to_vec(), MAX_SETS_PER_BUCKET, evicted) {
                    Some(occurrences) => occurrences.record(event),
                    None => *other_sets += 1,
                }
            }
            let server = event.server;
            let held = lowest_entry(
                &mut bucket.server_sets,
                server,
                MAX_SERVERS_PER_BUCKET,
                drop,
            );
            if let Some(sets) = held.filter(|sets| !sets.contains(set)) {
                insert_lowest(sets, set.to_vec(), MAX_SETS_PER_SERVER);
            }
        }
    }

    /// Records a query that was never answered, at the time it was sent.
    pub fn record_unanswered(&mut self, ts_ns: u64) {
        self.bucket_at(ts_ns).unanswered += 1;
    }

    /// Re-buckets into `width_ns` (a multiple of the current width).
    fn coarsen(&mut self, width_ns: u64) {
        if width_ns <= self.width_ns {
            return;
        }
        self.width_ns = width_ns;
        let old = std::mem::take(&mut self.buckets);
        for (start, bucket) in old {
            self.buckets
                .entry(start - start % width_ns)
                .or_default()
                .merge(bucket);
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, mut other: Timeline) {
        let width = self.width_ns.max(other.width_ns);
        self.coarsen(width);
        other.coarsen(width);
        let Timeline {
            width_ns: _,
            buckets,
        } = other;
        for (start, bucket) in buckets {
            self.buckets.entry(start).or_default().merge(bucket);
        }
        while self.buckets.len() > MAX_BUCKETS {
            self.coarsen(self.width_ns * 2);
        }
    }

    /// The buckets re-grouped into `width_ns`-wide intervals (rounded up to a multiple of the
    /// kept width), for reporting.
    pub fn regrouped(&self, width_ns: u64) -> Timeline {
        let base = self.width_ns.max(1);
        let width = width_ns.div_ceil(base).max(1) * base;
        let mut grouped = Timeline {
            width_ns: width,
            buckets: BTreeMap::new(),
        };
        for (start, bucket) in &self.buckets {
            grouped
                .buckets
                .entry(start - start % width)
                .or_default()
                .merge(bucket.clone());
        }
        grouped
    }

    /// The interval width (seconds) the timeline is judged and shown in: the requested one, or
    /// the smallest nice width that keeps the span under [`AUTO_INTERVALS`] intervals; either
    /// rounded up to a multiple of the kept width.
    pub fn bucket_seconds(&self, requested_ns: Option<u64>) -> u64 {
        let kept_s = (self.width_ns / BASE_BUCKET_NS).max(1);
        let wanted_s = match requested_ns {
            Some(ns) => ns.div_ceil(BASE_BUCKET_NS).max(1),
            None => {
                let span_s = match (self.buckets.keys().next(), self.buckets.keys().last()) {
                    (Some(first), Some(last)) => (last - first) / BASE_BUCKET_NS + kept_s,
                    _ => 1,
                };
                let needed = span_s.div_ceil(AUTO_INTERVALS);
                NICE_WIDTHS_S
                    .into_iter()
                    .find(|w| *w >= needed)
                    .unwrap_or(needed)
            }
        };
        wanted_s.div_ceil(kept_s) * kept_s
    }

    /// Pairs of DNS servers that gave no answer set in common within an interval of
    /// `bucket_seconds`, with the number of such intervals and of intervals both answered in.
    pub fn divergence(&self, bucket_seconds: u64) -> BTreeMap<(IpAddr, IpAddr), Divergence> {
        self.regrouped(bucket_seconds * BASE_BUCKET_NS)
            .divergent_servers()
    }

    /// Pairs of DNS servers that, in the same bucket, gave no answer set in common, with the
    /// number of buckets where that happened and where both answered.
    pub fn divergent_servers(&self) -> BTreeMap<(IpAddr, IpAddr), Divergence> {
        let mut pairs: BTreeMap<(IpAddr, IpAddr), Divergence> = BTreeMap::new();
        for bucket in self.buckets.values() {
            let servers: Vec<_> = bucket.server_sets.iter().collect();
            for (i, (a, a_sets)) in servers.iter().enumerate() {
                for (b, b_sets) in &servers[i + 1..] {
                    let pair = pairs.entry((**a, **b)).or_default();
                    pair.shared += 1;
                    pair.intervals += u64::from(a_sets.is_disjoint(b_sets));
                }
            }
        }
        pairs.retain(|_, pair| pair.intervals > 0);
        pairs
    }
}

/// How often two servers disagreed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Divergence {
    /// Intervals in which they gave no answer set in common.
    pub intervals: u64,
    /// Intervals in which both answered.
    pub shared: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::FrameRef;

    fn response(ts_s: u64, first: u8) -> (u64, Vec<IpAddr>) {
        let a = IpAddr::from([10, 0, 0, first]);
        let b = IpAddr::from([10, 0, 0, 9]);
        (ts_s * BASE_BUCKET_NS, vec![a, b])
    }

    fn timeline_of(events: &[(u64, Vec<IpAddr>)]) -> Timeline {
        let mut timeline = Timeline::default();
        for (ts_ns, addresses) in events {
            let mut set = addresses.clone();
            set.sort();
            timeline.record_response(&TimelineResponse {
                event: Event {
                    ts_ns: *ts_ns,
                    frame: FrameRef {
                        file_index: 0,
                        frame_number: 1,
                    },
                    server: IpAddr::from([192, 0, 2, 1]),
                    client: IpAddr::from([192, 0, 2, 100]),
                },
                addresses,
                complete_set: Some(&set),
                failed: false,
            });
        }
        timeline
    }

    #[test]
    fn counts_per_second_and_positions() {
        let timeline = timeline_of(&[response(10, 1), response(10, 2), response(12, 1)]);
        assert_eq!(timeline.width_ns, BASE_BUCKET_NS);
        let ten = &timeline.buckets[&(10 * BASE_BUCKET_NS)];
        assert_eq!(ten.responses, 2);
        assert_eq!(ten.addresses[&IpAddr::from([10, 0, 0, 9])].present, 2);
        assert_eq!(ten.addresses[&IpAddr::from([10, 0, 0, 1])].first, 1);
        assert_eq!(timeline.buckets.len(), 2);
    }

    #[test]
    fn long_captures_coarsen_instead_of_growing() {
        let events: Vec<_> = (0..5 * MAX_BUCKETS as u64)
            .map(|s| response(s, 1))
            .collect();
        let timeline = timeline_of(&events);
        assert!(timeline.buckets.len() <= MAX_BUCKETS);
        assert_eq!(timeline.width_ns, 8 * BASE_BUCKET_NS); // 10240 s: 4 s would need 2560 buckets
        let total: u64 = timeline.buckets.values().map(|b| b.responses).sum();
        assert_eq!(total, events.len() as u64);
    }

    #[test]
    fn merge_equals_one_pass_and_commutes() {
        let events: Vec<_> = (0..3000u64)
            .map(|s| response(s * 3, (s % 3) as u8))
            .collect();
        let whole = timeline_of(&events);
        let (a, b) = (timeline_of(&events[..400]), timeline_of(&events[400..]));
        let mut ab = a.clone();
        ab.merge(b.clone());
        let mut ba = b;
        ba.merge(a);
        assert_eq!(ab, ba);
        assert_eq!(ab.regrouped(whole.width_ns), whole);
    }

    #[test]
    fn servers_with_no_set_in_common_diverge() {
        let mut timeline = Timeline::default();
        let (one, two) = (
            vec![IpAddr::from([10, 0, 0, 1])],
            vec![IpAddr::from([10, 0, 0, 2])],
        );
        for (ts_s, server, set) in [(1, 1, &one), (1, 2, &two), (2, 1, &one), (2, 2, &one)] {
            timeline.record_response(&TimelineResponse {
                event: Event {
                    ts_ns: ts_s * BASE_BUCKET_NS,
                    frame: FrameRef {
                        file_index: 0,
                        frame_number: 1,
                    },
                    server: IpAddr::from([192, 0, 2, server]),
                    client: IpAddr::from([192, 0, 2, 100]),
                },
                addresses: set,
                complete_set: Some(set),
                failed: false,
            });
        }
        let pairs = timeline.divergent_servers();
        let key = (IpAddr::from([192, 0, 2, 1]), IpAddr::from([192, 0, 2, 2]));
        let divergence = Divergence {
            intervals: 1,
            shared: 2,
        };
        assert_eq!(pairs, BTreeMap::from([(key, divergence)]));
    }

    #[test]
    fn regrouping_rounds_to_the_kept_width() {
        let timeline = timeline_of(&[response(0, 1), response(59, 1), response(61, 2)]);
        let minutes = timeline.regrouped(60 * BASE_BUCKET_NS);
        assert_eq!(minutes.width_ns, 60 * BASE_BUCKET_NS);
        assert_eq!(minutes.buckets[&0].responses, 2);
        assert_eq!(minutes.buckets[&(60 * BASE_BUCKET_NS)].responses, 1);
    }
}
