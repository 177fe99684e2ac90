//! Keys and hashes that decode works out for analyze: a client address with its hash, an answer
//! set with its hash, the fields and hash of a pairing key, and the analysis shard of a client
//! (with a shard's share of a budget). Decode hashes each message once, so the
//! analysis's table lookups only compare. A leaf: it imports nothing of the crate, so
//! `decode`, `analyze` and `pipeline` all use it without importing each other.
//!
//! Every table hasher here is seeded at random once per process: keys come from the network,
//! and with a hash known in advance crafted traffic could make them all collide. Those hashes
//! are never saved or compared across processes, and nothing a report shows depends on them.
//! The shard routing hash and the client fingerprint alone have fixed seeds (see [`shard_of`]).

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;

/// A distinct answer set: the addresses of one answer, sorted (order is counted separately).
pub type AnswerSet = Vec<IpAddr>;

/// The transport a DNS message arrived on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// DNS over UDP.
    Udp,
    /// DNS over TCP.
    Tcp,
}

impl Transport {
    /// Name as in the logs: `udp` or `tcp`.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// An address as one number, for hashing (an IPv4 address and its IPv4-mapped IPv6 form hash
/// alike; tables still tell them apart by comparing the addresses).
fn address_bits(address: &IpAddr) -> u128 {
    match address {
        IpAddr::V4(ip) => u128::from(ip.to_bits()),
        IpAddr::V6(ip) => ip.to_bits(),
    }
}

/// The hasher of client addresses.
static CLIENT_HASHER: LazyLock<foldhash::fast::RandomState> =
    LazyLock::new(foldhash::fast::RandomState::default);

/// A client address with its hash. The decoder hashes each message's client on the decode
/// workers (`DnsMessage::client_hash`), so the analysing thread's lookups in every client table
/// only compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashedClient {
    address: IpAddr,
    hash: u64,
}

impl HashedClient {
    /// `address`, hashed here.
    pub fn new(address: IpAddr) -> Self {
        HashedClient {
            address,
            hash: Self::hash_of(&address),
        }
    }

    /// `address` with the hash [`Self::hash_of`] gave it earlier (checked in debug builds).
    pub fn with_hash(address: IpAddr, hash: u64) -> Self {
        debug_assert_eq!(hash, Self::hash_of(&address), "stale client hash");
        HashedClient { address, hash }
    }

    /// The hash of `address` (in this process).
    pub fn hash_of(address: &IpAddr) -> u64 {
        CLIENT_HASHER.hash_one(address_bits(address))
    }

    /// The address.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// Its hash.
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

/// The hasher of answer sets.
static SET_HASHER: LazyLock<foldhash::fast::RandomState> =
    LazyLock::new(foldhash::fast::RandomState::default);

/// A hash of a set's addresses (seeded per process: crafted answer sets could otherwise all
/// collide, turning every lookup into a scan of a name's sets).
pub fn set_hash(set: &[IpAddr]) -> u64 {
    let mut hasher = SET_HASHER.build_hasher();
    hasher.write_usize(set.len());
    for address in set {
        match address {
            IpAddr::V4(v4) => hasher.write_u32(u32::from(*v4)),
            IpAddr::V6(v6) => hasher.write_u128(u128::from(*v6)),
        }
    }
    hasher.finish()
}

/// An answer set and its hash. The hash is worked out once per response, on the decode threads
/// (`ResponseView::set_key`), for all the maps the analysis looks the set up in.
#[derive(Debug, Clone, Copy)]
pub struct SetKey<'a> {
    set: &'a [IpAddr],
    hash: u64,
}

impl<'a> SetKey<'a> {
    /// `set` with its hash worked out here.
    pub fn of(set: &'a [IpAddr]) -> Self {
        SetKey {
            set,
            hash: set_hash(set),
        }
    }

    /// `set` with `hash`, which must be [`set_hash`] of it.
    pub fn with_hash(set: &'a [IpAddr], hash: u64) -> Self {
        debug_assert_eq!(hash, set_hash(set));
        SetKey { set, hash }
    }

    /// The addresses.
    pub fn set(&self) -> &'a [IpAddr] {
        self.set
    }

    /// Its hash.
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

/// The hasher of pairing keys.
static PAIRING_HASHER: LazyLock<foldhash::fast::RandomState> =
    LazyLock::new(foldhash::fast::RandomState::default);

/// What a pairing key is made of, with the name borrowed: a message's client and server
/// (address and port), transport, id, question name (normalized) and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairingFields<'a> {
    /// The client (sender of the query, receiver of the response).
    pub client: SocketAddr,
    /// The server.
    pub server: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// DNS transaction id.
    pub id: u16,
    /// The question name, normalized.
    pub qname: &'a str,
    /// The question type.
    pub qtype: u16,
}

impl PairingFields<'_> {
    /// The hash of the key (worked out when a message is decoded; the tables then only compare).
    pub fn hash_key(&self) -> u64 {
        PAIRING_HASHER.hash_one(self)
    }
}

/// The fixed-size fields packed into four words before the name (a derived hash would feed the
/// hasher a round per field and per address part: twice the cost).
impl Hash for PairingFields<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u128(address_bits(&self.client.ip()));
        state.write_u128(address_bits(&self.server.ip()));
        state.write_u64(
            u64::from(self.client.port()) << 48
                | u64::from(self.server.port()) << 32
                | u64::from(self.id) << 16
                | u64::from(self.qtype),
        );
        state.write_u8(self.transport as u8);
        state.write(self.qname.as_bytes());
    }
}

/// The logical analysis shard of a client address, among `shards`. A fixed seed: the same
/// client goes to the same shard in every run, so runs are reproducible (and an attacker who
/// crowds one shard only starves that shard's budgets, see the pipeline's shards).
pub fn shard_of(client: IpAddr, shards: usize) -> usize {
    (fixed_hash(&client, 0) % shards as u64) as usize
}

/// A fingerprint of a client address with a fixed seed, independent of its shard (for sketches
/// that count distinct clients and must merge across runs).
pub fn client_fingerprint(client: &IpAddr) -> u64 {
    fixed_hash(client, 0x9e37_79b9_7f4a_7c15)
}

/// splitmix64's finalizer over `address` folded to 64 bits and offset by `seed`.
fn fixed_hash(address: &IpAddr, seed: u64) -> u64 {
    let bits = address_bits(address);
    let mut x = ((bits as u64) ^ ((bits >> 64) as u64)).wrapping_add(seed);
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Shard `index`'s share of a budget of `total` among `shards`: equal parts, the remainder to
/// the first shards, at least 1 (so the shares add up to `total` when it is at least
/// `shards`); a budget of nothing stays nothing (the log asks discovery for no names: one
/// name per shard would rebuild a summary for every new name it sees).
pub fn share_of(total: usize, index: usize, shards: usize) -> usize {
    if total == 0 {
        return 0;
    }
    let remainder = usize::from(index < total % shards);
    (total / shards + remainder).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_hold_at_least_one_and_nothing_stays_nothing() {
        let shares = |total: usize| (0..32).map(move |index| share_of(total, index, 32));
        assert!(shares(0).all(|share| share == 0));
        assert!(shares(5).all(|share| share == 1));
        assert_eq!(shares(1000).sum::<usize>(), 1000);
        assert!(shares(1000).all(|share| share == 31 || share == 32));
    }
}
