//! pcdns: a passive DNS analyzer for Lync Server 2013 / Skype for Business Persistent Chat.
//! It reads the DNS traffic clients really received and checks it against the records the
//! deployment needs: each Persistent Chat Server FQDN with its A record, and the pool FQDN with
//! one A record per member (DNS load balancing).
//!
//! # Code map
//!
//! ```text
//! capture ──batches──▶ decode (parallel) ──route by client──▶ analyze (32 shards) ──merge──▶ report
//! ```
//!
//! - [`cli`]: clap → validated [`cli::Config`].
//! - [`expect`]: the expectations file (TOML) → [`expect::Expectations`], errors with file:line.
//! - [`capture`]: the only code that reads packets (pcap, pcapng, gzip, zstd, stdin; with the
//!   `live` feature, interfaces through libpcap), behind one trait, `BatchSource`.
//! - [`decode`]: link → IP → UDP → DNS prefilter → hickory-proto, for watched names only.
//! - [`analyze`]: per-name facts and findings; mergeable.
//! - [`keys`]: the keys and hashes decode works out for analyze (a leaf both use).
//! - [`pipeline`]: threads and channels; the only place that knows about threads.
//! - [`report`]: the report snapshot and its text and JSON renderings.
//! - [`monitor`]: `pcdns monitor`: live capture, events, periodic reports, Prometheus endpoint.
//! - [`pseudonym`]: keyed-hash pseudonyms for client addresses.
//! - [`synth`]: reproducible synthetic captures for benchmarks and hostile-traffic tests.
//! - [`commands`]: runs a command, writes output, picks the exit status.
//! - [`progress`]: the progress display on standard error while captures are read.
//! - [`job`]: what the commands and `monitor` share (exit status, errors, run settings, report).
//! - [`allocator`]: the binary's global allocator (mimalloc, plain entry points where they do).
//!
//! # Invariants
//!
//! - `decode` and `analyze` never do I/O, never read the wall clock, never print. Time is the
//!   capture timestamp.
//! - A malformed, truncated or unsupported packet is never an error and never a panic: it is a
//!   counted skip reason that shows in the report. Only the capture source and the
//!   configuration produce errors.
//! - Live capture feeds wall-clock ticks to the analysis as values (in the batches), so
//!   timeouts fire on a quiet link; the analysis itself still never reads the clock.
//! - Every piece of state is bounded (clients, servers, answer sets and aliases per name,
//!   discovered names, the largest capture record); what goes beyond a bound is counted.
//! - Nothing is lost silently: skipped packets, untracked items and read errors are reported.
//! - Aggregates merge: `Default` is the identity, `merge` is associative and commutative, and
//!   every cap keeps the lowest keys, so a split analysis merges to the whole one. The
//!   analysis runs in fixed logical shards keyed by client (each in capture order, time passing
//!   on a capture-time tick grid), merged in shard order: any `--threads` and any batch or
//!   segment size give exactly the same report.
//! - Reports are deterministic: same input, same bytes out (sorted by count, then key).
//! - One owner per outside crate: only `capture` knows file formats, only `cli` knows clap,
//!   only `decode/dns.rs` knows hickory-proto, only `report` knows output formats (text, JSON,
//!   NDJSON events and log, Prometheus exposition), only `progress` knows indicatif.
//! - Threads live in `pipeline`; the exceptions are the metrics endpoint's listener and its
//!   short-lived per-connection threads (`monitor`), which only copy out the latest published
//!   text, and the progress display's tick thread (indicatif's, in `progress`).

pub mod allocator;
pub mod analyze;
pub mod capture;
pub mod cli;
pub mod commands;
pub mod decode;
pub mod expect;
pub mod job;
pub mod keys;
pub mod monitor;
pub mod pipeline;
pub mod prefetch;
pub mod progress;
pub mod pseudonym;
pub mod report;
pub mod synth;
