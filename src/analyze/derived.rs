//! Findings derived from the analysis as a whole rather than recorded response by response:
//! against the expectations, watched names never answered and members never seen; from a name's
//! rotation (tested against chance in `rotation_findings`), servers that never rotate,
//! unbalanced first positions, members never first, clients stuck on one member and netmask
//! ordering; from its timeline, servers that disagree; and answers
//! still carrying an older answer set after a change (stale answers, with their frames, from
//! the timeline's per-bucket counts). Pure functions
//! of the (merged) analysis, the expectations and the settings, computed when a report or a
//! monitor interval needs them, never per packet. Nothing here is state and nothing here is
//! worded: the report words each finding from its [`Detail`].

use super::empty_evidence::{no_evidence_finding, NoEvidence};
use super::rotation::{rotation, RotationSettings};
use super::rotation_findings::rotation_findings;
use super::significance::{alpha_at_look, ALPHA};
use super::silent_servers::{silent_servers, SilentServer};
use super::{
    Analysis, DistinctCount, FindingKey, FindingKind, NameFacts, NameSummary, Occurrences, Watching,
};
use crate::expect::{normalize, Expectations, ExpectedName};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Settings of what is judged from the analysis as a whole (the report's insight view uses the
/// same): rotation thresholds, the timeline interval and the significance level.
#[derive(Debug, Clone, Copy)]
pub struct DerivedSettings {
    /// Rotation settings (subnet prefixes, thresholds).
    pub rotation: RotationSettings,
    /// Timeline interval width (None: automatic).
    pub bucket_ns: Option<u64>,
    /// The significance level of each statistical finding (per name and kind, after the
    /// correction for the servers or members tested).
    pub alpha: f64,
}

impl Default for DerivedSettings {
    fn default() -> Self {
        DerivedSettings {
            rotation: RotationSettings::default(),
            bucket_ns: None,
            alpha: ALPHA,
        }
    }
}

impl DerivedSettings {
    /// These settings for the `look`-th judgement (from 1) of a growing analysis, as the
    /// monitor makes one at every report interval: the significance level is split over the
    /// looks so that a whole run keeps the error rate of one analysis.
    pub fn at_look(self, look: u64) -> DerivedSettings {
        DerivedSettings {
            alpha: alpha_at_look(ALPHA, look),
            ..self
        }
    }
}

/// A server that put one address first in every answer, beyond chance.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedServer {
    /// The server.
    pub server: IpAddr,
    /// The address it put first.
    pub first: IpAddr,
    /// Its answers with several addresses.
    pub answers: u64,
    /// The chance of that in random order, after Holm's correction over the servers tested.
    pub p_value: f64,
}

/// Intervals in which two servers must give no answer set in common (unless they disagreed in
/// every interval both answered in) before they count as divergent: a change reaching two
/// servers seconds apart makes them disagree in one interval.
pub const MIN_DIVERGENT_INTERVALS: u64 = 2;

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
        /// The chance of that many local members first in random order.
        p_value: f64,
    },
    /// Servers that always put the same address first.
    NotRotating {
        /// Those servers, in address order.
        fixed: Vec<FixedServer>,
        /// Servers with enough answers to be tested.
        tested: u64,
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
        /// True when `p_value` is a Monte Carlo estimate.
        monte_carlo: bool,
    },
    /// Members in answers but never first.
    MemberNeverFirst {
        /// Those members and the answers each was in.
        members: Vec<(IpAddr, u64)>,
        /// Members in enough answers to be tested.
        tested: u64,
        /// The largest of their p-values after Holm's correction over the members tested.
        p_value: f64,
    },
    /// Clients that got one member first in every answer, more than chance gives.
    ClientsStuck {
        /// The member most of them got.
        member: IpAddr,
        /// How many got that member.
        on_member: u64,
        /// How many clients in all.
        clients: u64,
        /// Clients with enough answers to be tested.
        tested: u64,
        /// How many would be stuck by chance (at most).
        expected: f64,
        /// Answers each tested client had at least.
        min_answers: u64,
        /// The chance of at least this many stuck clients in random order.
        p_value: f64,
    },
    /// Pairs of servers with no answer set in common within the same intervals, in at least
    /// [`MIN_DIVERGENT_INTERVALS`] intervals or in every interval both answered in.
    DivergentServers {
        /// Each pair and the intervals in which it disagreed.
        pairs: Vec<([IpAddr; 2], u64)>,
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
    /// A finding with no servers or clients named yet.
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
        let discovered_servers = self
            .discovered
            .names
            .values()
            .flat_map(|counted| counted.value.servers.keys().copied());
        let servers = self
            .names
            .values()
            .flat_map(|facts| facts.servers.keys().copied())
            .chain(discovered_servers)
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

    /// Discovery: the `limit` held names with answers that had the most responses (then by
    /// name), as the facts their summaries give (see [`NameSummary::facts`]), each with its
    /// distinct clients.
    pub fn top_answered_names(&self, limit: usize) -> Vec<(NameFacts, DistinctCount)> {
        let mut with_answers: Vec<&NameSummary> = self
            .discovered
            .names
            .ranked()
            .into_iter()
            .map(|(_, counted)| &counted.value)
            .filter(|summary| !summary.addresses.is_empty())
            .collect();
        with_answers.sort_by(|a, b| {
            b.responses
                .cmp(&a.responses)
                .then_with(|| a.display.cmp(&b.display))
        });
        with_answers
            .into_iter()
            .take(limit)
            .map(|summary| (summary.facts(), summary.clients.count()))
            .collect()
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
            for (facts, _) in analysis.top_answered_names(top_names) {
                name_findings(&facts, &[], &resolvers, settings, &mut findings);
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
            p_value: netmask.p_value,
        };
        let count = netmask.local_first;
        findings.push(DerivedFinding::new(name, String::new(), count, detail));
    }
    rotation_findings(facts, &rotation, resolvers, settings, findings);
    let bucket_seconds = facts.timeline.bucket_seconds(settings.bucket_ns);
    let pairs: Vec<([IpAddr; 2], u64)> = facts
        .timeline
        .divergence(bucket_seconds)
        .into_iter()
        .filter(|(_, d)| d.intervals >= MIN_DIVERGENT_INTERVALS || d.intervals == d.shared)
        .map(|((a, b), d)| ([a, b], d.intervals))
        .collect();
    if !pairs.is_empty() {
        let count = pairs.iter().map(|(_, intervals)| intervals).sum();
        let servers: BTreeSet<IpAddr> = pairs.iter().flat_map(|(pair, _)| *pair).collect();
        let detail = Detail::DivergentServers {
            pairs,
            bucket_seconds,
        };
        let mut finding = DerivedFinding::new(name, String::new(), count, detail);
        finding.servers = servers.into_iter().collect();
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
                (NotRotating, pool, "", 20),
                (Unbalanced, pool, "", 20),
                (MemberNeverFirst, pool, "", 1),
            ]
        );
        // 20 answers of two addresses, one first in all: 2^-19 in random order.
        let not_rotating = &findings[2];
        assert_eq!(
            not_rotating.detail,
            Detail::NotRotating {
                fixed: vec![FixedServer {
                    server: SERVER,
                    first: address(1),
                    answers: 20,
                    p_value: 2f64.powi(-19),
                }],
                tested: 1,
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
        // 10.10.10.2 in 20 answers, never first. No answer set was recorded, so answers are
        // taken to hold all three members (the size that makes never first likeliest):
        // (2/3)^20, Holm over the two members tested.
        let Detail::MemberNeverFirst {
            members,
            tested,
            p_value,
        } = &findings[4].detail
        else {
            panic!("{:?}", findings[4]);
        };
        assert_eq!((members, *tested), (&vec![(address(2), 20)], 2));
        assert!((p_value / (2.0 * (2.0f64 / 3.0).powi(20)) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_fixed_order_is_not_a_finding_before_chance_is_ruled_out() {
        // Ten answers of two addresses, all with one first: 2^-9 = 0.002 by chance.
        let mut analysis = analysis();
        let facts = analysis.names.values_mut().next().unwrap();
        let server = facts.servers.get_mut(&SERVER).unwrap();
        server.multi_answers = 10;
        server.first = BTreeMap::from([(address(1), 10)]);
        let settings = DerivedSettings::default();
        let watching = Watching::Expectations(parse("t.toml", EXPECTATIONS).unwrap());
        let findings = derived_findings(&analysis, &watching, 0, &settings);
        assert!(
            findings.iter().all(|f| f.key.kind != NotRotating),
            "{findings:?}"
        );
        // In the monitor's tenth look the level is 0.001 / 110: still none.
        assert!(settings.at_look(10).alpha < 1e-5);
    }

    /// The same name discovered: its summary holds what [`analysis`] holds of it.
    fn discovered() -> Analysis {
        let mut analysis = Analysis::discovering(8);
        let summary = &mut analysis
            .discovered
            .names
            .hit("pool.contoso.com", &mut drop)
            .unwrap()
            .value;
        summary.display = "Pool.contoso.com".into();
        summary.responses = 20;
        let server = summary.servers.entry(&SERVER, 8, drop).unwrap();
        server.responses = 20;
        server.multi_answers = 20;
        *server.first.entry(&address(1), 8, drop).unwrap() = 20;
        for (member, first) in [(1, 20), (2, 0)] {
            *summary.addresses.entry(&address(member), 8, drop).unwrap() =
                Placement { present: 20, first };
        }
        analysis
    }

    #[test]
    fn discovery_judges_the_top_names_against_the_addresses_seen() {
        let settings = DerivedSettings::default();
        let analysis = discovered();
        let findings = derived_findings(&analysis, &Watching::Discovery, 10, &settings);
        let pool = "Pool.contoso.com";
        assert_eq!(
            summary(&findings),
            vec![
                (NotRotating, pool, "", 20),
                (Unbalanced, pool, "", 20),
                (MemberNeverFirst, pool, "", 1),
            ]
        );
        assert!(derived_findings(&analysis, &Watching::Discovery, 0, &settings).is_empty());
    }
}
