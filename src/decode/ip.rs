//! IP and transport: IPv4 and IPv6 (extension headers skipped) through etherparse's lax
//! slicing, which keeps what a snaplen-cut packet still has; then the UDP header (RFC 768) or
//! the TCP header (RFC 9293 §3.1) by hand. What goes further: UDP datagrams and TCP segments to
//! or from a DNS port, and IP fragments of UDP datagrams (their ports are only known once the
//! datagram is reassembled).

use super::{Layer, Skip};
use etherparse::err::ip::LaxHeaderSliceError;
use etherparse::{IpNumber, Ipv6ExtensionSlice, LaxIpSlice};
use std::net::{IpAddr, SocketAddr};

const UDP_HEADER_LEN: usize = 8;
const TCP_MIN_HEADER_LEN: usize = 20;
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

pub use crate::keys::Transport;

/// A UDP datagram on a DNS port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Sender address and port.
    pub source: SocketAddr,
    /// Receiver address and port.
    pub destination: SocketAddr,
    /// The UDP payload as captured.
    pub payload: &'a [u8],
    /// The payload is shorter than the UDP length says (cut by snaplen).
    pub payload_truncated: bool,
}

/// A TCP segment on a DNS port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Sender address and port.
    pub source: SocketAddr,
    /// Receiver address and port.
    pub destination: SocketAddr,
    /// Sequence number of the segment (of the SYN itself when `syn` is set).
    pub sequence: u32,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// The segment's data as captured.
    pub payload: &'a [u8],
}

/// One fragment of a fragmented IP datagram carrying UDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// IP source.
    pub source: IpAddr,
    /// IP destination.
    pub destination: IpAddr,
    /// IPv4 identification or IPv6 fragment identification.
    pub identification: u32,
    /// Byte offset of this fragment's data in the datagram.
    pub offset: usize,
    /// More fragments follow.
    pub more: bool,
    /// The fragment's data as captured.
    pub payload: &'a [u8],
}

/// What an IP packet carries that the DNS analysis wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried<'a> {
    /// A whole UDP datagram on a DNS port.
    Udp(Datagram<'a>),
    /// A TCP segment on a DNS port.
    Tcp(Segment<'a>),
    /// A fragment of a UDP datagram.
    Fragment(Fragment<'a>),
    /// A TCP connection attempt (SYN without ACK) to one of the connection targets.
    Connect {
        /// Who connects.
        client: SocketAddr,
        /// The target address and port.
        target: SocketAddr,
    },
}

fn cut_or_malformed(incomplete: bool, layer: Layer) -> Skip {
    if incomplete {
        Skip::Truncated(layer)
    } else {
        Skip::Malformed(layer)
    }
}

/// True when either port carries DNS. The list is short (53 and a few more): a plain loop,
/// inlined, costs a fraction of `contains` (a call per port) on every non-DNS packet.
fn on_dns_port(dns_ports: &[u16], source_port: u16, destination_port: u16) -> bool {
    dns_ports
        .iter()
        .any(|&port| port == source_port || port == destination_port)
}

fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    bytes
        .get(offset..offset + 2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
}

/// Reads the IP header of `packet` and what it carries on `dns_ports`, or a connection attempt
/// to one of `connection_targets`.
pub fn carried<'a>(
    packet: &'a [u8],
    dns_ports: &[u16],
    connection_targets: &[IpAddr],
    frame_truncated: bool,
) -> Result<Carried<'a>, Skip> {
    let (ip, _extension_error) = LaxIpSlice::from_slice(packet).map_err(|e| match e {
        LaxHeaderSliceError::Len(_) if frame_truncated => Skip::Truncated(Layer::Ip),
        _ => Skip::Malformed(Layer::Ip),
    })?;
    let ip_payload = ip.payload();
    let (source, destination) = (ip.source_addr(), ip.destination_addr());
    match ip_payload.ip_number {
        IpNumber::UDP if ip_payload.fragmented => {
            let (identification, offset, more) = fragment_position(&ip);
            Ok(Carried::Fragment(Fragment {
                source,
                destination,
                identification,
                offset,
                more,
                payload: ip_payload.payload,
            }))
        }
        IpNumber::UDP => udp_datagram(
            source,
            destination,
            ip_payload.payload,
            ip_payload.incomplete,
            dns_ports,
        )
        .map(Carried::Udp),
        // DNS over TCP in IP fragments does not happen in practice (TCP segments to the MSS).
        IpNumber::TCP if !ip_payload.fragmented => tcp_segment(
            (source, destination),
            ip_payload.payload,
            ip_payload.incomplete,
            dns_ports,
            connection_targets,
        ),
        _ => Err(Skip::NotDns),
    }
}

/// The UDP datagram `packet` carries on any port, if it carries one unfragmented.
pub fn udp_on_any_port(packet: &[u8]) -> Option<Datagram<'_>> {
    let (ip, _extension_error) = LaxIpSlice::from_slice(packet).ok()?;
    let ip_payload = ip.payload();
    if ip_payload.ip_number != IpNumber::UDP || ip_payload.fragmented {
        return None;
    }
    let bytes = ip_payload.payload;
    // Its own source port as the DNS port list: every port is taken.
    let source_port = read_u16(bytes, 0)?;
    let (source, destination) = (ip.source_addr(), ip.destination_addr());
    udp_datagram(
        source,
        destination,
        bytes,
        ip_payload.incomplete,
        &[source_port],
    )
    .ok()
}

/// Reads a UDP header; keeps datagrams on `dns_ports`. Also used on reassembled datagrams.
pub fn udp_datagram<'a>(
    source: IpAddr,
    destination: IpAddr,
    bytes: &'a [u8],
    incomplete: bool,
    dns_ports: &[u16],
) -> Result<Datagram<'a>, Skip> {
    let (Some(source_port), Some(destination_port), Some(udp_length)) =
        (read_u16(bytes, 0), read_u16(bytes, 2), read_u16(bytes, 4))
    else {
        return Err(cut_or_malformed(incomplete, Layer::Udp));
    };
    if !on_dns_port(dns_ports, source_port, destination_port) {
        return Err(Skip::NotDns);
    }
    let udp_length = usize::from(udp_length);
    if bytes.len() < UDP_HEADER_LEN {
        return Err(cut_or_malformed(incomplete, Layer::Udp));
    }
    if udp_length < UDP_HEADER_LEN {
        return Err(Skip::Malformed(Layer::Udp));
    }
    // The UDP length bounds the payload (trailing bytes are link padding); a capture may hold less.
    let end = udp_length.min(bytes.len());
    Ok(Datagram {
        source: SocketAddr::new(source, source_port),
        destination: SocketAddr::new(destination, destination_port),
        payload: &bytes[UDP_HEADER_LEN..end],
        payload_truncated: udp_length > bytes.len(),
    })
}

fn tcp_segment<'a>(
    (source, destination): (IpAddr, IpAddr),
    bytes: &'a [u8],
    incomplete: bool,
    dns_ports: &[u16],
    connection_targets: &[IpAddr],
) -> Result<Carried<'a>, Skip> {
    let (Some(source_port), Some(destination_port)) = (read_u16(bytes, 0), read_u16(bytes, 2))
    else {
        return Err(cut_or_malformed(incomplete, Layer::Tcp));
    };
    if !on_dns_port(dns_ports, source_port, destination_port) {
        let syn_only = bytes
            .get(13)
            .is_some_and(|f| f & (TCP_SYN | TCP_ACK) == TCP_SYN);
        if syn_only && connection_targets.contains(&destination) {
            return Ok(Carried::Connect {
                client: SocketAddr::new(source, source_port),
                target: SocketAddr::new(destination, destination_port),
            });
        }
        return Err(Skip::NotDns);
    }
    let header_len = bytes.get(12).map_or(0, |b| usize::from(b >> 4) * 4);
    let (Some(sequence), Some(&flags)) = (bytes.get(4..8), bytes.get(13)) else {
        return Err(cut_or_malformed(incomplete, Layer::Tcp));
    };
    if header_len < TCP_MIN_HEADER_LEN {
        return Err(Skip::Malformed(Layer::Tcp));
    }
    let payload = bytes
        .get(header_len..)
        .ok_or(cut_or_malformed(incomplete, Layer::Tcp))?;
    Ok(Carried::Tcp(Segment {
        source: SocketAddr::new(source, source_port),
        destination: SocketAddr::new(destination, destination_port),
        sequence: u32::from_be_bytes([sequence[0], sequence[1], sequence[2], sequence[3]]),
        syn: flags & TCP_SYN != 0,
        fin: flags & TCP_FIN != 0,
        rst: flags & TCP_RST != 0,
        payload,
    }))
}

/// (identification, byte offset, more fragments) of a fragmenting packet.
fn fragment_position(ip: &LaxIpSlice<'_>) -> (u32, usize, bool) {
    match ip {
        LaxIpSlice::Ipv4(v4) => {
            let header = v4.header();
            (
                u32::from(header.identification()),
                usize::from(header.fragments_offset().value()) * 8,
                header.more_fragments(),
            )
        }
        LaxIpSlice::Ipv6(v6) => v6
            .extensions()
            .clone()
            .into_iter()
            .find_map(|extension| match extension {
                Ipv6ExtensionSlice::Fragment(f) => Some((
                    f.identification(),
                    usize::from(f.fragment_offset().value()) * 8,
                    f.more_fragments(),
                )),
                _ => None,
            })
            .unwrap_or((0, 0, false)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An IPv4 packet from 192.0.2.53 to 192.0.2.10 with `protocol` and `payload`.
    pub(crate) fn ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
        let total = 20 + payload.len();
        let mut packet = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0,
            0,
            64,
            protocol,
            0,
            0,
            192,
            0,
            2,
            53,
            192,
            0,
            2,
            10,
        ];
        packet.extend_from_slice(payload);
        packet
    }

    /// An IPv4 + UDP packet from 192.0.2.53:53 to 192.0.2.10:40000 carrying `payload`.
    pub(crate) fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let udp_len = 8 + payload.len();
        let mut udp = vec![0, 53, 0x9c, 0x40, (udp_len >> 8) as u8, udp_len as u8, 0, 0];
        udp.extend_from_slice(payload);
        ipv4(17, &udp)
    }

    fn datagram(carried: Result<Carried<'_>, Skip>) -> Result<Datagram<'_>, Skip> {
        match carried? {
            Carried::Udp(datagram) => Ok(datagram),
            other => panic!("not a datagram: {other:?}"),
        }
    }

    #[test]
    fn udp_on_port_53_is_kept_with_its_addresses() {
        let packet = ipv4_udp(b"hello dns");
        let datagram = datagram(carried(&packet, &[53], &[], false)).unwrap();
        assert_eq!(datagram.source, "192.0.2.53:53".parse().unwrap());
        assert_eq!(datagram.destination, "192.0.2.10:40000".parse().unwrap());
        assert_eq!(datagram.payload, b"hello dns");
        assert!(!datagram.payload_truncated);
    }

    #[test]
    fn other_ports_are_not_dns_unless_configured() {
        let mut packet = ipv4_udp(b"x");
        packet[20..22].copy_from_slice(&8053u16.to_be_bytes());
        assert_eq!(carried(&packet, &[53], &[], false), Err(Skip::NotDns));
        assert!(carried(&packet, &[53, 8053], &[], false).is_ok());
    }

    #[test]
    fn ethernet_padding_is_cut_by_the_udp_length() {
        let mut packet = ipv4_udp(b"abc");
        packet.extend_from_slice(&[0, 0, 0]);
        assert_eq!(
            datagram(carried(&packet, &[53], &[], false))
                .unwrap()
                .payload,
            b"abc"
        );
    }

    #[test]
    fn snaplen_cut_payload_is_decoded_as_far_as_it_goes() {
        let packet = ipv4_udp(b"abcdefgh");
        let datagram = datagram(carried(&packet[..32], &[53], &[], true)).unwrap();
        assert_eq!(datagram.payload, b"abcd");
        assert!(datagram.payload_truncated);
        assert_eq!(
            carried(&packet[..10], &[53], &[], true),
            Err(Skip::Truncated(Layer::Ip))
        );
    }

    #[test]
    fn fragments_carry_their_position_whatever_the_port() {
        let mut first = ipv4_udp(b"abcdefgh");
        first[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        first[6] = 0x20; // more fragments, offset 0
        let Ok(Carried::Fragment(fragment)) = carried(&first, &[53], &[], false) else {
            panic!("not a fragment")
        };
        assert_eq!(
            (fragment.identification, fragment.offset, fragment.more),
            (0x1234, 0, true)
        );
        assert_eq!(fragment.payload.len(), 16);
        let mut later = ipv4_udp(b"abcdefgh");
        later[6..8].copy_from_slice(&0x0003u16.to_be_bytes()); // last fragment, offset 24 bytes
        let Ok(Carried::Fragment(fragment)) = carried(&later, &[53], &[], false) else {
            panic!("not a fragment")
        };
        assert_eq!((fragment.offset, fragment.more), (24, false));
    }

    #[test]
    fn tcp_segment_on_a_dns_port_keeps_sequence_flags_and_data() {
        let mut tcp = vec![
            0,
            53,
            0x9c,
            0x40,
            0,
            0,
            0x10,
            0,
            0,
            0,
            0,
            0,
            0x50,
            TCP_FIN | 0x10,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        tcp.extend_from_slice(b"\x00\x02hi");
        let packet = ipv4(6, &tcp);
        let Ok(Carried::Tcp(segment)) = carried(&packet, &[53], &[], false) else {
            panic!("not a segment")
        };
        assert_eq!(
            (segment.sequence, segment.fin, segment.syn, segment.rst),
            (0x1000, true, false, false)
        );
        assert_eq!(segment.payload, b"\x00\x02hi");
        let mut bad_offset = tcp.clone();
        bad_offset[12] = 0x20;
        assert_eq!(
            carried(&ipv4(6, &bad_offset), &[53], &[], false),
            Err(Skip::Malformed(Layer::Tcp))
        );
    }

    #[test]
    fn syn_to_a_connection_target_is_a_connection_attempt() {
        // 192.0.2.53:40000 -> 192.0.2.10:443, flags as given, no payload.
        let tcp = |flags: u8| {
            let mut tcp = vec![0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags];
            tcp.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
            ipv4(6, &tcp)
        };
        let member: IpAddr = [192, 0, 2, 10].into();
        assert_eq!(
            carried(&tcp(TCP_SYN), &[53], &[member], false),
            Ok(Carried::Connect {
                client: "192.0.2.53:40000".parse().unwrap(),
                target: "192.0.2.10:443".parse().unwrap(),
            })
        );
        // SYN-ACK, plain ACK, or a target nobody asked about: not a connection attempt.
        for (flags, targets) in [
            (TCP_SYN | TCP_ACK, &[member][..]),
            (TCP_ACK, &[member]),
            (TCP_SYN, &[]),
        ] {
            assert_eq!(
                carried(&tcp(flags), &[53], targets, false),
                Err(Skip::NotDns)
            );
        }
    }

    #[test]
    fn udp_length_below_header_size_is_malformed() {
        let mut packet = ipv4_udp(b"abc");
        packet[24..26].copy_from_slice(&4u16.to_be_bytes());
        assert_eq!(
            carried(&packet, &[53], &[], false),
            Err(Skip::Malformed(Layer::Udp))
        );
    }
}
