//! Synthetic captures from a seed: Ethernet frames (optionally 802.1Q-tagged, IPv4 or IPv6) of
//! non-DNS traffic, DNS exchanges for other names, and exchanges for the watched Persistent Chat
//! pool with right and wrong answers, some left unanswered. Names, ids, ports, clients and sizes
//! vary from packet to packet; the same seed gives the same bytes. Frames are built into a
//! caller's buffer; the only I/O is through a capture writer the caller hands in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The watched pool every synthetic capture uses.
pub const POOL_NAME: &str = "PersistentChatPool.contoso.com";
/// The address a wrong answer carries instead of a member.
pub const WRONG_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 10, 10, 250);
const PACKET_INTERVAL_NS: u64 = 10_000;
/// 2026-01-01T00:00:00Z.
const START_NS: u64 = 1_767_225_600_000_000_000;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Frames to write.
    pub packets: u64,
    /// Random seed.
    pub seed: u64,
    /// Share of events that are non-DNS packets.
    pub non_dns: f64,
    /// Share of events that are DNS exchanges for other names (the rest are for the pool).
    pub other_dns: f64,
    /// Share of pool answers holding a wrong address.
    pub wrong: f64,
    /// Share of queries left unanswered.
    pub unanswered: f64,
    /// Pool members (10.10.10.1 up).
    pub pool_size: u8,
    /// Distinct clients.
    pub clients: u32,
    /// Share of frames with an 802.1Q tag.
    pub vlan: f64,
    /// Share of exchanges over IPv6.
    pub ipv6: f64,
    /// Write only responses (no queries).
    pub responses_only: bool,
    /// Largest payload of a non-DNS packet (bytes after the TCP header).
    pub max_payload: usize,
}

impl SynthConfig {
    /// The pool members.
    pub fn members(&self) -> Vec<Ipv4Addr> {
        (1..=self.pool_size)
            .map(|n| Ipv4Addr::new(10, 10, 10, n))
            .collect()
    }

    /// An expectations file (TOML) matching the generated pool.
    pub fn expectations_toml(&self) -> String {
        let members: Vec<String> = self.members().iter().map(|m| format!("\"{m}\"")).collect();
        format!("# Expectations for pcdns synth captures.\n\n[[pool]]\nname = \"{POOL_NAME}\"\nmembers = [{}]\n", members.join(", "))
    }
}

/// Generates frames one by one.
pub struct Synth {
    config: SynthConfig,
    rng: fastrand::Rng,
    ts_ns: u64,
    written: u64,
    /// A response waiting to follow its query: (client, server, id, port, name index, family).
    follow_up: Option<Exchange>,
}

#[derive(Debug, Clone, Copy)]
struct Exchange {
    client: IpAddr,
    server: IpAddr,
    client_port: u16,
    id: u16,
    /// None: the watched pool; Some(n): an other name.
    other_name: Option<u32>,
    vlan: Option<u16>,
}

impl Synth {
    /// A generator for `config`.
    pub fn new(config: SynthConfig) -> Self {
        let rng = fastrand::Rng::with_seed(config.seed);
        Synth {
            config,
            rng,
            ts_ns: START_NS,
            written: 0,
            follow_up: None,
        }
    }

    /// Builds the next frame into `frame`; returns its timestamp, or None when done.
    pub fn next_frame(&mut self, frame: &mut Vec<u8>) -> Option<u64> {
        if self.written >= self.config.packets {
            return None;
        }
        frame.clear();
        self.ts_ns += PACKET_INTERVAL_NS / 2 + self.rng.u64(..PACKET_INTERVAL_NS);
        self.written += 1;
        if let Some(exchange) = self.follow_up.take() {
            self.response(frame, &exchange);
            return Some(self.ts_ns);
        }
        let pick = self.rng.f64();
        if pick < self.config.non_dns {
            self.non_dns(frame);
        } else {
            let other_name = (pick < self.config.non_dns + self.config.other_dns)
                .then(|| self.rng.u32(..100_000));
            let exchange = self.exchange(other_name);
            if self.config.responses_only {
                self.response(frame, &exchange);
            } else {
                self.query(frame, &exchange);
                if self.rng.f64() >= self.config.unanswered {
                    self.follow_up = Some(exchange);
                }
            }
        }
        Some(self.ts_ns)
    }

    /// Writes every frame to `writer`.
    pub fn write_all<W: std::io::Write>(
        mut self,
        writer: &mut crate::capture::CaptureWriter<W>,
    ) -> std::io::Result<()> {
        let mut frame = Vec::with_capacity(2048);
        while let Some(ts_ns) = self.next_frame(&mut frame) {
            writer.write_frame(ts_ns, &frame)?;
        }
        Ok(())
    }

    /// Every frame, in memory (for tests and benches: memory grows with the packet count).
    pub fn collect_frames(mut self) -> Vec<Vec<u8>> {
        let mut frame = Vec::new();
        let mut frames = Vec::new();
        while self.next_frame(&mut frame).is_some() {
            frames.push(frame.clone());
        }
        frames
    }

    fn exchange(&mut self, other_name: Option<u32>) -> Exchange {
        let client_index = self.rng.u32(..self.config.clients.max(1));
        let ipv6 = self.rng.f64() < self.config.ipv6;
        let (client, server) = if ipv6 {
            let client = Ipv6Addr::new(
                0x2001,
                0xdb8,
                1,
                0,
                0,
                0,
                (client_index >> 16) as u16,
                client_index as u16,
            );
            (
                IpAddr::V6(client),
                IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0x53 + self.rng.u16(..2),
                )),
            )
        } else {
            let client = Ipv4Addr::new(10, 1, (client_index >> 8) as u8, client_index as u8);
            (
                IpAddr::V4(client),
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53 + self.rng.u8(..2))),
            )
        };
        let vlan = (self.rng.f64() < self.config.vlan).then(|| self.rng.u16(1..4095));
        Exchange {
            client,
            server,
            client_port: self.rng.u16(1024..),
            id: self.rng.u16(..),
            other_name,
            vlan,
        }
    }

    fn non_dns(&mut self, frame: &mut Vec<u8>) {
        let client = IpAddr::V4(Ipv4Addr::new(10, 1, self.rng.u8(..), self.rng.u8(..)));
        let server = IpAddr::V4(Ipv4Addr::new(198, 51, 100, self.rng.u8(..)));
        let vlan = (self.rng.f64() < self.config.vlan).then(|| self.rng.u16(1..4095));
        let payload_len = self.rng.usize(..=self.config.max_payload);
        let mut transport = Vec::with_capacity(20 + payload_len);
        // A TCP segment to or from port 443: ports, sequence, ack, offset 5, ACK|PSH, window.
        let (source_port, destination_port) = (self.rng.u16(1024..), 443u16);
        transport.extend_from_slice(&source_port.to_be_bytes());
        transport.extend_from_slice(&destination_port.to_be_bytes());
        transport.extend_from_slice(&self.rng.u32(..).to_be_bytes());
        transport.extend_from_slice(&self.rng.u32(..).to_be_bytes());
        transport.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        transport.extend((0..payload_len).map(|_| self.rng.u8(..)));
        ethernet_ip(frame, vlan, client, server, 6, &transport);
    }

    fn question_name(&self, exchange: &Exchange) -> String {
        match exchange.other_name {
            None => POOL_NAME.to_string(),
            Some(n) => format!("host{n}.example{}.com", n % 97),
        }
    }

    fn query(&mut self, frame: &mut Vec<u8>, exchange: &Exchange) {
        let mut dns = dns_header(exchange.id, 0x0100, 1, 0);
        push_question(&mut dns, &self.question_name(exchange));
        udp(
            frame,
            exchange.vlan,
            (exchange.client, exchange.client_port),
            (exchange.server, 53),
            &dns,
        );
    }

    fn response(&mut self, frame: &mut Vec<u8>, exchange: &Exchange) {
        let addresses: Vec<Ipv4Addr> = match exchange.other_name {
            Some(n) => (0..1 + n % 3)
                .map(|i| Ipv4Addr::new(203, 0, 113, (n as u8).wrapping_add(i as u8)))
                .collect(),
            None => {
                let mut members = self.config.members();
                if !members.is_empty() {
                    let rotation = self.rng.usize(..members.len());
                    members.rotate_left(rotation);
                }
                if self.rng.f64() < self.config.wrong {
                    if let Some(last) = members.last_mut() {
                        *last = WRONG_ADDRESS;
                    }
                }
                members
            }
        };
        let mut dns = dns_header(exchange.id, 0x8180, 1, addresses.len() as u16);
        push_question(&mut dns, &self.question_name(exchange));
        for address in &addresses {
            // Owner: a pointer to the question name (offset 12); A, IN, TTL 300, 4 bytes.
            dns.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4]);
            dns.extend_from_slice(&address.octets());
        }
        udp(
            frame,
            exchange.vlan,
            (exchange.server, 53),
            (exchange.client, exchange.client_port),
            &dns,
        );
    }
}

fn dns_header(id: u16, flags: u16, questions: u16, answers: u16) -> Vec<u8> {
    let mut dns = Vec::with_capacity(128);
    for field in [id, flags, questions, answers, 0, 0] {
        dns.extend_from_slice(&field.to_be_bytes());
    }
    dns
}

fn push_question(dns: &mut Vec<u8>, name: &str) {
    for label in name.split('.') {
        dns.push(label.len() as u8);
        dns.extend_from_slice(label.as_bytes());
    }
    dns.extend_from_slice(&[0, 0, 1, 0, 1]);
}

fn udp(
    frame: &mut Vec<u8>,
    vlan: Option<u16>,
    source: (IpAddr, u16),
    destination: (IpAddr, u16),
    payload: &[u8],
) {
    let length = 8 + payload.len();
    let mut datagram = Vec::with_capacity(length);
    datagram.extend_from_slice(&source.1.to_be_bytes());
    datagram.extend_from_slice(&destination.1.to_be_bytes());
    datagram.extend_from_slice(&(length as u16).to_be_bytes());
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(payload);
    ethernet_ip(frame, vlan, source.0, destination.0, 17, &datagram);
}

fn ethernet_ip(
    frame: &mut Vec<u8>,
    vlan: Option<u16>,
    source: IpAddr,
    destination: IpAddr,
    protocol: u8,
    payload: &[u8],
) {
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02]);
    if let Some(tag) = vlan {
        frame.extend_from_slice(&[0x81, 0x00]);
        frame.extend_from_slice(&tag.to_be_bytes());
    }
    match (source, destination) {
        (IpAddr::V6(source), IpAddr::V6(destination)) => {
            frame.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            frame.extend_from_slice(&[protocol, 64]);
            frame.extend_from_slice(&source.octets());
            frame.extend_from_slice(&destination.octets());
        }
        (source, destination) => {
            let to_v4 = |address: IpAddr| match address {
                IpAddr::V4(v4) => v4,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            };
            let total = (20 + payload.len()) as u16;
            frame.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
            frame.extend_from_slice(&total.to_be_bytes());
            frame.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol, 0, 0]);
            frame.extend_from_slice(&to_v4(source).octets());
            frame.extend_from_slice(&to_v4(destination).octets());
        }
    }
    frame.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::FrameMeta;
    use crate::decode::{decode_frame, DecodeConfig, Decoded, WatchList};

    fn config() -> SynthConfig {
        SynthConfig {
            packets: 2_000,
            seed: 7,
            non_dns: 0.4,
            other_dns: 0.5,
            wrong: 0.5,
            unanswered: 0.1,
            pool_size: 3,
            clients: 50,
            vlan: 0.2,
            ipv6: 0.3,
            responses_only: false,
            max_payload: 1200,
        }
    }

    fn frames(config: SynthConfig) -> Vec<Vec<u8>> {
        Synth::new(config).collect_frames()
    }

    #[test]
    fn same_seed_same_frames_other_seed_other_frames() {
        assert_eq!(frames(config()), frames(config()));
        assert_ne!(
            frames(config()),
            frames(SynthConfig {
                seed: 8,
                ..config()
            })
        );
        assert_eq!(frames(config()).len(), 2_000);
    }

    #[test]
    fn frames_decode_into_the_mix_that_was_asked_for() {
        let decode = DecodeConfig {
            dns_ports: vec![53],
            watch: WatchList::names([POOL_NAME]),
            connection_targets: Vec::new(),
        };
        let (mut watched, mut other, mut skipped, mut wrong) = (0, 0, 0, 0);
        for (index, frame) in frames(config()).iter().enumerate() {
            let meta = FrameMeta {
                ts_ns: 0,
                file_index: 0,
                frame_number: index as u64 + 1,
                link_type: 1,
                start: 0,
                caplen: frame.len() as u32,
                wire_len: frame.len() as u32,
            };
            match decode_frame(&meta, frame, &decode).result {
                Ok(Decoded::Watched(message)) => {
                    watched += 1;
                    wrong += usize::from(
                        message
                            .answers
                            .iter()
                            .any(|a| a.data.address() == Some(IpAddr::V4(WRONG_ADDRESS))),
                    );
                }
                Ok(Decoded::Unwatched { .. }) => other += 1,
                Err(_) => skipped += 1,
                Ok(other) => panic!("unexpected {other:?}"),
            }
        }
        assert!(
            watched > 100 && other > 800 && skipped > 500,
            "{watched} {other} {skipped}"
        );
        assert!(wrong > 20, "{wrong}");
    }
}
