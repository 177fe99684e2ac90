//! Findings derived from the analysis as a whole rather than recorded response by response:
//! against the expectations, watched names never answered and members never seen; from a name's
//! rotation and timeline, servers that never rotate, unbalanced first positions, members never
//! first, clients stuck on one member, netmask ordering and servers that disagree; and answers
//! still carrying an older answer set after a change (stale answers, with their frames, from
//! the timeline's per-bucket counts). Pure functions
//! of the (merged) analysis, the expectations and the settings, computed when a report or a
//! monitor interval needs them, never per packet. Nothing here is state and nothing here is
//! worded: the report words each finding from its [`Detail`].

use super::empty_evidence::{no_evidence_finding, NoEvidence};
use super::occurrences::MAX_NAMED_PEERS;
use super::rotation::{rotation, RotationSettings};
use super::silent_servers::{silent_servers, SilentServer};
use super::{Analysis, FindingKey, FindingKind, NameFacts, Occurrences, Watching};
use crate::expect::{normalize, Expectations, ExpectedName};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Settings of what is judged from the analysis as a whole (the report's insight view uses the
/// same): rotation thresholds and the timeline interval.
#[derive(Debug, Clone, Copy, Default)]
pub struct DerivedSettings {
    /// Rotation settings (subnet prefixes, thresholds).
    pub rotation: RotationSettings,
    /// Timeline interval width (None: automatic).
    pub bucket_ns: Option<u64>,
}

/// What a derived finding found, with the numbers its wording needs; the variant is the kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    /// No response for the watched name.
    NameNotSeen,
    /// An expected member in none of the name's responses.
    MemberNeverSeen {
        /// The member.
        member: IpAddr,
        /// Responses for the name.
        responses: u64,
    },
    /// Clients sharing a subnet with a member got that member first.
    NetmaskOrdering {
        /// Answers whose first address was in the client's subnet.
        local_first: u64,
        /// Answers to clients sharing a subnet with some (not all) candidates.
        eligible_answers: u64,
    },
    /// A server always put the same address first.
    NotRotating {
        /// The server.
        server: IpAddr,
        /// The address it put first.
        first: IpAddr,
        /// Its answers with several addresses.
        answers: u64,
    },
    /// First positions are not uniform over the candidates.
    Unbalanced {
        /// Each candidate and how often it came first, in candidate order.
        shares: Vec<(IpAddr, u64)>,
        /// Answers counted.
        answers: u64,
        /// Chi-square statistic against a uniform spread.
        chi_square: f64,
        /// Its degrees of freedom.
        degrees_of_freedom: u64,
        /// The probability of a spread at least this uneven.
        p_value: f64,
    },
    /// A member in answers but never first.
    MemberNeverFirst {
        /// The member.
        member: IpAddr,
    },
    /// Clients that got one member first in every answer.
    ClientsStuck {
        /// The member.
        member: IpAddr,
        /// How many clients.
        clients: u64,
        /// Answers each of them had at least.
        min_answers: u64,
    },
    /// Two servers with no answer set in common within the same intervals.
    DivergentServers {
        /// The two servers.
        servers: [IpAddr; 2],
        /// Intervals in which they disagreed.
        intervals: u64,
        /// The interval width in seconds.
        bucket_seconds: u64,
    },
    /// A DNS server that answered none of its queries.
    SilentServer(SilentServer),
    /// Expectations, but no response about any watched name.
    NoEvidence(NoEvidence),
}

impl Detail {
    /// The finding kind this detail belongs to.
    pub fn kind(&self) -> FindingKind {
        match self {
            Detail::NameNotSeen => FindingKind::NameNotSeen,
            Detail::MemberNeverSeen { .. } => FindingKind::MemberNeverSeen,
            Detail::NetmaskOrdering { .. } => FindingKind::NetmaskOrdering,
            Detail::NotRotating { .. } => FindingKind::NotRotating,
            Detail::Unbalanced { .. } => FindingKind::Unbalanced,
            Detail::MemberNeverFirst { .. } => FindingKind::MemberNeverFirst,
            Detail::ClientsStuck { .. } => FindingKind::ClientsStuck,
            Detail::DivergentServers { .. } => FindingKind::DivergentServers,
            Detail::SilentServer(silent) if silent.timed_out => FindingKind::ServerNotAnswering,
            Detail::SilentServer(_) => FindingKind::ServerSilentAtEnd,
            Detail::NoEvidence(_) => FindingKind::NoWatchedResponses,
        }
    }
}

/// A finding judged from the analysis as a whole: no times and no example frames.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedFinding {
    /// Kind (that of `detail`), name and subject.
    pub key: FindingKey,
    /// What it counts (answers, clients, intervals; 0 for findings about absence).
    pub count: u64,
    /// DNS servers involved.
    pub servers: Vec<IpAddr>,
    /// Clients involved (the first few).
    pub clients: Vec<IpAddr>,
    /// What was found.
    pub detail: Detail,
}

impl DerivedFinding {
    pub(super) fn new(name: &str, subject: String, count: u64, detail: Detail) -> Self {
        DerivedFinding {
            key: FindingKey {
                kind: detail.kind(),
                name: name.to_string(),
                subject,
            },
            count,
            servers: Vec::new(),
            clients: Vec::new(),
            detail,
        }
    }
}

/// A finding of either origin, as events see it.
#[derive(Debug, Clone, Copy)]
pub enum Finding<'a> {
    /// Recorded response by response during the analysis, with its occurrences.
    Recorded(&'a FindingKey, &'a Occurrences),
    /// Derived from the analysis as a whole.
    Derived(&'a DerivedFinding),
}

impl<'a> Finding<'a> {
    /// Each finding of `findings` (recorded during the analysis).
    pub fn recorded(
        findings: &'a BTreeMap<FindingKey, Occurrences>,
    ) -> impl Iterator<Item = Finding<'a>> {
        findings
            .iter()
            .map(|(key, occurrences)| Finding::Recorded(key, occurrences))
    }

    /// Its kind, name and subject.
    pub fn key(&self) -> &'a FindingKey {
        match self {
            Finding::Recorded(key, _) => key,
            Finding::Derived(derived) => &derived.key,
        }
    }

    /// What it counts so far.
    pub fn count(&self) -> u64 {
        match self {
            Finding::Recorded(_, occurrences) => occurrences.count,
            Finding::Derived(derived) => derived.count,
        }
    }
}

impl Analysis {
    /// Stale answers of the expected names (see [`NameFacts::stale_answers`]), as findings
    /// keyed by the older set; worked out on the merged analysis, never stored in it.
    pub fn stale_answer_findings(
        &self,
        expectations: &Expectations,
    ) -> Vec<(FindingKey, Occurrences)> {
        let mut found = Vec::new();
        for entry in &expectations.names {
            let Some(facts) = self.names.get(&*entry.key) else {
                continue;
            };
            for (set, occurrences) in facts.stale_answers() {
                let subject: Vec<String> = set.iter().map(ToString::to_string).collect();
                let key = FindingKey {
                    kind: FindingKind::StaleAnswer,
                    name: entry.label.to_string(),
                    subject: subject.join(", "),
                };
                found.push((key, occurrences));
            }
        }
        found
    }

    /// The receivers of answers that are resolvers: those that also answer as DNS servers for
    /// any name (a loopback address aside: a stub resolver on 127.0.0.53 or ::1 shares the
    /// host with its clients), and those that ask without RD, as a resolver asks an
    /// authoritative server.
    pub fn resolvers(&self) -> BTreeSet<IpAddr> {
        let servers = self
            .names
            .values()
            .flat_map(|facts| facts.servers.keys().copied())
            .filter(|server| !server.is_loopback());
        let iterative = self.names.values().flat_map(|facts| {
            facts
                .clients
                .iter()
                .filter(|(_, client)| client.iterative_responses > 0)
                .map(|(address, _)| *address)
        });
        servers.chain(iterative).collect()
    }

    /// The facts of an expected name, if anything was recorded for it.
    pub fn expected_facts(&self, entry: &ExpectedName) -> Option<&NameFacts> {
        self.names.get(&normalize(&entry.name))
    }

    /// Discovery: the `limit` names with answers that had the most responses (then by name).
    pub fn top_answered_names(&self, limit: usize) -> Vec<&NameFacts> {
        let mut with_answers: Vec<&NameFacts> = self
            .names
            .values()
            .filter(|facts| !facts.addresses.is_empty())
            .collect();
        with_answers.sort_by(|a, b| {
            b.responses
                .cmp(&a.responses)
                .then_with(|| a.display.cmp(&b.display))
        });
        with_answers.truncate(limit);
        with_answers
    }
}

/// The expected members of `entry` that no answer in `facts` held.
pub fn members_never_seen(entry: &ExpectedName, facts: Option<&NameFacts>) -> Vec<IpAddr> {
    entry
        .members
        .iter()
        .filter(|m| facts.is_none_or(|f| !f.addresses.contains_key(m)))
        .copied()
        .collect()
}

/// Every derived finding of `analysis` measured against `watching`: absence (expectations
/// only), then per name what its rotation and timeline show. The names judged are those the
/// report shows in full: every expected name with responses, or in discovery the `top_names`
/// names with the most responses.
pub fn derived_findings(
    analysis: &Analysis,
    watching: &Watching,
    top_names: usize,
    settings: &DerivedSettings,
) -> Vec<DerivedFinding> {
    let resolvers = analysis.resolvers();
    let mut findings = Vec::new();
    match watching {
        Watching::Expectations(expectations) => {
            for entry in &expectations.names {
                absence_findings(entry, analysis.expected_facts(entry), &mut findings);
            }
            for entry in &expectations.names {
                if let Some(facts) = analysis.expected_facts(entry) {
                    name_findings(facts, &entry.members, &resolvers, settings, &mut findings);
                }
            }
        }
        Watching::Discovery => {
            for facts in analysis.top_answered_names(top_names) {
                name_findings(facts, &[], &resolvers, settings, &mut findings);
            }
        }
    }
    findings.extend(
        silent_servers(analysis)
            .into_iter()
            .map(SilentServer::finding),
    );
    findings.extend(no_evidence_finding(analysis, watching));
    findings
}

/// A watched name never answered, or its members never seen.
fn absence_findings(
    entry: &ExpectedName,
    facts: Option<&NameFacts>,
    findings: &mut Vec<DerivedFinding>,
) {
    let responses = facts.map_or(0, |f| f.responses);
    if responses == 0 {
        let detail = Detail::NameNotSeen;
        findings.push(DerivedFinding::new(&entry.name, String::new(), 0, detail));
        return;
    }
    for member in members_never_seen(entry, facts) {
        let detail = Detail::MemberNeverSeen { member, responses };
        findings.push(DerivedFinding::new(
            &entry.name,
            member.to_string(),
            0,
            detail,
        ));
    }
}

/// What the rotation and the timeline of one name show (nothing for a name without
/// responses). Netmask ordering explains a fixed order, so it replaces the findings about
/// servers not rotating, an unbalanced spread and stuck clients.
fn name_findings(
    facts: &NameFacts,
    members: &[IpAddr],
    resolvers: &BTreeSet<IpAddr>,
    settings: &DerivedSettings,
    findings: &mut Vec<DerivedFinding>,
) {
    if facts.responses == 0 {
        return;
    }
    let name = facts.display.as_str();
    let rotation = rotation(facts, members, resolvers, &settings.rotation);
    let netmask = rotation.netmask;
    if netmask.detected {
        let detail = Detail::NetmaskOrdering {
            local_first: netmask.local_first,
            eligible_answers: netmask.eligible_answers,
        };
        let count = netmask.local_first;
        findings.push(DerivedFinding::new(name, String::new(), count, detail));
    } else {
        for server in &rotation.servers {
            if let Some(first) = server.never_rotates {
                let answers = server.balance.answers;
                let detail = Detail::NotRotating {
                    server: server.server,
                    first,
                    answers,
                };
                let mut finding =
                    DerivedFinding::new(name, server.server.to_string(), answers, detail);
                finding.servers = vec![server.server];
                findings.push(finding);
            }
        }
        let overall = &rotation.overall;
        if overall.unbalanced(settings.rotation.min_answers) {
            let detail = Detail::Unbalanced {
                shares: rotation
                    .candidates
                    .iter()
                    .copied()
                    .zip(overall.first.iter().copied())
                    .collect(),
                answers: overall.answers,
                chi_square: overall.chi_square.unwrap_or_default(),
                degrees_of_freedom: overall.degrees_of_freedom,
                p_value: overall.p_value.unwrap_or_default(),
            };
            let count = overall.answers;
            findings.push(DerivedFinding::new(name, String::new(), count, detail));
        }
    }
    for &member in &rotation.never_first {
        let detail = Detail::MemberNeverFirst { member };
        findings.push(DerivedFinding::new(name, member.to_string(), 0, detail));
    }
    for (&member, clients) in rotation.stuck_clients.iter().filter(|_| !netmask.detected) {
        let count = clients.len() as u64;
        let detail = Detail::ClientsStuck {
            member,
            clients: count,
            min_answers: settings.rotation.stuck_min_answers,
        };
        let mut finding = DerivedFinding::new(name, member.to_string(), count, detail);
        finding.clients = clients.iter().take(MAX_NAMED_PEERS).copied().collect();
        findings.push(finding);
    }
    let bucket_seconds = facts.timeline.bucket_seconds(settings.bucket_ns);
    for ((a, b), intervals) in facts.timeline.divergence(bucket_seconds) {
        let detail = Detail::DivergentServers {
            servers: [a, b],
            intervals,
            bucket_seconds,
        };
        let mut finding = DerivedFinding::new(name, format!("{a} vs {b}"), intervals, detail);
        finding.servers = vec![a, b];
        findings.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{Placement, Placements, ServerFacts};
    use crate::expect::parse;
    use std::collections::BTreeMap;
    use FindingKind::*;

    #[test]
    fn resolvers_are_servers_off_loopback_and_senders_of_queries_without_rd() {
        let (stub, forwarder, iterative) = (
            IpAddr::from([192, 0, 2, 10]),
            IpAddr::from([192, 0, 2, 53]),
            IpAddr::from([192, 0, 2, 99]),
        );
        let loopback: IpAddr = "::1".parse().unwrap();
        let mut facts = NameFacts::named("www.example".into());
        for server in [forwarder, loopback] {
            facts.servers.insert(server, ServerFacts::default());
        }
        for client in [stub, forwarder, loopback, iterative] {
            facts.clients.entry(client).responses = 1;
        }
        facts.clients.entry(iterative).iterative_responses = 1;
        let mut analysis = Analysis::default();
        analysis.names.insert("www.example".into(), facts);
        // ::1 answers and receives answers on one host: still a stub client.
        assert_eq!(analysis.resolvers(), BTreeSet::from([forwarder, iterative]));
    }

    const EXPECTATIONS: &str = r#"
[[server]]
name = "Chat01.contoso.com"
address = "10.10.10.1"

[[pool]]
name = "Pool.contoso.com"
members = ["10.10.10.1", "10.10.10.2", "10.10.10.3"]
"#;

    fn address(last: u8) -> IpAddr {
        IpAddr::from([10, 10, 10, last])
    }

    const SERVER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 53));

    /// The pool's one server put 10.10.10.1 first in all 20 answers, which also held
    /// 10.10.10.2; 10.10.10.3 never appeared. Nothing was recorded for the chat server.
    fn analysis() -> Analysis {
        let mut facts = NameFacts::named("Pool.contoso.com".into());
        facts.responses = 20;
        facts.servers.insert(
            SERVER,
            ServerFacts {
                responses: 20,
                multi_answers: 20,
                first: BTreeMap::from([(address(1), 20)]),
                ..ServerFacts::default()
            },
        );
        facts.addresses = Placements::from_iter([
            (
                address(1),
                Placement {
                    present: 20,
                    first: 20,
                },
            ),
            (
                address(2),
                Placement {
                    present: 20,
                    first: 0,
                },
            ),
        ]);
        let mut analysis = Analysis::default();
        analysis.names.insert(normalize("Pool.contoso.com"), facts);
        analysis
    }

    fn summary(findings: &[DerivedFinding]) -> Vec<(FindingKind, &str, &str, u64)> {
        findings
            .iter()
            .map(|f| (f.key.kind, &*f.key.name, &*f.key.subject, f.count))
            .collect()
    }

    #[test]
    fn a_pool_that_never_rotates_is_judged_from_the_analysis_and_expectations_alone() {
        let watching = Watching::Expectations(parse("t.toml", EXPECTATIONS).unwrap());
        let settings = DerivedSettings::default();
        let findings = derived_findings(&analysis(), &watching, 0, &settings);
        let pool = "Pool.contoso.com";
        assert_eq!(
            summary(&findings),
            vec![
                (NameNotSeen, "Chat01.contoso.com", "", 0),
                (MemberNeverSeen, pool, "10.10.10.3", 0),
                (NotRotating, pool, "192.0.2.53", 20),
                (Unbalanced, pool, "", 20),
                (MemberNeverFirst, pool, "10.10.10.2", 0),
            ]
        );
        let not_rotating = &findings[2];
        assert_eq!(
            not_rotating.detail,
            Detail::NotRotating {
                server: SERVER,
                first: address(1),
                answers: 20
            }
        );
        assert_eq!(not_rotating.servers, vec![SERVER]);
        let Detail::Unbalanced {
            shares,
            degrees_of_freedom,
            chi_square,
            ..
        } = &findings[3].detail
        else {
            panic!("{:?}", findings[3]);
        };
        assert_eq!(
            shares,
            &vec![(address(1), 20), (address(2), 0), (address(3), 0)]
        );
        assert_eq!((*degrees_of_freedom, *chi_square), (2, 40.0));
    }

    #[test]
    fn discovery_judges_the_top_names_against_the_addresses_seen() {
        let settings = DerivedSettings::default();
        let findings = derived_findings(&analysis(), &Watching::Discovery, 10, &settings);
        let pool = "Pool.contoso.com";
        assert_eq!(
            summary(&findings),
            vec![
                (NotRotating, pool, "192.0.2.53", 20),
                (Unbalanced, pool, "", 20),
                (MemberNeverFirst, pool, "10.10.10.2", 0),
            ]
        );
        assert!(derived_findings(&analysis(), &Watching::Discovery, 0, &settings).is_empty());
    }
}
