//! DNS servers that answered nothing: per server, how many of the tracked queries sent to it
//! were answered, timed out or still waited when the capture ended, and from which clients;
//! and the findings that name a server that answered none of them. Tallied per finished
//! transaction (one map lookup), merged exactly across shards and runs; the findings are judged
//! on the merged analysis. No I/O, no wording.

use super::caps::{insert_lowest, keep_lowest, keep_lowest_keys, lowest_entry};
use super::closed::Closed;
use super::derived::{DerivedFinding, Detail};
use super::occurrences::MAX_NAMED_PEERS;
use super::{Analysis, LatencyHistogram, Status};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// DNS servers tallied (the lowest addresses); transactions with further servers are counted
/// in [`ServerTallies::untracked_transactions`].
pub const MAX_TALLIED_SERVERS: usize = 1024;
/// Fewest silent queries from a single client that make a silent server a finding.
pub const MIN_SILENT_QUERIES: u64 = 3;
/// Fewest clients whose queries a server left silent that make it a finding.
pub const MIN_SILENT_CLIENTS: usize = 2;
/// A query still waiting at the capture's end counts once it waited this many times the 99th
/// percentile latency of the servers that answered...
pub const LATENCY_FACTOR: u64 = 10;
/// ...and at least this long (ns).
pub const MIN_PENDING_WAIT_NS: u64 = 20_000_000;

/// How one DNS server fared with the tracked queries sent to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerTally {
    /// Responses it sent (answers, and responses without their query or repeated).
    pub responses: u64,
    /// Queries that got no response within the query timeout.
    pub unanswered: u64,
    /// Queries still waiting (younger than the query timeout) when the capture ended.
    pub pending: u64,
    /// The longest a pending query had waited when the capture ended (ns).
    pub longest_pending_wait_ns: u64,
    /// Clients of the unanswered and pending queries (the lowest [`MAX_NAMED_PEERS`]).
    pub silent_clients: BTreeSet<IpAddr>,
}

/// Per DNS server tallies, the lowest [`MAX_TALLIED_SERVERS`] addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerTallies {
    /// Tally per server address.
    pub servers: BTreeMap<IpAddr, ServerTally>,
    /// Transactions with servers beyond the lowest [`MAX_TALLIED_SERVERS`] addresses.
    pub untracked_transactions: u64,
}

impl ServerTally {
    fn transactions(&self) -> u64 {
        self.responses + self.unanswered + self.pending
    }

    /// Queries it left without a response (timed out or pending).
    pub fn silent_queries(&self) -> u64 {
        self.unanswered + self.pending
    }

    /// Adds `other` into `self` (every field: a field left out fails to compile).
    fn merge(&mut self, other: ServerTally) {
        let ServerTally {
            responses,
            unanswered,
            pending,
            longest_pending_wait_ns,
            silent_clients,
        } = other;
        self.responses += responses;
        self.unanswered += unanswered;
        self.pending += pending;
        self.longest_pending_wait_ns = self.longest_pending_wait_ns.max(longest_pending_wait_ns);
        self.silent_clients.extend(silent_clients);
        keep_lowest_keys(&mut self.silent_clients, MAX_NAMED_PEERS);
    }
}

/// What a finished transaction says about its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerOutcome {
    /// It sent a response (an answer, or a response without its query or repeated).
    Responded,
    /// The query got no response within the query timeout.
    TimedOut,
    /// The query was still waiting when the capture ended, for this long (ns).
    StillWaiting(u64),
}

impl ServerOutcome {
    /// The outcome of `transaction` (None: dropped at the pairing cap, so unknown).
    /// `capture_end_ns`: the capture's end, known once it ended (pending queries are closed
    /// only then).
    pub fn of(transaction: &Closed<'_>, capture_end_ns: Option<u64>) -> Option<Self> {
        Some(match transaction.status {
            Status::Answered | Status::Orphan | Status::Duplicate | Status::Unpaired => {
                ServerOutcome::Responded
            }
            Status::Unanswered => ServerOutcome::TimedOut,
            Status::Pending => {
                let asked_ns = transaction.query.map_or(0, |(ts_ns, _)| ts_ns);
                let end_ns = capture_end_ns.unwrap_or(asked_ns);
                ServerOutcome::StillWaiting(end_ns.saturating_sub(asked_ns))
            }
            Status::Evicted => return None,
        })
    }
}

impl ServerTallies {
    /// Tallies a finished transaction (see [`ServerOutcome::of`]).
    pub fn record_transaction(&mut self, transaction: &Closed<'_>, capture_end_ns: Option<u64>) {
        if let Some(outcome) = ServerOutcome::of(transaction, capture_end_ns) {
            let (server, client) = (transaction.server, transaction.client);
            self.record(server, client, outcome);
        }
    }

    /// Tallies one query `client` sent to `server`, by its outcome.
    pub fn record(&mut self, server: IpAddr, client: IpAddr, outcome: ServerOutcome) {
        let untracked = &mut self.untracked_transactions;
        let Some(tally) = lowest_entry(&mut self.servers, server, MAX_TALLIED_SERVERS, |evicted| {
            *untracked += evicted.transactions();
        }) else {
            *untracked += 1;
            return;
        };
        match outcome {
            ServerOutcome::Responded => {
                tally.responses += 1;
                return;
            }
            ServerOutcome::TimedOut => tally.unanswered += 1,
            ServerOutcome::StillWaiting(waited_ns) => {
                tally.pending += 1;
                tally.longest_pending_wait_ns = tally.longest_pending_wait_ns.max(waited_ns);
            }
        }
        insert_lowest(&mut tally.silent_clients, client, MAX_NAMED_PEERS);
    }

    /// Adds `other` into `self` (every field: a field left out fails to compile).
    pub fn merge(&mut self, other: ServerTallies) {
        let ServerTallies {
            servers,
            untracked_transactions,
        } = other;
        self.untracked_transactions += untracked_transactions;
        for (server, tally) in servers {
            self.servers.entry(server).or_default().merge(tally);
        }
        let untracked = &mut self.untracked_transactions;
        keep_lowest(&mut self.servers, MAX_TALLIED_SERVERS, |evicted| {
            *untracked += evicted.transactions();
        });
    }
}

/// A DNS server that answered none of the queries sent to it.
#[derive(Debug, Clone, PartialEq)]
pub struct SilentServer {
    /// The server.
    pub server: IpAddr,
    /// Queries it left without a response.
    pub queries: u64,
    /// Clients that sent them (the lowest [`MAX_NAMED_PEERS`]).
    pub clients: Vec<IpAddr>,
    /// Some query waited longer than the query timeout (otherwise the capture ended first).
    pub timed_out: bool,
    /// The longest a query still waiting at the capture's end had waited (ns).
    pub longest_pending_wait_ns: u64,
    /// How long a query had to wait to count when the capture ended first (ns).
    pub pending_threshold_ns: u64,
}

impl SilentServer {
    /// The finding about it: about no name, its subject the server.
    pub fn finding(self) -> DerivedFinding {
        let (server, count, clients) = (self.server, self.queries, self.clients.clone());
        let mut finding =
            DerivedFinding::new("", server.to_string(), count, Detail::SilentServer(self));
        finding.servers = vec![server];
        finding.clients = clients;
        finding
    }
}

/// The servers of `analysis` that got queries from at least [`MIN_SILENT_CLIENTS`] clients (or
/// at least [`MIN_SILENT_QUERIES`] queries) and answered none: those whose oldest query waited
/// longer than the query timeout, and those whose oldest query was still waiting when the
/// capture ended, after [`LATENCY_FACTOR`] times the 99th percentile latency of the servers that
/// answered and at least [`MIN_PENDING_WAIT_NS`]. In address order.
pub fn silent_servers(analysis: &Analysis) -> Vec<SilentServer> {
    let mut answered = LatencyHistogram::default();
    for facts in analysis.names.values() {
        answered.merge(&facts.latency);
    }
    let p99_ns = answered.quantile_ns(0.99).unwrap_or(0);
    let pending_threshold_ns = p99_ns
        .saturating_mul(LATENCY_FACTOR)
        .max(MIN_PENDING_WAIT_NS);
    analysis
        .servers
        .servers
        .iter()
        .filter(|(_, tally)| {
            tally.responses == 0
                && (tally.silent_queries() >= MIN_SILENT_QUERIES
                    || tally.silent_clients.len() >= MIN_SILENT_CLIENTS)
                && (tally.unanswered > 0 || tally.longest_pending_wait_ns > pending_threshold_ns)
        })
        .map(|(&server, tally)| SilentServer {
            server,
            queries: tally.silent_queries(),
            clients: tally.silent_clients.iter().copied().collect(),
            timed_out: tally.unanswered > 0,
            longest_pending_wait_ns: tally.longest_pending_wait_ns,
            pending_threshold_ns,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ServerOutcome::*;

    fn server(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn tallies(queries: &[(ServerOutcome, u8, u8)]) -> ServerTallies {
        let mut tallies = ServerTallies::default();
        for &(outcome, client, to) in queries {
            tallies.record(server(to), server(client), outcome);
        }
        tallies
    }

    fn judged(tallies: ServerTallies, latency_ns: &[u64]) -> Vec<SilentServer> {
        let mut analysis = Analysis {
            servers: tallies,
            ..Analysis::default()
        };
        let mut facts = crate::analyze::NameFacts::named("a.example".into());
        for &latency in latency_ns {
            facts.latency.record(latency);
        }
        analysis.names.insert("a.example".into(), facts);
        silent_servers(&analysis)
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn a_server_that_timed_out_two_clients_is_named_and_one_that_answered_once_is_not() {
        let found = judged(
            tallies(&[
                (TimedOut, 10, 55),
                (TimedOut, 11, 55),
                (Responded, 10, 53),
                (TimedOut, 10, 53),
                (TimedOut, 11, 53),
                (TimedOut, 12, 53),
            ]),
            &[MS],
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].server, found[0].queries, found[0].timed_out),
            (server(55), 2, true)
        );
        assert_eq!(found[0].clients, vec![server(10), server(11)]);
    }

    #[test]
    fn two_queries_from_one_client_are_not_enough_three_are() {
        let two = tallies(&[(TimedOut, 10, 55), (TimedOut, 10, 55)]);
        assert!(judged(two.clone(), &[]).is_empty());
        let mut three = two;
        three.merge(tallies(&[(TimedOut, 10, 55)]));
        assert_eq!(judged(three, &[]).len(), 1);
    }

    #[test]
    fn queries_pending_at_the_end_count_after_ten_times_the_p99_latency_and_20_ms() {
        let pending = |waited_ns: u64| {
            tallies(&[(StillWaiting(waited_ns), 10, 55), (StillWaiting(1), 11, 55)])
        };
        // Waited 30 ms: past 20 ms when the others answer within 1 ms, not when they take 5 ms.
        let found = judged(pending(30 * MS), &[MS]);
        assert_eq!(found.len(), 1);
        assert!(!found[0].timed_out);
        assert_eq!(
            (
                found[0].longest_pending_wait_ns,
                found[0].pending_threshold_ns
            ),
            (30 * MS, 20 * MS)
        );
        assert!(judged(pending(30 * MS), &[5 * MS]).is_empty());
        // Waited 10 ms: under the 20 ms floor, however fast the others are.
        assert!(judged(pending(10 * MS), &[1_000]).is_empty());
    }

    #[test]
    fn tallies_merge_to_the_same_whatever_the_split() {
        let all = [
            (TimedOut, 10, 55),
            (StillWaiting(45 * MS), 11, 55),
            (Responded, 12, 53),
            (StillWaiting(2 * MS), 13, 54),
            (StillWaiting(7 * MS), 14, 54),
        ];
        let whole = tallies(&all);
        for cut in 0..=all.len() {
            let mut merged = tallies(&all[cut..]);
            merged.merge(tallies(&all[..cut]));
            assert_eq!(merged, whole, "cut at {cut}");
        }
        assert_eq!(whole.servers[&server(55)].longest_pending_wait_ns, 45 * MS);
        assert_eq!(whole.servers[&server(54)].silent_queries(), 2);
    }

    #[test]
    fn servers_beyond_the_cap_are_counted_not_kept() {
        let mut tallies = ServerTallies::default();
        for index in 0..=MAX_TALLIED_SERVERS as u32 {
            let address = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + index));
            tallies.record(address, server(1), TimedOut);
        }
        assert_eq!(tallies.servers.len(), MAX_TALLIED_SERVERS);
        assert_eq!(tallies.untracked_transactions, 1);
    }
}
