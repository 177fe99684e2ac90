//! Distinct clients of a name counted in little memory: the clients' fingerprints exactly while
//! there are few, then a HyperLogLog sketch (Flajolet et al. 2007) of 2^10 registers, whose
//! estimate has a relative standard error of 1.04/√1024 ≈ 3.3%. Fingerprints have a fixed
//! seed ([`crate::keys::client_fingerprint`]) and a merge is a union, so the count is the same
//! however the traffic was split and in whichever order the parts merge (the sketch switches on
//! at the same number of distinct clients in every case), and reports from different runs merge.

use crate::keys::client_fingerprint;
use smallvec::SmallVec;
use std::net::IpAddr;

/// Bits of the fingerprint that pick a register.
const PRECISION: u32 = 10;
/// Registers of the sketch.
const REGISTERS: usize = 1 << PRECISION;
/// Distinct fingerprints held exactly before the sketch takes over.
const EXACT_LIMIT: usize = 64;
/// The sketch's relative standard error (1.04/√registers).
pub const SKETCH_RELATIVE_ERROR: f64 = 0.0325;

/// Distinct clients: exact below [`EXACT_LIMIT`], a HyperLogLog sketch above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DistinctClients {
    /// The fingerprints seen, sorted, without repeats.
    Exact(SmallVec<[u64; 2]>),
    /// Per register, the largest rank seen.
    Sketch(Box<[u8; REGISTERS]>),
}

impl Default for DistinctClients {
    fn default() -> Self {
        DistinctClients::Exact(SmallVec::new())
    }
}

/// How many distinct clients, and whether that is an estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistinctCount {
    /// The count (rounded estimate when `estimated`).
    pub count: u64,
    /// True when the sketch estimated it (relative standard error [`SKETCH_RELATIVE_ERROR`]).
    pub estimated: bool,
}

impl DistinctClients {
    /// Counts `client`.
    pub fn insert(&mut self, client: &IpAddr) {
        self.insert_fingerprint(client_fingerprint(client));
    }

    fn insert_fingerprint(&mut self, fingerprint: u64) {
        match self {
            DistinctClients::Exact(fingerprints) => {
                if let Err(at) = fingerprints.binary_search(&fingerprint) {
                    fingerprints.insert(at, fingerprint);
                    if fingerprints.len() > EXACT_LIMIT {
                        *self = sketch_of(fingerprints);
                    }
                }
            }
            DistinctClients::Sketch(registers) => observe(registers, fingerprint),
        }
    }

    /// Adds `other`'s clients (a union).
    pub fn merge(&mut self, other: DistinctClients) {
        match other {
            DistinctClients::Exact(fingerprints) => {
                for fingerprint in fingerprints {
                    self.insert_fingerprint(fingerprint);
                }
            }
            DistinctClients::Sketch(theirs) => {
                if let DistinctClients::Exact(fingerprints) = self {
                    *self = sketch_of(fingerprints);
                }
                if let DistinctClients::Sketch(mine) = self {
                    for (mine, theirs) in mine.iter_mut().zip(theirs.iter()) {
                        *mine = (*mine).max(*theirs);
                    }
                }
            }
        }
    }

    /// The number of distinct clients: exact, or the sketch's estimate.
    pub fn count(&self) -> DistinctCount {
        match self {
            DistinctClients::Exact(fingerprints) => DistinctCount {
                count: fingerprints.len() as u64,
                estimated: false,
            },
            DistinctClients::Sketch(registers) => DistinctCount {
                count: estimate(registers).round() as u64,
                estimated: true,
            },
        }
    }
}

fn sketch_of(fingerprints: &[u64]) -> DistinctClients {
    let mut registers = Box::new([0u8; REGISTERS]);
    for &fingerprint in fingerprints {
        observe(&mut registers, fingerprint);
    }
    DistinctClients::Sketch(registers)
}

fn observe(registers: &mut [u8; REGISTERS], fingerprint: u64) {
    let register = (fingerprint >> (64 - PRECISION)) as usize;
    let rest = fingerprint << PRECISION;
    let rank = (rest.leading_zeros() + 1).min(64 - PRECISION + 1) as u8;
    registers[register] = registers[register].max(rank);
}

/// The HyperLogLog estimate with the small-range correction (linear counting while registers
/// are still empty); 64-bit fingerprints need no large-range correction.
fn estimate(registers: &[u8; REGISTERS]) -> f64 {
    let m = REGISTERS as f64;
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let sum: f64 = registers.iter().map(|&r| (-f64::from(r)).exp2()).sum();
    let raw = alpha * m * m / sum;
    let empty = registers.iter().filter(|&&r| r == 0).count();
    if raw <= 2.5 * m && empty > 0 {
        m * (m / empty as f64).ln()
    } else {
        raw
    }
}

/// The saved form: `{"exact": [fingerprints]}` or `{"sketch": "hex of the registers"}`.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum SavedDistinct {
    Exact(Vec<u64>),
    Sketch(String),
}

impl serde::Serialize for DistinctClients {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let saved = match self {
            DistinctClients::Exact(fingerprints) => SavedDistinct::Exact(fingerprints.to_vec()),
            DistinctClients::Sketch(registers) => {
                SavedDistinct::Sketch(registers.iter().map(|r| format!("{r:02x}")).collect())
            }
        };
        saved.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for DistinctClients {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match SavedDistinct::deserialize(deserializer)? {
            SavedDistinct::Exact(mut fingerprints) => {
                fingerprints.sort_unstable();
                fingerprints.dedup();
                let mut distinct = DistinctClients::default();
                for fingerprint in fingerprints {
                    distinct.insert_fingerprint(fingerprint);
                }
                Ok(distinct)
            }
            SavedDistinct::Sketch(hex) => {
                let bytes = hex.as_bytes();
                if bytes.len() != 2 * REGISTERS {
                    return Err(D::Error::custom(format!(
                        "a client sketch has {REGISTERS} registers, not {}",
                        bytes.len() / 2
                    )));
                }
                let mut registers = Box::new([0u8; REGISTERS]);
                for (register, pair) in registers.iter_mut().zip(bytes.chunks_exact(2)) {
                    let text = std::str::from_utf8(pair).map_err(D::Error::custom)?;
                    *register = u8::from_str_radix(text, 16).map_err(D::Error::custom)?;
                }
                Ok(DistinctClients::Sketch(registers))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn client(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    fn counted(range: std::ops::Range<u32>) -> DistinctClients {
        let mut distinct = DistinctClients::default();
        for n in range {
            distinct.insert(&client(n));
        }
        distinct
    }

    #[test]
    fn few_clients_are_counted_exactly_and_repeats_once() {
        let mut distinct = counted(0..40);
        distinct.insert(&client(3));
        assert_eq!(
            distinct.count(),
            DistinctCount {
                count: 40,
                estimated: false
            }
        );
    }

    #[test]
    fn many_clients_are_estimated_within_three_standard_errors() {
        for clients in [100u32, 1_000, 20_000, 300_000] {
            let count = counted(0..clients).count();
            assert!(count.estimated);
            let error = (count.count as f64 - f64::from(clients)).abs() / f64::from(clients);
            assert!(error < 3.0 * SKETCH_RELATIVE_ERROR, "{clients}: {count:?}");
        }
    }

    #[test]
    fn a_merge_is_the_union_whatever_the_split_and_order() {
        let whole = counted(0..5_000);
        let mut forward = counted(0..30);
        forward.merge(counted(20..2_000));
        forward.merge(counted(1_500..5_000));
        let mut backward = counted(1_500..5_000);
        backward.merge(counted(20..2_000));
        backward.merge(counted(0..30));
        assert_eq!(forward, whole);
        assert_eq!(backward, whole);
        let mut small = counted(0..30);
        small.merge(counted(25..60));
        assert_eq!(small, counted(0..60));
    }

    #[test]
    fn the_saved_form_reads_back_and_bad_registers_are_refused() {
        for distinct in [counted(0..10), counted(0..1_000)] {
            let json = serde_json::to_string(&distinct).unwrap();
            let back: DistinctClients = serde_json::from_str(&json).unwrap();
            assert_eq!(back, distinct);
        }
        let error = serde_json::from_str::<DistinctClients>(r#"{"sketch": "00ff"}"#).unwrap_err();
        assert!(error.to_string().contains("1024 registers"), "{error}");
    }
}
