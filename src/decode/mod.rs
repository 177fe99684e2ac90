//! Decode stage: pure functions from frame bytes to DNS messages for the watched names.
//! Bytes in, values out: no I/O, no clock, no printing, no panics. A frame that yields nothing
//! says why with a [`Skip`], which the analysis counts.

mod dns;
mod ip;
mod link;

pub use dns::{type_name, Answer, AnswerData, DnsMessage, Flags, Question, WatchList};
pub use ip::Transport;

use crate::capture::FrameMeta;
use std::net::SocketAddr;

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
    /// IP, but not UDP to or from a DNS port.
    NotDns,
    /// DNS over TCP: stream reassembly is not implemented yet.
    DnsOverTcp,
    /// An IP fragment: datagram reassembly is not implemented yet.
    IpFragment,
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
            Skip::DnsOverTcp => "dns_over_tcp_not_reassembled".into(),
            Skip::IpFragment => "ip_fragment_not_reassembled".into(),
            Skip::Truncated(layer) => format!("truncated_{}", layer_name(*layer)),
            Skip::Malformed(layer) => format!("malformed_{}", layer_name(*layer)),
        }
    }
}

fn layer_name(layer: Layer) -> &'static str {
    match layer {
        Layer::Link => "link",
        Layer::Ip => "ip",
        Layer::Udp => "udp",
        Layer::Dns => "dns",
    }
}

/// Settings the decoder needs: which ports carry DNS and which names are watched.
#[derive(Debug, Clone)]
pub struct DecodeConfig {
    /// UDP ports treated as DNS (53 plus `--dns-port`).
    pub dns_ports: Vec<u16>,
    /// The names whose messages are decoded in full.
    pub watch: WatchList,
}

/// What one frame turned out to be.
#[derive(Debug)]
pub enum Decoded {
    /// A DNS message about a watched name, decoded in full.
    Watched(Box<DnsMessage>),
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

/// Decodes one frame: link → IP → UDP → DNS prefilter → full DNS decode for watched names.
/// `snaplen_cut` is reported through the return value's `truncated` flag.
pub fn decode_frame(meta: &FrameMeta, bytes: &[u8], config: &DecodeConfig) -> FrameOutcome {
    let truncated = meta.wire_len > meta.caplen;
    let result = decode_layers(meta, bytes, config, truncated);
    FrameOutcome {
        result,
        snaplen_truncated: truncated,
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
) -> Result<Decoded, Skip> {
    let ip_bytes = link::ip_packet(meta.link_type, bytes)?;
    let datagram = ip::udp_datagram(ip_bytes, &config.dns_ports, truncated)?;
    let context = FrameContext {
        ts_ns: meta.ts_ns,
        file_index: meta.file_index,
        frame_number: meta.frame_number,
    };
    let endpoints = (
        SocketAddr::new(datagram.source, datagram.source_port),
        SocketAddr::new(datagram.destination, datagram.destination_port),
    );
    dns::decode_message(
        datagram.payload,
        datagram.payload_truncated,
        &config.watch,
        context,
        endpoints,
        datagram.transport,
    )
}
