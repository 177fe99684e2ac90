//! The pipeline: the only place that knows about threads. A reader thread fills frame batches
//! from the inputs in order; decode workers (the reader too, whenever work piles up) turn each
//! batch into counters and the few items that need capture order (watched DNS messages, TCP
//! segments, IP fragments); the calling thread reassembles and analyses those strictly in batch
//! order, so a run on N threads produces exactly the analysis of a run on one thread. Counters
//! commute, so each worker keeps its own and hands them over once, at the end. In the steady
//! state nothing here allocates per packet or per batch.

use crate::analyze::{Analysis, Analyzer, PairingSettings, Transaction, Watching};
use crate::capture::{CaptureError, CaptureReader, FileSummary, FrameBatch, InputPath};
use crate::decode::{decode_frame, DecodeConfig, Decoded, Reassembler, ReassemblyLimits, Skip};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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
    /// Busy threads in all, the reader included (1 = everything on the calling thread).
    pub threads: usize,
    /// Called with (bytes done, bytes total) as inputs are read.
    pub progress: Option<fn(u64, u64)>,
    /// Query timeout and state cap for query/response pairing.
    pub pairing: PairingSettings,
    /// Limits of IP fragment and TCP stream reassembly.
    pub reassembly: ReassemblyLimits,
}

/// The result of a run: the analysis of everything read, and what went wrong reading.
#[derive(Debug)]
pub struct RunOutcome {
    /// Everything learned.
    pub analysis: Analysis,
    /// One summary per input that could be opened.
    pub files: Vec<FileSummary>,
    /// Frames whose timestamp was earlier than the frame before (across the whole timeline).
    pub timestamps_backwards: u64,
    /// Inputs that could not be read to their end.
    pub errors: Vec<CaptureError>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

/// What decoding one batch produced that needs capture order.
struct BatchOutcome {
    sequence: u64,
    /// Capture time of the batch's first and last frames.
    first_ts_ns: u64,
    last_ts_ns: u64,
    /// Watched messages, TCP segments, IP fragments and connection attempts, in frame order.
    ordered: Vec<Decoded>,
}

/// What a decode worker sends to the aggregator.
enum WorkerReport {
    /// One batch decoded.
    Batch(BatchOutcome),
    /// The worker is done: its counters.
    Counters(Box<Analysis>),
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

/// Decodes a batch: counts into `counters`, keeps the ordered items in `ordered`.
fn decode_batch(
    batch: &FrameBatch,
    config: &DecodeConfig,
    counters: &mut Analysis,
    ordered: &mut Vec<Decoded>,
) -> BatchOutcome {
    for frame in &batch.frames {
        let outcome = decode_frame(frame, batch.frame_bytes(frame), config);
        counters.count_frame(frame.ts_ns, outcome.snaplen_truncated);
        ordered.extend(count_or_keep(counters, outcome.result));
    }
    let ts = |frame: Option<&crate::capture::FrameMeta>| frame.map_or(0, |f| f.ts_ns);
    BatchOutcome {
        sequence: batch.sequence,
        first_ts_ns: ts(batch.frames.first()),
        last_ts_ns: ts(batch.frames.last()),
        ordered: std::mem::take(ordered),
    }
}

/// Folds batch outcomes into the analysis in sequence order.
struct Aggregator<'a, 's> {
    analyzer: Analyzer<'a>,
    reassembler: Reassembler,
    sink: &'s mut dyn FnMut(&Transaction),
    next_sequence: u64,
    waiting: BTreeMap<u64, BatchOutcome>,
    reassembled: Vec<Result<Decoded, Skip>>,
    /// A spare vector handed back to the decoder so batches reuse it.
    spare: Vec<Decoded>,
}

impl Aggregator<'_, '_> {
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
        if outcome.sequence == 0 {
            self.analyzer.set_capture_start(outcome.first_ts_ns);
        }
        for item in outcome.ordered.drain(..) {
            self.reassembler.accept(item, &mut self.reassembled);
            self.apply_reassembled();
        }
        self.spare = outcome.ordered;
        self.reassembler
            .advance(outcome.last_ts_ns, &mut self.reassembled);
        self.apply_reassembled();
        self.analyzer.advance(outcome.last_ts_ns, self.sink);
        self.next_sequence += 1;
    }

    /// Feeds what reassembly produced (and what passed through it) to the analyzer.
    fn apply_reassembled(&mut self) {
        for result in self.reassembled.drain(..) {
            let mut counters = Analysis::default();
            match count_or_keep(&mut counters, result) {
                Some(Decoded::Watched(message)) => self.analyzer.ingest(message),
                Some(Decoded::Connection(attempt)) => self.analyzer.connection(&attempt),
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

/// Reads every input in order and hands each filled batch to `deliver`, which returns an empty
/// batch to reuse. Returns the per-file summaries, backwards timestamps and read errors.
fn read_inputs(
    config: &RunConfig,
    mut deliver: impl FnMut(FrameBatch) -> FrameBatch,
) -> (Vec<FileSummary>, u64, Vec<CaptureError>) {
    let total_bytes: u64 = config.inputs.iter().filter_map(InputPath::size_bytes).sum();
    let mut done_bytes = 0;
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut backwards = 0;
    let mut last_ts_ns = 0;
    let mut sequence = 0;
    let mut batch = FrameBatch::default();
    for (file_index, input) in config.inputs.iter().enumerate() {
        let mut reader = match CaptureReader::open(input, file_index as u16) {
            Ok(reader) => reader,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        loop {
            let filled = reader.fill_batch(&mut batch, BATCH_FRAMES, BATCH_BYTES);
            for frame in &batch.frames {
                backwards += u64::from(frame.ts_ns < last_ts_ns);
                last_ts_ns = frame.ts_ns;
            }
            if !batch.frames.is_empty() {
                batch.sequence = sequence;
                sequence += 1;
                batch = deliver(batch);
                batch.clear();
            }
            match filled {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => {
                    errors.push(error);
                    break;
                }
            }
            if let Some(progress) = config.progress {
                progress(done_bytes + reader.summary().captured_bytes, total_bytes);
            }
        }
        done_bytes += input.size_bytes().unwrap_or(0);
        files.push(reader.summary().clone());
    }
    (files, backwards, errors)
}

/// Runs the whole pipeline over `config.inputs`.
/// Finished transactions go to `sink` as they finish (in a deterministic order).
pub fn run(config: &RunConfig, sink: &mut dyn FnMut(&Transaction)) -> RunOutcome {
    let started = Instant::now();
    let mut aggregator = Aggregator {
        analyzer: Analyzer::new(
            &config.watching,
            config.pairing,
            config.decode.watch.decodes_every_query(),
        ),
        reassembler: Reassembler::new(&config.decode, config.reassembly),
        sink,
        next_sequence: 0,
        waiting: BTreeMap::new(),
        reassembled: Vec::new(),
        spare: Vec::new(),
    };
    let (files, timestamps_backwards, errors) = if config.threads <= 1 {
        let mut counters = Analysis::default();
        let read = read_inputs(config, |batch| {
            let mut ordered = std::mem::take(&mut aggregator.spare);
            let outcome = decode_batch(&batch, &config.decode, &mut counters, &mut ordered);
            aggregator.accept(outcome);
            batch
        });
        aggregator.analyzer.add_counters(counters);
        read
    } else {
        run_threaded(config, &mut aggregator)
    };
    RunOutcome {
        analysis: aggregator.finish(),
        files,
        timestamps_backwards,
        errors,
        elapsed: started.elapsed(),
    }
}

/// Decodes batches from `work` until it closes, then reports its counters.
fn decode_worker(
    config: &DecodeConfig,
    work: &Receiver<FrameBatch>,
    recycle: &Sender<FrameBatch>,
    results: &Sender<WorkerReport>,
) {
    let mut counters = Analysis::default();
    let mut ordered = Vec::new();
    for batch in work {
        let outcome = decode_batch(&batch, config, &mut counters, &mut ordered);
        // The reader may have finished; a full or closed recycle channel only means less reuse.
        let _ = recycle.try_send(batch);
        if results.send(WorkerReport::Batch(outcome)).is_err() {
            return;
        }
    }
    let _ = results.send(WorkerReport::Counters(Box::new(counters)));
}

fn run_threaded(
    config: &RunConfig,
    aggregator: &mut Aggregator<'_, '_>,
) -> (Vec<FileSummary>, u64, Vec<CaptureError>) {
    let workers = config.threads - 1;
    let (work_tx, work_rx): (Sender<FrameBatch>, Receiver<FrameBatch>) =
        bounded(workers * QUEUE_PER_WORKER);
    let (recycle_tx, recycle_rx) = bounded::<FrameBatch>(workers * QUEUE_PER_WORKER + 4);
    let (result_tx, result_rx) = bounded::<WorkerReport>(workers * 4 + 4);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (work_rx, recycle_tx, result_tx) =
                (work_rx.clone(), recycle_tx.clone(), result_tx.clone());
            scope.spawn(move || decode_worker(&config.decode, &work_rx, &recycle_tx, &result_tx));
        }
        let reader = scope.spawn(move || {
            let mut counters = Analysis::default();
            let mut ordered = Vec::new();
            let summary = read_inputs(config, |batch| {
                // Workers only stop when this sender is dropped, so sending cannot fail here.
                let _ = work_tx.send(batch);
                // When work piles up, the reader is the idle core: it decodes a queued batch too.
                if work_rx.len() >= workers * QUEUE_PER_WORKER {
                    if let Ok(queued) = work_rx.try_recv() {
                        let outcome =
                            decode_batch(&queued, &config.decode, &mut counters, &mut ordered);
                        let _ = result_tx.send(WorkerReport::Batch(outcome));
                        return queued;
                    }
                }
                recycle_rx.try_recv().unwrap_or_default()
            });
            drop(work_tx);
            let _ = result_tx.send(WorkerReport::Counters(Box::new(counters)));
            summary
        });
        for report in result_rx {
            match report {
                WorkerReport::Batch(outcome) => aggregator.accept(outcome),
                WorkerReport::Counters(counters) => aggregator.analyzer.add_counters(*counters),
            }
        }
        reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
