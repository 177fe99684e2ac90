//! A hash table from client address to per-client state, with a cache prefetch: with thousands
//! of clients the tables outgrow the CPU cache, and the analysing thread (the bottleneck of a
//! watched-heavy run) waited on memory at the probe of every watched response. The pipeline
//! prefetches a client's slot a few messages before the analysis reaches it
//! ([`ClientMap::prefetch`]). Iteration order is the table's: callers that show or save
//! clients sort them.

use crate::keys::HashedClient;
use hashbrown::HashTable;
use std::net::IpAddr;

/// Per-client values keyed by client address.
#[derive(Clone)]
pub struct ClientMap<V> {
    slots: HashTable<(IpAddr, V)>,
}

impl<V> Default for ClientMap<V> {
    fn default() -> Self {
        ClientMap {
            slots: HashTable::new(),
        }
    }
}

impl<V> ClientMap<V> {
    /// Clients held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The value of `client`, if held.
    pub fn get(&self, client: &IpAddr) -> Option<&V> {
        let (_, value) = self
            .slots
            .find(HashedClient::hash_of(client), |(held, _)| held == client)?;
        Some(value)
    }

    /// The value of `client`, created (default) while fewer than `cap` clients are held;
    /// `None` for a further client.
    pub fn tracked(&mut self, client: HashedClient, cap: usize) -> Option<&mut V>
    where
        V: Default,
    {
        let held = self.slots.len();
        let entry = self.slots.entry(
            client.hash(),
            |(held, _)| *held == client.address(),
            |(held, _)| HashedClient::hash_of(held),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(slot) => Some(&mut slot.into_mut().1),
            hashbrown::hash_table::Entry::Vacant(slot) if held < cap => {
                Some(&mut slot.insert((client.address(), V::default())).into_mut().1)
            }
            hashbrown::hash_table::Entry::Vacant(_) => None,
        }
    }

    /// Removes `client` and returns its value, if held.
    pub fn remove(&mut self, client: &IpAddr) -> Option<V> {
        let slot = self
            .slots
            .find_entry(HashedClient::hash_of(client), |(held, _)| held == client)
            .ok()?;
        Some(slot.remove().0 .1)
    }

    /// Asks the CPU to load `client`'s slot into its cache; changes nothing. The slot is the
    /// first whose hash tag matches, almost always the client's own (no key is read here).
    pub fn prefetch(&self, client: HashedClient) {
        if let Some(slot) = self.slots.find(client.hash(), |_| true) {
            crate::prefetch::prefetch_value(slot);
        }
    }

    /// Clients and values in the table's order.
    pub fn iter(&self) -> impl Iterator<Item = (&IpAddr, &V)> {
        self.slots.iter().map(|(client, value)| (client, value))
    }
}

impl<V> IntoIterator for ClientMap<V> {
    type Item = (IpAddr, V);
    type IntoIter = hashbrown::hash_table::IntoIter<(IpAddr, V)>;

    /// Clients and values in the table's order.
    fn into_iter(self) -> Self::IntoIter {
        self.slots.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn hashed(last: u8) -> HashedClient {
        HashedClient::new(client(last))
    }

    #[test]
    fn holds_at_most_cap_clients_and_prefetching_changes_nothing() {
        let mut map: ClientMap<u64> = ClientMap::default();
        map.prefetch(hashed(1)); // empty table: no slot, no hint
        *map.tracked(hashed(1), 2).unwrap() += 5;
        *map.tracked(hashed(2), 2).unwrap() += 7;
        assert!(map.tracked(hashed(3), 2).is_none());
        for last in 0..=3 {
            map.prefetch(hashed(last));
        }
        *map.tracked(hashed(1), 2).unwrap() += 1;
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(&client(1)), Some(&6));
        assert_eq!(map.get(&client(2)), Some(&7));
        assert_eq!(map.get(&client(3)), None);
        let mut held: Vec<(IpAddr, u64)> = map.into_iter().collect();
        held.sort();
        assert_eq!(held, [(client(1), 6), (client(2), 7)]);
    }
}
