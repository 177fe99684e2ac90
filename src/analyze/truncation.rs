//! Truncated UDP answers (TC bit, RFC 1035 §4.1.1) and their TCP retries (RFC 7766 §5): a
//! truncated response followed, within the query timeout, by the same question over TCP from
//! the same client to the same server is one successful lookup; one never followed is reported.
//! Bounded like the pairing state: beyond the cap the oldest are dropped and counted.

use super::occurrences::FrameRef;
use super::pairing::WatchedName;
use super::seam::HeldTruncated;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// A truncated answer waiting for its TCP retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedAnswer {
    /// When the truncated response was captured.
    pub ts_ns: u64,
    /// Its frame.
    pub frame: FrameRef,
    /// The client it went to.
    pub client: SocketAddr,
    /// The server that sent it.
    pub server: SocketAddr,
    /// The watched name it counts for.
    pub watched: Option<WatchedName>,
}

/// What happened to truncated answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TruncationCounters {
    /// Truncated UDP responses.
    pub truncated: u64,
    /// Followed by the same question over TCP.
    pub retried: u64,
    /// Not followed within the query timeout.
    pub not_retried: u64,
    /// Younger than the query timeout when the capture ended.
    pub pending_at_end: u64,
    /// Dropped at the cap.
    pub evicted: u64,
}

impl TruncationCounters {
    /// Adds `other` into `self` (every field: a field left out fails to compile).
    pub fn merge(&mut self, other: &TruncationCounters) {
        let TruncationCounters {
            truncated,
            retried,
            not_retried,
            pending_at_end,
            evicted,
        } = *other;
        self.truncated += truncated;
        self.retried += retried;
        self.not_retried += not_retried;
        self.pending_at_end += pending_at_end;
        self.evicted += evicted;
    }
}

/// (client address, server address, question name, question type): ports differ between the
/// UDP query and its TCP retry.
type Key = (IpAddr, IpAddr, Arc<str>, u16);

/// Truncated answers waiting for a TCP retry.
#[derive(Debug)]
pub struct TruncationTracker {
    timeout_ns: u64,
    cap: usize,
    waiting: HashMap<Key, (u64, TruncatedAnswer), foldhash::fast::RandomState>,
    order: VecDeque<(u64, u64, Key)>,
    next_sequence: u64,
    not_retried: Vec<TruncatedAnswer>,
    /// What still waited when the capture ended (see [`Self::take_waiting_at_end`]).
    waiting_at_end: Vec<HeldTruncated>,
    /// What happened so far.
    pub counters: TruncationCounters,
}

impl TruncationTracker {
    /// Nothing waiting; retries count within `timeout_ns`; at most `cap` held.
    pub fn new(timeout_ns: u64, cap: usize) -> Self {
        TruncationTracker {
            timeout_ns,
            cap: cap.max(1),
            waiting: HashMap::default(),
            order: VecDeque::new(),
            next_sequence: 0,
            not_retried: Vec::new(),
            waiting_at_end: Vec::new(),
            counters: TruncationCounters::default(),
        }
    }

    /// Records a truncated UDP answer to `qname`/`qtype`.
    pub fn truncated(&mut self, answer: TruncatedAnswer, qname: Arc<str>, qtype: u16) {
        self.counters.truncated += 1;
        while self.waiting.len() >= self.cap {
            let Some((_, sequence, key)) = self.order.pop_front() else {
                break;
            };
            if self.waiting.get(&key).is_some_and(|(s, _)| *s == sequence) {
                self.waiting.remove(&key);
                self.counters.evicted += 1;
            }
        }
        self.next_sequence += 1;
        let key = (answer.client.ip(), answer.server.ip(), qname, qtype);
        let deadline = answer.ts_ns.saturating_add(self.timeout_ns);
        self.order
            .push_back((deadline, self.next_sequence, key.clone()));
        self.waiting.insert(key, (self.next_sequence, answer));
    }

    /// A TCP query: if it retries a waiting truncated answer, returns that answer's frame.
    pub fn retry(
        &mut self,
        client: IpAddr,
        server: IpAddr,
        qname: Arc<str>,
        qtype: u16,
    ) -> Option<FrameRef> {
        let (_, answer) = self.waiting.remove(&(client, server, qname, qtype))?;
        self.counters.retried += 1;
        Some(answer.frame)
    }

    /// Truncated answers whose timeout passed before `now_ns` were never retried.
    pub fn advance(&mut self, now_ns: u64) {
        while let Some((deadline, _, _)) = self.order.front() {
            if *deadline >= now_ns {
                break;
            }
            let Some((_, sequence, key)) = self.order.pop_front() else {
                break;
            };
            if self.waiting.get(&key).is_some_and(|(s, _)| *s == sequence) {
                if let Some((_, answer)) = self.waiting.remove(&key) {
                    self.counters.not_retried += 1;
                    self.not_retried.push(answer);
                }
            }
        }
    }

    /// Ends the capture: what still waits is younger than the timeout and stays undecided.
    pub fn finish(&mut self, end_ns: u64) {
        self.advance(end_ns);
        self.counters.pending_at_end += self.waiting.len() as u64;
        let timeout_ns = self.timeout_ns;
        let waiting = self
            .waiting
            .drain()
            .map(|((_, _, qname, qtype), (_, answer))| {
                HeldTruncated::new(&answer, qname.to_string(), qtype, timeout_ns)
            });
        self.waiting_at_end.extend(waiting);
        self.order.clear();
    }

    /// The truncated answers still waiting for their retry when the capture ended, once
    /// [`Self::finish`] ran.
    pub fn take_waiting_at_end(&mut self) -> Vec<HeldTruncated> {
        std::mem::take(&mut self.waiting_at_end)
    }

    /// Truncated answers found never retried since the last call.
    pub fn drain_not_retried(&mut self) -> std::vec::Drain<'_, TruncatedAnswer> {
        self.not_retried.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(ts_ns: u64, frame_number: u64) -> TruncatedAnswer {
        TruncatedAnswer {
            ts_ns,
            frame: FrameRef {
                file_index: 0,
                frame_number,
            },
            client: "192.0.2.10:40000".parse().unwrap(),
            server: "192.0.2.53:53".parse().unwrap(),
            watched: None,
        }
    }

    const CLIENT: [u8; 4] = [192, 0, 2, 10];
    const SERVER: [u8; 4] = [192, 0, 2, 53];

    #[test]
    fn tcp_retry_within_the_timeout_links_to_the_truncated_answer() {
        let mut tracker = TruncationTracker::new(5_000, 100);
        tracker.truncated(answer(1_000, 7), "pool.contoso.com".into(), 1);
        assert_eq!(
            tracker.retry(CLIENT.into(), SERVER.into(), "pool.contoso.com".into(), 28),
            None
        );
        let linked = tracker.retry(CLIENT.into(), SERVER.into(), "pool.contoso.com".into(), 1);
        assert_eq!(linked.map(|f| f.frame_number), Some(7));
        tracker.advance(100_000);
        assert_eq!(tracker.drain_not_retried().count(), 0);
        assert_eq!(
            (tracker.counters.truncated, tracker.counters.retried),
            (1, 1)
        );
    }

    #[test]
    fn no_retry_within_the_timeout_is_reported_and_a_young_one_at_the_end_is_not() {
        let mut tracker = TruncationTracker::new(5_000, 100);
        tracker.truncated(answer(1_000, 1), "a.contoso.com".into(), 1);
        tracker.truncated(answer(9_000, 2), "b.contoso.com".into(), 1);
        tracker.finish(10_000);
        let reported: Vec<u64> = tracker
            .drain_not_retried()
            .map(|a| a.frame.frame_number)
            .collect();
        assert_eq!(reported, [1]);
        assert_eq!(
            (
                tracker.counters.not_retried,
                tracker.counters.pending_at_end
            ),
            (1, 1)
        );
    }

    #[test]
    fn the_cap_drops_the_oldest() {
        let mut tracker = TruncationTracker::new(5_000, 2);
        for n in 0..5u64 {
            tracker.truncated(answer(n, n), format!("n{n}.contoso.com").into(), 1);
        }
        assert_eq!(tracker.counters.evicted, 3);
        assert_eq!(tracker.waiting.len(), 2);
    }
}
