//! The heaviest keys of a stream in bounded memory: Space-Saving (Metwally et al. 2005) with
//! evictions in batches. Each key held has an estimate `count` that never falls short of its
//! true count, and an `error` such that `count - error` never exceeds it. When the table is
//! full, a new key evicts the lower half of the table at once (by estimate, ties to the
//! higher key), and keys admitted later start from the largest estimate evicted so far, as
//! Space-Saving's newcomer inherits the minimum; amortised, a key costs one hash lookup.
//! Every key whose true count exceeds the stream's length over half the capacity is held.
//!
//! Tables merge as mergeable summaries do (Agarwal et al. 2012): estimates add; a key absent
//! from one side gets that side's floor (it may have been evicted there), then the merged table
//! keeps the heaviest keys within the larger capacity. Both the stream within a part and the
//! order of the merges are fixed by the caller (shards merge in shard order), so the result is
//! deterministic.

use foldhash::fast::FixedState;
use hashbrown::{Equivalent, HashMap};
use std::hash::Hash;

/// A key held with its estimate, error bound and value.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counted<V> {
    /// The estimate: at least the key's true count.
    pub count: u64,
    /// How much of `count` may not be the key's own (what it inherited on admission).
    pub error: u64,
    /// What is kept for the key while it is held.
    pub value: V,
}

/// The heaviest keys, at most `capacity` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopK<K: Hash + Eq, V> {
    capacity: usize,
    /// The largest estimate evicted (or inherited through a merge): what a newcomer starts at.
    floor: u64,
    entries: HashMap<K, Counted<V>, FixedState>,
}

impl<K: Hash + Eq, V> Default for TopK<K, V> {
    fn default() -> Self {
        TopK {
            capacity: 0,
            floor: 0,
            entries: HashMap::default(),
        }
    }
}

impl<K: Hash + Eq + Ord + Clone, V> TopK<K, V> {
    /// An empty table holding at most `capacity` keys (0: a table that only merges others).
    pub fn with_capacity(capacity: usize) -> Self {
        TopK {
            capacity,
            floor: 0,
            entries: HashMap::default(),
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The largest estimate a key not held may have.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// The entry of a held key.
    pub fn get_mut<Q: Hash + Equivalent<K> + ?Sized>(&mut self, key: &Q) -> Option<&mut Counted<V>> {
        self.entries.get_mut(key)
    }

    /// The entries held, in no order.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Counted<V>> {
        self.entries.values_mut()
    }

    /// The keys held with their entries, heaviest first (then by key).
    pub fn ranked(&self) -> Vec<(&K, &Counted<V>)> {
        let mut ranked: Vec<(&K, &Counted<V>)> = self.entries.iter().collect();
        ranked.sort_unstable_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
        ranked
    }

    /// Keeps the heaviest `keep` keys (then the lowest keys), raising the floor to the
    /// heaviest estimate evicted; `evicted` sees each evicted entry.
    fn keep_heaviest(&mut self, keep: usize, evicted: &mut dyn FnMut(Counted<V>)) {
        if self.entries.len() <= keep {
            return;
        }
        let mut ranked: Vec<(u64, K)> = self
            .entries
            .iter()
            .map(|(key, entry)| (entry.count, key.clone()))
            .collect();
        ranked.select_nth_unstable_by(keep, |a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (_, key) in &ranked[keep..] {
            if let Some(entry) = self.entries.remove(key) {
                self.floor = self.floor.max(entry.count);
                evicted(entry);
            }
        }
    }
}

impl<K: Hash + Eq + Ord + Clone, V: Default> TopK<K, V> {
    /// Counts one occurrence of `key` and returns its entry, admitting the key if need be
    /// (a full table first evicts its lower half; `evicted` sees each evicted entry).
    pub fn hit<Q>(&mut self, key: &Q, evicted: &mut dyn FnMut(Counted<V>)) -> &mut Counted<V>
    where
        Q: Hash + Equivalent<K> + ToOwned<Owned = K> + ?Sized,
    {
        if !self.entries.contains_key(key) && self.entries.len() >= self.capacity.max(1) {
            self.keep_heaviest(self.capacity / 2, evicted);
        }
        let floor = self.floor;
        let entry = self
            .entries
            .entry_ref(key)
            .or_insert_with(|| Counted {
                count: floor,
                error: floor,
                value: V::default(),
            });
        entry.count += 1;
        entry
    }

    /// Adds `other` into `self` (see the module's merge rule), `merge_values` merging the
    /// values of a key held on both sides; `evicted` sees each entry the merged table cannot
    /// hold.
    pub fn merge(
        &mut self,
        other: TopK<K, V>,
        merge_values: impl Fn(&mut V, V),
        evicted: &mut dyn FnMut(Counted<V>),
    ) {
        let TopK {
            capacity,
            floor,
            mut entries,
        } = other;
        for (key, entry) in &mut self.entries {
            if let Some(theirs) = entries.remove(key) {
                entry.count += theirs.count;
                entry.error += theirs.error;
                merge_values(&mut entry.value, theirs.value);
            } else {
                entry.count += floor;
                entry.error += floor;
            }
        }
        for (key, mut entry) in entries {
            entry.count += self.floor;
            entry.error += self.floor;
            self.entries.insert(key, entry);
        }
        self.floor += floor;
        self.capacity = self.capacity.max(capacity);
        self.keep_heaviest(self.capacity, evicted);
    }
}

/// The saved form: capacity, floor and the entries (key, entry) sorted by key.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedTopK<E> {
    capacity: usize,
    floor: u64,
    entries: Vec<E>,
}

impl<K, V> serde::Serialize for TopK<K, V>
where
    K: Hash + Eq + Ord + serde::Serialize,
    V: serde::Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&K, &Counted<V>)> = self.entries.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        SavedTopK {
            capacity: self.capacity,
            floor: self.floor,
            entries,
        }
        .serialize(serializer)
    }
}

impl<'de, K, V> serde::Deserialize<'de> for TopK<K, V>
where
    K: Hash + Eq + serde::Deserialize<'de>,
    V: serde::Deserialize<'de>,
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let saved = SavedTopK::<(K, Counted<V>)>::deserialize(deserializer)?;
        if saved.entries.len() > saved.capacity {
            return Err(serde::de::Error::custom(format!(
                "a top-k table holds {} keys, more than its capacity {}",
                saved.entries.len(),
                saved.capacity
            )));
        }
        Ok(TopK {
            capacity: saved.capacity,
            floor: saved.floor,
            entries: saved.entries.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Table = TopK<String, u64>;

    fn counts(table: &Table) -> Vec<(String, u64, u64)> {
        table
            .ranked()
            .into_iter()
            .map(|(key, entry)| (key.to_string(), entry.count, entry.error))
            .collect()
    }

    fn feed(table: &mut Table, keys: &[&str]) -> u64 {
        let mut evicted = 0;
        for key in keys {
            table.hit(key, &mut |entry| evicted += entry.count).value += 1;
        }
        evicted
    }

    #[test]
    fn below_capacity_counts_are_exact() {
        let mut table = Table::with_capacity(4);
        feed(&mut table, &["b", "a", "b", "c", "b"]);
        assert_eq!(
            counts(&table),
            vec![
                ("b".into(), 3, 0),
                ("a".into(), 1, 0),
                ("c".into(), 1, 0)
            ]
        );
    }

    #[test]
    fn a_heavy_key_that_comes_late_is_held_and_its_count_bounded() {
        // 400 distinct rare keys, then one key 300 times, in a table of 16.
        let mut keys: Vec<String> = (0..400).map(|n| format!("rare{n}")).collect();
        keys.extend(std::iter::repeat_n("late".to_string(), 300));
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut table = Table::with_capacity(16);
        feed(&mut table, &keys);
        let (key, entry) = table.ranked()[0];
        assert_eq!(key, "late");
        assert_eq!(entry.value, 300, "counted exactly since admitted");
        assert!(entry.count - entry.error <= 300 && entry.count >= 300);
        assert!(table.len() <= 16);
    }

    #[test]
    fn merges_keep_estimates_above_and_lower_bounds_below_the_truth() {
        let left_keys: Vec<String> = (0..50).map(|n| format!("k{}", n % 25)).collect();
        let right_keys: Vec<String> = (0..60).map(|n| format!("k{}", n % 7)).collect();
        let mut left = Table::with_capacity(8);
        let mut right = Table::with_capacity(8);
        feed(&mut left, &left_keys.iter().map(String::as_str).collect::<Vec<_>>());
        feed(&mut right, &right_keys.iter().map(String::as_str).collect::<Vec<_>>());
        let truth = |key: &str| {
            left_keys.iter().chain(&right_keys).filter(|k| *k == key).count() as u64
        };
        let mut merged = left.clone();
        merged.merge(right, |a, b| *a += b, &mut |_| {});
        assert!(merged.len() <= 8);
        for (key, entry) in merged.ranked() {
            let true_count = truth(key);
            assert!(entry.count >= true_count, "{key}: {entry:?} vs {true_count}");
            assert!(entry.count - entry.error <= true_count, "{key}: {entry:?}");
        }
        // k0..k6 are the heaviest (8 or 9 each on the right alone): all held.
        let held: Vec<&str> = merged.ranked().iter().map(|(k, _)| k.as_str()).collect();
        for n in 0..7 {
            assert!(held.contains(&format!("k{n}").as_str()), "{held:?}");
        }
    }

    #[test]
    fn the_saved_form_reads_back_and_an_overfull_table_is_refused() {
        let mut table = Table::with_capacity(3);
        feed(&mut table, &["x", "y", "x", "z", "w", "x"]);
        let json = serde_json::to_string(&table).unwrap();
        let back: Table = serde_json::from_str(&json).unwrap();
        assert_eq!(back, table);
        let error = serde_json::from_str::<Table>(
            r#"{"capacity": 1, "floor": 0, "entries": [["a", {"count": 1, "error": 0, "value": 1}], ["b", {"count": 1, "error": 0, "value": 1}]]}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("capacity 1"), "{error}");
    }
}
