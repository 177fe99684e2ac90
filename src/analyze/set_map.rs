//! Maps keyed by answer sets. The sequential analysis looks every watched response's set up in
//! several of them (the name's sets, the server's sets, when each set was first seen), and a
//! search tree compared whole sets at every step of each search (~125 instructions a lookup).
//! Here a set is found by a hash of its addresses, worked out on the decode threads, and
//! compared once (~86 instructions a lookup). Everything a reader sees (iteration, `Debug`, the
//! saved state) is in set order, as with the `BTreeMap` this replaced.

use crate::keys::{set_hash, AnswerSet, SetKey};
use hashbrown::HashTable;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeSet;
use std::fmt;

/// Values keyed by answer set.
#[derive(Clone)]
pub struct SetMap<V> {
    slots: HashTable<(AnswerSet, V)>,
    /// The sets held in order, built when a full map first meets a new set under
    /// [`Self::lowest_entry`] and kept in step while it stays full (an index: cleared whenever
    /// sets are added another way).
    order_when_full: Option<BTreeSet<AnswerSet>>,
}

impl<V> Default for SetMap<V> {
    fn default() -> Self {
        SetMap {
            slots: HashTable::new(),
            order_when_full: None,
        }
    }
}

impl<V> SetMap<V> {
    /// Sets held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no set is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The value of the set, if held.
    pub fn get(&self, key: SetKey<'_>) -> Option<&V> {
        let (_, value) = self.slots.find(key.hash(), |(held, _)| held == key.set())?;
        Some(value)
    }

    /// The value of the set, if held, to change.
    pub fn get_mut(&mut self, key: SetKey<'_>) -> Option<&mut V> {
        let (_, value) = self
            .slots
            .find_mut(key.hash(), |(held, _)| held == key.set())?;
        Some(value)
    }

    /// The value of `set`, created (default) if not held.
    pub fn entry_or_default(&mut self, set: AnswerSet) -> &mut V
    where
        V: Default,
    {
        self.order_when_full = None;
        let entry = self.slots.entry(
            set_hash(&set),
            |(held, _)| *held == set,
            |(held, _)| set_hash(held),
        );
        &mut entry.or_insert_with(|| (set, V::default())).into_mut().1
    }

    /// Holds `value` for `set`, replacing any value it had.
    pub fn insert(&mut self, set: AnswerSet, value: V) {
        self.order_when_full = None;
        match self.get_mut(SetKey::of(&set)) {
            Some(held) => *held = value,
            None => {
                self.slots
                    .insert_unique(set_hash(&set), (set, value), |(held, _)| set_hash(held));
            }
        }
    }

    /// The value of the set, found without copying the key (nearly every response), or
    /// created if the set is among the lowest `cap` sets seen; a held set it displaces goes to
    /// `evicted` with its value. `None`: the set is higher than the `cap` sets held (see
    /// [`super::caps`]).
    pub fn lowest_entry(
        &mut self,
        key: SetKey<'_>,
        cap: usize,
        evicted: impl FnOnce(V),
    ) -> Option<&mut V>
    where
        V: Default,
    {
        // One lookup for a held set (nearly every response); the rest only for a new one.
        let slots = match self
            .slots
            .find_entry(key.hash(), |(held, _)| held == key.set())
        {
            Ok(held) => return Some(&mut held.into_mut().1),
            Err(absent) => absent.into_table(),
        };
        if slots.len() >= cap {
            let order = self
                .order_when_full
                .get_or_insert_with(|| slots.iter().map(|(held, _)| held.clone()).collect());
            if order
                .last()
                .is_none_or(|highest| key.set() >= highest.as_slice())
            {
                return None;
            }
            let highest = order.pop_last()?;
            order.insert(key.set().to_vec());
            let (_, value) = slots
                .find_entry(set_hash(&highest), |(held, _)| *held == highest)
                .ok()?
                .remove()
                .0;
            evicted(value);
        }
        let slot = slots.insert_unique(
            key.hash(),
            (key.set().to_vec(), V::default()),
            |(held, _)| set_hash(held),
        );
        Some(&mut slot.into_mut().1)
    }

    /// Keeps the lowest `cap` sets, handing the values of the others to `evicted`.
    pub fn keep_lowest(&mut self, cap: usize, evicted: impl FnMut(V)) {
        if self.slots.len() <= cap {
            return;
        }
        let mut held: Vec<(AnswerSet, V)> = std::mem::take(&mut self.slots).into_iter().collect();
        held.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        held.drain(cap..).map(|(_, value)| value).for_each(evicted);
        *self = held.into_iter().collect();
    }

    /// Sets and values in set order.
    pub fn iter(&self) -> std::vec::IntoIter<(&AnswerSet, &V)> {
        let mut held: Vec<(&AnswerSet, &V)> = self.slots.iter().map(|(s, v)| (s, v)).collect();
        held.sort_unstable_by(|a, b| a.0.cmp(b.0));
        held.into_iter()
    }

    /// The values, to change, in no particular order.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots.iter_mut().map(|(_, value)| value)
    }
}

impl<V> IntoIterator for SetMap<V> {
    type Item = (AnswerSet, V);
    type IntoIter = std::vec::IntoIter<(AnswerSet, V)>;

    /// Sets and values in set order.
    fn into_iter(self) -> Self::IntoIter {
        let mut held: Vec<(AnswerSet, V)> = self.slots.into_iter().collect();
        held.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        held.into_iter()
    }
}

impl<V> FromIterator<(AnswerSet, V)> for SetMap<V> {
    /// A repeated set: the last value wins.
    fn from_iter<I: IntoIterator<Item = (AnswerSet, V)>>(pairs: I) -> Self {
        let mut map = SetMap::default();
        for (set, value) in pairs {
            map.insert(set, value);
        }
        map
    }
}

impl<V: PartialEq> PartialEq for SetMap<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .slots
                .iter()
                .all(|(set, value)| other.get(SetKey::of(set)) == Some(value))
    }
}

impl<V: Eq> Eq for SetMap<V> {}

impl<V: fmt::Debug> fmt::Debug for SetMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Saved as a list of [set, value] pairs in set order (JSON keys must be strings).
impl<V: Serialize> Serialize for SetMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SetMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<(AnswerSet, V)>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    fn set(lasts: &[u8]) -> AnswerSet {
        lasts
            .iter()
            .map(|&l| IpAddr::from([10, 10, 10, l]))
            .collect()
    }

    /// Sets of IPv4 and IPv6 addresses, some sharing prefixes, in no order.
    fn sets() -> Vec<AnswerSet> {
        let mut sets: Vec<AnswerSet> = (0..40u8)
            .map(|n| set(&[n % 7, n % 5 + 7, n / 3 + 20][..usize::from(n % 3) + 1]))
            .collect();
        sets.push(vec!["2001:db8::1".parse().unwrap()]);
        sets.push(vec![IpAddr::from([10, 10, 10, 1]), "::1".parse().unwrap()]);
        sets.push(Vec::new());
        sets
    }

    #[test]
    fn behaves_as_the_search_tree_it_replaced() {
        let mut map: SetMap<u64> = SetMap::default();
        let mut tree: BTreeMap<AnswerSet, u64> = BTreeMap::new();
        for (n, s) in sets().into_iter().enumerate() {
            *map.entry_or_default(s.clone()) += n as u64;
            *tree.entry(s.clone()).or_default() += n as u64;
            if n % 4 == 0 {
                map.insert(s.clone(), 1);
                tree.insert(s, 1);
            }
        }
        assert_eq!(map.len(), tree.len());
        assert!(map.iter().eq(tree.iter()), "iteration in set order");
        assert_eq!(format!("{map:?}"), format!("{tree:?}"));
        for s in sets().iter().chain([&set(&[99])]) {
            let key = SetKey::with_hash(s, set_hash(s));
            assert_eq!(map.get(key), tree.get(s));
            assert_eq!(map.get_mut(SetKey::of(s)).copied(), tree.get(s).copied());
        }
        let saved = serde_json::to_string(&map).unwrap();
        assert_eq!(
            saved,
            serde_json::to_string(&Vec::from_iter(&tree)).unwrap()
        );
        let restored: SetMap<u64> = serde_json::from_str(&saved).unwrap();
        assert_eq!(restored, map);
        for value in map.values_mut() {
            *value += 1;
        }
        for value in tree.values_mut() {
            *value += 1;
        }
        for len in [tree.len() + 1, tree.len(), 7, 1, 0] {
            let (mut from_map, mut from_tree) = (0, 0);
            map.keep_lowest(len, |value| from_map += value);
            crate::analyze::caps::keep_lowest(&mut tree, len, |value| from_tree += value);
            assert!(map.iter().eq(tree.iter()), "kept the lowest {len}");
            assert_eq!(from_map, from_tree);
        }
        assert!(map.is_empty());
        // Beyond the cap, a lower set evicts the highest and a higher one is refused.
        let (low, high) = (set(&[1]), set(&[9]));
        let mut capped: SetMap<u64> = SetMap::default();
        let mut evicted = Vec::new();
        *capped
            .lowest_entry(SetKey::of(&high), 1, |v| evicted.push(v))
            .unwrap() += 5;
        *capped
            .lowest_entry(SetKey::of(&low), 1, |v| evicted.push(v))
            .unwrap() += 1;
        assert!(capped
            .lowest_entry(SetKey::of(&high), 1, |v| evicted.push(v))
            .is_none());
        assert_eq!(evicted, [5]);
        assert_eq!(capped.get(SetKey::of(&low)), Some(&1));
    }

    #[test]
    fn equal_whatever_the_order_of_insertion() {
        let forward: SetMap<u64> = sets().into_iter().map(|s| (s, 1)).collect();
        let backward: SetMap<u64> = sets().into_iter().rev().map(|s| (s, 1)).collect();
        assert_eq!(forward, backward);
        assert!(forward.into_iter().eq(backward.into_iter()));
        let mut other: SetMap<u64> = sets().into_iter().map(|s| (s, 1)).collect();
        other.insert(set(&[1]), 2);
        assert_ne!(other, sets().into_iter().map(|s| (s, 1)).collect());
    }
}
