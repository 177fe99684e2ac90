//! Runs a validated command: loads expectations, runs the pipeline, writes the report to
//! standard output and decides the exit status. An edge: the I/O that is not capture lives here.

use crate::analyze::derived::DerivedSettings;
use crate::analyze::Transaction;
use crate::analyze::{Severity, Watching};
use crate::cli::{
    AnalyzeConfig, ColourChoice, Config, ExpectConfig, Format, InputConfig, LogConfig, MergeConfig,
};
use crate::decode::{DecodeConfig, WatchList};
use crate::expect::{self, ExpectError, Expectations};
use crate::pipeline::{self, RunConfig, RunOutcome};
use crate::report::{self, Report, ReportOptions, TextStyle};
use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;

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
}

/// Runs `config`.
pub fn run(config: Config) -> Result<Status, CommandError> {
    match config {
        Config::Analyze(analyze) => run_analyze(&analyze),
        Config::Expect(expect) => run_expect(&expect),
        Config::Log(log) => run_log(&log),
        Config::Synth(synth) => run_synth(&synth),
        Config::Monitor(monitor) => crate::monitor::run(&monitor),
        Config::Merge(merge) => run_merge(&merge),
    }
}

static PROGRESS: OnceLock<indicatif::ProgressBar> = OnceLock::new();

fn show_progress(done: u64, total: u64) {
    let bar = PROGRESS.get_or_init(|| {
        let bar = indicatif::ProgressBar::new(total);
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {wide_bar} {eta} left",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    });
    bar.set_position(done.min(total));
}

/// The pipeline settings of `input` (no progress bar, no pseudonyms).
pub(crate) fn run_config(input: &InputConfig, watching: Watching, watch: WatchList) -> RunConfig {
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
        pseudonymize: None,
    }
}

fn run_pipeline(
    input: &InputConfig,
    watching: Watching,
    watch: WatchList,
    sink: &mut dyn FnMut(&Transaction),
) -> (RunOutcome, Watching) {
    let progress = input.progress && io::stderr().is_terminal();
    let config = RunConfig {
        progress: progress.then_some(show_progress as fn(u64, u64)),
        ..run_config(input, watching, watch)
    };
    let outcome = pipeline::run(&config, sink);
    if let Some(bar) = PROGRESS.get() {
        bar.finish_and_clear();
    }
    (outcome, config.watching)
}

pub(crate) fn write_stdout(text: &str) -> Result<(), CommandError> {
    let mut stdout = io::stdout().lock();
    quiet_on_broken_pipe(
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush()),
    )
}

/// A reader that went away (`| head`) is not an error worth a message.
fn quiet_on_broken_pipe(result: io::Result<()>) -> Result<(), CommandError> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(CommandError::Output),
    }
}

/// The report of a run, stating the settings it ran with.
pub(crate) fn build_report(
    outcome: &RunOutcome,
    watching: &Watching,
    input: &InputConfig,
    top_names: usize,
    insight: DerivedSettings,
) -> Report {
    report::build(
        outcome,
        watching,
        ReportOptions {
            top_names,
            pairing: input.pairing,
            reassembly: input.reassembly,
            insight,
        },
    )
}

fn report_read_errors(outcome: &RunOutcome) {
    for error in &outcome.errors {
        eprintln!("pcdns: error: {error}");
    }
}

fn run_analyze(config: &AnalyzeConfig) -> Result<Status, CommandError> {
    let (watching, watch) = watching_of(config.expect.as_deref(), false)?;
    let watch = watch.dropping_answer_records();
    let (outcome, watching) = run_pipeline(&config.input, watching, watch, &mut |_| {});
    let report = build_report(
        &outcome,
        &watching,
        &config.input,
        config.top,
        config.insight,
    );
    let stdout_terminal = io::stdout().is_terminal();
    match config.format {
        Format::Json => {
            let mut stdout = io::BufWriter::new(io::stdout().lock());
            quiet_on_broken_pipe(
                report::write_json(&report, &mut stdout).and_then(|()| stdout.flush()),
            )?;
        }
        Format::Text => {
            let colour = match config.colour {
                ColourChoice::Always => true,
                ColourChoice::Never => false,
                ColourChoice::Auto => {
                    stdout_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                }
            };
            let seconds = outcome.elapsed.as_secs_f64();
            let processing = stdout_terminal.then(|| {
                (
                    seconds,
                    outcome.analysis.traffic.packets as f64 / seconds.max(1e-9),
                )
            });
            let text = report::render_text(
                &report,
                TextStyle {
                    colour,
                    processing,
                    max_clients: config.max_clients,
                },
            );
            write_stdout(&text)?;
        }
    }
    if let Some(path) = &config.html {
        std::fs::write(path, report::render_html(&report))
            .map_err(|e| CommandError::File(path.display().to_string(), e))?;
    }
    report_read_errors(&outcome);
    Ok(status_of(
        &report,
        !outcome.errors.is_empty(),
        config.fail_on,
    ))
}

fn status_of(report: &Report, read_failed: bool, fail_on: Option<Severity>) -> Status {
    if read_failed {
        return Status::InputError;
    }
    let worst = report.findings.iter().map(|f| f.severity).max();
    match (worst, fail_on) {
        (Some(worst), Some(threshold)) if worst >= threshold => Status::Findings,
        _ => Status::Clean,
    }
}

fn run_expect(config: &ExpectConfig) -> Result<Status, CommandError> {
    let (outcome, watching) = run_pipeline(
        &config.input,
        Watching::Discovery,
        WatchList::everything().dropping_answer_records(),
        &mut |_| {},
    );
    let report = build_report(
        &outcome,
        &watching,
        &config.input,
        config.top,
        DerivedSettings::default(),
    );
    let sources: Vec<String> = outcome.files.iter().map(|f| f.name.clone()).collect();
    write_stdout(&crate::report::expectations_toml(&report, &sources))?;
    report_read_errors(&outcome);
    Ok(if outcome.errors.is_empty() {
        Status::Clean
    } else {
        Status::InputError
    })
}

/// Expectations (or discovery) and the names to decode in full (`every_name`: all of them).
pub(crate) fn watching_of(
    expect: Option<&std::path::Path>,
    every_name: bool,
) -> Result<(Watching, WatchList), CommandError> {
    Ok(match expect {
        Some(path) => {
            let expectations = expect::load(path)?;
            let watch = if every_name {
                WatchList::everything()
            } else {
                WatchList::names(expectations.names.iter().map(|n| n.name.as_str()))
            };
            (Watching::Expectations(expectations), watch)
        }
        None => (Watching::Discovery, WatchList::everything()),
    })
}

fn run_log(config: &LogConfig) -> Result<Status, CommandError> {
    let (watching, watch) = watching_of(config.expect.as_deref(), config.all)?;
    let file_names: Vec<String> = config
        .input
        .inputs
        .iter()
        .map(|i| i.display_name())
        .collect();
    let mut stdout = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut write_error: Option<io::Error> = None;
    let mut write_line = |transaction: &Transaction| {
        if write_error.is_none() {
            let line = report::render_log_line(transaction, &file_names);
            if let Err(e) = stdout.write_all(line.as_bytes()) {
                write_error = Some(e);
            }
        }
    };
    let (outcome, _) = run_pipeline(&config.input, watching, watch, &mut write_line);
    let flushed = stdout.flush();
    quiet_on_broken_pipe(write_error.map_or(flushed, Err))?;
    report_read_errors(&outcome);
    Ok(if outcome.errors.is_empty() {
        Status::Clean
    } else {
        Status::InputError
    })
}

fn run_synth(command: &crate::cli::SynthCommand) -> Result<Status, CommandError> {
    let path = command.out.display().to_string();
    let fail = |e: io::Error| CommandError::File(path.clone(), e);
    let file = std::fs::File::create(&command.out).map_err(fail)?;
    let mut writer = crate::capture::CaptureWriter::new(
        io::BufWriter::with_capacity(1 << 20, file),
        command.format,
    )
    .map_err(fail)?;
    crate::synth::Synth::new(command.config.clone())
        .write_all(&mut writer)
        .map_err(fail)?;
    writer.finish().map_err(fail)?;
    if let Some(expect_out) = &command.expect_out {
        std::fs::write(expect_out, command.config.expectations_toml())
            .map_err(|e| CommandError::File(expect_out.display().to_string(), e))?;
    }
    Ok(Status::Clean)
}

/// Renders a report without colour or processing rate (monitor and merge output).
pub(crate) fn render_plain(report: &Report, format: Format) -> String {
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

fn run_merge(config: &MergeConfig) -> Result<Status, CommandError> {
    let mut saved = Vec::new();
    for path in &config.reports {
        let name = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| CommandError::Read(name.clone(), e))?;
        saved.push(report::read_report(&name, &text).map_err(CommandError::Merge)?);
    }
    let expect = match &config.expect {
        Some(path) => Some(path.clone()),
        None => {
            let named: std::collections::BTreeSet<&Option<String>> =
                saved.iter().map(|s| &s.expectations).collect();
            if named.len() > 1 {
                return Err(CommandError::Merge(format!(
                    "the reports were made with different expectations ({}); choose one with --expect",
                    saved
                        .iter()
                        .map(|s| format!("{}: {}", s.source, s.expectations.as_deref().unwrap_or("discovery")))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            saved[0].expectations.as_ref().map(std::path::PathBuf::from)
        }
    };
    let (watching, _) = watching_of(expect.as_deref(), false)?;
    let runs = saved.into_iter().map(|s| s.run).collect();
    let run = report::SavedRun::merge_all(runs)
        .ok_or_else(|| CommandError::Merge("no reports to merge".into()))?;
    let options = ReportOptions {
        top_names: config.top,
        pairing: run.pairing,
        reassembly: run.reassembly,
        insight: config.insight,
    };
    let report = report::build(&run.into_outcome(), &watching, options);
    write_stdout(&render_plain(&report, config.format))?;
    Ok(status_of(&report, false, Some(Severity::Error)))
}
