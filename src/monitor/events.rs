//! Which findings are new since the last event: compares the analysis' findings after each
//! batch with what was already announced, and limits the rate per (kind, name). Pure: time is
//! a value passed in, nothing is written here.

use crate::analyze::{FindingKey, FindingKind, Occurrences};
use std::collections::BTreeMap;

/// A finding to announce: its key, its occurrences so far and how many are new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFinding {
    /// The finding.
    pub key: FindingKey,
    /// Everything seen of it so far.
    pub occurrences: Occurrences,
    /// Occurrences since the last event for this finding (held back ones included).
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

    /// The findings that grew since their last event and may be announced at `now_ns`.
    /// Growth held back by the rate limit stays pending and comes out, summed, later.
    pub fn observe(
        &mut self,
        findings: &BTreeMap<FindingKey, Occurrences>,
        now_ns: u64,
    ) -> Vec<NewFinding> {
        let mut out = Vec::new();
        for (key, occurrences) in findings {
            let announced = self.announced.get(key).copied().unwrap_or(0);
            if occurrences.count <= announced {
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
            self.announced.insert(key.clone(), occurrences.count);
            out.push(NewFinding {
                key: key.clone(),
                occurrences: occurrences.clone(),
                new: occurrences.count - announced,
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
        let events = tracker.observe(&findings(&[(wrong.clone(), 1)]), 0);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].new, 1);
        assert!(tracker.observe(&findings(&[(wrong, 1)]), 50_000).is_empty());
    }

    #[test]
    fn growth_within_the_gap_is_held_back_then_summed() {
        let wrong = key(FindingKind::WrongAddress, "10.10.10.3");
        let mut tracker = FindingTracker::new(10_000);
        assert_eq!(
            tracker
                .observe(&findings(&[(wrong.clone(), 1)]), 1_000)
                .len(),
            1
        );
        assert!(tracker
            .observe(&findings(&[(wrong.clone(), 5)]), 2_000)
            .is_empty());
        assert!(tracker
            .observe(&findings(&[(wrong.clone(), 9)]), 10_999)
            .is_empty());
        assert_eq!(tracker.held_back, 2);
        let events = tracker.observe(&findings(&[(wrong, 9)]), 11_000);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].new, 8);
        assert_eq!(events[0].occurrences.count, 9);
    }

    #[test]
    fn the_limit_is_per_kind_and_name_not_per_subject() {
        let a = key(FindingKind::WrongAddress, "10.10.10.3");
        let b = key(FindingKind::WrongAddress, "10.10.10.4");
        let nx = key(FindingKind::Nxdomain, "");
        let mut tracker = FindingTracker::new(10_000);
        let events = tracker.observe(
            &findings(&[(a.clone(), 1), (b.clone(), 1), (nx.clone(), 1)]),
            0,
        );
        let kinds: Vec<_> = events.iter().map(|e| e.key.clone()).collect();
        assert_eq!(kinds, vec![a.clone(), nx]);
        let events = tracker.observe(&findings(&[(a, 1), (b.clone(), 1)]), 10_000);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].key, b);
    }
}
