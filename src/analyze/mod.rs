//! Analysis: pure and mergeable. Turns decoded DNS messages into per-name facts (answer sets,
//! member placement, per-client and per-server views) and findings measured against the
//! expectations: recorded response by response here, or derived from the merged analysis as a
//! whole (`derived`). Every finding is made in this module; the report only words them. No
//! I/O, no clock: time is the capture timestamp. `Default` is the identity of `merge`, which is
//! associative and commutative.

mod caps;
mod client_map;
mod client_table;
mod closed;
mod compact;
pub mod connections;
pub mod derived;
mod discovery;
mod distinct;
pub mod empty_evidence;
mod findings;
mod latency;
mod names;
mod occurrences;
mod pairing;
mod pairs;
mod placements;
pub mod rotation;
mod rotation_findings;
pub mod seam;
mod set_map;
mod significance;
pub mod silent_servers;
pub mod timeline;
mod top_k;
mod truncation;

pub use crate::keys::{set_hash, HashedClient, SetKey};
pub use discovery::{Discovered, FailureSummary, NameSummary, BYTES_PER_NAME};
pub use distinct::{DistinctClients, DistinctCount, SKETCH_RELATIVE_ERROR};
use findings::record_finding;
pub use findings::{AddressFindings, FindingKey, FindingKind, Severity};
pub use latency::{bucket_upper_ns, LatencyHistogram};
pub use names::{
    AnswerSet, ClientFacts, NameFacts, Placement, Placements, RcodeClass, ServerFacts,
    MAX_ALIASES_PER_NAME, MAX_ANSWER_SETS_PER_NAME, MAX_CLIENTS_PER_NAME, MAX_SERVERS_PER_NAME,
};
pub use occurrences::{Event, FrameRef, Occurrences, Peers, MAX_NAMED_PEERS};
pub use pairing::{PairingCounters, PairingSettings, Status, Transaction, WatchedName};
pub use set_map::SetMap;
pub use top_k::{Counted, TopK};
pub use truncation::{TruncatedAnswer, TruncationCounters};

use crate::decode::{ConnectionAttempt, DnsMessage, ReassemblyCounters, Skip, SkipCounts};
use crate::expect::Expectations;
use closed::Closed;
use connections::RecentAnswers;
use seam::{OpenTransaction, Seam};
use silent_servers::ServerTallies;
use std::collections::BTreeMap;

/// What the analysis measures against.
#[derive(Debug, Clone)]
pub enum Watching {
    /// Watched names with expected answers.
    Expectations(Expectations),
    /// No expectations: every name with answers is recorded.
    Discovery,
}

impl Watching {
    /// The expectations, if any.
    pub fn expectations(&self) -> Option<&Expectations> {
        match self {
            Watching::Expectations(expectations) => Some(expectations),
            Watching::Discovery => None,
        }
    }
}

/// Capture-level counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrafficCounters {
    /// Frames read.
    pub packets: u64,
    /// Frames that carried a DNS message on a DNS port.
    pub dns_messages: u64,
    /// DNS responses (QR set), watched or not.
    pub responses: u64,
    /// DNS messages decoded in full because they concern a watched name.
    pub watched_messages: u64,
    /// Watched responses attributed to a watched (or discovered and held) name.
    pub watched_responses: u64,
    /// Frames shorter on capture than on the wire.
    pub snaplen_truncated: u64,
    /// Frames that produced no DNS message, by reason.
    pub skipped: SkipCounts,
    /// Messages for discovered names no longer held (discovery keeps the busiest names within
    /// its budget).
    pub untracked_name_responses: u64,
    /// Query/response pairing outcomes.
    pub pairing: PairingCounters,
    /// IP fragment and TCP stream reassembly.
    pub reassembly: ReassemblyCounters,
    /// Truncated UDP answers and their TCP retries.
    pub truncation: TruncationCounters,
    /// Earliest capture timestamp (ns), if any frame was read.
    pub first_ts_ns: Option<u64>,
    /// Latest capture timestamp (ns).
    pub last_ts_ns: Option<u64>,
    /// Responses about watched names on UDP ports not taken as DNS, per server port: looked
    /// for (a second read of the files) only when no watched response was found.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other_port_responses: BTreeMap<u16, u64>,
}

/// Everything learned from the capture. Per shard or per run; merges exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Analysis {
    /// Capture-level counters.
    pub traffic: TrafficCounters,
    /// Facts per watched name, keyed by the normalized name.
    pub names: BTreeMap<String, NameFacts>,
    /// Discovery: compact summaries of the busiest names and of the failing names.
    #[serde(default, skip_serializing_if = "Discovered::is_empty")]
    pub discovered: Discovered,
    /// Findings with their occurrences.
    #[serde(with = "pairs")]
    pub findings: BTreeMap<FindingKey, Occurrences>,
    /// Per DNS server: queries answered, timed out and pending at the end.
    #[serde(default)]
    pub servers: ServerTallies,
    /// Transactions kept aside for `pcdns merge` (recorded by [`Analysis::settle`]) and
    /// answers remembered at the end: see [`seam`].
    #[serde(default, skip_serializing_if = "Seam::is_empty")]
    pub seam: Seam,
}

impl TrafficCounters {
    /// Adds `other` into `self` (every field: a field left out fails to compile).
    pub fn merge(&mut self, other: TrafficCounters) {
        let TrafficCounters {
            packets,
            dns_messages,
            responses,
            watched_messages,
            watched_responses,
            snaplen_truncated,
            skipped,
            untracked_name_responses,
            pairing,
            reassembly,
            truncation,
            first_ts_ns,
            last_ts_ns,
            other_port_responses,
        } = other;
        for (port, count) in other_port_responses {
            *self.other_port_responses.entry(port).or_insert(0) += count;
        }
        self.packets += packets;
        self.dns_messages += dns_messages;
        self.responses += responses;
        self.watched_messages += watched_messages;
        self.watched_responses += watched_responses;
        self.snaplen_truncated += snaplen_truncated;
        self.untracked_name_responses += untracked_name_responses;
        self.pairing.merge(&pairing);
        self.reassembly.merge(&reassembly);
        self.truncation.merge(&truncation);
        self.skipped.merge(&skipped);
        self.first_ts_ns = min_option(self.first_ts_ns, first_ts_ns, u64::min);
        self.last_ts_ns = min_option(self.last_ts_ns, last_ts_ns, u64::max);
    }
}

impl Analysis {
    /// An empty analysis whose discovery holds at most `names` names (expectations: 0).
    pub fn discovering(names: usize) -> Self {
        Analysis {
            discovered: Discovered::with_capacity(names),
            ..Analysis::default()
        }
    }

    /// Counts one frame read from the capture.
    pub fn count_frame(&mut self, ts_ns: u64, snaplen_truncated: bool) {
        let traffic = &mut self.traffic;
        traffic.packets += 1;
        traffic.snaplen_truncated += u64::from(snaplen_truncated);
        traffic.first_ts_ns = Some(traffic.first_ts_ns.map_or(ts_ns, |first| first.min(ts_ns)));
        traffic.last_ts_ns = Some(traffic.last_ts_ns.map_or(ts_ns, |last| last.max(ts_ns)));
    }

    /// Counts a frame that produced no DNS message.
    pub fn skip(&mut self, why: Skip) {
        self.traffic.skipped.add(why, 1);
    }

    /// Counts a DNS message about a name nobody watches.
    pub fn count_unwatched(&mut self, is_response: bool) {
        self.traffic.dns_messages += 1;
        self.traffic.responses += u64::from(is_response);
    }

    /// Records a fully decoded DNS message (findings about an address in `gathered`, to be
    /// folded in later); returns the watched name it counts for, if any.
    pub fn ingest(
        &mut self,
        message: &DnsMessage,
        watching: &Watching,
        gathered: &mut AddressFindings,
    ) -> Option<WatchedName> {
        self.traffic.dns_messages += 1;
        self.traffic.watched_messages += 1;
        self.traffic.responses += u64::from(message.flags.response);
        let view = &message.view;
        let Watching::Expectations(expectations) = watching else {
            let watched = WatchedName {
                key: view.chain[0].clone(),
                display: message.question.name.clone(),
            };
            let traffic = &mut self.traffic;
            self.discovered
                .record(message, &watched.key, &watched.display, false, traffic);
            return Some(watched);
        };
        let Some((watched, entry)) = attribute(message, expectations) else {
            self.record_near_miss(message, watching);
            return None;
        };
        let via_alias = *watched.key != *view.chain[0];
        let facts = facts_of(&mut self.names, &watched);
        if !message.flags.response {
            facts.queries += 1;
            return Some(watched);
        }
        self.traffic.watched_responses += 1;
        facts.record_response(message, via_alias, true);
        names::check_response(&mut self.findings, gathered, expectations, entry, message);
        Some(watched)
    }

    /// A failed lookup of a name that is not watched but was after a watched one (suffix
    /// devolution such as `pool.contoso.com.corp.contoso.com`, or the pool's first label
    /// alone): a near miss, recorded with the watched name (expectations only).
    fn record_near_miss(&mut self, message: &DnsMessage, watching: &Watching) {
        let view = &message.view;
        let Some(expectations) = watching.expectations() else {
            return;
        };
        if !message.flags.response || !view.rcode.is_failure() {
            return;
        }
        let asked = &*view.chain[0];
        let Some(entry) = expectations
            .names
            .iter()
            .find(|e| is_near_miss(asked, &e.key))
        else {
            return;
        };
        let subject = format_args!("{asked} {}", view.rcode.label());
        let event = names::event_of(message);
        let kind = FindingKind::NearMiss;
        record_finding(&mut self.findings, kind, &entry.label, &subject, &event, 0);
    }

    /// Records what a finished transaction says: latency, unanswered queries, unsolicited and
    /// conflicting answers (findings only for expected names, in `gathered`).
    fn record_closed(
        &mut self,
        transaction: &Closed<'_>,
        watching: &Watching,
        gathered: &mut AddressFindings,
    ) {
        let Some((key, display)) = transaction.watched else {
            return;
        };
        let server = transaction.server;
        let Watching::Expectations(_) = watching else {
            match transaction.status {
                Status::Answered => self.discovered.record_answered(
                    key,
                    server,
                    transaction.rtt_ns.unwrap_or_default(),
                ),
                Status::Unanswered => self.discovered.record_unanswered(key, display),
                _ => {}
            }
            return;
        };
        let facts = facts_named(&mut self.names, key, display);
        let kind = match transaction.status {
            Status::Answered => {
                let rtt = transaction.rtt_ns.unwrap_or_default();
                facts.latency.record(rtt);
                if let Some(server_facts) = facts.servers.get_mut(&server) {
                    server_facts.latency.record(rtt);
                }
                return;
            }
            Status::Unanswered => {
                facts.unanswered += 1;
                if let Some((query_ts_ns, _)) = transaction.query {
                    facts.timeline.record_unanswered(query_ts_ns);
                }
                FindingKind::Unanswered
            }
            Status::Orphan if !transaction.near_capture_start => FindingKind::UnsolicitedResponse,
            Status::Duplicate if transaction.answers_differ => FindingKind::ConflictingAnswers,
            _ => return,
        };
        let Some((ts_ns, frame)) = transaction.response.or(transaction.query) else {
            return;
        };
        let event = Event {
            ts_ns,
            frame,
            server,
            client: transaction.client,
        };
        gathered.record(&mut self.findings, kind, display, server, &event, 0);
    }

    /// Records a truncated answer that was never retried over TCP (a finding for an expected
    /// name, in `gathered`).
    pub fn record_not_retried(
        &mut self,
        answer: &TruncatedAnswer,
        watching: &Watching,
        gathered: &mut AddressFindings,
    ) {
        let (Some(watched), Some(_)) = (&answer.watched, watching.expectations()) else {
            return;
        };
        let event = Event {
            ts_ns: answer.ts_ns,
            frame: answer.frame,
            server: answer.server.ip(),
            client: answer.client.ip(),
        };
        let kind = FindingKind::TruncatedNotRetried;
        gathered.record(
            &mut self.findings,
            kind,
            &watched.display,
            event.server,
            &event,
            0,
        );
    }

    /// Renumbers the inputs that example frames point into (when analyses of different runs
    /// are merged). `map` must keep the order of indexes, so examples stay sorted.
    pub fn map_file_indexes(&mut self, map: &dyn Fn(u16) -> u16) {
        self.seam.map_file_indexes(map);
        let discovered_frames = self
            .discovered
            .names
            .values_mut()
            .flat_map(|name| name.value.answer_sets.values_mut())
            .filter_map(|set| set.value.first_frame.as_mut());
        for frame in discovered_frames {
            frame.file_index = map(frame.file_index);
        }
        // Per name: its answer sets, and the answer sets of its timeline's buckets.
        let of_names = self.names.values_mut().flat_map(|facts| {
            let timeline = facts
                .timeline
                .buckets
                .values_mut()
                .flat_map(|bucket| bucket.sets.values_mut());
            facts.answer_sets.values_mut().chain(timeline)
        });
        let occurrences = of_names.chain(self.findings.values_mut());
        for occurrences in occurrences {
            let frames = occurrences
                .examples
                .iter_mut()
                .chain(&mut occurrences.last_frame);
            for frame in frames {
                frame.file_index = map(frame.file_index);
            }
        }
    }

    /// Adds `other` into `self` (every field: a field left out fails to compile).
    pub fn merge(&mut self, other: Analysis) {
        let Analysis {
            traffic,
            names,
            discovered,
            findings,
            servers,
            seam,
        } = other;
        self.traffic.merge(traffic);
        self.seam.merge(seam);
        self.servers.merge(servers);
        for (key, facts) in names {
            self.names.entry(key).or_default().merge(facts);
        }
        self.discovered.merge(discovered, &mut self.traffic);
        for (key, occurrences) in findings {
            self.findings.entry(key).or_default().merge(occurrences);
        }
    }
}

/// Finds the expected name a message counts for: the first watched name along its CNAME chain,
/// with its index in the expectations.
fn attribute(message: &DnsMessage, expectations: &Expectations) -> Option<(WatchedName, usize)> {
    let view = &message.view;
    // The decoder found the question in the watch list, built from the expectations in
    // order: that entry, if its name is indeed the question's.
    let asked = message.watched_question.map(usize::from).filter(|&index| {
        expectations
            .names
            .get(index)
            .is_some_and(|entry| *entry.key == *view.chain[0])
    });
    let index = asked.or_else(|| {
        view.chain
            .iter()
            .find_map(|name| expectations.find_normalized(name))
    })?;
    let entry = &expectations.names[index];
    let watched = WatchedName {
        key: entry.key.clone(),
        display: entry.label.clone(),
    };
    Some((watched, index))
}

/// True when `asked` (normalized) was after the watched `key`: `key` followed by a suffix
/// (devolution), or `key`'s first label alone (a single-label lookup).
pub fn is_near_miss(asked: &str, key: &str) -> bool {
    let devolved = asked
        .strip_prefix(key)
        .is_some_and(|rest| rest.len() > 1 && rest.starts_with('.'));
    let first_label = key.split('.').next().unwrap_or_default();
    devolved || (key.contains('.') && asked == first_label)
}

/// The facts of a watched name, created on first use; no allocation once it exists.
fn facts_of<'a>(
    names: &'a mut BTreeMap<String, NameFacts>,
    watched: &WatchedName,
) -> &'a mut NameFacts {
    facts_named(names, &watched.key, &watched.display)
}

/// The facts of the watched name `key` (shown as `display`), created on first use.
fn facts_named<'a>(
    names: &'a mut BTreeMap<String, NameFacts>,
    key: &str,
    display: &str,
) -> &'a mut NameFacts {
    if !names.contains_key(key) {
        names.insert(key.to_string(), NameFacts::named(display.to_string()));
    }
    names.get_mut(key).expect("inserted just above")
}

fn min_option(a: Option<u64>, b: Option<u64>, pick: fn(u64, u64) -> u64) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

/// Names whose client tables are prefetched for each watched response (beyond, none are).
const PREFETCHED_NAMES: usize = 4;

/// The sequential front of the analysis: feeds messages in capture order through pairing and
/// into the mergeable [`Analysis`]. Finished transactions go to a sink (the transaction log).
#[derive(Debug)]
pub struct Analyzer<'w> {
    analysis: Analysis,
    pairing: pairing::Pairing,
    watching: &'w Watching,
    tracks_every_query: bool,
    recent_answers: RecentAnswers,
    /// Findings about an address since the last batch's end, folded into the analysis then.
    gathered: AddressFindings,
    /// The capture's end, once it ended (how long queries still pending had waited).
    capture_end_ns: Option<u64>,
    /// Keeps aside what `pcdns merge` needs to join this run with its neighbours (see
    /// [`seam`]).
    keeps_seam: bool,
}

impl<'w> Analyzer<'w> {
    /// An empty analyzer holding at most `discovered_names` names in discovery.
    /// `tracks_every_query`: the decoder decodes queries for every name (not only watched
    /// ones), so a response without its query is a true orphan.
    pub fn new(
        watching: &'w Watching,
        settings: PairingSettings,
        discovered_names: usize,
        tracks_every_query: bool,
    ) -> Self {
        let analysis = match watching {
            Watching::Expectations(_) => Analysis::default(),
            Watching::Discovery => Analysis::discovering(discovered_names),
        };
        Analyzer {
            analysis,
            pairing: pairing::Pairing::new(settings),
            watching,
            tracks_every_query,
            recent_answers: RecentAnswers::default(),
            gathered: AddressFindings::default(),
            capture_end_ns: None,
            keeps_seam: false,
        }
    }

    /// Keeps aside, unrecorded, the transactions near the capture's edges and the answers
    /// remembered at its end, for `pcdns merge` (see [`seam`]; [`Analysis::settle`] records
    /// them).
    pub fn keep_seam(&mut self) {
        self.keeps_seam = true;
    }

    /// Adds counters from the decoders (they commute, so they may come at any time).
    pub fn add_counters(&mut self, counters: Analysis) {
        self.analysis.merge(counters);
    }

    /// Tells pairing when the capture started (its first packet), for the orphan rule.
    pub fn set_capture_start(&mut self, ts_ns: u64) {
        self.pairing.set_capture_start(ts_ns);
    }

    /// Analyses one decoded message.
    pub fn ingest(&mut self, message: Box<DnsMessage>) {
        let watched = self
            .analysis
            .ingest(&message, self.watching, &mut self.gathered);
        if let (Some(watched), true) = (&watched, message.flags.response) {
            self.remember_answer(&message, watched);
        }
        // Queries are decoded for every name, or for the watched ones: is the question one?
        let question = message.view.question_key();
        // (A name watched as asked is one: no second lookup.)
        let tracked = self.tracks_every_query
            || self.watching.expectations().is_some_and(|e| {
                watched.as_ref().is_some_and(|w| *w.key == **question)
                    || e.find_normalized(question).is_some()
            });
        self.pairing.observe(message, watched, tracked);
    }

    /// Starts loading what ingesting `message` will read: what its view keeps on the heap, and
    /// (`clients`; expectations only) the per-client state it will update (see
    /// [`ClientMap::prefetch`](client_map::ClientMap::prefetch)); changes nothing.
    pub fn prefetch(&self, message: &DnsMessage, clients: bool) {
        message.view.prefetch();
        if !clients || !message.flags.response || self.watching.expectations().is_none() {
            return;
        }
        let client = message.hashed_client();
        self.recent_answers.prefetch(client);
        // Which expected name the message counts for is known only once it is attributed;
        // expectations name a few pools, so the client's slot is hinted in each name's table.
        if self.analysis.names.len() <= PREFETCHED_NAMES {
            for facts in self.analysis.names.values() {
                facts.clients.prefetch(client);
            }
        }
    }

    /// Remembers the addresses a client received for a pool name (expectations only), so its
    /// later connection attempts can be matched with the answer: those at the end of the
    /// answer's CNAME chain, in answer order, with the chain's largest TTL (read from the view).
    fn remember_answer(&mut self, message: &DnsMessage, watched: &WatchedName) {
        let view = &message.view;
        if self.watching.expectations().is_none() || view.addresses().is_empty() {
            return;
        }
        let ttl = view.max_ttl.unwrap_or(0);
        let client = message.hashed_client();
        let addresses = view.addresses().iter().copied();
        self.recent_answers
            .remember(client, &watched.key, message.frame.ts_ns, ttl, addresses);
    }

    /// Records a client's TCP connection attempt to a pool member: after which answer, at which
    /// position, or without an answer (counted for the first name listing the member).
    pub fn connection(&mut self, attempt: &ConnectionAttempt) {
        let Some(expectations) = self.watching.expectations() else {
            return;
        };
        let (client, target) = (attempt.client.ip(), attempt.target.ip());
        let found = self
            .recent_answers
            .lookup(&client, &target, attempt.frame.ts_ns);
        let entry = match &found {
            Some((key, _)) => expectations.find_normalized(key),
            None => expectations
                .names
                .iter()
                .position(|n| n.members.contains(&target) || n.standby.contains(&target)),
        };
        let Some(entry) = entry.map(|index| &expectations.names[index]) else {
            return;
        };
        let watched = WatchedName {
            key: entry.key.clone(),
            display: entry.label.clone(),
        };
        let member = facts_of(&mut self.analysis.names, &watched)
            .connections
            .entry(target)
            .or_default();
        match found {
            Some((_, position)) => member.record_after_answer(client, position),
            None => member.record_without_answer(client),
        }
    }

    /// Lets capture time pass (closes queries whose timeout ran out), then hands every finished
    /// transaction to `sink`.
    pub fn advance(&mut self, now_ns: u64, sink: &mut dyn FnMut(&Transaction)) {
        self.pairing.advance(now_ns);
        self.flush(sink);
    }

    /// Records the transactions finished since the last call (and hands each to `sink`), and
    /// folds the findings gathered since into the analysis. What it records does not depend
    /// on when it is called; only the order `sink` sees does.
    pub fn flush(&mut self, sink: &mut dyn FnMut(&Transaction)) {
        let not_retried: Vec<TruncatedAnswer> =
            self.pairing.truncation.drain_not_retried().collect();
        for answer in &not_retried {
            self.analysis
                .record_not_retried(answer, self.watching, &mut self.gathered);
        }
        let (analysis, watching) = (&mut self.analysis, self.watching);
        let gathered = &mut self.gathered;
        let capture_end_ns = self.capture_end_ns;
        let edges = self.pairing.edges().filter(|_| self.keeps_seam);
        // The seam holds at most the pairing cap of transactions besides those pending.
        let room = self.pairing.settings().max_pending.max(1);
        self.pairing.visit_closed(|transaction| {
            let seam = &mut analysis.seam;
            let near_edge = edges.is_some_and(|edges| edges.keeps_transaction(transaction));
            if near_edge
                && (transaction.status == Status::Pending || seam.transactions.len() < room)
            {
                seam.transactions.push(OpenTransaction::of(transaction));
            } else {
                seam.unjoined += u64::from(near_edge);
                let closed = Closed::of(transaction);
                analysis.record_closed(&closed, watching, gathered);
                analysis.servers.record_transaction(&closed, capture_end_ns);
            }
            sink(transaction);
        });
        self.gathered.fold_into(&mut self.analysis.findings);
    }

    /// Ends the capture at `end_ns` (its last frame's time) and returns the analysis, with
    /// the reassembly counters.
    pub fn finish(
        mut self,
        end_ns: u64,
        sink: &mut dyn FnMut(&Transaction),
        reassembly: ReassemblyCounters,
    ) -> Analysis {
        self.analysis.traffic.reassembly = reassembly;
        self.capture_end_ns = Some(end_ns);
        self.pairing.finish(end_ns);
        self.flush(sink);
        if self.keeps_seam {
            let seam = &mut self.analysis.seam;
            seam.answers = self.pairing.take_answers_at_end();
            seam.truncated = self.pairing.truncation.take_waiting_at_end();
            seam.kept = true;
            seam.sort();
        }
        self.analysis.traffic.pairing = self.pairing.counters;
        self.analysis.traffic.truncation = self.pairing.truncation.counters;
        self.analysis
    }

    /// What was learned so far (pairing and reassembly counters are filled in by
    /// [`Self::snapshot`] and [`Self::finish`]).
    pub fn analysis(&self) -> &Analysis {
        debug_assert!(self.gathered.is_empty(), "read between batches");
        &self.analysis
    }

    /// A copy of what was learned so far, with the counters of pairing and of reassembly.
    pub fn snapshot(&self, reassembly: ReassemblyCounters) -> Analysis {
        debug_assert!(self.gathered.is_empty(), "taken between batches");
        let mut analysis = self.analysis.clone();
        analysis.traffic.reassembly = reassembly;
        analysis.traffic.pairing = self.pairing.counters;
        analysis.traffic.truncation = self.pairing.truncation.counters;
        analysis.settle(self.watching);
        analysis
    }

    /// Pairing settings in force.
    pub fn settings(&self) -> PairingSettings {
        self.pairing.settings()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Flags, FrameContext, Question, ResponseView, Transport};

    fn response_for(name: &str, watched_question: Option<u16>) -> DnsMessage {
        let flags = Flags {
            response: true,
            ..Flags::default()
        };
        let question = Question {
            name: name.into(),
            qtype: 1,
        };
        let mut message = DnsMessage {
            view: ResponseView::of(&flags, &question, &[]),
            frame: FrameContext {
                ts_ns: 1,
                file_index: 0,
                frame_number: 1,
            },
            source: "192.0.2.53:53".parse().unwrap(),
            destination: "192.0.2.10:40000".parse().unwrap(),
            transport: Transport::Udp,
            id: 1,
            flags,
            question,
            answers: Vec::new(),
            answers_complete: true,
            edns_udp_size: None,
            watched_question,
            pairing_hash: 0,
            client_hash: 0,
        };
        message.update_hashes();
        message
    }

    #[test]
    fn the_decoders_watch_list_position_is_only_a_hint() {
        let toml = "[[pool]]\nname = \"a.example\"\nmembers = [\"10.0.0.1\"]\n\n\
                    [[pool]]\nname = \"B.example\"\nmembers = [\"10.0.0.2\"]\n";
        let watching = Watching::Expectations(crate::expect::parse("t.toml", toml).unwrap());
        // Right, wrong, out of range, absent: the question's own entry every time.
        for hint in [Some(1), Some(0), Some(7), None] {
            let mut analysis = Analysis::default();
            let message = response_for("b.EXAMPLE", hint);
            let mut gathered = AddressFindings::default();
            let watched = analysis.ingest(&message, &watching, &mut gathered);
            assert_eq!(
                &*watched.expect("attributed").key,
                "b.example",
                "hint {hint:?}"
            );
        }
    }
}
