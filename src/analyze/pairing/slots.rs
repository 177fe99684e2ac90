//! The keyed state of pairing, compact: one slot per pairing key, holding the key's pending
//! query, its recent answer (all duplicate detection compares: the answer's signature), or
//! both; an index from the key's hash to its slot; the pending queries' details in a slab of
//! their own (few wait at once, while recent answers are held for a whole query timeout).
//! Slots are named by number, so the expiry queue holds no keys: expiring an entry neither
//! copies, compares nor reference-counts a key.

use super::FrameRef;
use crate::decode::{DnsMessage, Flags};
use crate::keys::{PairingFields, Transport};
use hashbrown::HashTable;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::WatchedName;

/// A message's key as looked up: its fields borrowed, and the hash the decoder worked out. A
/// lookup takes no reference to the message's name (a count written for every response).
#[derive(Clone, Copy)]
pub(super) struct KeyRef<'a> {
    pub fields: PairingFields<'a>,
    hash: u64,
}

impl<'a> KeyRef<'a> {
    pub fn of(message: &'a DnsMessage) -> Self {
        debug_assert_eq!(
            message.pairing_hash,
            message.pairing_fields().hash_key(),
            "stale pairing hash"
        );
        KeyRef {
            fields: message.pairing_fields(),
            hash: message.pairing_hash,
        }
    }
}

/// A key as held: the addresses without the socket address's IPv6 extras (decoded messages
/// never carry any), the name shared with the message it came from, the hash.
#[derive(Debug)]
pub(super) struct HeldKey {
    client_ip: IpAddr,
    server_ip: IpAddr,
    client_port: u16,
    server_port: u16,
    id: u16,
    qtype: u16,
    transport: Transport,
    /// The question name, normalized.
    pub qname: Arc<str>,
    hash: u64,
}

impl HeldKey {
    /// The key of `key`, holding `qname` (the same name as its fields').
    fn new(key: KeyRef<'_>, qname: &Arc<str>) -> Self {
        let fields = key.fields;
        debug_assert_eq!(**qname, *fields.qname);
        HeldKey {
            client_ip: fields.client.ip(),
            server_ip: fields.server.ip(),
            client_port: fields.client.port(),
            server_port: fields.server.port(),
            id: fields.id,
            qtype: fields.qtype,
            transport: fields.transport,
            qname: qname.clone(),
            hash: key.hash,
        }
    }

    fn matches(&self, key: &KeyRef<'_>) -> bool {
        let fields = &key.fields;
        self.hash == key.hash
            && self.client_ip == fields.client.ip()
            && self.client_port == fields.client.port()
            && self.server_ip == fields.server.ip()
            && self.server_port == fields.server.port()
            && self.id == fields.id
            && self.qtype == fields.qtype
            && self.transport == fields.transport
            && *self.qname == *fields.qname
    }

    /// The client (query source).
    pub fn client(&self) -> SocketAddr {
        SocketAddr::new(self.client_ip, self.client_port)
    }

    /// The server (query destination).
    pub fn server(&self) -> SocketAddr {
        SocketAddr::new(self.server_ip, self.server_port)
    }

    /// UDP or TCP.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// DNS id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Question type.
    pub fn qtype(&self) -> u16 {
        self.qtype
    }
}

/// A query waiting for its response.
#[derive(Debug)]
pub(super) struct PendingQuery {
    /// Its latest queue entry's sequence (a retransmission queues it again).
    pub sequence: u64,
    pub query_ts_ns: u64,
    pub frame: FrameRef,
    pub flags: Flags,
    /// The name as sent.
    pub qname: Arc<str>,
    pub retries: u32,
    pub retry_frames: Vec<FrameRef>,
    pub watched: Option<WatchedName>,
    pub edns_udp_size: Option<u16>,
    pub retry_of_truncated: Option<FrameRef>,
}

/// What is remembered of an answered query for a query timeout: enough to tell a second
/// response that repeats the answer from one that differs.
#[derive(Debug, Clone, Copy)]
pub(super) struct RecentAnswer {
    /// Its queue entry's sequence.
    pub sequence: u64,
    /// The first response's answer signature.
    pub signature: u64,
}

/// One key's state: never both empty while the slot is held.
#[derive(Debug)]
pub(super) struct Slot {
    pub key: HeldKey,
    /// The pending query, by its place in the queries' slab.
    query: Option<u32>,
    pub answer: Option<RecentAnswer>,
}

/// Items numbered by their place, places reused once freed.
#[derive(Debug)]
struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    fn new() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, item: T) -> u32 {
        match self.free.pop() {
            Some(place) => {
                self.items[place as usize] = Some(item);
                place
            }
            None => {
                let place = u32::try_from(self.items.len()).expect("a shard holds under 2^32");
                self.items.push(Some(item));
                place
            }
        }
    }

    fn remove(&mut self, place: u32) -> T {
        let item = self.items[place as usize].take().expect("a held place");
        self.free.push(place);
        item
    }

    fn get(&self, place: u32) -> Option<&T> {
        self.items.get(place as usize)?.as_ref()
    }

    fn get_mut(&mut self, place: u32) -> Option<&mut T> {
        self.items.get_mut(place as usize)?.as_mut()
    }
}

/// Every held key's slot, found by key; and the pending queries.
#[derive(Debug)]
pub(super) struct Slots {
    index: HashTable<u32>,
    slots: Slab<Slot>,
    queries: Slab<PendingQuery>,
}

/// Bytes a held slot takes beyond its name: the slot, its index entry and its free-list place.
pub(super) const SLOT_BYTES: usize =
    std::mem::size_of::<Option<Slot>>() + 2 * std::mem::size_of::<u32>();
/// Bytes a pending query takes beyond what it points to: its place and free-list place.
pub(super) const QUERY_BYTES: usize =
    std::mem::size_of::<Option<PendingQuery>>() + std::mem::size_of::<u32>();

impl Slots {
    pub fn new() -> Self {
        Slots {
            index: HashTable::new(),
            slots: Slab::new(),
            queries: Slab::new(),
        }
    }

    /// The slot of `key`, if it is held.
    pub fn find(&self, key: &KeyRef<'_>) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(key.hash, |&slot| {
                slots.get(slot).is_some_and(|held| held.key.matches(key))
            })
            .copied()
    }

    /// A new, empty slot for `key` (not held yet), holding `qname` (the same name as the
    /// key's); fill it before anything may release it.
    pub fn insert(&mut self, key: KeyRef<'_>, qname: &Arc<str>) -> u32 {
        let slot = self.slots.insert(Slot {
            key: HeldKey::new(key, qname),
            query: None,
            answer: None,
        });
        let slots = &self.slots;
        self.index.insert_unique(key.hash, slot, |&slot| {
            slots.get(slot).map_or(0, |held| held.key.hash)
        });
        slot
    }

    /// A held slot (None once released).
    pub fn get(&self, slot: u32) -> Option<&Slot> {
        self.slots.get(slot)
    }

    /// A held slot, to change its answer.
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut Slot> {
        self.slots.get_mut(slot)
    }

    /// The slot's pending query.
    pub fn query(&self, slot: u32) -> Option<&PendingQuery> {
        self.queries.get(self.slots.get(slot)?.query?)
    }

    /// The slot's pending query, to change it.
    pub fn query_mut(&mut self, slot: u32) -> Option<&mut PendingQuery> {
        self.queries.get_mut(self.slots.get(slot)?.query?)
    }

    /// Gives a held slot without a pending query its query.
    pub fn set_query(&mut self, slot: u32, query: PendingQuery) {
        let place = self.queries.insert(query);
        let held = self.slots.get_mut(slot).expect("a held slot");
        debug_assert!(held.query.is_none());
        held.query = Some(place);
    }

    /// Takes a held slot's pending query out (the slot stays held).
    pub fn take_query(&mut self, slot: u32) -> Option<PendingQuery> {
        let place = self.slots.get_mut(slot)?.query.take()?;
        Some(self.queries.remove(place))
    }

    /// Releases `slot` if it holds neither a query nor an answer; hands its key back then.
    pub fn release_if_empty(&mut self, slot: u32) -> Option<HeldKey> {
        let held = self.slots.get(slot)?;
        if held.query.is_some() || held.answer.is_some() {
            return None;
        }
        if let Ok(entry) = self.index.find_entry(held.key.hash, |&found| found == slot) {
            entry.remove();
        }
        Some(self.slots.remove(slot).key)
    }

    /// True when nothing is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}
