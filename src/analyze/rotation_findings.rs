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
use super::names::NameFacts;
use super::occurrences::MAX_NAMED_PEERS;
use super::rotation::Rotation;
use super::significance::{at_least_successes, holm};
use std::collections::{BTreeMap, BTreeSet};
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
        let (smallest, largest) = sizes.fold((u64::MAX, 0), |(s, l), size| (s.min(size), l.max(size)));
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

/// Stub clients with at least `stuck_min_answers` answers that always got one member first,
/// counted against chance: a client with n answers of at least `size` addresses in random order
/// is stuck with probability at most size^(1-n), so the number stuck by chance is a sum of such
/// trials (exact tail of that Poisson binomial count). One test for all clients: no correction.
fn clients_stuck(
    name: &str,
    facts: &NameFacts,
    rotation: &Rotation,
    resolvers: &BTreeSet<IpAddr>,
    sizes: &AnswerSizes,
    settings: &DerivedSettings,
) -> Option<DerivedFinding> {
    let stuck: BTreeMap<IpAddr, IpAddr> = rotation
        .stuck_clients
        .iter()
        .flat_map(|(member, clients)| clients.iter().map(move |client| (*client, *member)))
        .collect();
    let chances: Vec<f64> = facts
        .clients
        .iter()
        .filter(|(client, c)| {
            c.multi_answers >= settings.rotation.stuck_min_answers && !resolvers.contains(client)
        })
        .map(|(_, c)| same_first_chance(sizes.smallest, c.multi_answers))
        .collect();
    let p_value = at_least_successes(stuck.len(), &chances);
    if stuck.is_empty() || p_value >= settings.alpha {
        return None;
    }
    let (member, clients) = rotation
        .stuck_clients
        .iter()
        .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0)))?;
    let detail = Detail::ClientsStuck {
        member: *member,
        on_member: clients.len() as u64,
        clients: stuck.len() as u64,
        tested: chances.len() as u64,
        expected: chances.iter().sum(),
        min_answers: settings.rotation.stuck_min_answers,
        p_value,
    };
    let mut finding = DerivedFinding::new(name, String::new(), stuck.len() as u64, detail);
    finding.clients = stuck.keys().take(MAX_NAMED_PEERS).copied().collect();
    Some(finding)
}
