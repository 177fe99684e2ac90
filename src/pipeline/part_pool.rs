//! Emptied lane parts, kept for reuse by any thread. A part's vectors (items, found datagrams,
//! payload bytes) are filled by whichever thread decodes a batch and emptied by the thread of
//! its lane, and the two do not balance per thread: a thread may decode more batches than it
//! applies parts, or fewer. One pool shared by every thread of a read takes emptied parts from
//! all and gives them to any decoder, so a part's room is grown once and then reused.

use super::shards::PartItems;
use crossbeam_channel::{bounded, Receiver, Sender};

/// Emptied parts kept per lane (beyond, they are freed): as many as are in flight at once,
/// a lane's thread running tens of batches behind the calling thread's dispatch while it
/// walks. Never more are kept than were in flight.
const PARTS_PER_LANE: usize = 64;

/// The pool (a handle: clones share it).
#[derive(Debug, Clone)]
pub struct PartPool {
    emptied: Sender<PartItems>,
    reusable: Receiver<PartItems>,
}

impl PartPool {
    /// A pool for a run of at most `lanes` lanes.
    pub fn new(lanes: usize) -> Self {
        let (emptied, reusable) = bounded(lanes.max(1) * PARTS_PER_LANE);
        PartPool { emptied, reusable }
    }

    /// An emptied part, or a new one.
    pub fn take(&self) -> PartItems {
        self.reusable.try_recv().unwrap_or_default()
    }

    /// Takes `part` back, emptied (a full pool drops it).
    pub fn give(&self, mut part: PartItems) {
        part.clear();
        let _ = self.emptied.try_send(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_given_back_is_taken_again_emptied_with_its_room() {
        let pool = PartPool::new(1);
        let mut part = pool.take();
        part.payloads.extend_from_slice(&[7; 1000]);
        let room = part.payloads.capacity();
        // Given back on one handle, taken on another (another thread's).
        pool.clone().give(part);
        let again = pool.take();
        assert!(again.payloads.is_empty());
        assert_eq!(again.payloads.capacity(), room);
        assert_eq!(pool.take().payloads.capacity(), 0);
    }

    #[test]
    fn a_full_pool_drops_what_it_cannot_hold() {
        let pool = PartPool::new(1);
        for _ in 0..PARTS_PER_LANE + 3 {
            let mut part = PartItems::default();
            part.payloads.push(1);
            pool.give(part);
        }
        let kept = std::iter::from_fn(|| pool.reusable.try_recv().ok()).count();
        assert_eq!(kept, PARTS_PER_LANE);
    }
}
