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
//! offset. It numbers frames (walkers count from 1 in each segment), counts timestamps that go
//! backwards, sums the file summary, stops at the first broken record with the reader's error,
//! and replays the reader's batch boundaries: the analysis lets capture time pass at the end of
//! each batch, so the boundaries must be the serial ones (every [`BATCH_FRAMES`] frames or
//! [`BATCH_BYTES`] bytes, and at the end of the file).

use super::{decode_batch, retire_channels, Aggregator, BatchOutcome, ProgressMeter};
use super::{join_all, RetiredDropper, RunConfig, Timeline};
use super::{BATCH_BYTES, BATCH_FRAMES};
use crate::capture::{
    CaptureError, FileSummary, FrameBatch, FrameMeta, MappedPcap, SegmentWalk, WalkEnd,
};
use crate::decode::{DecodeConfig, Decoded};
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
        while replay.walk_next_here(&config.decode, aggregator, timeline) {}
    } else {
        read_in_parallel(config, &mut replay, aggregator, timeline);
    }
    replay.finish(aggregator)
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

/// The batch the serial reader would be filling: it ends after [`BATCH_FRAMES`] frames, or
/// after the frame that brings it to [`BATCH_BYTES`] bytes, or at the end of the file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct SerialBatch {
    frames: usize,
    bytes: usize,
    /// Capture time of its last frame.
    last_ts_ns: u64,
}

impl SerialBatch {
    /// The index of the frame from `next` on after which the serial reader's batch in progress
    /// ends ([`BATCH_FRAMES`] frames, or [`BATCH_BYTES`] bytes reached), if it ends in this
    /// batch; otherwise counts the rest of the batch into the batch in progress. `byte_sums`:
    /// the running sums of the batch's captured bytes.
    fn next_cut(&mut self, byte_sums: &[u64], next: usize) -> Option<usize> {
        let (&before, rest) = match next.checked_sub(1) {
            Some(previous) => (byte_sums.get(previous)?, byte_sums.get(next..)?),
            None => (&0, byte_sums),
        };
        let last = rest.len().checked_sub(1)?;
        let bytes_left = (BATCH_BYTES - self.bytes) as u64;
        let by_count = (BATCH_FRAMES - self.frames - 1).min(last);
        // The first frame at which the bytes reach the limit, if before the count does.
        let by_bytes = rest[..=by_count].partition_point(|&sum| sum - before < bytes_left);
        let cut = if by_bytes <= by_count {
            by_bytes
        } else if self.frames + by_count + 1 == BATCH_FRAMES {
            by_count
        } else {
            // No cut here: the rest of the batch joins the batch in progress.
            self.frames += rest.len();
            self.bytes += (rest[last] - before) as usize;
            return None;
        };
        self.frames = 0;
        self.bytes = 0;
        Some(next + cut)
    }
}

/// The frames of a walked batch, with what the calling thread needs to replay the serial
/// reader's accounting without going through them one by one.
#[derive(Debug, Default)]
struct WalkedFrames {
    frames: Vec<FrameMeta>,
    /// Captured bytes of the frames up to and including each one.
    byte_sums: Vec<u64>,
    /// Frames with a timestamp earlier than the frame before, inside the batch.
    backwards: u64,
}

impl WalkedFrames {
    /// Takes the frames of `batch` (leaving it empty) and sums them up.
    fn take(&mut self, batch: &mut FrameBatch) {
        std::mem::swap(&mut self.frames, &mut batch.frames);
        batch.clear();
        self.byte_sums.clear();
        self.backwards = 0;
        let mut bytes = 0;
        let mut last_ts_ns = self.frames.first().map_or(0, |f| f.ts_ns);
        for frame in &self.frames {
            bytes += u64::from(frame.caplen);
            self.byte_sums.push(bytes);
            self.backwards += u64::from(frame.ts_ns < last_ts_ns);
            last_ts_ns = frame.ts_ns;
        }
    }
}

/// Walks and decodes the next batch of `walk` in `batch` (empty), moving its frames to
/// `walked`. Returns the batch's outcome (none if no frame was left) and how the walk ended,
/// once it has. The pages walked are released once decoded: outcomes own what they keep, and
/// frames only say where the bytes were.
fn walk_batch(
    walk: &mut SegmentWalk<'_>,
    decode: &DecodeConfig,
    batch: &mut FrameBatch,
    walked: &mut WalkedFrames,
    ordered: &mut Vec<Decoded>,
) -> (Option<BatchOutcome>, Option<WalkEnd>) {
    let ended = walk.fill_batch(batch, BATCH_FRAMES, BATCH_BYTES);
    let outcome = (!batch.frames.is_empty()).then(|| {
        let outcome = decode_batch(batch, decode, ordered);
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
    decode: &DecodeConfig,
    start: usize,
    end: usize,
    batch: &mut FrameBatch,
    walked: &mut WalkedFrames,
    mut deliver: impl FnMut(BatchOutcome, WalkedFrames) -> Option<WalkedFrames>,
) -> Option<WalkEnd> {
    let mut walk = pcap.walk(start, end);
    let mut ordered = Vec::new();
    loop {
        let (outcome, ended) = walk_batch(&mut walk, decode, batch, walked, &mut ordered);
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

/// The aggregator's side of one file: the true record chain, and the serial reader's
/// accounting replayed over the frames of the segments in order.
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
    /// The serial reader's batch in progress.
    serial: SerialBatch,
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
            serial: SerialBatch::default(),
            error: None,
            walk_batch: FrameBatch::default(),
            walk_frames: WalkedFrames::default(),
        }
    }

    /// True while segments are left and no record was broken.
    fn more(&self) -> bool {
        self.next_segment < self.segments && self.error.is_none()
    }

    /// Folds one decoded batch of the current segment into the analysis, as the serial reader's
    /// batches would have brought it: frame numbers made absolute, time passing at the serial
    /// batch boundaries (found from the batch's running byte sums, not frame by frame).
    fn apply(
        &mut self,
        aggregator: &mut Aggregator<'_, '_>,
        timeline: &mut Timeline,
        mut outcome: BatchOutcome,
        walked: &WalkedFrames,
    ) {
        let frames = &walked.frames;
        let (Some(first), Some(last), Some(&bytes)) =
            (frames.first(), frames.last(), walked.byte_sums.last())
        else {
            return;
        };
        aggregator.start_capture(first.ts_ns);
        aggregator
            .analyzer
            .add_counters(std::mem::take(&mut outcome.counters));
        timeline.count(first.ts_ns);
        timeline.backwards += walked.backwards;
        timeline.last_ts_ns = last.ts_ns;
        self.packets += frames.len() as u64;
        self.captured_bytes += bytes;
        // Walkers number frames from 1 in each segment; an item's number is made absolute as
        // it is fed (when the analysis reads its message anyway, prefetched: a pass over the
        // batch beforehand waited for each message's line from the walker's core).
        let base = self.frames_before;
        let mut items = outcome.ordered.into_iter();
        let mut next = 0;
        while let Some(cut) = self.serial.next_cut(&walked.byte_sums, next) {
            let frame = &frames[cut];
            while items
                .as_mut_slice()
                .first_mut()
                .and_then(Decoded::frame_mut)
                .is_some_and(|f| f.frame_number <= frame.frame_number)
            {
                feed_numbered(aggregator, &mut items, base);
            }
            aggregator.end_batch(frame.ts_ns);
            next = cut + 1;
        }
        self.serial.last_ts_ns = last.ts_ns;
        while !items.as_slice().is_empty() {
            feed_numbered(aggregator, &mut items, base);
        }
        self.segment_frames += frames.len() as u64;
        self.meter.report(self.captured_bytes);
    }

    /// Ends the serial reader's batch in progress, if it holds frames.
    fn end_batch(&mut self, aggregator: &mut Aggregator<'_, '_>) {
        if self.serial.frames > 0 {
            aggregator.end_batch(self.serial.last_ts_ns);
        }
        self.serial = SerialBatch::default();
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
        if !self.more() {
            return false;
        }
        let (_, end) = segment_bounds(self.pcap, self.segment_bytes, self.next_segment);
        let pcap = self.pcap;
        let mut batch = std::mem::take(&mut self.walk_batch);
        let mut walked = std::mem::take(&mut self.walk_frames);
        let ended = walk_and_decode(
            pcap,
            decode,
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

    /// Ends the file: the serial reader's last batch, the summary and the error.
    fn finish(
        mut self,
        aggregator: &mut Aggregator<'_, '_>,
    ) -> (FileSummary, Option<CaptureError>) {
        self.end_batch(aggregator);
        (
            self.pcap.summary(self.packets, self.captured_bytes),
            self.error,
        )
    }
}

/// Feeds the next of `items` to the analysis, its frame number made absolute (`base` frames
/// came before its segment).
fn feed_numbered(
    aggregator: &mut Aggregator<'_, '_>,
    items: &mut std::vec::IntoIter<Decoded>,
    base: u64,
) {
    let Some(mut item) = items.next() else {
        return;
    };
    if let Some(frame) = item.frame_mut() {
        frame.frame_number += base;
    }
    aggregator.feed(item, items.as_slice());
}

/// Walks segments on `config.threads - 1` walker threads and, while it has nothing to apply,
/// on the calling thread; the calling thread takes the outcomes in segment order, checks each
/// segment's start and walks again those that started wrong.
fn read_in_parallel(
    config: &RunConfig,
    replay: &mut Replay<'_>,
    aggregator: &mut Aggregator<'_, '_>,
    timeline: &mut Timeline,
) {
    let walkers = config.threads - 1;
    let ahead = config.threads * TICKETS_PER_THREAD;
    let (ticket_tx, ticket_rx) = bounded::<usize>(replay.segments);
    for segment in 0..replay.segments.min(ahead) {
        let _ = ticket_tx.send(segment);
    }
    let (walked_tx, walked_rx) = bounded::<Walked>(walkers * QUEUE_PER_WALKER);
    let (recycle_tx, recycle_rx) = bounded::<WalkedFrames>(config.threads * QUEUE_PER_WALKER);
    let (retire_channels, retired_dropper) = retire_channels(walkers * QUEUE_PER_WALKER);
    aggregator.retire = Some(retire_channels);
    let stop = AtomicBool::new(false);
    let pcap = replay.pcap;
    let mut idle = IdleWalks {
        pcap,
        decode: &config.decode,
        segment_bytes: config.segment_bytes,
        tickets: ticket_rx.clone(),
        recycle: recycle_rx.clone(),
        walking: None,
        chain: None,
        batch: FrameBatch::default(),
        ordered: Vec::new(),
    };
    std::thread::scope(|scope| {
        let mut walkers_running = Vec::with_capacity(walkers);
        for _ in 0..walkers {
            let walker = Walker {
                pcap,
                decode: &config.decode,
                segment_bytes: config.segment_bytes,
                tickets: ticket_rx.clone(),
                walked: walked_tx.clone(),
                recycle: recycle_rx.clone(),
                retired: retired_dropper.clone(),
                stop: &stop,
            };
            walkers_running.push(scope.spawn(move || walker.run()));
        }
        drop((walked_tx, ticket_rx, recycle_rx, retired_dropper));
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
        // Let walkers blocked on a full queue finish.
        for _ in walked_rx.iter() {}
        join_all(walkers_running);
    });
    aggregator.retire = None;
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
    decode: &'p DecodeConfig,
    segment_bytes: usize,
    tickets: Receiver<usize>,
    recycle: Receiver<WalkedFrames>,
    /// The segment in hand and its walk.
    walking: Option<(usize, SegmentWalk<'p>)>,
    /// The segment this thread walked last and where its chain left it.
    chain: Option<(usize, usize)>,
    batch: FrameBatch,
    ordered: Vec<Decoded>,
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
        let (outcome, ended) = walk_batch(
            walk,
            self.decode,
            &mut self.batch,
            &mut frames,
            &mut self.ordered,
        );
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

/// A walker thread: takes segment tickets in order until they run out or it is told to stop.
struct Walker<'p> {
    pcap: &'p MappedPcap,
    decode: &'p DecodeConfig,
    segment_bytes: usize,
    tickets: Receiver<usize>,
    walked: Sender<Walked>,
    recycle: Receiver<WalkedFrames>,
    /// What the analysis retired, dropped here (off the aggregating thread).
    retired: RetiredDropper,
    stop: &'p AtomicBool,
}

impl Walker<'_> {
    fn run(self) {
        // The segment this walker walked last and where its chain left it.
        let mut chain: Option<(usize, usize)> = None;
        let mut batch = FrameBatch::default();
        let mut walked = WalkedFrames::default();
        for segment in self.tickets.iter() {
            let (start, last_byte) = walk_start(self.pcap, self.segment_bytes, segment, chain);
            let send =
                |message| !self.stop.load(Ordering::Relaxed) && self.walked.send(message).is_ok();
            if !send(Walked::Start {
                segment,
                offset: start,
            }) {
                return;
            }
            let walked = walk_and_decode(
                self.pcap,
                self.decode,
                start,
                last_byte,
                &mut batch,
                &mut walked,
                |outcome, frames| {
                    self.retired.drop_retired();
                    send(Walked::Batch {
                        segment,
                        outcome: Box::new(outcome),
                        frames,
                    })
                    .then(|| self.recycle.try_recv().unwrap_or_default())
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The serial reader's cuts, frame by frame: the indices of the frames that end a batch.
    fn serial_cuts(caplens: &[u64]) -> (Vec<usize>, SerialBatch) {
        let mut cuts = Vec::new();
        let mut open = SerialBatch::default();
        for (index, caplen) in caplens.iter().enumerate() {
            open.frames += 1;
            open.bytes += *caplen as usize;
            if open.frames == BATCH_FRAMES || open.bytes >= BATCH_BYTES {
                cuts.push(index);
                open = SerialBatch::default();
            }
        }
        (cuts, open)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

        #[test]
        fn cuts_from_byte_sums_are_the_serial_readers(
            caplens in proptest::collection::vec(
                prop_oneof![0u64..100, 0u64..2000, 60_000u64..70_000], 1..7000),
            chunk_sizes in proptest::collection::vec(1usize..3000, 1..20),
        ) {
            let (expected, expected_open) = serial_cuts(&caplens);
            let mut cuts = Vec::new();
            let mut open = SerialBatch::default();
            let mut done = 0;
            for chunk in chunk_sizes.iter().cycle() {
                let chunk = &caplens[done..(done + chunk).min(caplens.len())];
                let sums: Vec<u64> = chunk
                    .iter()
                    .scan(0, |sum, caplen| { *sum += caplen; Some(*sum) })
                    .collect();
                let mut next = 0;
                while let Some(cut) = open.next_cut(&sums, next) {
                    cuts.push(done + cut);
                    next = cut + 1;
                }
                done += chunk.len();
                if done == caplens.len() {
                    break;
                }
            }
            prop_assert_eq!(cuts, expected);
            prop_assert_eq!((open.frames, open.bytes), (expected_open.frames, expected_open.bytes));
        }
    }
}
