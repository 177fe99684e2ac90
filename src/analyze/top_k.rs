//! The heaviest keys of a stream in bounded memory: Space-Saving (Metwally et al. 2005) with
//! evictions in batches. Each key held has an estimate `count` that never falls short of its
//! true count, and an `error` such that `count - error` never exceeds it. When the table is
//! full, a new key evicts the lower half of the table at once (by estimate, ties to the
//! higher key), and keys admitted later start from the largest estimate evicted so far, as
//! Space-Saving's newcomer inherits the minimum; amortised, a key costs one hash lookup.
//! Every key whose true count exceeds the stream's length over half the capacity is held.
//!
//! Large tables filter admissions (Filtered Space-Saving, Homem and Carvalho 2010): per hash
//! bucket a counter bounds the occurrences of the keys not held that fall in it, and once keys
//! have been evicted a key not held enters only when its bucket shows it heavier than the floor. A long tail
//! of rare keys then costs a counter increment each, not an entry that is soon evicted; a
//! newcomer's estimate starts from the smaller of its bucket and the floor, both upper bounds
//! of what it had before.
//!
//! Tables merge as mergeable summaries do (Agarwal et al. 2012): estimates add; a key absent
//! from one side gets that side's floor (it may have been evicted there), then the merged table
//! keeps the heaviest keys within the larger capacity. Both the stream within a part and the
//! order of the merges are fixed by the caller (shards merge in shard order), so the result is
//! deterministic.

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

/// Tables longer than this keep an index of their keys (and filter admissions); shorter ones
/// (a name's answer sets) are scanned, and cost no more than their entries.
const INDEXED_FROM: usize = 8;
/// Filter buckets per key of capacity (8 bytes each). The fewer keys share a bucket, the
/// fewer rare keys pass for heavy ones because their bucket's other keys were counted: with a
/// long tail of names many times the capacity, every admission is a summary built and soon
/// evicted.
const FILTER_BUCKETS_PER_KEY: usize = 16;

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
#[derive(Debug, Clone)]
pub struct TopK<K, V> {
    capacity: usize,
    /// The largest estimate evicted (or inherited through a merge): what a newcomer starts at.
    floor: u64,
    entries: Vec<(K, Counted<V>)>,
    /// Each key's hash and position in `entries`, while the table is longer than
    /// [`INDEXED_FROM`] (the hash kept, so that growing or rebuilding hashes no key again).
    index: Option<HashTable<(u64, usize)>>,
    /// The admission filter's counters (tables whose capacity exceeds [`INDEXED_FROM`]; empty
    /// after a merge or a read, which admit freely). Part of the stream's state, not of the
    /// summary: neither saved nor compared.
    filter: Vec<u64>,
}

impl<K, V> Default for TopK<K, V> {
    fn default() -> Self {
        TopK::with_capacity(0)
    }
}

/// Tables are equal when they hold the same entries, whatever their order in storage.
impl<K: Ord, V: PartialEq> PartialEq for TopK<K, V> {
    fn eq(&self, other: &Self) -> bool {
        fn sorted<K: Ord, V>(entries: &[(K, Counted<V>)]) -> Vec<&(K, Counted<V>)> {
            let mut sorted: Vec<&(K, Counted<V>)> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            sorted
        }
        self.capacity == other.capacity
            && self.floor == other.floor
            && sorted(&self.entries) == sorted(&other.entries)
    }
}

impl<K: Ord, V: Eq> Eq for TopK<K, V> {}

fn hash_of<Q: Hash + ?Sized>(key: &Q) -> u64 {
    FixedState::default().hash_one(key)
}

/// The filter counter of the key whose hash is `hash` (None without a filter).
fn filter_bucket(filter: &mut [u64], hash: u64) -> Option<&mut u64> {
    if filter.is_empty() {
        return None;
    }
    // The high bits: the index's table uses the low ones.
    let at = ((u128::from(hash.rotate_left(32)) * filter.len() as u128) >> 64) as usize;
    filter.get_mut(at)
}

impl<K, V> TopK<K, V> {
    /// An empty table holding at most `capacity` keys (0: a table that only merges others).
    pub fn with_capacity(capacity: usize) -> Self {
        let filtered = if capacity > INDEXED_FROM {
            capacity * FILTER_BUCKETS_PER_KEY
        } else {
            0
        };
        TopK {
            capacity,
            floor: 0,
            entries: Vec::new(),
            index: None,
            filter: vec![0; filtered],
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

    /// The entries held, in no order.
    pub fn values(&self) -> impl Iterator<Item = &Counted<V>> {
        self.entries.iter().map(|(_, entry)| entry)
    }

    /// The entries held, in no order.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Counted<V>> {
        self.entries.iter_mut().map(|(_, entry)| entry)
    }
}

impl<K: Hash + Ord, V> TopK<K, V> {
    /// The hash of `key` where the table uses one (an index or a filter: a capacity above
    /// [`INDEXED_FROM`]), so that a lookup and an admission hash the key once.
    fn hash_for<Q: Hash + ?Sized>(&self, key: &Q) -> Option<u64> {
        (self.capacity > INDEXED_FROM).then(|| hash_of(key))
    }

    /// The position of `key` (whose hash is `hash`, from [`Self::hash_for`]) in `entries`.
    fn position<Q: Hash + Eq + ?Sized>(&self, key: &Q, hash: Option<u64>) -> Option<usize>
    where
        K: Borrow<Q>,
    {
        match &self.index {
            Some(index) => {
                let hash = hash.unwrap_or_else(|| hash_of(key));
                index
                    .find(hash, |&(held, at)| {
                        held == hash && self.entries[at].0.borrow() == key
                    })
                    .map(|&(_, at)| at)
            }
            None => self
                .entries
                .iter()
                .position(|(held, _)| held.borrow() == key),
        }
    }

    /// Adds an entry at the end (and to the index; `hash`: the key's, from
    /// [`Self::hash_for`]).
    fn push(&mut self, key: K, entry: Counted<V>, hash: Option<u64>) {
        if self.entries.len() < INDEXED_FROM && self.entries.len() == self.entries.capacity() {
            self.entries.reserve_exact(1);
        }
        let at = self.entries.len();
        if let Some(index) = &mut self.index {
            let hash = hash.unwrap_or_else(|| hash_of(&key));
            index.insert_unique(hash, (hash, at), |&(hash, _)| hash);
        }
        self.entries.push((key, entry));
        if self.index.is_none() && self.entries.len() > INDEXED_FROM {
            self.reindex();
        }
    }

    /// Builds the index of a table longer than [`INDEXED_FROM`] (drops it otherwise).
    fn reindex(&mut self) {
        self.index = (self.entries.len() > INDEXED_FROM).then(|| {
            let mut index = HashTable::with_capacity(self.entries.len());
            for (at, (key, _)) in self.entries.iter().enumerate() {
                let hash = hash_of(key);
                index.insert_unique(hash, (hash, at), |&(hash, _)| hash);
            }
            index
        });
    }

    /// The entry of a held key.
    pub fn get_mut<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<&mut Counted<V>>
    where
        K: Borrow<Q>,
    {
        let at = self.position(key, self.hash_for(key))?;
        Some(&mut self.entries[at].1)
    }

    /// The keys held with their entries, heaviest first (then by key).
    pub fn ranked(&self) -> Vec<(&K, &Counted<V>)> {
        let mut ranked: Vec<(&K, &Counted<V>)> = self
            .entries
            .iter()
            .map(|(key, entry)| (key, entry))
            .collect();
        ranked.sort_unstable_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
        ranked
    }

    /// Keeps the heaviest `keep` keys (then the lowest keys), raising the floor to the
    /// heaviest estimate evicted; `evicted` sees each evicted entry.
    fn keep_heaviest(&mut self, keep: usize, evicted: &mut dyn FnMut(Counted<V>)) {
        if self.entries.len() <= keep {
            return;
        }
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        let entries = &self.entries;
        order.select_nth_unstable_by(keep, |&a, &b| {
            let (a, b) = (&entries[a], &entries[b]);
            b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0))
        });
        // Where each entry kept moves to (the others: `GONE`).
        const GONE: usize = usize::MAX;
        let mut moved_to = vec![GONE; self.entries.len()];
        for &at in &order[..keep] {
            moved_to[at] = 0;
        }
        for (to, moved) in moved_to.iter_mut().filter(|at| **at != GONE).enumerate() {
            *moved = to;
        }
        // In place: the table keeps its room for the keys admitted next.
        let mut moves = moved_to.iter();
        let gone = self.entries.extract_if(.., |_| moves.next() == Some(&GONE));
        for (key, entry) in gone {
            self.floor = self.floor.max(entry.count);
            // The bucket keeps bounding the key's occurrences should it come back.
            if let Some(bucket) = filter_bucket(&mut self.filter, hash_of(&key)) {
                *bucket = (*bucket).max(entry.count);
            }
            evicted(entry);
        }
        match &mut self.index {
            // The index keeps its room and its hashes; only positions change.
            Some(index) if self.entries.len() > INDEXED_FROM => index.retain(|(_, at)| {
                *at = moved_to[*at];
                *at != GONE
            }),
            _ => self.reindex(),
        }
    }
}

impl<K: Hash + Ord, V: Default> TopK<K, V> {
    /// Counts one occurrence of `key` and returns its entry, admitting the key if need be (a
    /// full table first evicts its lower half; `evicted` sees each evicted entry); `None` when
    /// the filter keeps a rare key out (its occurrence is counted there), and always in a
    /// table of no capacity.
    pub fn hit<Q>(
        &mut self,
        key: &Q,
        evicted: &mut dyn FnMut(Counted<V>),
    ) -> Option<&mut Counted<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if self.capacity == 0 {
            return None;
        }
        let hash = self.hash_for(key);
        let at = match self.position(key, hash) {
            Some(at) => at,
            None => {
                let filter = &mut self.filter;
                // Once keys have been evicted, a key lighter than the floor stays out even
                // where there is room: it would be the next to go.
                if let Some(bucket) = hash.and_then(|hash| filter_bucket(filter, hash)) {
                    if *bucket < self.floor {
                        // Counted in its bucket only.
                        *bucket += 1;
                        return None;
                    }
                }
                if self.entries.len() >= self.capacity {
                    self.keep_heaviest(self.capacity / 2, evicted);
                }
                // Both bound what the key had before: its bucket, and the floor.
                let filter = &mut self.filter;
                let past = hash
                    .and_then(|hash| filter_bucket(filter, hash))
                    .map_or(self.floor, |bucket| (*bucket).min(self.floor));
                let entry = Counted {
                    count: past,
                    error: past,
                    value: V::default(),
                };
                self.push(key.to_owned(), entry, hash);
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[at].1;
        entry.count += 1;
        Some(entry)
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
            entries,
            index: _,
            filter: _,
        } = other;
        let mine = self.entries.len();
        let mut matched = vec![false; mine];
        for (key, mut theirs) in entries {
            let hash = self.hash_for(&key);
            match self.position(&key, hash) {
                Some(at) => {
                    let entry = &mut self.entries[at].1;
                    entry.count += theirs.count;
                    entry.error += theirs.error;
                    merge_values(&mut entry.value, theirs.value);
                    matched[at] = true;
                }
                None => {
                    theirs.count += self.floor;
                    theirs.error += self.floor;
                    self.push(key, theirs, hash);
                }
            }
        }
        for ((_, entry), _) in self.entries[..mine]
            .iter_mut()
            .zip(matched)
            .filter(|(_, matched)| !matched)
        {
            entry.count += floor;
            entry.error += floor;
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
    K: Ord + serde::Serialize,
    V: serde::Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&K, &Counted<V>)> = self
            .entries
            .iter()
            .map(|(key, entry)| (key, entry))
            .collect();
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
    K: Hash + Ord + serde::Deserialize<'de>,
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
        let mut entries = saved.entries;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        if entries.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return Err(serde::de::Error::custom("a top-k table holds a key twice"));
        }
        let mut table = TopK {
            capacity: saved.capacity,
            floor: saved.floor,
            entries,
            index: None,
            filter: Vec::new(),
        };
        table.reindex();
        Ok(table)
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
            if let Some(entry) = table.hit(*key, &mut |entry| evicted += entry.count) {
                entry.value += 1;
            }
        }
        evicted
    }

    #[test]
    fn below_capacity_counts_are_exact() {
        let mut table = Table::with_capacity(4);
        feed(&mut table, &["b", "a", "b", "c", "b"]);
        assert_eq!(
            counts(&table),
            vec![("b".into(), 3, 0), ("a".into(), 1, 0), ("c".into(), 1, 0)]
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
        // Kept out while its bucket was below the floor; counted exactly since admitted.
        assert!(
            entry.value <= 300 && entry.value + table.floor() >= 300,
            "{entry:?}"
        );
        assert!(entry.count - entry.error <= 300 && entry.count >= 300);
        assert!(table.len() <= 16);
    }

    #[test]
    fn merges_keep_estimates_above_and_lower_bounds_below_the_truth() {
        let left_keys: Vec<String> = (0..50).map(|n| format!("k{}", n % 25)).collect();
        let right_keys: Vec<String> = (0..60).map(|n| format!("k{}", n % 7)).collect();
        let mut left = Table::with_capacity(8);
        let mut right = Table::with_capacity(8);
        feed(
            &mut left,
            &left_keys.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        feed(
            &mut right,
            &right_keys.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let truth = |key: &str| {
            left_keys
                .iter()
                .chain(&right_keys)
                .filter(|k| *k == key)
                .count() as u64
        };
        let mut merged = left.clone();
        merged.merge(right, |a, b| *a += b, &mut |_| {});
        assert!(merged.len() <= 8);
        for (key, entry) in merged.ranked() {
            let true_count = truth(key);
            assert!(
                entry.count >= true_count,
                "{key}: {entry:?} vs {true_count}"
            );
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
