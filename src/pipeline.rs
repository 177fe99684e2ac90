//! The pipeline: the only place that knows about threads. A reader thread fills frame batches
//! from a capture source (files, or live interfaces) in order; decode workers (the reader too,
//! whenever work piles up, and the calling thread while it waits) turn each batch into counters
//! and the few items that need capture order (watched DNS messages, TCP segments, IP
//! fragments); the calling thread reassembles and analyses those strictly in batch order, so a
//! run on N threads produces exactly the analysis of a run on one thread. Counters commute;
//! each batch carries its own. Live sources add wall-clock ticks to their batches (as values),
//! so timeouts fire on a quiet link, and an observer sees the analysis after each batch.
//! In the steady state nothing here allocates per packet.
//!
//! Mapped legacy pcap files take another road ([`segmented`]): there a single reader could not
//! keep up, so every thread walks and decodes segments of the file, and the calling thread
//! checks where each segment's records start and replays the serial reader's accounting.

use crate::analyze::{
    Analysis, Analyzer, FindingKey, Occurrences, PairingSettings, Retired, Transaction, Watching,
};
use crate::capture::{
    BatchSource, CaptureError, FileSource, FileSummary, FrameBatch, InputPath, InterfaceHealth,
    MappedPcap, SourceSummary,
};
use crate::decode::{decode_frame, DecodeConfig, Decoded, Reassembler, ReassemblyLimits, Skip};
use crate::pseudonym::Pseudonymizer;
use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod segmented;
pub use segmented::SEGMENT_BYTES;

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
    /// Called with (bytes done, bytes total) as inputs are read.
    pub progress: Option<fn(u64, u64)>,
    /// Query timeout and state cap for query/response pairing.
    pub pairing: PairingSettings,
    /// Limits of IP fragment and TCP stream reassembly.
    pub reassembly: ReassemblyLimits,
    /// Replace client addresses by pseudonyms before the analysis sees them.
    pub pseudonymize: Option<Pseudonymizer>,
}

/// The result of a run: the analysis of everything read, and what went wrong reading.
#[derive(Debug)]
pub struct RunOutcome {
    /// Everything learned.
    pub analysis: Analysis,
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
    /// Capture time of the batch's first and last frames.
    first_ts_ns: u64,
    last_ts_ns: u64,
    /// Live capture: the wall clock when the batch was handed on (0 for files).
    tick_ns: u64,
    /// Counts that need no order (frames, skips, unwatched DNS); they commute.
    counters: Analysis,
    /// Watched messages, TCP segments, IP fragments and connection attempts, in frame order.
    ordered: Vec<Decoded>,
}

/// Counts what needs no order (unwatched DNS, skips); hands back what does.
fn count_or_keep(counters: &mut Analysis, result: Result<Decoded, Skip>) -> Option<Decoded> {
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

/// How many items ahead of the one analysed a watched message's parts and per-client state
/// are prefetched: enough for the loads to arrive, few enough that they are still cached.
const PREFETCH_AHEAD: usize = 4;
/// How many items ahead a watched message itself is prefetched (before its parts are).
const PREFETCH_MESSAGE_AHEAD: usize = 8;

/// Decodes a batch: counts into `counters`, keeps the ordered items in `ordered`.
fn decode_batch(
    batch: &FrameBatch,
    config: &DecodeConfig,
    ordered: &mut Vec<Decoded>,
) -> BatchOutcome {
    let mut counters = Analysis::default();
    for frame in &batch.frames {
        let outcome = decode_frame(frame, batch.frame_bytes(frame), config);
        counters.count_frame(frame.ts_ns, outcome.snaplen_truncated);
        ordered.extend(count_or_keep(&mut counters, outcome.result));
    }
    let ts = |frame: Option<&crate::capture::FrameMeta>| frame.map_or(0, |f| f.ts_ns);
    BatchOutcome {
        sequence: batch.sequence,
        first_ts_ns: batch.frames.first().map_or(batch.tick_ns, |f| f.ts_ns),
        last_ts_ns: ts(batch.frames.last()),
        tick_ns: batch.tick_ns,
        counters,
        ordered: std::mem::take(ordered),
    }
}

/// Folds batch outcomes into the analysis in sequence order.
struct Aggregator<'a, 's> {
    analyzer: Analyzer<'a>,
    reassembler: Reassembler,
    sink: &'s mut dyn FnMut(&Transaction),
    observe: &'s mut dyn FnMut(&Progress<'_, '_>),
    pseudonymize: Option<Pseudonymizer>,
    /// The first frame of the run has been seen (pairing knows when the capture started).
    capture_started: bool,
    next_sequence: u64,
    waiting: BTreeMap<u64, BatchOutcome>,
    reassembled: Vec<Result<Decoded, Skip>>,
    /// A spare vector handed back to the decoder so batches reuse it.
    spare: Vec<Decoded>,
    /// Where the messages of finished transactions go to be dropped: a decode worker
    /// (threads), or nowhere (dropped here, one thread).
    retire: Option<RetireChannels>,
}

impl<'a, 's> Aggregator<'a, 's> {
    fn new(
        config: &'a RunConfig,
        sink: &'s mut dyn FnMut(&Transaction),
        observe: &'s mut dyn FnMut(&Progress<'_, '_>),
    ) -> Self {
        Aggregator {
            analyzer: Analyzer::new(
                &config.watching,
                config.pairing,
                config.decode.watch.decodes_every_query(),
            ),
            reassembler: Reassembler::new(&config.decode, config.reassembly),
            sink,
            observe,
            pseudonymize: config.pseudonymize,
            capture_started: false,
            next_sequence: 0,
            waiting: BTreeMap::new(),
            reassembled: Vec::new(),
            spare: Vec::new(),
            retire: None,
        }
    }

    fn accept(&mut self, outcome: BatchOutcome) {
        if outcome.sequence == self.next_sequence {
            self.process(outcome);
        } else {
            self.waiting.insert(outcome.sequence, outcome);
        }
        while let Some(ready) = self.waiting.remove(&self.next_sequence) {
            self.process(ready);
        }
    }

    fn process(&mut self, mut outcome: BatchOutcome) {
        self.start_capture(outcome.first_ts_ns);
        self.analyzer
            .add_counters(std::mem::take(&mut outcome.counters));
        let mut items = outcome.ordered.drain(..);
        while let Some(item) = items.next() {
            self.feed(item, items.as_slice());
        }
        drop(items);
        self.spare = outcome.ordered;
        // Live: time also passes on a quiet link (the tick); files: only capture time counts.
        self.end_batch(outcome.last_ts_ns.max(outcome.tick_ns));
    }

    /// Tells pairing when the capture started, at the run's first batch.
    fn start_capture(&mut self, first_ts_ns: u64) {
        if !self.capture_started {
            self.capture_started = true;
            self.analyzer.set_capture_start(first_ts_ns);
        }
    }

    /// Takes one item that needs capture order; `rest`: the items after it in its batch. Messages
    /// were decoded on another core: the watched message [`PREFETCH_MESSAGE_AHEAD`] places on is
    /// prefetched (reading it first would wait for the other core's cache), and the one
    /// [`PREFETCH_AHEAD`] places on, cached by then, has its parts and per-client state prefetched.
    fn feed(&mut self, item: Decoded, rest: &[Decoded]) {
        if let Some(Decoded::Watched(far)) = rest.get(PREFETCH_MESSAGE_AHEAD - 1) {
            crate::prefetch::prefetch_value(&**far);
        }
        if let Some(Decoded::Watched(near)) = rest.get(PREFETCH_AHEAD - 1) {
            // Pseudonymised clients are keyed by their pseudonym, known only when fed.
            self.analyzer.prefetch(near, self.pseudonymize.is_none());
        }
        self.reassembler.accept(item, &mut self.reassembled);
        self.apply_reassembled();
    }

    /// Ends a batch: capture time has reached `now_ns`.
    fn end_batch(&mut self, now_ns: u64) {
        self.reassembler.advance(now_ns, &mut self.reassembled);
        self.apply_reassembled();
        self.analyzer.advance(now_ns, self.sink);
        match &self.retire {
            Some(retire) if self.analyzer.has_retired() => {
                let spare = retire.spare.try_recv().unwrap_or_default();
                // A full channel only means this batch's leftovers are dropped here.
                let _ = retire.to_drop.try_send(self.analyzer.swap_retired(spare));
            }
            Some(_) => {}
            None => self.analyzer.drop_retired(),
        }
        self.next_sequence += 1;
        (self.observe)(&Progress {
            analyzer: &self.analyzer,
            reassembler: &self.reassembler,
            now_ns,
        });
    }

    /// Feeds what reassembly produced (and what passed through it) to the analyzer.
    fn apply_reassembled(&mut self) {
        for result in self.reassembled.drain(..) {
            let mut counters = Analysis::default();
            match count_or_keep(&mut counters, result) {
                Some(Decoded::Watched(mut message)) => {
                    if let Some(pseudonyms) = &self.pseudonymize {
                        message.set_client_ip(pseudonyms.address(message.client().ip()));
                    }
                    self.analyzer.ingest(message)
                }
                Some(Decoded::Connection(mut attempt)) => {
                    if let Some(pseudonyms) = &self.pseudonymize {
                        attempt
                            .client
                            .set_ip(pseudonyms.address(attempt.client.ip()));
                    }
                    self.analyzer.connection(&attempt)
                }
                Some(_) => {}
                None => self.analyzer.add_counters(counters),
            }
        }
    }

    /// Ends the capture and returns the analysis.
    fn finish(mut self) -> Analysis {
        self.reassembler.finish(&mut self.reassembled);
        self.apply_reassembled();
        self.analyzer.finish(self.sink, self.reassembler.counters())
    }
}

/// What the aggregating thread shows an observer after each batch (live monitoring: events,
/// periodic reports, metrics).
pub struct Progress<'p, 'a> {
    analyzer: &'p Analyzer<'a>,
    reassembler: &'p Reassembler,
    /// The time the analysis has reached (capture time, or the live tick).
    pub now_ns: u64,
}

impl Progress<'_, '_> {
    /// The findings so far.
    pub fn findings(&self) -> &BTreeMap<FindingKey, Occurrences> {
        &self.analyzer.analysis().findings
    }

    /// A copy of everything learned so far, with the pairing and reassembly counters.
    pub fn snapshot(&self) -> Analysis {
        self.analyzer.snapshot(self.reassembler.counters())
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

/// Runs the whole pipeline over `config.inputs`, one after the other.
/// Finished transactions go to `sink` as they finish (in a deterministic order).
pub fn run(config: &RunConfig, sink: &mut dyn FnMut(&Transaction)) -> RunOutcome {
    let started = Instant::now();
    let mut observe = |_: &Progress<'_, '_>| {};
    let mut aggregator = Aggregator::new(config, sink, &mut observe);
    let mut timeline = Timeline::default();
    let mut read = SourceSummary::default();
    let mut meter = ProgressMeter {
        callback: config.progress,
        done_bytes: 0,
        total_bytes: config.inputs.iter().filter_map(InputPath::size_bytes).sum(),
    };
    for (index, input) in config.inputs.iter().enumerate() {
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
            let mut source = FileSource::single(
                input.clone(),
                file_index,
                meter.callback,
                meter.done_bytes,
                meter.total_bytes,
            );
            let summary = read_batches(config, &mut source, &mut aggregator, &mut timeline);
            read.files.extend(summary.files);
            read.errors.extend(summary.errors);
        }
        meter.done_bytes += input.size_bytes().unwrap_or(0);
    }
    RunOutcome {
        analysis: aggregator.finish(),
        files: read.files,
        interfaces: read.interfaces,
        timestamps_backwards: timeline.backwards,
        errors: read.errors,
        elapsed: started.elapsed(),
    }
}

/// Where the run's progress callback stands: bytes of the inputs before the current one.
#[derive(Debug, Clone, Copy)]
struct ProgressMeter {
    callback: Option<fn(u64, u64)>,
    done_bytes: u64,
    total_bytes: u64,
}

impl ProgressMeter {
    /// Reports that `bytes` of the current input are done.
    fn report(&self, bytes: u64) {
        if let Some(callback) = self.callback {
            callback(self.done_bytes + bytes, self.total_bytes);
        }
    }
}

/// Runs the whole pipeline over any capture source (`config.inputs` is not used).
/// `observe` sees the analysis after each batch, on the calling thread.
pub fn run_source(
    config: &RunConfig,
    source: &mut dyn BatchSource,
    observe: &mut dyn FnMut(&Progress<'_, '_>),
    sink: &mut dyn FnMut(&Transaction),
) -> RunOutcome {
    let started = Instant::now();
    let mut aggregator = Aggregator::new(config, sink, observe);
    let mut timeline = Timeline::default();
    let summary = read_batches(config, source, &mut aggregator, &mut timeline);
    RunOutcome {
        analysis: aggregator.finish(),
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
    // Each source numbers its batches from 0.
    aggregator.next_sequence = 0;
    if config.threads <= 1 {
        read_source(source, timeline, |batch| {
            let mut ordered = std::mem::take(&mut aggregator.spare);
            let outcome = decode_batch(&batch, &config.decode, &mut ordered);
            aggregator.accept(outcome);
            batch
        })
    } else {
        run_threaded(config, source, aggregator, timeline)
    }
}

/// The aggregating thread's end of retiring: what the analysis is done with goes to a decode
/// thread to be dropped, and the emptied vectors come back.
struct RetireChannels {
    to_drop: Sender<Retired>,
    spare: Receiver<Retired>,
}

/// A decode thread's end of retiring (see [`RetireChannels`]).
#[derive(Clone)]
struct RetiredDropper {
    retired: Receiver<Retired>,
    spare: Sender<Retired>,
}

impl RetiredDropper {
    /// Drops what was retired so far and hands the emptied vectors back (a full channel
    /// only means they are freed here).
    fn drop_retired(&self) {
        for mut retired in self.retired.try_iter() {
            retired.clear();
            let _ = self.spare.try_send(retired);
        }
    }
}

/// Channels for retiring, each holding up to `capacity` batches' leftovers.
fn retire_channels(capacity: usize) -> (RetireChannels, RetiredDropper) {
    let (to_drop, retired) = bounded(capacity);
    let (spare_tx, spare) = bounded(capacity);
    (
        RetireChannels { to_drop, spare },
        RetiredDropper {
            retired,
            spare: spare_tx,
        },
    )
}

/// Decodes batches from `work` until it closes; drops what the analysis retired.
fn decode_worker(
    config: &DecodeConfig,
    work: &Receiver<FrameBatch>,
    recycle: &Sender<FrameBatch>,
    results: &Sender<BatchOutcome>,
    retired: &RetiredDropper,
) {
    let mut ordered = Vec::new();
    for batch in work {
        retired.drop_retired();
        let outcome = decode_batch(&batch, config, &mut ordered);
        // The reader may have finished; a full or closed recycle channel only means less reuse.
        let _ = recycle.try_send(batch);
        if results.send(outcome).is_err() {
            return;
        }
    }
}

/// Reads on a reader thread, decodes on `config.threads - 2` decode workers and, while no
/// outcome waits to be applied, on the calling thread (the reader also decodes when work
/// piles up).
fn run_threaded(
    config: &RunConfig,
    source: &mut dyn BatchSource,
    aggregator: &mut Aggregator<'_, '_>,
    timeline: &mut Timeline,
) -> SourceSummary {
    let workers = config.threads - 2;
    let queued = (workers + 1) * QUEUE_PER_WORKER;
    let (work_tx, work_rx): (Sender<FrameBatch>, Receiver<FrameBatch>) = bounded(queued);
    let (recycle_tx, recycle_rx) = bounded::<FrameBatch>(queued + 4);
    let (result_tx, result_rx) = bounded::<BatchOutcome>(workers * 4 + 4);
    let (retire_channels, retired_dropper) = retire_channels(workers * 4 + 4);
    aggregator.retire = Some(retire_channels);
    std::thread::scope(|scope| {
        let mut workers_running = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (work_rx, recycle_tx, result_tx, retired_dropper) = (
                work_rx.clone(),
                recycle_tx.clone(),
                result_tx.clone(),
                retired_dropper.clone(),
            );
            workers_running.push(scope.spawn(move || {
                decode_worker(
                    &config.decode,
                    &work_rx,
                    &recycle_tx,
                    &result_tx,
                    &retired_dropper,
                )
            }));
        }
        let reader_work = work_rx.clone();
        let reader = scope.spawn(move || {
            let mut ordered = Vec::new();
            let summary = read_source(source, timeline, |batch| {
                // The calling thread holds a receiver until the end, so sending cannot fail.
                let _ = work_tx.send(batch);
                // When work piles up, the reader is the idle core: it decodes a queued batch too.
                if reader_work.len() >= queued {
                    if let Ok(queued) = reader_work.try_recv() {
                        retired_dropper.drop_retired();
                        let outcome = decode_batch(&queued, &config.decode, &mut ordered);
                        let _ = result_tx.send(outcome);
                        return queued;
                    }
                }
                recycle_rx.try_recv().unwrap_or_default()
            });
            drop(work_tx);
            drop(result_tx);
            summary
        });
        apply_and_decode(config, aggregator, &result_rx, &work_rx, &recycle_tx);
        aggregator.retire = None;
        join_all(workers_running);
        reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The calling thread's part of a threaded read: applies outcomes as they come and, while
/// none is there, decodes a batch of `work` itself. Returns when all outcomes are applied.
fn apply_and_decode(
    config: &RunConfig,
    aggregator: &mut Aggregator<'_, '_>,
    results: &Receiver<BatchOutcome>,
    work: &Receiver<FrameBatch>,
    recycle: &Sender<FrameBatch>,
) {
    loop {
        let outcome = match next_for_aggregator(results, work) {
            ForAggregator::Outcome(outcome) => outcome,
            ForAggregator::Batch(batch) => {
                let mut ordered = std::mem::take(&mut aggregator.spare);
                let outcome = decode_batch(&batch, &config.decode, &mut ordered);
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

/// Waits until scoped threads have exited, thread-locals dropped (the scope itself only waits
/// until their functions return; leak checkers then see the thread-locals of a thread still
/// exiting as leaked), and passes a panic of theirs on.
fn join_all(handles: Vec<std::thread::ScopedJoinHandle<'_, ()>>) {
    for handle in handles {
        if let Err(panic) = handle.join() {
            std::panic::resume_unwind(panic);
        }
    }
}
