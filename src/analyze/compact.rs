//! Small containers for state kept per discovered name, where thousands of names per shard
//! make every byte count: counts per rcode class in a fixed array, and maps kept as sorted
//! vectors that hold the lowest keys within a cap (the rule of [`super::caps`], so the result
//! does not depend on the order keys arrive) and grow one entry at a time.

use crate::decode::RcodeClass;
use std::borrow::Borrow;
use std::collections::BTreeMap;

/// Counts per rcode class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RcodeCounts([u64; RcodeClass::ALL.len()]);

impl RcodeCounts {
    /// Counts one response of `class`.
    pub fn add(&mut self, class: RcodeClass) {
        self.0[class as usize] += 1;
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: RcodeCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }

    /// All counts.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The classes counted at least once, with their counts.
    pub fn to_map(self) -> BTreeMap<RcodeClass, u64> {
        RcodeClass::ALL
            .into_iter()
            .zip(self.0)
            .filter(|(_, count)| *count > 0)
            .collect()
    }
}

impl serde::Serialize for RcodeCounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for RcodeCounts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut counts = RcodeCounts::default();
        for (class, count) in BTreeMap::<RcodeClass, u64>::deserialize(deserializer)? {
            counts.0[class as usize] = count;
        }
        Ok(counts)
    }
}

/// A map as a sorted vector holding the lowest keys within a cap given at each insertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowestMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for LowestMap<K, V> {
    fn default() -> Self {
        LowestMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> LowestMap<K, V> {
    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(key, _)| key)
    }

    fn search<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries
            .binary_search_by(|(held, _)| held.borrow().cmp(key))
    }

    /// The value of `key`, if held.
    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        let index = self.search(key).ok()?;
        Some(&mut self.entries[index].1)
    }

    /// Inserts at `index`, growing by one entry (these maps stay short).
    fn insert_at(&mut self, index: usize, key: K, value: V) {
        if self.entries.len() == self.entries.capacity() {
            self.entries.reserve_exact(1);
        }
        self.entries.insert(index, (key, value));
    }

    /// Keeps the lowest `cap` keys; `evicted` sees each value that goes.
    pub fn keep_lowest(&mut self, cap: usize, mut evicted: impl FnMut(V)) {
        while self.entries.len() > cap {
            if let Some((_, value)) = self.entries.pop() {
                evicted(value);
            }
        }
    }
}

impl<K: Ord, V: Default> LowestMap<K, V> {
    /// The value of `key`, added (default) if it is among the lowest `cap` keys seen, evicting
    /// the highest held key (`evicted` sees its value); `None` for a key above a full map's.
    pub fn entry<Q>(&mut self, key: &Q, cap: usize, evicted: impl FnOnce(V)) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        let index = match self.search(key) {
            Ok(index) => index,
            Err(index) if self.entries.len() < cap => {
                self.insert_at(index, key.to_owned(), V::default());
                index
            }
            Err(index) if index < self.entries.len() => {
                if let Some((_, highest)) = self.entries.pop() {
                    evicted(highest);
                }
                self.insert_at(index, key.to_owned(), V::default());
                index
            }
            Err(_) => return None,
        };
        Some(&mut self.entries[index].1)
    }

    /// Adds `other` into `self`, `merge_value` merging the values of a key held on both sides,
    /// then keeps the lowest `cap` keys (`evicted` sees each value that goes).
    pub fn merge(
        &mut self,
        other: LowestMap<K, V>,
        cap: usize,
        merge_value: impl Fn(&mut V, V),
        evicted: impl FnMut(V),
    ) {
        for (key, value) in other.entries {
            match self.search(&key) {
                Ok(index) => merge_value(&mut self.entries[index].1, value),
                Err(index) => self.insert_at(index, key, value),
            }
        }
        self.keep_lowest(cap, evicted);
    }
}

/// Saved as a list of [key, value] pairs in key order.
impl<K: serde::Serialize, V: serde::Serialize> serde::Serialize for LowestMap<K, V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.entries.iter())
    }
}

impl<'de, K, V> serde::Deserialize<'de> for LowestMap<K, V>
where
    K: serde::Deserialize<'de> + Ord,
    V: serde::Deserialize<'de>,
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map: BTreeMap<K, V> = Vec::<(K, V)>::deserialize(deserializer)?
            .into_iter()
            .collect();
        Ok(LowestMap {
            entries: map.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_map_keeps_the_lowest_keys_whatever_the_order() {
        let mut forward: LowestMap<u32, u64> = LowestMap::default();
        let mut backward: LowestMap<u32, u64> = LowestMap::default();
        let (mut dropped_forward, mut dropped_backward) = (0, 0);
        for key in [5u32, 1, 9, 3, 7] {
            match forward.entry(&key, 3, |v| dropped_forward += v) {
                Some(count) => *count += 1,
                None => dropped_forward += 1,
            }
        }
        for key in [7u32, 3, 9, 1, 5] {
            match backward.entry(&key, 3, |v| dropped_backward += v) {
                Some(count) => *count += 1,
                None => dropped_backward += 1,
            }
        }
        assert_eq!(forward, backward);
        assert_eq!(forward.keys().copied().collect::<Vec<_>>(), vec![1, 3, 5]);
        assert_eq!((dropped_forward, dropped_backward), (2, 2));
        let mut merged = forward.clone();
        merged.merge(backward, 2, |a, b| *a += b, drop);
        assert_eq!(
            merged.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
            vec![(1, 2), (3, 2)]
        );
        let json = serde_json::to_string(&merged).unwrap();
        assert_eq!(
            serde_json::from_str::<LowestMap<u32, u64>>(&json).unwrap(),
            merged
        );
    }

    #[test]
    fn rcode_counts_read_back_as_a_map_of_labels() {
        let mut counts = RcodeCounts::default();
        counts.add(RcodeClass::Nxdomain);
        counts.add(RcodeClass::Nxdomain);
        counts.add(RcodeClass::Noerror);
        let json = serde_json::to_string(&counts).unwrap();
        assert_eq!(json, r#"{"NOERROR":1,"NXDOMAIN":2}"#);
        assert_eq!(serde_json::from_str::<RcodeCounts>(&json).unwrap(), counts);
        assert_eq!(counts.total(), 3);
    }
}
