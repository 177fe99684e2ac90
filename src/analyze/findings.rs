//! Finding kinds and their severities: what is wrong with the DNS answers clients received.

use super::occurrences::{Event, Occurrences};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::{self, Write};
use std::net::IpAddr;

/// How bad a finding is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, not a fault.
    Info,
    /// Degraded: load balancing or hygiene is off.
    Warning,
    /// Clients get a wrong answer or none.
    Error,
}

impl Severity {
    /// Lowercase label.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What a finding is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// An answer held an address that is not a member of the watched name.
    WrongAddress,
    /// NXDOMAIN for a watched name.
    Nxdomain,
    /// SERVFAIL for a watched name.
    Servfail,
    /// REFUSED for a watched name.
    Refused,
    /// Queries for a watched name that got no response within the query timeout.
    Unanswered,
    /// An answer for a watched name came from a server not on the authorized list.
    UnauthorizedServer,
    /// Another error rcode (FORMERR, NOTIMP, ...) for a watched name.
    OtherRcode,
    /// An answer lacked an expected (non-standby) member of its address family.
    MissingMember,
    /// NOERROR without data for a record type the expectations define.
    Nodata,
    /// A TTL above the configured maximum.
    TtlAboveMax,
    /// A response whose query is not in the capture (how spoofing shows).
    UnsolicitedResponse,
    /// Two different answers to one query.
    ConflictingAnswers,
    /// A truncated UDP answer (TC) the client never retried over TCP.
    TruncatedNotRetried,
    /// An older answer set still received after the set changed and the older set's TTL ran out.
    StaleAnswer,
    /// A failed lookup of a name derived from a watched one (suffix devolution, single label).
    NearMiss,
    /// A DNS server whose answers always put the same address first.
    NotRotating,
    /// First positions spread over the members unevenly (chi-square test against uniform).
    Unbalanced,
    /// A member that appeared in answers but never first.
    MemberNeverFirst,
    /// Clients that always received the same member first.
    ClientsStuck,
    /// The first member matched the client's own subnet: netmask ordering, not a fault.
    NetmaskOrdering,
    /// DNS servers that gave different answer sets for the name in the same interval.
    DivergentServers,
    /// An expected member never appeared in any answer.
    MemberNeverSeen,
    /// No response for this watched name in the whole capture.
    NameNotSeen,
    /// A DNS server that answered none of its queries, some older than the query timeout.
    ServerNotAnswering,
    /// A DNS server that answered none of its queries, which were still waiting, far longer
    /// than the other servers take, when the capture ended.
    ServerSilentAtEnd,
    /// Expectations were given but the capture holds no response about any watched name.
    NoWatchedResponses,
}

impl FindingKind {
    /// The severity this kind always has.
    pub fn severity(self) -> Severity {
        use FindingKind::*;
        match self {
            WrongAddress | Nxdomain | Servfail | Refused | Unanswered | UnauthorizedServer => {
                Severity::Error
            }
            OtherRcode | MissingMember | Nodata | TtlAboveMax | MemberNeverSeen
            | UnsolicitedResponse | ConflictingAnswers | TruncatedNotRetried | StaleAnswer
            | NearMiss | NotRotating | Unbalanced | MemberNeverFirst | ClientsStuck
            | DivergentServers | ServerNotAnswering | NoWatchedResponses => Severity::Warning,
            NameNotSeen | NetmaskOrdering | ServerSilentAtEnd => Severity::Info,
        }
    }

    /// Words for people.
    pub fn label(self) -> &'static str {
        use FindingKind::*;
        match self {
            WrongAddress => "wrong address",
            Nxdomain => "NXDOMAIN",
            Servfail => "SERVFAIL",
            Refused => "REFUSED",
            Unanswered => "unanswered queries",
            UnauthorizedServer => "unauthorized server",
            OtherRcode => "error rcode",
            MissingMember => "member missing from answer",
            Nodata => "NODATA",
            TtlAboveMax => "TTL above maximum",
            UnsolicitedResponse => "unsolicited response",
            ConflictingAnswers => "conflicting answers",
            TruncatedNotRetried => "truncated, no TCP retry",
            StaleAnswer => "stale answer after change",
            NearMiss => "near miss",
            NotRotating => "server does not rotate",
            Unbalanced => "unbalanced first position",
            MemberNeverFirst => "member never first",
            ClientsStuck => "clients stuck on one member",
            NetmaskOrdering => "netmask ordering",
            DivergentServers => "servers disagree",
            MemberNeverSeen => "member never seen",
            NameNotSeen => "no responses",
            ServerNotAnswering => "server answers nothing",
            ServerSilentAtEnd => "server silent at capture end",
            NoWatchedResponses => "no watched response",
        }
    }
}

/// Identifies one finding: its kind, the watched name and what it concerns.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct FindingKey {
    /// What kind.
    pub kind: FindingKind,
    /// The watched name (as written in the expectations).
    pub name: String,
    /// The address, server, rcode or record type concerned ("" when none).
    pub subject: String,
}

/// An address as a finding's subject, written exactly as [`IpAddr`]'s `Display` writes it, but
/// an IPv4 address without the formatting machinery (one `pad` instead of seven writes): a wrong
/// or missing member is recorded for every response that has it, on the sequential analysis.
pub struct AddressSubject(pub IpAddr);

impl fmt::Display for AddressSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let IpAddr::V4(v4) = self.0 else {
            return self.0.fmt(f);
        };
        let mut text = [0u8; 15];
        let mut len = 0;
        for (index, octet) in v4.octets().into_iter().enumerate() {
            if index > 0 {
                text[len] = b'.';
                len += 1;
            }
            // Hundreds and tens are written in any case and kept only when the octet has them.
            for (digit, shown) in [(octet / 100, octet >= 100), (octet / 10 % 10, octet >= 10)] {
                text[len] = b'0' + digit;
                len += usize::from(shown);
            }
            text[len] = b'0' + octet % 10;
            len += 1;
        }
        f.pad(std::str::from_utf8(&text[..len]).expect("digits and dots are ASCII"))
    }
}

thread_local! {
    /// The key buffer [`record_finding`] reuses.
    static SCRATCH_KEY: RefCell<FindingKey> = const {
        RefCell::new(FindingKey {
            kind: FindingKind::WrongAddress,
            name: String::new(),
            subject: String::new(),
        })
    };
}

/// Records `event` (carrying `value`, see [`Occurrences::record_value`]) under the finding
/// (`kind`, `name`, `subject`). The key is written into a reused buffer and copied only for a
/// finding not seen before: most events repeat a known finding, and watched responses pass
/// here one by one.
pub fn record_finding(
    findings: &mut BTreeMap<FindingKey, Occurrences>,
    kind: FindingKind,
    name: &str,
    subject: &dyn fmt::Display,
    event: &Event,
    value: u64,
) {
    SCRATCH_KEY.with_borrow_mut(|key| {
        key.kind = kind;
        key.name.clear();
        key.name.push_str(name);
        key.subject.clear();
        // Writing into a String cannot fail.
        let _ = write!(key.subject, "{subject}");
        match findings.get_mut(key) {
            Some(occurrences) => occurrences.record_value(event, value),
            None => findings
                .entry(key.clone())
                .or_default()
                .record_value(event, value),
        }
    });
}

/// Findings gathered before they are folded into the map.
const GATHERED: usize = 16;

/// Findings whose subject is an address (wrong addresses, missing members, unauthorized servers,
/// unsolicited responses, ...), gathered in a short list under their kind, name and address and
/// folded into the findings map in bulk. On the sequential analysis nearly every watched response
/// records one, nearly always one recorded a moment before: found here it costs a few compares,
/// where the map's key needs the address written out as text and compared as text. Folding is
/// exact (recording an event equals merging a one-event record, and merging is associative and
/// commutative), so when it happens changes nothing.
#[derive(Debug, Default)]
pub struct AddressFindings {
    gathered: Vec<(FindingKind, IpAddr, Box<str>, Occurrences)>,
}

impl AddressFindings {
    /// Records `event` (carrying `value`) under the finding (`kind`, `name`, `address`), folding
    /// what was gathered into `findings` first when the list is full.
    pub fn record(
        &mut self,
        findings: &mut BTreeMap<FindingKey, Occurrences>,
        kind: FindingKind,
        name: &str,
        address: IpAddr,
        event: &Event,
        value: u64,
    ) {
        let held = self
            .gathered
            .iter_mut()
            .find(|(k, a, n, _)| *k == kind && *a == address && **n == *name);
        if let Some((.., occurrences)) = held {
            occurrences.record_value(event, value);
            return;
        }
        if self.gathered.len() == GATHERED {
            self.fold_into(findings);
        }
        let mut occurrences = Occurrences::default();
        occurrences.record_value(event, value);
        self.gathered
            .push((kind, address, name.into(), occurrences));
    }

    /// True when nothing is waiting to be folded.
    pub fn is_empty(&self) -> bool {
        self.gathered.is_empty()
    }

    /// Moves everything gathered into `findings`.
    pub fn fold_into(&mut self, findings: &mut BTreeMap<FindingKey, Occurrences>) {
        for (kind, address, name, occurrences) in self.gathered.drain(..) {
            let key = FindingKey {
                kind,
                name: name.into(),
                subject: AddressSubject(address).to_string(),
            };
            findings.entry(key).or_default().merge(occurrences);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::occurrences::FrameRef;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn gathered_findings_fold_into_what_recording_each_one_gives() {
        let names = ["Pool.contoso.com", "Other.contoso.com"];
        let kinds = [
            FindingKind::WrongAddress,
            FindingKind::MissingMember,
            FindingKind::UnsolicitedResponse,
        ];
        let addresses: Vec<IpAddr> = (1..=7u8)
            .map(|n| IpAddr::from([10, 10, 10, n]))
            .chain(["2001:db8::53".parse().unwrap()])
            .collect();
        let mut recorded = BTreeMap::new();
        let mut gathered_into = BTreeMap::new();
        let mut gathered = AddressFindings::default();
        // 48 keys (the list folds whenever 16 are gathered), events out of time order.
        for n in 0..3000u64 {
            let (kind, name) = (kinds[(n % 3) as usize], names[(n / 7 % 2) as usize]);
            let address = addresses[(n * 5 / 3 % 8) as usize];
            let event = Event {
                ts_ns: 1_000_000 - n * 37 % 1001,
                frame: FrameRef {
                    file_index: 0,
                    frame_number: n * 13 % 2999 + 1,
                },
                server: addresses[(n % 5) as usize],
                client: IpAddr::from([198, 51, 100, (n % 23) as u8]),
            };
            let value = n % 11;
            record_finding(
                &mut recorded,
                kind,
                name,
                &AddressSubject(address),
                &event,
                value,
            );
            gathered.record(&mut gathered_into, kind, name, address, &event, value);
            if n % 401 == 0 {
                gathered.fold_into(&mut gathered_into);
                assert!(gathered.is_empty());
            }
        }
        gathered.fold_into(&mut gathered_into);
        assert_eq!(recorded.len(), 48);
        assert_eq!(gathered_into, recorded);
    }

    #[test]
    fn an_address_subject_is_written_as_display_writes_the_address() {
        let mut addresses: Vec<IpAddr> = (0..=255u8)
            .flat_map(|octet| {
                (0..4).map(move |at| {
                    let mut octets = [1, 22, 133, 4];
                    octets[at] = octet;
                    IpAddr::V4(Ipv4Addr::from(octets))
                })
            })
            .collect();
        addresses.extend([
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V4(Ipv4Addr::BROADCAST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            "2001:db8::10:0:1".parse().unwrap(),
            "::ffff:10.10.10.1".parse().unwrap(),
        ]);
        for address in addresses {
            let subject = AddressSubject(address);
            assert_eq!(subject.to_string(), address.to_string());
            assert_eq!(format!("[{subject:>17}]"), format!("[{address:>17}]"));
            assert_eq!(format!("[{subject:<17}]"), format!("[{address:<17}]"));
        }
    }
}
