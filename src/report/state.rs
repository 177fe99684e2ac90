//! The saved state of a run: what a JSON report carries under `"state"` so that reports from
//! several sensors or files can be merged exactly (`pcdns merge`): the raw counters, the
//! histogram buckets and the per-name facts, with the inputs and settings they came from.

use super::SCHEMA;
use crate::analyze::{Analysis, PairingSettings, Watching};
use crate::capture::{FileSummary, InterfaceHealth};
use crate::decode::ReassemblyLimits;
use crate::pipeline::RunOutcome;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Everything needed to rebuild a report, and to merge it with others.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedRun {
    /// Input files (frame references index files first, then interfaces).
    pub files: Vec<FileSummary>,
    /// Interfaces captured on.
    pub interfaces: Vec<InterfaceHealth>,
    /// Frames earlier than the frame before.
    pub timestamps_backwards: u64,
    /// Pairing settings of the run.
    pub pairing: PairingSettings,
    /// Reassembly limits of the run.
    pub reassembly: ReassemblyLimits,
    /// The mergeable analysis.
    pub analysis: Analysis,
}

/// A report read back: its mode, expectations file and saved state.
#[derive(Debug)]
pub struct SavedReport {
    /// Where it was read from.
    pub source: String,
    /// The expectations file named in the report (None: discovery).
    pub expectations: Option<String>,
    /// The saved state.
    pub run: SavedRun,
}

#[derive(Deserialize)]
struct ReportHead {
    schema: String,
    expectations: Option<String>,
    state: Option<SavedRun>,
}

impl SavedRun {
    /// The state of `outcome`.
    pub fn of(
        outcome: &RunOutcome,
        pairing: PairingSettings,
        reassembly: ReassemblyLimits,
    ) -> Self {
        SavedRun {
            files: outcome.files.clone(),
            interfaces: outcome.interfaces.clone(),
            timestamps_backwards: outcome.timestamps_backwards,
            pairing,
            reassembly,
            analysis: outcome
                .mergeable
                .as_ref()
                .unwrap_or(&outcome.analysis)
                .clone(),
        }
    }

    /// Merges runs into one: counters add up, inputs are listed one after the other (files
    /// of every run first, then interfaces) and frame references follow their input; each run
    /// is read as following the one before (see [`Analysis::append`]). Settings are those of
    /// the first run.
    pub fn merge_all(runs: Vec<SavedRun>, watching: &Watching) -> Option<SavedRun> {
        let total_files: usize = runs.iter().map(|r| r.files.len()).sum();
        let mut runs = runs.into_iter();
        let mut merged = runs.next()?;
        let (mut files_before, mut interfaces_before) =
            (merged.files.len(), merged.interfaces.len());
        let first_files = merged.files.len();
        merged
            .analysis
            .map_file_indexes(&|index| remap(index, first_files, 0, 0, total_files));
        for mut run in runs {
            let files = run.files.len();
            run.analysis.map_file_indexes(&|index| {
                remap(index, files, files_before, interfaces_before, total_files)
            });
            files_before += files;
            interfaces_before += run.interfaces.len();
            merged.files.append(&mut run.files);
            merged.interfaces.append(&mut run.interfaces);
            merged.timestamps_backwards += run.timestamps_backwards;
            let timeout_ns = merged.pairing.query_timeout_ns;
            merged.analysis.append(run.analysis, timeout_ns, watching);
        }
        Some(merged)
    }

    /// The run as an outcome the report builder takes (what was kept aside for merging is
    /// recorded, and kept for the report's state).
    pub fn into_outcome(self, watching: &Watching) -> RunOutcome {
        let (analysis, mergeable) = self.analysis.into_settled(watching);
        RunOutcome {
            analysis,
            mergeable,
            files: self.files,
            interfaces: self.interfaces,
            timestamps_backwards: self.timestamps_backwards,
            errors: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }
}

/// Input `index` of a run with `files` files, merged after `files_before` files and
/// `interfaces_before` interfaces of earlier runs, with `total_files` files in all.
fn remap(
    index: u16,
    files: usize,
    files_before: usize,
    interfaces_before: usize,
    total_files: usize,
) -> u16 {
    let index = usize::from(index);
    let global = if index < files {
        files_before + index
    } else {
        total_files + interfaces_before + (index - files)
    };
    u16::try_from(global).unwrap_or(u16::MAX)
}

/// Reads a JSON report (`pcdns analyze --format json`, or a `pcdns monitor` report line).
/// For a monitor's JSON lines, the last report line counts (reports are cumulative).
pub fn read_report(source: &str, text: &str) -> Result<SavedReport, String> {
    let last_report_line = || {
        text.lines()
            .rev()
            .find_map(|line| serde_json::from_str::<ReportHead>(line).ok())
    };
    let head: ReportHead = match serde_json::from_str(text) {
        Ok(head) => head,
        Err(e) => {
            last_report_line().ok_or_else(|| format!("{source}: not a pcdns JSON report: {e}"))?
        }
    };
    if head.schema != SCHEMA {
        return Err(format!(
            "{source}: schema \"{}\" is not {SCHEMA}",
            head.schema
        ));
    }
    let run = head.state.ok_or_else(|| {
        format!("{source}: the report carries no \"state\" (written by an older pcdns?)")
    })?;
    Ok(SavedReport {
        source: source.to_string(),
        expectations: head.expectations,
        run,
    })
}
