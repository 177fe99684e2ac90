//! Rotation and balance: is DNS load balancing spreading clients over the pool? Clients
//! normally try the first address of an answer, so what matters is how often each member came
//! first: overall, per DNS server and per client subnet, with a goodness-of-fit test against a
//! uniform spread. Also what the statistical findings test (`rotation_findings`): servers that
//! never rotate, members never first, clients stuck on one member; and netmask ordering
//! (Windows DNS Server puts the member in the client's own subnet first by default), which
//! explains a "stuck" order instead of a fault. Derived from [`NameFacts`] when findings are
//! judged or a report is built; nothing here is state.

use super::names::NameFacts;
use super::significance::{binomial_at_least, uniformity, ALPHA};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Choices for the rotation view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationSettings {
    /// Client subnet prefix length for IPv4 (24 by default).
    pub v4_prefix: u8,
    /// Client subnet prefix length for IPv6 (64 by default).
    pub v6_prefix: u8,
    /// Answers with several addresses a server (or name) needs before it is judged.
    pub min_answers: u64,
    /// Answers a client needs before it counts as stuck.
    pub stuck_min_answers: u64,
}

impl Default for RotationSettings {
    fn default() -> Self {
        RotationSettings {
            v4_prefix: 24,
            v6_prefix: 64,
            min_answers: 10,
            stuck_min_answers: 3,
        }
    }
}

/// Share of eligible answers with the client's local member first that means netmask ordering
/// (it must also be far beyond chance: see [`NetmaskOrdering::p_value`]).
const NETMASK_SHARE: f64 = 0.9;

/// How first positions spread over the candidates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Balance {
    /// Answers counted (sum of first positions over the candidates).
    pub answers: u64,
    /// Per candidate: how often it came first, in candidate order.
    pub first: Vec<u64>,
    /// Chi-square statistic against a uniform spread (None with fewer than 2 candidates or no
    /// answers).
    pub chi_square: Option<f64>,
    /// Degrees of freedom (candidates - 1).
    pub degrees_of_freedom: u64,
    /// Probability of a spread at least this uneven if first positions were uniform: from the
    /// chi-square distribution when every candidate expects at least five answers; otherwise a
    /// Monte Carlo estimate for the overall balance and None for a server's or a subnet's.
    pub p_value: Option<f64>,
    /// True when `p_value` is a Monte Carlo estimate.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub monte_carlo: bool,
}

impl Balance {
    /// The balance of `first` counts (looked up per candidate); `monte_carlo`: estimate the
    /// p-value by Monte Carlo where the chi-square approximation does not hold.
    pub fn of(candidates: &[IpAddr], first: impl Fn(&IpAddr) -> u64, monte_carlo: bool) -> Balance {
        let counts: Vec<u64> = candidates.iter().map(first).collect();
        let test = uniformity(&counts, monte_carlo);
        Balance {
            answers: counts.iter().sum(),
            chi_square: test.map(|t| round(t.statistic, 3)),
            degrees_of_freedom: test.map_or(0, |t| t.degrees_of_freedom),
            p_value: test.and_then(|t| t.p_value),
            monte_carlo: test.is_some_and(|t| t.monte_carlo),
            first: counts,
        }
    }
}

/// A client subnet and the balance its (stub) clients saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubnetBalance {
    /// The subnet, e.g. `10.1.2.0/24`.
    pub subnet: String,
    /// Clients in it.
    pub clients: u64,
    /// Their first positions.
    pub balance: Balance,
}

/// A DNS server and the balance of its answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerBalance {
    /// The server.
    pub server: IpAddr,
    /// Its answers with several addresses and their first positions.
    pub balance: Balance,
    /// The one address it always put first, when it never rotated (judged from
    /// [`RotationSettings::min_answers`] answers on).
    pub never_rotates: Option<IpAddr>,
}

/// Netmask ordering seen in the answers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NetmaskOrdering {
    /// Answers to clients that share a subnet with some (not all) candidates.
    pub eligible_answers: u64,
    /// Of those, answers whose first address was in the client's subnet.
    pub local_first: u64,
    /// The probability of at least this many local members first if first positions were
    /// uniform (binomial, at the largest local share any of these clients had).
    pub p_value: f64,
    /// True when local-first is the rule (at least 90%, from `min_answers` eligible answers)
    /// and far beyond chance (`p_value` below the significance level).
    pub detected: bool,
}

/// The rotation view of one name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rotation {
    /// The addresses judged: expected members, or every observed address in discovery.
    pub candidates: Vec<IpAddr>,
    /// Over all answers.
    pub overall: Balance,
    /// Per DNS server.
    pub servers: Vec<ServerBalance>,
    /// Per client subnet (stub clients only).
    pub subnets: Vec<SubnetBalance>,
    /// Candidates present in at least `min_answers` answers but never first.
    pub never_first: Vec<IpAddr>,
    /// Per address: the stub clients that never received another address first (with at
    /// least [`RotationSettings::stuck_min_answers`] answers holding several addresses).
    pub stuck_clients: BTreeMap<IpAddr, Vec<IpAddr>>,
    /// Netmask ordering.
    pub netmask: NetmaskOrdering,
}

/// A network: IPv4 or not, masked bits, prefix length (IPv6 subnets sort before IPv4 ones).
type Network = (bool, u128, u8);

/// The network of `address` under the settings' prefixes.
fn network_of(address: &IpAddr, settings: &RotationSettings) -> Network {
    let (bits, width, prefix) = match address {
        IpAddr::V4(v4) => (u128::from(u32::from(*v4)), 32, settings.v4_prefix.min(32)),
        IpAddr::V6(v6) => (u128::from(*v6), 128, settings.v6_prefix.min(128)),
    };
    let host_bits = u32::from(width - prefix);
    let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
    (address.is_ipv4(), bits & mask, prefix)
}

/// The subnet of `address` under the settings' prefixes, as text (e.g. `10.1.2.0/24`).
pub fn subnet_of(address: &IpAddr, settings: &RotationSettings) -> String {
    subnet_text(network_of(address, settings))
}

fn subnet_text((ipv4, network, prefix): Network) -> String {
    let network: IpAddr = if ipv4 {
        std::net::Ipv4Addr::from(network as u32).into()
    } else {
        std::net::Ipv6Addr::from(network).into()
    };
    format!("{network}/{prefix}")
}

fn same_subnet(a: &IpAddr, b: &IpAddr, settings: &RotationSettings) -> bool {
    network_of(a, settings) == network_of(b, settings)
}

/// Computes the rotation view of `facts`. `members`: the expected members (empty in
/// discovery: every observed address is a candidate). `resolvers`: addresses that also answer
/// as DNS servers; their answers are a resolver's upstream view, not a stub client's.
pub fn rotation(
    facts: &NameFacts,
    members: &[IpAddr],
    resolvers: &BTreeSet<IpAddr>,
    settings: &RotationSettings,
) -> Rotation {
    let candidates: Vec<IpAddr> = if members.is_empty() {
        facts.addresses.keys().copied().collect()
    } else {
        members.to_vec()
    };
    // Rotation is judged on answers with several addresses, as the servers counted them.
    let overall = Balance::of(
        &candidates,
        |c| facts.servers.values().filter_map(|s| s.first.get(c)).sum(),
        true,
    );
    let servers = facts
        .servers
        .iter()
        .filter(|(_, s)| s.multi_answers > 0)
        .map(|(server, s)| {
            let only_first = (s.first.len() == 1 && s.multi_answers >= settings.min_answers)
                .then(|| s.first.keys().next().copied())
                .flatten();
            ServerBalance {
                server: *server,
                balance: Balance::of(&candidates, |c| s.first.get(c).copied().unwrap_or(0), false),
                never_rotates: only_first,
            }
        })
        .collect();
    let stubs = || {
        facts
            .clients
            .iter()
            .filter(|(client, _)| !resolvers.contains(client))
    };
    // Per client subnet: clients, and how often each address came first.
    let mut subnet_first: BTreeMap<Network, (u64, BTreeMap<IpAddr, u64>)> = BTreeMap::new();
    let mut stuck_clients: BTreeMap<IpAddr, Vec<IpAddr>> = BTreeMap::new();
    let mut netmask = NetmaskOrdering {
        eligible_answers: 0,
        local_first: 0,
        p_value: 1.0,
        detected: false,
    };
    let mut local_share = 0.0f64;
    for (client, c) in stubs() {
        let (count, first) = subnet_first
            .entry(network_of(client, settings))
            .or_default();
        *count += 1;
        for (address, placement) in &c.addresses {
            *first.entry(*address).or_default() += placement.first;
        }
        let local: Vec<&IpAddr> = candidates
            .iter()
            .filter(|m| same_subnet(m, client, settings))
            .collect();
        if !local.is_empty() && local.len() < candidates.len() {
            local_share = local_share.max(local.len() as f64 / candidates.len() as f64);
            netmask.eligible_answers += c.multi_answers;
            netmask.local_first += local
                .iter()
                .filter_map(|m| c.addresses.get(m))
                .map(|p| p.first)
                .sum::<u64>()
                .min(c.multi_answers);
        }
        let mut ever_first = c.addresses.iter().filter(|(_, p)| p.first > 0);
        if let (Some((member, _)), None) = (ever_first.next(), ever_first.next()) {
            if c.multi_answers >= settings.stuck_min_answers {
                stuck_clients.entry(*member).or_default().push(*client);
            }
        }
    }
    netmask.p_value = binomial_at_least(netmask.local_first, netmask.eligible_answers, local_share);
    netmask.detected = netmask.eligible_answers >= settings.min_answers
        && netmask.local_first as f64 >= NETMASK_SHARE * netmask.eligible_answers as f64
        && netmask.p_value < ALPHA;
    let subnets = subnet_first
        .into_iter()
        .map(|(subnet, (clients, first))| SubnetBalance {
            subnet: subnet_text(subnet),
            clients,
            balance: Balance::of(&candidates, |c| first.get(c).copied().unwrap_or(0), false),
        })
        .collect();
    let never_first = candidates
        .iter()
        .filter(|c| {
            facts
                .addresses
                .get(c)
                .is_some_and(|p| p.present >= settings.min_answers && p.first == 0)
        })
        .copied()
        .collect();
    Rotation {
        candidates,
        overall,
        servers,
        subnets,
        never_first,
        stuck_clients,
        netmask,
    }
}

fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{ClientFacts, Placement, Placements, ServerFacts};

    fn address(last: u8) -> IpAddr {
        IpAddr::from([10, 10, 10, last])
    }

    fn client_with(first_on: &[(u8, u64)], responses: u64) -> ClientFacts {
        ClientFacts {
            responses,
            multi_answers: responses,
            addresses: first_on
                .iter()
                .map(|(m, first)| {
                    (
                        address(*m),
                        Placement {
                            present: responses,
                            first: *first,
                        },
                    )
                })
                .collect(),
            iterative_responses: 0,
        }
    }

    #[test]
    fn finds_stuck_clients_never_first_and_non_rotating_servers() {
        let mut facts = NameFacts::default();
        let server = IpAddr::from([192, 0, 2, 53]);
        facts.servers.insert(
            server,
            ServerFacts {
                responses: 20,
                multi_answers: 20,
                first: BTreeMap::from([(address(1), 20)]),
                ..Default::default()
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
        let stuck = IpAddr::from([172, 16, 0, 1]);
        *facts.clients.entry(stuck) = client_with(&[(1, 20), (2, 0)], 20);
        let members = [address(1), address(2)];
        let view = rotation(
            &facts,
            &members,
            &BTreeSet::new(),
            &RotationSettings::default(),
        );
        assert_eq!(view.servers[0].never_rotates, Some(address(1)));
        assert_eq!(view.never_first, [address(2)]);
        assert_eq!(view.stuck_clients[&address(1)], [stuck]);
        assert!(view.overall.p_value.is_some_and(|p| p < 1e-5));
        assert!(!view.netmask.detected);
        assert_eq!(view.subnets[0].subnet, "172.16.0.0/24");
        // The same client, known as a resolver, is not a stub: no stuck clients, no subnets.
        let resolvers = BTreeSet::from([stuck]);
        let view = rotation(&facts, &members, &resolvers, &RotationSettings::default());
        assert!(view.stuck_clients.is_empty() && view.subnets.is_empty());
    }

    #[test]
    fn recognises_netmask_ordering() {
        let mut facts = NameFacts::default();
        // Clients in 10.10.10.0/24 always get 10.10.10.1 first; member 10.20.0.1 elsewhere.
        let members = [address(1), IpAddr::from([10, 20, 0, 1])];
        for host in 100..110 {
            *facts.clients.entry(address(host)) = client_with(&[(1, 5)], 5);
        }
        let view = rotation(
            &facts,
            &members,
            &BTreeSet::new(),
            &RotationSettings::default(),
        );
        assert_eq!(view.netmask.eligible_answers, 50);
        assert_eq!(view.netmask.local_first, 50);
        assert!(view.netmask.detected);
    }

    #[test]
    fn subnets_follow_the_configured_prefixes() {
        let settings = RotationSettings {
            v4_prefix: 16,
            v6_prefix: 48,
            ..Default::default()
        };
        assert_eq!(subnet_of(&address(7), &settings), "10.10.0.0/16");
        let v6: IpAddr = "2001:db8:1:2::7".parse().unwrap();
        assert_eq!(subnet_of(&v6, &settings), "2001:db8:1::/48");
        let all = RotationSettings {
            v4_prefix: 0,
            ..settings
        };
        assert_eq!(subnet_of(&address(7), &all), "0.0.0.0/0");
    }
}
