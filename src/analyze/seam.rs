//! The seam between runs read one after the other (files, or pieces of one capture): what
//! `pcdns merge` needs so that merging their reports equals analysing them as one capture.
//!
//! A run keeps aside, unrecorded, the transactions a neighbouring run could change: queries
//! still pending at its end (the next run may answer them, or let them time out), queries first
//! sent within one query timeout of its start (they may retransmit a query pending at the end
//! of the run before), and responses without their query within two query timeouts of its
//! start (the run before may hold their query, or their first copy). It also keeps the answers
//! still remembered at its end (a copy in the next run is a duplicate) and the truncated UDP
//! answers still waiting for their TCP retry (the next run may retry them). The report records
//! them as they are ([`Analysis::settle`]); `pcdns merge` first pairs them across the cut
//! ([`Analysis::append`]), as pairing would have, and corrects the pairing counters.

use super::closed::Closed;
use super::findings::AddressFindings;
use super::occurrences::FrameRef;
use super::pairing::{PairingCounters, Status, Transaction, WatchedName, MAX_RETRY_FRAMES};
use super::truncation::{TruncatedAnswer, TruncationCounters};
use super::{Analysis, TrafficCounters, Watching};
use crate::keys::Transport;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// A pairing key: what a query and its response share.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeamKey {
    /// The client (query source).
    pub client: SocketAddr,
    /// The DNS server.
    pub server: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// DNS id.
    pub id: u16,
    /// The question name, normalized.
    pub qname: String,
    /// The question type.
    pub qtype: u16,
}

/// The watched name a kept transaction counts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeamName {
    /// Normalized.
    pub key: String,
    /// As written in the expectations (or as asked, in discovery).
    pub display: String,
}

/// A transaction kept aside: what the analysis records of it, and what joining needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenTransaction {
    /// Its pairing key.
    pub key: SeamKey,
    /// How it ended in its own run.
    pub status: Status,
    /// The watched name it counts for.
    pub watched: Option<SeamName>,
    /// First query: capture time (ns) and frame.
    pub query: Option<(u64, FrameRef)>,
    /// Pending: when its timeout runs out.
    pub deadline_ns: Option<u64>,
    /// Retransmissions of the query.
    pub retries: u32,
    /// Frames of the retransmissions (the first few).
    pub retry_frames: Vec<FrameRef>,
    /// The response: capture time (ns) and frame.
    pub response: Option<(u64, FrameRef)>,
    /// The response's answer signature (compared with a first answer's).
    pub signature: Option<u64>,
    /// Response time minus first query time.
    pub rtt_ns: Option<u64>,
    /// For duplicates: the answers differ from the first response's.
    pub answers_differ: bool,
    /// For orphans: within one query timeout of the capture's start.
    pub near_capture_start: bool,
    /// A TCP query that retried a truncated UDP answer.
    pub retries_truncated: bool,
}

/// An answer still remembered at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldAnswer {
    /// Its pairing key.
    pub key: SeamKey,
    /// Its answer signature.
    pub signature: u64,
    /// When it is forgotten (one query timeout after it).
    pub deadline_ns: u64,
}

/// A truncated UDP answer still waiting for its TCP retry at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldTruncated {
    /// The client it went to.
    pub client: SocketAddr,
    /// The server that sent it.
    pub server: SocketAddr,
    /// The question name, normalized.
    pub qname: String,
    /// The question type.
    pub qtype: u16,
    /// When it was captured.
    pub ts_ns: u64,
    /// Its frame.
    pub frame: FrameRef,
    /// The watched name it counts for.
    pub watched: Option<SeamName>,
    /// When its retry is no longer awaited (one query timeout after it).
    pub deadline_ns: u64,
}

impl HeldTruncated {
    /// `answer` to `qname`/`qtype`, awaited for `timeout_ns`.
    pub fn new(answer: &TruncatedAnswer, qname: String, qtype: u16, timeout_ns: u64) -> Self {
        HeldTruncated {
            client: answer.client,
            server: answer.server,
            qname,
            qtype,
            ts_ns: answer.ts_ns,
            frame: answer.frame,
            watched: answer.watched.as_ref().map(SeamName::of),
            deadline_ns: answer.ts_ns.saturating_add(timeout_ns),
        }
    }

    /// Whether a TCP query with `key` sent at `ts_ns` retries it.
    fn retried_by(&self, key: &SeamKey, ts_ns: u64) -> bool {
        self.client.ip() == key.client.ip()
            && self.server.ip() == key.server.ip()
            && self.qname == key.qname
            && self.qtype == key.qtype
            && self.deadline_ns >= ts_ns
    }

    /// The truncated answer it holds.
    fn answer(&self) -> TruncatedAnswer {
        TruncatedAnswer {
            ts_ns: self.ts_ns,
            frame: self.frame,
            client: self.client,
            server: self.server,
            watched: self.watched.as_ref().map(|name| WatchedName {
                key: name.key.as_str().into(),
                display: name.display.as_str().into(),
            }),
        }
    }
}

impl SeamName {
    fn of(watched: &WatchedName) -> Self {
        SeamName {
            key: watched.key.to_string(),
            display: watched.display.to_string(),
        }
    }
}

/// What a run keeps for its neighbours (see the module header). Bounded: transactions near
/// the start beyond the pairing cap are recorded at once and counted in `unjoined`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seam {
    /// Transactions kept aside, by their first message.
    pub transactions: Vec<OpenTransaction>,
    /// Answers still remembered at the end, by key.
    pub answers: Vec<HeldAnswer>,
    /// Truncated UDP answers still waiting for their TCP retry at the end, by time.
    pub truncated: Vec<HeldTruncated>,
    /// Transactions near the start recorded at once (the seam was full): merge cannot join
    /// them with the run before.
    pub unjoined: u64,
    /// The run kept what joining needs (false in the reports of older versions and of
    /// `monitor`: they merge as they are).
    pub kept: bool,
}

/// A capture's start and the query timeout: which transactions are near its edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edges {
    /// The capture's first timestamp.
    pub start_ns: u64,
    /// The query timeout.
    pub timeout_ns: u64,
}

impl Edges {
    /// Whether a transaction that ended with `status`, first sent at `query_ns` (if a query
    /// was seen) and answered at `response_ns`, could be changed by a neighbouring run.
    fn keeps(&self, status: Status, query_ns: Option<u64>, response_ns: Option<u64>) -> bool {
        let within = |ts: Option<u64>, timeouts: u64| {
            let window = self.timeout_ns.saturating_mul(timeouts);
            ts.is_some_and(|ts| ts < self.start_ns.saturating_add(window))
        };
        match status {
            Status::Pending => true,
            Status::Orphan => within(response_ns, 2),
            Status::Answered | Status::Unanswered => within(query_ns, 1),
            Status::Duplicate | Status::Unpaired | Status::Evicted => false,
        }
    }

    /// Whether `transaction` could be changed by a neighbouring run.
    pub fn keeps_transaction(&self, transaction: &Transaction) -> bool {
        let response_ns = transaction.response.as_ref().map(|r| r.frame.ts_ns);
        let query_ns = transaction.query.map(|(ts, _)| ts);
        self.keeps(transaction.status, query_ns, response_ns)
    }

    fn keeps_open(&self, transaction: &OpenTransaction) -> bool {
        let ts = |at: Option<(u64, FrameRef)>| at.map(|(ts, _)| ts);
        let (query, response) = (ts(transaction.query), ts(transaction.response));
        self.keeps(transaction.status, query, response)
    }
}

impl OpenTransaction {
    /// The kept form of `transaction`.
    pub fn of(transaction: &Transaction) -> Self {
        let closed = Closed::of(transaction);
        OpenTransaction {
            key: SeamKey {
                client: transaction.client,
                server: transaction.server,
                transport: transaction.transport,
                id: transaction.id,
                qname: crate::expect::normalize(transaction.qname()),
                qtype: transaction.qtype,
            },
            status: transaction.status,
            watched: transaction.watched.as_ref().map(SeamName::of),
            query: transaction.query,
            deadline_ns: transaction.deadline_ns,
            retries: transaction.retries,
            retry_frames: transaction.retry_frames.clone(),
            response: closed.response,
            signature: transaction.response.as_ref().map(|r| r.view.signature),
            rtt_ns: transaction.rtt_ns,
            answers_differ: transaction.answers_differ,
            near_capture_start: transaction.near_capture_start,
            retries_truncated: transaction.retry_of_truncated.is_some(),
        }
    }

    /// What the analysis records of it.
    fn closed(&self) -> Closed<'_> {
        Closed {
            status: self.status,
            client: self.key.client.ip(),
            server: self.key.server.ip(),
            watched: self
                .watched
                .as_ref()
                .map(|name| (name.key.as_str(), name.display.as_str())),
            rtt_ns: self.rtt_ns,
            query: self.query,
            response: self.response,
            answers_differ: self.answers_differ,
            near_capture_start: self.near_capture_start,
        }
    }

    /// Its first message: capture time and frame.
    fn origin(&self) -> (u64, FrameRef) {
        self.query.or(self.response).unwrap_or_default()
    }

    /// The response's capture time (0 without one).
    fn response_ns(&self) -> u64 {
        self.response.map_or(0, |(ts, _)| ts)
    }
}

impl Seam {
    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
            && self.answers.is_empty()
            && self.truncated.is_empty()
            && self.unjoined == 0
            && !self.kept
    }

    /// Adds `other` (another shard's) into `self` (every field: a field left out fails to
    /// compile); the order is that of the transactions' first messages, whatever the order of
    /// merges.
    pub fn merge(&mut self, other: Seam) {
        let Seam {
            transactions,
            answers,
            truncated,
            unjoined,
            kept,
        } = other;
        self.transactions.extend(transactions);
        self.answers.extend(answers);
        self.truncated.extend(truncated);
        self.unjoined += unjoined;
        self.kept |= kept;
        self.sort();
    }

    /// Puts transactions in the order of their first messages, answers in key order.
    pub fn sort(&mut self) {
        self.transactions
            .sort_by(|a, b| (a.origin(), &a.key).cmp(&(b.origin(), &b.key)));
        self.answers
            .sort_by(|a, b| (&a.key, a.deadline_ns).cmp(&(&b.key, b.deadline_ns)));
        self.truncated
            .sort_by_key(|answer| (answer.ts_ns, answer.frame));
    }

    /// Renumbers the inputs its frames point into (see [`Analysis::map_file_indexes`]).
    pub fn map_file_indexes(&mut self, map: &dyn Fn(u16) -> u16) {
        for transaction in &mut self.transactions {
            let ends = transaction
                .query
                .iter_mut()
                .chain(&mut transaction.response);
            let frames = ends
                .map(|(_, frame)| frame)
                .chain(&mut transaction.retry_frames);
            for frame in frames {
                frame.file_index = map(frame.file_index);
            }
        }
        for answer in &mut self.truncated {
            answer.frame.file_index = map(answer.frame.file_index);
        }
    }
}

/// What joining two seams gives: the joined run's seam, and what is no longer near its edges.
struct Joined {
    seam: Seam,
    /// Transactions to record now.
    settled: Vec<OpenTransaction>,
    /// Truncated answers whose retry is no longer awaited (never retried).
    not_retried: Vec<HeldTruncated>,
}

/// Pairs the seam of a run (`earlier`) with that of the run read right after it (`later`)
/// as pairing would have, reading both as one capture spanning `edges.start_ns` to `end_ns`;
/// corrects `traffic` (the runs' counters added up).
fn join(
    earlier: Seam,
    later: Seam,
    edges: Edges,
    end_ns: u64,
    traffic: &mut TrafficCounters,
) -> Joined {
    let (pending, mut joined): (Vec<_>, Vec<_>) = earlier
        .transactions
        .into_iter()
        .partition(|t| t.status == Status::Pending);
    let mut cut = Cut {
        pending: pending.into_iter().map(|t| (t.key.clone(), t)).collect(),
        answers: earlier
            .answers
            .into_iter()
            .map(|a| (a.key, (a.signature, a.deadline_ns)))
            .collect(),
        truncated: earlier.truncated,
        timeout_ns: edges.timeout_ns,
        counters: &mut traffic.pairing,
        truncation: &mut traffic.truncation,
    };
    for transaction in later.transactions {
        joined.push(match transaction.status {
            Status::Orphan => cut.response(transaction, edges),
            _ => cut.query(transaction),
        });
    }
    for (_, mut query) in std::mem::take(&mut cut.pending) {
        if query.deadline_ns.is_some_and(|deadline| deadline < end_ns) {
            query.status = Status::Unanswered;
            query.deadline_ns = None;
            cut.counters.pending = cut.counters.pending.saturating_sub(1);
            cut.counters.unanswered += 1;
        }
        joined.push(query);
    }
    let (mut truncated, not_retried): (Vec<_>, Vec<_>) = std::mem::take(&mut cut.truncated)
        .into_iter()
        .partition(|answer| answer.deadline_ns >= end_ns);
    let pending_at_end = &mut cut.truncation.pending_at_end;
    *pending_at_end = pending_at_end.saturating_sub(not_retried.len() as u64);
    cut.truncation.not_retried += not_retried.len() as u64;
    truncated.extend(later.truncated);
    let mut answers = cut.answers;
    for answer in later.answers {
        answers.insert(answer.key, (answer.signature, answer.deadline_ns));
    }
    let (kept, settled) = joined.into_iter().partition(|t| edges.keeps_open(t));
    let mut seam = Seam {
        transactions: kept,
        answers: answers
            .into_iter()
            .filter(|(_, (_, deadline))| *deadline >= end_ns)
            .map(|(key, (signature, deadline_ns))| HeldAnswer {
                key,
                signature,
                deadline_ns,
            })
            .collect(),
        truncated,
        unjoined: earlier.unjoined + later.unjoined,
        kept: true,
    };
    seam.sort();
    Joined {
        seam,
        settled,
        not_retried,
    }
}

/// The state pairing had at a cut: queries pending, answers remembered and truncated answers
/// awaiting their retry in the run before.
struct Cut<'c> {
    pending: BTreeMap<SeamKey, OpenTransaction>,
    /// Signature and deadline of each remembered answer.
    answers: BTreeMap<SeamKey, (u64, u64)>,
    truncated: Vec<HeldTruncated>,
    timeout_ns: u64,
    counters: &'c mut PairingCounters,
    truncation: &'c mut TruncationCounters,
}

impl Cut<'_> {
    /// The query pending for `key` at `ts_ns`, taken (it expires when its deadline passed).
    fn take_pending(&mut self, key: &SeamKey, ts_ns: u64) -> Option<OpenTransaction> {
        let alive = self.pending.get(key)?.deadline_ns? >= ts_ns;
        alive.then(|| self.pending.remove(key)).flatten()
    }

    /// A response without its query in the later run: the answer to a query pending before
    /// the cut, a copy of an answer remembered before it, or still an orphan.
    fn response(&mut self, orphan: OpenTransaction, edges: Edges) -> OpenTransaction {
        let ts = orphan.response_ns();
        if let Some(query) = self.take_pending(&orphan.key, ts) {
            let sent = query.query.map_or(ts, |(sent, _)| sent);
            self.counters.pending = self.counters.pending.saturating_sub(1);
            self.counters.orphans = self.counters.orphans.saturating_sub(1);
            self.counters.answered += 1;
            let signature = orphan.signature.unwrap_or_default();
            let deadline = ts.saturating_add(self.timeout_ns);
            self.answers
                .insert(orphan.key.clone(), (signature, deadline));
            return OpenTransaction {
                status: Status::Answered,
                watched: orphan.watched.or(query.watched),
                deadline_ns: None,
                response: orphan.response,
                signature: orphan.signature,
                rtt_ns: Some(ts.saturating_sub(sent)),
                near_capture_start: false,
                ..query
            };
        }
        let remembered = self.answers.get(&orphan.key);
        if let Some(&(signature, _)) = remembered.filter(|(_, deadline)| *deadline >= ts) {
            self.counters.orphans = self.counters.orphans.saturating_sub(1);
            self.counters.duplicates += 1;
            return OpenTransaction {
                status: Status::Duplicate,
                answers_differ: orphan.signature != Some(signature),
                near_capture_start: false,
                ..orphan
            };
        }
        let window = edges.start_ns.saturating_add(edges.timeout_ns);
        OpenTransaction {
            near_capture_start: ts < window,
            ..orphan
        }
    }

    /// A query first sent in the later run: a retransmission of the same query pending
    /// before the cut (one transaction from that query on), or a query of its own.
    fn query(&mut self, later: OpenTransaction) -> OpenTransaction {
        let Some((sent, frame)) = later.query else {
            return later;
        };
        let Some(first) = self.take_pending(&later.key, sent) else {
            return self.retry_over_tcp(later, sent);
        };
        let first_sent = first.query.map_or(sent, |(ts, _)| ts);
        self.counters.pending = self.counters.pending.saturating_sub(1);
        self.counters.retries += 1;
        let mut retry_frames = first.retry_frames;
        retry_frames.push(frame);
        retry_frames.extend(later.retry_frames);
        retry_frames.truncate(MAX_RETRY_FRAMES);
        OpenTransaction {
            query: first.query,
            retries: first.retries + 1 + later.retries,
            retry_frames,
            rtt_ns: later.response.map(|(ts, _)| ts.saturating_sub(first_sent)),
            watched: later.watched.or(first.watched),
            retries_truncated: first.retries_truncated,
            ..later
        }
    }
}

impl Cut<'_> {
    /// A query over TCP sent at `sent` that retries a truncated UDP answer awaiting its retry
    /// before the cut, linked to it (other queries come back as they are).
    fn retry_over_tcp(&mut self, mut query: OpenTransaction, sent: u64) -> OpenTransaction {
        if query.key.transport != Transport::Tcp || query.retries_truncated {
            return query;
        }
        let found = self
            .truncated
            .iter()
            .position(|answer| answer.retried_by(&query.key, sent));
        if let Some(index) = found {
            self.truncated.remove(index);
            self.truncation.retried += 1;
            self.truncation.pending_at_end = self.truncation.pending_at_end.saturating_sub(1);
            query.retries_truncated = true;
        }
        query
    }
}

impl Analysis {
    /// Records the transactions kept aside for `pcdns merge` as they are (queries pending at
    /// the end waited until the capture's end): the analysis is then the report's.
    pub fn settle(&mut self, watching: &Watching) {
        let seam = std::mem::take(&mut self.seam);
        let end = self.traffic.last_ts_ns;
        self.record_open(&seam.transactions, watching, end);
    }

    /// The report's analysis (the kept transactions recorded) and, when some were kept, this
    /// one: what `pcdns merge` needs.
    pub fn into_settled(self, watching: &Watching) -> (Analysis, Option<Analysis>) {
        if self.seam.transactions.is_empty() {
            return (self, None);
        }
        let mut settled = self.clone();
        settled.settle(watching);
        (settled, Some(self))
    }

    /// Adds the analysis of the run read right after this one, as if both had been read as one
    /// capture: when `later` starts no earlier than this run ends and both kept their seams,
    /// the transactions kept at the cut are paired across it first (`timeout_ns`: the query
    /// timeout); otherwise (runs at the same time, such as two sensors, or a report without
    /// a seam) each run's are recorded as that run left them.
    pub fn append(&mut self, mut later: Analysis, timeout_ns: u64, watching: &Watching) {
        let earlier_seam = std::mem::take(&mut self.seam);
        let later_seam = std::mem::take(&mut later.seam);
        let (earlier_end, later_end) = (self.traffic.last_ts_ns, later.traffic.last_ts_ns);
        let in_time_order = match (earlier_end, later.traffic.first_ts_ns) {
            (Some(end), Some(start)) => start >= end,
            _ => true,
        };
        let joins = in_time_order && earlier_seam.kept && later_seam.kept;
        self.merge(later);
        let (Some(start_ns), Some(end_ns), true) =
            (self.traffic.first_ts_ns, self.traffic.last_ts_ns, joins)
        else {
            self.record_open(&earlier_seam.transactions, watching, earlier_end);
            self.record_open(&later_seam.transactions, watching, later_end);
            self.seam.unjoined = earlier_seam.unjoined + later_seam.unjoined;
            return;
        };
        let edges = Edges {
            start_ns,
            timeout_ns,
        };
        let joined = join(earlier_seam, later_seam, edges, end_ns, &mut self.traffic);
        self.record_open(&joined.settled, watching, Some(end_ns));
        let mut gathered = AddressFindings::default();
        for answer in &joined.not_retried {
            self.record_not_retried(&answer.answer(), watching, &mut gathered);
        }
        gathered.fold_into(&mut self.findings);
        self.seam = joined.seam;
    }

    /// Records kept transactions (`capture_end_ns`: how long pending ones waited).
    fn record_open(
        &mut self,
        transactions: &[OpenTransaction],
        watching: &Watching,
        capture_end_ns: Option<u64>,
    ) {
        let mut gathered = AddressFindings::default();
        for transaction in transactions {
            let closed = transaction.closed();
            self.record_closed(&closed, watching, &mut gathered);
            self.servers.record_transaction(&closed, capture_end_ns);
        }
        gathered.fold_into(&mut self.findings);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn key() -> SeamKey {
        SeamKey {
            client: "192.0.2.10:40000".parse().unwrap(),
            server: "192.0.2.53:53".parse().unwrap(),
            transport: Transport::Udp,
            id: 7,
            qname: "pool.contoso.com".into(),
            qtype: 1,
        }
    }

    fn frame(file_index: u16, frame_number: u64) -> FrameRef {
        FrameRef {
            file_index,
            frame_number,
        }
    }

    /// A query sent at `sent_s` (file 0), still pending at the end of its run.
    fn pending(sent_s: u64) -> OpenTransaction {
        OpenTransaction {
            key: key(),
            status: Status::Pending,
            watched: None,
            query: Some((sent_s * SECOND, frame(0, 1))),
            deadline_ns: Some((sent_s + 5) * SECOND),
            retries: 0,
            retry_frames: Vec::new(),
            response: None,
            signature: None,
            rtt_ns: None,
            answers_differ: false,
            near_capture_start: false,
            retries_truncated: false,
        }
    }

    /// A response at `at_s` (file 1) whose query its run did not see.
    fn orphan(at_s: u64) -> OpenTransaction {
        OpenTransaction {
            status: Status::Orphan,
            query: None,
            deadline_ns: None,
            response: Some((at_s * SECOND, frame(1, 1))),
            signature: Some(42),
            near_capture_start: true,
            ..pending(0)
        }
    }

    fn seam(transactions: Vec<OpenTransaction>) -> Seam {
        Seam {
            transactions,
            kept: true,
            ..Seam::default()
        }
    }

    /// Joins a run from 0 s holding `earlier` with one ending at `end_s` holding `later`.
    fn join_runs(
        earlier: Vec<OpenTransaction>,
        later: Vec<OpenTransaction>,
        end_s: u64,
    ) -> (Joined, PairingCounters) {
        let mut traffic = TrafficCounters::default();
        traffic.pairing.pending = earlier.len() as u64;
        traffic.pairing.orphans = later.len() as u64;
        let edges = Edges {
            start_ns: 0,
            timeout_ns: 5 * SECOND,
        };
        let joined = join(
            seam(earlier),
            seam(later),
            edges,
            end_s * SECOND,
            &mut traffic,
        );
        (joined, traffic.pairing)
    }

    #[test]
    fn an_answer_after_the_cut_answers_the_query_pending_before_it() {
        let (joined, counters) = join_runs(vec![pending(10)], vec![orphan(12)], 30);
        let answered = &joined.settled[0];
        assert_eq!(answered.status, Status::Answered);
        assert_eq!(answered.rtt_ns, Some(2 * SECOND));
        assert_eq!(
            (answered.query, answered.response),
            (
                Some((10 * SECOND, frame(0, 1))),
                Some((12 * SECOND, frame(1, 1)))
            )
        );
        assert_eq!(
            (counters.answered, counters.pending, counters.orphans),
            (1, 0, 0)
        );
        // A second copy within the timeout is a duplicate; its answers are the same.
        let (joined, counters) = join_runs(vec![pending(10)], vec![orphan(12), orphan(13)], 30);
        assert_eq!(joined.settled[1].status, Status::Duplicate);
        assert!(!joined.settled[1].answers_differ);
        assert_eq!(
            (counters.answered, counters.duplicates, counters.orphans),
            (1, 1, 0)
        );
    }

    #[test]
    fn a_pending_query_times_out_after_the_cut_and_a_late_answer_stays_an_orphan() {
        let (joined, counters) = join_runs(vec![pending(10)], vec![orphan(16)], 30);
        let statuses: Vec<Status> = joined.settled.iter().map(|t| t.status).collect();
        assert_eq!(statuses, [Status::Orphan, Status::Unanswered]);
        // Not near the start of the joined capture any more: unsolicited.
        assert!(!joined.settled[0].near_capture_start);
        assert_eq!(
            (counters.unanswered, counters.pending, counters.orphans),
            (1, 0, 1)
        );
    }

    #[test]
    fn a_query_sent_again_after_the_cut_is_a_retransmission() {
        let mut again = pending(11);
        again.query = Some((11 * SECOND, frame(1, 3)));
        again.status = Status::Answered;
        again.response = Some((12 * SECOND, frame(1, 4)));
        again.rtt_ns = Some(SECOND);
        let (joined, counters) = join_runs(vec![pending(10)], vec![again], 30);
        let one = &joined.settled[0];
        assert_eq!(
            (one.retries, one.retry_frames.clone()),
            (1, vec![frame(1, 3)])
        );
        assert_eq!(one.rtt_ns, Some(2 * SECOND));
        assert_eq!((counters.retries, counters.pending), (1, 0));
        // Still waiting at the joined run's end: kept for the next join.
        let (joined, _) = join_runs(vec![pending(10)], Vec::new(), 12);
        assert_eq!(joined.seam.transactions[0].status, Status::Pending);
    }
}
