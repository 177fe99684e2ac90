//! IP and transport: IPv4 and IPv6 (extension headers skipped) through etherparse's lax
//! slicing, which keeps what a snaplen-cut packet still has; then the UDP header by hand
//! (RFC 768: eight bytes). Only datagrams to or from a DNS port go further.

use super::{Layer, Skip};
use etherparse::err::ip::LaxHeaderSliceError;
use etherparse::{IpNumber, Ipv6ExtensionSlice, LaxIpSlice};
use std::net::IpAddr;

const UDP_HEADER_LEN: usize = 8;

/// The transport a DNS message arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// DNS over UDP.
    Udp,
    /// DNS over TCP.
    Tcp,
}

/// A UDP datagram on a DNS port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// IP source address.
    pub source: IpAddr,
    /// IP destination address.
    pub destination: IpAddr,
    /// UDP source port.
    pub source_port: u16,
    /// UDP destination port.
    pub destination_port: u16,
    /// Always UDP for now (TCP is a skip until stream reassembly exists).
    pub transport: Transport,
    /// The UDP payload as captured.
    pub payload: &'a [u8],
    /// The payload is shorter than the UDP length says (cut by snaplen).
    pub payload_truncated: bool,
}

/// Reads the IP header and the UDP header of `packet`; keeps datagrams on `dns_ports`.
pub fn udp_datagram<'a>(
    packet: &'a [u8],
    dns_ports: &[u16],
    frame_truncated: bool,
) -> Result<Datagram<'a>, Skip> {
    let (ip, _extension_error) = LaxIpSlice::from_slice(packet).map_err(|e| match e {
        LaxHeaderSliceError::Len(_) if frame_truncated => Skip::Truncated(Layer::Ip),
        _ => Skip::Malformed(Layer::Ip),
    })?;
    let ip_payload = ip.payload();
    let bytes = ip_payload.payload;
    let port_at = |offset: usize| {
        bytes
            .get(offset..offset + 2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
    };
    match ip_payload.ip_number {
        IpNumber::UDP | IpNumber::TCP => {}
        _ => return Err(Skip::NotDns),
    }
    // Without reassembly, only a first fragment can be read, and only as far as it goes
    // (tshark does the same for a datagram whose other fragments are missing).
    if ip_payload.fragmented && !is_first_fragment(&ip) {
        return Err(Skip::IpFragment);
    }
    let (Some(source_port), Some(destination_port)) = (port_at(0), port_at(2)) else {
        return Err(if ip_payload.incomplete {
            Skip::Truncated(Layer::Udp)
        } else {
            Skip::Malformed(Layer::Udp)
        });
    };
    if !dns_ports.contains(&source_port) && !dns_ports.contains(&destination_port) {
        return Err(Skip::NotDns);
    }
    if ip_payload.ip_number == IpNumber::TCP {
        return Err(Skip::DnsOverTcp);
    }
    let udp_length = usize::from(port_at(4).ok_or(if ip_payload.incomplete {
        Skip::Truncated(Layer::Udp)
    } else {
        Skip::Malformed(Layer::Udp)
    })?);
    if bytes.len() < UDP_HEADER_LEN {
        return Err(if ip_payload.incomplete {
            Skip::Truncated(Layer::Udp)
        } else {
            Skip::Malformed(Layer::Udp)
        });
    }
    if udp_length < UDP_HEADER_LEN {
        return Err(Skip::Malformed(Layer::Udp));
    }
    // The UDP length bounds the payload (trailing bytes are link padding); a capture may hold less.
    let end = udp_length.min(bytes.len());
    Ok(Datagram {
        source: ip.source_addr(),
        destination: ip.destination_addr(),
        source_port,
        destination_port,
        transport: Transport::Udp,
        payload: &bytes[UDP_HEADER_LEN..end],
        payload_truncated: udp_length > bytes.len() || ip_payload.fragmented,
    })
}

fn is_first_fragment(ip: &LaxIpSlice<'_>) -> bool {
    match ip {
        LaxIpSlice::Ipv4(v4) => v4.header().fragments_offset().value() == 0,
        LaxIpSlice::Ipv6(v6) => {
            v6.extensions()
                .clone()
                .into_iter()
                .all(|extension| match extension {
                    Ipv6ExtensionSlice::Fragment(fragment) => {
                        fragment.fragment_offset().value() == 0
                    }
                    _ => true,
                })
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An IPv4 + UDP packet from 192.0.2.53:53 to 192.0.2.10:40000 carrying `payload`.
    pub(crate) fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
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
            17,
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
        let udp_len = 8 + payload.len();
        packet.extend_from_slice(&[0, 53, 0x9c, 0x40, (udp_len >> 8) as u8, udp_len as u8, 0, 0]);
        packet.extend_from_slice(payload);
        packet
    }

    #[test]
    fn udp_on_port_53_is_kept_with_its_addresses() {
        let packet = ipv4_udp(b"hello dns");
        let datagram = udp_datagram(&packet, &[53], false).unwrap();
        assert_eq!(datagram.source, "192.0.2.53".parse::<IpAddr>().unwrap());
        assert_eq!(
            (datagram.source_port, datagram.destination_port),
            (53, 40000)
        );
        assert_eq!(datagram.payload, b"hello dns");
        assert!(!datagram.payload_truncated);
    }

    #[test]
    fn other_ports_are_not_dns_unless_configured() {
        let mut packet = ipv4_udp(b"x");
        packet[20..22].copy_from_slice(&8053u16.to_be_bytes());
        assert_eq!(udp_datagram(&packet, &[53], false), Err(Skip::NotDns));
        assert!(udp_datagram(&packet, &[53, 8053], false).is_ok());
    }

    #[test]
    fn ethernet_padding_is_cut_by_the_udp_length() {
        let mut packet = ipv4_udp(b"abc");
        packet.extend_from_slice(&[0, 0, 0]);
        assert_eq!(udp_datagram(&packet, &[53], false).unwrap().payload, b"abc");
    }

    #[test]
    fn snaplen_cut_payload_is_decoded_as_far_as_it_goes() {
        let packet = ipv4_udp(b"abcdefgh");
        let datagram = udp_datagram(&packet[..32], &[53], true).unwrap();
        assert_eq!(datagram.payload, b"abcd");
        assert!(datagram.payload_truncated);
        assert_eq!(
            udp_datagram(&packet[..10], &[53], true),
            Err(Skip::Truncated(Layer::Ip))
        );
    }

    #[test]
    fn first_fragment_is_read_as_truncated_and_later_fragments_are_skipped() {
        let mut first = ipv4_udp(b"abcdefgh");
        first[6] = 0x20; // more fragments, offset 0
        first[24..26].copy_from_slice(&100u16.to_be_bytes()); // the UDP length of the whole datagram
        let datagram = udp_datagram(&first, &[53], false).unwrap();
        assert_eq!(datagram.payload, b"abcdefgh");
        assert!(datagram.payload_truncated);
        let mut later = ipv4_udp(b"abcdefgh");
        later[6..8].copy_from_slice(&0x2003u16.to_be_bytes()); // more fragments, offset 24 bytes
        assert_eq!(udp_datagram(&later, &[53], false), Err(Skip::IpFragment));
    }

    #[test]
    fn tcp_on_a_dns_port_is_a_named_skip() {
        let mut tcp = ipv4_udp(b"abcdefghijklm");
        tcp[9] = 6;
        assert_eq!(udp_datagram(&tcp, &[53], false), Err(Skip::DnsOverTcp));
    }

    #[test]
    fn udp_length_below_header_size_is_malformed() {
        let mut packet = ipv4_udp(b"abc");
        packet[24..26].copy_from_slice(&4u16.to_be_bytes());
        assert_eq!(
            udp_datagram(&packet, &[53], false),
            Err(Skip::Malformed(Layer::Udp))
        );
    }
}
