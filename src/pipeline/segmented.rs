//! Mapped legacy pcap files read by every thread at once. One reader walking record headers
//! cannot keep up (each header says where the next one is: a chain of memory loads), so the
//! file is cut into segments of [`RunConfig::segment_bytes`] and each of `--threads` - 1 walker
//! threads (and the calling thread, while it has nothing to apply) takes the next segment
//! (tickets, so walkers stay close together and memory stays bounded), walks the records whose
//! headers start in it, decodes them in batches and sends the outcomes to the calling thread. A
//! walker that did not walk the segment before does not know where its first record starts: it
//! guesses ([`MappedPcap::resync`]).
//!
//! The calling thread (the aggregator) makes the result exactly that of the serial reader
//! whatever the guesses were. It takes segments in order and knows where the record chain
//! really enters each one (where the previous segment's walk left it); a segment whose walker
//! started elsewhere is thrown away and walked again on the calling thread from the right
//! offset. It numbers frames (walkers count from 1 in each segment: the aggregator hands each
//! lane the frames before the segment), counts timestamps that go backwards, sums the file
//! summary and stops at the first broken record with the reader's error. Where batches and
//! segments are cut does not matter to the analysis (its ticks follow capture time), so
//! nothing of the serial reader's batching is replayed. Every walker runs a lane of shards.

use super::part_pool::PartPool;
use super::shards::{Lane, Routing};
use super::{decode_batch, join, Aggregator, BatchOutcome, ProgressMeter, RemoteLane};
use super::{RunConfig, Timeline};
use super::{BATCH_BYTES, BATCH_FRAMES};
use crate::capture::{
    CaptureError, FileSummary, FrameBatch, FrameMeta, MappedPcap, SegmentWalk, WalkEnd,
};
use crate::decode::DecodeConfig;
use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};

/// Default segment size: large enough that guessing a segment's first record is rare work,
/// small enough that the walkers' pages in memory stay few, and that what walkers decode ahead
/// of the aggregator stays small when every frame is a watched response (measured on 2 M
/// responses at 2 threads: 32 MiB segments peaked at 285 MB and took 2.47 s, 4 MiB at 125 MB
/// and 2.26 s; 5 M packets without DNS: 0.33 s and 0.35 s).
pub const SEGMENT_BYTES: usize = 4 * 1024 * 1024;
/// Segments handed out per thread (the walkers and the calling thread) beyond the one the
/// aggregator waits for: bounds the outcomes held for later segments.
const TICKETS_PER_THREAD: usize = 2;
/// Messages queued per walker for the aggregator.
const QUEUE_PER_WALKER: usize = 16;

/// Reads one mapped legacy pcap file into `aggregator`: on `config.threads` threads, or
/// with one thread on the calling thread alone. Returns the file's summary and its error, if
/// a record is broken.
pub(super) fn read_file(
    config: &RunConfig,
    pcap: &MappedPcap,
    aggregator: &mut Aggregator<'_, '_>,
    timeline: &mut Timeline,
    meter: ProgressMeter,
) -> (FileSummary, Option<CaptureError>) {
    let mut replay = Replay::new(pcap, config.segment_bytes, meter);
    if config.threads <= 1 {
        // One walker takes the segments in order and continues the chain: nothing to guess.
        aggregator.start_read(1);
        while replay.walk_next_here(&config.decode, aggregator, timeline) {}
        aggregator.end_read(Vec::new());
    } else {
        read_in_parallel(config, &mut replay, aggregator, timeline);
    }
    replay.finish()
}

/// Where segment `index` lies: from its first byte (after the file header for the first) to
/// its end (records whose header starts before the end belong to it).
fn segment_bounds(pcap: &MappedPcap, segment_bytes: usize, index: usize) -> (usize, usize) {
    let start = index.saturating_mul(segment_bytes).max(pcap.first_record());
    (start, index.saturating_add(1).saturating_mul(segment_bytes))
}

/// Segments in the file (at least one, which finds the end or the broken first record).
fn segment_count(pcap: &MappedPcap, segment_bytes: usize) -> usize {
    pcap.len().div_ceil(segment_bytes).max(1)
}

/// What a walker tells the aggregator about a segment, in this order: where it started, its
/// decoded batches, how its walk ended.
enum Walked {
    Start {
        segment: usize,
        offset: usize,
    },
    Batch {
        segment: usize,
        /// Boxed: the outcome is large, the other messages are small.
        outcome: Box<BatchOutcome>,
        frames: WalkedFrames,
    },
    End {
        segment: usize,
        end: WalkEnd,
    },
}

impl Walked {
    fn segment(&self) -> usize {
        match self {
            Walked::Start { segment, .. }
            | Walked::Batch { segment, .. }
            | Walked::End { segment, .. } => *segment,
        }
    }
}

/// The frames of a walked batch, with what the calling thread needs of them for the file's
/// accounting without going through them one by one.
#[derive(Debug, Default)]
struct WalkedFrames {
    frames: Vec<FrameMeta>,
    /// Captured bytes of the frames.
    captured_bytes: u64,
    /// Frames with a timestamp earlier than the frame before, inside the batch.
    backwards: u64,
}

impl WalkedFrames {
    /// Takes the frames of `batch` (leaving it empty) and sums them up.
    fn take(&mut self, batch: &mut FrameBatch) {
        std::mem::swap(&mut self.frames, &mut batch.frames);
        batch.clear();
        self.captured_bytes = 0;
        self.backwards = 0;
        let mut last_ts_ns = self.frames.first().map_or(0, |f| f.ts_ns);
        for frame in &self.frames {
            self.captured_bytes += u64::from(frame.caplen);
            self.backwards += u64::from(frame.ts_ns < last_ts_ns);
            last_ts_ns = frame.ts_ns;
        }
    }
}

/// How a walk decodes its batches: the decode settings, how items are routed, and where
/// lane parts come from.
struct Decoding<'d> {
    decode: &'d DecodeConfig,
    routing: Routing,
    parts_pool: PartPool,
}

/// Walks and decodes the next batch of `walk` in `batch` (empty), moving its frames to
/// `walked`. Returns the batch's outcome (none if no frame was left) and how the walk ended,
/// once it has. The pages walked are released once decoded: outcomes own what they keep, and
/// frames only say where the bytes were.
fn walk_batch(
    walk: &mut SegmentWalk<'_>,
    decoding: &mut Decoding<'_>,
    batch: &mut FrameBatch,
    walked: &mut WalkedFrames,
) -> (Option<BatchOutcome>, Option<WalkEnd>) {
    let ended = walk.fill_batch(batch, BATCH_FRAMES, BATCH_BYTES);
    let outcome = (!batch.frames.is_empty()).then(|| {
        let outcome = decode_batch(
            batch,
            decoding.decode,
            decoding.routing,
            &decoding.parts_pool,
        );
        walked.take(batch);
        outcome
    });
    walk.release_walked();
    (outcome, ended)
}

/// Walks the records of `start..end` and decodes them batch by batch in `batch`, handing the
/// frames on in `walked` (both empty, reused from walk to walk, so that a file costs no
/// allocations per segment); `deliver` takes each batch's outcome and frames and hands back
/// frames to reuse, or `None` to stop. Returns how the walk ended (`None`: stopped).
fn walk_and_decode(
    pcap: &MappedPcap,
    decoding: &mut Decoding<'_>,
    start: usize,
    end: usize,
    batch: &mut FrameBatch,
    walked: &mut WalkedFrames,
    mut deliver: impl FnMut(BatchOutcome, WalkedFrames) -> Option<WalkedFrames>,
) -> Option<WalkEnd> {
    let mut walk = pcap.walk(start, end);
    loop {
        let (outcome, ended) = walk_batch(&mut walk, decoding, batch, walked);
        if let Some(outcome) = outcome {
            *walked = deliver(outcome, std::mem::take(walked))?;
        }
        if ended.is_some() {
            return ended;
        }
    }
}

/// Where the record chain goes on after a walk of `segment` ended with `end` (nowhere known
/// after a broken record).
fn chain_after(segment: usize, end: &WalkEnd) -> Option<(usize, usize)> {
    match end {
        WalkEnd::Next(next) => Some((segment, *next)),
        WalkEnd::Broken(..) => None,
    }
}

/// Where a walk of `segment` starts, and where the segment ends: the walk starts at the first
/// record of the file, where the walk of the segment before left the chain (`chain`: that
/// segment and the offset), or at a guess.
fn walk_start(
    pcap: &MappedPcap,
    segment_bytes: usize,
    segment: usize,
    chain: Option<(usize, usize)>,
) -> (usize, usize) {
    let (first_byte, last_byte) = segment_bounds(pcap, segment_bytes, segment);
    let start = match chain {
        Some((walked, next)) if walked + 1 == segment => next,
        _ if segment == 0 => pcap.first_record(),
        _ => pcap.resync(first_byte, last_byte),
    };
    (start, last_byte)
}

/// The aggregator's side of one file: the true record chain, and the file's accounting over
/// the frames of the segments in order.
struct Replay<'p> {
    pcap: &'p MappedPcap,
    segment_bytes: usize,
    segments: usize,
    meter: ProgressMeter,
    /// The segment taken next.
    next_segment: usize,
    /// Where the record chain enters the next segment: the true start of its first record.
    chain: usize,
    /// Frames of the file before the current segment.
    frames_before: u64,
    /// Frames of the current segment applied so far.
    segment_frames: u64,
    packets: u64,
    captured_bytes: u64,
    error: Option<CaptureError>,
    /// The batch and frames of the walks on this thread.
    walk_batch: FrameBatch,
    walk_frames: WalkedFrames,
}

impl<'p> Replay<'p> {
    fn new(pcap: &'p MappedPcap, segment_bytes: usize, meter: ProgressMeter) -> Self {
        Replay {
            pcap,
            segment_bytes,
            segments: segment_count(pcap, segment_bytes),
            meter,
            next_segment: 0,
            chain: pcap.first_record(),
            frames_before: 0,
            segment_frames: 0,
            packets: 0,
            captured_bytes: 0,
            error: None,
            walk_batch: FrameBatch::default(),
            walk_frames: WalkedFrames::default(),
        }
    }

    /// True while segments are left and no record was broken.
    fn more(&self) -> bool {
        self.next_segment < self.segments && self.error.is_none()
    }

    /// Folds one decoded batch of the current segment into the analysis (its items' frame
    /// numbers made absolute as they are applied).
    fn apply(
        &mut self,
        aggregator: &mut Aggregator<'_, '_>,
        timeline: &mut Timeline,
        outcome: BatchOutcome,
        walked: &WalkedFrames,
    ) {
        let frames = &walked.frames;
        let (Some(first), Some(last)) = (frames.first(), frames.last()) else {
            return;
        };
        timeline.count(first.ts_ns);
        timeline.backwards += walked.backwards;
        timeline.last_ts_ns = last.ts_ns;
        self.packets += frames.len() as u64;
        self.captured_bytes += walked.captured_bytes;
        aggregator.process(outcome, self.frames_before);
        self.segment_frames += frames.len() as u64;
        self.meter.report(self.captured_bytes, self.packets);
    }

    /// Takes the end of the current segment's walk (from its true start).
    fn end_segment(&mut self, end: WalkEnd) {
        match end {
            WalkEnd::Next(next) => self.chain = next,
            WalkEnd::Broken(offset, problem) => self.error = Some(self.pcap.error(offset, problem)),
        }
        self.frames_before += self.segment_frames;
        self.segment_frames = 0;
        self.next_segment += 1;
    }

    /// Walks the next segment from its true start on this thread and applies it. Returns
    /// whether more segments are to be read.
    fn walk_next_here(
        &mut self,
        decode: &DecodeConfig,
        aggregator: &mut Aggregator<'_, '_>,
        timeline: &mut Timeline,
    ) -> bool {
        let mut decoding = Decoding {
            decode,
            routing: aggregator.routing(),
            parts_pool: aggregator.parts_pool.clone(),
        };
        if !self.more() {
            return false;
        }
        let (_, end) = segment_bounds(self.pcap, self.segment_bytes, self.next_segment);
        let pcap = self.pcap;
        let mut batch = std::mem::take(&mut self.walk_batch);
        let mut walked = std::mem::take(&mut self.walk_frames);
        let ended = walk_and_decode(
            pcap,
            &mut decoding,
            self.chain,
            end,
            &mut batch,
            &mut walked,
            |outcome, walked| {
                self.apply(aggregator, timeline, outcome, &walked);
                Some(walked)
            },
        );
        self.walk_batch = batch;
        self.walk_frames = walked;
        // Nothing stops a walk on the calling thread.
        if let Some(ended) = ended {
            self.end_segment(ended);
        }
        self.more()
    }

    /// Ends the file: its summary and its error.
    fn finish(self) -> (FileSummary, Option<CaptureError>) {
        (
            self.pcap.summary(self.packets, self.captured_bytes),
            self.error,
        )
    }
}

/// Walks segments on `config.threads - 1` walker threads and, while it has nothing to apply,
/// on the calling thread; the calling thread takes the outcomes in segment order, checks each
/// segment's start and walks again those that started wrong. Each walker runs a lane.
fn read_in_parallel(
    config: &RunConfig,
    replay: &mut Replay<'_>,
    aggregator: &mut Aggregator<'_, '_>,
    timeline: &mut Timeline,
) {
    let walkers = config.threads - 1;
    let routing = aggregator.routing_for(config.threads);
    let mut remote = aggregator.start_read(routing.lanes).into_iter();
    let ahead = config.threads * TICKETS_PER_THREAD;
    let (ticket_tx, ticket_rx) = bounded::<usize>(replay.segments);
    for segment in 0..replay.segments.min(ahead) {
        let _ = ticket_tx.send(segment);
    }
    let (walked_tx, walked_rx) = bounded::<Walked>(walkers * QUEUE_PER_WALKER);
    let (recycle_tx, recycle_rx) = bounded::<WalkedFrames>(config.threads * QUEUE_PER_WALKER);
    let stop = AtomicBool::new(false);
    let pcap = replay.pcap;
    let mut idle = IdleWalks {
        pcap,
        decoding: Decoding {
            decode: &config.decode,
            routing,
            parts_pool: aggregator.parts_pool.clone(),
        },
        segment_bytes: config.segment_bytes,
        tickets: ticket_rx.clone(),
        recycle: recycle_rx.clone(),
        walking: None,
        chain: None,
        batch: FrameBatch::default(),
    };
    let returned = std::thread::scope(|scope| {
        let mut walkers_running = Vec::with_capacity(walkers);
        for _ in 0..walkers {
            let walker = Walker {
                pcap,
                decoding: Decoding {
                    decode: &config.decode,
                    routing,
                    parts_pool: aggregator.parts_pool.clone(),
                },
                segment_bytes: config.segment_bytes,
                tickets: ticket_rx.clone(),
                walked: walked_tx.clone(),
                recycle: recycle_rx.clone(),
                lane: remote.next(),
                stop: &stop,
            };
            walkers_running.push(scope.spawn(move || walker.run()));
        }
        drop((walked_tx, ticket_rx, recycle_rx));
        let mut held = Held::default();
        // The current segment's walk started at the true chain (its outcomes count).
        let mut trusted = false;
        'segments: while replay.more() {
            let current = replay.next_segment;
            loop {
                let Some(message) = held.next(current, &walked_rx, &mut idle, replay) else {
                    // Walkers only leave early when told to stop.
                    break 'segments;
                };
                match message {
                    Walked::Start { offset, .. } => {
                        trusted = offset == replay.chain;
                        if !trusted {
                            // A wrong guess (a fake header chain in a payload, a broken
                            // region): walk the segment again from the true chain, here.
                            replay.walk_next_here(&config.decode, aggregator, timeline);
                        }
                    }
                    Walked::Batch {
                        outcome, frames, ..
                    } => {
                        if trusted {
                            replay.apply(aggregator, timeline, *outcome, &frames);
                        }
                        let _ = recycle_tx.try_send(frames);
                    }
                    Walked::End { end, .. } => {
                        if trusted {
                            replay.end_segment(end);
                        }
                        break;
                    }
                }
            }
            held.forget(current);
            let next_ticket = current + ahead;
            if next_ticket < replay.segments {
                let _ = ticket_tx.send(next_ticket);
            }
        }
        stop.store(true, Ordering::Relaxed);
        drop(ticket_tx);
        // No part comes any more: walkers apply what they have and leave.
        aggregator.close_remote();
        // Let walkers blocked on a full queue finish.
        for _ in walked_rx.iter() {}
        walkers_running
            .into_iter()
            .filter_map(join)
            .collect::<Vec<Lane<'_>>>()
    });
    aggregator.end_read(returned);
}

/// Walked messages received (or walked on the calling thread) before their segment's turn.
#[derive(Default)]
struct Held(BTreeMap<usize, VecDeque<Walked>>);

impl Held {
    fn push(&mut self, message: Walked) {
        self.0
            .entry(message.segment())
            .or_default()
            .push_back(message);
    }

    /// The next message of `segment`: one held, one received, or one walked on this thread
    /// while nothing was received. `None` when none can come any more.
    fn next(
        &mut self,
        segment: usize,
        walked: &Receiver<Walked>,
        idle: &mut IdleWalks<'_>,
        replay: &Replay<'_>,
    ) -> Option<Walked> {
        loop {
            if let Some(message) = self.0.get_mut(&segment).and_then(VecDeque::pop_front) {
                return Some(message);
            }
            match walked.try_recv() {
                Ok(message) => self.push(message),
                Err(_) if idle.step(replay, self) => {}
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => self.push(walked.recv().ok()?),
            }
        }
    }

    /// Drops what is left of `segment` (nothing, once its end was taken).
    fn forget(&mut self, segment: usize) {
        self.0.remove(&segment);
    }
}

/// The calling thread's walking while it waits: it takes segment tickets like a walker and
/// walks its segment one batch at a time, so that it returns to applying as soon as a walker's
/// outcome of the segment it needs is there.
struct IdleWalks<'p> {
    pcap: &'p MappedPcap,
    decoding: Decoding<'p>,
    segment_bytes: usize,
    tickets: Receiver<usize>,
    recycle: Receiver<WalkedFrames>,
    /// The segment in hand and its walk.
    walking: Option<(usize, SegmentWalk<'p>)>,
    /// The segment this thread walked last and where its chain left it.
    chain: Option<(usize, usize)>,
    batch: FrameBatch,
}

impl IdleWalks<'_> {
    /// One step of work, its messages put in `held`: starts the next ticket's segment, or walks
    /// a batch of the segment in hand. Returns false when no work is left.
    fn step(&mut self, replay: &Replay<'_>, held: &mut Held) -> bool {
        let Some((segment, walk)) = &mut self.walking else {
            let Ok(segment) = self.tickets.try_recv() else {
                return false;
            };
            // The true chain is known for the segment the calling thread applies next.
            let chain = match segment == replay.next_segment && segment > 0 {
                true => Some((segment - 1, replay.chain)),
                false => self.chain,
            };
            let (start, end) = walk_start(self.pcap, self.segment_bytes, segment, chain);
            held.push(Walked::Start {
                segment,
                offset: start,
            });
            self.walking = Some((segment, self.pcap.walk(start, end)));
            return true;
        };
        let segment = *segment;
        let mut frames = self.recycle.try_recv().unwrap_or_default();
        let (outcome, ended) = walk_batch(walk, &mut self.decoding, &mut self.batch, &mut frames);
        if let Some(outcome) = outcome {
            held.push(Walked::Batch {
                segment,
                outcome: Box::new(outcome),
                frames,
            });
        }
        if let Some(end) = ended {
            self.chain = chain_after(segment, &end);
            held.push(Walked::End { segment, end });
            self.walking = None;
        }
        true
    }
}

/// A walker thread: takes segment tickets in order until they run out or it is told to stop,
/// and applies the parts of its lane as they come (between batches, and while it waits).
struct Walker<'p, 'w> {
    pcap: &'p MappedPcap,
    decoding: Decoding<'p>,
    segment_bytes: usize,
    tickets: Receiver<usize>,
    walked: Sender<Walked>,
    recycle: Receiver<WalkedFrames>,
    lane: Option<RemoteLane<'w>>,
    stop: &'p AtomicBool,
}

impl<'w> Walker<'_, 'w> {
    /// Walks, then hands its lane back once the aggregator lets it go.
    fn run(mut self) -> Option<Lane<'w>> {
        self.walk_tickets();
        // The aggregator waits for every walker's sender to go before it lets the lanes go.
        let Walker { walked, lane, .. } = self;
        drop(walked);
        lane.map(RemoteLane::finish)
    }

    fn walk_tickets(&mut self) {
        // The segment this walker walked last and where its chain left it.
        let mut chain: Option<(usize, usize)> = None;
        let mut batch = FrameBatch::default();
        let mut walked = WalkedFrames::default();
        while let Some(segment) = self.next_ticket() {
            let (start, last_byte) = walk_start(self.pcap, self.segment_bytes, segment, chain);
            let (stop, sender) = (self.stop, &self.walked);
            let send = |message| !stop.load(Ordering::Relaxed) && sender.send(message).is_ok();
            if !send(Walked::Start {
                segment,
                offset: start,
            }) {
                return;
            }
            let (lane, recycle) = (&mut self.lane, &self.recycle);
            let walked = walk_and_decode(
                self.pcap,
                &mut self.decoding,
                start,
                last_byte,
                &mut batch,
                &mut walked,
                |outcome, frames| {
                    if let Some(lane) = lane.as_mut() {
                        lane.apply_arrived();
                    }
                    send(Walked::Batch {
                        segment,
                        outcome: Box::new(outcome),
                        frames,
                    })
                    .then(|| recycle.try_recv().unwrap_or_default())
                },
            );
            let Some(end) = walked else {
                return;
            };
            chain = chain_after(segment, &end);
            if !send(Walked::End { segment, end }) {
                return;
            }
        }
    }

    /// The next segment ticket, applying the lane's parts while none is there.
    fn next_ticket(&mut self) -> Option<usize> {
        loop {
            let Some(lane) = self.lane.as_mut() else {
                return self.tickets.recv().ok();
            };
            lane.apply_arrived();
            crossbeam_channel::select! {
                recv(self.tickets) -> ticket => return ticket.ok(),
                recv(lane.parts) -> part => match part {
                    Ok(part) => lane.apply(part),
                    Err(_) => return self.tickets.recv().ok(),
                },
            }
        }
    }
}
