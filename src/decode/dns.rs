//! DNS: a wire prefilter that walks the header and question name in place and compares it with
//! the watched names (lowercase wire bytes, no allocation), then a full decode with hickory-proto
//! for watched names only. This is the only file that imports hickory-proto.
//!
//! A watched name is matched in the question, or (for responses holding CNAMEs) in a CNAME
//! target, so an alias whose chain ends at a watched name is decoded too (RFC 1034 §3.6.2).

use super::view::ResponseView;
use super::{FrameContext, Layer, Skip, Transport};
use crate::keys::{HashedClient, PairingFields};
use hickory_proto::op::Query;
use hickory_proto::rr::{RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

const HEADER_LEN: usize = 12;
/// Bound on compression-pointer jumps while reading one name (a loop is malformed, not endless).
const MAX_POINTER_JUMPS: usize = 64;
const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;
const OPCODE_QUERY: u8 = 0;

/// The names to decode in full, pre-encoded as lowercase wire bytes.
#[derive(Debug, Clone, Default)]
pub struct WatchList {
    wire_names: Vec<WireName>,
    /// Near misses: each watched name's labels without the root (matched as a prefix of a
    /// longer name: suffix devolution), and its first label alone (a single-label lookup).
    near_prefixes: Vec<Vec<u8>>,
    near_single_labels: Vec<Vec<u8>>,
    /// Decode every message (discovery and the transaction log of all names).
    match_all: bool,
    /// Drop a message's answer records once its view is worked out (see
    /// [`Self::dropping_answer_records`]).
    drops_answer_records: bool,
}

impl WatchList {
    /// Watches exactly `names` (dotted, any case, trailing dot optional).
    pub fn names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let wire_names: Vec<Vec<u8>> = names.into_iter().map(wire_lowercase).collect();
        let near_prefixes = wire_names
            .iter()
            .map(|wire| wire[..wire.len() - 1].to_vec())
            .filter(|prefix| !prefix.is_empty())
            .collect();
        let near_single_labels = wire_names
            .iter()
            .filter(|wire| wire.len() > usize::from(wire[0]) + 2)
            .map(|wire| {
                let mut single = wire[..=usize::from(wire[0])].to_vec();
                single.push(0);
                single
            })
            .collect();
        WatchList {
            wire_names: wire_names.into_iter().map(WireName::new).collect(),
            near_prefixes,
            near_single_labels,
            match_all: false,
            drops_answer_records: false,
        }
    }

    /// Watches every query and response: used for discovery and for logging all names.
    pub fn everything() -> Self {
        WatchList {
            match_all: true,
            ..WatchList::default()
        }
    }

    /// True when queries for every name are decoded (so a response without its query is a
    /// true orphan, whatever its name).
    pub fn decodes_every_query(&self) -> bool {
        self.match_all
    }

    /// The same list, but decoded messages keep no answer records ([`DnsMessage::answers`]
    /// stays empty) once their view is worked out: only the transaction log prints them, and
    /// the analysis reads the view. Each message then holds one allocation less.
    pub fn dropping_answer_records(self) -> Self {
        WatchList {
            drops_answer_records: true,
            ..self
        }
    }

    /// True when the name at `offset` in `message` is a watched one.
    fn matches(&self, message: &[u8], offset: usize) -> bool {
        self.position(message, offset).is_some()
    }

    /// Which watched name (in the order given) is at `offset`, if one is.
    fn position(&self, message: &[u8], offset: usize) -> Option<usize> {
        self.wire_names
            .iter()
            .position(|watched| watched.found_at(message, offset))
    }

    /// True when the name at `offset` was after a watched one: the watched name with more
    /// labels after it, or the watched name's first label alone.
    fn near_miss(&self, message: &[u8], offset: usize) -> bool {
        self.near_prefixes
            .iter()
            .any(|prefix| name_equals(message, offset, prefix, true))
            || self
                .near_single_labels
                .iter()
                .any(|single| name_equals(message, offset, single, false))
    }
}

/// A watched name as lowercase wire bytes, with the bit that folds ASCII case set at each
/// lowercase letter: a name written out in full (as a question name always is) is compared
/// eight bytes at a time.
#[derive(Debug, Clone)]
struct WireName {
    bytes: Vec<u8>,
    /// 0x20 where `bytes` holds a lowercase letter (`b | 0x20` lowercases a letter `b`; length
    /// bytes, at most 63, and other characters must match exactly).
    case_bits: Vec<u8>,
}

impl WireName {
    fn new(bytes: Vec<u8>) -> Self {
        let case_bits = bytes
            .iter()
            .map(|b| if b.is_ascii_lowercase() { 0x20 } else { 0 })
            .collect();
        WireName { bytes, case_bits }
    }

    /// True when the name at `offset` in `message` is this one (see [`name_equals`]).
    fn found_at(&self, message: &[u8], offset: usize) -> bool {
        let Some(&first) = message.get(offset) else {
            return false;
        };
        // Other names mostly differ right there, in the first label's length; a compression
        // pointer takes the label walk.
        if Some(&first) != self.bytes.first() {
            return first & 0xc0 == 0xc0 && name_equals(message, offset, &self.bytes, false);
        }
        message
            .get(offset..offset + self.bytes.len())
            .is_some_and(|written| self.written_out_is(written))
            || name_equals(message, offset, &self.bytes, false)
    }

    /// True when `written` (as long as this name) is this name written out without
    /// compression, ASCII case ignored.
    fn written_out_is(&self, written: &[u8]) -> bool {
        const WORD: usize = 8;
        let word = |bytes: &[u8]| u64::from_ne_bytes(bytes.try_into().unwrap_or_default());
        let words = written
            .chunks_exact(WORD)
            .zip(self.bytes.chunks_exact(WORD))
            .zip(self.case_bits.chunks_exact(WORD));
        let tail = written.len() / WORD * WORD;
        words
            .into_iter()
            .all(|((written, name), case)| word(written) | word(case) == word(name))
            && written[tail..]
                .iter()
                .zip(&self.bytes[tail..])
                .zip(&self.case_bits[tail..])
                .all(|((written, name), case)| written | case == *name)
    }
}

/// Encodes a dotted name as lowercase DNS wire bytes (labels, then the root label).
fn wire_lowercase(name: &str) -> Vec<u8> {
    let mut wire = Vec::with_capacity(name.len() + 2);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        wire.push(label.len().min(63) as u8);
        wire.extend(label.bytes().take(63).map(|b| b.to_ascii_lowercase()));
    }
    wire.push(0);
    wire
}

/// DNS header flags (RFC 1035 §4.1.1, RFC 4035 §3.2 for AD and CD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// QR: this is a response.
    pub response: bool,
    /// Opcode (0 = QUERY).
    pub opcode: u8,
    /// AA: authoritative answer.
    pub authoritative: bool,
    /// TC: truncated.
    pub truncated: bool,
    /// RD: recursion desired.
    pub recursion_desired: bool,
    /// RA: recursion available.
    pub recursion_available: bool,
    /// AD: authentic data.
    pub authentic_data: bool,
    /// CD: checking disabled.
    pub checking_disabled: bool,
    /// RCODE (the four header bits).
    pub rcode: u8,
}

impl Flags {
    fn from_header(bits: u16) -> Self {
        let bit = |n: u16| bits & (1 << n) != 0;
        Flags {
            response: bit(15),
            opcode: ((bits >> 11) & 0xf) as u8,
            authoritative: bit(10),
            truncated: bit(9),
            recursion_desired: bit(8),
            recursion_available: bit(7),
            authentic_data: bit(5),
            checking_disabled: bit(4),
            rcode: (bits & 0xf) as u8,
        }
    }
}

/// The question of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The name as sent (original case, no trailing dot); shared with the transaction log.
    pub name: Arc<str>,
    /// QTYPE.
    pub qtype: u16,
}

/// The data of one answer record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AnswerData {
    /// An IPv4 address (A).
    A(Ipv4Addr),
    /// An IPv6 address (AAAA).
    Aaaa(Ipv6Addr),
    /// An alias target (CNAME), no trailing dot.
    Cname(String),
    /// Any other type, in presentation form.
    Other(String),
}

impl AnswerData {
    /// The address, for A and AAAA records.
    pub fn address(&self) -> Option<IpAddr> {
        match self {
            AnswerData::A(v4) => Some(IpAddr::V4(*v4)),
            AnswerData::Aaaa(v6) => Some(IpAddr::V6(*v6)),
            _ => None,
        }
    }
}

/// One record of the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Owner name (no trailing dot); records of one owner share it.
    pub name: Arc<str>,
    /// TYPE.
    pub rtype: u16,
    /// TTL in seconds.
    pub ttl: u32,
    /// RDATA.
    pub data: AnswerData,
}

/// A DNS message about a watched name, decoded in full (question and answer section). Made,
/// analysed and freed on the thread of its client's lane (see [`super::WatchedDatagram`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    /// The answer section, in order (as far as it could be decoded); empty when the watch list
    /// drops answer records ([`WatchList::dropping_answer_records`]).
    pub answers: Vec<Answer>,
    /// The message reduced to what the analysis reads (worked out once, when it is decoded).
    pub view: ResponseView,
    /// The first question.
    pub question: Question,
    /// Sender.
    pub source: SocketAddr,
    /// Receiver.
    pub destination: SocketAddr,
    /// Where and when it was captured.
    pub frame: FrameContext,
    /// The hash of its pairing key ([`PairingFields::hash_key`]), worked out
    /// here when it is decoded; kept current by [`Self::set_client_ip`] and
    /// [`Self::update_hashes`].
    pub pairing_hash: u64,
    /// The hash of its client's address ([`HashedClient::hash_of`]), likewise.
    pub client_hash: u64,
    /// UDP or TCP.
    pub transport: Transport,
    /// DNS transaction id.
    pub id: u16,
    /// Header flags.
    pub flags: Flags,
    /// False when the answer section was cut short (snaplen), malformed part-way or the
    /// response is truncated (TC): the answers present are real, but absent ones prove nothing.
    pub answers_complete: bool,
    /// The UDP payload size advertised in an EDNS0 OPT record, if any.
    pub edns_udp_size: Option<u16>,
    /// The position of the question name in the watch list, when it is a watched name (with
    /// expectations the list holds their names in order: a hint the analysis checks by name).
    pub watched_question: Option<u16>,
}

impl DnsMessage {
    /// Works the pairing and client hashes out again (after building or changing a message by
    /// hand).
    pub fn update_hashes(&mut self) {
        self.pairing_hash = self.pairing_fields().hash_key();
        self.client_hash = HashedClient::hash_of(&self.client().ip());
    }

    /// What its pairing key is made of: client, server, transport, id, question name
    /// (normalized) and type.
    pub fn pairing_fields(&self) -> PairingFields<'_> {
        PairingFields {
            client: self.client(),
            server: self.server(),
            transport: self.transport,
            id: self.id,
            qname: self.view.question_key(),
            qtype: self.question.qtype,
        }
    }

    /// The client's address with its hash.
    pub fn hashed_client(&self) -> HashedClient {
        HashedClient::with_hash(self.client().ip(), self.client_hash)
    }

    /// The client: the receiver of a response, the sender of a query.
    pub fn client(&self) -> SocketAddr {
        super::client_end(self.flags.response, self.source, self.destination)
    }

    /// The DNS server: the sender of a response, the receiver of a query.
    pub fn server(&self) -> SocketAddr {
        if self.flags.response {
            self.source
        } else {
            self.destination
        }
    }

    /// Replaces the client's address.
    pub fn set_client_ip(&mut self, ip: IpAddr) {
        let client =
            super::client_end(self.flags.response, &mut self.source, &mut self.destination);
        client.set_ip(ip);
        self.update_hashes();
    }
}

/// Header fields the prefilter reads.
#[derive(Debug, Clone, Copy)]
struct Header {
    id: u16,
    flags: Flags,
    question_count: u16,
    answer_count: u16,
    authority_count: u16,
    additional_count: u16,
}

fn read_u16_at(message: &[u8], offset: usize) -> Option<u16> {
    message
        .get(offset..offset + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
}

fn read_header(message: &[u8], truncated: bool) -> Result<Header, Skip> {
    if message.len() < HEADER_LEN {
        return Err(if truncated {
            Skip::Truncated(Layer::Dns)
        } else {
            Skip::Malformed(Layer::Dns)
        });
    }
    let field = |index: usize| read_u16_at(message, index * 2).unwrap_or_default();
    Ok(Header {
        id: field(0),
        flags: Flags::from_header(field(1)),
        question_count: field(2),
        answer_count: field(3),
        authority_count: field(4),
        additional_count: field(5),
    })
}

/// Compares the name at `offset` (following compression pointers, RFC 1035 §4.1.4) with a
/// lowercase wire name, ignoring ASCII case, in place: no copy, no allocation. With
/// `longer_prefix`, `wire` has no root label and the name must continue past it with at least
/// one more label. A malformed name (bad label type, pointer loop, past the end) equals nothing.
fn name_equals(message: &[u8], offset: usize, wire: &[u8], longer_prefix: bool) -> bool {
    let mut position = offset;
    let mut compared = 0;
    let mut jumps = 0;
    loop {
        let Some(&length) = message.get(position) else {
            return false;
        };
        if longer_prefix && compared == wire.len() && length & 0xc0 == 0 {
            return length != 0;
        }
        match length & 0xc0 {
            0x00 => {
                let label_len = usize::from(length);
                if wire.get(compared) != Some(&length) {
                    return false;
                }
                if label_len == 0 {
                    return true;
                }
                let (Some(label), Some(expected)) = (
                    message.get(position + 1..position + 1 + label_len),
                    wire.get(compared + 1..compared + 1 + label_len),
                ) else {
                    return false;
                };
                if !label.eq_ignore_ascii_case(expected) {
                    return false;
                }
                compared += 1 + label_len;
                position += 1 + label_len;
            }
            0xc0 => {
                let Some(&low) = message.get(position + 1) else {
                    return false;
                };
                jumps += 1;
                if jumps > MAX_POINTER_JUMPS {
                    return false;
                }
                position = (usize::from(length & 0x3f) << 8) | usize::from(low);
            }
            _ => return false,
        }
    }
}

/// Skips the name at `offset`; returns the offset after it.
fn skip_name(message: &[u8], mut offset: usize) -> Option<usize> {
    loop {
        let length = *message.get(offset)?;
        match length & 0xc0 {
            0x00 if length == 0 => return Some(offset + 1),
            0x00 => offset += 1 + usize::from(length),
            0xc0 => return Some(offset + 2),
            _ => return None,
        }
    }
}

/// True when a CNAME in the answer section points at a watched name.
fn answers_alias_watched(
    message: &[u8],
    mut offset: usize,
    answer_count: u16,
    watch: &WatchList,
) -> bool {
    for _ in 0..answer_count {
        let Some(after_owner) = skip_name(message, offset) else {
            return false;
        };
        let (Some(rtype), Some(rdlength)) = (
            read_u16_at(message, after_owner),
            read_u16_at(message, after_owner + 8),
        ) else {
            return false;
        };
        let rdata = after_owner + 10;
        if rtype == TYPE_CNAME && watch.matches(message, rdata) {
            return true;
        }
        offset = rdata + usize::from(rdlength);
    }
    false
}

/// Prefilter, then full decode for watched names.
pub fn decode_message(
    message: &[u8],
    truncated: bool,
    watch: &WatchList,
    frame: FrameContext,
    endpoints: (SocketAddr, SocketAddr),
    transport: Transport,
) -> Result<super::Decoded, Skip> {
    Ok(match prefilter(message, truncated, watch)? {
        Prefiltered::Counted(counted) => counted,
        Prefiltered::Watched(found) => decode_watched(
            message, truncated, watch, found, frame, endpoints, transport,
        ),
    })
}

/// What the header and question say about a DNS message before it is decoded in full.
#[derive(Debug)]
pub enum Prefiltered {
    /// Only counted: a message about another name, not a standard query, or undecodable.
    Counted(super::Decoded),
    /// A message for the analysis, to decode in full with [`decode_watched`].
    Watched(FoundMessage),
}

/// A message the prefilter found for the analysis: its header, and where its question stands
/// in the watch list.
#[derive(Debug, Clone, Copy)]
pub struct FoundMessage {
    header: Header,
    watched_question: Option<usize>,
}

impl FoundMessage {
    /// QR bit: true for a response.
    pub fn is_response(&self) -> bool {
        self.header.flags.response
    }
}

/// Reads the header and matches the question (and a response's CNAMEs, and a failed lookup's
/// near misses) against the watch list: no allocation.
pub fn prefilter(message: &[u8], truncated: bool, watch: &WatchList) -> Result<Prefiltered, Skip> {
    let header = match read_header(message, truncated) {
        Ok(header) => header,
        // A header cut after its flags still says whether this was a response (tshark counts it too).
        Err(why) if message.len() >= 4 => {
            return Ok(Prefiltered::Counted(super::Decoded::Undecodable {
                is_response: message[2] & 0x80 != 0,
                why,
            }))
        }
        Err(why) => return Err(why),
    };
    let is_response = header.flags.response;
    let unwatched = Prefiltered::Counted(super::Decoded::Unwatched { is_response });
    // Only standard queries are analysed (RFC 1035 §4.1.1); NOTIFY, UPDATE and the like are counted.
    if header.flags.opcode != OPCODE_QUERY || header.question_count == 0 {
        return Ok(unwatched);
    }
    let watched_question = watch.position(message, HEADER_LEN);
    let watched = watch.match_all
        || watched_question.is_some()
        || (header.flags.response
            && header.answer_count > 0
            && skip_name(message, HEADER_LEN).is_some_and(|after| {
                answers_alias_watched(message, after + 4, header.answer_count, watch)
            }))
        // A failed lookup of a name after a watched one is a near miss the analysis reports.
        || (header.flags.response
            && header.flags.rcode != 0
            && watch.near_miss(message, HEADER_LEN));
    if !watched {
        return Ok(unwatched);
    }
    Ok(Prefiltered::Watched(FoundMessage {
        header,
        watched_question,
    }))
}

/// Decodes in full a message the prefilter `found` for the analysis (`message`: the same bytes).
pub fn decode_watched(
    message: &[u8],
    truncated: bool,
    watch: &WatchList,
    found: FoundMessage,
    frame: FrameContext,
    (source, destination): (SocketAddr, SocketAddr),
    transport: Transport,
) -> super::Decoded {
    let FoundMessage {
        header,
        watched_question,
    } = found;
    let is_response = header.flags.response;
    let sections = decode_sections(message, &header, ANSWER_SCRATCH.take());
    let Some(question) = sections.question else {
        let why = if truncated {
            Skip::Truncated(Layer::Dns)
        } else {
            Skip::Malformed(Layer::Dns)
        };
        return super::Decoded::Undecodable { is_response, why };
    };
    let view = ResponseView::of(&header.flags, &question, &sections.answers);
    let answers = match watch.drops_answer_records {
        false => sections.answers,
        true => {
            let mut scratch = sections.answers;
            scratch.clear();
            ANSWER_SCRATCH.set(scratch);
            Vec::new()
        }
    };
    let mut message = Box::new(DnsMessage {
        view,
        frame,
        source,
        destination,
        transport,
        id: header.id,
        flags: header.flags,
        question,
        answers,
        // A truncated (TC) response holds only part of the answer by definition (RFC 2181 §9).
        answers_complete: sections.complete && !header.flags.truncated,
        edns_udp_size: sections
            .end
            .and_then(|end| edns_udp_size(message, end, &header)),
        watched_question: watched_question.and_then(|position| u16::try_from(position).ok()),
        pairing_hash: 0,
        client_hash: 0,
    });
    message.update_hashes();
    super::Decoded::Watched(message)
}

/// What could be decoded of the question and answer sections.
struct Sections {
    question: Option<Question>,
    answers: Vec<Answer>,
    complete: bool,
    /// Offset just past the answer section, when it was read to its end.
    end: Option<usize>,
}

thread_local! {
    /// The answer vector of the last message whose answer records were dropped, emptied, for
    /// the next one to decode into.
    static ANSWER_SCRATCH: Cell<Vec<Answer>> = const { Cell::new(Vec::new()) };
}

/// Decodes the question and answer sections with hickory-proto, keeping what precedes an error
/// (as tshark does): a record cut by the snaplen does not hide the records before it. The
/// answers go into `answers` (empty; its capacity is reused).
fn decode_sections(message: &[u8], header: &Header, answers: Vec<Answer>) -> Sections {
    let mut sections = Sections {
        question: None,
        answers,
        complete: false,
        end: None,
    };
    let mut decoder = BinDecoder::new(message);
    if decoder.read_slice(HEADER_LEN).is_err() {
        return sections;
    }
    // Owner names are formatted once per distinct name: answers usually point back at the
    // question name (compression, RFC 1035 §4.1.4), so the last owner is remembered with the
    // offset its name starts at, and a record whose owner points there reuses the text.
    let mut last_owner: Option<(usize, Arc<str>)> = None;
    for index in 0..header.question_count {
        let plain = (index == 0).then(|| read_plain_question(message)).flatten();
        let question = match plain {
            Some((question, length)) if decoder.read_slice(length).is_ok() => question,
            // A later question that cannot be read leaves the first one usable, but hides the
            // answers.
            _ => match Query::read(&mut decoder) {
                Ok(query) => Question {
                    name: labels_shared(query.name().iter()),
                    qtype: u16::from(query.query_type()),
                },
                Err(_) => return sections,
            },
        };
        if sections.question.is_none() {
            last_owner = Some((HEADER_LEN, question.name.clone()));
            sections.question = Some(question);
        }
    }
    sections
        .answers
        .reserve(usize::from(header.answer_count).min(64));
    for _ in 0..header.answer_count {
        let start = decoder.index();
        if let Some((answer, length)) = read_address_record(message, start, &last_owner) {
            if decoder.read_slice(length).is_ok() {
                sections.answers.push(answer);
                continue;
            }
        }
        match Record::<RData>::read(&mut decoder) {
            Ok(record) => {
                let owner = owner_name(message, start, &record, &mut last_owner);
                sections.answers.push(answer_of(&record, owner));
            }
            Err(_) => return sections,
        }
    }
    sections.complete = true;
    sections.end = Some(decoder.index());
    sections
}

/// The UDP payload size advertised in an OPT record (RFC 6891 §6.1.2), found by walking the
/// authority and additional sections from `offset`.
fn edns_udp_size(message: &[u8], mut offset: usize, header: &Header) -> Option<u16> {
    const TYPE_OPT: u16 = 41;
    let records = usize::from(header.authority_count) + usize::from(header.additional_count);
    for index in 0..records {
        let after_owner = skip_name(message, offset)?;
        let rtype = read_u16_at(message, after_owner)?;
        let class = read_u16_at(message, after_owner + 2)?;
        let rdlength = read_u16_at(message, after_owner + 8)?;
        if rtype == TYPE_OPT && index >= usize::from(header.authority_count) {
            return Some(class);
        }
        offset = after_owner + 10 + usize::from(rdlength);
    }
    None
}

/// The first question when its name is plain labels (no compression pointer, as it always is
/// right after the header), read in place: what hickory-proto would read, at a fraction of the
/// cost. Returns the question and its length; None for anything else, which hickory-proto reads.
fn read_plain_question(message: &[u8]) -> Option<(Question, usize)> {
    const MAX_NAME_LEN: usize = 255; // RFC 1035 §2.3.4, counted as on the wire
    let mut offset = HEADER_LEN;
    loop {
        let length = usize::from(*message.get(offset)?);
        if length == 0 {
            break;
        }
        if length > 63 {
            return None;
        }
        message.get(offset + 1..offset + 1 + length)?;
        offset += 1 + length;
        if offset - HEADER_LEN >= MAX_NAME_LEN {
            return None;
        }
    }
    let qtype = read_u16_at(message, offset + 1)?;
    read_u16_at(message, offset + 3)?; // QCLASS: any value is accepted, as hickory-proto does

    // The labels are all there (just checked): read them again as they come.
    let labels = std::iter::successors(Some(HEADER_LEN), |&at| {
        Some(at + 1 + usize::from(message[at]))
    })
    .map_while(|at| match usize::from(message[at]) {
        0 => None,
        length => Some(&message[at + 1..at + 1 + length]),
    });
    let question = Question {
        name: labels_shared(labels),
        qtype,
    };
    Some((question, offset + 5 - HEADER_LEN))
}

/// A name in RFC 1035 §5.1 presentation form, as BIND and dig write it: the characters that are
/// special in zone files escaped with a backslash, every byte outside 0x21..=0x7e as `\DDD`
/// (decimal), no trailing dot, the root as ".". (hickory-proto's own text form escapes in octal.)
fn display_name(name: &hickory_proto::rr::Name) -> String {
    if name.is_root() {
        return ".".into();
    }
    labels_text(name.iter())
}

/// Labels joined with dots in presentation form (see [`display_name`]).
fn labels_text<'a>(labels: impl Iterator<Item = &'a [u8]>) -> String {
    let mut text = String::with_capacity(64);
    push_labels(&mut text, labels);
    text
}

thread_local! {
    /// The buffer [`labels_shared`] formats names in.
    static NAME_TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Like [`labels_text`] (no labels: the root, "."), as a shared string: one allocation.
fn labels_shared<'a>(mut labels: impl Iterator<Item = &'a [u8]>) -> Arc<str> {
    let Some(first) = labels.next() else {
        return Arc::from(".");
    };
    NAME_TEXT.with_borrow_mut(|text| {
        text.clear();
        push_labels(text, std::iter::once(first).chain(labels));
        Arc::from(text.as_str())
    })
}

/// Appends labels joined with dots in presentation form to `text`.
fn push_labels<'a>(text: &mut String, labels: impl Iterator<Item = &'a [u8]>) {
    for (index, label) in labels.enumerate() {
        if index > 0 {
            text.push('.');
        }
        // Fast path: the usual letters, digits, '-' and '_' need no escaping.
        if let Ok(plain) = std::str::from_utf8(label) {
            if plain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
            {
                text.push_str(plain);
                continue;
            }
        }
        for &byte in label {
            match byte {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                    text.push('\\');
                    text.push(char::from(byte));
                }
                0x21..=0x7e => text.push(char::from(byte)),
                _ => text.push_str(&format!("\\{byte:03}")),
            }
        }
    }
}

/// RDATA in presentation form. Some hickory-proto Display impls refuse (OPT answers with an
/// error, which `to_string` turns into a panic): those are named by type instead.
fn presentation_of(data: &RData, rtype: RecordType) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    if write!(text, "{data}").is_err() {
        text = format!("<{rtype} data not presentable>");
    }
    text
}

/// Where the name at `offset` starts after following one compression pointer (RFC 1035
/// §4.1.4): equal starts, equal names.
fn name_start(message: &[u8], offset: usize) -> usize {
    match message.get(offset..offset + 2) {
        Some(&[high, low]) if high & 0xc0 == 0xc0 => {
            usize::from(high & 0x3f) << 8 | usize::from(low)
        }
        _ => offset,
    }
}

/// The owner name of the record that starts at `start`, formatted once per distinct name.
fn owner_name(
    message: &[u8],
    start: usize,
    record: &Record<RData>,
    last_owner: &mut Option<(usize, Arc<str>)>,
) -> Arc<str> {
    let name_at = name_start(message, start);
    match last_owner {
        Some((at, text)) if *at == name_at => text.clone(),
        _ => {
            let text = labels_shared(record.name.iter());
            *last_owner = Some((name_at, text.clone()));
            text
        }
    }
}

/// An A or AAAA record whose owner is a compression pointer to the last owner name formatted
/// (the usual answer: a pointer to the question name), read in place: what hickory-proto would
/// read, at a fraction of the cost. Returns the answer and the record's length; None for any
/// other record, which hickory-proto then reads.
fn read_address_record(
    message: &[u8],
    start: usize,
    last_owner: &Option<(usize, Arc<str>)>,
) -> Option<(Answer, usize)> {
    const FIXED_LEN: usize = 12; // pointer, TYPE, CLASS, TTL, RDLENGTH (RFC 1035 §4.1.3)
    let (owner_at, owner) = last_owner.as_ref()?;
    let fixed = message.get(start..start + FIXED_LEN)?;
    if fixed[0] & 0xc0 != 0xc0 || name_start(message, start) != *owner_at {
        return None;
    }
    let rtype = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ttl = u32::from_be_bytes([fixed[6], fixed[7], fixed[8], fixed[9]]);
    let rdlength = usize::from(u16::from_be_bytes([fixed[10], fixed[11]]));
    let rdata = message.get(start + FIXED_LEN..start + FIXED_LEN + rdlength)?;
    let data = match (rtype, rdata.len()) {
        (TYPE_A, 4) => AnswerData::A(Ipv4Addr::from(<[u8; 4]>::try_from(rdata).ok()?)),
        (TYPE_AAAA, 16) => AnswerData::Aaaa(Ipv6Addr::from(<[u8; 16]>::try_from(rdata).ok()?)),
        _ => return None,
    };
    let answer = Answer {
        name: owner.clone(),
        rtype,
        ttl,
        data,
    };
    Some((answer, FIXED_LEN + rdlength))
}

fn answer_of(record: &Record<RData>, name: Arc<str>) -> Answer {
    let data = match &record.data {
        RData::A(a) => AnswerData::A(a.0),
        RData::AAAA(aaaa) => AnswerData::Aaaa(aaaa.0),
        RData::CNAME(cname) => AnswerData::Cname(display_name(&cname.0)),
        other => AnswerData::Other(presentation_of(other, record.record_type())),
    };
    Answer {
        name,
        rtype: u16::from(record.record_type()),
        ttl: record.ttl,
        data,
    }
}

/// Record type mnemonic for reports ("A", "AAAA", "TYPE65280").
pub fn type_name(rtype: u16) -> std::borrow::Cow<'static, str> {
    match RecordType::from(rtype) {
        RecordType::Unknown(code) => format!("TYPE{code}").into(),
        known => <&'static str>::from(known).into(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decode::Decoded;

    /// Wire bytes of `name` in its original case.
    fn wire(name: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        for label in name.split('.') {
            bytes.push(label.len() as u8);
            bytes.extend_from_slice(label.as_bytes());
        }
        bytes.push(0);
        bytes
    }

    /// A response to `qname`/A with the given answers: (owner as pointer-to-question?, type, rdata).
    pub(crate) fn response(id: u16, rcode: u8, qname: &str, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut message = id.to_be_bytes().to_vec();
        message.extend_from_slice(&(0x8180u16 | u16::from(rcode)).to_be_bytes());
        message.extend_from_slice(&[0, 1]);
        message.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        message.extend_from_slice(&[0, 0, 0, 0]);
        message.extend_from_slice(&wire(qname));
        message.extend_from_slice(&[0, 1, 0, 1]);
        for (rtype, rdata) in answers {
            message.extend_from_slice(&[0xc0, 0x0c]); // owner: the question name
            message.extend_from_slice(&rtype.to_be_bytes());
            message.extend_from_slice(&[0, 1, 0, 0, 0x0e, 0x10]);
            message.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            message.extend_from_slice(rdata);
        }
        message
    }

    fn context() -> FrameContext {
        FrameContext {
            ts_ns: 1,
            file_index: 0,
            frame_number: 7,
        }
    }

    fn endpoints() -> (SocketAddr, SocketAddr) {
        (
            "192.0.2.53:53".parse().unwrap(),
            "192.0.2.10:40000".parse().unwrap(),
        )
    }

    fn decode(message: &[u8], watch: &WatchList) -> Result<Decoded, Skip> {
        decode_message(
            message,
            false,
            watch,
            context(),
            endpoints(),
            Transport::Udp,
        )
    }

    #[test]
    fn failed_lookups_of_devolved_and_single_label_names_are_near_misses() {
        let watch = WatchList::names(["PersistentChatPool.contoso.com"]);
        let watched = |rcode, name| {
            matches!(
                decode(&response(1, rcode, name, &[]), &watch),
                Ok(Decoded::Watched(_))
            )
        };
        assert!(watched(
            3,
            "PersistentChatPool.contoso.com.corp.contoso.com"
        ));
        assert!(watched(3, "persistentchatpool"));
        assert!(watched(2, "PERSISTENTCHATPOOL.contoso.com.contoso.com"));
        // Successful lookups of other names, and names that only share a label, stay unwatched.
        assert!(!watched(
            0,
            "PersistentChatPool.contoso.com.corp.contoso.com"
        ));
        assert!(!watched(3, "PersistentChatPool.contoso.org"));
        assert!(!watched(3, "PersistentChatPoolX.contoso.com.corp"));
        assert!(!watched(3, "contoso.com"));
    }

    #[test]
    fn watched_name_matches_case_insensitively_and_is_decoded_in_order() {
        let message = response(
            0x1234,
            0,
            "PersistentChatPool.CONTOSO.com",
            &[(1, vec![10, 10, 10, 2]), (1, vec![10, 10, 10, 1])],
        );
        let watch = WatchList::names(["persistentchatpool.contoso.com."]);
        let Ok(Decoded::Watched(decoded)) = decode(&message, &watch) else {
            panic!("not watched")
        };
        assert_eq!(decoded.id, 0x1234);
        assert_eq!(&*decoded.question.name, "PersistentChatPool.CONTOSO.com");
        let addresses: Vec<_> = decoded
            .answers
            .iter()
            .filter_map(|a| a.data.address())
            .collect();
        assert_eq!(
            addresses,
            [
                "10.10.10.2".parse::<IpAddr>().unwrap(),
                "10.10.10.1".parse().unwrap()
            ]
        );
        assert_eq!(decoded.answers[0].ttl, 3600);
    }

    #[test]
    fn a_watch_list_dropping_answer_records_keeps_the_view_only() {
        let watch = WatchList::names(["chat.contoso.com"]);
        let dropping = watch.clone().dropping_answer_records();
        // Twice, so that the second message decodes into the first one's emptied vector.
        for (id, last) in [(1u16, 1u8), (2, 9)] {
            let message = response(
                id,
                0,
                "Chat.contoso.com",
                &[(1, vec![10, 10, 10, last]), (1, vec![10, 10, 10, 2])],
            );
            let Ok(Decoded::Watched(kept)) = decode(&message, &watch) else {
                panic!("not watched")
            };
            let Ok(Decoded::Watched(dropped)) = decode(&message, &dropping) else {
                panic!("not watched")
            };
            assert_eq!(kept.answers.len(), 2);
            assert!(dropped.answers.is_empty());
            assert_eq!(dropped.view, kept.view);
            assert_eq!(
                dropped.view.addresses()[0],
                IpAddr::from([10, 10, 10, last])
            );
            assert!(dropped.answers_complete);
            assert_eq!(
                DnsMessage {
                    answers: kept.answers.clone(),
                    ..*dropped
                },
                *kept
            );
        }
    }

    #[test]
    fn other_names_are_not_decoded() {
        let message = response(1, 0, "www.example.com", &[(1, vec![192, 0, 2, 1])]);
        let watch = WatchList::names(["PersistentChatPool.contoso.com"]);
        assert!(matches!(
            decode(&message, &watch),
            Ok(Decoded::Unwatched { is_response: true })
        ));
    }

    #[test]
    fn alias_whose_cname_points_at_a_watched_name_is_decoded() {
        let target = wire("PersistentChatPool.contoso.com");
        let message = response(2, 0, "chat.contoso.com", &[(TYPE_CNAME, target)]);
        let watch = WatchList::names(["persistentchatpool.contoso.com"]);
        assert!(matches!(decode(&message, &watch), Ok(Decoded::Watched(_))));
    }

    #[test]
    fn short_header_is_malformed_or_truncated() {
        let watch = WatchList::everything();
        assert_eq!(
            decode(&[0; 3], &watch).unwrap_err(),
            Skip::Malformed(Layer::Dns)
        );
        let cut = decode_message(
            &[0, 1, 0x84, 0, 0],
            true,
            &watch,
            context(),
            endpoints(),
            Transport::Udp,
        );
        assert!(
            matches!(
                cut,
                Ok(Decoded::Undecodable {
                    is_response: true,
                    why: Skip::Truncated(Layer::Dns)
                })
            ),
            "{cut:?}"
        );
    }

    #[test]
    fn compression_loop_is_malformed_not_endless() {
        let mut message = response(3, 0, "a.b", &[]);
        message[5] = 1; // qdcount 1, name replaced by a pointer to itself
        message.truncate(12);
        message.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        assert!(!name_equals(&message, 12, &wire_lowercase("a.b"), false));
        let decoded = decode(&message, &WatchList::everything());
        assert!(
            matches!(
                decoded,
                Ok(Decoded::Undecodable {
                    why: Skip::Malformed(Layer::Dns),
                    ..
                })
            ),
            "{decoded:?}"
        );
    }

    #[test]
    fn notify_is_counted_but_not_analysed() {
        let mut message = response(4, 0, "contoso.com", &[]);
        message[2] = 0xa4; // QR, opcode 4 (NOTIFY), AA
        assert!(matches!(
            decode(&message, &WatchList::everything()),
            Ok(Decoded::Unwatched { is_response: true })
        ));
    }

    #[test]
    fn answers_before_a_cut_are_kept_and_marked_incomplete() {
        let mut message = response(
            5,
            0,
            "x.contoso.com",
            &[(1, vec![10, 0, 0, 1]), (1, vec![10, 0, 0, 2])],
        );
        message.truncate(message.len() - 2);
        let watch = WatchList::names(["x.contoso.com"]);
        let Ok(Decoded::Watched(decoded)) = decode(&message, &watch) else {
            panic!("not decoded")
        };
        assert_eq!(decoded.answers.len(), 1);
        assert!(!decoded.answers_complete);
    }

    #[test]
    fn unreadable_question_is_an_undecodable_response() {
        let mut message = response(6, 0, "x.contoso.com", &[]);
        message.truncate(HEADER_LEN + 3);
        let decoded = decode(&message, &WatchList::everything());
        assert!(matches!(
            decoded,
            Ok(Decoded::Undecodable {
                is_response: true,
                why: Skip::Malformed(Layer::Dns)
            })
        ));
    }

    #[test]
    fn names_are_written_in_rfc_1035_presentation_form() {
        let name =
            hickory_proto::rr::Name::from_labels(vec![&b"J\xe4ger.meister"[..], &b"sea"[..]])
                .unwrap();
        assert_eq!(display_name(&name), "J\\228ger\\.meister.sea");
        assert_eq!(display_name(&hickory_proto::rr::Name::root()), ".");
    }

    #[test]
    fn type_names_are_mnemonics() {
        assert_eq!(type_name(1), "A");
        assert_eq!(type_name(28), "AAAA");
        assert_eq!(type_name(65280), "TYPE65280");
    }

    proptest::proptest! {
        #[test]
        fn written_out_names_compare_as_the_label_walk_does(
            name in "[a-zA-Z0-9_`@{-]{1,20}(\\.[a-zA-Z0-9_`@{-]{1,20}){0,4}",
            flips in proptest::collection::vec(proptest::prelude::any::<bool>(), 120),
            changed in proptest::option::of((0usize..120, proptest::prelude::any::<u8>())),
        ) {
            let watched = WireName::new(wire_lowercase(&name));
            // The name as a message writes it: any case, maybe one byte changed.
            let mut written = wire(&name);
            for (byte, flip) in written.iter_mut().zip(&flips) {
                if *flip && byte.is_ascii_alphabetic() {
                    *byte ^= 0x20;
                }
            }
            if let Some((at, value)) = changed {
                let at = at % written.len();
                written[at] = value;
            }
            proptest::prop_assert_eq!(
                watched.written_out_is(&written),
                name_equals(&written, 0, &watched.bytes, false)
            );
            if changed.is_none() {
                proptest::prop_assert!(watched.found_at(&written, 0));
            }
        }
    }
}
