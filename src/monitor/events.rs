//! Which findings are new since the last event: compares findings (those the analysis records
//! after each batch, those derived from it at each interval) with what was already announced,
//! and limits the rate per (kind, name). The one place events are deduplicated. Pure: time is
//! a value passed in, nothing is written here.

use crate::analyze::derived::Finding;
use crate::analyze::{FindingKey, FindingKind};
use std::collections::BTreeMap;

/// A finding to announce and how much of it is new.
#[derive(Debug, Clone, Copy)]
pub struct NewFinding<'a> {
    /// The finding, with its count so far.
    pub finding: Finding<'a>,
    /// Count since the last event for this finding (held back growth included).
    pub new: u64,
}

/// Remembers what was announced, and when, per (kind, name).
#[derive(Debug, Default)]
pub struct FindingTracker {
    /// Count of each finding at its last event.
    announced: BTreeMap<FindingKey, u64>,
    /// Time of the last event per (kind, name).
    last_event_ns: BTreeMap<(FindingKind, String), u64>,
    /// Least time between two events of one (kind, name).
    min_gap_ns: u64,
    /// Events held back by the rate limit so far (they are announced later, summed).
    pub held_back: u64,
}

impl FindingTracker {
    /// A tracker allowing one event per (kind, name) every `min_gap_ns`.
    pub fn new(min_gap_ns: u64) -> Self {
        FindingTracker {
            min_gap_ns,
            ..FindingTracker::default()
        }
    }

    /// The findings never announced or grown since their last event that may be announced at
    /// `now_ns`. Growth held back by the rate limit stays pending and comes out, summed, later.
    pub fn observe<'a>(
        &mut self,
        findings: impl IntoIterator<Item = Finding<'a>>,
        now_ns: u64,
    ) -> Vec<NewFinding<'a>> {
        let mut out = Vec::new();
        for finding in findings {
            let (key, count) = (finding.key(), finding.count());
            let announced = self.announced.get(key).copied();
            if announced.is_some_and(|announced| count <= announced) {
                continue;
            }
            let limit_key = (key.kind, key.name.clone());
            let allowed = self
                .last_event_ns
                .get(&limit_key)
                .is_none_or(|last| now_ns.saturating_sub(*last) >= self.min_gap_ns);
            if !allowed {
                self.held_back += 1;
                continue;
            }
            self.last_event_ns.insert(limit_key, now_ns);
            self.announced.insert(key.clone(), count);
            out.push(NewFinding {
                finding,
                new: count - announced.unwrap_or(0),
            });
        }
        out
    }

    /// Forgets everything (the analysis started again, e.g. after reloading expectations).
    pub fn reset(&mut self) {
        self.announced.clear();
        self.last_event_ns.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::derived::{DerivedFinding, Detail};
    use crate::analyze::Occurrences;

    fn key(kind: FindingKind, subject: &str) -> FindingKey {
        FindingKey {
            kind,
            name: "pool.contoso.com".into(),
            subject: subject.into(),
        }
    }

    fn findings(entries: &[(FindingKey, u64)]) -> BTreeMap<FindingKey, Occurrences> {
        entries
            .iter()
            .map(|(k, count)| {
                (
                    k.clone(),
                    Occurrences {
                        count: *count,
                        ..Occurrences::default()
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_new_finding_is_announced_at_once_and_only_once() {
        let wrong = key(FindingKind::WrongAddress, "10.10.10.3");
        let mut tracker = FindingTracker::new(10_000);
        let first = findings(&[(wrong.clone(), 1)]);
        let events = tracker.observe(Finding::recorded(&first), 0);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].new, 1);
        let same = findings(&[(wrong, 1)]);
        assert!(tracker.observe(Finding::recorded(&same), 50_000).is_empty());
    }

    #[test]
    fn growth_within_the_gap_is_held_back_then_summed() {
        let wrong = key(FindingKind::WrongAddress, "10.10.10.3");
        let mut tracker = FindingTracker::new(10_000);
        for (count, now_ns, announced) in [(1, 1_000, 1), (5, 2_000, 0), (9, 10_999, 0)] {
            let seen = findings(&[(wrong.clone(), count)]);
            let events = tracker.observe(Finding::recorded(&seen), now_ns);
            assert_eq!(events.len(), announced, "at {now_ns}");
        }
        assert_eq!(tracker.held_back, 2);
        let seen = findings(&[(wrong, 9)]);
        let events = tracker.observe(Finding::recorded(&seen), 11_000);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].new, 8);
        assert_eq!(events[0].finding.count(), 9);
    }

    #[test]
    fn the_limit_is_per_kind_and_name_not_per_subject() {
        let a = key(FindingKind::WrongAddress, "10.10.10.3");
        let b = key(FindingKind::WrongAddress, "10.10.10.4");
        let nx = key(FindingKind::Nxdomain, "");
        let mut tracker = FindingTracker::new(10_000);
        let seen = findings(&[(a.clone(), 1), (b.clone(), 1), (nx.clone(), 1)]);
        let events = tracker.observe(Finding::recorded(&seen), 0);
        let kinds: Vec<_> = events.iter().map(|e| e.finding.key().clone()).collect();
        assert_eq!(kinds, vec![a.clone(), nx]);
        let seen = findings(&[(a, 1), (b.clone(), 1)]);
        let events = tracker.observe(Finding::recorded(&seen), 10_000);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].finding.key(), &b);
    }

    fn never_seen(member: u8) -> DerivedFinding {
        let member = std::net::IpAddr::from([10, 10, 10, member]);
        DerivedFinding {
            key: key(FindingKind::MemberNeverSeen, &member.to_string()),
            count: 0,
            servers: Vec::new(),
            clients: Vec::new(),
            detail: Detail::MemberNeverSeen {
                member,
                responses: 4,
            },
        }
    }

    #[test]
    fn a_derived_finding_counting_nothing_is_announced_once_through_the_same_limit() {
        let (one, two) = (never_seen(1), never_seen(2));
        let mut tracker = FindingTracker::new(10_000);
        let both = [&one, &two].map(Finding::Derived);
        let events = tracker.observe(both, 0);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].finding.key(), &one.key);
        assert_eq!(events[0].new, 0);
        assert_eq!(tracker.held_back, 1);
        let events = tracker.observe(both, 10_000);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].finding.key(), &two.key);
        assert!(tracker.observe(both, 20_000).is_empty());
    }
}
