//! What two threads can give on this machine, whatever the program: the speed-up of work that
//! only computes (a dependent multiply chain per thread, in registers) and of work that only
//! streams memory (each thread sums its own buffer, larger than any cache), on 1 and on N
//! threads; and the handoff, how long one cache line takes to go from one thread to another
//! and back. The end-to-end ratios of issue #5 (2 threads against 1) are judged against these:
//! a run that streams its capture through memory cannot scale better than streaming does, and
//! every watched response crosses between the pipeline's threads (decoded on one, analysed on
//! another, freed on the first), so its 2-thread time follows the handoff.
//!
//!   cargo bench --bench machine              # 1 and 2 threads, medians of 5
//!   RUNS=9 THREADS=4 cargo bench --bench machine
//!   JOBS=handoff cargo bench --bench machine # the handoff alone (a second)

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Multiply-add steps per thread of the compute job.
const COMPUTE_STEPS: u64 = 400_000_000;
/// Bytes per thread of the streaming job: far beyond the caches.
const STREAM_BYTES: usize = 512 << 20;
/// Passes over the buffer per streaming job.
const STREAM_PASSES: usize = 4;

/// Round trips of one cache line between two threads per handoff measurement.
const HANDOFF_ROUND_TRIPS: u64 = 2_000_000;

/// A job one thread runs on its own buffer.
type Job = fn(&[u64]);

fn compute_job() {
    let mut x = black_box(1u64);
    let mut y = black_box(3u64);
    for _ in 0..COMPUTE_STEPS {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        y ^= x >> 7;
    }
    black_box((x, y));
}

fn stream_job(buffer: &[u64]) {
    for _ in 0..STREAM_PASSES {
        let sum = buffer
            .iter()
            .fold(0u64, |sum, word| sum.wrapping_add(*word));
        black_box(sum);
    }
}

/// Time of `threads` copies of a job run at once, each on its own buffer.
fn time_parallel(threads: usize, buffers: &[Vec<u64>], job: Job) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for buffer in &buffers[..threads] {
            scope.spawn(move || job(buffer));
        }
    });
    start.elapsed()
}

/// The time of one round trip of a cache line between two threads: each waits for the other's
/// count on one shared line, then writes the next.
fn handoff_round_trip() -> Duration {
    let line = AtomicU64::new(0);
    let relay = |parity: u64| {
        for step in 0..HANDOFF_ROUND_TRIPS {
            let mine = 2 * step + parity;
            while line.load(Ordering::Acquire) != mine {
                std::hint::spin_loop();
            }
            line.store(mine + 1, Ordering::Release);
        }
    };
    let start = Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| relay(1));
        relay(0);
    });
    start.elapsed() / HANDOFF_ROUND_TRIPS as u32
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo test --benches` runs bench targets with no arguments other than harness flags;
    // only `cargo bench` passes --bench.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let runs = env_number("RUNS", 5).max(1);
    let handoff = median((0..runs).map(|_| handoff_round_trip()).collect());
    println!(
        "handoff: a cache line from one thread to another and back in {} ns (median of {runs})",
        handoff.as_nanos()
    );
    if std::env::var("JOBS").is_ok_and(|jobs| jobs == "handoff") {
        return;
    }
    let threads = env_number("THREADS", 2).max(2);
    let buffers: Vec<Vec<u64>> = (0..threads)
        .map(|seed| vec![seed as u64 + 1; STREAM_BYTES / 8])
        .collect();
    println!(
        "{} cores; medians of {runs} runs; each thread does the same work",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<10} {:>10} {:>12} {:>16}",
        "job", "threads", "median s", "speed-up vs 1"
    );
    // Each job, and the bytes one run of it reads (none for computation).
    let jobs: [(&str, Job, Option<f64>); 2] = [
        ("compute", |_| compute_job(), None),
        (
            "stream",
            stream_job,
            Some((STREAM_BYTES * STREAM_PASSES) as f64),
        ),
    ];
    for (name, job, bytes_per_thread) in jobs {
        let mut one_thread = None;
        for count in [1, threads] {
            let time = median(
                (0..runs)
                    .map(|_| time_parallel(count, &buffers, job))
                    .collect(),
            );
            let single = *one_thread.get_or_insert(time);
            // Each thread does a whole job: speed-up is the work done per second.
            let speed_up = count as f64 * single.as_secs_f64() / time.as_secs_f64();
            let rate = bytes_per_thread.map_or(String::new(), |bytes| {
                format!(
                    "  ({:.1} GB/s)",
                    bytes * count as f64 / time.as_secs_f64() / 1e9
                )
            });
            println!(
                "{name:<10} {count:>10} {:>12.3} {speed_up:>15.2}x{rate}",
                time.as_secs_f64()
            );
        }
    }
}
