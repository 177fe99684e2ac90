//! What the commands share, `monitor` among them: how a command ends ([`Status`],
//! [`CommandError`]), the pipeline settings and watch list of its options, its report, and
//! writing to standard output. `commands` dispatches and `monitor` runs live capture; both use
//! this module and neither imports the other's internals.

use crate::analyze::derived::DerivedSettings;
use crate::analyze::Watching;
use crate::cli::{Format, InputConfig};
use crate::decode::{DecodeConfig, WatchList};
use crate::expect::{self, ExpectError, Expectations};
use crate::pipeline::{RunConfig, RunOutcome};
use crate::report::{self, Report, ReportOptions, TextStyle};
use std::io::{self, Write};

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Nothing at or above the chosen severity.
    Clean,
    /// Findings at or above the chosen severity.
    Findings,
    /// An input could not be read (the report still covers what was read).
    InputError,
}

impl Status {
    /// The process exit code: 0 clean, 1 findings, 2 error.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Clean => 0,
            Status::Findings => 1,
            Status::InputError => 2,
        }
    }
}

/// A failure that prevents any report.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The expectations file is wrong.
    #[error("{0}")]
    Expectations(#[from] ExpectError),
    /// Writing the output failed.
    #[error("cannot write the report: {0}")]
    Output(io::Error),
    /// Writing a file failed.
    #[error("cannot write {0}: {1}")]
    File(String, io::Error),
    /// Reading a file failed.
    #[error("cannot read {0}: {1}")]
    Read(String, io::Error),
    /// Reports cannot be merged.
    #[error("{0}")]
    Merge(String),
    /// Live capture could not start, or monitoring could not be set up.
    #[error("{0}")]
    Monitor(String),
    /// Built without the `live` feature.
    #[error("this pcdns was built without live capture. Install libpcap (Debian/Ubuntu: apt-get install libpcap-dev; Fedora: dnf install libpcap-devel) and rebuild with: cargo build --release --features live")]
    LiveNotBuilt,
    /// Built without the `parquet` feature.
    #[error("this pcdns was built without Parquet output. Rebuild with: cargo build --release --features parquet")]
    ParquetNotBuilt,
}

/// The pipeline settings of `input` (no progress bar, no pseudonyms).
pub fn run_config(input: &InputConfig, watching: Watching, watch: WatchList) -> RunConfig {
    RunConfig {
        inputs: input.inputs.clone(),
        decode: DecodeConfig {
            dns_ports: input.dns_ports.clone(),
            watch,
            connection_targets: watching
                .expectations()
                .map(Expectations::addresses)
                .unwrap_or_default(),
        },
        watching,
        threads: input.threads,
        segment_bytes: input.segment_bytes,
        progress: None,
        pairing: input.pairing,
        reassembly: input.reassembly,
        discovered_names: input.discovered_names,
        pseudonymize: None,
        keeps_seam: false,
    }
}

/// Writes `text` to standard output (a closed pipe is not an error).
pub fn write_stdout(text: &str) -> Result<(), CommandError> {
    let mut stdout = io::stdout().lock();
    quiet_on_broken_pipe(
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush()),
    )
}

/// A reader that went away (`| head`) is not an error worth a message.
pub fn quiet_on_broken_pipe(result: io::Result<()>) -> Result<(), CommandError> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(CommandError::Output),
    }
}

/// The report of a run, stating the settings it ran with.
pub fn build_report(
    outcome: &RunOutcome,
    watching: &Watching,
    input: &InputConfig,
    top_names: usize,
    insight: DerivedSettings,
) -> Report {
    report::build(outcome, watching, report_options(input, top_names, insight))
}

/// The report options of a run with these settings.
pub fn report_options(
    input: &InputConfig,
    top_names: usize,
    insight: DerivedSettings,
) -> ReportOptions {
    ReportOptions {
        top_names,
        pairing: input.pairing,
        reassembly: input.reassembly,
        insight,
    }
}

/// Expectations (or discovery) and the names to decode in full (`every_name`: all of them).
pub fn watching_of(
    expect: Option<&std::path::Path>,
    every_name: bool,
) -> Result<(Watching, WatchList), CommandError> {
    Ok(match expect {
        Some(path) => {
            let expectations = expect::load(path)?;
            let watch = if every_name {
                WatchList::everything()
            } else {
                WatchList::names(expectations.watched_names())
            };
            (Watching::Expectations(expectations), watch)
        }
        None => (Watching::Discovery, WatchList::everything()),
    })
}

/// Renders a report without colour or processing rate (monitor and merge output).
pub fn render_plain(report: &Report, format: Format) -> String {
    match format {
        Format::Json => report::render_json(report),
        Format::Text => report::render_text(
            report,
            TextStyle {
                colour: false,
                processing: None,
                max_clients: 20,
            },
        ),
    }
}

/// This machine's host name (the Parquet log's default sensor name), or "unknown".
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The wall clock, in nanoseconds since the epoch (0 before it).
pub fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
