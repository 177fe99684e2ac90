//! The statistical findings of one name: what its rotation view observed (servers that always
//! put one address first, members never first, clients that always got one member first, an
//! uneven spread of first positions) tested against chance, as a healthy DNS server rotating
//! the addresses of each answer at random would give it. Each test has a minimum sample, an
//! exact p-value (or a seeded Monte Carlo one) and, where many servers or members are tested at
//! once, Holm's correction; a kind is raised at most once per name, when the corrected p-value
//! is below the settings' significance level. Where answers of different sizes make the exact
//! null distribution unknown, the size that makes the observation most likely is used, so a
//! p-value is never smaller than the truth.

use super::derived::{DerivedFinding, DerivedSettings, Detail, FixedServer};
use super::names::{ClientFacts, NameFacts};
use super::occurrences::MAX_NAMED_PEERS;
use super::rotation::Rotation;
use super::significance::{at_least_successes, holm};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The statistical findings of `facts` given its rotation view (netmask ordering aside: it
/// explains a fixed order, so the caller skips what it explains).
pub fn rotation_findings(
    facts: &NameFacts,
    rotation: &Rotation,
    resolvers: &BTreeSet<IpAddr>,
    settings: &DerivedSettings,
    findings: &mut Vec<DerivedFinding>,
) {
    let name = facts.display.as_str();
    let explained = rotation.netmask.detected;
    let sizes = AnswerSizes::of(facts, rotation.candidates.len());
    if !explained {
        findings.extend(not_rotating(name, facts, rotation, settings));
        findings.extend(unbalanced(name, rotation, settings));
    }
    findings.extend(never_first(name, facts, rotation, &sizes, settings));
    if !explained {
        let stuck = clients_stuck(name, facts, rotation, resolvers, &sizes, settings);
        findings.extend(stuck);
    }
}

/// The fewest and the most addresses an answer with several addresses held (2 and every
/// address seen when some answer sets were not tracked).
struct AnswerSizes {
    smallest: u64,
    largest: u64,
}

impl AnswerSizes {
    fn of(facts: &NameFacts, candidates: usize) -> AnswerSizes {
        let widest = facts.addresses.len().max(candidates).max(2) as u64;
        let sizes = facts
            .answer_sets
            .iter()
            .map(|(set, _)| set.len() as u64)
            .filter(|&size| size >= 2);
        let (smallest, largest) =
            sizes.fold((u64::MAX, 0), |(s, l), size| (s.min(size), l.max(size)));
        if facts.untracked_answer_sets > 0 || largest == 0 {
            return AnswerSizes {
                smallest: 2,
                largest: widest,
            };
        }
        AnswerSizes { smallest, largest }
    }
}

/// P(all `answers` put one address first) for answers of at least `size` addresses each in
/// random order: each answer after the first matches it with probability at most 1/size.
fn same_first_chance(size: u64, answers: u64) -> f64 {
    (size as f64).powf(1.0 - answers as f64).min(1.0)
}

/// The chance that `client` got one address first in all its answers with several addresses,
/// in random order, at most: the product over all answers but one of 1/size. Only the total of
/// the sizes is known (the addresses' presences, less one for every other response), so the
/// sizes are taken as uneven as that total allows (answers of `smallest`, and as many as the
/// total pays for holding every address the client saw), which makes the product largest.
fn stuck_chance(client: &ClientFacts, smallest: u64) -> f64 {
    let answers = client.multi_answers;
    let seen = client.addresses.len() as u64;
    let others = client.responses - answers;
    let total: u64 = client.addresses.iter().map(|(_, p)| p.present).sum();
    let total = total.saturating_sub(others);
    let widest = seen.max(smallest);
    let wide = if widest > smallest {
        (total.saturating_sub(smallest * answers) / (widest - smallest)).min(answers)
    } else {
        answers
    };
    // The answer left out of the product is a wide one where there is one.
    let (wide, narrow) = match wide {
        0 => (0, answers.saturating_sub(1)),
        wide => (wide - 1, answers - wide),
    };
    let log = wide as f64 * (widest as f64).ln() + narrow as f64 * (smallest as f64).ln();
    (-log).exp().min(1.0)
}

/// Servers that put one address first in all of at least `min_answers` answers; each tested
/// against random order over its smallest answer, Holm over the servers with enough answers.
fn not_rotating(
    name: &str,
    facts: &NameFacts,
    rotation: &Rotation,
    settings: &DerivedSettings,
) -> Option<DerivedFinding> {
    let tested: Vec<_> = rotation
        .servers
        .iter()
        .filter(|s| s.balance.answers >= settings.rotation.min_answers)
        .collect();
    let p_values: Vec<f64> = tested
        .iter()
        .map(|server| match server.never_rotates {
            Some(_) => {
                let size = facts.servers.get(&server.server).map_or(2, |s| {
                    let sizes = s.answer_sets.iter().map(|(set, _)| set.len() as u64);
                    let smallest = sizes.filter(|&n| n >= 2).min().unwrap_or(2);
                    if s.untracked_answer_sets > 0 {
                        2
                    } else {
                        smallest
                    }
                });
                same_first_chance(size, server.balance.answers)
            }
            None => 1.0,
        })
        .collect();
    let fixed: Vec<FixedServer> = tested
        .iter()
        .zip(holm(&p_values))
        .filter(|(_, p)| *p < settings.alpha)
        .filter_map(|(server, p_value)| {
            Some(FixedServer {
                server: server.server,
                first: server.never_rotates?,
                answers: server.balance.answers,
                p_value,
            })
        })
        .collect();
    if fixed.is_empty() {
        return None;
    }
    let count = fixed.iter().map(|f| f.answers).sum();
    let servers = fixed.iter().map(|f| f.server).collect();
    let detail = Detail::NotRotating {
        fixed,
        tested: tested.len() as u64,
    };
    let mut finding = DerivedFinding::new(name, String::new(), count, detail);
    finding.servers = servers;
    Some(finding)
}

/// First positions over all answers against a uniform spread over the candidates (chi-square,
/// or Monte Carlo with few answers per candidate), from `min_answers` answers on.
fn unbalanced(
    name: &str,
    rotation: &Rotation,
    settings: &DerivedSettings,
) -> Option<DerivedFinding> {
    let overall = &rotation.overall;
    if overall.answers < settings.rotation.min_answers {
        return None;
    }
    let p_value = overall.p_value?;
    if p_value >= settings.alpha {
        return None;
    }
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
        p_value,
        monte_carlo: overall.monte_carlo,
    };
    Some(DerivedFinding::new(
        name,
        String::new(),
        overall.answers,
        detail,
    ))
}

/// Candidates in at least `min_answers` answers and never first; each tested against random
/// order over the largest answer (P(never first in n answers) = (1 - 1/size)^n), Holm over the
/// candidates in enough answers.
fn never_first(
    name: &str,
    facts: &NameFacts,
    rotation: &Rotation,
    sizes: &AnswerSizes,
    settings: &DerivedSettings,
) -> Option<DerivedFinding> {
    let tested: Vec<(IpAddr, u64, u64)> = rotation
        .candidates
        .iter()
        .filter_map(|c| facts.addresses.get(c).map(|p| (*c, p.present, p.first)))
        .filter(|(_, present, _)| *present >= settings.rotation.min_answers)
        .collect();
    let miss = 1.0 - 1.0 / sizes.largest as f64;
    let p_values: Vec<f64> = tested
        .iter()
        .map(|&(_, present, first)| {
            if first == 0 {
                miss.powf(present as f64)
            } else {
                1.0
            }
        })
        .collect();
    let flagged: Vec<((IpAddr, u64, u64), f64)> = tested
        .iter()
        .copied()
        .zip(holm(&p_values))
        .filter(|(_, p)| *p < settings.alpha)
        .collect();
    let p_value = flagged.iter().map(|(_, p)| *p).fold(0.0, f64::max);
    let members: Vec<(IpAddr, u64)> = flagged
        .iter()
        .map(|((member, present, _), _)| (*member, *present))
        .collect();
    if members.is_empty() {
        return None;
    }
    let count = members.len() as u64;
    let detail = Detail::MemberNeverFirst {
        members,
        tested: tested.len() as u64,
        p_value,
    };
    Some(DerivedFinding::new(name, String::new(), count, detail))
}

/// A client tested for being stuck: its answers with several addresses, its chance of being
/// stuck in random order, and whether it is.
type TestedClient = (u64, f64, bool);

/// Stub clients that always got one member first, counted against chance: a client is stuck
/// by chance with probability at most [`stuck_chance`], so the number stuck among clients with
/// at least t answers is at most a sum of such trials (exact Poisson-binomial tail). The count
/// is taken at each t of `stuck_min_answers` and the powers of two above it (a few clients with
/// many answers are as telling as many with few), Bonferroni over the distinct sets of clients
/// these t keep; the t with the smallest p-value is reported. One finding per name.
fn clients_stuck(
    name: &str,
    facts: &NameFacts,
    rotation: &Rotation,
    resolvers: &BTreeSet<IpAddr>,
    sizes: &AnswerSizes,
    settings: &DerivedSettings,
) -> Option<DerivedFinding> {
    let stuck: BTreeSet<IpAddr> = rotation.stuck_clients.values().flatten().copied().collect();
    if stuck.is_empty() {
        return None;
    }
    let tested: Vec<TestedClient> = facts
        .clients
        .iter()
        .filter(|(client, c)| {
            c.multi_answers >= settings.rotation.stuck_min_answers && !resolvers.contains(client)
        })
        .map(|(client, c)| {
            (
                c.multi_answers,
                stuck_chance(c, sizes.smallest),
                stuck.contains(client),
            )
        })
        .collect();
    let most = tested.iter().map(|t| t.0).max().unwrap_or(0);
    let first = settings.rotation.stuck_min_answers.max(1);
    let thresholds: Vec<u64> = std::iter::once(first)
        .chain((0..64).map(|bit| 1u64 << bit).filter(|t| *t > first))
        .take_while(|t| *t <= most)
        .collect();
    // The clients each threshold keeps; a threshold keeping the same ones is the same test.
    let mut kept: Vec<(u64, Vec<&TestedClient>)> = Vec::new();
    for threshold in thresholds {
        let at: Vec<&TestedClient> = tested.iter().filter(|t| t.0 >= threshold).collect();
        if kept
            .last()
            .is_none_or(|(_, before)| before.len() != at.len())
        {
            kept.push((threshold, at));
        }
    }
    let counts = kept.iter().map(|(threshold, at)| {
        let chances: Vec<f64> = at.iter().map(|t| t.1).collect();
        let stuck_here = at.iter().filter(|t| t.2).count();
        let p = at_least_successes(stuck_here, &chances);
        (
            *threshold,
            stuck_here as u64,
            at.len() as u64,
            chances.iter().sum::<f64>(),
            p,
        )
    });
    let (min_answers, clients, tested_here, expected, p) =
        counts.min_by(|a, b| a.4.total_cmp(&b.4))?;
    let p_value = (p * kept.len() as f64).min(1.0);
    if p_value >= settings.alpha {
        return None;
    }
    let (member, on_member) = rotation
        .stuck_clients
        .iter()
        .map(|(member, clients)| (*member, clients.len() as u64))
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))?;
    let detail = Detail::ClientsStuck {
        member,
        on_member,
        clients,
        tested: tested_here,
        expected,
        min_answers,
        p_value,
    };
    let mut finding = DerivedFinding::new(name, String::new(), stuck.len() as u64, detail);
    finding.clients = stuck.iter().take(MAX_NAMED_PEERS).copied().collect();
    Some(finding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::rotation::rotation;
    use crate::analyze::{FindingKind, Occurrences, Placement, ServerFacts};
    use std::collections::BTreeMap;

    fn member(n: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0x0a1e_0000 + n))
    }

    /// A 129-member pool answered 164 times in random order (seeded): about 36 members are
    /// never first by chance, which is no finding; nor is anything else.
    #[test]
    fn members_never_first_by_chance_in_a_large_pool_are_no_finding() {
        let members: Vec<IpAddr> = (1..=129).map(member).collect();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut first = vec![0u64; members.len()];
        for _ in 0..164 {
            first[rng.usize(..members.len())] += 1;
        }
        let mut facts = NameFacts::named("LargePool.contoso.com".into());
        facts.responses = 164;
        facts.addresses = members
            .iter()
            .zip(&first)
            .map(|(m, f)| {
                (
                    *m,
                    Placement {
                        present: 164,
                        first: *f,
                    },
                )
            })
            .collect();
        facts
            .answer_sets
            .insert(members.clone(), Occurrences::default());
        let server = ServerFacts {
            responses: 164,
            multi_answers: 164,
            first: members.iter().copied().zip(first.iter().copied()).collect(),
            ..ServerFacts::default()
        };
        facts.servers.insert(IpAddr::from([192, 0, 2, 53]), server);
        let never = first.iter().filter(|f| **f == 0).count();
        assert!((25..50).contains(&never), "{never} never first");
        let settings = DerivedSettings::default();
        let view = rotation(&facts, &members, &BTreeSet::new(), &settings.rotation);
        assert_eq!(view.never_first.len(), never);
        let mut findings = Vec::new();
        rotation_findings(&facts, &view, &BTreeSet::new(), &settings, &mut findings);
        assert!(findings.is_empty(), "{findings:?}");
        // The same pool where one server always gave the same order: found.
        let fixed: BTreeMap<IpAddr, u64> = BTreeMap::from([(members[0], 164)]);
        facts
            .servers
            .values_mut()
            .for_each(|s| s.first = fixed.clone());
        let view = rotation(&facts, &members, &BTreeSet::new(), &settings.rotation);
        rotation_findings(&facts, &view, &BTreeSet::new(), &settings, &mut findings);
        assert!(findings
            .iter()
            .any(|f| f.key.kind == FindingKind::NotRotating));
    }
}
