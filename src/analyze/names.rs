//! Per-name facts: rcodes, distinct answer sets, member placement (present, first), and the
//! per-client and per-server views; plus the checks of one response against its expected name.

use super::caps::{keep_lowest, lowest_entry};
use super::client_table::ClientTable;
use super::connections::{merge_members, MemberConnections};
use super::findings::{record_finding, AddressFindings, FindingKey, FindingKind};
use super::latency::LatencyHistogram;
use super::occurrences::{Event, FrameRef, Occurrences};
pub use super::placements::{Placement, Placements};
use super::set_map::SetMap;
use super::timeline::{Timeline, TimelineResponse};
use crate::decode::DnsMessage;
pub use crate::decode::RcodeClass;
use crate::expect::Expectations;
use crate::keys::SetKey;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Clients tracked per name (the lowest addresses, so the same whatever the order); responses
/// to further clients are counted in `untracked_clients`. Likewise for servers, answer sets
/// and aliases: every cap keeps the lowest keys (see [`super::caps`]).
pub const MAX_CLIENTS_PER_NAME: usize = 4096;
/// Servers tracked per name; responses from further servers are counted in `untracked_servers`.
pub const MAX_SERVERS_PER_NAME: usize = 1024;
/// Distinct answer sets tracked per name (and per server); further sets are counted as untracked.
pub const MAX_ANSWER_SETS_PER_NAME: usize = 1024;
/// Alias names remembered per name.
pub const MAX_ALIASES_PER_NAME: usize = 64;
const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;

pub use crate::keys::AnswerSet;

/// What one client received for a name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientFacts {
    /// Responses it received.
    pub responses: u64,
    /// Responses with two or more addresses (where an order can rotate).
    pub multi_answers: u64,
    /// Per address received: present and first.
    pub addresses: Placements,
    /// Responses to its queries without RD: it asks as a resolver asks an authoritative
    /// server.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub iterative_responses: u64,
}

/// What one DNS server answered for a name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerFacts {
    /// Responses it sent.
    pub responses: u64,
    /// Responses by rcode class.
    pub rcodes: BTreeMap<RcodeClass, u64>,
    /// Distinct answer sets it gave.
    pub answer_sets: SetMap<u64>,
    /// Response times of its answered queries.
    pub latency: LatencyHistogram,
    /// Responses to recursive queries (RD set) with two or more addresses (where an order
    /// can rotate).
    pub multi_answers: u64,
    /// In those: how often each address came first.
    pub first: BTreeMap<IpAddr, u64>,
    /// Answers whose set was beyond the lowest [`MAX_ANSWER_SETS_PER_NAME`] sets it gave.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub untracked_answer_sets: u64,
}

/// Keeps the smallest spelling of a name: the same display whatever the order spellings come
/// in.
pub(super) fn note_display(held: &mut String, display: &str) {
    if !display.is_empty() && (held.is_empty() || display < held.as_str()) {
        *held = display.to_string();
    }
}

pub(super) fn is_zero(count: &u64) -> bool {
    *count == 0
}

/// Everything recorded for one name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NameFacts {
    /// The name for display.
    pub display: String,
    /// Queries seen.
    pub queries: u64,
    /// Responses seen.
    pub responses: u64,
    /// Queries that got no response within the query timeout.
    pub unanswered: u64,
    /// Response times of answered queries.
    pub latency: LatencyHistogram,
    /// Responses by rcode class.
    pub rcodes: BTreeMap<RcodeClass, u64>,
    /// Distinct answer sets with their occurrences.
    pub answer_sets: SetMap<Occurrences>,
    /// Per address: present and first.
    pub addresses: Placements,
    /// Per client.
    pub clients: ClientTable,
    /// Per DNS server.
    pub servers: BTreeMap<IpAddr, ServerFacts>,
    /// Names that were asked and led here through a CNAME, with counts.
    pub aliases: BTreeMap<String, u64>,
    /// Responses to clients beyond the lowest [`MAX_CLIENTS_PER_NAME`] addresses.
    pub untracked_clients: u64,
    /// Responses from servers beyond the lowest [`MAX_SERVERS_PER_NAME`] addresses.
    pub untracked_servers: u64,
    /// Answers whose set was beyond the lowest [`MAX_ANSWER_SETS_PER_NAME`] sets.
    pub untracked_answer_sets: u64,
    /// Responses through aliases beyond the lowest [`MAX_ALIASES_PER_NAME`] names.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub untracked_aliases: u64,
    /// Where this name, asked, led through CNAMEs (the chain's last name), with counts: how a
    /// discovered alias shows its target.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cname_targets: BTreeMap<String, u64>,
    /// Responses to CNAME targets beyond the lowest [`MAX_ALIASES_PER_NAME`] names.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub untracked_cname_targets: u64,
    /// Responses to queries without RD (a resolver asking an authoritative server).
    pub iterative_responses: u64,
    /// Responses with AA set (from an authoritative server).
    pub authoritative_responses: u64,
    /// Counts over time.
    pub timeline: Timeline,
    /// When each complete answer set (not cut short) was first seen (the lowest
    /// [`MAX_ANSWER_SETS_PER_NAME`] sets).
    pub complete_sets_first_seen: SetMap<u64>,
    /// Clients' TCP connection attempts to each member.
    pub connections: BTreeMap<IpAddr, MemberConnections>,
}

/// The event (time, frame, server, client) of a response.
pub(super) fn event_of(message: &DnsMessage) -> Event {
    Event {
        ts_ns: message.frame.ts_ns,
        frame: FrameRef {
            file_index: message.frame.file_index,
            frame_number: message.frame.frame_number,
        },
        server: message.source.ip(),
        client: message.destination.ip(),
    }
}

impl NameFacts {
    /// Empty facts for `display`.
    pub fn named(display: String) -> Self {
        NameFacts {
            display,
            ..Default::default()
        }
    }

    /// Records one response attributed to this name (`via_alias`: the question asked another
    /// name; `timeline_detail`: the timeline also counts each address and each server's answer
    /// sets and the answers of each complete set, which expected names need and discovered
    /// names, thousands of them, cannot afford).
    pub fn record_response(
        &mut self,
        message: &DnsMessage,
        via_alias: bool,
        timeline_detail: bool,
    ) {
        let view = &message.view;
        self.responses += 1;
        *self.rcodes.entry(view.rcode).or_default() += 1;
        self.iterative_responses += u64::from(!message.flags.recursion_desired);
        self.authoritative_responses += u64::from(message.flags.authoritative);
        if via_alias {
            let alias = message.question.name.to_ascii_lowercase();
            count_capped(&mut self.aliases, alias, &mut self.untracked_aliases);
        } else if let (true, Some(target)) = (view.chain.len() > 1, view.chain.last()) {
            let target = target.to_string();
            count_capped(
                &mut self.cname_targets,
                target,
                &mut self.untracked_cname_targets,
            );
        }
        let event = event_of(message);
        let multi = view.addresses().len() >= 2;
        let set = (!view.set().is_empty()).then(|| view.set_key());
        let complete_set = set.filter(|_| message.answers_complete);
        self.timeline.record_response(&TimelineResponse {
            event,
            addresses: if timeline_detail {
                view.addresses()
            } else {
                &[]
            },
            complete_set: complete_set
                .filter(|_| timeline_detail)
                .map(|key| key.set()),
            failed: view.rcode.is_failure(),
        });
        if let Some(set) = complete_set {
            self.note_first_seen(set, event.ts_ns);
        }
        if let Some(set) = set {
            self.addresses.place(view.addresses());
            let ttl = u64::from(view.max_ttl.unwrap_or(0));
            let untracked = &mut self.untracked_answer_sets;
            match self
                .answer_sets
                .lowest_entry(set, MAX_ANSWER_SETS_PER_NAME, |o| *untracked += o.count)
            {
                Some(occurrences) => occurrences.record_value(&event, ttl),
                None => *untracked += 1,
            }
        }
        let untracked = &mut self.untracked_clients;
        match self
            .clients
            .lowest_entry(message.hashed_client(), MAX_CLIENTS_PER_NAME, |c| {
                *untracked += c.responses
            }) {
            Some(client) => {
                client.responses += 1;
                client.multi_answers += u64::from(multi);
                client.iterative_responses += u64::from(!message.flags.recursion_desired);
                client.addresses.place(view.addresses());
            }
            None => *untracked += 1,
        }
        let untracked = &mut self.untracked_servers;
        let Some(server) =
            lowest_entry(&mut self.servers, event.server, MAX_SERVERS_PER_NAME, |s| {
                *untracked += s.responses;
            })
        else {
            *untracked += 1;
            return;
        };
        server.responses += 1;
        *server.rcodes.entry(view.rcode).or_default() += 1;
        // Rotation is judged on what stub clients receive (RD set); iterative answers to a
        // resolver are its upstream view and would count the same lookups twice.
        if multi && message.flags.recursion_desired {
            server.multi_answers += 1;
            *server.first.entry(view.addresses()[0]).or_default() += 1;
        }
        if let Some(set) = set {
            let untracked = &mut server.untracked_answer_sets;
            match server
                .answer_sets
                .lowest_entry(set, MAX_ANSWER_SETS_PER_NAME, |count| *untracked += count)
            {
                Some(count) => *count += 1,
                None => *untracked += 1,
            }
        }
    }

    /// Notes a complete answer set seen at `ts_ns` (the earliest time stays, for the lowest
    /// [`MAX_ANSWER_SETS_PER_NAME`] sets).
    fn note_first_seen(&mut self, key: SetKey<'_>, ts_ns: u64) {
        match self.complete_sets_first_seen.get_mut(key) {
            Some(first_seen) => *first_seen = (*first_seen).min(ts_ns),
            None => {
                let first_seen =
                    self.complete_sets_first_seen
                        .lowest_entry(key, MAX_ANSWER_SETS_PER_NAME, drop);
                if let Some(first_seen) = first_seen {
                    *first_seen = ts_ns;
                }
            }
        }
    }

    /// Answers that still carried an older complete answer set after the set changed and the
    /// older set's TTL ran out, per older set (worked out on the merged facts, so the result
    /// does not depend on how the capture was split). The timeline's buckets are the grain: an
    /// answer counts when its bucket starts after the latest change before it plus the set's
    /// largest TTL; a change within a bucket counts from the next bucket on.
    pub fn stale_answers(&self) -> Vec<(AnswerSet, Occurrences)> {
        let mut changes: Vec<(u64, &AnswerSet)> = self
            .complete_sets_first_seen
            .iter()
            .map(|(set, first_seen)| (*first_seen, set))
            .collect();
        changes.sort_unstable();
        let mut stale: BTreeMap<AnswerSet, Occurrences> = BTreeMap::new();
        for (start, bucket) in &self.timeline.buckets {
            let made = changes.partition_point(|(first_seen, _)| first_seen <= start);
            let Some(&(changed_at, latest)) = made.checked_sub(1).map(|i| &changes[i]) else {
                continue;
            };
            for (set, occurrences) in &bucket.sets {
                let key = SetKey::of(set);
                let Some(&first_seen) = self.complete_sets_first_seen.get(key) else {
                    continue;
                };
                if latest == set || first_seen >= changed_at {
                    continue;
                }
                let ttl_s = self.answer_sets.get(key).map_or(0, |o| o.largest);
                let expires = changed_at.saturating_add(ttl_s.saturating_mul(1_000_000_000));
                if *start > expires {
                    stale
                        .entry(set.clone())
                        .or_default()
                        .merge(occurrences.clone());
                }
            }
        }
        stale.into_iter().collect()
    }

    /// Adds `other` into `self` (every field: a field left out fails to compile), then keeps
    /// every capped collection's lowest keys, counting what goes as untracked.
    pub fn merge(&mut self, other: NameFacts) {
        let NameFacts {
            display,
            queries,
            responses,
            unanswered,
            latency,
            rcodes,
            answer_sets,
            addresses,
            clients,
            servers,
            aliases,
            untracked_clients,
            untracked_servers,
            untracked_answer_sets,
            untracked_aliases,
            cname_targets,
            untracked_cname_targets,
            iterative_responses,
            authoritative_responses,
            timeline,
            complete_sets_first_seen,
            connections,
        } = other;
        note_display(&mut self.display, &display);
        self.queries += queries;
        self.responses += responses;
        self.unanswered += unanswered;
        self.latency.merge(&latency);
        self.untracked_clients += untracked_clients;
        self.untracked_servers += untracked_servers;
        self.untracked_answer_sets += untracked_answer_sets;
        self.untracked_aliases += untracked_aliases;
        self.iterative_responses += iterative_responses;
        self.authoritative_responses += authoritative_responses;
        self.timeline.merge(timeline);
        merge_members(&mut self.connections, connections);
        for (set, first_seen) in complete_sets_first_seen {
            match self.complete_sets_first_seen.get_mut(SetKey::of(&set)) {
                Some(mine) => *mine = (*mine).min(first_seen),
                None => self.complete_sets_first_seen.insert(set, first_seen),
            }
        }
        self.complete_sets_first_seen
            .keep_lowest(MAX_ANSWER_SETS_PER_NAME, drop);
        add_counts(&mut self.rcodes, rcodes);
        add_counts(&mut self.aliases, aliases);
        let untracked = &mut self.untracked_aliases;
        keep_lowest(&mut self.aliases, MAX_ALIASES_PER_NAME, |count| {
            *untracked += count;
        });
        self.untracked_cname_targets += untracked_cname_targets;
        add_counts(&mut self.cname_targets, cname_targets);
        let untracked = &mut self.untracked_cname_targets;
        keep_lowest(&mut self.cname_targets, MAX_ALIASES_PER_NAME, |count| {
            *untracked += count;
        });
        for (set, occurrences) in answer_sets {
            self.answer_sets.entry_or_default(set).merge(occurrences);
        }
        let untracked = &mut self.untracked_answer_sets;
        self.answer_sets
            .keep_lowest(MAX_ANSWER_SETS_PER_NAME, |o| *untracked += o.count);
        self.addresses.merge(addresses);
        // The other table's clients in its own order: a merge needs no address order.
        for (address, theirs) in clients.into_unordered() {
            self.clients.entry(address).merge(theirs);
        }
        let untracked = &mut self.untracked_clients;
        self.clients
            .keep_lowest(MAX_CLIENTS_PER_NAME, |c| *untracked += c.responses);
        for (address, theirs) in servers {
            self.servers.entry(address).or_default().merge(theirs);
        }
        let untracked = &mut self.untracked_servers;
        keep_lowest(&mut self.servers, MAX_SERVERS_PER_NAME, |s| {
            *untracked += s.responses;
        });
    }
}

/// Counts one response for `name` in `counts`, among the lowest [`MAX_ALIASES_PER_NAME`]
/// names (the rest in `untracked`).
fn count_capped(counts: &mut BTreeMap<String, u64>, name: String, untracked: &mut u64) {
    match lowest_entry(counts, name, MAX_ALIASES_PER_NAME, |count| {
        *untracked += count;
    }) {
        Some(count) => *count += 1,
        None => *untracked += 1,
    }
}

impl ClientFacts {
    /// Adds `other` into `self` (every field).
    fn merge(&mut self, other: ClientFacts) {
        let ClientFacts {
            responses,
            multi_answers,
            addresses,
            iterative_responses,
        } = other;
        self.responses += responses;
        self.multi_answers += multi_answers;
        self.iterative_responses += iterative_responses;
        self.addresses.merge(addresses);
    }
}

impl ServerFacts {
    /// Adds `other` into `self` (every field), keeping the lowest answer sets.
    fn merge(&mut self, other: ServerFacts) {
        let ServerFacts {
            responses,
            rcodes,
            answer_sets,
            latency,
            multi_answers,
            first,
            untracked_answer_sets,
        } = other;
        self.responses += responses;
        self.multi_answers += multi_answers;
        self.untracked_answer_sets += untracked_answer_sets;
        add_counts(&mut self.first, first);
        self.latency.merge(&latency);
        add_counts(&mut self.rcodes, rcodes);
        for (set, count) in answer_sets {
            *self.answer_sets.entry_or_default(set) += count;
        }
        let untracked = &mut self.untracked_answer_sets;
        self.answer_sets
            .keep_lowest(MAX_ANSWER_SETS_PER_NAME, |count| *untracked += count);
    }
}

fn add_counts<K: Ord>(into: &mut BTreeMap<K, u64>, from: BTreeMap<K, u64>) {
    for (key, count) in from {
        *into.entry(key).or_default() += count;
    }
}

/// Checks one response for the expected name `entry` and records its findings (those about an
/// address in `gathered`).
pub fn check_response(
    findings: &mut BTreeMap<FindingKey, Occurrences>,
    gathered: &mut AddressFindings,
    expectations: &Expectations,
    entry: usize,
    message: &DnsMessage,
) {
    let view = &message.view;
    let expected = &expectations.names[entry];
    let event = event_of(message);
    let name = &expected.name;
    let mut record_address =
        |findings: &mut BTreeMap<FindingKey, Occurrences>, kind: FindingKind, address: IpAddr| {
            gathered.record(findings, kind, name, address, &event, 0);
        };
    let record = |findings: &mut BTreeMap<FindingKey, Occurrences>,
                  kind: FindingKind,
                  subject: &dyn std::fmt::Display,
                  value: u64| {
        record_finding(findings, kind, name, subject, &event, value);
    };
    if !expectations.is_authorized(&event.server) {
        record_address(findings, FindingKind::UnauthorizedServer, event.server);
    }
    match view.rcode {
        RcodeClass::Nxdomain => record(findings, FindingKind::Nxdomain, &"", 0),
        RcodeClass::Servfail => record(findings, FindingKind::Servfail, &"", 0),
        RcodeClass::Refused => record(findings, FindingKind::Refused, &"", 0),
        RcodeClass::Other => record(
            findings,
            FindingKind::OtherRcode,
            &format_args!("rcode {}", message.flags.rcode),
            0,
        ),
        // Answers cut short prove presence, never absence; a truncated answer is judged by
        // whether the client retried it over TCP (see the truncation tracker).
        RcodeClass::Truncated => {}
        RcodeClass::Nodata if !message.answers_complete => {}
        RcodeClass::Nodata => {
            let family = match message.question.qtype {
                TYPE_A => Some(true),
                TYPE_AAAA => Some(false),
                _ => None,
            };
            // NODATA for a type the expectations do not define (AAAA for an IPv4-only pool) is only counted.
            if family.is_some_and(|ipv4| expected.defines_family(ipv4)) {
                record(
                    findings,
                    FindingKind::Nodata,
                    &crate::decode::type_name(message.question.qtype),
                    0,
                );
            }
        }
        RcodeClass::Noerror => {
            for address in view.addresses().iter().filter(|a| !expected.allows(a)) {
                record_address(findings, FindingKind::WrongAddress, *address);
            }
            // Members are missing only from a complete answer of their own family.
            let complete = message.answers_complete;
            let answered = |ipv4: bool| view.addresses().iter().any(|a| a.is_ipv4() == ipv4);
            let (v4_answered, v6_answered) =
                (complete && answered(true), complete && answered(false));
            for member in expected.members.iter().filter(|m| {
                if m.is_ipv4() {
                    v4_answered
                } else {
                    v6_answered
                }
            }) {
                if !view.addresses().contains(member) {
                    record_address(findings, FindingKind::MissingMember, *member);
                }
            }
        }
    }
    if let (Some(limit), Some(ttl)) = (expected.max_ttl, view.max_ttl) {
        if ttl > limit {
            record(
                findings,
                FindingKind::TtlAboveMax,
                &format_args!("max {limit}"),
                u64::from(ttl),
            );
        }
    }
}
