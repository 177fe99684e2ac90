//! The pipeline: the only place that knows about threads. A reader thread fills frame batches
//! from a capture source (files, or live interfaces) in order; decode workers (the reader too,
//! whenever work piles up, and the calling thread while it waits) turn each batch into counters
//! and the few items that need capture order (watched DNS messages, found by the prefilter and
//! left undecoded, their payloads copied; TCP segments, IP fragments, connection attempts),
//! routed to the analysis shard of their client ([`shards`]). The calling thread takes
//! batches in order, confirms the batch's ticks against the capture's clock and hands each
//! lane (a thread's set of shards) its part; every thread runs a lane, applying its parts in
//! batch order between its other work: it decodes its watched messages in full there, so a
//! message is allocated, analysed and freed on one thread, and gives the emptied parts back to
//! a pool every thread's decoding takes from ([`part_pool`]). Shards merge in shard order, so
//! a run on N threads produces exactly the analysis of a run on one thread.
//! Counters commute; each batch carries its own. Live sources add wall-clock ticks to their
//! batches (as values), so timeouts fire on a quiet link, and an observer sees the analysis
//! after each batch (every shard then runs on the calling thread). The transaction log is
//! rendered by every lane and written by the calling thread in one order ([`log`]). In the
//! steady state nothing here allocates per packet.
//!
//! Mapped legacy pcap files take another road ([`segmented`]): there a single reader could not
//! keep up, so every thread walks and decodes segments of the file, and the calling thread
//! checks where each segment's records start and numbers the frames.

use crate::analyze::{Analysis, FindingKey, FrameRef, Occurrences, PairingSettings, Watching};
use crate::capture::{
    BatchSource, CaptureError, FileSource, FileSummary, FrameBatch, InputPath, InterfaceHealth,
    MappedPcap, ProgressFn, ReadProgress, SourceSummary,
};
use crate::decode::{find_frame, DecodeConfig, Found, ReassemblyLimits};
use crate::pseudonym::Pseudonymizer;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender, TryRecvError};
use log::{LogChunk, LogMerge};
use part_pool::PartPool;
use shards::{
    count_or_keep, route, Lane, LaneItems, LanePart, Routed, Routing, ShardSettings,
    TickCandidates, TickClock,
};
use smallvec::SmallVec;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub mod log;
mod part_pool;
mod port_probe;
mod segmented;
pub mod shards;
pub use log::{CopiedTransactions, LogRenderer, LogWriter};
pub use port_probe::watched_responses_on_other_ports;
pub use segmented::SEGMENT_BYTES;

/// Most names discovery holds in all with the default `--memory` (a sixteenth of 512 MiB).
pub const DISCOVERED_NAMES: usize = (32 << 20) / crate::analyze::BYTES_PER_NAME;

/// Frames per batch: large enough that channel costs vanish, small enough to stay in cache.
pub const BATCH_FRAMES: usize = 2048;
/// Bytes per batch before it is handed on early.
pub const BATCH_BYTES: usize = 2 * 1024 * 1024;
/// Batches queued per worker before the reader decodes one itself.
const QUEUE_PER_WORKER: usize = 2;

/// What to run over which inputs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Inputs in timeline order.
    pub inputs: Vec<InputPath>,
    /// Ports and watched names.
    pub decode: DecodeConfig,
    /// Expectations or discovery.
    pub watching: Watching,
    /// Busy threads in all (1 = everything on the calling thread): a reader, decode workers
    /// and the calling thread, or for segmented files segment walkers and the calling thread.
    /// The calling thread applies the results in order and, while none is there, decodes
    /// batches or walks segments itself.
    pub threads: usize,
    /// Mapped legacy pcap files are read in segments of this many bytes, by all threads at
    /// once ([`SEGMENT_BYTES`] by default); 0 reads them with the file reader like other inputs.
    pub segment_bytes: usize,
    /// Called after each batch as inputs are read.
    pub progress: Option<ProgressFn>,
    /// Query timeout and state cap for query/response pairing.
    pub pairing: PairingSettings,
    /// Limits of IP fragment and TCP stream reassembly.
    pub reassembly: ReassemblyLimits,
    /// Most names discovery holds in all (each shard holds its share).
    pub discovered_names: usize,
    /// Replace client addresses by pseudonyms before the analysis sees them.
    pub pseudonymize: Option<Pseudonymizer>,
    /// Keep what `pcdns merge` needs to join the run's report with the reports of captures
    /// read before and after it (see [`crate::analyze::seam`]).
    pub keeps_seam: bool,
}

/// The result of a run: the analysis of everything read, and what went wrong reading.
#[derive(Debug)]
pub struct RunOutcome {
    /// Everything learned.
    pub analysis: Analysis,
    /// The same with the transactions near the run's edges kept aside, as `pcdns merge`
    /// needs it (None: nothing was kept aside, `analysis` is it).
    pub mergeable: Option<Analysis>,
    /// One summary per input that could be opened.
    pub files: Vec<FileSummary>,
    /// Live capture: health of each interface (empty for files).
    pub interfaces: Vec<InterfaceHealth>,
    /// Frames whose timestamp was earlier than the frame before (across the whole timeline).
    pub timestamps_backwards: u64,
    /// Inputs that could not be read to their end.
    pub errors: Vec<CaptureError>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

/// What decoding one batch produced: its counters, and what needs capture order.
struct BatchOutcome {
    sequence: u64,
    /// Capture time of the batch's first frame.
    first_ts_ns: Option<u64>,
    /// The batch's first frame (its number as the walker counted, in a segment).
    first_frame: FrameRef,
    /// Frames in the batch.
    frames: u32,
    /// Live capture: the wall clock when the batch was handed on (0 for files).
    tick_ns: u64,
    /// Counts that need no order (frames, skips, unwatched DNS); they commute.
    counters: Analysis,
    /// Watched messages, TCP segments, IP fragments and connection attempts, in frame order,
    /// routed to their shards and put in the parts of the lanes that run those shards.
    lanes: LaneItems,
    /// Where the batch's own running largest timestamp crossed the tick grid.
    ticks: TickCandidates,
}

/// Decodes a batch, its items routed by `routing` into lane parts taken from `parts`.
fn decode_batch(
    batch: &FrameBatch,
    config: &DecodeConfig,
    routing: Routing,
    parts: &PartPool,
) -> BatchOutcome {
    let mut counters = Analysis::default();
    let mut lanes: LaneItems = (0..routing.lanes).map(|_| parts.take()).collect();
    let mut ticks = TickCandidates::default();
    let mut routed: SmallVec<[Routed; 2]> = SmallVec::new();
    for (position, frame) in batch.frames.iter().enumerate() {
        let bytes = batch.frame_bytes(frame);
        let outcome = find_frame(frame, bytes, config);
        counters.count_frame(frame.ts_ns, outcome.snaplen_truncated);
        ticks.frame(position, frame.ts_ns);
        let found = match outcome.result {
            Ok(Found::Datagram(datagram)) => {
                let shard = routing.shard_of(datagram.client().ip());
                lanes[routing.lane_of(shard)].push_datagram(datagram, position, shard, bytes);
                continue;
            }
            Ok(Found::Item(item)) => Ok(item),
            Err(why) => Err(why),
        };
        if let Some(item) = count_or_keep(&mut counters, found) {
            route(item, position, &config.dns_ports, routing, &mut routed);
            for item in routed.drain(..) {
                lanes[routing.lane_of(usize::from(item.shard))]
                    .items
                    .push(item);
            }
        }
    }
    BatchOutcome {
        sequence: batch.sequence,
        first_ts_ns: batch.frames.first().map(|f| f.ts_ns),
        first_frame: batch
            .frames
            .first()
            .map_or_else(FrameRef::default, |f| FrameRef {
                file_index: f.file_index,
                frame_number: f.frame_number,
            }),
        frames: batch.frames.len() as u32,
        tick_ns: batch.tick_ns,
        counters,
        lanes,
        ticks,
    }
}

/// A lane run on another thread: the lane, where its parts come from, and where its log
/// chunks go.
struct RemoteLane<'w> {
    lane: Lane<'w>,
    parts: Receiver<LanePart>,
    chunks: Sender<LogChunk>,
    /// Where applied parts go back to, emptied.
    parts_pool: PartPool,
}

impl<'w> RemoteLane<'w> {
    /// Applies one part, and hands its log chunk to the aggregator.
    fn apply(&mut self, mut part: LanePart) {
        if let Some(chunk) = self.lane.apply(&mut part) {
            // The aggregator holds the receiver for the whole run.
            let _ = self.chunks.send(chunk);
        }
        self.parts_pool.give(part.items);
    }

    /// Applies the parts that arrived.
    fn apply_arrived(&mut self) {
        while let Ok(part) = self.parts.try_recv() {
            self.apply(part);
        }
    }

    /// Applies parts until the aggregator is done with the read, and hands the lane back.
    fn finish(mut self) -> Lane<'w> {
        while let Ok(part) = self.parts.recv() {
            self.apply(part);
        }
        self.lane
    }
}

/// Folds batch outcomes into the shards in sequence order: counters are added up, ticks
/// confirmed against the whole capture's clock, and each lane's part applied (here, or sent to
/// the thread running the lane).
struct Aggregator<'a, 's> {
    /// The analysis shards, between reads (during a read they are in `lanes`).
    shards: Vec<Lane<'a>>,
    /// Lanes applied on this thread during a read (all of them without threads).
    lanes: Vec<Lane<'a>>,
    /// Senders of the parts of lanes run on other threads (lane `i + 1`).
    remote: Vec<Sender<LanePart>>,
    /// Lanes a threaded read may use (1: an observer needs every shard on the calling thread).
    max_lanes: usize,
    counters: Analysis,
    clock: TickClock,
    /// The transaction log's writing side, in a logged run.
    log: Option<LogMerge<'s>>,
    /// Where remote lanes send their log chunks, and where the aggregator takes them.
    chunks: (Sender<LogChunk>, Receiver<LogChunk>),
    /// Batches applied so far in the run (the next one's number).
    batches: u64,
    observe: &'s mut dyn FnMut(&Progress<'_, '_>),
    /// The first frame of the run, for the orphan rule (every lane is told).
    capture_start_ns: Option<u64>,
    next_sequence: u64,
    waiting: BTreeMap<u64, BatchOutcome>,
    /// Emptied lane parts, for every thread's decoding to reuse.
    parts_pool: PartPool,
}

impl<'a, 's> Aggregator<'a, 's> {
    /// `log`: the transaction log, rendered by the lanes and written here.
    fn new(
        config: &'a RunConfig,
        max_lanes: usize,
        log: Option<(LogMerge<'s>, log::LogTap<'a>)>,
        observe: &'s mut dyn FnMut(&Progress<'_, '_>),
    ) -> Self {
        let settings = ShardSettings {
            watching: &config.watching,
            pairing: config.pairing,
            reassembly: config.reassembly,
            discovered_names: config.discovered_names,
            tracks_every_query: config.decode.watch.decodes_every_query(),
            pseudonymize: config.pseudonymize,
            keeps_seam: config.keeps_seam,
        };
        let (log, tap) = log.unzip();
        Aggregator {
            shards: Lane::all(1, &settings, &config.decode, tap),
            lanes: Vec::new(),
            remote: Vec::new(),
            max_lanes: max_lanes.max(1),
            counters: Analysis::default(),
            clock: TickClock::default(),
            log,
            chunks: unbounded(),
            batches: 0,
            observe,
            capture_start_ns: None,
            next_sequence: 0,
            waiting: BTreeMap::new(),
            parts_pool: PartPool::new(max_lanes),
        }
    }

    /// The routing of a read on `threads` threads.
    fn routing_for(&self, threads: usize) -> Routing {
        Routing {
            shards: self.shard_count(),
            lanes: threads.clamp(1, self.max_lanes).min(self.shard_count()),
        }
    }

    /// The run's logical shards.
    fn shard_count(&self) -> usize {
        self.shards
            .iter()
            .chain(&self.lanes)
            .map(Lane::shard_count)
            .max()
            .unwrap_or(1)
    }

    /// Starts a read: the shards split into `lanes` lanes; lane 0 stays here, the others are
    /// handed out to run on other threads.
    fn start_read(&mut self, lanes: usize) -> Vec<RemoteLane<'a>> {
        self.next_sequence = 0;
        let shards = std::mem::take(&mut self.shards);
        let mut all = Lane::regroup(shards, lanes);
        let remote_lanes = all.split_off(1);
        self.lanes = all;
        remote_lanes
            .into_iter()
            .map(|lane| {
                let (parts_tx, parts) = unbounded();
                self.remote.push(parts_tx);
                let chunks = self.chunks.0.clone();
                RemoteLane {
                    lane,
                    parts,
                    chunks,
                    parts_pool: self.parts_pool.clone(),
                }
            })
            .collect()
    }

    /// Ends a read's dispatching: no more parts for the remote lanes (their threads apply what
    /// they have and hand their lanes back).
    fn close_remote(&mut self) {
        self.remote.clear();
    }

    /// Takes back the lanes run elsewhere once they applied every part (and sent every log
    /// chunk: the log is written up to the read's end).
    fn end_read(&mut self, returned: Vec<Lane<'a>>) {
        self.take_arrived_chunks();
        debug_assert!(self.log.as_ref().is_none_or(LogMerge::is_done));
        let mut lanes = std::mem::take(&mut self.lanes);
        lanes.extend(returned);
        self.shards = Lane::regroup(lanes, 1);
    }

    /// The routing of the read in progress.
    fn routing(&self) -> Routing {
        Routing {
            shards: self.shard_count(),
            lanes: self.lanes.len() + self.remote.len(),
        }
    }

    fn accept(&mut self, outcome: BatchOutcome) {
        if outcome.sequence == self.next_sequence {
            self.process(outcome, 0);
        } else {
            self.waiting.insert(outcome.sequence, outcome);
        }
        while let Some(ready) = self.waiting.remove(&self.next_sequence) {
            self.process(ready, 0);
        }
    }

    /// Applies one batch, in sequence; `frame_base`: frames of its file before its segment.
    fn process(&mut self, outcome: BatchOutcome, frame_base: u64) {
        let BatchOutcome {
            first_ts_ns,
            first_frame,
            frames,
            tick_ns,
            counters,
            lanes,
            ticks,
            sequence: _,
        } = outcome;
        if let (None, Some(first)) = (self.capture_start_ns, first_ts_ns) {
            self.capture_start_ns = Some(first);
            for lane in &mut self.lanes {
                lane.set_capture_start(first);
            }
        }
        self.counters.merge(counters);
        let ticks = self.clock.confirm(&ticks.candidates);
        let local = self.lanes.len();
        let batch = self.batches;
        self.batches += 1;
        if let Some(log) = &mut self.log {
            log.expect(batch, lanes.len());
        }
        let first_frame = FrameRef {
            frame_number: first_frame.frame_number + frame_base,
            ..first_frame
        };
        for (index, items) in lanes.into_iter().enumerate() {
            let mut part = LanePart {
                batch,
                first_frame,
                frames,
                items,
                ticks: ticks.clone(),
                frame_base,
                live_tick_ns: tick_ns,
                capture_start_ns: self.capture_start_ns,
            };
            if index < local {
                let chunk = self.lanes[index].apply(&mut part);
                self.add_chunk(chunk);
                self.parts_pool.give(part.items);
            } else if let Some(remote) = self.remote.get(index - local) {
                // The lane's thread holds its receiver until the aggregator lets it go.
                let _ = remote.send(part);
            }
        }
        self.take_arrived_chunks();
        self.next_sequence += 1;
        if self.remote.is_empty() {
            (self.observe)(&Progress {
                lanes: &self.lanes,
                counters: &self.counters,
                now_ns: self.clock.now_ns().max(tick_ns),
            });
        }
    }

    /// Hands a log chunk to the log (written once its batch is complete).
    fn add_chunk(&mut self, chunk: Option<LogChunk>) {
        if let (Some(log), Some(chunk)) = (&mut self.log, chunk) {
            log.add(chunk);
        }
    }

    /// Takes the log chunks remote lanes sent so far.
    fn take_arrived_chunks(&mut self) {
        while let Ok(chunk) = self.chunks.1.try_recv() {
            self.add_chunk(Some(chunk));
        }
    }

    /// Ends the capture and returns the analysis: the counters, and the shards merged in shard
    /// order (in a logged run, what was still pending is written last).
    fn finish(mut self) -> Analysis {
        let end_ns = self.counters.traffic.last_ts_ns.unwrap_or(0);
        let batch = self.batches;
        // The shards end on as many threads as the run had lanes: ending closes every query
        // still held, which is a lane's work, not the calling thread's alone.
        let lanes = self.routing_for(self.max_lanes).lanes;
        let mut finished = Lane::regroup(std::mem::take(&mut self.shards), lanes);
        let ended: Vec<_> = match finished.len() {
            1 => finished
                .pop()
                .map(|lane| lane.finish(end_ns, batch))
                .into_iter()
                .collect(),
            _ => std::thread::scope(|scope| {
                let running: Vec<_> = finished
                    .into_iter()
                    .map(|lane| scope.spawn(move || lane.finish(end_ns, batch)))
                    .collect();
                running.into_iter().map(join).collect()
            }),
        };
        let mut analyses: Vec<(usize, Analysis)> = Vec::new();
        let mut end_chunks = Vec::new();
        for (shards, chunk) in ended {
            analyses.extend(shards);
            end_chunks.extend(chunk);
        }
        if let Some(log) = &mut self.log {
            log.finish(end_chunks);
        }
        analyses.sort_by_key(|(index, _)| *index);
        let mut analysis = self.counters;
        for (_, shard) in analyses {
            analysis.merge(shard);
        }
        analysis
    }
}

/// What the aggregating thread shows an observer after each batch (live monitoring: events,
/// periodic reports, metrics). Only runs that keep every shard on the calling thread observe.
pub struct Progress<'p, 'a> {
    lanes: &'p [Lane<'a>],
    counters: &'p Analysis,
    /// The time the analysis has reached (capture time, or the live tick).
    pub now_ns: u64,
}

impl Progress<'_, '_> {
    /// The findings so far.
    pub fn findings(&self) -> BTreeMap<FindingKey, Occurrences> {
        let mut findings = BTreeMap::new();
        for lane in self.lanes {
            lane.add_findings(&mut findings);
        }
        findings
    }

    /// A copy of everything learned so far, with the pairing and reassembly counters.
    pub fn snapshot(&self) -> Analysis {
        let mut analysis = self.counters.clone();
        for lane in self.lanes {
            analysis.merge(lane.snapshot());
        }
        analysis
    }
}

/// Frames whose timestamp went back in time, counted across the whole timeline.
#[derive(Debug, Default)]
struct Timeline {
    last_ts_ns: u64,
    backwards: u64,
}

impl Timeline {
    fn count(&mut self, ts_ns: u64) {
        self.backwards += u64::from(ts_ns < self.last_ts_ns);
        self.last_ts_ns = ts_ns;
    }
}

/// Reads `source` into batches (sequence numbers from 0) and hands each to `deliver`, which
/// returns an empty batch to reuse. Returns what the source read.
fn read_source(
    source: &mut dyn BatchSource,
    timeline: &mut Timeline,
    mut deliver: impl FnMut(FrameBatch) -> FrameBatch,
) -> SourceSummary {
    let mut sequence = 0;
    let mut batch = FrameBatch::default();
    loop {
        let more = source.next_batch(&mut batch, BATCH_FRAMES, BATCH_BYTES);
        for frame in &batch.frames {
            timeline.count(frame.ts_ns);
        }
        if !batch.frames.is_empty() || batch.tick_ns != 0 {
            batch.sequence = sequence;
            sequence += 1;
            batch = deliver(batch);
        }
        batch.clear();
        if !more {
            return source.finish();
        }
    }
}

/// Runs the whole pipeline over `config.inputs`, one after the other, with the transaction
/// log: every lane renders the transactions its shards close with `renderer`, and `writer`
/// writes them on the calling thread in the order of [`log::LogKey`] (where each closed,
/// then shard), the same for any threads and any cut.
pub fn run<R: LogRenderer>(
    config: &RunConfig,
    renderer: &R,
    writer: &mut dyn LogWriter<R::Chunk>,
) -> RunOutcome {
    let mut observe = |_: &Progress<'_, '_>| {};
    let log = LogMerge::new(renderer, writer, config.threads.max(1));
    run_inputs(
        config,
        Aggregator::new(config, config.threads, Some(log), &mut observe),
    )
}

/// Runs the whole pipeline over `config.inputs` without a transaction log: the shards are
/// spread over `config.threads` lanes (the report is the same for any number).
pub fn run_unlogged(config: &RunConfig) -> RunOutcome {
    let mut observe = |_: &Progress<'_, '_>| {};
    run_inputs(
        config,
        Aggregator::new(config, config.threads, None, &mut observe),
    )
}

fn run_inputs(config: &RunConfig, mut aggregator: Aggregator<'_, '_>) -> RunOutcome {
    let started = Instant::now();
    let mut timeline = Timeline::default();
    let mut read = SourceSummary::default();
    let mut meter = ProgressMeter {
        callback: config.progress,
        done: ReadProgress::start(&config.inputs),
    };
    for (index, input) in config.inputs.iter().enumerate() {
        let files_before = read.files.len();
        let file_index = index as u16;
        let mapped = match config.segment_bytes {
            0 => None,
            _ => MappedPcap::open(input, file_index),
        };
        if let Some(pcap) = mapped {
            let (file, error) =
                segmented::read_file(config, &pcap, &mut aggregator, &mut timeline, meter);
            read.files.push(file);
            read.errors.extend(error);
        } else {
            let mut source =
                FileSource::single(input.clone(), file_index, meter.callback, meter.done);
            let summary = read_batches(config, &mut source, &mut aggregator, &mut timeline);
            read.files.extend(summary.files);
            read.errors.extend(summary.errors);
        }
        if let Some(file) = read.files.get(files_before) {
            meter.done = meter.done.past(input, file);
        }
    }
    let (analysis, mergeable) = aggregator.finish().into_settled(&config.watching);
    RunOutcome {
        analysis,
        mergeable,
        files: read.files,
        interfaces: read.interfaces,
        timestamps_backwards: timeline.backwards,
        errors: read.errors,
        elapsed: started.elapsed(),
    }
}

/// Where the run's progress callback stands: the progress before the current input.
#[derive(Debug, Clone, Copy)]
struct ProgressMeter {
    callback: Option<ProgressFn>,
    done: ReadProgress,
}

impl ProgressMeter {
    /// Reports that `bytes` captured bytes and `packets` frames of the current input are done.
    fn report(&self, bytes: u64, packets: u64) {
        if let Some(callback) = self.callback {
            callback(self.done.plus(bytes, packets));
        }
    }
}

/// Runs the whole pipeline over any capture source (`config.inputs` is not used).
/// `observe` sees the analysis after each batch, on the calling thread (every shard runs
/// there; decoding still uses the threads).
pub fn run_source(
    config: &RunConfig,
    source: &mut dyn BatchSource,
    observe: &mut dyn FnMut(&Progress<'_, '_>),
) -> RunOutcome {
    run_source_with(config, source, Aggregator::new(config, 1, None, observe))
}

/// [`run_source`] with the transaction log: `writer` writes what `renderer` rendered, in the
/// log's order, on the calling thread.
pub fn run_source_logged<R: LogRenderer>(
    config: &RunConfig,
    source: &mut dyn BatchSource,
    observe: &mut dyn FnMut(&Progress<'_, '_>),
    renderer: &R,
    writer: &mut dyn LogWriter<R::Chunk>,
) -> RunOutcome {
    let log = LogMerge::new(renderer, writer, 1);
    run_source_with(
        config,
        source,
        Aggregator::new(config, 1, Some(log), observe),
    )
}

fn run_source_with(
    config: &RunConfig,
    source: &mut dyn BatchSource,
    mut aggregator: Aggregator<'_, '_>,
) -> RunOutcome {
    let started = Instant::now();
    let mut timeline = Timeline::default();
    let summary = read_batches(config, source, &mut aggregator, &mut timeline);
    let (analysis, mergeable) = aggregator.finish().into_settled(&config.watching);
    RunOutcome {
        analysis,
        mergeable,
        files: summary.files,
        interfaces: summary.interfaces,
        timestamps_backwards: timeline.backwards,
        errors: summary.errors,
        elapsed: started.elapsed(),
    }
}

/// Reads `source` through the reader and the decode workers into `aggregator`.
fn read_batches(
    config: &RunConfig,
    source: &mut dyn BatchSource,
    aggregator: &mut Aggregator<'_, '_>,
    timeline: &mut Timeline,
) -> SourceSummary {
    if config.threads <= 1 {
        aggregator.start_read(1);
        let routing = aggregator.routing();
        let summary = read_source(source, timeline, |batch| {
            let outcome = decode_batch(&batch, &config.decode, routing, &aggregator.parts_pool);
            aggregator.accept(outcome);
            batch
        });
        aggregator.end_read(Vec::new());
        summary
    } else {
        run_threaded(config, source, aggregator, timeline)
    }
}

/// Decodes batches from `work` until it closes, and applies the parts of its lane (if it runs
/// one: a run may have fewer shards than threads) as they come; returns the lane once the
/// aggregator lets it go.
fn decode_worker<'w>(
    config: &DecodeConfig,
    routing: Routing,
    work: &Receiver<FrameBatch>,
    recycle: &Sender<FrameBatch>,
    results: Sender<BatchOutcome>,
    parts_pool: &PartPool,
    mut lane: Option<RemoteLane<'w>>,
) -> Option<Lane<'w>> {
    let no_parts = crossbeam_channel::never();
    loop {
        if let Some(lane) = &mut lane {
            lane.apply_arrived();
        }
        let parts = lane.as_ref().map_or(&no_parts, |lane| &lane.parts);
        let batch = crossbeam_channel::select! {
            recv(parts) -> part => match (part, &mut lane) {
                (Ok(part), Some(lane)) => {
                    lane.apply(part);
                    continue;
                }
                // The aggregator is done: no batch is left to decode either.
                _ => return lane.map(|lane| lane.lane),
            },
            recv(work) -> batch => match batch {
                Ok(batch) => batch,
                Err(_) => break,
            },
        };
        let outcome = decode_batch(&batch, config, routing, parts_pool);
        // The reader may have finished; a full or closed recycle channel only means less reuse.
        let _ = recycle.try_send(batch);
        if results.send(outcome).is_err() {
            break;
        }
    }
    // The aggregator waits for every sender of outcomes to go before it lets the lanes go.
    drop(results);
    lane.map(RemoteLane::finish)
}

/// Reads on a reader thread, decodes on `config.threads - 2` decode workers and, while no
/// outcome waits to be applied, on the calling thread (the reader also decodes when work
/// piles up). Every thread runs a lane of shards.
fn run_threaded(
    config: &RunConfig,
    source: &mut dyn BatchSource,
    aggregator: &mut Aggregator<'_, '_>,
    timeline: &mut Timeline,
) -> SourceSummary {
    let workers = config.threads - 2;
    let routing = aggregator.routing_for(config.threads);
    let mut remote = aggregator.start_read(routing.lanes).into_iter();
    let queued = (workers + 1) * QUEUE_PER_WORKER;
    let (work_tx, work_rx): (Sender<FrameBatch>, Receiver<FrameBatch>) = bounded(queued);
    let (recycle_tx, recycle_rx) = bounded::<FrameBatch>(queued + 4);
    let (result_tx, result_rx) = bounded::<BatchOutcome>(workers * 4 + 4);
    let parts_pool = &aggregator.parts_pool.clone();
    let (summary, returned) = std::thread::scope(|scope| {
        let mut running = Vec::with_capacity(workers + 1);
        for _ in 0..workers {
            let (work_rx, recycle_tx, result_tx) =
                (work_rx.clone(), recycle_tx.clone(), result_tx.clone());
            let lane = remote.next();
            running.push(scope.spawn(move || {
                decode_worker(
                    &config.decode,
                    routing,
                    &work_rx,
                    &recycle_tx,
                    result_tx,
                    parts_pool,
                    lane,
                )
            }));
        }
        let mut reader_lane = remote.next();
        let reader_work = work_rx.clone();
        let reader = scope.spawn(move || {
            let summary = read_source(source, timeline, |batch| {
                if let Some(lane) = &mut reader_lane {
                    lane.apply_arrived();
                }
                // The calling thread holds a receiver until the end, so sending cannot fail.
                let _ = work_tx.send(batch);
                // When work piles up, the reader is the idle core: it decodes a queued batch too.
                if reader_work.len() >= queued {
                    if let Ok(queued) = reader_work.try_recv() {
                        let outcome = decode_batch(&queued, &config.decode, routing, parts_pool);
                        let _ = result_tx.send(outcome);
                        return queued;
                    }
                }
                recycle_rx.try_recv().unwrap_or_default()
            });
            drop(work_tx);
            drop(result_tx);
            (summary, reader_lane.map(RemoteLane::finish))
        });
        apply_and_decode(
            config,
            routing,
            aggregator,
            &result_rx,
            &work_rx,
            &recycle_tx,
        );
        aggregator.close_remote();
        let mut returned: Vec<Lane<'_>> = running.into_iter().filter_map(join).collect();
        let (summary, reader_lane) = join(reader);
        returned.extend(reader_lane);
        (summary, returned)
    });
    aggregator.end_read(returned);
    summary
}

/// The calling thread's part of a threaded read: applies outcomes as they come and, while
/// none is there, decodes a batch of `work` itself. Returns when all outcomes are applied.
fn apply_and_decode(
    config: &RunConfig,
    routing: Routing,
    aggregator: &mut Aggregator<'_, '_>,
    results: &Receiver<BatchOutcome>,
    work: &Receiver<FrameBatch>,
    recycle: &Sender<FrameBatch>,
) {
    loop {
        let outcome = match next_for_aggregator(results, work) {
            ForAggregator::Outcome(outcome) => outcome,
            ForAggregator::Batch(batch) => {
                let outcome = decode_batch(&batch, &config.decode, routing, &aggregator.parts_pool);
                let _ = recycle.try_send(batch);
                outcome
            }
            ForAggregator::Done => return,
        };
        aggregator.accept(outcome);
    }
}

/// What the calling thread does next in a threaded read (moved once per batch: not boxed).
#[allow(clippy::large_enum_variant)]
enum ForAggregator {
    /// Apply a decoded batch.
    Outcome(BatchOutcome),
    /// Decode a batch (nothing was there to apply).
    Batch(FrameBatch),
    /// Everything read was applied.
    Done,
}

/// Waits for an outcome to apply (preferred) or a batch to decode.
fn next_for_aggregator(
    results: &Receiver<BatchOutcome>,
    work: &Receiver<FrameBatch>,
) -> ForAggregator {
    loop {
        if let Ok(outcome) = results.try_recv() {
            return ForAggregator::Outcome(outcome);
        }
        match work.try_recv() {
            Ok(batch) => return ForAggregator::Batch(batch),
            // The reader is done: what is left are the outcomes of batches being decoded.
            Err(TryRecvError::Disconnected) => {
                return results
                    .recv()
                    .map_or(ForAggregator::Done, ForAggregator::Outcome)
            }
            Err(TryRecvError::Empty) => {}
        }
        crossbeam_channel::select! {
            recv(results) -> outcome => if let Ok(outcome) = outcome {
                return ForAggregator::Outcome(outcome);
            },
            recv(work) -> batch => if let Ok(batch) = batch {
                return ForAggregator::Batch(batch);
            },
        }
    }
}

/// Waits until a scoped thread has exited, thread-locals dropped (the scope itself only waits
/// until its function returns; leak checkers then see the thread-locals of a thread still
/// exiting as leaked), and passes a panic of its on.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
