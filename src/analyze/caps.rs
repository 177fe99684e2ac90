//! Bounded collections that keep the same members whatever order items arrive in and however
//! they are grouped: the lowest keys stay. A key beyond the cap is refused while it is higher
//! than every key held, and evicts the highest held key otherwise; callers count what was
//! refused or evicted. Because the kept keys are always the lowest `cap` keys of everything
//! seen, an analysis split in any way and merged keeps exactly what one pass keeps.

use std::collections::{BTreeMap, BTreeSet};

/// The entry of `key`, created if it is among the lowest `cap` keys seen; a held entry it
/// displaces is handed to `evicted`. `None`: `key` is higher than the `cap` keys held.
pub fn lowest_entry<K: Ord, V: Default>(
    map: &mut BTreeMap<K, V>,
    key: K,
    cap: usize,
    evicted: impl FnOnce(V),
) -> Option<&mut V> {
    if map.len() >= cap && !map.contains_key(&key) {
        if map
            .last_key_value()
            .is_none_or(|(highest, _)| key > *highest)
        {
            return None;
        }
        if let Some((_, value)) = map.pop_last() {
            evicted(value);
        }
    }
    Some(map.entry(key).or_default())
}

/// Keeps the lowest `cap` entries of `map`, handing the others to `evicted`.
pub fn keep_lowest<K: Ord, V>(map: &mut BTreeMap<K, V>, cap: usize, mut evicted: impl FnMut(V)) {
    while map.len() > cap {
        if let Some((_, value)) = map.pop_last() {
            evicted(value);
        }
    }
}

/// Inserts `key` if it is among the lowest `cap` keys seen (evicting the highest).
pub fn insert_lowest<K: Ord>(set: &mut BTreeSet<K>, key: K, cap: usize) {
    if set.len() < cap || set.contains(&key) {
        set.insert(key);
    } else if set.last().is_some_and(|highest| key < *highest) {
        set.pop_last();
        set.insert(key);
    }
}

/// Keeps the lowest `cap` keys of `set`.
pub fn keep_lowest_keys<K: Ord>(set: &mut BTreeSet<K>, cap: usize) {
    while set.len() > cap {
        set.pop_last();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One pass over `items` with the cap, or passes over groups of them merged.
    fn one_pass(items: &[(u8, u64)], cap: usize) -> (BTreeMap<u8, u64>, u64) {
        let mut map = BTreeMap::new();
        let mut dropped = 0;
        for &(key, count) in items {
            match lowest_entry(&mut map, key, cap, |v| dropped += v) {
                Some(held) => *held += count,
                None => dropped += count,
            }
        }
        (map, dropped)
    }

    proptest! {
        #[test]
        fn kept_keys_and_dropped_counts_do_not_depend_on_order_or_grouping(
            items in proptest::collection::vec((0u8..40, 1u64..5), 0..120),
            cap in 1usize..12,
            cut in 0usize..120,
            seed in any::<u64>(),
        ) {
            let (whole, whole_dropped) = one_pass(&items, cap);
            let mut shuffled = items.clone();
            fastrand::Rng::with_seed(seed).shuffle(&mut shuffled);
            let cut = cut.min(shuffled.len());
            let (mut merged, mut dropped) = one_pass(&shuffled[..cut], cap);
            let (second, second_dropped) = one_pass(&shuffled[cut..], cap);
            dropped += second_dropped;
            for (key, count) in second {
                *merged.entry(key).or_default() += count;
            }
            keep_lowest(&mut merged, cap, |v| dropped += v);
            prop_assert_eq!(&merged, &whole);
            prop_assert_eq!(dropped, whole_dropped);
            // What is kept is the lowest keys, each with all its count.
            let mut expected: BTreeMap<u8, u64> = BTreeMap::new();
            for &(key, count) in &items {
                *expected.entry(key).or_default() += count;
            }
            let total: u64 = expected.values().sum();
            keep_lowest(&mut expected, cap, |_| ());
            prop_assert_eq!(&whole, &expected);
            prop_assert_eq!(whole_dropped + whole.values().sum::<u64>(), total);
        }

        #[test]
        fn sets_keep_the_lowest_keys_whatever_the_order(
            keys in proptest::collection::vec(0u8..40, 0..80),
            cap in 1usize..10,
            seed in any::<u64>(),
        ) {
            let fill = |keys: &[u8]| {
                let mut set = BTreeSet::new();
                for key in keys {
                    insert_lowest(&mut set, *key, cap);
                }
                set
            };
            let mut shuffled = keys.clone();
            fastrand::Rng::with_seed(seed).shuffle(&mut shuffled);
            let mut expected: BTreeSet<u8> = keys.iter().copied().collect();
            keep_lowest_keys(&mut expected, cap);
            prop_assert_eq!(fill(&keys), expected.clone());
            prop_assert_eq!(fill(&shuffled), expected);
        }
    }
}
