//! The transaction log across lanes. Every lane renders the transactions its shards finish
//! (in parallel, with a [`LogRenderer`]) into a chunk per batch; the calling thread merges the
//! lanes' chunks of a batch once every lane has handed its chunk in, and a [`LogWriter`] writes
//! the entries in the log's order.
//!
//! The order is that of [`LogKey`]: by where the transaction closed ([`Closing`]: the frame
//! whose tick or message closed it, a tick before the frame's messages; those still pending at
//! the end last), then by shard, then in the order the shard closed them. Each shard sees its
//! items and ticks at the same places whatever the lanes, batches or segments, so every key
//! is the same on any cut; and a batch's keys all lie between those of the batches before and
//! after it, so writing batch by batch gives the whole log in key order. A batch is a few
//! thousand frames: what waits to be written is the entries of the batches some lane has not
//! applied yet (as far as a lane's thread lags behind the calling thread, whose parts wait in
//! its queue meanwhile), never a whole tick of capture time.
//!
//! Nothing here knows a format: the renderer's chunk type is erased on its way through the
//! lanes (one type check per entry) and restored for the writer.

use crate::analyze::{FrameRef, Transaction};
use crossbeam_channel::{Receiver, Sender};
use smallvec::SmallVec;
use std::any::Any;
use std::collections::VecDeque;

/// Turns transactions into entries of chunks, on the lanes' threads (one renderer shared by
/// every lane: per-lane state belongs in the chunk).
pub trait LogRenderer: Sync {
    /// The entries one lane rendered from one batch (lines, rows, column builders).
    type Chunk: Default + Send + 'static;
    /// Appends exactly one entry, that of `transaction`, to `chunk`.
    fn render(&self, transaction: &Transaction, chunk: &mut Self::Chunk);
    /// Empties `chunk` for reuse, keeping its room.
    fn clear(&self, chunk: &mut Self::Chunk);
}

/// Renders each transaction as a copy of itself, for writers that take whole transactions in
/// the log's order (the Parquet log builds its rows on the calling thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct CopiedTransactions;

impl LogRenderer for CopiedTransactions {
    type Chunk = Vec<Transaction>;

    fn render(&self, transaction: &Transaction, chunk: &mut Vec<Transaction>) {
        chunk.push(transaction.clone());
    }

    fn clear(&self, chunk: &mut Vec<Transaction>) {
        chunk.clear();
    }
}

/// Writes rendered entries in the log's order, on the calling thread.
pub trait LogWriter<C> {
    /// Writes the entries `order` names, in that order: each is (index in `chunks`, index of
    /// the entry in that chunk). A failure is the writer's to keep and report.
    fn write(&mut self, chunks: &[&C], order: &[(usize, usize)]);
}

/// Where a transaction closed: its place in the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Closing {
    /// At a frame.
    At(FrameRef, Phase),
    /// At the end of the capture (queries still pending).
    End,
}

/// What closed transactions at a frame, in the order they happen there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The frame crossed a grid line of the tick grid (expiry), before its messages.
    Tick,
    /// The frame's messages (a response, an eviction, a timeout passed by its timestamp).
    Message,
    /// A live capture's wall-clock tick after the batch that ends with the frame.
    LiveTick,
}

/// A log entry's place in the log. Within a shard and a closing place, `sequence` counts up
/// in the order the shard closed them (a lane's counter: only its order among one shard's
/// entries of one place matters, and those are all made by one lane in a row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogKey {
    /// Where it closed.
    pub closing: Closing,
    /// The shard that closed it.
    pub shard: u16,
    /// Its turn in the lane.
    pub sequence: u64,
}

/// What one lane rendered from one batch: entries of the renderer's chunk type, each with its
/// key.
pub struct LogChunk {
    /// The batch, numbered by the aggregator.
    batch: u64,
    /// Each entry's key and index, sorted by key once handed over.
    keys: Vec<(LogKey, u32)>,
    /// The renderer's chunk.
    entries: Box<dyn Any + Send>,
}

/// A [`LogRenderer`] with its chunk type erased, for the lanes.
trait ErasedRenderer: Sync {
    fn new_entries(&self) -> Box<dyn Any + Send>;
    fn render(&self, transaction: &Transaction, entries: &mut (dyn Any + Send));
    fn clear(&self, entries: &mut (dyn Any + Send));
}

impl<R: LogRenderer> ErasedRenderer for R {
    fn new_entries(&self) -> Box<dyn Any + Send> {
        Box::<R::Chunk>::default()
    }

    fn render(&self, transaction: &Transaction, entries: &mut (dyn Any + Send)) {
        // Always there: every chunk of a run is made by its one renderer.
        if let Some(chunk) = entries.downcast_mut::<R::Chunk>() {
            LogRenderer::render(self, transaction, chunk);
        }
    }

    fn clear(&self, entries: &mut (dyn Any + Send)) {
        if let Some(chunk) = entries.downcast_mut::<R::Chunk>() {
            LogRenderer::clear(self, chunk);
        }
    }
}

/// What every lane of a logged run renders with: the renderer, and chunks emptied by the
/// aggregator to fill again.
#[derive(Clone)]
pub struct LogTap<'r> {
    renderer: &'r dyn ErasedRenderer,
    recycled: Receiver<LogChunk>,
}

impl std::fmt::Debug for LogTap<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogTap")
    }
}

impl<'r> LogTap<'r> {
    /// A lane's log, with an empty chunk.
    pub fn lane_log(&self) -> LaneLog<'r> {
        LaneLog {
            chunk: self.fresh_chunk(),
            sequence: 0,
            tap: self.clone(),
        }
    }

    fn fresh_chunk(&self) -> LogChunk {
        self.recycled.try_recv().unwrap_or_else(|_| LogChunk {
            batch: 0,
            keys: Vec::new(),
            entries: self.renderer.new_entries(),
        })
    }
}

/// A lane's side of the log: the chunk it is filling.
#[derive(Debug)]
pub struct LaneLog<'r> {
    tap: LogTap<'r>,
    chunk: LogChunk,
    sequence: u64,
}

impl std::fmt::Debug for LogChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogChunk")
            .field("batch", &self.batch)
            .field("entries", &self.keys.len())
            .finish()
    }
}

impl<'r> LaneLog<'r> {
    /// The lane's log, if any, as a sink for the transactions `shard` closes at `closing`.
    pub fn sink<'l>(
        log: &'l mut Option<LaneLog<'r>>,
        closing: Closing,
        shard: usize,
    ) -> impl FnMut(&Transaction) + use<'l, 'r> {
        move |transaction| {
            if let Some(log) = log.as_mut() {
                log.record(closing, shard as u16, transaction);
            }
        }
    }

    /// What the lane renders with (for the lanes of the next read).
    pub fn tap(&self) -> LogTap<'r> {
        self.tap.clone()
    }

    fn record(&mut self, closing: Closing, shard: u16, transaction: &Transaction) {
        let key = LogKey {
            closing,
            shard,
            sequence: self.sequence,
        };
        self.sequence += 1;
        let index = self.chunk.keys.len() as u32;
        self.tap
            .renderer
            .render(transaction, &mut *self.chunk.entries);
        self.chunk.keys.push((key, index));
    }

    /// Hands over what was rendered since the last call, as the chunk of `batch` (sorted by
    /// key: a lane makes its entries nearly in order, so this is a check but for the rare
    /// frame whose items went to two of its shards).
    pub fn take(&mut self, batch: u64) -> LogChunk {
        let fresh = self.tap.fresh_chunk();
        let mut chunk = std::mem::replace(&mut self.chunk, fresh);
        chunk.batch = batch;
        if !chunk.keys.is_sorted_by_key(|(key, _)| *key) {
            chunk.keys.sort_unstable_by_key(|(key, _)| *key);
        }
        chunk
    }
}

/// A [`LogWriter`] with its chunk type erased.
trait ErasedWriter {
    fn write(&mut self, chunks: &[LogChunk], order: &[(usize, usize)]);
}

/// Restores the chunk type for a typed writer.
struct TypedWriter<'w, C> {
    writer: &'w mut dyn LogWriter<C>,
}

impl<C: 'static> ErasedWriter for TypedWriter<'_, C> {
    fn write(&mut self, chunks: &[LogChunk], order: &[(usize, usize)]) {
        let typed: SmallVec<[&C; 8]> = chunks
            .iter()
            .filter_map(|chunk| chunk.entries.downcast_ref::<C>())
            .collect();
        // Always all of them: every chunk of a run is made by its one renderer.
        if typed.len() == chunks.len() {
            self.writer.write(&typed, order);
        }
    }
}

/// A batch's chunks as they come in.
struct Waiting {
    batch: u64,
    /// Chunks the batch needs (one per lane of its read).
    lanes: usize,
    chunks: Vec<LogChunk>,
}

/// The aggregator's side of the log: the chunks of batches not yet written, written batch by
/// batch in dispatch order once complete.
pub struct LogMerge<'s> {
    writer: Box<dyn ErasedWriter + 's>,
    renderer: &'s dyn ErasedRenderer,
    waiting: VecDeque<Waiting>,
    /// Emptied lists of a batch's chunks, to reuse.
    spare_lists: Vec<Vec<LogChunk>>,
    recycle: Sender<LogChunk>,
    /// Reused: the merged order of a batch's entries.
    order: Vec<(usize, usize)>,
}

/// Emptied chunks kept for reuse, per lane. The calling thread's lane runs batches ahead of a
/// busy remote lane, then a burst of batches completes at once: the pool must hold a burst's
/// chunks, or each burst frees chunks that the lanes then grow again from nothing (a chunk of
/// NDJSON lines is about a megabyte of fresh pages). Reuse never keeps more chunks than were
/// in flight at once.
const RECYCLED_PER_LANE: usize = 16;

impl<'s> LogMerge<'s> {
    /// The merge writing with `writer`, and what lanes render with.
    pub fn new<R: LogRenderer>(
        renderer: &'s R,
        writer: &'s mut dyn LogWriter<R::Chunk>,
        most_lanes: usize,
    ) -> (Self, LogTap<'s>) {
        let (recycle, recycled) = crossbeam_channel::bounded(most_lanes * RECYCLED_PER_LANE);
        let merge = LogMerge {
            writer: Box::new(TypedWriter { writer }),
            renderer,
            waiting: VecDeque::new(),
            spare_lists: Vec::new(),
            recycle,
            order: Vec::new(),
        };
        (merge, LogTap { renderer, recycled })
    }

    /// Batch `batch` was dispatched to `lanes` lanes (batches are numbered in dispatch order).
    pub fn expect(&mut self, batch: u64, lanes: usize) {
        let chunks = self.spare_lists.pop().unwrap_or_default();
        self.waiting.push_back(Waiting {
            batch,
            lanes,
            chunks,
        });
    }

    /// Takes a lane's chunk and writes every batch now complete, in order.
    pub fn add(&mut self, chunk: LogChunk) {
        if let Some(waiting) = self.waiting.iter_mut().find(|w| w.batch == chunk.batch) {
            waiting.chunks.push(chunk);
        }
        while self
            .waiting
            .front()
            .is_some_and(|w| w.chunks.len() >= w.lanes)
        {
            if let Some(complete) = self.waiting.pop_front() {
                self.write(complete.chunks);
            }
        }
    }

    /// True when every dispatched batch is written.
    pub fn is_done(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Writes the chunks of one batch merged in key order, and recycles them.
    fn write(&mut self, mut chunks: Vec<LogChunk>) {
        merge_order(&chunks, &mut self.order);
        if !self.order.is_empty() {
            self.writer.write(&chunks, &self.order);
        }
        for mut chunk in chunks.drain(..) {
            chunk.keys.clear();
            self.renderer.clear(&mut *chunk.entries);
            // A full recycle channel only means less reuse.
            let _ = self.recycle.try_send(chunk);
        }
        self.spare_lists.push(chunks);
    }

    /// Writes the chunks of the capture's end (made after every batch, one per lane that
    /// ended shards), merged by key.
    pub fn finish(&mut self, ends: Vec<LogChunk>) {
        self.write(ends);
    }
}

/// The entries of `chunks` (each sorted by key) merged by key into `order`, as (chunk, entry).
fn merge_order(chunks: &[LogChunk], order: &mut Vec<(usize, usize)>) {
    order.clear();
    let mut heads: SmallVec<[usize; 16]> = SmallVec::from_elem(0, chunks.len());
    loop {
        let next = chunks
            .iter()
            .enumerate()
            .filter_map(|(index, chunk)| chunk.keys.get(heads[index]).map(|k| (k.0, index)))
            .min();
        let Some((_, index)) = next else {
            return;
        };
        order.push((index, chunks[index].keys[heads[index]].1 as usize));
        heads[index] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A renderer whose entries are the transactions' DNS ids.
    struct Ids;

    impl LogRenderer for Ids {
        type Chunk = Vec<u16>;
        fn render(&self, transaction: &Transaction, chunk: &mut Vec<u16>) {
            chunk.push(transaction.id);
        }
        fn clear(&self, chunk: &mut Vec<u16>) {
            chunk.clear();
        }
    }

    impl LogWriter<Vec<u16>> for Vec<u16> {
        fn write(&mut self, chunks: &[&Vec<u16>], order: &[(usize, usize)]) {
            self.extend(order.iter().map(|&(chunk, entry)| chunks[chunk][entry]));
        }
    }

    fn transaction(id: u16) -> Transaction {
        Transaction::with_id(id)
    }

    fn at(frame_number: u64, phase: Phase) -> Closing {
        Closing::At(
            FrameRef {
                file_index: 0,
                frame_number,
            },
            phase,
        )
    }

    /// One event of a shard: a transaction it closed at a frame (by a tick or a message).
    #[derive(Debug, Clone, Copy)]
    struct Event {
        frame: u64,
        tick: bool,
        shard: usize,
    }

    /// Writes `events` (in capture order, as the shards close them) through lanes holding the
    /// shards `s % lanes`, batches ending after the frames in `cuts`; the lanes hand their
    /// chunks in, in the order `arrival` says.
    fn log_of(events: &[Event], lanes: usize, cuts: &[u64], arrival: &[usize]) -> Vec<u16> {
        let mut written = Vec::new();
        let (mut merge, tap) = LogMerge::new(&Ids, &mut written, lanes);
        let mut lane_logs: Vec<Option<LaneLog<'_>>> =
            (0..lanes).map(|_| Some(tap.lane_log())).collect();
        let mut batch = 0;
        let mut in_hand = Vec::new();
        let hand_in = |merge: &mut LogMerge<'_>, in_hand: &mut Vec<LogChunk>| {
            for (turn, lane) in arrival.iter().enumerate() {
                if !in_hand.is_empty() {
                    let chunk = in_hand.remove((lane + turn) % in_hand.len());
                    merge.add(chunk);
                }
            }
            for chunk in in_hand.drain(..) {
                merge.add(chunk);
            }
        };
        let mut events = events.iter().enumerate().peekable();
        let mut bounds: Vec<u64> = cuts.to_vec();
        bounds.push(u64::MAX);
        bounds.sort_unstable();
        for bound in bounds {
            merge.expect(batch, lanes);
            while let Some((id, event)) = events.next_if(|(_, e)| e.frame <= bound) {
                let phase = if event.tick {
                    Phase::Tick
                } else {
                    Phase::Message
                };
                let log = &mut lane_logs[event.shard % lanes];
                LaneLog::sink(log, at(event.frame, phase), event.shard)(&transaction(id as u16));
            }
            for log in lane_logs.iter_mut().flatten() {
                in_hand.push(log.take(batch));
            }
            hand_in(&mut merge, &mut in_hand);
            batch += 1;
        }
        assert!(merge.is_done());
        drop(merge);
        written
    }

    proptest! {
        #[test]
        fn the_merged_log_does_not_depend_on_lanes_cuts_or_arrival(
            raw in proptest::collection::vec((0u64..3, any::<bool>(), 0usize..8), 0..200),
            lanes in 1usize..6,
            cuts in proptest::collection::vec(0u64..400, 0..10),
            arrival in proptest::collection::vec(0usize..6, 0..6),
        ) {
            // Events in capture order: frames going up, at each frame ticks before messages,
            // a shard's events at one place in a row.
            let mut frame = 1;
            let mut events: Vec<Event> = raw
                .iter()
                .map(|&(step, tick, shard)| {
                    frame += step;
                    Event { frame, tick, shard }
                })
                .collect();
            events.sort_by_key(|e| (e.frame, !e.tick, e.shard));
            let log = log_of(&events, lanes, &cuts, &arrival);
            prop_assert_eq!(&log, &log_of(&events, 1, &[], &[]));
            // The order is the key's: place, then shard, then the shard's own order.
            let mut expected: Vec<(u64, bool, usize, u16)> = events
                .iter()
                .enumerate()
                .map(|(id, e)| (e.frame, !e.tick, e.shard, id as u16))
                .collect();
            expected.sort();
            let ids: Vec<u16> = expected.iter().map(|e| e.3).collect();
            prop_assert_eq!(log, ids);
        }
    }

    #[test]
    fn a_batch_is_written_only_once_every_lane_handed_its_chunk_in() {
        let mut written = Vec::new();
        let (mut merge, tap) = LogMerge::new(&Ids, &mut written, 2);
        let (mut first, mut second) = (Some(tap.lane_log()), Some(tap.lane_log()));
        merge.expect(0, 2);
        merge.expect(1, 2);
        LaneLog::sink(&mut first, at(5, Phase::Message), 0)(&transaction(5));
        LaneLog::sink(&mut second, at(2, Phase::Message), 1)(&transaction(2));
        let first_0 = first.as_mut().map(|log| log.take(0));
        LaneLog::sink(&mut first, at(9, Phase::Tick), 0)(&transaction(9));
        let first_1 = first.as_mut().map(|log| log.take(1));
        let second_0 = second.as_mut().map(|log| log.take(0));
        let second_1 = second.as_mut().map(|log| log.take(1));
        // Batch 1 of the first lane comes before batch 0 is complete: nothing is written.
        merge.add(first_1.unwrap());
        merge.add(first_0.unwrap());
        assert!(!merge.is_done());
        merge.add(second_0.unwrap());
        merge.add(second_1.unwrap());
        assert!(merge.is_done());
        let mut end = Some(tap.lane_log());
        LaneLog::sink(&mut end, Closing::End, 3)(&transaction(11));
        LaneLog::sink(&mut end, Closing::End, 0)(&transaction(10));
        merge.finish(end.as_mut().map(|log| log.take(2)).into_iter().collect());
        drop(merge);
        assert_eq!(written, [2, 5, 9, 10, 11]);
    }
}
