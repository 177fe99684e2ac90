//! Logical analysis shards and the lanes that run them. Every item that needs capture order
//! (watched DNS messages, TCP segments, IP fragments, connection attempts) goes to the shard
//! of its client ([`SHARDS`] of them in every mode, discovery and the log included; fixed
//! whatever `--threads` says, and the routing hash has a fixed seed, see
//! [`crate::keys::shard_of`]), so a query and its response, retries, a truncated answer and
//! its TCP retry, and the client's connections to pool members meet in one shard. Each shard
//! has its own reassembly, pairing and analysis, with a static share of the memory budgets,
//! and sees its items in capture order. A lane is a thread's set of whole shards (shard `s`
//! belongs to lane `s % lanes`); it applies its part of each batch in batch order and, in a
//! logged run, renders the transactions its shards close into a log chunk ([`super::log`]).
//!
//! Time passes on a fixed capture-time grid ([`TICK_NS`]): a tick happens where the running
//! largest timestamp of the whole capture crosses a grid line, at that frame's place, and
//! every shard sees it there. Ticks expire state and close queries whose timeout ran out;
//! whether a query was answered is decided from timestamps alone (pairing looks at each
//! message's own time). So nothing depends on how frames were cut into batches or segments,
//! nor on how many threads ran: shards merge in shard order into one analysis.

use super::log::{Closing, LaneLog, LogChunk, LogTap, Phase};
use crate::analyze::FrameRef;
use crate::analyze::{
    Analysis, Analyzer, FindingKey, Occurrences, PairingSettings, Transaction, Watching,
};
use crate::decode::{
    DecodeConfig, Decoded, Reassembler, ReassemblyLimits, Skip, WatchList, WatchedDatagram,
};
use crate::pseudonym::Pseudonymizer;
use smallvec::SmallVec;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Logical shards of every run: enough for 16 threads to share evenly, few enough that
/// per-shard state (a copy of each watched name's facts, or of a busy discovered name's
/// summary) stays small.
pub const SHARDS: usize = 32;

/// How a run's items reach their shards: how many shards, and how many lanes run them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routing {
    /// Logical shards (fixed for the run, whatever the threads).
    pub shards: usize,
    /// Lanes (threads) of the read in progress.
    pub lanes: usize,
}

impl Routing {
    /// The shard of a client address.
    pub fn shard_of(&self, client: IpAddr) -> usize {
        crate::keys::shard_of(client, self.shards)
    }

    /// The lane that runs `shard`.
    pub fn lane_of(&self, shard: usize) -> usize {
        shard % self.lanes
    }
}
/// The capture-time grid of ticks.
pub const TICK_NS: u64 = 1_000_000_000;

/// Found datagrams are decoded this many at a time, just before the block is analysed: the
/// decoder's code and the analysis's each run over a block in turn (one message at a time
/// they evicted each other's code and branch history), and a block's messages are still
/// cached when they are analysed.
const DECODE_BLOCK: usize = 64;
/// How many items ahead of the one analysed a message's parts and per-client state are
/// prefetched: enough for the loads to arrive, few enough that they are still cached.
const PREFETCH_AHEAD: usize = 4;

/// An item on its way to a shard: its place in the batch (frames before it), and which shard.
#[derive(Debug)]
pub struct Routed {
    /// Index of its frame in the batch (ticks at the same index come first).
    pub position: u32,
    /// Its shard.
    pub shard: u16,
    /// True for the copy of an IP fragment sent to its source's shard (see [`route`]).
    pub primary: bool,
    /// The item.
    pub item: Decoded,
}

/// A grid line crossed inside a batch: at the frame `position`, time reached `now_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Index in the batch of the frame that crossed it.
    pub position: u32,
    /// The grid line.
    pub now_ns: u64,
}

/// The running largest timestamp of a batch's frames, with every place it crosses a grid line:
/// candidates, since the batch alone does not know the largest timestamp before it (see
/// [`TickClock::confirm`]).
#[derive(Debug, Default)]
pub struct TickCandidates {
    /// The grid line after the latest one the batch reached (0 before its first frame).
    next_line_ns: u64,
    /// Places where the batch's own running largest timestamp reached a new grid line.
    pub candidates: Ticks,
}

/// Ticks of a batch: held inline (a batch spans a few grid lines at most, usually none).
pub type Ticks = SmallVec<[Tick; 4]>;

/// A lane's items of one batch, with the datagrams found for it ([`Decoded::Datagram`]: decoded
/// in full on the lane) and their payloads.
#[derive(Debug, Default)]
pub struct PartItems {
    /// Items of the lane's shards, in frame order.
    pub items: Vec<Routed>,
    /// The datagrams the items point at.
    pub datagrams: Vec<WatchedDatagram>,
    /// The DNS payloads the datagrams point into.
    pub payloads: Vec<u8>,
}

impl Routed {
    /// Takes the item out, leaving a counted placeholder.
    fn take(&mut self) -> Routed {
        let placeholder = Decoded::Unwatched { is_response: false };
        Routed {
            item: std::mem::replace(&mut self.item, placeholder),
            ..*self
        }
    }
}

impl PartItems {
    /// Adds a found datagram for `shard` at `position`, its payload copied here from its
    /// frame's `frame_bytes`.
    pub fn push_datagram(
        &mut self,
        mut datagram: WatchedDatagram,
        position: usize,
        shard: usize,
        frame_bytes: &[u8],
    ) {
        datagram.move_payload(frame_bytes, &mut self.payloads);
        let index = self.datagrams.len() as u32;
        self.datagrams.push(datagram);
        self.items.push(Routed {
            position: position as u32,
            shard: shard as u16,
            primary: true,
            item: Decoded::Datagram(index),
        });
    }

    /// Decodes the datagram of the `index`th item in full, in place (anything else stays).
    fn decode_datagram(&mut self, index: usize, watch: &WatchList) {
        if let Some(routed) = self.items.get_mut(index) {
            if let Decoded::Datagram(n) = routed.item {
                routed.item = self.datagrams[n as usize].decode(&self.payloads, watch);
            }
        }
    }

    /// Empties it, keeping the room.
    pub fn clear(&mut self) {
        self.items.clear();
        self.datagrams.clear();
        self.payloads.clear();
    }
}

/// The lanes' parts of a batch, held inline for a few lanes.
pub type LaneItems = SmallVec<[PartItems; 4]>;

impl TickCandidates {
    /// Notes the frame at `position` with timestamp `ts_ns` (a comparison, but for the few
    /// frames that reach a new grid line).
    pub fn frame(&mut self, position: usize, ts_ns: u64) {
        if ts_ns < self.next_line_ns {
            return;
        }
        let line = ts_ns - ts_ns % TICK_NS;
        self.candidates.push(Tick {
            position: position as u32,
            now_ns: line,
        });
        self.next_line_ns = line.saturating_add(TICK_NS);
    }
}

/// The whole capture's running largest timestamp, in capture order.
#[derive(Debug, Default, Clone, Copy)]
pub struct TickClock {
    largest_line_ns: Option<u64>,
}

impl TickClock {
    /// The latest grid line the capture reached (0 before any).
    pub fn now_ns(&self) -> u64 {
        self.largest_line_ns.unwrap_or(0)
    }

    /// The ticks of a batch, from its candidates in order: those past every grid line the
    /// capture reached before.
    pub fn confirm(&mut self, candidates: &[Tick]) -> Ticks {
        let mut ticks = Ticks::new();
        for tick in candidates {
            if self.largest_line_ns.is_none_or(|line| tick.now_ns > line) {
                self.largest_line_ns = Some(tick.now_ns);
                ticks.push(*tick);
            }
        }
        ticks
    }
}

/// The shards an item goes to: its client's, and for an IP fragment (whose client is known
/// only once its datagram is reassembled and decoded) those of both its endpoints.
pub fn route(
    item: Decoded,
    position: usize,
    dns_ports: &[u16],
    routing: Routing,
    out: &mut impl Extend<Routed>,
) {
    let shard_of = |client: IpAddr| routing.shard_of(client);
    let position = position as u32;
    let routed = |shard: usize, primary: bool, item: Decoded| Routed {
        position,
        shard: shard as u16,
        primary,
        item,
    };
    let shard = match &item {
        Decoded::Watched(message) => shard_of(message.client().ip()),
        Decoded::Connection(attempt) => shard_of(attempt.client.ip()),
        Decoded::Segment(segment) => {
            // The client is the side without a DNS port (both have one: the lower address).
            let (source, destination) = (segment.source, segment.destination);
            let client = match (
                dns_ports.contains(&source.port()),
                dns_ports.contains(&destination.port()),
            ) {
                (true, false) => destination,
                (false, true) => source,
                _ => source.min(destination),
            };
            shard_of(client.ip())
        }
        Decoded::Fragment(fragment) => {
            let (from, to) = (shard_of(fragment.source), shard_of(fragment.destination));
            if from != to {
                let mirrored = Decoded::Fragment(fragment.clone());
                out.extend([routed(to, false, mirrored)]);
            }
            from
        }
        Decoded::Datagram(_) | Decoded::Unwatched { .. } | Decoded::Undecodable { .. } => 0,
    };
    // An item goes once to its own shard (a fragment's copy there is the primary one).
    out.extend([routed(shard, true, item)]);
}

/// One shard: reassembly, pairing and analysis of the items of its clients.
#[derive(Debug)]
pub struct Shard<'w> {
    index: usize,
    /// The run's shards.
    count: usize,
    analyzer: Analyzer<'w>,
    reassembler: Reassembler,
    reassembled: Vec<Result<Decoded, Skip>>,
    /// Counters of what reassembly produced that needs no order (unwatched DNS, skips).
    counters: Analysis,
}

/// What every shard is made with.
#[derive(Debug, Clone, Copy)]
pub struct ShardSettings<'w> {
    /// Expectations or discovery.
    pub watching: &'w Watching,
    /// Pairing settings for the whole run (each shard takes its share).
    pub pairing: PairingSettings,
    /// Reassembly limits for the whole run (each shard takes its share).
    pub reassembly: ReassemblyLimits,
    /// Most names discovery holds in the whole run (each shard takes its share, at least one;
    /// 0: none at all, as in the log, which prints no per-name facts).
    pub discovered_names: usize,
    /// Queries are decoded for every name.
    pub tracks_every_query: bool,
    /// Pseudonyms replace client addresses before the analysis sees them.
    pub pseudonymize: Option<Pseudonymizer>,
    /// Keep what `pcdns merge` needs (see [`crate::analyze::seam`]).
    pub keeps_seam: bool,
}

impl<'w> Shard<'w> {
    fn new(
        index: usize,
        count: usize,
        settings: &ShardSettings<'w>,
        decode: &DecodeConfig,
    ) -> Self {
        let mut analyzer = Analyzer::new(
            settings.watching,
            settings.pairing.per_shard(index, count),
            crate::keys::share_of(settings.discovered_names, index, count),
            settings.tracks_every_query,
        );
        if settings.keeps_seam {
            analyzer.keep_seam();
        }
        Shard {
            index,
            count,
            analyzer,
            reassembler: Reassembler::new(decode, settings.reassembly.per_shard(index, count)),
            reassembled: Vec::new(),
            counters: Analysis::default(),
        }
    }

    /// Whether a client's messages belong to this shard (for what reassembly produces).
    fn keeps(&self) -> impl Fn(IpAddr) -> bool {
        let (index, count) = (self.index, self.count);
        move |client| crate::keys::shard_of(client, count) == index
    }

    /// Takes one routed item (a found datagram decoded).
    fn feed(&mut self, routed: Routed, pseudonyms: Option<&Pseudonymizer>) {
        debug_assert!(!matches!(routed.item, Decoded::Datagram(_)));
        let keep = self.keeps();
        self.reassembler
            .accept(routed.item, routed.primary, &keep, &mut self.reassembled);
        self.apply_reassembled(pseudonyms);
    }

    /// Lets capture time pass to `now_ns`; finished transactions go to `sink`.
    fn tick(
        &mut self,
        now_ns: u64,
        pseudonyms: Option<&Pseudonymizer>,
        sink: &mut dyn FnMut(&Transaction),
    ) {
        let keep = self.keeps();
        self.reassembler
            .advance(now_ns, &keep, &mut self.reassembled);
        self.apply_reassembled(pseudonyms);
        self.analyzer.advance(now_ns, sink);
    }

    /// Feeds what reassembly produced (and what passed through it) to the analyzer.
    fn apply_reassembled(&mut self, pseudonyms: Option<&Pseudonymizer>) {
        for result in self.reassembled.drain(..) {
            match count_or_keep(&mut self.counters, result) {
                Some(Decoded::Watched(mut message)) => {
                    if let Some(pseudonyms) = pseudonyms {
                        message.set_client_ip(pseudonyms.address(message.client().ip()));
                    }
                    self.analyzer.ingest(message)
                }
                Some(Decoded::Connection(mut attempt)) => {
                    if let Some(pseudonyms) = pseudonyms {
                        attempt
                            .client
                            .set_ip(pseudonyms.address(attempt.client.ip()));
                    }
                    self.analyzer.connection(&attempt)
                }
                _ => {}
            }
        }
    }

    /// Ends the capture at `end_ns` and returns the shard's analysis.
    fn finish(
        mut self,
        end_ns: u64,
        pseudonyms: Option<&Pseudonymizer>,
        sink: &mut dyn FnMut(&Transaction),
    ) -> Analysis {
        let keep = self.keeps();
        self.reassembler.finish(&keep, &mut self.reassembled);
        self.apply_reassembled(pseudonyms);
        let mut analysis = self
            .analyzer
            .finish(end_ns, sink, self.reassembler.counters());
        analysis.merge(self.counters);
        analysis
    }

    /// A copy of what the shard learned so far.
    fn snapshot(&self) -> Analysis {
        let mut analysis = self.analyzer.snapshot(self.reassembler.counters());
        analysis.merge(self.counters.clone());
        analysis
    }
}

/// Counts what needs no order (unwatched DNS, skips); hands back what does.
pub fn count_or_keep(counters: &mut Analysis, result: Result<Decoded, Skip>) -> Option<Decoded> {
    match result {
        Ok(Decoded::Unwatched { is_response }) => counters.count_unwatched(is_response),
        Ok(Decoded::Undecodable { is_response, why }) => {
            counters.count_unwatched(is_response);
            counters.skip(why);
        }
        Err(why) => counters.skip(why),
        Ok(ordered) => return Some(ordered),
    }
    None
}

/// A lane's part of one batch: its shards' items in frame order, and the batch's ticks.
#[derive(Debug, Default)]
pub struct LanePart {
    /// The batch, numbered in the order the aggregator applies batches (the transaction log's
    /// chunks say which batch they belong to).
    pub batch: u64,
    /// The batch's first frame, its number made absolute (a position's frame is this one's
    /// number plus the position).
    pub first_frame: FrameRef,
    /// Frames in the batch.
    pub frames: u32,
    /// Items of the lane's shards, in frame order, with their payloads.
    pub items: PartItems,
    /// Grid lines crossed in the batch (every lane gets them all).
    pub ticks: Ticks,
    /// Frames of the file before the batch's segment: added to the items' frame numbers
    /// (segment walkers number frames from 1 in each segment).
    pub frame_base: u64,
    /// Live capture: the wall clock at the batch's end (0 for files), a tick after its items.
    pub live_tick_ns: u64,
    /// The first frame of the run (for the orphan rule), once known.
    pub capture_start_ns: Option<u64>,
}

/// The shards of one lane (one thread).
#[derive(Debug)]
pub struct Lane<'w> {
    shards: Vec<Shard<'w>>,
    lanes: usize,
    pseudonymize: Option<Pseudonymizer>,
    /// Each item's finished transactions are recorded (and rendered into the log) as soon as
    /// it is fed, not at the part's end: the log entry's key is where it closed, and
    /// discovery's top-k tables see outcomes in an order that does not depend on how the
    /// capture was cut into parts.
    flush_each_item: bool,
    /// The transaction log's lane side, in a logged run.
    log: Option<LaneLog<'w>>,
    /// The names whose found datagrams are decoded here.
    watch: WatchList,
}

impl<'w> Lane<'w> {
    /// The lanes of a run: lane `l` holds the shards `s` with `s % lanes == l`.
    /// `log`: the transaction log is written, every lane rendering what its shards close.
    pub fn all(
        lanes: usize,
        settings: &ShardSettings<'w>,
        decode: &DecodeConfig,
        log: Option<LogTap<'w>>,
    ) -> Vec<Self> {
        let shards = (0..SHARDS).map(|index| Shard::new(index, SHARDS, settings, decode));
        let flush_each_item = log.is_some() || settings.watching.expectations().is_none();
        Self::deal(
            shards.collect(),
            lanes,
            settings.pseudonymize,
            flush_each_item,
            log.as_ref(),
            &decode.watch,
        )
    }

    /// The same shards dealt into `lanes` lanes (between reads: every log chunk handed over).
    pub fn regroup(all: Vec<Lane<'w>>, lanes: usize) -> Vec<Self> {
        let pseudonymize = all.first().and_then(|lane| lane.pseudonymize);
        let watch = all
            .first()
            .map(|lane| lane.watch.clone())
            .unwrap_or_default();
        let flush_each_item = all.iter().any(|lane| lane.flush_each_item);
        let log = all
            .iter()
            .find_map(|lane| lane.log.as_ref().map(LaneLog::tap));
        let mut shards: Vec<Shard<'w>> = all.into_iter().flat_map(|lane| lane.shards).collect();
        shards.sort_by_key(|shard| shard.index);
        Self::deal(
            shards,
            lanes,
            pseudonymize,
            flush_each_item,
            log.as_ref(),
            &watch,
        )
    }

    fn deal(
        shards: Vec<Shard<'w>>,
        lanes: usize,
        pseudonymize: Option<Pseudonymizer>,
        flush_each_item: bool,
        log: Option<&LogTap<'w>>,
        watch: &WatchList,
    ) -> Vec<Self> {
        let mut all: Vec<Lane<'w>> = (0..lanes)
            .map(|_| Lane {
                shards: Vec::new(),
                lanes,
                pseudonymize,
                flush_each_item,
                log: log.map(LogTap::lane_log),
                watch: watch.clone(),
            })
            .collect();
        for shard in shards {
            all[shard.index % lanes].shards.push(shard);
        }
        all
    }

    /// The run's logical shards.
    pub fn shard_count(&self) -> usize {
        self.shards.first().map_or(1, |shard| shard.count)
    }

    /// Tells every shard when the capture started (its first frame), for the orphan rule.
    pub fn set_capture_start(&mut self, ts_ns: u64) {
        for shard in &mut self.shards {
            shard.analyzer.set_capture_start(ts_ns);
        }
    }

    /// Applies a lane part: items and ticks in frame order (a tick before the items of its
    /// frame). In a logged run, returns the log chunk of the transactions that closed.
    pub fn apply(&mut self, part: &mut LanePart) -> Option<LogChunk> {
        if let Some(start) = part.capture_start_ns {
            self.set_capture_start(start);
        }
        let pseudonyms = self.pseudonymize;
        let first = part.first_frame;
        let at = |position: u32, phase: Phase| {
            let frame_number = first.frame_number + u64::from(position);
            Closing::At(
                FrameRef {
                    frame_number,
                    ..first
                },
                phase,
            )
        };
        let mut ticks = part.ticks.iter().peekable();
        let items = &mut part.items;
        for index in 0..items.items.len() {
            if index % DECODE_BLOCK == 0 {
                for ahead in index..index + DECODE_BLOCK {
                    items.decode_datagram(ahead, &self.watch);
                }
            }
            // (An item of the next block is not decoded yet: nothing to prefetch.)
            if let Some(ahead) = items.items.get(index + PREFETCH_AHEAD) {
                self.prefetch(ahead, pseudonyms.is_none());
            }
            let mut routed = items.items[index].take();
            while let Some(tick) = ticks.next_if(|t| t.position <= routed.position) {
                self.tick(tick.now_ns, at(tick.position, Phase::Tick));
            }
            if let Some(frame) = routed.item.frame_mut() {
                frame.frame_number += part.frame_base;
            }
            let closing = at(routed.position, Phase::Message);
            let (flush_each_item, index) = (self.flush_each_item, usize::from(routed.shard));
            let shard = &mut self.shards[index / self.lanes];
            shard.feed(routed, pseudonyms.as_ref());
            if flush_each_item {
                shard
                    .analyzer
                    .flush(&mut LaneLog::sink(&mut self.log, closing, index));
            }
        }
        items.clear();
        for tick in ticks {
            self.tick(tick.now_ns, at(tick.position, Phase::Tick));
        }
        let last = part.frames.saturating_sub(1);
        if part.live_tick_ns != 0 {
            self.tick(part.live_tick_ns, at(last, Phase::LiveTick));
        }
        // What finished is recorded and the findings folded at each part's end, so that the
        // analysis can be read between batches (in a logged run nothing is left to record).
        for shard in &mut self.shards {
            let closing = at(last, Phase::LiveTick);
            shard
                .analyzer
                .flush(&mut LaneLog::sink(&mut self.log, closing, shard.index));
        }
        self.log.as_mut().map(|log| log.take(part.batch))
    }

    /// Starts loading a watched message's parts and per-client state, a few items before it is
    /// analysed (not with pseudonyms: clients are keyed by their pseudonym, known only when
    /// fed).
    fn prefetch(&self, routed: &Routed, clients: bool) {
        if let Decoded::Watched(message) = &routed.item {
            let shard = &self.shards[usize::from(routed.shard) / self.lanes];
            shard.analyzer.prefetch(message, clients);
        }
    }

    /// Lets capture time pass to `now_ns` in every shard (`closing`: where, for the log).
    fn tick(&mut self, now_ns: u64, closing: Closing) {
        let pseudonyms = self.pseudonymize;
        for shard in &mut self.shards {
            let mut sink = LaneLog::sink(&mut self.log, closing, shard.index);
            shard.tick(now_ns, pseudonyms.as_ref(), &mut sink);
        }
    }

    /// Ends the capture at `end_ns`: each shard's analysis, with its index, and in a logged
    /// run the log chunk of what was still pending (numbered `batch`).
    pub fn finish(mut self, end_ns: u64, batch: u64) -> (Vec<(usize, Analysis)>, Option<LogChunk>) {
        let pseudonyms = self.pseudonymize;
        let log = &mut self.log;
        let analyses = self
            .shards
            .into_iter()
            .map(|shard| {
                let mut sink = LaneLog::sink(log, Closing::End, shard.index);
                let index = shard.index;
                (index, shard.finish(end_ns, pseudonyms.as_ref(), &mut sink))
            })
            .collect();
        (analyses, log.as_mut().map(|log| log.take(batch)))
    }

    /// A copy of what the lane's shards learned so far, merged.
    pub fn snapshot(&self) -> Analysis {
        let mut analysis = Analysis::default();
        for shard in &self.shards {
            analysis.merge(shard.snapshot());
        }
        analysis
    }

    /// Adds the findings the lane's shards recorded so far into `findings`.
    pub fn add_findings(&self, findings: &mut BTreeMap<FindingKey, Occurrences>) {
        for shard in &self.shards {
            for (key, occurrences) in &shard.analyzer.analysis().findings {
                findings
                    .entry(key.clone())
                    .or_default()
                    .merge(occurrences.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The ticks of `timestamps` cut into batches at `cuts`, with positions in the whole
    /// sequence.
    fn ticks_of(timestamps: &[u64], cuts: &[usize]) -> Vec<(usize, u64)> {
        let mut clock = TickClock::default();
        let mut ticks = Vec::new();
        let mut start = 0;
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (timestamps.len() + 1)).collect();
        bounds.push(timestamps.len());
        bounds.sort_unstable();
        for end in bounds {
            let mut candidates = TickCandidates::default();
            for (position, ts) in timestamps[start..end].iter().enumerate() {
                candidates.frame(position, *ts);
            }
            for tick in clock.confirm(&candidates.candidates) {
                ticks.push((start + tick.position as usize, tick.now_ns));
            }
            start = end;
        }
        ticks
    }

    proptest! {
        #[test]
        fn ticks_do_not_depend_on_batch_cuts(
            steps in proptest::collection::vec(-3i64..4, 1..300),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            // Timestamps a few tenths of a second apart, some going backwards.
            let mut ts = 1_700_000_000 * TICK_NS;
            let timestamps: Vec<u64> = steps
                .iter()
                .map(|step| {
                    ts = ts.saturating_add_signed(step * 300_000_000);
                    ts
                })
                .collect();
            let whole = ticks_of(&timestamps, &[]);
            prop_assert_eq!(ticks_of(&timestamps, &cuts), whole.clone());
            // A tick is each new grid line the running largest timestamp reaches, once.
            let mut largest_line = None;
            let mut expected = Vec::new();
            for (position, ts) in timestamps.iter().enumerate() {
                let line = ts - ts % TICK_NS;
                if largest_line.is_none_or(|l| line > l) {
                    largest_line = Some(line);
                    expected.push((position, line));
                }
            }
            prop_assert_eq!(whole, expected);
        }
    }
}
