//! Did clients use what they got? Where the capture also holds the clients' TCP connection
//! attempts (SYNs) to pool members, each attempt is matched with the client's most recent
//! answer that held that member (within the answer's TTL, at least [`MIN_WINDOW_NS`]), and
//! counted per member with the position the member had in that answer.
//! [`RecentAnswers`] is the sequential lookup state (bounded); [`MemberConnections`] is the
//! mergeable result kept per name.

use super::caps::{insert_lowest, keep_lowest_keys};
use super::client_map::ClientMap;
use crate::keys::HashedClient;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

/// Shortest time after an answer in which a connection still counts as following it.
pub const MIN_WINDOW_NS: u64 = 30_000_000_000;
/// Clients whose recent answers are remembered; answers to further clients are not.
pub const MAX_REMEMBERED_CLIENTS: usize = 65_536;
/// Answers remembered per client (one per watched name, the most recent).
const MAX_ANSWERS_PER_CLIENT: usize = 8;
/// Positions counted one by one; later positions share the last slot.
pub const MAX_POSITIONS: usize = 16;
/// Distinct clients remembered per member.
pub const MAX_CLIENTS_PER_MEMBER: usize = 4096;

/// Connections to one member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberConnections {
    /// Connection attempts that followed an answer holding this member.
    pub after_answer: u64,
    /// Of those, by the member's position in that answer (0 = first; the last slot collects
    /// positions from [`MAX_POSITIONS`] - 1 on).
    pub by_position: Vec<u64>,
    /// Attempts with no such answer in the capture (cached from before it, or hard-coded).
    pub without_answer: u64,
    /// Distinct clients that connected (the lowest [`MAX_CLIENTS_PER_MEMBER`] addresses).
    pub clients: BTreeSet<IpAddr>,
}

impl MemberConnections {
    fn add_client(&mut self, client: IpAddr) {
        insert_lowest(&mut self.clients, client, MAX_CLIENTS_PER_MEMBER);
    }

    /// Records an attempt that followed an answer where the member was at `position`.
    pub fn record_after_answer(&mut self, client: IpAddr, position: usize) {
        self.after_answer += 1;
        let slot = position.min(MAX_POSITIONS - 1);
        if self.by_position.len() <= slot {
            self.by_position.resize(slot + 1, 0);
        }
        self.by_position[slot] += 1;
        self.add_client(client);
    }

    /// Records an attempt without a preceding answer.
    pub fn record_without_answer(&mut self, client: IpAddr) {
        self.without_answer += 1;
        self.add_client(client);
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: MemberConnections) {
        let MemberConnections {
            after_answer,
            by_position,
            without_answer,
            clients,
        } = other;
        self.after_answer += after_answer;
        self.without_answer += without_answer;
        if self.by_position.len() < by_position.len() {
            self.by_position.resize(by_position.len(), 0);
        }
        for (slot, count) in by_position.into_iter().enumerate() {
            self.by_position[slot] += count;
        }
        self.clients.extend(clients);
        keep_lowest_keys(&mut self.clients, MAX_CLIENTS_PER_MEMBER);
    }
}

/// Adds `from` into `into`, member by member.
pub fn merge_members(
    into: &mut BTreeMap<IpAddr, MemberConnections>,
    from: BTreeMap<IpAddr, MemberConnections>,
) {
    for (member, connections) in from {
        into.entry(member).or_default().merge(connections);
    }
}

/// Leading addresses of an answer remembered (a connection to a later one counts as without
/// answer).
const REMEMBERED_POSITIONS: usize = MAX_POSITIONS;
/// Addresses of an answer kept inline: a pool's, in a slot small enough that the table probed
/// on every watched response stays dense. A longer answer moves its slot's addresses to the
/// heap once; the slot keeps that room when it is overwritten.
const INLINE_ADDRESSES: usize = 5;

#[derive(Debug, Clone)]
struct RecentAnswer {
    name: Arc<str>,
    ts_ns: u64,
    valid_ns: u64,
    addresses: SmallVec<[IpAddr; INLINE_ADDRESSES]>,
}

/// The answers one client received: the first name's inline (most clients ask for one pool
/// name, and the table is probed on every watched response, so one indirection less counts),
/// further names' in a vector.
#[derive(Debug, Default)]
struct ClientAnswers {
    first: Option<RecentAnswer>,
    more: Vec<RecentAnswer>,
}

impl ClientAnswers {
    fn iter(&self) -> impl Iterator<Item = &RecentAnswer> {
        self.first.iter().chain(&self.more)
    }

    /// The slot for `name`: its own, a free one, or the oldest.
    fn slot_for(&mut self, name: &Arc<str>, ts_ns: u64) -> &mut RecentAnswer {
        let same_name = self
            .iter()
            .position(|a| Arc::ptr_eq(&a.name, name) || a.name == *name);
        let count = self.first.iter().len() + self.more.len();
        let index = match same_name {
            Some(index) => index,
            None if count < MAX_ANSWERS_PER_CLIENT => {
                let empty = RecentAnswer {
                    name: name.clone(),
                    ts_ns,
                    valid_ns: 0,
                    addresses: SmallVec::new(),
                };
                match self.first {
                    None => self.first = Some(empty),
                    Some(_) => self.more.push(empty),
                }
                count
            }
            None => (0..count)
                .min_by_key(|&i| self.iter().nth(i).map_or(0, |a| a.ts_ns))
                .unwrap_or(0),
        };
        match (index, &mut self.first) {
            (0, Some(first)) => first,
            _ => &mut self.more[index - 1],
        }
    }
}

/// The most recent answers each client received, for matching its connection attempts.
#[derive(Default)]
pub struct RecentAnswers {
    by_client: ClientMap<ClientAnswers>,
    /// Answers not remembered because [`MAX_REMEMBERED_CLIENTS`] was reached.
    pub untracked: u64,
}

impl std::fmt::Debug for RecentAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentAnswers")
            .field("clients", &self.by_client.len())
            .field("untracked", &self.untracked)
            .finish()
    }
}

impl RecentAnswers {
    /// Asks the CPU to load `client`'s answers into its cache (see [`ClientMap::prefetch`]).
    pub fn prefetch(&self, client: HashedClient) {
        self.by_client.prefetch(client);
    }

    /// Remembers that `client` received `addresses` (answer order; the first
    /// [`REMEMBERED_POSITIONS`]) for `name` at `ts_ns`.
    pub fn remember(
        &mut self,
        client: HashedClient,
        name: &Arc<str>,
        ts_ns: u64,
        ttl_s: u32,
        addresses: impl IntoIterator<Item = IpAddr>,
    ) {
        let Some(answers) = self.by_client.tracked(client, MAX_REMEMBERED_CLIENTS) else {
            self.untracked += 1;
            return;
        };
        // The slot is overwritten in place.
        let answer = answers.slot_for(name, ts_ns);
        if !Arc::ptr_eq(&answer.name, name) {
            answer.name = name.clone();
        }
        answer.ts_ns = ts_ns;
        answer.valid_ns = (u64::from(ttl_s) * 1_000_000_000).max(MIN_WINDOW_NS);
        answer.addresses.clear();
        answer
            .addresses
            .extend(addresses.into_iter().take(REMEMBERED_POSITIONS));
    }

    /// The most recent answer `client` received that held `target` and is still valid at
    /// `ts_ns`: its name and the target's position in it.
    pub fn lookup(
        &self,
        client: &IpAddr,
        target: &IpAddr,
        ts_ns: u64,
    ) -> Option<(Arc<str>, usize)> {
        self.by_client
            .get(client)?
            .iter()
            .filter(|a| a.ts_ns <= ts_ns && ts_ns - a.ts_ns <= a.valid_ns)
            .filter_map(|a| Some((a, a.addresses.iter().position(|x| x == target)?)))
            .max_by_key(|(a, _)| a.ts_ns)
            .map(|(a, position)| (a.name.clone(), position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 10, 10, last])
    }

    #[test]
    fn a_connection_matches_the_latest_valid_answer_holding_the_member() {
        let mut recent = RecentAnswers::default();
        let (pool, other): (Arc<str>, Arc<str>) = ("pool".into(), "other".into());
        let client = IpAddr::from([172, 16, 0, 9]);
        let hashed = HashedClient::new(client);
        recent.prefetch(hashed); // on an empty table, and below on a filled one: a hint only
        recent.remember(hashed, &pool, 1_000, 60, [ip(2), ip(1)]);
        recent.remember(hashed, &other, 2_000, 60, [ip(1)]);
        recent.prefetch(hashed);
        recent.prefetch(HashedClient::new(IpAddr::from([172, 16, 0, 1])));
        assert_eq!(
            recent.lookup(&client, &ip(2), 5_000),
            Some((pool.clone(), 0))
        );
        assert_eq!(recent.lookup(&client, &ip(1), 5_000), Some((other, 0)));
        // After the TTL (60 s) the answer no longer explains a connection.
        assert_eq!(recent.lookup(&client, &ip(2), 62_000_000_000), None);
        assert_eq!(
            recent.lookup(&IpAddr::from([172, 16, 0, 1]), &ip(2), 5_000),
            None
        );
    }

    #[test]
    fn a_client_keeps_the_latest_answer_per_name_and_drops_the_oldest_name() {
        let mut recent = RecentAnswers::default();
        let client = IpAddr::from([172, 16, 0, 9]);
        let hashed = HashedClient::new(client);
        let names: Vec<Arc<str>> = (0..=MAX_ANSWERS_PER_CLIENT)
            .map(|n| format!("n{n}").into())
            .collect();
        for (n, name) in names.iter().enumerate() {
            recent.remember(hashed, name, 1_000 + n as u64, 60, [ip(n as u8)]);
        }
        // One name more than fits: the oldest (n0) made room for the newest.
        assert_eq!(recent.lookup(&client, &ip(0), 5_000), None);
        for (n, name) in names.iter().enumerate().skip(1) {
            assert_eq!(
                recent.lookup(&client, &ip(n as u8), 5_000),
                Some((name.clone(), 0))
            );
        }
        // A newer answer for a known name replaces its older one in place.
        recent.remember(hashed, &names[3], 3_000, 60, [ip(40), ip(3)]);
        assert_eq!(
            recent.lookup(&client, &ip(3), 5_000),
            Some((names[3].clone(), 1))
        );
    }

    #[test]
    fn member_connections_merge_by_position() {
        let client = IpAddr::from([172, 16, 0, 9]);
        let mut a = MemberConnections::default();
        a.record_after_answer(client, 0);
        a.record_after_answer(client, 40);
        let mut b = MemberConnections::default();
        b.record_without_answer(IpAddr::from([172, 16, 0, 10]));
        b.record_after_answer(client, 1);
        let mut ab = a.clone();
        ab.merge(b.clone());
        let mut ba = b;
        ba.merge(a);
        assert_eq!(ab, ba);
        assert_eq!(ab.after_answer, 3);
        assert_eq!(ab.by_position[0], 1);
        assert_eq!(ab.by_position[1], 1);
        assert_eq!(ab.by_position[MAX_POSITIONS - 1], 1);
        assert_eq!(ab.clients.len(), 2);
    }
}
