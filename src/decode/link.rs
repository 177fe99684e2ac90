//! Link layers: find the IP packet inside a frame. Ethernet (up to three 802.1Q/802.1ad tags,
//! then optionally a PPPoE session),
//! Linux cooked capture v1 and v2, Linux NFLOG, raw IP, BSD loopback (NULL and LOOP). Any other
//! link type is an [`Skip::UnsupportedLink`] naming it.

use super::{Layer, Skip};

/// LINKTYPE values (https://www.tcpdump.org/linktypes.html).
pub mod linktype {
    /// BSD loopback, host byte order family.
    pub const NULL: u32 = 0;
    /// Ethernet.
    pub const ETHERNET: u32 = 1;
    /// Raw IP (DLT_RAW on some BSDs).
    pub const RAW_12: u32 = 12;
    /// Raw IP (DLT_RAW on OpenBSD).
    pub const RAW_14: u32 = 14;
    /// Raw IP.
    pub const RAW: u32 = 101;
    /// OpenBSD loopback, network byte order family.
    pub const LOOP: u32 = 108;
    /// Linux cooked capture v1.
    pub const LINUX_SLL: u32 = 113;
    /// Linux netfilter log messages.
    pub const NFLOG: u32 = 239;
    /// Raw IPv4.
    pub const IPV4: u32 = 228;
    /// Raw IPv6.
    pub const IPV6: u32 = 229;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: u32 = 276;
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// PPP protocol numbers for IPv4 and IPv6 (RFC 1332, RFC 5072).
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
/// PPPoE session header (RFC 2516 §4): version/type, code, session id, length.
const PPPOE_HEADER_LEN: usize = 6;
const MAX_VLAN_TAGS: usize = 3;
const ETHERNET_HEADER_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const SLL_HEADER_LEN: usize = 16;
const SLL2_HEADER_LEN: usize = 20;
const LOOPBACK_HEADER_LEN: usize = 4;
/// Address family values BSDs use for IPv6 in loopback headers (NetBSD/OpenBSD, FreeBSD, macOS).
const AF_INET6_VALUES: [u32; 3] = [24, 28, 30];
const AF_INET: u32 = 2;
/// NFLOG: 4-byte header, then TLVs (16-bit length and type in host byte order, padded to
/// 4 bytes); type 9 (NFULA_PAYLOAD) holds the IP packet.
const NFLOG_HEADER_LEN: usize = 4;
const NFLOG_TLV_HEADER_LEN: usize = 4;
const NFULA_PAYLOAD: u16 = 9;

/// Returns the bytes of the IP packet carried by a frame of `link_type`.
pub fn ip_packet(link_type: u32, frame: &[u8]) -> Result<&[u8], Skip> {
    match link_type {
        linktype::ETHERNET => ethernet_payload(frame),
        linktype::LINUX_SLL => ethertype_payload(frame, 14, SLL_HEADER_LEN),
        linktype::LINUX_SLL2 => ethertype_payload(frame, 0, SLL2_HEADER_LEN),
        linktype::RAW_12 | linktype::RAW_14 | linktype::RAW | linktype::IPV4 | linktype::IPV6 => {
            raw_ip(frame)
        }
        linktype::NFLOG => nflog_payload(frame),
        linktype::NULL => loopback_payload(frame, Family::HostOrder),
        linktype::LOOP => loopback_payload(frame, Family::NetworkOrder),
        other => Err(Skip::UnsupportedLink(other)),
    }
}

fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    let pair = bytes.get(offset..offset + 2)?;
    Some(u16::from_be_bytes([pair[0], pair[1]]))
}

fn ethernet_payload(frame: &[u8]) -> Result<&[u8], Skip> {
    let mut type_offset = ETHERNET_HEADER_LEN - 2;
    for _ in 0..=MAX_VLAN_TAGS {
        let ethertype = read_u16(frame, type_offset).ok_or(Skip::Truncated(Layer::Link))?;
        match ethertype {
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => type_offset += VLAN_TAG_LEN,
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => return Ok(&frame[type_offset + 2..]),
            ETHERTYPE_PPPOE_SESSION => return pppoe_payload(&frame[type_offset + 2..]),
            _ => return Err(Skip::NotIp),
        }
    }
    // A fourth tag: more than 802.1ad stacking allows for; treat as invalid.
    Err(Skip::Malformed(Layer::Link))
}

fn pppoe_payload(session: &[u8]) -> Result<&[u8], Skip> {
    let protocol = read_u16(session, PPPOE_HEADER_LEN).ok_or(Skip::Truncated(Layer::Link))?;
    match protocol {
        PPP_IPV4 | PPP_IPV6 => Ok(&session[PPPOE_HEADER_LEN + 2..]),
        _ => Err(Skip::NotIp),
    }
}

fn ethertype_payload(frame: &[u8], type_offset: usize, header_len: usize) -> Result<&[u8], Skip> {
    let ethertype = read_u16(frame, type_offset).ok_or(Skip::Truncated(Layer::Link))?;
    if frame.len() < header_len {
        return Err(Skip::Truncated(Layer::Link));
    }
    match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Ok(&frame[header_len..]),
        _ => Err(Skip::NotIp),
    }
}

fn raw_ip(frame: &[u8]) -> Result<&[u8], Skip> {
    match frame.first().map(|b| b >> 4) {
        None => Err(Skip::Truncated(Layer::Link)),
        Some(4 | 6) => Ok(frame),
        Some(_) => Err(Skip::Malformed(Layer::Ip)),
    }
}

fn nflog_payload(frame: &[u8]) -> Result<&[u8], Skip> {
    let mut offset = NFLOG_HEADER_LEN;
    if frame.len() < offset {
        return Err(Skip::Truncated(Layer::Link));
    }
    while let Some(tlv) = frame.get(offset..offset + NFLOG_TLV_HEADER_LEN) {
        // Host byte order: the capturing machine's; NFLOG is captured on little-endian hosts in practice.
        let length = usize::from(u16::from_le_bytes([tlv[0], tlv[1]]));
        let tlv_type = u16::from_le_bytes([tlv[2], tlv[3]]) & 0x7fff;
        if length < NFLOG_TLV_HEADER_LEN {
            return Err(Skip::Malformed(Layer::Link));
        }
        if tlv_type == NFULA_PAYLOAD {
            let end = (offset + length).min(frame.len());
            return Ok(&frame[offset + NFLOG_TLV_HEADER_LEN..end]);
        }
        offset += length.div_ceil(4) * 4;
    }
    Err(Skip::NotIp)
}

enum Family {
    HostOrder,
    NetworkOrder,
}

fn loopback_payload(frame: &[u8], order: Family) -> Result<&[u8], Skip> {
    let header: [u8; 4] = frame
        .get(..LOOPBACK_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(Skip::Truncated(Layer::Link))?;
    let candidates = match order {
        // The writer's byte order is unknown: accept either.
        Family::HostOrder => [u32::from_le_bytes(header), u32::from_be_bytes(header)],
        Family::NetworkOrder => [u32::from_be_bytes(header); 2],
    };
    if candidates
        .iter()
        .any(|&family| family == AF_INET || AF_INET6_VALUES.contains(&family))
    {
        Ok(&frame[LOOPBACK_HEADER_LEN..])
    } else {
        Err(Skip::NotIp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPV4_START: [u8; 2] = [0x45, 0x00];

    fn ethernet(tags: &[u16], ethertype: u16) -> Vec<u8> {
        let mut frame = vec![0u8; 12];
        for tag in tags {
            frame.extend_from_slice(&tag.to_be_bytes());
            frame.extend_from_slice(&[0x00, 0x0b]);
        }
        frame.extend_from_slice(&ethertype.to_be_bytes());
        frame.extend_from_slice(&IPV4_START);
        frame
    }

    #[test]
    fn ethernet_without_and_with_up_to_three_vlan_tags() {
        for tags in [
            &[][..],
            &[0x8100],
            &[0x88a8, 0x8100],
            &[0x88a8, 0x8100, 0x8100],
        ] {
            let frame = ethernet(tags, ETHERTYPE_IPV4);
            assert_eq!(
                ip_packet(linktype::ETHERNET, &frame),
                Ok(&IPV4_START[..]),
                "tags {tags:x?}"
            );
        }
        let four = ethernet(&[0x88a8, 0x8100, 0x8100, 0x8100], ETHERTYPE_IPV4);
        assert_eq!(
            ip_packet(linktype::ETHERNET, &four),
            Err(Skip::Malformed(Layer::Link))
        );
    }

    #[test]
    fn pppoe_session_inside_vlan_tags() {
        let mut frame = ethernet(&[0x8100], ETHERTYPE_PPPOE_SESSION);
        frame.truncate(frame.len() - 2);
        frame.extend_from_slice(&[0x11, 0x00, 0x12, 0x34, 0x00, 0x40, 0x00, 0x21, 0x45]);
        assert_eq!(ip_packet(linktype::ETHERNET, &frame), Ok(&[0x45][..]));
        let lcp = [&frame[..frame.len() - 3], &[0xc0, 0x21, 0x01][..]].concat();
        assert_eq!(ip_packet(linktype::ETHERNET, &lcp), Err(Skip::NotIp));
    }

    #[test]
    fn ethernet_arp_is_not_ip_and_short_frame_is_truncated() {
        assert_eq!(
            ip_packet(linktype::ETHERNET, &ethernet(&[], 0x0806)),
            Err(Skip::NotIp)
        );
        assert_eq!(
            ip_packet(linktype::ETHERNET, &[0u8; 13]),
            Err(Skip::Truncated(Layer::Link))
        );
    }

    #[test]
    fn linux_cooked_v1_and_v2() {
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        sll.push(0x60);
        assert_eq!(ip_packet(linktype::LINUX_SLL, &sll), Ok(&[0x60][..]));
        let mut sll2 = ETHERTYPE_IPV4.to_be_bytes().to_vec();
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.push(0x45);
        assert_eq!(ip_packet(linktype::LINUX_SLL2, &sll2), Ok(&[0x45][..]));
    }

    #[test]
    fn raw_ip_link_types_follow_the_version_nibble() {
        for link_type in [12, 14, 101, 228, 229] {
            assert_eq!(ip_packet(link_type, &[0x45, 0]), Ok(&[0x45, 0][..]));
            assert_eq!(ip_packet(link_type, &[0x60, 0]), Ok(&[0x60, 0][..]));
            assert_eq!(
                ip_packet(link_type, &[0x20, 0]),
                Err(Skip::Malformed(Layer::Ip))
            );
        }
    }

    #[test]
    fn bsd_loopback_in_either_byte_order() {
        assert_eq!(
            ip_packet(linktype::NULL, &[2, 0, 0, 0, 0x45]),
            Ok(&[0x45][..])
        );
        assert_eq!(
            ip_packet(linktype::NULL, &[0, 0, 0, 30, 0x60]),
            Ok(&[0x60][..])
        );
        assert_eq!(
            ip_packet(linktype::LOOP, &[0, 0, 0, 2, 0x45]),
            Ok(&[0x45][..])
        );
        assert_eq!(
            ip_packet(linktype::NULL, &[7, 0, 0, 0, 0x45]),
            Err(Skip::NotIp)
        );
    }

    #[test]
    fn nflog_payload_tlv_is_found_after_other_tlvs() {
        let mut frame = vec![2, 0, 0, 1]; // AF_INET, version 0, resource id 1
        frame.extend_from_slice(&[6, 0, 1, 0, 0x08, 0x00, 0, 0]); // packet header TLV, padded
        frame.extend_from_slice(&[6, 0, 9, 0, 0x45, 0x00]); // payload TLV
        assert_eq!(ip_packet(linktype::NFLOG, &frame), Ok(&[0x45, 0x00][..]));
        assert_eq!(ip_packet(linktype::NFLOG, &frame[..12]), Err(Skip::NotIp));
    }

    #[test]
    fn other_link_types_are_named() {
        assert_eq!(ip_packet(147, &[0; 40]), Err(Skip::UnsupportedLink(147)));
    }
}
