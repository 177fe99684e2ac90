//! The per-client facts of one name: a hash table, because every response looks its client up
//! among thousands (a tree search there was a dozen address compares and as many cache misses
//! on the analysing thread), seen in address order wherever it is read, reported or saved, so
//! that output never depends on the table's layout.

use super::client_map::ClientMap;
use super::names::ClientFacts;
use crate::keys::HashedClient;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// Clients of one name with what each received.
#[derive(Clone, Default)]
pub struct ClientTable {
    clients: ClientMap<ClientFacts>,
    /// The addresses held in order, built when a full table first meets a new client and kept
    /// in step while it stays full, so each eviction finds the highest without a scan (an
    /// index: cleared whenever clients are added another way).
    order_when_full: Option<BTreeSet<IpAddr>>,
}

impl ClientTable {
    /// Clients held.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// True when no client is held.
    pub fn is_empty(&self) -> bool {
        self.clients.len() == 0
    }

    /// The facts of `client`, created if it is among the lowest `cap` addresses seen; a held
    /// client it displaces goes to `evicted` with its facts. `None`: `client` is higher than
    /// the `cap` clients held (see [`super::caps`]).
    pub fn lowest_entry(
        &mut self,
        client: HashedClient,
        cap: usize,
        evicted: impl FnOnce(ClientFacts),
    ) -> Option<&mut ClientFacts> {
        if self.clients.len() >= cap && self.clients.get(&client.address()).is_none() {
            let clients = &self.clients;
            let order = self
                .order_when_full
                .get_or_insert_with(|| clients.iter().map(|(held, _)| *held).collect());
            let highest = order.last().copied()?;
            if client.address() >= highest {
                return None;
            }
            order.pop_last();
            order.insert(client.address());
            if let Some(facts) = self.clients.remove(&highest) {
                evicted(facts);
            }
        }
        self.clients.tracked(client, usize::MAX)
    }

    /// Keeps the lowest `cap` clients, handing the facts of the others to `evicted`.
    pub fn keep_lowest(&mut self, cap: usize, mut evicted: impl FnMut(ClientFacts)) {
        if self.clients.len() <= cap {
            return;
        }
        // The lowest `cap` found by selection, not a sort: a merge of many shards' tables
        // does this once per shard.
        let mut held: Vec<(IpAddr, ClientFacts)> = std::mem::take(self).into_unordered().collect();
        held.select_nth_unstable_by_key(cap, |(client, _)| *client);
        held.drain(cap..).for_each(|(_, facts)| evicted(facts));
        *self = held.into_iter().collect();
    }

    /// The facts of `client`, created if missing (merging and tests; no cap).
    pub fn entry(&mut self, client: IpAddr) -> &mut ClientFacts {
        self.order_when_full = None;
        self.clients
            .tracked(HashedClient::new(client), usize::MAX)
            .expect("an uncapped table takes every client")
    }

    /// Asks the CPU to load `client`'s facts into its cache (see [`ClientMap::prefetch`]).
    pub fn prefetch(&self, client: HashedClient) {
        self.clients.prefetch(client);
    }

    /// Clients and their facts in address order.
    pub fn iter(&self) -> impl Iterator<Item = (&IpAddr, &ClientFacts)> {
        let mut sorted: Vec<_> = self.clients.iter().collect();
        sorted.sort_unstable_by_key(|(client, _)| **client);
        sorted.into_iter()
    }

    /// Client addresses in address order.
    pub fn keys(&self) -> impl Iterator<Item = &IpAddr> {
        self.iter().map(|(client, _)| client)
    }
}

impl ClientTable {
    /// Clients and their facts in the table's order (for merging, where order does not show).
    pub fn into_unordered(self) -> impl Iterator<Item = (IpAddr, ClientFacts)> {
        self.clients.into_iter()
    }
}

impl PartialEq for ClientTable {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .clients
                .iter()
                .all(|(client, facts)| other.clients.get(client) == Some(facts))
    }
}

impl Eq for ClientTable {}

impl IntoIterator for ClientTable {
    type Item = (IpAddr, ClientFacts);
    type IntoIter = std::vec::IntoIter<(IpAddr, ClientFacts)>;

    /// Clients and their facts in address order.
    fn into_iter(self) -> Self::IntoIter {
        let mut sorted: Vec<_> = self.clients.into_iter().collect();
        sorted.sort_unstable_by_key(|(client, _)| *client);
        sorted.into_iter()
    }
}

impl FromIterator<(IpAddr, ClientFacts)> for ClientTable {
    /// Collects clients; a client given twice keeps its last facts.
    fn from_iter<I: IntoIterator<Item = (IpAddr, ClientFacts)>>(iter: I) -> Self {
        let mut table = ClientTable::default();
        for (client, facts) in iter {
            *table.entry(client) = facts;
        }
        table
    }
}

/// Shown in address order too: equal tables print alike (differential tests compare prints).
impl std::fmt::Debug for ClientTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Saved as a map in address order (as the tree it replaced was).
impl Serialize for ClientTable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for ClientTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(HashMap::<IpAddr, ClientFacts>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn iterates_and_saves_in_address_order_whatever_the_insertion_order() {
        let mut table = ClientTable::default();
        for last in [9, 3, 200, 1, 77] {
            table.entry(client(last)).responses = u64::from(last);
        }
        let keys: Vec<IpAddr> = table.keys().copied().collect();
        assert_eq!(keys, [1, 3, 9, 77, 200].map(client));
        let owned: Vec<IpAddr> = table.clone().into_iter().map(|(c, _)| c).collect();
        assert_eq!(owned, keys);
        let saved = serde_json::to_string(&table).unwrap();
        assert!(saved.starts_with(r#"{"10.0.0.1":"#), "{saved}");
        let back: ClientTable = serde_json::from_str(&saved).unwrap();
        assert_eq!(back, table);
        // Built in another order (and another hash seed), it prints the same.
        let reversed: ClientTable = table.clone().into_iter().rev().collect();
        assert_eq!(format!("{reversed:?}"), format!("{table:?}"));
        assert!(format!("{table:?}").starts_with("{10.0.0.1: ClientFacts"));
    }

    #[test]
    fn holds_at_most_cap_clients_and_still_finds_the_held_ones() {
        let mut table = ClientTable::default();
        let hashed = |last| HashedClient::new(client(last));
        let mut evicted = Vec::new();
        let mut evict = |facts: ClientFacts| evicted.push(facts.responses);
        table
            .lowest_entry(hashed(3), 2, &mut evict)
            .unwrap()
            .responses += 3;
        assert!(table.lowest_entry(hashed(2), 2, &mut evict).is_some());
        assert!(table.lowest_entry(hashed(1), 2, &mut evict).is_some()); // evicts 3
        assert!(table.lowest_entry(hashed(3), 2, &mut evict).is_none());
        table
            .lowest_entry(hashed(1), 2, &mut evict)
            .unwrap()
            .responses += 1;
        assert_eq!(evicted, [3]);
        assert_eq!(table.len(), 2);
        assert_eq!(table.iter().next().unwrap().1.responses, 1);
    }
}
