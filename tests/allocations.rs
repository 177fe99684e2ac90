//! No heap allocation per packet on the paths that carry no watched DNS: a whole analyze run
//! over non-DNS traffic (a) and over DNS for other names mixed with non-DNS traffic (b, without
//! the watched share) allocates as often for 1 M packets as for 100 k on one thread, and on two
//! threads (a walker and the calling thread) at most a few times per batch of
//! [`pcdns::pipeline::BATCH_FRAMES`] frames (a walked batch's outcome is boxed to cross between
//! threads). A counting global allocator counts every allocation the test's own thread makes
//! during a one-thread run, and every allocation of any thread during a two-thread run (the
//! tests are serialized, so nothing of the other test is counted).

mod common;
use common::{run_config, synth_capture};
use pcdns::analyze::Watching;
use pcdns::capture::WriteFormat;
use pcdns::decode::WatchList;
use pcdns::pipeline;
use pcdns::synth::{SynthConfig, POOL_NAME};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

struct Counting;

thread_local! {
    /// Allocations made by this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Allocations made by any thread while [`COUNTING_ALL_THREADS`] is on.
static ALL_THREADS: AtomicU64 = AtomicU64::new(0);
static COUNTING_ALL_THREADS: AtomicBool = AtomicBool::new(false);
/// The tests run one at a time, so that nothing else allocates during a counted run.
static ONE_TEST_AT_A_TIME: Mutex<()> = Mutex::new(());

fn count_one() {
    // During thread teardown the counter may be gone; those allocations are not the run's.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
    if COUNTING_ALL_THREADS.load(Ordering::Relaxed) {
        ALL_THREADS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed on to the system allocator with the caller's arguments.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn capture(packets: u64, non_dns: f64, other_dns: f64) -> tempfile::NamedTempFile {
    let config = SynthConfig {
        packets,
        seed: 3,
        non_dns,
        other_dns,
        wrong: 0.0,
        unanswered: 0.01,
        pool_size: 4,
        clients: 1000,
        vlan: 0.1,
        ipv6: 0.2,
        responses_only: false,
        max_payload: 64,
    };
    synth_capture(config, WriteFormat::Pcap)
}

/// Allocations made by one analyze run over `file` on `threads` threads: by this thread (one
/// thread), or by all threads (more).
fn allocations_of_run(file: &tempfile::NamedTempFile, threads: usize) -> u64 {
    let expectations = pcdns::expect::parse(
        "synth.toml",
        &format!("[[pool]]\nname = \"{POOL_NAME}\"\nmembers = [\"10.10.10.1\"]\n"),
    )
    .unwrap();
    let config = run_config(
        file,
        Watching::Expectations(expectations),
        WatchList::names([POOL_NAME]),
        threads,
        1000,
    );
    let counter = || match threads {
        1 => ALLOCATIONS.with(Cell::get),
        _ => ALL_THREADS.load(Ordering::Relaxed),
    };
    COUNTING_ALL_THREADS.store(true, Ordering::Relaxed);
    let before = counter();
    let outcome = pipeline::run_unlogged(&config);
    let after = counter();
    COUNTING_ALL_THREADS.store(false, Ordering::Relaxed);
    assert!(outcome.errors.is_empty());
    assert_eq!(
        outcome.analysis.traffic.watched_messages, 0,
        "this path has no watched DNS"
    );
    after - before
}

/// Allocations allowed per batch of frames on two threads.
const ALLOCATIONS_PER_BATCH: u64 = 4;

fn assert_flat(non_dns: f64, other_dns: f64, label: &str) {
    // The whole test, writing its captures included, holds the lock: a two-thread run counts
    // every thread's allocations, and the other test writing its captures allocates.
    let _one_test = ONE_TEST_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (small_file, large_file) = (
        capture(100_000, non_dns, other_dns),
        capture(1_000_000, non_dns, other_dns),
    );
    let small = allocations_of_run(&small_file, 1);
    let large = allocations_of_run(&large_file, 1);
    println!("{label}, one thread: {small} allocations for 100 k packets, {large} for 1 M");
    assert!(
        large <= small + 16,
        "{label}: allocations grow with packets: {small} for 100 k, {large} for 1 M"
    );
    let small = allocations_of_run(&small_file, 2);
    let large = allocations_of_run(&large_file, 2);
    println!("{label}, two threads: {small} allocations for 100 k packets, {large} for 1 M");
    let batches = 900_000 / pipeline::BATCH_FRAMES as u64 + 1;
    assert!(
        large <= small + batches * ALLOCATIONS_PER_BATCH,
        "{label}, two threads: {} more allocations for 900 k more packets ({batches} batches)",
        large.saturating_sub(small)
    );
}

#[test]
fn no_dns_path_allocates_nothing_per_packet() {
    assert_flat(1.0, 0.0, "(a) no DNS");
}

#[test]
fn other_names_path_allocates_nothing_per_packet() {
    assert_flat(0.4, 0.6, "(b) 40% non-DNS, 60% DNS for other names");
}
