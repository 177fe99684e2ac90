//! Where addresses stood in answers: per address, how many answers held it and how many put it
//! first. Kept for each name, each client of a name and each timeline bucket, as a short vector
//! in address order held inline: a pool has a handful of addresses, and every watched response
//! updates its client's counts, so the counts sit beside the client's key in its hash bucket
//! instead of behind a pointer to a tree node (on the analysing thread that second cache miss
//! per response cost more than all the counting).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// How often an address was in an answer, and how often it came first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// Answers containing it.
    pub present: u64,
    /// Answers in which it was the first address.
    pub first: u64,
}

impl Placement {
    /// Counts one answer holding the address at `position` (0: first).
    pub fn count(&mut self, position: usize) {
        self.present += 1;
        self.first += u64::from(position == 0);
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: Placement) {
        let Placement { present, first } = other;
        self.present += present;
        self.first += first;
    }
}

/// Addresses held without a heap allocation: a pool of four, one wrong address beside it.
const INLINE: usize = 5;
/// Maps at most this long are searched by equality before ordering.
const SCANNED: usize = 16;

/// Placements by address, in address order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Placements {
    entries: SmallVec<[(IpAddr, Placement); INLINE]>,
}

impl Placements {
    /// Addresses held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no address is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `Ok(index)` of `address`, or `Err(index)` where it would go. Short maps (nearly every
    /// lookup is of an address held) are scanned for equality first: cheaper than the ordering
    /// compares of a binary search.
    fn search(&self, address: &IpAddr) -> Result<usize, usize> {
        if self.entries.len() <= SCANNED {
            if let Some(index) = self.entries.iter().position(|(held, _)| held == address) {
                return Ok(index);
            }
        }
        self.entries.binary_search_by(|(held, _)| held.cmp(address))
    }

    /// The counts of `address`, if held.
    pub fn get(&self, address: &IpAddr) -> Option<&Placement> {
        let index = self.search(address).ok()?;
        Some(&self.entries[index].1)
    }

    /// True when `address` is held.
    pub fn contains_key(&self, address: &IpAddr) -> bool {
        self.search(address).is_ok()
    }

    /// Addresses and their counts in address order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&IpAddr, &Placement)> {
        self.entries
            .iter()
            .map(|(address, placement)| (address, placement))
    }

    /// Addresses in address order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &IpAddr> {
        self.entries.iter().map(|(address, _)| address)
    }

    /// The counts of `address`, added (zero) if it is among the lowest `cap` addresses seen,
    /// displacing the highest held one, whose answers (`present`) are added to `dropped`;
    /// `None` (and 1 added to `dropped`) for an address higher than the `cap` held (see
    /// [`super::caps`]).
    fn lowest_entry(
        &mut self,
        address: IpAddr,
        cap: usize,
        dropped: &mut u64,
    ) -> Option<&mut Placement> {
        let index = match self.search(&address) {
            Ok(index) => index,
            Err(index) if self.entries.len() < cap => {
                self.entries.insert(index, (address, Placement::default()));
                index
            }
            Err(index) if index < self.entries.len() => {
                if let Some((_, highest)) = self.entries.pop() {
                    *dropped += highest.present;
                }
                self.entries.insert(index, (address, Placement::default()));
                index
            }
            Err(_) => {
                *dropped += 1;
                return None;
            }
        };
        Some(&mut self.entries[index].1)
    }

    /// The counts of `address`, added if missing (no cap).
    pub fn entry(&mut self, address: IpAddr) -> &mut Placement {
        self.lowest_entry(address, usize::MAX, &mut 0)
            .expect("an uncapped placement map takes every address")
    }

    /// Counts each address of an answer (present; first at position 0), keeping the lowest
    /// `cap` addresses. Returns how many address occurrences were refused or evicted.
    /// Nearly every answer names only addresses already held: in a short map a first pass
    /// counts those with one scan of the entries per address; the rest, if any (and every
    /// address, in a long map), are then searched and added in answer order.
    pub fn place_capped(&mut self, addresses: &[IpAddr], cap: usize) -> u64 {
        let mut uncounted = u64::MAX; // bit i: the address at position i is not counted yet
        if self.entries.len() <= SCANNED {
            uncounted = 0;
            let entries = &mut self.entries[..];
            for (position, address) in addresses.iter().enumerate().take(64) {
                match entries.iter_mut().find(|(held, _)| held == address) {
                    Some((_, placement)) => placement.count(position),
                    None => uncounted |= 1 << position,
                }
            }
        }
        if uncounted == 0 && addresses.len() <= 64 {
            return 0;
        }
        let mut did_not_fit = 0;
        for (position, address) in addresses.iter().enumerate() {
            if position < 64 && uncounted & (1 << position) == 0 {
                continue;
            }
            if let Some(placement) = self.lowest_entry(*address, cap, &mut did_not_fit) {
                placement.count(position);
            }
        }
        did_not_fit
    }

    /// Counts each address of an answer, adding every new one.
    pub fn place(&mut self, addresses: &[IpAddr]) {
        self.place_capped(addresses, usize::MAX);
    }

    /// Adds `other` into `self`, address by address.
    pub fn merge(&mut self, other: Placements) {
        for (address, placement) in other {
            self.entry(address).merge(placement);
        }
    }

    /// Removes and returns the highest address and its counts.
    pub fn pop_last(&mut self) -> Option<(IpAddr, Placement)> {
        self.entries.pop()
    }
}

impl IntoIterator for Placements {
    type Item = (IpAddr, Placement);
    type IntoIter = smallvec::IntoIter<[(IpAddr, Placement); INLINE]>;

    /// Addresses and their counts in address order.
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Placements {
    type Item = (&'a IpAddr, &'a Placement);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (IpAddr, Placement)>,
        fn(&'a (IpAddr, Placement)) -> (&'a IpAddr, &'a Placement),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries
            .iter()
            .map(|(address, placement)| (address, placement))
    }
}

impl FromIterator<(IpAddr, Placement)> for Placements {
    /// Collects counts; an address given twice has its counts added.
    fn from_iter<I: IntoIterator<Item = (IpAddr, Placement)>>(iter: I) -> Self {
        let mut placements = Placements::default();
        for (address, placement) in iter {
            placements.entry(address).merge(placement);
        }
        placements
    }
}

impl std::ops::Index<&IpAddr> for Placements {
    type Output = Placement;

    fn index(&self, address: &IpAddr) -> &Placement {
        self.get(address).expect("no placement for this address")
    }
}

/// Shown as a map in address order (as the tree it replaced was).
impl std::fmt::Debug for Placements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Saved as a map in address order (as the tree it replaced was).
impl Serialize for Placements {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Placements {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(BTreeMap::<IpAddr, Placement>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `place_capped` must do: each position in turn, as a tree search.
    fn place_one_by_one(
        placements: &mut BTreeMap<IpAddr, Placement>,
        addresses: &[IpAddr],
        cap: usize,
    ) -> u64 {
        let mut did_not_fit = 0;
        for (position, address) in addresses.iter().enumerate() {
            let evicted = |placement: Placement| did_not_fit += placement.present;
            match crate::analyze::caps::lowest_entry(placements, *address, cap, evicted) {
                Some(placement) => placement.count(position),
                None => did_not_fit += 1,
            }
        }
        did_not_fit
    }

    fn random_answer(rng: &mut fastrand::Rng) -> Vec<IpAddr> {
        // Few distinct addresses (repeats within an answer included), some IPv6.
        (0..rng.usize(0..70))
            .map(|_| match rng.u8(0..30) {
                0 => IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, u16::from(rng.u8(..))]),
                n => IpAddr::from([10, 10, 10, n]),
            })
            .collect()
    }

    #[test]
    fn placing_answers_counts_as_a_tree_would() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let cap = rng.usize(1..24);
            let (mut placements, mut tree) = (Placements::default(), BTreeMap::new());
            for _ in 0..rng.usize(1..12) {
                let answer = random_answer(&mut rng);
                assert_eq!(
                    placements.place_capped(&answer, cap),
                    place_one_by_one(&mut tree, &answer, cap)
                );
                let held: Vec<(IpAddr, Placement)> = placements.clone().into_iter().collect();
                let expected: Vec<(IpAddr, Placement)> = tree.clone().into_iter().collect();
                assert_eq!(held, expected);
            }
        }
    }

    #[test]
    fn saves_and_prints_as_the_tree_it_replaced() {
        let mut rng = fastrand::Rng::with_seed(11);
        let (mut placements, mut tree) = (Placements::default(), BTreeMap::new());
        for _ in 0..20 {
            let answer = random_answer(&mut rng);
            placements.place(&answer);
            place_one_by_one(&mut tree, &answer, usize::MAX);
        }
        assert!(placements.len() > INLINE, "the test spills to the heap");
        let saved = serde_json::to_string(&placements).unwrap();
        assert_eq!(saved, serde_json::to_string(&tree).unwrap());
        assert_eq!(format!("{placements:?}"), format!("{tree:?}"));
        let back: Placements = serde_json::from_str(&saved).unwrap();
        assert_eq!(back, placements);
        // Merged in either order, counts add up alike.
        let mut twice = placements.clone();
        twice.merge(back.clone());
        let mut other_way = back;
        other_way.merge(placements.clone());
        assert_eq!(twice, other_way);
        let first = placements.keys().next().copied().unwrap();
        assert_eq!(twice[&first].present, 2 * placements[&first].present);
    }
}
