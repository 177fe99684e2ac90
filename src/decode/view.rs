//! A decoded message reduced to what the analysis reads: the CNAME chain from the question
//! (normalized names), the addresses at its end in answer order and as a sorted set, the
//! largest TTL on the chain, the rcode class, and a digest of the answers for duplicate
//! detection. The decoder works it out once per watched message, so the analysis only reads
//! it. Pure: no I/O, no state.

use super::dns::{Answer, AnswerData, Flags, Question};
use crate::expect::normalize;
use crate::keys::{set_hash, SetKey};
use smallvec::{smallvec, SmallVec};
use std::cell::RefCell;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

/// CNAME hops followed inside one response (RFC 1034 §3.6.2 chains are short; loops end here).
const MAX_CNAME_HOPS: usize = 16;
const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
/// Addresses a view holds inline: a pool of four, in answer order and as the answer set.
/// Beyond, they go to the heap.
const INLINE_ADDRESSES: usize = 8;

/// What a response's rcode and answers amount to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum RcodeClass {
    /// NOERROR with data of the asked type.
    Noerror,
    /// NOERROR without data of the asked type.
    Nodata,
    /// NOERROR, truncated (TC), without data: the answer did not fit (RFC 2181 §9).
    Truncated,
    /// Name does not exist.
    Nxdomain,
    /// Server failure.
    Servfail,
    /// Refused.
    Refused,
    /// Any other rcode.
    Other,
}

impl RcodeClass {
    /// Label as in the report.
    pub fn label(self) -> &'static str {
        match self {
            RcodeClass::Noerror => "NOERROR",
            RcodeClass::Nodata => "NODATA",
            RcodeClass::Truncated => "TRUNCATED",
            RcodeClass::Nxdomain => "NXDOMAIN",
            RcodeClass::Servfail => "SERVFAIL",
            RcodeClass::Refused => "REFUSED",
            RcodeClass::Other => "OTHER",
        }
    }

    /// A failed lookup: no usable data (NODATA, NXDOMAIN, SERVFAIL, REFUSED, other rcodes).
    pub fn is_failure(self) -> bool {
        !matches!(self, RcodeClass::Noerror | RcodeClass::Truncated)
    }

    /// All classes, in report order.
    pub const ALL: [RcodeClass; 7] = [
        RcodeClass::Noerror,
        RcodeClass::Nodata,
        RcodeClass::Truncated,
        RcodeClass::Nxdomain,
        RcodeClass::Servfail,
        RcodeClass::Refused,
        RcodeClass::Other,
    ];
}

/// A message reduced to what the analysis needs.
///
/// Held inline where a response usually fits (one name, a pool's addresses): each separate
/// allocation would be one more allocation and free per message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseView {
    /// Normalized names (lowercase, no trailing dot): the question name, then each CNAME
    /// target followed.
    pub chain: SmallVec<[Arc<str>; 1]>,
    /// The addresses ([`Self::addresses`]) followed by the answer set ([`Self::set`]): one
    /// list, so that both fit inline.
    addresses_then_set: SmallVec<[IpAddr; INLINE_ADDRESSES]>,
    /// Where the answer set starts in `addresses_then_set`.
    set_start: u32,
    /// The answer set's hash ([`set_hash`]), for the analysis's lookups.
    pub set_hash: u64,
    /// Largest TTL of the records on the chain.
    pub max_ttl: Option<u32>,
    /// The rcode class.
    pub rcode: RcodeClass,
    /// A digest of the rcode and the answer records, order ignored: equal answers, equal
    /// digests (compared within one run only).
    pub signature: u64,
}

impl ResponseView {
    /// Reduces a message with these flags, question and answers.
    pub fn of(flags: &Flags, question: &Question, answers: &[Answer]) -> Self {
        let mut chain: SmallVec<[Arc<str>; 1]> = smallvec![normalized_shared(&question.name)];
        for _ in 0..MAX_CNAME_HOPS {
            let current = chain.last().map(|name| &**name).unwrap_or_default();
            let next = answers.iter().find_map(|answer| match &answer.data {
                AnswerData::Cname(target) if same_name(&answer.name, current) => {
                    Some(normalize(target))
                }
                _ => None,
            });
            match next {
                Some(target) if !chain.iter().any(|name| **name == *target) => {
                    chain.push(target.into())
                }
                _ => break,
            }
        }
        let qtype = question.qtype;
        // One pass over the answers; records of one owner share its name, so the chain test
        // runs once per owner.
        let mut addresses: SmallVec<[IpAddr; INLINE_ADDRESSES]> = SmallVec::new();
        let (mut has_data, mut max_ttl) = (false, None::<u32>);
        let mut last_owner: Option<(&Arc<str>, bool)> = None;
        for answer in answers {
            let on_chain = match last_owner {
                Some((owner, on_chain)) if Arc::ptr_eq(owner, &answer.name) => on_chain,
                _ => {
                    let on_chain = chain.iter().any(|name| same_name(&answer.name, name));
                    last_owner = Some((&answer.name, on_chain));
                    on_chain
                }
            };
            if !on_chain {
                continue;
            }
            max_ttl = max_ttl.max(Some(answer.ttl));
            has_data |= answer.rtype == qtype;
            let wanted = answer.data.address().filter(|address| match qtype {
                TYPE_A => address.is_ipv4(),
                TYPE_AAAA => address.is_ipv6(),
                _ => true,
            });
            if let Some(address) = wanted {
                addresses.push(address);
            }
        }
        if matches!(qtype, TYPE_A | TYPE_AAAA) {
            has_data = !addresses.is_empty();
        }
        let rcode = match flags.rcode {
            0 if has_data => RcodeClass::Noerror,
            0 if flags.truncated => RcodeClass::Truncated,
            0 => RcodeClass::Nodata,
            2 => RcodeClass::Servfail,
            3 => RcodeClass::Nxdomain,
            5 => RcodeClass::Refused,
            _ => RcodeClass::Other,
        };
        let mut set: SmallVec<[IpAddr; INLINE_ADDRESSES / 2]> = SmallVec::from_slice(&addresses);
        set.sort_unstable();
        set.dedup();
        let set_start = u32::try_from(addresses.len()).expect("a message holds few addresses");
        let mut addresses_then_set = addresses;
        addresses_then_set.extend_from_slice(&set);
        ResponseView {
            chain,
            addresses_then_set,
            set_start,
            set_hash: set_hash(&set),
            max_ttl,
            rcode,
            signature: signature(flags.rcode, answers),
        }
    }

    /// A/AAAA addresses owned by a name on the chain, in answer order (of the asked family
    /// for A and AAAA questions).
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addresses_then_set[..self.set_start as usize]
    }

    /// The same addresses, sorted and without repeats: the answer set.
    pub fn set(&self) -> &[IpAddr] {
        &self.addresses_then_set[self.set_start as usize..]
    }

    /// Starts loading what the view keeps on the heap when it does not fit inline: a CNAME
    /// chain's list of names, more addresses than a pool of four (see [`crate::prefetch`]).
    pub fn prefetch(&self) {
        crate::prefetch::prefetch_slice(&self.chain);
        crate::prefetch::prefetch_slice(&self.addresses_then_set);
    }

    /// The answer set with its hash, as the analysis looks it up.
    pub fn set_key(&self) -> SetKey<'_> {
        SetKey::with_hash(self.set(), self.set_hash)
    }

    /// The normalized question name.
    pub fn question_key(&self) -> &Arc<str> {
        &self.chain[0]
    }
}

thread_local! {
    /// The buffer [`normalized_shared`] lowercases names in.
    static NORMALIZED: RefCell<String> = const { RefCell::new(String::new()) };
}

/// `name` normalized (as [`normalize`]), as a shared string: the same allocation when it
/// already is normalized, one new allocation otherwise.
fn normalized_shared(name: &Arc<str>) -> Arc<str> {
    if !name.ends_with('.') && !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return name.clone();
    }
    NORMALIZED.with_borrow_mut(|text| {
        text.clear();
        text.push_str(name.trim_end_matches('.'));
        text.make_ascii_lowercase();
        Arc::from(text.as_str())
    })
}

/// True when `name` (any case, trailing dot or not) is `normalized`, without allocating.
fn same_name(name: &str, normalized: &str) -> bool {
    name.trim_end_matches('.').eq_ignore_ascii_case(normalized)
}

/// A fixed seed: signatures are compared within one run, and must not depend on the thread
/// that decoded the message.
const SIGNATURE_HASHER: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(1);

/// Bytes of a name lowercased and hashed at a time.
const DIGEST_CHUNK: usize = 64;

/// A digest of `name` ignoring ASCII case: lowercased a chunk at a time on the stack and hashed
/// a chunk at a time (a byte at a time, hashing was a fifth of decoding a watched response).
fn lowercase_digest(name: &str) -> u64 {
    let mut hasher = SIGNATURE_HASHER.build_hasher();
    let mut lowered = [0u8; DIGEST_CHUNK];
    for chunk in name.as_bytes().chunks(DIGEST_CHUNK) {
        let lowered = &mut lowered[..chunk.len()];
        lowered.copy_from_slice(chunk);
        lowered.make_ascii_lowercase();
        hasher.write(lowered);
    }
    hasher.finish()
}

/// Order-insensitive digest of the rcode and answer records: the per-record digests are added.
fn signature(rcode: u8, answers: &[Answer]) -> u64 {
    // Records of one owner share its name: its digest is worked out once.
    let mut owner: Option<(&Arc<str>, u64)> = None;
    let records = answers.iter().fold(0u64, |sum, answer| {
        let owner_digest = match owner {
            Some((name, digest)) if Arc::ptr_eq(name, &answer.name) => digest,
            _ => {
                let digest = lowercase_digest(answer.name.trim_end_matches('.'));
                owner = Some((&answer.name, digest));
                digest
            }
        };
        let mut hasher = SIGNATURE_HASHER.build_hasher();
        hasher.write_u64(owner_digest);
        answer.rtype.hash(&mut hasher);
        answer.data.hash(&mut hasher);
        sum.wrapping_add(hasher.finish())
    });
    records ^ u64::from(rcode).rotate_left(56)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn a(owner: &Arc<str>, last_octet: u8) -> Answer {
        Answer {
            name: owner.clone(),
            rtype: TYPE_A,
            ttl: 60,
            data: AnswerData::A(Ipv4Addr::new(10, 10, 10, last_octet)),
        }
    }

    #[test]
    fn addresses_keep_answer_order_and_the_set_is_sorted_without_repeats_inline_or_not() {
        let owner: Arc<str> = "Pool.contoso.com".into();
        let flags = Flags {
            response: true,
            ..Flags::default()
        };
        let question = Question {
            name: owner.clone(),
            qtype: TYPE_A,
        };
        // A pool of four (inline), and twelve with repeats (on the heap).
        for octets in [vec![3, 1, 4, 2], vec![9, 3, 7, 3, 1, 12, 5, 9, 2, 11, 4, 6]] {
            let answers: Vec<Answer> = octets.iter().map(|&o| a(&owner, o)).collect();
            let view = ResponseView::of(&flags, &question, &answers);
            let address = |o: &u8| IpAddr::from([10, 10, 10, *o]);
            let in_order: Vec<IpAddr> = octets.iter().map(address).collect();
            let mut sorted = in_order.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(view.addresses(), in_order.as_slice());
            assert_eq!(view.set(), sorted.as_slice());
            assert_eq!(view.set_hash, set_hash(&sorted));
            assert_eq!(&*view.chain[0], "pool.contoso.com");
            assert_eq!(view.rcode, RcodeClass::Noerror);
        }
    }

    #[test]
    fn signatures_ignore_order_case_and_trailing_dots_and_see_everything_else() {
        let long = format!("{}.PersistentChatPool.contoso.com", "Label".repeat(30));
        for name in ["PersistentChatPool.contoso.com", long.as_str()] {
            let (written, other_case): (Arc<str>, Arc<str>) = (
                name.into(),
                format!("{}.", name.to_ascii_lowercase()).into(),
            );
            let mine = signature(0, &[a(&written, 1), a(&written, 2)]);
            assert_eq!(mine, signature(0, &[a(&other_case, 2), a(&other_case, 1)]));
            assert_ne!(mine, signature(0, &[a(&written, 1), a(&written, 3)]));
            assert_ne!(mine, signature(3, &[a(&written, 1), a(&written, 2)]));
            let renamed: Arc<str> = name.replacen('o', "0", 1).into();
            assert_ne!(mine, signature(0, &[a(&renamed, 1), a(&renamed, 2)]));
        }
        // A difference in the name's last chunk counts as much as one in its first.
        let (x, y): (Arc<str>, Arc<str>) = (format!("{long}x").into(), format!("{long}y").into());
        assert_ne!(signature(0, &[a(&x, 1)]), signature(0, &[a(&y, 1)]));
    }
}
