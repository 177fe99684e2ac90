//! Runs a validated command: loads expectations, runs the pipeline, writes the report to
//! standard output and decides the exit status. An edge: the I/O that is not capture lives here.

use crate::analyze::derived::DerivedSettings;
use crate::analyze::empty_evidence::lacks_evidence;
use crate::analyze::{Severity, Watching};
use crate::capture::ProgressFn;
use crate::cli::{
    AnalyzeConfig, ColourChoice, Config, ExpectConfig, Format, InputConfig, LogConfig, LogOutput,
    MergeConfig,
};
use crate::decode::{DecodeConfig, WatchList};
use crate::job::{
    build_report, quiet_on_broken_pipe, render_plain, run_config, watching_of, write_stdout,
};
pub use crate::job::{CommandError, Status};
use crate::pipeline::{self, RunConfig, RunOutcome};
use crate::report::{self, Report, ReportOptions, TextStyle};
use std::io::{self, IsTerminal, Write};

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

/// Runs the pipeline over `input` with `run` ([`pipeline::run_unlogged`], or
/// [`pipeline::run`] with the transaction log).
fn run_pipeline(
    input: &InputConfig,
    (watching, watch): (Watching, WatchList),
    keeps_seam: bool,
    run: impl FnOnce(&RunConfig) -> RunOutcome,
) -> (RunOutcome, Watching) {
    let progress = input.progress && io::stderr().is_terminal();
    if progress {
        crate::progress::start();
    }
    let config = RunConfig {
        progress: progress.then_some(crate::progress::report as ProgressFn),
        keeps_seam,
        ..run_config(input, watching, watch)
    };
    let outcome = run(&config);
    crate::progress::finish();
    (outcome, config.watching)
}

fn report_read_errors(outcome: &RunOutcome) {
    for error in &outcome.errors {
        eprintln!("pcdns: error: {error}");
    }
}

fn run_analyze(config: &AnalyzeConfig) -> Result<Status, CommandError> {
    let (watching, watch) = watching_of(config.expect.as_deref(), false)?;
    let watch = watch.dropping_answer_records();
    let keeps_seam = config.exact_merge && config.format == Format::Json;
    let (mut outcome, watching) = run_pipeline(
        &config.input,
        (watching, watch.clone()),
        keeps_seam,
        pipeline::run_unlogged,
    );
    look_for_dns_on_other_ports(&mut outcome, &watching, &config.input, watch);
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

/// With expectations and not one watched response, reads the files again for responses about
/// watched names on UDP ports not taken as DNS (what `--dns-port` would add); only then, so a
/// run that found evidence pays nothing.
fn look_for_dns_on_other_ports(
    outcome: &mut RunOutcome,
    watching: &Watching,
    input: &InputConfig,
    watch: WatchList,
) {
    if !lacks_evidence(&outcome.analysis, watching) {
        return;
    }
    let decode = DecodeConfig {
        dns_ports: input.dns_ports.clone(),
        watch,
        connection_targets: Vec::new(),
    };
    outcome.analysis.traffic.other_port_responses =
        pipeline::watched_responses_on_other_ports(&input.inputs, &decode);
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
        (
            Watching::Discovery,
            WatchList::everything().dropping_answer_records(),
        ),
        false,
        pipeline::run_unlogged,
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
    if let Some(warning) = crate::report::failed_lookups_warning(&report) {
        eprintln!("pcdns: warning: {warning}");
    }
    report_read_errors(&outcome);
    Ok(if outcome.errors.is_empty() {
        Status::Clean
    } else {
        Status::InputError
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
    // The log prints transactions, never per-name facts: discovery keeps no names.
    let input = InputConfig {
        discovered_names: 0,
        ..config.input.clone()
    };
    let outcome = match &config.output {
        LogOutput::Ndjson => log_ndjson(&input, watching, watch, &file_names)?,
        LogOutput::Parquet { dir, sensor } => {
            let sensor = sensor.clone().unwrap_or_else(crate::job::host_name);
            log_parquet(&input, watching, watch, &file_names, dir, sensor)?
        }
    };
    report_read_errors(&outcome);
    Ok(if outcome.errors.is_empty() {
        Status::Clean
    } else {
        Status::InputError
    })
}

/// Writes the log as NDJSON to standard output.
fn log_ndjson(
    input: &InputConfig,
    watching: Watching,
    watch: WatchList,
    file_names: &[String],
) -> Result<RunOutcome, CommandError> {
    let renderer = report::NdjsonRenderer::new(file_names);
    let mut writer = report::NdjsonWriter {
        out: io::BufWriter::with_capacity(1 << 16, io::stdout().lock()),
        error: None,
    };
    let (outcome, _) = run_pipeline(input, (watching, watch), false, |config| {
        pipeline::run(config, &renderer, &mut writer)
    });
    let flushed = writer.out.flush();
    quiet_on_broken_pipe(writer.error.map_or(flushed, Err))?;
    Ok(outcome)
}

/// Writes the log as Parquet files under `dir` (see [`report::parquet`]).
#[cfg(feature = "parquet")]
fn log_parquet(
    input: &InputConfig,
    watching: Watching,
    watch: WatchList,
    file_names: &[String],
    dir: &std::path::Path,
    sensor: String,
) -> Result<RunOutcome, CommandError> {
    use report::parquet::{ParquetLog, ParquetLogWriter, ParquetSettings};
    let expectations = watching.expectations().cloned();
    let settings = ParquetSettings::new(dir.to_path_buf(), sensor, expectations);
    let log = ParquetLog::create(settings, crate::job::wall_clock_ns()).map_err(parquet_error)?;
    let mut writer = ParquetLogWriter::new(log, file_names.to_vec());
    let (outcome, _) = run_pipeline(input, (watching, watch), false, |config| {
        pipeline::run(config, &pipeline::CopiedTransactions, &mut writer)
    });
    writer.close().map(|_| outcome).map_err(parquet_error)
}

#[cfg(feature = "parquet")]
fn parquet_error(error: report::parquet::ParquetLogError) -> CommandError {
    CommandError::File(error.path, io::Error::other(error.message))
}

/// Without the `parquet` feature: an error.
#[cfg(not(feature = "parquet"))]
fn log_parquet(
    _: &InputConfig,
    _: Watching,
    _: WatchList,
    _: &[String],
    _: &std::path::Path,
    _: String,
) -> Result<RunOutcome, CommandError> {
    Err(CommandError::ParquetNotBuilt)
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
    let run = report::SavedRun::merge_all(runs, &watching)
        .ok_or_else(|| CommandError::Merge("no reports to merge".into()))?;
    let options = ReportOptions {
        top_names: config.top,
        pairing: run.pairing,
        reassembly: run.reassembly,
        insight: config.insight,
    };
    let report = report::build(&run.into_outcome(&watching), &watching, options);
    write_stdout(&render_plain(&report, config.format))?;
    Ok(status_of(&report, false, Some(Severity::Error)))
}
