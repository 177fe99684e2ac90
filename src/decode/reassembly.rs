//! Reassembly in capture order: IP fragments into UDP datagrams and TCP segments into DNS
//! messages, then the same DNS decode as for a plain UDP datagram. The pipeline runs one
//! reassembler over the whole capture, in order, so its results never depend on threads.

use super::fragments::{Datagram, FragmentCounters, FragmentLimits, FragmentTable};
use super::tcp::{StreamMessage, TcpCounters, TcpLimits, TcpStreams};
use super::{dns, ip, DecodeConfig, Decoded, Skip, Transport};

/// Limits of the two reassemblers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReassemblyLimits {
    /// IP fragments.
    pub fragments: FragmentLimits,
    /// TCP streams.
    pub tcp: TcpLimits,
}

/// What reassembly counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReassemblyCounters {
    /// IP fragments.
    pub fragments: FragmentCounters,
    /// TCP streams.
    pub tcp: TcpCounters,
}

impl ReassemblyCounters {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &ReassemblyCounters) {
        let ReassemblyCounters { fragments, tcp } = other;
        self.fragments.merge(fragments);
        self.tcp.merge(tcp);
    }
}

/// Fragment table and TCP streams, with the decode settings for what comes out of them.
#[derive(Debug)]
pub struct Reassembler {
    fragments: FragmentTable,
    streams: TcpStreams,
    config: DecodeConfig,
    messages: Vec<StreamMessage>,
}

impl Reassembler {
    /// Empty state.
    pub fn new(config: &DecodeConfig, limits: ReassemblyLimits) -> Self {
        Reassembler {
            fragments: FragmentTable::new(limits.fragments),
            streams: TcpStreams::new(limits.tcp),
            config: config.clone(),
            messages: Vec::new(),
        }
    }

    /// What was counted so far.
    pub fn counters(&self) -> ReassemblyCounters {
        ReassemblyCounters {
            fragments: self.fragments.counters,
            tcp: self.streams.counters,
        }
    }

    /// Takes one decoded frame: segments and fragments are reassembled (whatever they complete
    /// is appended to `out`); everything else passes straight through.
    pub fn accept(&mut self, decoded: Decoded, out: &mut Vec<Result<Decoded, Skip>>) {
        match decoded {
            Decoded::Segment(segment) => {
                self.streams.segment(&segment, &mut self.messages);
                for message in self.messages.drain(..) {
                    out.push(dns::decode_message(
                        &message.bytes,
                        false,
                        &self.config.watch,
                        message.frame,
                        (message.source, message.destination),
                        Transport::Tcp,
                    ));
                }
            }
            Decoded::Fragment(fragment) => {
                if let Some(datagram) = self.fragments.insert(&fragment) {
                    out.push(self.decode_datagram(&datagram));
                }
            }
            other => out.push(Ok(other)),
        }
    }

    /// Lets capture time pass: gives up fragments and idle streams.
    pub fn advance(&mut self, now_ns: u64, out: &mut Vec<Result<Decoded, Skip>>) {
        for datagram in self.fragments.expire(now_ns) {
            out.push(self.decode_datagram(&datagram));
        }
        self.streams.expire(now_ns);
    }

    /// Ends the capture: what is still in progress is given up (and counted).
    pub fn finish(&mut self, out: &mut Vec<Result<Decoded, Skip>>) {
        for datagram in self.fragments.finish() {
            out.push(self.decode_datagram(&datagram));
        }
        self.streams.finish();
    }

    /// Decodes a reassembled (or given-up) datagram like any UDP datagram.
    fn decode_datagram(&self, datagram: &Datagram) -> Result<Decoded, Skip> {
        let incomplete = !datagram.complete;
        let udp = ip::udp_datagram(
            datagram.source,
            datagram.destination,
            &datagram.bytes,
            incomplete,
            &self.config.dns_ports,
        )?;
        dns::decode_message(
            udp.payload,
            udp.payload_truncated || incomplete,
            &self.config.watch,
            datagram.frame,
            (udp.source, udp.destination),
            Transport::Udp,
        )
    }
}
