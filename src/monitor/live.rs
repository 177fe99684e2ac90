//! The monitor's main loop: signals in, capture opened, privileges dropped, then the pipeline
//! over the live source, with an observer that writes events, periodic reports and metrics.
//! Events cover every finding kind: recorded findings after each batch, derived ones at each
//! report interval and at the end of a run (they are judged from a snapshot of the analysis).
//! Each such judgement is a look at data that keeps growing: the k-th tests its statistical
//! findings at the significance level split over looks (`DerivedSettings::at_look`), so a
//! healthy pool raises one in a whole run no more often than in one `analyze`; reports and
//! metrics between looks show what the last look judged.
//! SIGHUP ends the current run cleanly (its report is written), reloads the expectations,
//! reopens the events file and starts again on the same open capture.

use super::events::{FindingTracker, NewFinding};
use super::http::{Limits, MetricsServer};
use super::output::EventOutput;
use super::parquet_log::{LiveLog, SharedLiveLog};
use crate::analyze::derived::{derived_findings, DerivedFinding, Finding};
use crate::analyze::{Analysis, Watching};
use crate::capture::{
    BatchSource, EvidenceWriter, FrameRing, FrameTap, InterfaceHealth, LiveOptions, LiveSource,
};
use crate::cli::{Format, MonitorConfig};
use crate::job::{
    report_options, run_config, wall_clock_ns, watching_of, write_stdout, CommandError, Status,
};
use crate::pipeline::{self, Progress, RunOutcome};
use crate::pseudonym::Pseudonymizer;
use crate::report::{self, MonitorCounters, Report};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the metrics text is rebuilt.
const METRICS_EVERY: Duration = Duration::from_secs(1);
/// Recent frames kept for evidence: enough to outlast the pipeline's queues.
const EVIDENCE_RING_FRAMES: usize = 65_536;
const EVIDENCE_RING_BYTES: usize = 64 << 20;
/// Size of one evidence file (fewer when the total cap is smaller).
const EVIDENCE_FILE_BYTES: u64 = 16 << 20;

/// The frames behind findings: the recent frames, and the files they are copied into.
struct Evidence {
    ring: Arc<Mutex<FrameRing>>,
    writer: EvidenceWriter,
}

/// Signals, as flags the loop polls.
struct Signals {
    shutdown: Arc<AtomicBool>,
    hangup: Arc<AtomicBool>,
}

impl Signals {
    fn register() -> Result<Self, CommandError> {
        let shutdown = Arc::new(AtomicBool::new(false));
        let hangup = Arc::new(AtomicBool::new(false));
        let fail = |e: std::io::Error| CommandError::Monitor(format!("cannot handle signals: {e}"));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&shutdown)).map_err(fail)?;
        }
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hangup))
            .map_err(fail)?;
        Ok(Signals { shutdown, hangup })
    }
}

/// What the observer keeps between batches of one run.
struct Observer<'a> {
    config: &'a MonitorConfig,
    watching: &'a Watching,
    signals: &'a Signals,
    end_run: &'a AtomicBool,
    health: &'a Mutex<Vec<InterfaceHealth>>,
    metrics: Option<&'a MetricsServer>,
    events: &'a mut EventOutput,
    evidence: Option<&'a mut Evidence>,
    tracker: &'a mut FindingTracker,
    counters: &'a mut MonitorCounters,
    started: Instant,
    next_report: Instant,
    next_metrics: Instant,
    /// Judgements of the derived findings so far in this run.
    looks: u64,
    /// The derived findings of the last judgement.
    judged: Vec<DerivedFinding>,
    reload: bool,
    failure: Option<String>,
}

impl Observer<'_> {
    fn sources(&self) -> Vec<String> {
        self.config.interfaces.clone()
    }

    fn outcome(&self, analysis: Analysis) -> RunOutcome {
        RunOutcome {
            analysis,
            mergeable: None,
            files: Vec::new(),
            interfaces: self.health.lock().map(|h| h.clone()).unwrap_or_default(),
            timestamps_backwards: 0,
            errors: Vec::new(),
            elapsed: self.started.elapsed(),
        }
    }

    fn report(&self, outcome: &RunOutcome) -> Report {
        let options = report_options(&self.config.input, self.config.top, self.config.insight);
        report::build_judged(outcome, self.watching, options, &self.judged)
    }

    /// Writes events for `found` (time: the wall clock).
    fn announce(&mut self, found: Vec<NewFinding<'_>>) {
        if found.is_empty() {
            return;
        }
        let sources = self.sources();
        let now = wall_clock_ns();
        let mut lines = String::new();
        for f in &found {
            let saved = self.save_evidence(f);
            let facts = report::EventFacts {
                finding: f.finding,
                new: f.new,
                evidence: saved.as_ref().map(|e| (e.file.as_str(), e.frame)),
            };
            lines.push_str(&report::render_event(
                &facts,
                now,
                self.watching.expectations(),
                &sources,
            ));
        }
        self.counters.events += found.len() as u64;
        if let Err(e) = self.events.write(&lines) {
            self.failure = Some(format!("cannot write events: {e}"));
            self.end_run.store(true, Ordering::Relaxed);
        }
    }

    /// Judges the derived findings of `analysis` (a snapshot) as the next look, keeps them for
    /// the reports until the next look, and announces those that are new or grew, as of
    /// `now_ns`, with the stale answers (worked out on the merged facts, with their frames).
    fn judge_derived(&mut self, analysis: &Analysis, now_ns: u64) {
        self.looks += 1;
        let derived = derived_findings(
            analysis,
            self.watching,
            self.config.top,
            &self.config.insight.at_look(self.looks),
        );
        let stale = self
            .watching
            .expectations()
            .map(|expectations| analysis.stale_answer_findings(expectations))
            .unwrap_or_default();
        let stale = stale
            .iter()
            .map(|(key, occurrences)| Finding::Recorded(key, occurrences));
        let found = self
            .tracker
            .observe(derived.iter().map(Finding::Derived).chain(stale), now_ns);
        self.announce(found);
        self.judged = derived;
    }

    /// Copies the latest frame behind `finding` into the evidence files, if kept (a derived
    /// finding has none).
    fn save_evidence(&mut self, finding: &NewFinding) -> Option<crate::capture::EvidenceRef> {
        let Finding::Recorded(_, occurrences) = finding.finding else {
            return None;
        };
        let evidence = self.evidence.as_mut()?;
        let frame = occurrences.last_frame?;
        match evidence
            .writer
            .write(&evidence.ring, frame.file_index, frame.frame_number)
        {
            Ok(saved) => saved,
            Err(e) => {
                eprintln!("pcdns: warning: cannot write evidence: {e}");
                None
            }
        }
    }

    fn publish_metrics(&mut self, report: &Report) {
        if let Some(server) = self.metrics {
            self.counters.events_held_back = self.tracker.held_back;
            server.publish(report::render_metrics(report, *self.counters));
        }
    }

    fn observe(&mut self, progress: &Progress<'_, '_>) {
        if self.signals.shutdown.load(Ordering::Relaxed) {
            self.end_run.store(true, Ordering::Relaxed);
        }
        if self.signals.hangup.swap(false, Ordering::Relaxed) {
            if let Err(e) = self.events.reopen() {
                eprintln!("pcdns: warning: {e}");
            }
            self.reload = true;
            self.end_run.store(true, Ordering::Relaxed);
        }
        let findings = progress.findings();
        let recorded = Finding::recorded(&findings);
        let found = self.tracker.observe(recorded, progress.now_ns);
        self.announce(found);
        let now = Instant::now();
        let report_due = now >= self.next_report;
        let metrics_due = self.metrics.is_some() && now >= self.next_metrics;
        if report_due || metrics_due {
            let outcome = self.outcome(progress.snapshot());
            if report_due {
                self.judge_derived(&outcome.analysis, progress.now_ns);
            }
            let report = self.report(&outcome);
            self.publish_metrics(&report);
            self.next_metrics = now + METRICS_EVERY;
            if report_due {
                self.next_report = now + Duration::from_nanos(self.config.interval_ns);
                self.write_report(&report);
            }
        }
    }

    fn write_report(&mut self, report: &Report) {
        let text = match self.config.format {
            Format::Json => report::render_json_line(report),
            Format::Text => crate::job::render_plain(report, Format::Text),
        };
        if let Err(e) = write_stdout(&text) {
            self.failure = Some(e.to_string());
            self.end_run.store(true, Ordering::Relaxed);
        }
    }
}

fn live_options(config: &MonitorConfig) -> LiveOptions {
    LiveOptions {
        interfaces: config.interfaces.clone(),
        bpf: config.bpf.clone(),
        snaplen: config.snaplen,
        buffer_bytes: config.buffer_bytes,
        promiscuous: config.promiscuous,
        dns_ports: config.input.dns_ports.clone(),
    }
}

/// Runs the monitor until SIGINT/SIGTERM (status clean) or a capture failure (status 2).
pub fn run(config: &MonitorConfig) -> Result<Status, CommandError> {
    let signals = Signals::register()?;
    let end_run = Arc::new(AtomicBool::new(false));
    // Expectations are checked before the capture opens, so a typo fails fast.
    let (mut watching, mut watch) = watching_of(config.expect.as_deref(), false)?;
    let mut source = LiveSource::open(&live_options(config), Arc::clone(&end_run))
        .map_err(|e| CommandError::Monitor(e.to_string()))?;
    let health = source.health();
    eprintln!("pcdns: capturing on {}", config.interfaces.join(", "));
    let metrics = config
        .metrics
        .map(|address| MetricsServer::start(address, Limits::default()))
        .transpose()
        .map_err(|e| CommandError::Monitor(format!("cannot serve metrics: {e}")))?;
    if let Some(server) = &metrics {
        eprintln!("pcdns: metrics at http://{}/metrics", server.address);
    }
    let mut events = EventOutput::open(config.events.clone()).map_err(CommandError::Monitor)?;
    if let Some(user) = &config.user {
        super::privileges::drop_to(user).map_err(CommandError::Monitor)?;
    }
    let mut evidence = match &config.evidence {
        Some(dir) => Some(Evidence {
            ring: Arc::new(Mutex::new(FrameRing::new(
                EVIDENCE_RING_FRAMES,
                EVIDENCE_RING_BYTES,
            ))),
            writer: EvidenceWriter::new(
                dir.clone(),
                EVIDENCE_FILE_BYTES.min(config.evidence_max_bytes),
                config.evidence_max_bytes,
            )
            .map_err(|e| CommandError::Monitor(format!("evidence in {}: {e}", dir.display())))?,
        }),
        None => None,
    };
    let mut tracker = FindingTracker::new(config.event_interval_ns);
    let mut counters = MonitorCounters::default();
    loop {
        // The transaction log writes the answers; reports need none.
        let decoded = match config.log_parquet {
            Some(_) => watch.clone(),
            None => watch.clone().dropping_answer_records(),
        };
        let mut run = run_config(&config.input, watching.clone(), decoded);
        run.pseudonymize = config.pseudonymize.as_deref().map(Pseudonymizer::new);
        // Live reports are cumulative and events immediate: nothing is kept aside.
        run.keeps_seam = false;
        let transaction_log = match &config.log_parquet {
            Some(log) => Some(RefCell::new(LiveLog::open(
                log,
                run.watching.expectations().cloned(),
                config.interfaces.clone(),
            )?)),
            None => None,
        };
        let started = Instant::now();
        let mut observer = Observer {
            config,
            watching: &run.watching,
            signals: &signals,
            end_run: &end_run,
            health: &health,
            metrics: metrics.as_ref(),
            events: &mut events,
            evidence: evidence.as_mut(),
            tracker: &mut tracker,
            counters: &mut counters,
            started,
            next_report: started + Duration::from_nanos(config.interval_ns),
            next_metrics: started,
            looks: 0,
            judged: Vec::new(),
            reload: false,
            failure: None,
        };
        let mut tap;
        let input: &mut dyn BatchSource = match &observer.evidence {
            Some(evidence) => {
                tap = FrameTap::new(&mut source, Arc::clone(&evidence.ring));
                &mut tap
            }
            None => &mut source,
        };
        let mut observe = |progress: &Progress<'_, '_>| {
            observer.observe(progress);
            let log_healthy = transaction_log
                .as_ref()
                .is_none_or(|log| log.borrow_mut().roll_if_due());
            if !log_healthy {
                end_run.store(true, Ordering::Relaxed);
            }
        };
        let outcome = match &transaction_log {
            Some(log) => pipeline::run_source_logged(
                &run,
                input,
                &mut observe,
                &pipeline::CopiedTransactions,
                &mut SharedLiveLog(log),
            ),
            None => pipeline::run_source(&run, input, &mut observe),
        };
        // The run's last word: events for what the final flush found (the rate limit no
        // longer holds anything back), then the report.
        let recorded = Finding::recorded(&outcome.analysis.findings);
        let found = observer.tracker.observe(recorded, u64::MAX);
        observer.announce(found);
        observer.judge_derived(&outcome.analysis, u64::MAX);
        let report = observer.report(&outcome);
        observer.publish_metrics(&report);
        observer.write_report(&report);
        let (reload, failure) = (observer.reload, observer.failure.take());
        if let Some(log) = transaction_log {
            log.into_inner().close()?;
        }
        for error in &outcome.errors {
            eprintln!("pcdns: error: {error}");
        }
        if let Some(failure) = failure {
            return Err(CommandError::Monitor(failure));
        }
        if !outcome.errors.is_empty() {
            return Ok(Status::InputError);
        }
        if !reload || signals.shutdown.load(Ordering::Relaxed) {
            return Ok(Status::Clean);
        }
        match watching_of(config.expect.as_deref(), false) {
            Ok((new_watching, new_watch)) => {
                (watching, watch) = (new_watching, new_watch);
                eprintln!("pcdns: expectations reloaded");
            }
            Err(e) => eprintln!("pcdns: warning: keeping the previous expectations: {e}"),
        }
        tracker.reset();
        end_run.store(false, Ordering::Relaxed);
        source.resume();
    }
}
