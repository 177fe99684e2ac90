//! Reassembly in capture order: IP fragments into UDP datagrams and TCP segments into DNS
//! messages, then the same DNS decode as for a plain UDP datagram. The pipeline runs one
//! reassembler per analysis shard over that shard's items, in order, so its results never
//! depend on threads.

use super::fragments::{Datagram, FragmentCounters, FragmentLimits, FragmentTable};
use super::tcp::{StreamMessage, TcpCounters, TcpLimits, TcpStreams};
use super::{dns, ip, DecodeConfig, Decoded, Skip, Transport};
use std::net::IpAddr;

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

impl ReassemblyLimits {
    /// Shard `index`'s share of these limits among `shards` (budgets are split statically, so
    /// what a shard evicts depends on its own traffic only): counts and bytes divided, the
    /// remainder to the first shards (at least 1 each); a direction's own bytes and the
    /// timeouts stay.
    pub fn per_shard(self, index: usize, shards: usize) -> Self {
        let share = |total: usize| crate::keys::share_of(total, index, shards);
        let ReassemblyLimits { fragments, tcp } = self;
        ReassemblyLimits {
            fragments: FragmentLimits {
                max_datagrams: share(fragments.max_datagrams),
                max_bytes: share(fragments.max_bytes),
                ..fragments
            },
            tcp: TcpLimits {
                max_directions: share(tcp.max_directions),
                max_bytes: share(tcp.max_bytes),
                ..tcp
            },
        }
    }
}

impl ReassemblyCounters {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &ReassemblyCounters) {
        let ReassemblyCounters { fragments, tcp } = other;
        self.fragments.merge(fragments);
        self.tcp.merge(tcp);
    }
}

/// Fragment tables and TCP streams, with the decode settings for what comes out of them. In a
/// sharded analysis each shard has one: a TCP stream comes to its client's shard; an IP
/// fragment comes to the shards of both its endpoints, since its client is known only once the
/// datagram is decoded. The copy for the source's shard is the primary one (its table counts
/// fragments, and what cannot be decoded); the shard of the message's client keeps the message.
#[derive(Debug)]
pub struct Reassembler {
    fragments: FragmentTable,
    /// Fragments this shard received as the destination's shard: reassembled for their message
    /// only (their counts are the primary table's, in the source's shard).
    mirrored: FragmentTable,
    streams: TcpStreams,
    config: DecodeConfig,
    messages: Vec<StreamMessage>,
}

/// True for a client address whose messages this reassembler keeps.
pub type Keep<'a> = &'a dyn Fn(IpAddr) -> bool;

impl Reassembler {
    /// Empty state.
    pub fn new(config: &DecodeConfig, limits: ReassemblyLimits) -> Self {
        Reassembler {
            fragments: FragmentTable::new(limits.fragments),
            mirrored: FragmentTable::new(limits.fragments),
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
    /// is appended to `out`; a datagram's message only if `keep` takes its client); everything
    /// else passes straight through. `primary`: a fragment's copy for its source's shard.
    pub fn accept(
        &mut self,
        decoded: Decoded,
        primary: bool,
        keep: Keep<'_>,
        out: &mut Vec<Result<Decoded, Skip>>,
    ) {
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
                let table = match primary {
                    true => &mut self.fragments,
                    false => &mut self.mirrored,
                };
                if let Some(datagram) = table.insert(&fragment) {
                    out.extend(self.decode_kept(&datagram, primary, keep));
                }
            }
            other => out.push(Ok(other)),
        }
    }

    /// Lets capture time pass: gives up fragments and idle streams.
    pub fn advance(&mut self, now_ns: u64, keep: Keep<'_>, out: &mut Vec<Result<Decoded, Skip>>) {
        for datagram in self.fragments.expire(now_ns) {
            out.extend(self.decode_kept(&datagram, true, keep));
        }
        for datagram in self.mirrored.expire(now_ns) {
            out.extend(self.decode_kept(&datagram, false, keep));
        }
        self.streams.expire(now_ns);
    }

    /// Ends the capture: what is still in progress is given up (and counted).
    pub fn finish(&mut self, keep: Keep<'_>, out: &mut Vec<Result<Decoded, Skip>>) {
        for datagram in self.fragments.finish() {
            out.extend(self.decode_kept(&datagram, true, keep));
        }
        for datagram in self.mirrored.finish() {
            out.extend(self.decode_kept(&datagram, false, keep));
        }
        self.streams.finish();
    }

    /// A datagram's decoded message if `keep` takes its client (the receiver of a response,
    /// the sender of a query); what cannot be decoded counts in the primary copy only.
    fn decode_kept(
        &self,
        datagram: &Datagram,
        primary: bool,
        keep: Keep<'_>,
    ) -> Option<Result<Decoded, Skip>> {
        let decoded = self.decode_datagram(datagram);
        let client = match &decoded {
            Ok(Decoded::Watched(message)) => message.client().ip(),
            Ok(Decoded::Unwatched { is_response } | Decoded::Undecodable { is_response, .. }) => {
                super::client_end(*is_response, datagram.source, datagram.destination)
            }
            _ => return primary.then_some(decoded),
        };
        keep(client).then_some(decoded)
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
