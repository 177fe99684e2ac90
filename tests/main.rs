//! The integration tests, one module per area, linked into one test binary: the crate is linked
//! once instead of once per file. The allocation count (`tests/allocations.rs`) is a binary of
//! its own because it installs a counting global allocator. The tests here share one process
//! and run on parallel threads: those that start heavy outside programs hold
//! [`common::heavy`], so that they run one at a time.

mod common;

mod capture_formats;
mod cli;
mod corpus;
mod dns_edge_cases;
mod hostile;
mod html_browser;
mod insight;
mod large_pool;
mod live;
mod merge;
mod merge_cut;
mod order_independence;
mod parquet_log;
mod prometheus_rules;
mod properties;
mod samples_rerun;
mod segments;
mod sharding;
mod tshark_differential;
