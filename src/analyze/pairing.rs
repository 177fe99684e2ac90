//! Query/response pairing. Pairs each response with its query on (client address and port,
//! server address and port, transport, DNS id, question name and type); never on VLAN tags or
//! MACs. A retransmitted query is one transaction with a retry count; a query unanswered within
//! the query timeout (capture time) is unanswered; a response without its query is an orphan;
//! a second response to an answered query is a duplicate (flagged when its answers differ).
//! State is bounded: beyond the cap the oldest entries are evicted and counted.

mod slots;

use super::occurrences::FrameRef;
use super::seam::{Edges, HeldAnswer, SeamKey};
use super::truncation::{TruncatedAnswer, TruncationTracker};
use crate::decode::{DnsMessage, Flags};
use crate::keys::{PairingFields, Transport};
use slots::{HeldKey, KeyRef, PendingQuery, RecentAnswer, Slots};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

/// Retry frames remembered per transaction.
pub(super) const MAX_RETRY_FRAMES: usize = 8;

/// How a transaction ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Query and response.
    Answered,
    /// No response within the query timeout.
    Unanswered,
    /// Younger than the query timeout when the capture ended.
    Pending,
    /// A response whose query is not in the capture.
    Orphan,
    /// Another response to an already answered query.
    Duplicate,
    /// A response for a name reached through a CNAME whose query (for the alias) was not tracked.
    Unpaired,
    /// Dropped at the pending-query cap before it was answered.
    Evicted,
}

impl Status {
    /// Label as in the log.
    pub fn label(self) -> &'static str {
        match self {
            Status::Answered => "answered",
            Status::Unanswered => "unanswered",
            Status::Pending => "pending",
            Status::Orphan => "orphan",
            Status::Duplicate => "duplicate",
            Status::Unpaired => "unpaired",
            Status::Evicted => "evicted",
        }
    }
}

/// The watched name a message counts for: normalized key and display form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedName {
    /// Normalized (lowercase, no trailing dot).
    pub key: std::sync::Arc<str>,
    /// As written in the expectations (or as asked, in discovery).
    pub display: std::sync::Arc<str>,
}

/// A finished transaction: one line of the transaction log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// How it ended.
    pub status: Status,
    /// The client (query source).
    pub client: SocketAddr,
    /// The DNS server (query destination).
    pub server: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// DNS id.
    pub id: u16,
    /// Question name as sent in the query, when there was one (otherwise the response's
    /// question says it: see [`Transaction::qname`]).
    query_name: Option<Arc<str>>,
    /// Question type.
    pub qtype: u16,
    /// First query: capture time (ns) and frame.
    pub query: Option<(u64, FrameRef)>,
    /// Header flags of the query.
    pub query_flags: Option<Flags>,
    /// Retransmissions of the query.
    pub retries: u32,
    /// Frames of the retransmissions (the first few).
    pub retry_frames: Vec<FrameRef>,
    /// The response, if any.
    pub response: Option<Box<DnsMessage>>,
    /// Response time minus first query time.
    pub rtt_ns: Option<u64>,
    /// For duplicates: the answers differ from the first response's.
    pub answers_differ: bool,
    /// For orphans: within one query timeout of the capture's start (the query likely predates it).
    pub near_capture_start: bool,
    /// The watched name it counts for, if any.
    pub watched: Option<WatchedName>,
    /// EDNS0 UDP payload size the query advertised.
    pub query_edns_udp_size: Option<u16>,
    /// For a TCP query that retries a truncated UDP answer: that answer's frame.
    pub retry_of_truncated: Option<FrameRef>,
    /// For a query still pending at the end: when its timeout runs out (one query timeout
    /// after its last transmission).
    pub deadline_ns: Option<u64>,
}

impl Transaction {
    /// Question name as sent: the query's, or the response's when no query was seen.
    pub fn qname(&self) -> &str {
        match (&self.query_name, &self.response) {
            (Some(name), _) => name,
            (None, Some(response)) => &response.question.name,
            (None, None) => "",
        }
    }

    /// A transaction of `fields` with nothing seen yet (no query, no response), `status` for
    /// now.
    fn bare(status: Status, fields: &PairingFields<'_>, watched: Option<WatchedName>) -> Self {
        Transaction {
            status,
            client: fields.client,
            server: fields.server,
            transport: fields.transport,
            id: fields.id,
            query_name: None,
            qtype: fields.qtype,
            query: None,
            query_flags: None,
            retries: 0,
            retry_frames: Vec::new(),
            response: None,
            rtt_ns: None,
            answers_differ: false,
            near_capture_start: false,
            watched,
            query_edns_udp_size: None,
            retry_of_truncated: None,
            deadline_ns: None,
        }
    }

    /// An unanswered UDP transaction with DNS id `id` and nothing else (for tests of what
    /// carries transactions).
    #[cfg(test)]
    pub(crate) fn with_id(id: u16) -> Self {
        let address = SocketAddr::from(([192, 0, 2, 1], 53));
        let fields = PairingFields {
            client: address,
            server: address,
            transport: Transport::Udp,
            id,
            qname: "",
            qtype: 1,
        };
        Self::bare(Status::Unanswered, &fields, None)
    }
}

/// Pairing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PairingSettings {
    /// Capture time after which a query is unanswered.
    pub query_timeout_ns: u64,
    /// Most queries and recent answers held at once.
    pub max_pending: usize,
    /// Most bytes the held queries, recent answers and their expiry queue may take (estimated
    /// from the sizes of the entries and their names).
    pub max_bytes: usize,
}

impl PairingSettings {
    /// Shard `index`'s share of these settings among `shards` (budgets are split statically,
    /// so what a shard evicts depends on its own traffic only): entries and bytes divided,
    /// the remainder to the first shards (at least 1 each); the timeout stays.
    pub fn per_shard(self, index: usize, shards: usize) -> Self {
        let share = |total: usize| crate::keys::share_of(total, index, shards);
        PairingSettings {
            max_pending: share(self.max_pending),
            max_bytes: share(self.max_bytes),
            ..self
        }
    }
}

/// What pairing counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PairingCounters {
    /// Transactions per status.
    pub answered: u64,
    /// No response within the timeout.
    pub unanswered: u64,
    /// Still waiting when the capture ended.
    pub pending: u64,
    /// Responses without their query.
    pub orphans: u64,
    /// Second responses.
    pub duplicates: u64,
    /// Responses to aliases whose queries were not tracked.
    pub unpaired: u64,
    /// Pending queries dropped at the cap.
    pub evicted_queries: u64,
    /// Remembered answers (for duplicate detection) dropped at the cap.
    pub evicted_answers: u64,
    /// Query retransmissions.
    pub retries: u64,
    /// Most bytes held at once (estimate, see [`PairingSettings::max_bytes`]).
    pub peak_bytes: u64,
}

impl PairingCounters {
    /// Adds `other` into `self` (every field: a field left out fails to compile). Peaks add up:
    /// parts (shards, runs) may hold their state at the same time, so the merged peak is an upper
    /// bound of what they held together, never an understatement.
    pub fn merge(&mut self, other: &PairingCounters) {
        let PairingCounters {
            answered,
            unanswered,
            pending,
            orphans,
            duplicates,
            unpaired,
            evicted_queries,
            evicted_answers,
            retries,
            peak_bytes,
        } = *other;
        self.answered += answered;
        self.unanswered += unanswered;
        self.pending += pending;
        self.orphans += orphans;
        self.duplicates += duplicates;
        self.unpaired += unpaired;
        self.evicted_queries += evicted_queries;
        self.evicted_answers += evicted_answers;
        self.retries += retries;
        self.peak_bytes += peak_bytes;
    }
}

/// Heap bytes of a string, with the allocator's bookkeeping.
fn string_bytes(text: &str) -> usize {
    text.len() + ALLOCATION_OVERHEAD
}

/// Bookkeeping bytes per heap allocation (glibc malloc's chunk header, rounded).
const ALLOCATION_OVERHEAD: usize = 16;
/// Tables and the queue grow by doubling, so up to half their slots are empty, and while one
/// grows the old and the new allocation live side by side: each entry is counted at three
/// times its size (measured: peak RSS then stays under the budget plus the rest of pcdns).
const GROWTH_SLACK: usize = 3;
/// Hash-table bytes per entry beyond the entry itself (control bytes, at the 7/8 load limit).
const HASH_SLOT_OVERHEAD: usize = 2 * GROWTH_SLACK;
/// Bytes of one expiry queue entry.
const QUEUE_ENTRY_BYTES: usize = GROWTH_SLACK * std::mem::size_of::<Expiry>();

/// Bytes of a held slot: the slot, its index entry, and its key's name.
fn slot_bytes(key: &HeldKey) -> usize {
    GROWTH_SLACK * slots::SLOT_BYTES + HASH_SLOT_OVERHEAD + string_bytes(&key.qname)
}

impl PendingQuery {
    /// Bytes of the query held in the slot of `key`: its name counts unless it is the key's.
    fn bytes(&self, key: &HeldKey) -> usize {
        let name = match Arc::ptr_eq(&self.qname, &key.qname) {
            true => 0,
            false => string_bytes(&self.qname),
        };
        GROWTH_SLACK * slots::QUERY_BYTES + name + self.retry_frames_bytes()
    }

    /// Bytes of the retry frames' list.
    fn retry_frames_bytes(&self) -> usize {
        match self.retry_frames.capacity() {
            0 => 0,
            n => n * std::mem::size_of::<FrameRef>() + ALLOCATION_OVERHEAD,
        }
    }
}

/// An expiry queue entry: when, which slot, its query or its answer, and the sequence that
/// tells whether it is still current.
#[derive(Debug, Clone, Copy)]
struct Expiry {
    deadline: u64,
    sequence: u64,
    slot: u32,
    table: Table,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Pending,
    Answered,
}

/// The pairing state machine. Feed it messages in capture order.
#[derive(Debug)]
pub struct Pairing {
    settings: PairingSettings,
    /// Pending queries and recent answers, by key.
    slots: Slots,
    /// Queries held (waiting for their response).
    pending: usize,
    /// Recent answers held (for duplicate detection).
    answered: usize,
    /// Expiry queue in insertion order.
    order: VecDeque<Expiry>,
    next_sequence: u64,
    capture_start_ns: Option<u64>,
    closed: Vec<Transaction>,
    /// Bytes held in `slots` and `order` (estimate).
    held_bytes: usize,
    /// Truncated UDP answers waiting for their TCP retry.
    pub truncation: TruncationTracker,
    /// What happened so far.
    pub counters: PairingCounters,
    /// Answers still remembered when the capture ended (see [`Self::take_answers_at_end`]).
    answers_at_end: Vec<HeldAnswer>,
}

fn frame_of(message: &DnsMessage) -> FrameRef {
    FrameRef {
        file_index: message.frame.file_index,
        frame_number: message.frame.frame_number,
    }
}

impl Pairing {
    /// Empty state.
    pub fn new(settings: PairingSettings) -> Self {
        Pairing {
            settings,
            slots: Slots::new(),
            pending: 0,
            answered: 0,
            order: VecDeque::new(),
            next_sequence: 0,
            capture_start_ns: None,
            closed: Vec::new(),
            held_bytes: 0,
            truncation: TruncationTracker::new(settings.query_timeout_ns, settings.max_pending),
            counters: PairingCounters::default(),
            answers_at_end: Vec::new(),
        }
    }

    /// The configured settings.
    pub fn settings(&self) -> PairingSettings {
        self.settings
    }

    /// Tells the pairing when the capture started (its first packet), for the orphan rule.
    pub fn set_capture_start(&mut self, ts_ns: u64) {
        self.capture_start_ns.get_or_insert(ts_ns);
    }

    /// The capture's start and the query timeout, once the capture started: what a
    /// transaction must be near to be changed by a capture read before or after this one.
    pub fn edges(&self) -> Option<Edges> {
        self.capture_start_ns.map(|start_ns| Edges {
            start_ns,
            timeout_ns: self.settings.query_timeout_ns,
        })
    }

    /// The answers still remembered when the capture ended (a later copy of one would be a
    /// duplicate), once [`Self::finish`] ran.
    pub fn take_answers_at_end(&mut self) -> Vec<HeldAnswer> {
        std::mem::take(&mut self.answers_at_end)
    }

    /// Hands each transaction finished since the last call to `visit`, in the order they
    /// finished, then drops them. They are visited where they lie: moving each out (~200
    /// bytes) cost more than reading it.
    pub fn visit_closed(&mut self, mut visit: impl FnMut(&Transaction)) {
        self.closed.iter().for_each(&mut visit);
        self.closed.clear();
    }

    /// Closes every query whose timeout passed before `now_ns`.
    pub fn advance(&mut self, now_ns: u64) {
        while let Some(expiry) = self.order.front() {
            if expiry.deadline >= now_ns {
                break;
            }
            self.expire_front(Status::Unanswered);
        }
        self.truncation.advance(now_ns);
    }

    /// Records a query or response. `tracked` says whether queries for this question name are
    /// decoded at all (if not, a response without a query is `Unpaired`, not an orphan).
    /// A response is kept in its transaction; of a query, what pairing needs is copied.
    pub fn observe(
        &mut self,
        message: Box<DnsMessage>,
        watched: Option<WatchedName>,
        tracked: bool,
    ) {
        self.advance(message.frame.ts_ns);
        if message.flags.response {
            self.observe_response(message, watched, tracked);
        } else {
            self.observe_query(&message, watched);
        }
    }

    fn observe_query(&mut self, message: &DnsMessage, watched: Option<WatchedName>) {
        let key = KeyRef::of(message);
        let ts = message.frame.ts_ns;
        let sequence = self.take_sequence();
        let found = self.slots.find(&key);
        let retransmitted = found.filter(|&slot| self.slots.query(slot).is_some());
        let slot = if let Some(slot) = retransmitted {
            let pending = self.slots.query_mut(slot).expect("a pending query");
            pending.retries += 1;
            // A retransmission restarts the timeout: the client is still waiting.
            pending.sequence = sequence;
            if pending.retry_frames.len() < MAX_RETRY_FRAMES {
                self.held_bytes -= pending.retry_frames_bytes();
                pending.retry_frames.push(frame_of(message));
                self.held_bytes += pending.retry_frames_bytes();
            }
            self.counters.retries += 1;
            // Each retransmission queues the key again: the queue too stays under its cap.
            self.make_room(false);
            slot
        } else {
            self.make_room(true);
            // Making room may have released the key's slot (its answer expired).
            let slot = match found.filter(|&slot| self.slots.get(slot).is_some()) {
                Some(slot) => slot,
                None => self.hold(key, message.view.question_key()),
            };
            let held = &self.slots.get(slot).expect("a held slot").key;
            let retry_of_truncated = match message.transport {
                Transport::Tcp => self.truncation.retry(
                    key.fields.client.ip(),
                    key.fields.server.ip(),
                    held.qname.clone(),
                    key.fields.qtype,
                ),
                Transport::Udp => None,
            };
            let pending = PendingQuery {
                sequence,
                query_ts_ns: ts,
                frame: frame_of(message),
                flags: message.flags,
                qname: message.question.name.clone(),
                retries: 0,
                retry_frames: Vec::new(),
                watched,
                edns_udp_size: message.edns_udp_size,
                retry_of_truncated,
            };
            self.held_bytes += pending.bytes(held);
            self.slots.set_query(slot, pending);
            self.pending += 1;
            slot
        };
        self.push_order(ts, sequence, Table::Pending, slot);
    }

    /// A new slot for `key` (holding `qname`, its name), counted.
    fn hold(&mut self, key: KeyRef<'_>, qname: &Arc<str>) -> u32 {
        let slot = self.slots.insert(key, qname);
        self.held_bytes += slot_bytes(&self.slots.get(slot).expect("just held").key);
        slot
    }

    /// Releases `slot` when it holds nothing any more.
    fn release_if_empty(&mut self, slot: u32) {
        if let Some(key) = self.slots.release_if_empty(slot) {
            self.held_bytes -= slot_bytes(&key);
        }
    }

    /// Queues `slot`'s query or answer to expire one query timeout after `ts`.
    fn push_order(&mut self, ts: u64, sequence: u64, table: Table, slot: u32) {
        self.held_bytes += QUEUE_ENTRY_BYTES;
        let deadline = ts.saturating_add(self.settings.query_timeout_ns);
        self.order.push_back(Expiry {
            deadline,
            sequence,
            slot,
            table,
        });
        self.counters.peak_bytes = self.counters.peak_bytes.max(self.held_bytes as u64);
    }

    /// Pairs a response. Orphans and duplicates (most responses of a capture without queries)
    /// are only looked up: nothing of the message is cloned here (see [`KeyRef`]).
    fn observe_response(
        &mut self,
        message: Box<DnsMessage>,
        watched: Option<WatchedName>,
        tracked: bool,
    ) {
        let ts = message.frame.ts_ns;
        let key = KeyRef::of(&message);
        let fields = key.fields;
        let mut transaction = Transaction::bare(Status::Orphan, &fields, watched);
        let found = self.slots.find(&key);
        let answered = found.and_then(|slot| Some((slot, self.slots.take_query(slot)?)));
        if let Some((slot, pending)) = answered {
            let held = &self.slots.get(slot).expect("a found slot").key;
            self.held_bytes -= pending.bytes(held);
            self.pending -= 1;
            transaction.status = Status::Answered;
            transaction.query = Some((pending.query_ts_ns, pending.frame));
            transaction.query_flags = Some(pending.flags);
            transaction.query_name = Some(pending.qname);
            transaction.retries = pending.retries;
            transaction.retry_frames = pending.retry_frames;
            transaction.rtt_ns = Some(ts.saturating_sub(pending.query_ts_ns));
            transaction.watched = transaction.watched.or(pending.watched);
            transaction.query_edns_udp_size = pending.edns_udp_size;
            transaction.retry_of_truncated = pending.retry_of_truncated;
            self.counters.answered += 1;
            let sequence = self.take_sequence();
            self.make_room(true);
            // Making room may have released the slot (its earlier answer expired).
            let slot = match self.slots.get(slot) {
                Some(_) => slot,
                None => self.hold(key, message.view.question_key()),
            };
            let held = self.slots.get_mut(slot).expect("a held slot");
            let replaced = held.answer.replace(RecentAnswer {
                sequence,
                signature: message.view.signature,
            });
            // The same key answered again (id and port reused): one answer, counted once.
            if replaced.is_none() {
                self.answered += 1;
            }
            self.push_order(ts, sequence, Table::Answered, slot);
        } else if let Some(first) = found.and_then(|slot| self.slots.get(slot)?.answer) {
            transaction.status = Status::Duplicate;
            transaction.answers_differ = first.signature != message.view.signature;
            self.counters.duplicates += 1;
        } else if !tracked {
            transaction.status = Status::Unpaired;
            self.counters.unpaired += 1;
        } else {
            let start = self.capture_start_ns.unwrap_or(ts);
            transaction.near_capture_start =
                ts < start.saturating_add(self.settings.query_timeout_ns);
            self.counters.orphans += 1;
        }
        if message.flags.truncated
            && message.transport == Transport::Udp
            && transaction.status != Status::Duplicate
        {
            let answer = TruncatedAnswer {
                ts_ns: ts,
                frame: frame_of(&message),
                client: transaction.client,
                server: transaction.server,
                watched: transaction.watched.clone(),
            };
            let qname = message.view.question_key().clone();
            self.truncation.truncated(answer, qname, transaction.qtype);
        }
        transaction.response = Some(message);
        self.closed.push(transaction);
    }

    /// Ends the capture: queries still waiting are pending (younger than the timeout).
    pub fn finish(&mut self, end_ns: u64) {
        self.advance(end_ns);
        while !self.order.is_empty() {
            self.expire_front(Status::Pending);
        }
        self.truncation.finish(end_ns);
    }

    fn take_sequence(&mut self) -> u64 {
        self.next_sequence += 1;
        self.next_sequence
    }

    /// Keeps the held entries under the caps (entries when `adding_entry`, bytes, and queue
    /// length: every retransmission queues the key again) by expiring the oldest.
    fn make_room(&mut self, adding_entry: bool) {
        let max_entries = self.settings.max_pending.max(1);
        while (adding_entry && self.pending + self.answered >= max_entries
            || self.order.len() >= 2 * max_entries
            || self.held_bytes >= self.settings.max_bytes)
            && !self.order.is_empty()
        {
            self.expire_front(Status::Evicted);
        }
    }

    /// Removes the oldest queue entry; if it is still current, closes its query with `status`
    /// or forgets its answer.
    fn expire_front(&mut self, status: Status) {
        let Some(Expiry {
            sequence,
            slot,
            table,
            deadline,
        }) = self.order.pop_front()
        else {
            return;
        };
        self.held_bytes -= QUEUE_ENTRY_BYTES;
        match table {
            Table::Answered => {
                let Some(held) = self.slots.get_mut(slot) else {
                    return;
                };
                let Some(answer) = held.answer.filter(|answer| answer.sequence == sequence) else {
                    return;
                };
                if status == Status::Pending {
                    self.answers_at_end.push(HeldAnswer {
                        key: SeamKey {
                            client: held.key.client(),
                            server: held.key.server(),
                            transport: held.key.transport(),
                            id: held.key.id(),
                            qname: held.key.qname.to_string(),
                            qtype: held.key.qtype(),
                        },
                        signature: answer.signature,
                        deadline_ns: deadline,
                    });
                }
                held.answer = None;
                self.answered -= 1;
                self.counters.evicted_answers += u64::from(status == Status::Evicted);
                self.release_if_empty(slot);
            }
            Table::Pending => {
                // A stale queue entry (the query was retransmitted or answered since) is skipped.
                if self
                    .slots
                    .query(slot)
                    .is_none_or(|pending| pending.sequence != sequence)
                {
                    return;
                }
                let pending = self.slots.take_query(slot).expect("a current query");
                let key = &self.slots.get(slot).expect("a held slot").key;
                self.held_bytes -= pending.bytes(key);
                self.pending -= 1;
                match status {
                    Status::Evicted => self.counters.evicted_queries += 1,
                    Status::Pending => self.counters.pending += 1,
                    _ => self.counters.unanswered += 1,
                }
                self.closed.push(Transaction {
                    status,
                    client: key.client(),
                    server: key.server(),
                    transport: key.transport(),
                    id: key.id(),
                    query_name: Some(pending.qname),
                    qtype: key.qtype(),
                    query: Some((pending.query_ts_ns, pending.frame)),
                    query_flags: Some(pending.flags),
                    retries: pending.retries,
                    retry_frames: pending.retry_frames,
                    response: None,
                    rtt_ns: None,
                    answers_differ: false,
                    near_capture_start: false,
                    watched: pending.watched,
                    query_edns_udp_size: pending.edns_udp_size,
                    retry_of_truncated: pending.retry_of_truncated,
                    deadline_ns: (status == Status::Pending).then_some(deadline),
                });
                self.release_if_empty(slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Answer, AnswerData, FrameContext, Question, ResponseView};

    const SECOND: u64 = 1_000_000_000;

    fn message(
        frame_number: u64,
        ts_s: f64,
        response: bool,
        id: u16,
        answer: Option<[u8; 4]>,
    ) -> DnsMessage {
        let client: SocketAddr = "192.0.2.10:40000".parse().unwrap();
        let server: SocketAddr = "192.0.2.53:53".parse().unwrap();
        let (source, destination) = if response {
            (server, client)
        } else {
            (client, server)
        };
        let flags = Flags {
            response,
            ..Flags::default()
        };
        let question = Question {
            name: "Pool.contoso.com".into(),
            qtype: 1,
        };
        let answers: Vec<Answer> = answer
            .map(|a| {
                vec![Answer {
                    name: "pool.contoso.com".into(),
                    rtype: 1,
                    ttl: 60,
                    data: AnswerData::A(a.into()),
                }]
            })
            .unwrap_or_default();
        let mut message = DnsMessage {
            view: ResponseView::of(&flags, &question, &answers),
            frame: FrameContext {
                ts_ns: (ts_s * SECOND as f64) as u64,
                file_index: 0,
                frame_number,
            },
            source,
            destination,
            transport: Transport::Udp,
            id,
            flags,
            question,
            answers,
            answers_complete: true,
            edns_udp_size: None,
            watched_question: None,
            pairing_hash: 0,
            client_hash: 0,
        };
        message.update_hashes();
        message
    }

    fn run(
        messages: &[DnsMessage],
        end_s: f64,
        max_pending: usize,
    ) -> (Vec<Transaction>, PairingCounters) {
        let mut pairing = Pairing::new(PairingSettings {
            query_timeout_ns: 5 * SECOND,
            max_pending,
            max_bytes: usize::MAX,
        });
        pairing.set_capture_start(messages[0].frame.ts_ns);
        let mut closed = Vec::new();
        for m in messages {
            pairing.observe(Box::new(m.clone()), None, true);
            pairing.visit_closed(|t| closed.push(t.clone()));
        }
        pairing.finish((end_s * SECOND as f64) as u64);
        pairing.visit_closed(|t| closed.push(t.clone()));
        (closed, pairing.counters)
    }

    fn statuses(closed: &[Transaction]) -> Vec<(Status, u16)> {
        closed.iter().map(|t| (t.status, t.id)).collect()
    }

    #[test]
    fn query_and_response_pair_with_their_rtt_and_retries() {
        let messages = [
            message(1, 10.0, false, 7, None),
            message(2, 11.0, false, 7, None),
            message(3, 11.25, true, 7, Some([10, 0, 0, 1])),
        ];
        let (closed, counters) = run(&messages, 12.0, 100);
        assert_eq!(statuses(&closed), [(Status::Answered, 7)]);
        assert_eq!(closed[0].rtt_ns, Some(1_250_000_000));
        assert_eq!(closed[0].retries, 1);
        assert_eq!(closed[0].retry_frames[0].frame_number, 2);
        assert_eq!(counters.retries, 1);
    }

    #[test]
    fn timeout_makes_a_query_unanswered_and_the_end_leaves_young_ones_pending() {
        let messages = [
            message(1, 10.0, false, 1, None),
            message(2, 20.0, false, 2, None),
        ];
        let (closed, counters) = run(&messages, 22.0, 100);
        assert_eq!(
            statuses(&closed),
            [(Status::Unanswered, 1), (Status::Pending, 2)]
        );
        assert_eq!((counters.unanswered, counters.pending), (1, 1));
    }

    #[test]
    fn late_response_is_an_orphan_after_the_query_timed_out() {
        let messages = [
            message(1, 0.0, false, 1, None),
            message(2, 100.0, false, 9, None),
            message(3, 106.0, true, 1, Some([10, 0, 0, 1])),
        ];
        let (closed, _) = run(&messages, 107.0, 100);
        assert_eq!(
            statuses(&closed),
            [
                (Status::Unanswered, 1),
                (Status::Unanswered, 9),
                (Status::Orphan, 1)
            ]
        );
        assert!(!closed[2].near_capture_start);
    }

    #[test]
    fn response_at_capture_start_is_an_orphan_near_the_start() {
        let (closed, _) = run(&[message(1, 0.0, true, 3, Some([10, 0, 0, 1]))], 1.0, 100);
        assert_eq!(statuses(&closed), [(Status::Orphan, 3)]);
        assert!(closed[0].near_capture_start);
    }

    #[test]
    fn second_response_is_a_duplicate_flagged_when_its_answers_differ() {
        let same = [
            message(1, 0.0, false, 4, None),
            message(2, 0.1, true, 4, Some([10, 0, 0, 1])),
            message(3, 0.2, true, 4, Some([10, 0, 0, 1])),
        ];
        let (closed, _) = run(&same, 1.0, 100);
        assert_eq!(
            statuses(&closed),
            [(Status::Answered, 4), (Status::Duplicate, 4)]
        );
        assert!(!closed[1].answers_differ);
        let spoofed = [
            message(1, 0.0, false, 4, None),
            message(2, 0.1, true, 4, Some([10, 0, 0, 1])),
            message(3, 0.2, true, 4, Some([6, 6, 6, 6])),
        ];
        let (closed, _) = run(&spoofed, 1.0, 100);
        assert!(closed[1].answers_differ);
    }

    #[test]
    fn the_cap_evicts_the_oldest_and_counts_it() {
        let messages: Vec<_> = (0..10)
            .map(|i| message(i + 1, i as f64 * 0.01, false, i as u16, None))
            .collect();
        let (closed, counters) = run(&messages, 1.0, 4);
        assert_eq!(counters.evicted_queries, 6);
        assert_eq!(
            statuses(&closed)[..6]
                .iter()
                .map(|s| s.1)
                .collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
        assert!(closed[..6].iter().all(|t| t.status == Status::Evicted));
        assert_eq!(counters.pending, 4);
    }

    #[test]
    fn truncated_udp_answer_and_its_tcp_retry_are_linked() {
        let mut truncated = message(2, 0.1, true, 8, None);
        truncated.flags.truncated = true;
        let mut tcp_query = message(3, 0.2, false, 9, None);
        tcp_query.transport = Transport::Tcp;
        tcp_query.source.set_port(40001);
        tcp_query.update_hashes();
        let mut tcp_answer = message(4, 0.3, true, 9, Some([10, 0, 0, 1]));
        tcp_answer.transport = Transport::Tcp;
        tcp_answer.destination.set_port(40001);
        tcp_answer.update_hashes();
        let messages = [
            message(1, 0.0, false, 8, None),
            truncated,
            tcp_query,
            tcp_answer,
        ];
        let mut pairing = Pairing::new(PairingSettings {
            query_timeout_ns: 5 * SECOND,
            max_pending: 100,
            max_bytes: usize::MAX,
        });
        let mut closed = Vec::new();
        for m in &messages {
            pairing.observe(Box::new(m.clone()), None, true);
            pairing.visit_closed(|t| closed.push(t.clone()));
        }
        pairing.finish(60 * SECOND);
        assert_eq!(
            statuses(&closed),
            [(Status::Answered, 8), (Status::Answered, 9)]
        );
        assert_eq!(
            closed[1].retry_of_truncated.map(|f| f.frame_number),
            Some(2)
        );
        assert_eq!(
            (
                pairing.truncation.counters.truncated,
                pairing.truncation.counters.retried
            ),
            (1, 1)
        );
        assert_eq!(pairing.truncation.drain_not_retried().count(), 0);
    }

    #[test]
    fn held_bytes_stay_under_the_byte_cap_and_balance_out() {
        let cap = 20_000;
        let mut pairing = Pairing::new(PairingSettings {
            query_timeout_ns: 5 * SECOND,
            max_pending: 1_000_000,
            max_bytes: cap,
        });
        let mut largest_entry = 0;
        for n in 0..2_000u16 {
            let frame = u64::from(n) * 3;
            let query = message(frame + 1, f64::from(n) * 0.001, false, n, None);
            // A key's slot with its query (no retries here) and its answer, each queued.
            let entry = GROWTH_SLACK * slots::SLOT_BYTES
                + HASH_SLOT_OVERHEAD
                + string_bytes(query.view.question_key())
                + GROWTH_SLACK * slots::QUERY_BYTES
                + string_bytes(&query.question.name)
                + 2 * QUEUE_ENTRY_BYTES;
            largest_entry = largest_entry.max(entry);
            pairing.observe(Box::new(query), None, true);
            // Every fourth query is answered twice: a recent answer, then a duplicate.
            if n % 4 == 0 {
                let at = f64::from(n) * 0.001 + 0.0005;
                let answer = message(frame + 2, at, true, n, Some([10, 0, 0, 1]));
                pairing.observe(Box::new(answer.clone()), None, true);
                pairing.observe(Box::new(answer), None, true);
            }
            assert!(
                pairing.held_bytes < cap + largest_entry,
                "{}",
                pairing.held_bytes
            );
        }
        assert!(pairing.counters.evicted_queries > 0);
        assert!(pairing.counters.peak_bytes < (cap + largest_entry) as u64);
        pairing.finish(3_600 * SECOND);
        // Everything added was taken away again: the estimate does not drift.
        assert_eq!(pairing.held_bytes, 0);
        assert!(pairing.order.is_empty() && pairing.slots.is_empty());
        assert_eq!((pairing.pending, pairing.answered), (0, 0));
    }

    #[test]
    fn keys_held_again_after_their_slots_were_released_pair_alike() {
        // Rounds a query timeout apart reuse the same keys: every slot was released and is
        // held again, for another key.
        let mut pairing = Pairing::new(PairingSettings {
            query_timeout_ns: 5 * SECOND,
            max_pending: 1_000_000,
            max_bytes: usize::MAX,
        });
        let mut frame = 0;
        for round in 0..5u16 {
            for n in 0..3_000u16 {
                // Each round shifts the ids, so a slot is reused for another key.
                let id = n.wrapping_add(round * 7);
                let at = f64::from(round) * 10.0 + f64::from(n) * 0.001;
                frame += 3;
                let answer = message(frame + 2, at + 0.0005, true, id, Some([10, 0, 0, 1]));
                pairing.observe(
                    Box::new(message(frame + 1, at, false, id, None)),
                    None,
                    true,
                );
                pairing.observe(Box::new(answer.clone()), None, true);
                pairing.observe(Box::new(answer), None, true);
            }
        }
        pairing.finish(60 * SECOND);
        let counters = pairing.counters;
        assert_eq!((counters.answered, counters.duplicates), (15_000, 15_000));
        assert_eq!(counters.orphans + counters.unanswered + counters.pending, 0);
        assert!(pairing.slots.is_empty());
    }

    #[test]
    fn a_retransmission_flood_does_not_grow_the_expiry_queue() {
        let mut pairing = Pairing::new(PairingSettings {
            query_timeout_ns: 5 * SECOND,
            max_pending: 100,
            max_bytes: usize::MAX,
        });
        for n in 0..10_000u64 {
            let query = message(n + 1, n as f64 * 0.0001, false, 7, None);
            pairing.observe(Box::new(query), None, true);
            assert!(pairing.order.len() <= 200, "{}", pairing.order.len());
        }
        assert_eq!(pairing.pending, 1);
        assert_eq!(pairing.counters.retries, 9_999);
        assert_eq!(pairing.counters.evicted_queries, 0);
    }

    #[test]
    fn untracked_alias_response_is_unpaired_not_orphan() {
        let mut pairing = Pairing::new(PairingSettings {
            query_timeout_ns: 5 * SECOND,
            max_pending: 10,
            max_bytes: usize::MAX,
        });
        pairing.observe(
            Box::new(message(1, 0.0, true, 5, Some([10, 0, 0, 1]))),
            None,
            false,
        );
        let mut statuses = Vec::new();
        pairing.visit_closed(|t| statuses.push(t.status));
        assert_eq!(statuses, [Status::Unpaired]);
    }
}
