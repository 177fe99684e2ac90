//! `pcdns monitor`: live monitoring on a span port. Opens the interfaces (capture), runs the
//! offline pipeline over them, and at the edges: writes finding events as soon as they are known
//! (rate-limited), a report every interval and a final one on SIGINT/SIGTERM, serves Prometheus
//! metrics, reloads expectations on SIGHUP and drops privileges. Built without the `live`
//! feature it only says how to get it.

pub mod events;
#[cfg(feature = "live")]
mod http;
#[cfg(feature = "live")]
mod live;
#[cfg(feature = "live")]
mod output;
#[cfg(feature = "live")]
mod parquet_log;
#[cfg(feature = "live")]
mod privileges;

use crate::cli::MonitorConfig;
use crate::job::{CommandError, Status};

/// Runs `pcdns monitor` until SIGINT/SIGTERM or until an interface fails.
#[cfg(feature = "live")]
pub fn run(config: &MonitorConfig) -> Result<Status, CommandError> {
    live::run(config)
}

/// Without the `live` feature: explains how to build with it (exit status 2).
#[cfg(not(feature = "live"))]
pub fn run(_config: &MonitorConfig) -> Result<Status, CommandError> {
    Err(CommandError::LiveNotBuilt)
}
