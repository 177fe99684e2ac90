//! Decode stage: pure functions from frame bytes to DNS messages for the watched names, and the
//! bounded reassembly state machines (IP fragments, DNS over TCP) that the pipeline runs in
//! capture order. Bytes in, values out: no I/O, no clock, no printing, no panics. A frame that
//! yields nothing says why with a [`Skip`], which the analysis counts.

mod dns;
mod fragments;
mod ip;
mod link;
mod reassembly;
mod tcp;
mod view;

pub use dns::{
    type_name, Answer, AnswerData, DnsMessage, Flags, FoundMessage, Question, WatchList,
};
pub use fragments::{FragmentCounters, FragmentLimits, FragmentTable, PIECE_OVERHEAD_BYTES};
pub use ip::Transport;
pub use reassembly::{Reassembler, ReassemblyCounters, ReassemblyLimits};
pub use tcp::{TcpCounters, TcpLimits, TcpStreams, STATE_OVERHEAD_BYTES};
pub use view::{RcodeClass, ResponseView};

use crate::capture::FrameMeta;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

/// A protocol layer, for skip reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// Link layer (Ethernet, SLL, NULL, ...).
    Link,
    /// IPv4 or IPv6.
    Ip,
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// DNS.
    Dns,
}

/// Why a frame produced no DNS message for the analysis. Counted per reason; never an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Skip {
    /// The link type is not one pcdns decodes (the LINKTYPE value).
    UnsupportedLink(u32),
    /// The frame carries something other than IPv4/IPv6 (ARP, LLDP, ...).
    NotIp,
    /// IP, but not UDP or TCP to or from a DNS port.
    NotDns,
    /// The capture cut the frame before this layer was complete.
    Truncated(Layer),
    /// The bytes of this layer are invalid.
    Malformed(Layer),
}

impl Skip {
    /// A stable machine-readable key, used in JSON and in the text report.
    pub fn key(&self) -> String {
        match self {
            Skip::UnsupportedLink(link_type) => format!("unsupported_link_type_{link_type}"),
            Skip::NotIp => "not_ip".into(),
            Skip::NotDns => "not_dns".into(),
            Skip::Truncated(layer) => format!("truncated_{}", layer_name(*layer)),
            Skip::Malformed(layer) => format!("malformed_{}", layer_name(*layer)),
        }
    }

    /// The reason behind a [`Self::key`].
    pub fn from_key(key: &str) -> Option<Skip> {
        let layer = |name: &str| LAYERS.into_iter().find(|l| layer_name(*l) == name);
        match key {
            "not_ip" => Some(Skip::NotIp),
            "not_dns" => Some(Skip::NotDns),
            _ => {
                if let Some(link) = key.strip_prefix("unsupported_link_type_") {
                    link.parse().ok().map(Skip::UnsupportedLink)
                } else if let Some(name) = key.strip_prefix("truncated_") {
                    layer(name).map(Skip::Truncated)
                } else {
                    layer(key.strip_prefix("malformed_")?).map(Skip::Malformed)
                }
            }
        }
    }
}

const LAYERS: [Layer; 5] = [Layer::Link, Layer::Ip, Layer::Udp, Layer::Tcp, Layer::Dns];
/// NotIp, NotDns, then Truncated and Malformed per layer.
const FIXED_REASONS: usize = 2 + 2 * LAYERS.len();

/// Skipped frames per reason, counted without allocating: a fixed table for the reasons that
/// carry no value, and a short list of the unsupported link types met. Saved as a map from
/// reason key to count, so a saved state does not depend on the table's layout.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(
    try_from = "std::collections::BTreeMap<String, u64>",
    into = "std::collections::BTreeMap<String, u64>"
)]
pub struct SkipCounts {
    fixed: [u64; FIXED_REASONS],
    unsupported_links: Vec<(u32, u64)>,
}

impl SkipCounts {
    fn index(why: Skip) -> Option<usize> {
        let layer_index =
            |layer: Layer| LAYERS.iter().position(|l| *l == layer).unwrap_or_default();
        match why {
            Skip::UnsupportedLink(_) => None,
            Skip::NotIp => Some(0),
            Skip::NotDns => Some(1),
            Skip::Truncated(layer) => Some(2 + layer_index(layer)),
            Skip::Malformed(layer) => Some(2 + LAYERS.len() + layer_index(layer)),
        }
    }

    fn reason(index: usize) -> Skip {
        match index {
            0 => Skip::NotIp,
            1 => Skip::NotDns,
            i if i < 2 + LAYERS.len() => Skip::Truncated(LAYERS[i - 2]),
            i => Skip::Malformed(LAYERS[i - 2 - LAYERS.len()]),
        }
    }

    /// Counts `count` frames skipped for `why`.
    pub fn add(&mut self, why: Skip, count: u64) {
        match (Self::index(why), why) {
            (Some(index), _) => self.fixed[index] += count,
            (None, Skip::UnsupportedLink(link_type)) => match self
                .unsupported_links
                .iter_mut()
                .find(|(t, _)| *t == link_type)
            {
                Some((_, n)) => *n += count,
                None => self.unsupported_links.push((link_type, count)),
            },
            (None, _) => {}
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &SkipCounts) {
        for (why, count) in other.iter() {
            self.add(why, count);
        }
    }

    /// Every reason with a non-zero count, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = (Skip, u64)> + '_ {
        let mut links = self.unsupported_links.clone();
        links.sort_unstable();
        links
            .into_iter()
            .map(|(t, n)| (Skip::UnsupportedLink(t), n))
            .chain(
                self.fixed
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (Self::reason(i), *n)),
            )
            .filter(|(_, n)| *n > 0)
    }
}

impl From<SkipCounts> for std::collections::BTreeMap<String, u64> {
    fn from(counts: SkipCounts) -> Self {
        counts.iter().map(|(why, n)| (why.key(), n)).collect()
    }
}

impl TryFrom<std::collections::BTreeMap<String, u64>> for SkipCounts {
    type Error = String;

    fn try_from(saved: std::collections::BTreeMap<String, u64>) -> Result<Self, String> {
        let mut counts = SkipCounts::default();
        for (key, n) in saved {
            let why =
                Skip::from_key(&key).ok_or_else(|| format!("unknown skip reason \"{key}\""))?;
            counts.add(why, n);
        }
        Ok(counts)
    }
}

fn layer_name(layer: Layer) -> &'static str {
    match layer {
        Layer::Link => "link",
        Layer::Ip => "ip",
        Layer::Udp => "udp",
        Layer::Tcp => "tcp",
        Layer::Dns => "dns",
    }
}

/// Settings the decoder needs: which ports carry DNS and which names are watched.
#[derive(Debug, Clone)]
pub struct DecodeConfig {
    /// UDP and TCP ports treated as DNS (53 plus `--dns-port`).
    pub dns_ports: Vec<u16>,
    /// The names whose messages are decoded in full.
    pub watch: WatchList,
    /// Addresses (pool members) whose incoming TCP connection attempts are reported, to see
    /// whether clients used the answers they got. Empty: none.
    pub connection_targets: Vec<IpAddr>,
}

/// A TCP connection attempt (SYN) to a pool member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionAttempt {
    /// The frame it came in.
    pub frame: FrameContext,
    /// Who connects.
    pub client: SocketAddr,
    /// The member address and port.
    pub target: SocketAddr,
}

/// A TCP segment on a DNS port, copied out of its batch for stream reassembly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedSegment {
    /// The frame it came in.
    pub frame: FrameContext,
    /// Sender.
    pub source: SocketAddr,
    /// Receiver.
    pub destination: SocketAddr,
    /// Sequence number.
    pub sequence: u32,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// Segment data.
    pub payload: Vec<u8>,
}

/// An IP fragment of a UDP datagram, copied out of its batch for reassembly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedFragment {
    /// The frame it came in.
    pub frame: FrameContext,
    /// IP source.
    pub source: IpAddr,
    /// IP destination.
    pub destination: IpAddr,
    /// Datagram identification.
    pub identification: u32,
    /// Byte offset of the data in the datagram.
    pub offset: usize,
    /// More fragments follow.
    pub more: bool,
    /// Fragment data.
    pub payload: Vec<u8>,
}

/// The client end of a DNS message from `source` to `destination`: the receiver of a response,
/// the sender of a query.
pub fn client_end<T>(is_response: bool, source: T, destination: T) -> T {
    if is_response {
        destination
    } else {
        source
    }
}

/// A UDP datagram whose DNS message the prefilter found for the analysis, not yet decoded in
/// full ([`find_frame`]): the pipeline moves it (its payload copied) into the part of the lane
/// of its client's shard, which decodes it there, so that a message is made, analysed and
/// freed on one thread.
#[derive(Debug, Clone)]
pub struct WatchedDatagram {
    /// The frame it came in.
    pub frame: FrameContext,
    /// Sender.
    pub source: SocketAddr,
    /// Receiver.
    pub destination: SocketAddr,
    /// What the prefilter read.
    pub found: FoundMessage,
    /// The capture cut the payload short.
    pub truncated: bool,
    /// Where the DNS payload lies: in the frame's bytes as found, in the lane part's payloads
    /// once moved there ([`Self::move_payload`]).
    pub payload: Range<u32>,
}

impl WatchedDatagram {
    /// The client: the receiver of a response, the sender of a query.
    pub fn client(&self) -> SocketAddr {
        client_end(self.found.is_response(), self.source, self.destination)
    }

    /// Its payload in `bytes` (the frame's, or the payloads it was moved to).
    pub fn payload_in<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        let Range { start, end } = self.payload.clone();
        bytes.get(start as usize..end as usize).unwrap_or_default()
    }

    /// Copies its payload from its frame's `frame_bytes` to the end of `payloads`, and points
    /// there.
    pub fn move_payload(&mut self, frame_bytes: &[u8], payloads: &mut Vec<u8>) {
        let start = payloads.len();
        payloads.extend_from_slice(self.payload_in(frame_bytes));
        self.payload = start as u32..payloads.len() as u32;
    }

    /// Decodes the message in full from `payloads` (where its payload lies).
    pub fn decode(&self, payloads: &[u8], watch: &WatchList) -> Decoded {
        dns::decode_watched(
            self.payload_in(payloads),
            self.truncated,
            watch,
            self.found,
            self.frame,
            (self.source, self.destination),
            Transport::Udp,
        )
    }
}

/// What one frame turned out to be.
#[derive(Debug)]
pub enum Decoded {
    /// A DNS message about a watched name, decoded in full.
    Watched(Box<DnsMessage>),
    /// A UDP DNS message about a watched name, found but not yet decoded: the `n`th
    /// [`WatchedDatagram`] of the lane part it was routed to.
    Datagram(u32),
    /// A DNS message about some other name (only the header was read), or not a standard query.
    Unwatched {
        /// QR bit: true for a response.
        is_response: bool,
    },
    /// A DNS message for the analysis whose question could not be decoded.
    Undecodable {
        /// QR bit: true for a response.
        is_response: bool,
        /// Truncated or malformed DNS.
        why: Skip,
    },
    /// A TCP segment on a DNS port: DNS comes out of the stream.
    Segment(Box<OwnedSegment>),
    /// An IP fragment: DNS comes out of the reassembled datagram.
    Fragment(Box<OwnedFragment>),
    /// A TCP connection attempt to a pool member.
    Connection(Box<ConnectionAttempt>),
}

impl Decoded {
    /// The frame an item that needs capture order came in (none for the counted kinds).
    pub fn frame_mut(&mut self) -> Option<&mut FrameContext> {
        match self {
            Decoded::Watched(message) => Some(&mut message.frame),
            Decoded::Segment(segment) => Some(&mut segment.frame),
            Decoded::Fragment(fragment) => Some(&mut fragment.frame),
            Decoded::Connection(attempt) => Some(&mut attempt.frame),
            Decoded::Datagram(_) | Decoded::Unwatched { .. } | Decoded::Undecodable { .. } => None,
        }
    }
}

/// Frame-level facts that go with every decoded DNS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameContext {
    /// Capture timestamp (ns since the epoch).
    pub ts_ns: u64,
    /// Input file index.
    pub file_index: u16,
    /// Frame number within the file (from 1).
    pub frame_number: u64,
}

/// Decodes one frame: link → IP → UDP/TCP/fragment → DNS prefilter → full DNS decode for watched
/// names (UDP; TCP segments and fragments are handed on for reassembly).
pub fn decode_frame(meta: &FrameMeta, bytes: &[u8], config: &DecodeConfig) -> FrameOutcome {
    let found = find_frame(meta, bytes, config);
    FrameOutcome {
        result: found.result.map(|found| match found {
            Found::Item(item) => item,
            Found::Datagram(datagram) => datagram.decode(bytes, &config.watch),
        }),
        snaplen_truncated: found.snaplen_truncated,
    }
}

/// [`decode_frame`] up to the DNS prefilter: a UDP message for the analysis comes out as a
/// [`WatchedDatagram`] pointing into `bytes`, to be decoded in full where it is analysed.
pub fn find_frame(meta: &FrameMeta, bytes: &[u8], config: &DecodeConfig) -> FoundFrame {
    let truncated = meta.wire_len > meta.caplen;
    let result = decode_layers(meta, bytes, config, truncated);
    FoundFrame {
        result,
        snaplen_truncated: truncated,
    }
}

/// What [`find_frame`] makes of a frame.
#[derive(Debug)]
pub enum Found {
    /// What [`decode_frame`] makes of it too.
    Item(Decoded),
    /// A UDP DNS message for the analysis, left undecoded.
    Datagram(WatchedDatagram),
}

/// The outcome of [`find_frame`]: what was found, or why nothing was, plus whether the capture
/// cut the frame short.
#[derive(Debug)]
pub struct FoundFrame {
    /// What was found.
    pub result: Result<Found, Skip>,
    /// The frame was shorter on capture than on the wire (snaplen).
    pub snaplen_truncated: bool,
}

impl FrameContext {
    /// The frame facts of `meta`.
    fn of(meta: &FrameMeta) -> Self {
        FrameContext {
            ts_ns: meta.ts_ns,
            file_index: meta.file_index,
            frame_number: meta.frame_number,
        }
    }
}

/// The decode result of one frame plus whether the capture cut it short.
#[derive(Debug)]
pub struct FrameOutcome {
    /// The DNS message, or why there is none.
    pub result: Result<Decoded, Skip>,
    /// The frame was shorter on capture than on the wire (snaplen).
    pub snaplen_truncated: bool,
}

fn decode_layers(
    meta: &FrameMeta,
    bytes: &[u8],
    config: &DecodeConfig,
    truncated: bool,
) -> Result<Found, Skip> {
    let ip_bytes = link::ip_packet(meta.link_type, bytes)?;
    let frame = FrameContext::of(meta);
    match ip::carried(
        ip_bytes,
        &config.dns_ports,
        &config.connection_targets,
        truncated,
    )? {
        ip::Carried::Udp(datagram) => find_datagram(&datagram, bytes, config, frame),
        ip::Carried::Tcp(segment) => Ok(Found::Item(Decoded::Segment(Box::new(OwnedSegment {
            frame,
            source: segment.source,
            destination: segment.destination,
            sequence: segment.sequence,
            syn: segment.syn,
            fin: segment.fin,
            rst: segment.rst,
            payload: segment.payload.to_vec(),
        })))),
        ip::Carried::Fragment(fragment) => {
            Ok(Found::Item(Decoded::Fragment(Box::new(OwnedFragment {
                frame,
                source: fragment.source,
                destination: fragment.destination,
                identification: fragment.identification,
                offset: fragment.offset,
                more: fragment.more,
                payload: fragment.payload.to_vec(),
            }))))
        }
        ip::Carried::Connect { client, target } => Ok(Found::Item(Decoded::Connection(Box::new(
            ConnectionAttempt {
                frame,
                client,
                target,
            },
        )))),
    }
}

/// The DNS message a UDP datagram carries.
fn decode_datagram(
    datagram: &ip::Datagram<'_>,
    config: &DecodeConfig,
    frame: FrameContext,
) -> Result<Decoded, Skip> {
    dns::decode_message(
        datagram.payload,
        datagram.payload_truncated,
        &config.watch,
        frame,
        (datagram.source, datagram.destination),
        Transport::Udp,
    )
}

/// The DNS message a UDP datagram (inside a frame's `bytes`) carries: counted, or found for the
/// analysis and left undecoded.
fn find_datagram(
    datagram: &ip::Datagram<'_>,
    bytes: &[u8],
    config: &DecodeConfig,
    frame: FrameContext,
) -> Result<Found, Skip> {
    let truncated = datagram.payload_truncated;
    Ok(
        match dns::prefilter(datagram.payload, truncated, &config.watch)? {
            dns::Prefiltered::Counted(counted) => Found::Item(counted),
            dns::Prefiltered::Watched(found) => {
                // The payload is a part of `bytes`: its place there, from the two addresses.
                let start =
                    (datagram.payload.as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize);
                let end = start + datagram.payload.len();
                Found::Datagram(WatchedDatagram {
                    frame,
                    source: datagram.source,
                    destination: datagram.destination,
                    found,
                    truncated,
                    payload: start as u32..end as u32,
                })
            }
        },
    )
}

/// The server port of a response about a watched name that `frame` carries in a UDP datagram
/// on a port that is not one of `config`'s DNS ports (what `--dns-port` would add); None for
/// anything else. A second look at a capture that showed no watched response: not on the path
/// of a normal decode.
pub fn watched_response_port(meta: &FrameMeta, bytes: &[u8], config: &DecodeConfig) -> Option<u16> {
    let ip_bytes = link::ip_packet(meta.link_type, bytes).ok()?;
    let datagram = ip::udp_on_any_port(ip_bytes)?;
    let (source_port, destination_port) = (datagram.source.port(), datagram.destination.port());
    if config.dns_ports.contains(&source_port) || config.dns_ports.contains(&destination_port) {
        return None;
    }
    match decode_datagram(&datagram, config, FrameContext::of(meta)) {
        Ok(Decoded::Watched(message)) if message.flags.response => Some(source_port),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_counts_save_as_reason_keys_and_read_back() {
        let mut counts = SkipCounts::default();
        let reasons = [
            Skip::UnsupportedLink(276),
            Skip::NotIp,
            Skip::NotDns,
            Skip::Truncated(Layer::Udp),
            Skip::Malformed(Layer::Dns),
        ];
        for (n, why) in reasons.into_iter().enumerate() {
            assert_eq!(Skip::from_key(&why.key()), Some(why));
            counts.add(why, n as u64 + 1);
        }
        let saved = serde_json::to_string(&counts).unwrap();
        assert!(saved.contains("\"malformed_dns\":5"), "{saved}");
        assert_eq!(serde_json::from_str::<SkipCounts>(&saved).unwrap(), counts);
        assert!(serde_json::from_str::<SkipCounts>("{\"mystery\":1}").is_err());
    }
}
