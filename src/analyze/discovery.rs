//! Discovery: what is kept of names nobody watches. Each name held has a compact summary
//! (counts by rcode class, latency, its heaviest answer sets by Space-Saving, the lowest
//! addresses and servers exactly within caps, distinct clients by a sketch), never the
//! per-client tables and timeline an expected name has. Names themselves are held by
//! Space-Saving ([`TopK`]) within the shard's budget, so a popular name that appears late still
//! makes the list; failing names (NXDOMAIN, SERVFAIL, REFUSED, other errors, unanswered) have a
//! top-k of their own, so rare failures never vanish behind busy names. The report shows the
//! summaries through [`NameSummary::facts`], as it shows an expected name's facts.

use super::compact::{LowestMap, RcodeCounts};
use super::distinct::DistinctClients;
use super::latency::LatencyHistogram;
use super::names::{event_of, is_zero, note_display, NameFacts, ServerFacts};
use super::occurrences::{Event, FrameRef, Occurrences};
use super::placements::Placement;
use super::top_k::{Counted, TopK};
use super::TrafficCounters;
use crate::decode::{DnsMessage, RcodeClass};
use crate::keys::AnswerSet;
use std::net::IpAddr;

/// Answer sets kept per discovered name (its heaviest, by Space-Saving).
pub const SUMMARY_ANSWER_SETS: usize = 4;
/// Addresses kept per discovered name (the lowest; see [`super::caps`]).
pub const SUMMARY_ADDRESSES: usize = 32;
/// DNS servers kept per discovered name (the lowest).
pub const SUMMARY_SERVERS: usize = 8;
/// Alias names kept per discovered name (the lowest).
pub const SUMMARY_ALIASES: usize = 4;
/// What one discovered name held in one shard costs, about (for the budget: a summary with a
/// couple of answer sets, servers and its clients' fingerprints).
pub const BYTES_PER_NAME: usize = 1024;
/// The share of the discovered names' budget given to the failing names' own top-k.
const FAILING_SHARE: usize = 8;

/// What one DNS server answered for a discovered name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerSummary {
    /// Responses it sent.
    pub responses: u64,
    /// Responses by rcode class.
    pub rcodes: RcodeCounts,
    /// Response times of its answered queries.
    pub latency: LatencyHistogram,
    /// Responses to recursive queries with two or more addresses.
    pub multi_answers: u64,
    /// In those: how often each address came first (the lowest [`SUMMARY_ADDRESSES`]).
    pub first: LowestMap<IpAddr, u64>,
    /// Distinct answer sets it gave (the lowest [`SUMMARY_ANSWER_SETS`]).
    pub answer_sets: LowestMap<AnswerSet, u64>,
    /// Answers whose set was beyond those.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub untracked_answer_sets: u64,
}

impl ServerSummary {
    /// Counts an answer with `set` (copied only when it is added).
    fn count_set(&mut self, set: &[IpAddr]) {
        let untracked = &mut self.untracked_answer_sets;
        match self
            .answer_sets
            .entry(set, SUMMARY_ANSWER_SETS, |count| *untracked += count)
        {
            Some(count) => *count += 1,
            None => *untracked += 1,
        }
    }

    fn merge(&mut self, other: ServerSummary) {
        let ServerSummary {
            responses,
            rcodes,
            latency,
            multi_answers,
            first,
            answer_sets,
            untracked_answer_sets,
        } = other;
        self.responses += responses;
        self.rcodes.merge(rcodes);
        self.latency.merge(&latency);
        self.multi_answers += multi_answers;
        self.first.merge(first, SUMMARY_ADDRESSES, add, drop);
        self.untracked_answer_sets += untracked_answer_sets;
        let untracked = &mut self.untracked_answer_sets;
        self.answer_sets
            .merge(answer_sets, SUMMARY_ANSWER_SETS, add, |count| {
                *untracked += count
            });
    }
}

/// The compact state of one discovered name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NameSummary {
    /// The name for display (its smallest spelling).
    pub display: String,
    /// Queries seen while held.
    pub queries: u64,
    /// Responses seen while held.
    pub responses: u64,
    /// Queries that got no response within the query timeout.
    pub unanswered: u64,
    /// Responses to queries without RD.
    pub iterative_responses: u64,
    /// Responses with AA set.
    pub authoritative_responses: u64,
    /// Responses by rcode class.
    pub rcodes: RcodeCounts,
    /// Response times of answered queries.
    pub latency: LatencyHistogram,
    /// The heaviest answer sets, with when they were seen.
    pub answer_sets: TopK<AnswerSet, SetSeen>,
    /// Answers counted for sets since evicted from `answer_sets`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub untracked_answer_sets: u64,
    /// Per address (the lowest [`SUMMARY_ADDRESSES`]): present and first.
    pub addresses: LowestMap<IpAddr, Placement>,
    /// Address occurrences beyond those addresses.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub untracked_addresses: u64,
    /// Per DNS server (the lowest [`SUMMARY_SERVERS`]).
    pub servers: LowestMap<IpAddr, ServerSummary>,
    /// Responses from further servers.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub untracked_servers: u64,
    /// Distinct clients that received a response.
    pub clients: DistinctClients,
    /// Names asked that led here through a CNAME (the lowest [`SUMMARY_ALIASES`]).
    pub aliases: LowestMap<String, u64>,
    /// Responses through further aliases.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub untracked_aliases: u64,
    /// Names this one led to through CNAMEs (the lowest [`SUMMARY_ALIASES`]).
    #[serde(default, skip_serializing_if = "LowestMap::is_empty")]
    pub cname_targets: LowestMap<String, u64>,
    /// Responses leading to further CNAME targets.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub untracked_cname_targets: u64,
}

impl Default for NameSummary {
    fn default() -> Self {
        NameSummary {
            display: String::new(),
            queries: 0,
            responses: 0,
            unanswered: 0,
            iterative_responses: 0,
            authoritative_responses: 0,
            rcodes: RcodeCounts::default(),
            latency: LatencyHistogram::default(),
            answer_sets: TopK::with_capacity(SUMMARY_ANSWER_SETS),
            untracked_answer_sets: 0,
            addresses: LowestMap::default(),
            untracked_addresses: 0,
            servers: LowestMap::default(),
            untracked_servers: 0,
            clients: DistinctClients::default(),
            aliases: LowestMap::default(),
            untracked_aliases: 0,
            cname_targets: LowestMap::default(),
            untracked_cname_targets: 0,
        }
    }
}

impl NameSummary {
    fn record_response(&mut self, message: &DnsMessage, via_alias: bool) {
        let view = &message.view;
        self.responses += 1;
        self.rcodes.add(view.rcode);
        self.iterative_responses += u64::from(!message.flags.recursion_desired);
        self.authoritative_responses += u64::from(message.flags.authoritative);
        if via_alias {
            let alias = message.question.name.to_ascii_lowercase();
            let untracked = &mut self.untracked_aliases;
            match self
                .aliases
                .entry(alias.as_str(), SUMMARY_ALIASES, |count| *untracked += count)
            {
                Some(count) => *count += 1,
                None => *untracked += 1,
            }
        } else if let (true, Some(target)) = (view.chain.len() > 1, view.chain.last()) {
            let untracked = &mut self.untracked_cname_targets;
            match self
                .cname_targets
                .entry(&**target, SUMMARY_ALIASES, |count| *untracked += count)
            {
                Some(count) => *count += 1,
                None => *untracked += 1,
            }
        }
        self.clients.insert(&message.destination.ip());
        let event = event_of(message);
        if !view.set().is_empty() {
            for (position, address) in view.addresses().iter().enumerate() {
                let untracked = &mut self.untracked_addresses;
                match self
                    .addresses
                    .entry(address, SUMMARY_ADDRESSES, |placement| {
                        *untracked += placement.present;
                    }) {
                    Some(placement) => placement.count(position),
                    None => *untracked += 1,
                }
            }
            let ttl = u64::from(view.max_ttl.unwrap_or(0));
            let untracked = &mut self.untracked_answer_sets;
            match self.answer_sets.hit(view.set(), &mut |evicted| {
                *untracked += evicted.value.answers
            }) {
                Some(seen) => seen.value.record(&event, ttl),
                None => *untracked += 1,
            }
        }
        let untracked = &mut self.untracked_servers;
        let Some(server) = self.servers.entry(&event.server, SUMMARY_SERVERS, |s| {
            *untracked += s.responses
        }) else {
            *untracked += 1;
            return;
        };
        server.responses += 1;
        server.rcodes.add(view.rcode);
        if !view.set().is_empty() {
            server.count_set(view.set());
        }
        // As for expected names: rotation is judged on answers to recursive queries.
        if view.addresses().len() >= 2 && message.flags.recursion_desired {
            server.multi_answers += 1;
            let first = &view.addresses()[0];
            if let Some(count) = server.first.entry(first, SUMMARY_ADDRESSES, drop) {
                *count += 1;
            }
        }
    }

    fn merge(&mut self, other: NameSummary) {
        let NameSummary {
            display,
            queries,
            responses,
            unanswered,
            iterative_responses,
            authoritative_responses,
            rcodes,
            latency,
            answer_sets,
            untracked_answer_sets,
            addresses,
            untracked_addresses,
            servers,
            untracked_servers,
            clients,
            aliases,
            untracked_aliases,
            cname_targets,
            untracked_cname_targets,
        } = other;
        note_display(&mut self.display, &display);
        self.queries += queries;
        self.responses += responses;
        self.unanswered += unanswered;
        self.iterative_responses += iterative_responses;
        self.authoritative_responses += authoritative_responses;
        self.rcodes.merge(rcodes);
        self.latency.merge(&latency);
        self.untracked_answer_sets += untracked_answer_sets;
        let untracked = &mut self.untracked_answer_sets;
        self.answer_sets
            .merge(answer_sets, SetSeen::merge, &mut |evicted| {
                *untracked += evicted.value.answers
            });
        self.untracked_addresses += untracked_addresses;
        let untracked = &mut self.untracked_addresses;
        self.addresses.merge(
            addresses,
            SUMMARY_ADDRESSES,
            Placement::merge,
            |placement| *untracked += placement.present,
        );
        self.untracked_servers += untracked_servers;
        let untracked = &mut self.untracked_servers;
        self.servers
            .merge(servers, SUMMARY_SERVERS, ServerSummary::merge, |s| {
                *untracked += s.responses
            });
        self.clients.merge(clients);
        self.untracked_aliases += untracked_aliases;
        let untracked = &mut self.untracked_aliases;
        self.aliases
            .merge(aliases, SUMMARY_ALIASES, add, |count| *untracked += count);
        self.untracked_cname_targets += untracked_cname_targets;
        let untracked = &mut self.untracked_cname_targets;
        self.cname_targets
            .merge(cname_targets, SUMMARY_ALIASES, add, |count| {
                *untracked += count
            });
    }

    /// The summary as the facts a report shows of a name: what the summary has, with no
    /// per-client table and no timeline.
    pub fn facts(&self) -> NameFacts {
        let mut facts = NameFacts::named(self.display.clone());
        facts.queries = self.queries;
        facts.responses = self.responses;
        facts.unanswered = self.unanswered;
        facts.iterative_responses = self.iterative_responses;
        facts.authoritative_responses = self.authoritative_responses;
        facts.rcodes = self.rcodes.to_map();
        facts.latency = self.latency.clone();
        for (set, counted) in self.answer_sets.ranked() {
            facts
                .answer_sets
                .insert(set.clone(), counted.value.occurrences());
        }
        facts.addresses = self.addresses.iter().map(|(a, p)| (*a, *p)).collect();
        facts.servers = self
            .servers
            .iter()
            .map(|(server, summary)| {
                let facts = ServerFacts {
                    responses: summary.responses,
                    rcodes: summary.rcodes.to_map(),
                    latency: summary.latency.clone(),
                    multi_answers: summary.multi_answers,
                    first: summary.first.iter().map(|(a, n)| (*a, *n)).collect(),
                    answer_sets: summary
                        .answer_sets
                        .iter()
                        .map(|(set, count)| (set.clone(), *count))
                        .collect(),
                    untracked_answer_sets: summary.untracked_answer_sets,
                };
                (*server, facts)
            })
            .collect();
        facts.untracked_servers = self.untracked_servers;
        facts.untracked_answer_sets = self.untracked_answer_sets;
        facts.aliases = self
            .aliases
            .iter()
            .map(|(alias, count)| (alias.clone(), *count))
            .collect();
        facts.untracked_aliases = self.untracked_aliases;
        facts.cname_targets = self
            .cname_targets
            .iter()
            .map(|(target, count)| (target.clone(), *count))
            .collect();
        facts.untracked_cname_targets = self.untracked_cname_targets;
        facts
    }
}

/// The failures of a name: failed responses by rcode class, and unanswered queries.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailureSummary {
    /// The name for display (its smallest spelling).
    pub display: String,
    /// Failed responses by rcode class.
    pub rcodes: RcodeCounts,
    /// Queries without a response within the query timeout.
    pub unanswered: u64,
}

impl FailureSummary {
    fn merge(&mut self, other: FailureSummary) {
        let FailureSummary {
            display,
            rcodes,
            unanswered,
        } = other;
        note_display(&mut self.display, &display);
        self.rcodes.merge(rcodes);
        self.unanswered += unanswered;
    }

    /// Failed responses and unanswered queries.
    pub fn failures(&self) -> u64 {
        self.rcodes.total() + self.unanswered
    }
}

/// Whether a response's rcode class is a failure a discovery report lists.
fn lists_as_failure(rcode: RcodeClass) -> bool {
    matches!(
        rcode,
        RcodeClass::Nxdomain | RcodeClass::Servfail | RcodeClass::Refused | RcodeClass::Other
    )
}

/// The discovered names of a shard (or of a merged run): every name by Space-Saving, and the
/// failing names by a top-k of their own.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Discovered {
    /// Names by messages (queries and responses).
    pub names: TopK<String, NameSummary>,
    /// Names by failures (failed responses and unanswered queries).
    pub failing: TopK<String, FailureSummary>,
}

impl Discovered {
    /// Empty, holding at most `names` names (and a share of that many failing names; none
    /// at all for 0: the transaction log keeps no names).
    pub fn with_capacity(names: usize) -> Self {
        Discovered {
            names: TopK::with_capacity(names),
            failing: TopK::with_capacity(names.div_ceil(FAILING_SHARE)),
        }
    }

    /// True when nothing was discovered (and nothing can be: expectations).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.failing.is_empty()
    }

    /// Records a message for the name `key` (normalized), asked as `display`, via an alias
    /// when the question asked another name.
    pub fn record(
        &mut self,
        message: &DnsMessage,
        key: &str,
        display: &str,
        via_alias: bool,
        traffic: &mut TrafficCounters,
    ) {
        let rcode = message.view.rcode;
        if message.flags.response && lists_as_failure(rcode) {
            if let Some(failure) = self.failing.hit(key, &mut drop) {
                failure.value.rcodes.add(rcode);
                note_display(&mut failure.value.display, display);
            }
        }
        let evicted = &mut |entry: Counted<NameSummary>| count_evicted(traffic, &entry.value);
        let Some(held) = self.names.hit(key, evicted) else {
            traffic.untracked_name_responses += 1;
            return;
        };
        let summary = &mut held.value;
        note_display(&mut summary.display, display);
        if !message.flags.response {
            summary.queries += 1;
            return;
        }
        summary.record_response(message, via_alias);
        traffic.watched_responses += 1;
    }

    /// Records an answered query's response time (for a name still held).
    pub fn record_answered(&mut self, key: &str, server: IpAddr, rtt_ns: u64) {
        if let Some(entry) = self.names.get_mut(key) {
            entry.value.latency.record(rtt_ns);
            if let Some(server) = entry.value.servers.get_mut(&server) {
                server.latency.record(rtt_ns);
            }
        }
    }

    /// Records a query of `key` that got no response.
    pub fn record_unanswered(&mut self, key: &str, display: &str) {
        if let Some(entry) = self.names.get_mut(key) {
            entry.value.unanswered += 1;
        }
        if let Some(failure) = self.failing.hit(key, &mut drop) {
            failure.value.unanswered += 1;
            note_display(&mut failure.value.display, display);
        }
    }

    /// Adds `other` into `self` (see [`TopK::merge`]: deterministic for a fixed order of
    /// merges; names evicted by the merge count as untracked in `traffic`).
    pub fn merge(&mut self, other: Discovered, traffic: &mut TrafficCounters) {
        let Discovered { names, failing } = other;
        self.names.merge(names, NameSummary::merge, &mut |entry| {
            count_evicted(traffic, &entry.value)
        });
        self.failing
            .merge(failing, FailureSummary::merge, &mut drop);
    }
}

/// Counts the messages of an evicted name as untracked: its responses are no longer
/// attributed to a held name.
fn count_evicted(traffic: &mut TrafficCounters, summary: &NameSummary) {
    traffic.untracked_name_responses += summary.queries + summary.responses;
    traffic.watched_responses -= summary.responses;
}

fn add(mine: &mut u64, theirs: u64) {
    *mine += theirs;
}

/// When a discovered name's answer set was seen: how often while held, the first and last
/// time, the earliest frame and the largest TTL.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SetSeen {
    /// Answers with the set while it was held.
    pub answers: u64,
    /// Earliest capture timestamp (ns).
    pub first_ts_ns: u64,
    /// Latest capture timestamp (ns).
    pub last_ts_ns: u64,
    /// The earliest frame (by file, then frame number).
    pub first_frame: Option<FrameRef>,
    /// The largest TTL (s).
    pub largest_ttl: u64,
}

impl SetSeen {
    fn record(&mut self, event: &Event, ttl: u64) {
        self.merge(SetSeen {
            answers: 1,
            first_ts_ns: event.ts_ns,
            last_ts_ns: event.ts_ns,
            first_frame: Some(event.frame),
            largest_ttl: ttl,
        });
    }

    fn merge(&mut self, other: SetSeen) {
        let SetSeen {
            answers,
            first_ts_ns,
            last_ts_ns,
            first_frame,
            largest_ttl,
        } = other;
        if answers == 0 {
            return;
        }
        if self.answers == 0 {
            *self = SetSeen {
                answers: 0,
                ..other
            };
        }
        self.answers += answers;
        self.first_ts_ns = self.first_ts_ns.min(first_ts_ns);
        self.last_ts_ns = self.last_ts_ns.max(last_ts_ns);
        self.first_frame = self.first_frame.min(first_frame).or(first_frame);
        self.largest_ttl = self.largest_ttl.max(largest_ttl);
    }

    /// As the occurrences an expected name's answer set has (the earliest frame as the only
    /// example).
    fn occurrences(&self) -> Occurrences {
        Occurrences {
            count: self.answers,
            first_ts_ns: self.first_ts_ns,
            last_ts_ns: self.last_ts_ns,
            examples: self.first_frame.into_iter().collect(),
            largest: self.largest_ttl,
            ..Occurrences::default()
        }
    }
}
