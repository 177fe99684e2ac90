//! Pool insight in the report: roles (stub clients and resolvers), rotation and balance, when
//! members appeared and vanished, answer-set changes, the timeline, and resolver divergence,
//! for display. It makes no findings: those the same views support are derived in
//! `analyze::derived`.

use super::rfc3339;
use crate::analyze::derived::DerivedSettings;
use crate::analyze::rotation::{rotation, Rotation};
use crate::analyze::timeline::{Bucket, Timeline, BASE_BUCKET_NS};
use crate::analyze::NameFacts;
use serde::Serialize;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// Most intervals listed when quiet ones are filled in.
const MAX_FILLED_INTERVALS: u64 = 10_000;

/// Who the answers went to.
#[derive(Debug, Clone, Serialize)]
pub struct RolesReport {
    /// Clients that only ask (stub resolvers): the per-client and per-subnet views show these.
    pub stub_clients: u64,
    /// Receivers of answers that also answer as DNS servers (forwarding resolvers).
    pub resolver_clients: u64,
    /// Responses to queries without RD (a resolver asking an authoritative server).
    pub iterative_responses: u64,
    /// Responses with AA set.
    pub authoritative_responses: u64,
}

/// When an address was first and last in an answer.
#[derive(Debug, Clone, Serialize)]
pub struct MemberSpan {
    /// The address.
    pub address: IpAddr,
    /// First answer holding it (None: never).
    pub first_seen: Option<String>,
    /// Last answer holding it.
    pub last_seen: Option<String>,
}

/// A new answer set appearing.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeReport {
    /// When the new set was first seen.
    pub at: String,
    /// Addresses in the new set and not in the set before.
    pub added: Vec<IpAddr>,
    /// Addresses in the set before and not in the new one.
    pub removed: Vec<IpAddr>,
    /// Seconds the set before was still received after the change (0: never again).
    pub old_set_seen_for_s: f64,
    /// The largest TTL the set before was given, in seconds.
    pub old_set_ttl_s: u64,
}

/// One timeline interval.
#[derive(Debug, Clone, Serialize)]
pub struct IntervalReport {
    /// Start (RFC 3339).
    pub start: String,
    /// Responses.
    pub responses: u64,
    /// Failed responses.
    pub failures: u64,
    /// Queries never answered.
    pub unanswered: u64,
    /// Per candidate address (in the rotation's candidate order): answers holding it.
    pub present: Vec<u64>,
    /// Per candidate address: answers where it came first.
    pub first: Vec<u64>,
}

/// The timeline of a name.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineReport {
    /// Bucket width in seconds.
    pub bucket_seconds: u64,
    /// The intervals in time order, quiet ones included (unless there would be too many).
    pub intervals: Vec<IntervalReport>,
}

/// Two servers that gave no answer set in common within the same interval.
#[derive(Debug, Clone, Serialize)]
pub struct DivergenceReport {
    /// The two servers.
    pub servers: [IpAddr; 2],
    /// Intervals in which they disagreed.
    pub intervals: u64,
}

/// Clients' TCP connection attempts to one member.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionReport {
    /// The member.
    pub address: IpAddr,
    /// Attempts that followed an answer holding it.
    pub after_answer: u64,
    /// Of those, by the member's position in the answer (0 = first).
    pub by_position: Vec<u64>,
    /// Attempts without such an answer in the capture.
    pub without_answer: u64,
    /// Distinct clients that connected.
    pub clients: u64,
}

/// An answered address that is not an expected member: a standby, or one the expectations do
/// not allow. Every chart and rotation table shows it, marked as not a member.
#[derive(Debug, Clone, Serialize)]
pub struct NonMemberReport {
    /// The address.
    pub address: IpAddr,
    /// standby or unexpected.
    pub role: &'static str,
    /// Answers holding it.
    pub present: u64,
    /// Answers with several addresses to recursive queries that put it first (as
    /// `rotation.overall` counts the members).
    pub first: u64,
}

/// Insight for one name.
#[derive(Debug, Clone, Serialize)]
pub struct InsightReport {
    /// Roles of the receivers.
    pub roles: RolesReport,
    /// Rotation and balance.
    pub rotation: Rotation,
    /// When each candidate appeared and vanished.
    pub members: Vec<MemberSpan>,
    /// Answer-set changes in time order.
    pub changes: Vec<ChangeReport>,
    /// Answered addresses that are not expected members, by address (empty in discovery,
    /// where every address is a candidate).
    pub non_members: Vec<NonMemberReport>,
    /// Counts over time; `present` and `first` per rotation candidate, then per non-member.
    pub timeline: TimelineReport,
    /// Servers that disagreed.
    pub divergence: Vec<DivergenceReport>,
    /// Connection attempts to members (empty when the capture holds none).
    pub connections: Vec<ConnectionReport>,
}

/// Builds the insight of one name.
/// Builds the insight of one name. `members` and `standby`: what the expectations list (empty
/// in discovery).
pub fn insight(
    facts: &NameFacts,
    (members, standby): (&[IpAddr], &[IpAddr]),
    resolvers: &BTreeSet<IpAddr>,
    options: &DerivedSettings,
) -> InsightReport {
    let rotation = rotation(facts, members, resolvers, &options.rotation);
    let non_members = non_members(facts, &rotation.candidates, standby);
    let resolver_clients = facts
        .clients
        .keys()
        .filter(|c| resolvers.contains(c))
        .count() as u64;
    let roles = RolesReport {
        stub_clients: facts.clients.len() as u64 - resolver_clients,
        resolver_clients,
        iterative_responses: facts.iterative_responses,
        authoritative_responses: facts.authoritative_responses,
    };
    let members = rotation
        .candidates
        .iter()
        .map(|address| member_span(facts, address))
        .collect();
    let charted: Vec<IpAddr> = rotation
        .candidates
        .iter()
        .copied()
        .chain(non_members.iter().map(|n| n.address))
        .collect();
    let timeline = timeline_report(&facts.timeline, &charted, options.bucket_ns);
    let divergence = facts
        .timeline
        .divergence(timeline.bucket_seconds)
        .into_iter()
        .map(|((a, b), divergence)| DivergenceReport {
            servers: [a, b],
            intervals: divergence.intervals,
        })
        .collect();
    let connections = facts
        .connections
        .iter()
        .map(|(address, c)| ConnectionReport {
            address: *address,
            after_answer: c.after_answer,
            by_position: c.by_position.clone(),
            without_answer: c.without_answer,
            clients: c.clients.len() as u64,
        })
        .collect();
    InsightReport {
        roles,
        connections,
        changes: changes(facts),
        rotation,
        members,
        non_members,
        timeline,
        divergence,
    }
}

/// The answered addresses outside `candidates` (the expected members), by address.
fn non_members(
    facts: &NameFacts,
    candidates: &[IpAddr],
    standby: &[IpAddr],
) -> Vec<NonMemberReport> {
    facts
        .addresses
        .iter()
        .filter(|(address, _)| !candidates.contains(address))
        .map(|(address, placement)| NonMemberReport {
            address: *address,
            role: if standby.contains(address) {
                "standby"
            } else {
                "unexpected"
            },
            present: placement.present,
            first: facts
                .servers
                .values()
                .filter_map(|s| s.first.get(address))
                .sum(),
        })
        .collect()
}

fn member_span(facts: &NameFacts, address: &IpAddr) -> MemberSpan {
    let holding = facts
        .answer_sets
        .iter()
        .filter(|(set, _)| set.contains(address));
    let first = holding.clone().map(|(_, o)| o.first_ts_ns).min();
    let last = holding.map(|(_, o)| o.last_ts_ns).max();
    MemberSpan {
        address: *address,
        first_seen: first.map(rfc3339),
        last_seen: last.map(rfc3339),
    }
}

/// Each answer set after the first, in order of first appearance, against the set before.
fn changes(facts: &NameFacts) -> Vec<ChangeReport> {
    let mut sets: Vec<_> = facts.answer_sets.iter().collect();
    sets.sort_by_key(|(set, o)| (o.first_ts_ns, (*set).clone()));
    sets.windows(2)
        .map(|pair| {
            let ((old, old_o), (new, new_o)) = (pair[0], pair[1]);
            let seen_for_ns = old_o.last_ts_ns.saturating_sub(new_o.first_ts_ns);
            ChangeReport {
                at: rfc3339(new_o.first_ts_ns),
                added: new.iter().filter(|a| !old.contains(a)).copied().collect(),
                removed: old.iter().filter(|a| !new.contains(a)).copied().collect(),
                old_set_seen_for_s: (seen_for_ns as f64 / 1e6).round() / 1e3,
                old_set_ttl_s: old_o.largest,
            }
        })
        .collect()
}

fn timeline_report(
    timeline: &Timeline,
    candidates: &[IpAddr],
    requested_ns: Option<u64>,
) -> TimelineReport {
    let seconds = timeline.bucket_seconds(requested_ns);
    let width_ns = seconds * BASE_BUCKET_NS;
    let grouped = timeline.regrouped(width_ns);
    let empty = Bucket::default();
    let interval = |start: u64, bucket: &Bucket| {
        let placement = |c: &IpAddr| bucket.addresses.get(c).copied().unwrap_or_default();
        IntervalReport {
            start: rfc3339(start),
            responses: bucket.responses,
            failures: bucket.failures,
            unanswered: bucket.unanswered,
            present: candidates.iter().map(|c| placement(c).present).collect(),
            first: candidates.iter().map(|c| placement(c).first).collect(),
        }
    };
    // Quiet intervals between busy ones are listed too (with zeros), so intervals are evenly
    // spaced, unless that would make the list longer than MAX_FILLED_INTERVALS.
    let (first, last) = (grouped.buckets.keys().next(), grouped.buckets.keys().last());
    let span = match (first, last) {
        (Some(first), Some(last)) => Some((*first, (last - first) / width_ns + 1)),
        _ => None,
    };
    let intervals = match span {
        Some((first, count)) if count <= MAX_FILLED_INTERVALS => (0..count)
            .map(|i| {
                let start = first + i * width_ns;
                interval(start, grouped.buckets.get(&start).unwrap_or(&empty))
            })
            .collect(),
        _ => grouped
            .buckets
            .iter()
            .map(|(start, bucket)| interval(*start, bucket))
            .collect(),
    };
    TimelineReport {
        bucket_seconds: seconds,
        intervals,
    }
}
