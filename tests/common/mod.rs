//! Shared helpers for the integration tests: running the binary, finding the corpus and outside
//! tools, and skipping (or, under PCDNS_REQUIRE_ALL=1, failing) when they are missing.
#![allow(dead_code)] // tests/allocations.rs uses a subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under samples/.
pub fn sample(name: &str) -> PathBuf {
    root().join("samples").join(name)
}

/// True when CI demands every outside component (PCDNS_REQUIRE_ALL=1).
pub fn require_all() -> bool {
    std::env::var("PCDNS_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// Reports a missing component: fails under PCDNS_REQUIRE_ALL=1, otherwise prints that the
/// test skipped. Returns so the caller can `return`.
pub fn missing(what: &str) {
    if require_all() {
        panic!("{what} is required (PCDNS_REQUIRE_ALL=1) but missing");
    }
    eprintln!("skipped: {what} is missing");
}

/// Held for the whole of a test that starts heavy outside programs (DNS servers and tcpdump in
/// network namespaces, Chromium, Prometheus, tshark over the corpus), so that such tests run one
/// at a time: the integration tests share one process and run on parallel threads, and two of
/// these at once could starve each other past their deadlines. A test that panicked while
/// holding it does not block the others.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The shared corpus: PCDNS_CORPUS_DIR, or ../shared/corpus beside the project.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PCDNS_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    dir.join("MANIFEST.tsv").is_file().then_some(dir)
}

/// True when `program` runs (`program --version` exits).
pub fn tool_available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// True when the tests run as root and every program is on PATH; otherwise reports the first
/// thing missing (a program with `packages`, the packages that hold the programs).
pub fn root_and_programs(programs: &[&str], packages: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        missing("root (network namespaces and packet capture)");
        return false;
    }
    for program in programs {
        let found = std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|dir| dir.join(program).is_file())
        });
        if !found {
            missing(&format!("{program} (packages {packages})"));
            return false;
        }
    }
    true
}

/// Runs pcdns with `args` and no stdin.
pub fn pcdns(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pcdns"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("run pcdns")
}

/// Runs pcdns with `args`, feeding `input` on stdin.
pub fn pcdns_with_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_pcdns"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pcdns");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait pcdns");
    writer.join().expect("stdin writer");
    output
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The JSON report on standard output.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(output)))
}

/// Compares `actual` with the golden file `tests/golden/<name>`; PCDNS_BLESS=1 rewrites it.
pub fn assert_golden(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
    if std::env::var("PCDNS_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with PCDNS_BLESS=1 to create)", path.display()));
    if let Some(difference) = golden_difference(&expected, actual) {
        panic!(
            "{name} differs from {} (PCDNS_BLESS=1 regenerates; review the diff):\n{difference}",
            path.display(),
        );
    }
}

/// How `actual` differs from the golden text `expected`, for a failure message: the first five
/// differing lines, then, when one has more lines than the other, both counts and the first
/// five lines only one of them has; or the line endings when the lines are all the same. None
/// when the texts are equal.
pub fn golden_difference(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let (expected_lines, actual_lines): (Vec<&str>, Vec<&str>) =
        (expected.lines().collect(), actual.lines().collect());
    let mut report: Vec<String> = expected_lines
        .iter()
        .zip(&actual_lines)
        .enumerate()
        .filter(|(_, (e, a))| e != a)
        .take(5)
        .map(|(n, (e, a))| format!("line {}:\n  expected: {e}\n  actual:   {a}", n + 1))
        .collect();
    let common = expected_lines.len().min(actual_lines.len());
    if expected_lines.len() != actual_lines.len() {
        report.push(format!(
            "expected {} lines, actual {} lines",
            expected_lines.len(),
            actual_lines.len()
        ));
        let (longer, which) = match expected_lines.len() > actual_lines.len() {
            true => (&expected_lines, "only expected"),
            false => (&actual_lines, "only actual"),
        };
        report.extend(
            longer[common..]
                .iter()
                .enumerate()
                .take(5)
                .map(|(n, line)| format!("line {} ({which}): {line}", common + n + 1)),
        );
    }
    if report.is_empty() {
        report.push(format!(
            "the same lines; the line endings differ (expected ends {:?}, actual ends {:?})",
            &expected[expected.trim_end().len()..],
            &actual[actual.trim_end().len()..],
        ));
    }
    Some(report.join("\n"))
}

/// The manifest rows of the corpus: (relative path, column name → value).
pub fn manifest(dir: &Path) -> Vec<(String, std::collections::HashMap<String, String>)> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("read manifest");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("manifest header").split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: std::collections::HashMap<String, String> = header
                .iter()
                .zip(line.split('\t'))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (fields["path"].clone(), fields)
        })
        .collect()
}

/// A raw IPv4 packet (no options, checksum left 0) from `source` to `destination` carrying
/// `payload` of `protocol` (17 UDP, 6 TCP).
pub fn ipv4_packet(protocol: u8, source: [u8; 4], destination: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut packet = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0,
        0,
        64,
        protocol,
        0,
        0,
    ];
    packet.extend_from_slice(&source);
    packet.extend_from_slice(&destination);
    packet.extend_from_slice(payload);
    packet
}

/// A raw IPv4/UDP packet (checksum 0) carrying `payload` between (address, port) endpoints.
pub fn udp_packet(source: ([u8; 4], u16), destination: ([u8; 4], u16), payload: &[u8]) -> Vec<u8> {
    let length = (8 + payload.len()) as u16;
    let mut datagram = source.1.to_be_bytes().to_vec();
    datagram.extend_from_slice(&destination.1.to_be_bytes());
    datagram.extend_from_slice(&length.to_be_bytes());
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(payload);
    ipv4_packet(17, source.0, destination.0, &datagram)
}

/// Writes the synthetic capture of `config` to a temporary file.
pub fn synth_capture(
    config: pcdns::synth::SynthConfig,
    format: pcdns::capture::WriteFormat,
) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let out = std::io::BufWriter::new(std::fs::File::create(file.path()).expect("create"));
    let mut writer = pcdns::capture::CaptureWriter::new(out, format).expect("header");
    pcdns::synth::Synth::new(config)
        .write_all(&mut writer)
        .expect("frames");
    writer.finish().expect("flush");
    file
}

/// A pipeline run over `file` with small reassembly limits.
pub fn run_config(
    file: &tempfile::NamedTempFile,
    watching: pcdns::analyze::Watching,
    watch: pcdns::decode::WatchList,
    threads: usize,
    max_pending: usize,
) -> pcdns::pipeline::RunConfig {
    use pcdns::decode::{FragmentLimits, ReassemblyLimits, TcpLimits};
    pcdns::pipeline::RunConfig {
        inputs: vec![pcdns::capture::InputPath::File(file.path().to_path_buf())],
        decode: pcdns::decode::DecodeConfig {
            dns_ports: vec![53],
            watch,
            connection_targets: Vec::new(),
        },
        watching,
        threads,
        segment_bytes: pcdns::pipeline::SEGMENT_BYTES,
        progress: None,
        pairing: pcdns::analyze::PairingSettings {
            query_timeout_ns: 5_000_000_000,
            max_pending,
            max_bytes: usize::MAX,
        },
        reassembly: ReassemblyLimits {
            fragments: FragmentLimits {
                timeout_ns: 30_000_000_000,
                max_datagrams: 64,
                max_bytes: 1 << 20,
            },
            tcp: TcpLimits {
                idle_ns: 60_000_000_000,
                max_directions: 64,
                max_direction_bytes: 1 << 18,
                max_bytes: 1 << 22,
            },
        },
        discovered_names: pcdns::pipeline::DISCOVERED_NAMES,
        pseudonymize: None,
        keeps_seam: true,
    }
}

/// Renders each transaction of the log as its `Debug` text (every field, not only the line's).
pub struct DebugLog;

impl pcdns::pipeline::LogRenderer for DebugLog {
    type Chunk = Vec<String>;
    fn render(&self, transaction: &pcdns::analyze::Transaction, chunk: &mut Vec<String>) {
        chunk.push(format!("{transaction:?}"));
    }
    fn clear(&self, chunk: &mut Vec<String>) {
        chunk.clear();
    }
}

/// Collects the `Debug` texts of the log in order.
pub struct Collected(pub Vec<String>);

impl pcdns::pipeline::LogWriter<Vec<String>> for Collected {
    fn write(&mut self, chunks: &[&Vec<String>], order: &[(usize, usize)]) {
        self.0.extend(
            order
                .iter()
                .map(|&(chunk, entry)| chunks[chunk][entry].clone()),
        );
    }
}

/// A run with the transaction log: its outcome and the log's transactions (`Debug` texts).
pub fn logged_run(
    config: &pcdns::pipeline::RunConfig,
) -> (pcdns::pipeline::RunOutcome, Vec<String>) {
    let mut log = Collected(Vec::new());
    let outcome = pcdns::pipeline::run(config, &DebugLog, &mut log);
    (outcome, log.0)
}

/// Every file under `dir` (any depth), relative to it, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if let Ok(relative) = path.strip_prefix(base) {
                out.push(relative.to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The record batches of a Parquet file, read whole (panics naming the file when it cannot be).
#[cfg(feature = "parquet")]
pub fn parquet_batches(path: &Path) -> Vec<arrow_array::RecordBatch> {
    fn fail<T>(path: &Path, error: impl std::fmt::Display) -> T {
        panic!("{}: {error}", path.display())
    }
    let file = std::fs::File::open(path).unwrap_or_else(|e| fail(path, e));
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap_or_else(|e| fail(path, e))
        .build()
        .unwrap_or_else(|e| fail(path, e))
        .map(|batch| batch.unwrap_or_else(|e| fail(path, e)))
        .collect()
}
