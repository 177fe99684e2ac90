//! Live capture end to end (feature `live`): each test builds its own network namespace, runs a
//! real DNS server (BIND 9, the broken contoso zone), real clients (dig), `pcdns monitor` on an
//! interface inside the namespace and, for metrics, a real Prometheus server. Needs root, ip,
//! named, dig, curl, prometheus and tcpreplay; without them the tests skip (or fail under
//! PCDNS_REQUIRE_ALL=1). Traffic never leaves the namespaces. Tests poll with deadlines.
#![cfg(feature = "live")]

use crate::common::{self, heavy, root_and_programs, sample};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static LABS: AtomicUsize = AtomicUsize::new(0);

/// True as root with every program on PATH; otherwise reports what is missing.
fn have(programs: &[&str]) -> bool {
    root_and_programs(
        programs,
        "bind9, dnsutils, curl, prometheus, tcpreplay, iproute2",
    )
}

/// Polls `check` every 50 ms until it returns Some or `seconds` of wall-clock time pass.
fn poll<T>(seconds: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {seconds} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The path of the samples' expectations (samples/contoso.toml), as an argument.
fn contoso_expectations() -> String {
    sample("contoso.toml").display().to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A private network namespace with a work directory; everything is removed on drop. A lab
/// holds [`heavy`] from its start until it is gone (fields drop after `Drop::drop`, in order).
struct Lab {
    ns: String,
    dir: tempfile::TempDir,
    children: Vec<Child>,
    _heavy: std::sync::MutexGuard<'static, ()>,
}

impl Lab {
    /// A new lab, or None (after reporting what is missing) without root or `programs`.
    fn if_available(programs: &[&str]) -> Option<Lab> {
        have(programs).then(Lab::new)
    }

    fn new() -> Lab {
        let ns = format!(
            "pcdns-t{}-{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::Relaxed)
        );
        let lab = Lab {
            ns,
            dir: tempfile::tempdir().expect("temp dir"),
            children: Vec::new(),
            _heavy: heavy(),
        };
        run(Command::new("ip").args(["netns", "add", &lab.ns]));
        lab.sh("ip link set lo up");
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs a shell command inside the namespace; panics on failure.
    fn sh(&self, script: &str) -> Output {
        run(Command::new("ip").args(["netns", "exec", &self.ns, "sh", "-c", script]))
    }

    /// Starts `program args` inside the namespace, stdout and stderr to files named `tag`.
    fn spawn(&mut self, tag: &str, program: &str, args: &[&str]) -> u32 {
        let out = File::create(self.path(&format!("{tag}.out"))).expect("stdout file");
        let err = File::create(self.path(&format!("{tag}.err"))).expect("stderr file");
        // `ip netns exec` execs the program, so the child's PID is the program's own.
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Waits for the child `pid` to exit.
    fn wait(&mut self, pid: u32, seconds: u64) -> ExitStatus {
        let index = self
            .children
            .iter()
            .position(|c| c.id() == pid)
            .expect("our child");
        let mut child = self.children.remove(index);
        poll(seconds, "the process to exit", || {
            child.try_wait().expect("wait")
        })
    }

    /// Authoritative BIND for contoso.com on 127.0.0.53 with the broken zone of the samples:
    /// the pool has a stale extra member 10.10.10.3.
    fn start_named(&mut self) {
        self.sh("ip addr add 127.0.0.53/8 dev lo && ip addr add 127.0.0.11/8 dev lo");
        let dir = self.path("named");
        std::fs::create_dir_all(&dir).expect("named dir");
        std::fs::write(
            dir.join("contoso.zone"),
            "$TTL 300\n@ IN SOA ns1.contoso.com. hostmaster.contoso.com. 1 3600 600 86400 300\n\
             @ IN NS ns1.contoso.com.\nns1 IN A 127.0.0.53\n\
             PersistentChatServer01 IN A 10.10.10.1\n\
             PersistentChatPool IN A 10.10.10.1\nPersistentChatPool IN A 10.10.10.2\n\
             PersistentChatPool IN A 10.10.10.3\n",
        )
        .expect("zone");
        let d = dir.display();
        std::fs::write(
            dir.join("named.conf"),
            format!(
                "options {{ directory \"{d}\"; pid-file \"{d}/named.pid\"; session-keyfile \"{d}/s.key\";\n\
                 managed-keys-directory \"{d}\"; listen-on port 53 {{ 127.0.0.53; }}; listen-on-v6 {{ none; }};\n\
                 recursion no; dnssec-validation no; notify no; minimal-responses yes; }};\n\
                 controls {{ }};\nzone \"contoso.com\" {{ type primary; file \"{d}/contoso.zone\"; }};\n"
            ),
        )
        .expect("named.conf");
        let conf = dir.join("named.conf").display().to_string();
        self.spawn("named", "named", &["-g", "-4", "-n", "1", "-c", &conf]);
        let log = self.path("named.err");
        poll(20, "named to start", || {
            read(&log).contains("running").then_some(())
        });
    }

    /// Stops the monitor `pid` with `signal`; it must exit 0 (its standard error otherwise).
    fn stop_monitor(&mut self, pid: u32, signal: i32) {
        self.signal(pid, signal);
        let status = self.wait(pid, 20);
        assert_eq!(status.code(), Some(0), "{}", read(&self.path("pcdns.err")));
    }

    /// Starts `pcdns monitor` with `args`; returns its PID once it captures.
    fn start_monitor(&mut self, args: &[&str]) -> u32 {
        let pid = self.spawn("pcdns", env!("CARGO_BIN_EXE_pcdns"), args);
        let log = self.path("pcdns.err");
        poll(20, "pcdns to capture", || {
            read(&log).contains("capturing on").then_some(())
        });
        pid
    }

    fn dig(&self, server: &str, name: &str) {
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "dig",
                "+tries=1",
                "+timeout=1",
                "-b",
                "127.0.0.11",
            ])
            .arg(format!("@{server}"))
            .args([name, "A"])
            .output();
    }

    /// Runs `command` inside the namespace, expects exit status 2 and returns its stderr.
    fn fails_with_2(&self, command: &[&str]) -> String {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(command)
            .output()
            .expect("run in the namespace");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        stderr
    }

    #[allow(unsafe_code)]
    fn signal(&self, pid: u32, signal: i32) {
        // SAFETY: kill has no memory preconditions; `pid` is our own child.
        unsafe { libc::kill(pid as i32, signal) };
    }

    fn curl(&self, url: &str, query: Option<&str>) -> String {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.ns, "curl", "-s", "--max-time", "2"]);
        if let Some(query) = query {
            command.args(["-G", "--data-urlencode", &format!("query={query}")]);
        }
        let output = command.arg(url).output().expect("curl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("run command");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Asserts that `text` contains every one of `phrases`.
fn assert_mentions(text: &str, phrases: &[&str]) {
    for phrase in phrases {
        assert!(text.contains(phrase), "{phrase:?} not in: {text}");
    }
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn event_of<'a>(events: &'a [serde_json::Value], kind: &str) -> Option<&'a serde_json::Value> {
    events
        .iter()
        .find(|e| e["type"] == "finding" && e["kind"] == kind)
}

#[test]
fn wrong_address_shows_as_event_report_metric_and_in_prometheus() {
    let Some(mut lab) =
        Lab::if_available(&["ip", "named", "dig", "curl", "prometheus", "promtool"])
    else {
        return;
    };
    lab.start_named();
    let events = lab.path("events.ndjson");
    let evidence = lab.path("evidence");
    let expect = contoso_expectations();
    let pcdns = lab.start_monitor(&[
        "monitor",
        "-i",
        "lo",
        "-e",
        &expect,
        "--interval",
        "2",
        "--format",
        "json",
        "--metrics",
        "9153",
        "--events",
        &events.display().to_string(),
        "--evidence",
        &evidence.display().to_string(),
    ]);
    let config = lab.path("prometheus.yml");
    std::fs::write(
        &config,
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n  - job_name: pcdns\n    static_configs: [{targets: ['127.0.0.1:9153']}]\n",
    )
    .expect("prometheus config");
    let tsdb = lab.path("tsdb").display().to_string();
    lab.spawn(
        "prometheus",
        "prometheus",
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={tsdb}"),
            "--web.listen-address=127.0.0.1:9090",
        ],
    );
    let asked = Instant::now();
    for _ in 0..3 {
        lab.dig("127.0.0.53", "PersistentChatPool.contoso.com");
    }
    // The event: as soon as known (well within one interval).
    let event = poll(10, "the wrong-address event", || {
        event_of(&json_lines(&read(&events)), "wrong_address").cloned()
    });
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "event took {:?}",
        asked.elapsed()
    );
    assert_eq!(event["subject"], "10.10.10.3");
    assert_eq!(event["name"], "PersistentChatPool.contoso.com");
    assert!(event["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(event["examples"][0]["file"], "lo");
    // The frame behind it is in the evidence file the event names, and is that response.
    let file = evidence.join(event["evidence"]["file"].as_str().expect("evidence file"));
    let frame = event["evidence"]["frame"].as_u64().expect("evidence frame");
    let report = common::pcdns(&[
        "analyze",
        &file.display().to_string(),
        "-e",
        &expect,
        "-f",
        "json",
    ]);
    let saved = common::json(&report);
    let wrong = saved["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "wrong_address");
    assert_eq!(
        wrong.expect("the saved frame shows the wrong address")["examples"][0]["frame"],
        frame
    );
    // The metrics endpoint.
    let wrong = "pcdns_answer_address_total{name=\"PersistentChatPool.contoso.com\",address=\"10.10.10.3\",role=\"unexpected\"} 3";
    poll(10, "the metric", || {
        lab.curl("http://127.0.0.1:9153/metrics", None)
            .contains(wrong)
            .then_some(())
    });
    // The exposition passes Prometheus' own format check and lint.
    let metrics = lab.curl("http://127.0.0.1:9153/metrics", None);
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    std::io::Write::write_all(
        &mut promtool.stdin.take().expect("stdin"),
        metrics.as_bytes(),
    )
    .expect("write metrics to promtool");
    let checked = promtool.wait_with_output().expect("promtool");
    assert!(
        checked.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    // Prometheus scraped it: read the value back through its HTTP API.
    let value = poll(60, "Prometheus to have scraped the finding", || {
        let body = lab.curl(
            "http://127.0.0.1:9090/api/v1/query",
            Some("pcdns_finding_occurrences_total{kind=\"wrong_address\"}"),
        );
        let json: serde_json::Value = serde_json::from_str(&body).ok()?;
        let value = json["data"]["result"][0]["value"][1]
            .as_str()?
            .parse::<f64>()
            .ok()?;
        (value > 0.0).then_some(value)
    });
    assert_eq!(value, 3.0);
    // A periodic report came within the interval; SIGINT gives the final one and exit 0.
    let out = lab.path("pcdns.out");
    poll(10, "a periodic report", || {
        (!json_lines(&read(&out)).is_empty()).then_some(())
    });
    lab.stop_monitor(pcdns, libc::SIGINT);
    let reports = json_lines(&read(&out));
    let last = reports.last().expect("final report");
    assert_eq!(last["schema"], "pcdns.report/1");
    assert!(last["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "wrong_address"));
    assert_eq!(last["summary"]["interfaces"][0]["interface"], "lo");
    assert!(
        last["summary"]["interfaces"][0]["received"]
            .as_u64()
            .unwrap()
            >= 6
    );
    assert_eq!(last["summary"]["interfaces"][0]["kernel_dropped"], 0);
}

#[test]
fn an_unanswered_query_is_an_event_on_a_quiet_link_and_sighup_reloads() {
    let Some(mut lab) = Lab::if_available(&["ip", "dig"]) else {
        return;
    };
    lab.sh("ip addr add 127.0.0.55/8 dev lo && ip addr add 127.0.0.11/8 dev lo");
    let expect = contoso_expectations();
    let events = lab.path("events.ndjson");
    let pcdns = lab.start_monitor(&[
        "monitor",
        "-i",
        "any",
        "-e",
        &expect,
        "--query-timeout",
        "1",
        "--interval",
        "3600",
        "--pseudonymize",
        "test-key",
        "--events",
        &events.display().to_string(),
    ]);
    // `-i any` (Linux cooked capture: the default filter drops its VLAN half).
    // 127.0.0.55 is authorized but down: the query stays unanswered, and nothing else moves.
    lab.dig("127.0.0.55", "PersistentChatPool.contoso.com");
    let unanswered = |path: &Path| event_of(&json_lines(&read(path)), "unanswered").cloned();
    let event = poll(15, "the unanswered event", || unanswered(&events));
    assert_eq!(event["subject"], "127.0.0.55");
    // The client 127.0.0.11 shows only as its pseudonym.
    let client = event["clients"][0].as_str().expect("a client");
    assert!(client.starts_with("fd"), "{client}");
    // Log rotation: the file is moved away, SIGHUP reopens it (and reloads expectations).
    let rotated = lab.path("events.ndjson.1");
    std::fs::rename(&events, &rotated).expect("rotate");
    lab.signal(pcdns, libc::SIGHUP);
    let err = lab.path("pcdns.err");
    poll(10, "the reload", || {
        read(&err).contains("expectations reloaded").then_some(())
    });
    lab.dig("127.0.0.55", "PersistentChatPool.contoso.com");
    let again = poll(15, "an event in the reopened file", || unanswered(&events));
    assert_eq!(
        again["clients"], event["clients"],
        "the same pseudonym after a reload"
    );
    assert_eq!(json_lines(&read(&rotated)).len(), 1);
    lab.stop_monitor(pcdns, libc::SIGTERM);
    // Two text reports: the one before the reload and the final one.
    let out = lab.path("pcdns.out");
    assert_eq!(read(&out).matches("pcdns expectations report").count(), 2);
}

#[test]
fn without_events_file_events_go_to_stderr_and_stdout_has_only_reports() {
    let Some(mut lab) = Lab::if_available(&["ip", "dig"]) else {
        return;
    };
    lab.sh("ip addr add 127.0.0.55/8 dev lo && ip addr add 127.0.0.11/8 dev lo");
    let expect = contoso_expectations();
    let pcdns = lab.start_monitor(&[
        "monitor",
        "-i",
        "lo",
        "-e",
        &expect,
        "--query-timeout",
        "500ms",
        "--interval",
        "1h",
        "--format",
        "json",
    ]);
    // 127.0.0.55 is authorized but down: an unanswered event, on standard error.
    lab.dig("127.0.0.55", "PersistentChatPool.contoso.com");
    let err = lab.path("pcdns.err");
    let event = poll(15, "the unanswered event on stderr", || {
        event_of(&json_lines(&read(&err)), "unanswered").cloned()
    });
    assert_eq!(event["subject"], "127.0.0.55");
    lab.stop_monitor(pcdns, libc::SIGINT);
    // Standard output: the final report, one JSON line, and no event.
    let out = read(&lab.path("pcdns.out"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let report: serde_json::Value = serde_json::from_str(lines[0]).expect("a JSON report");
    assert!(report.get("type").is_none(), "{out}");
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "unanswered"));
}

/// An Ethernet/IPv4/UDP DNS response to the pool from samples/broken.pcap.
fn pool_response() -> Vec<u8> {
    use pcdns::capture::{CaptureReader, FrameBatch, InputPath};
    let mut reader = CaptureReader::open(&InputPath::File(sample("broken.pcap")), 0).unwrap();
    let mut batch = FrameBatch::default();
    reader.fill_batch(&mut batch, 10_000, 1 << 24).unwrap();
    batch
        .frames
        .iter()
        .map(|f| batch.frame_bytes(f).to_vec())
        .filter(|frame| frame.len() > 42 && frame[34..36] == 53u16.to_be_bytes())
        .max_by_key(Vec::len)
        .expect("a response")
}

fn ipv4_checksum(header: &mut [u8]) {
    header[10..12].copy_from_slice(&[0, 0]);
    let sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    let folded = (folded & 0xffff) + (folded >> 16);
    header[10..12].copy_from_slice(&(!(folded as u16)).to_be_bytes());
}

/// The response split into two IPv4 fragments (the second carries no UDP header).
fn fragments(frame: &[u8]) -> [Vec<u8>; 2] {
    let (ethernet, header, payload) = (&frame[..14], &frame[14..34], &frame[34..]);
    let cut = 24; // UDP header + 16 bytes of DNS; a multiple of 8.
    let piece = |bytes: &[u8], offset_units: u16, more: bool| {
        let mut ip = header.to_vec();
        ip[2..4].copy_from_slice(&((20 + bytes.len()) as u16).to_be_bytes());
        ip[6..8].copy_from_slice(&(offset_units | if more { 0x2000 } else { 0 }).to_be_bytes());
        ipv4_checksum(&mut ip);
        [ethernet, &ip, bytes].concat()
    };
    [
        piece(&payload[..cut], 0, true),
        piece(&payload[cut..], (cut / 8) as u16, false),
    ]
}

fn vlan_tagged(frame: &[u8]) -> Vec<u8> {
    [&frame[..12], &[0x81, 0x00, 0x00, 0x0a], &frame[12..]].concat()
}

#[test]
fn vlan_tagged_and_fragmented_responses_pass_the_default_filter() {
    let Some(mut lab) = Lab::if_available(&["ip", "tcpreplay"]) else {
        return;
    };
    lab.sh("ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up");
    let response = pool_response();
    let [first, second] = fragments(&response);
    let frames = [vlan_tagged(&response), first, second];
    let capture = lab.path("replay.pcap");
    let mut writer = pcdns::capture::CaptureWriter::new(
        File::create(&capture).unwrap(),
        pcdns::capture::WriteFormat::Pcap,
    )
    .unwrap();
    for (i, frame) in frames.iter().enumerate() {
        writer
            .write_frame(1_700_000_000_000_000_000 + i as u64, frame)
            .unwrap();
    }
    writer.finish().unwrap();
    let expect = contoso_expectations();
    let pcdns = lab.start_monitor(&["monitor", "-i", "v1", "-e", &expect, "--format", "json"]);
    lab.sh(&format!("tcpreplay -q -i v0 {}", capture.display()));
    // Both DNS messages must arrive, the tagged one and the reassembled one, although the stop
    // request comes at once: what the kernel holds is drained first.
    let out = lab.path("pcdns.out");
    lab.stop_monitor(pcdns, libc::SIGINT);
    let report = json_lines(&read(&out)).pop().expect("final report");
    let summary = &report["summary"];
    assert_eq!(summary["interfaces"][0]["received"], 3, "{summary}");
    assert_eq!(
        summary["reassembly"]["datagrams_reassembled"], 1,
        "{summary}"
    );
    assert_eq!(summary["responses"], 2, "{summary}");
}

#[test]
fn without_cap_net_raw_the_error_says_which_permission() {
    let Some(lab) = Lab::if_available(&["ip", "setpriv"]) else {
        return;
    };
    let stderr = lab.fails_with_2(&[
        "setpriv",
        "--bounding-set=-net_raw,-net_admin",
        "--inh-caps=-all",
        env!("CARGO_BIN_EXE_pcdns"),
        "monitor",
        "-i",
        "lo",
    ]);
    assert_mentions(
        &stderr,
        &["no permission to capture on \"lo\"", "CAP_NET_RAW"],
    );
}

#[test]
fn a_missing_interface_is_named_with_the_available_ones() {
    let Some(lab) = Lab::if_available(&["ip"]) else {
        return;
    };
    let stderr = lab.fails_with_2(&[env!("CARGO_BIN_EXE_pcdns"), "monitor", "-i", "eth9"]);
    assert_mentions(&stderr, &["no such interface \"eth9\"; available: ", "lo"]);
}

#[test]
fn an_interface_deleted_mid_run_is_a_clear_error_after_a_final_report() {
    let Some(mut lab) = Lab::if_available(&["ip"]) else {
        return;
    };
    lab.sh("ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up");
    let pcdns = lab.start_monitor(&["monitor", "-i", "v1", "--format", "json"]);
    lab.sh("ip link del v0");
    let status = lab.wait(pcdns, 20);
    let stderr = read(&lab.path("pcdns.err"));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_mentions(&stderr, &["v1: capture failed (interface gone or down?)"]);
    let report = json_lines(&read(&lab.path("pcdns.out")))
        .pop()
        .expect("final report");
    assert_eq!(report["summary"]["interfaces"][0]["interface"], "v1");
}

#[test]
fn with_user_the_monitor_drops_root_once_the_capture_is_open() {
    let Some(mut lab) = Lab::if_available(&["ip"]) else {
        return;
    };
    let pcdns = lab.start_monitor(&["monitor", "-i", "lo", "--user", "nobody"]);
    let status = format!("/proc/{pcdns}/status");
    let uid_line = poll(10, "the user switch", || {
        read(Path::new(&status))
            .lines()
            .find(|l| l.starts_with("Uid:") && !l.contains("\t0\t"))
            .map(str::to_string)
    });
    assert!(
        uid_line.split_whitespace().skip(1).all(|id| id != "0"),
        "{uid_line}"
    );
    lab.stop_monitor(pcdns, libc::SIGINT);
    assert!(read(&lab.path("pcdns.out")).contains("pcdns discovery report"));
}

/// A client inside the namespace that, for `seconds`, keeps a connection to the metrics port
/// open by sending one byte a second; when the server closes it, it connects again.
const TRICKLE: &str = r#"trap '' PIPE
end=$((SECONDS + $1))
while [ "$SECONDS" -lt "$end" ]; do
    exec 3<>/dev/tcp/127.0.0.1/9153 || exit 1
    while [ "$SECONDS" -lt "$end" ] && printf G >&3 2>/dev/null; do sleep 1; done
    exec 3>&-
done"#;

impl Lab {
    /// Scrapes the metrics port from `source` with a one-second limit: the body, or why not.
    fn scrape_within_a_second(&self, source: &str) -> Result<String, String> {
        let asked = Instant::now();
        let output = Command::new("ip")
            .args(["netns", "exec", &self.ns, "curl", "-sS", "--fail"])
            .args(["--max-time", "1", "--interface", source])
            .arg("http://127.0.0.1:9153/metrics")
            .output()
            .expect("curl");
        let took = asked.elapsed();
        if !output.status.success() || took >= Duration::from_secs(1) {
            return Err(format!(
                "after {took:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Starts the trickling clients numbered `clients`, each for `seconds`.
    fn trickle(&mut self, clients: std::ops::Range<usize>, seconds: u64) {
        let seconds = seconds.to_string();
        for client in clients {
            self.spawn(
                &format!("trickle{client}"),
                "bash",
                &["-c", TRICKLE, "-", &seconds],
            );
        }
    }

    /// Scrapes from `source` every 200 ms for `seconds`; every scrape must answer in time.
    fn keep_scraping(&self, source: &str, seconds: u64) -> usize {
        let until = Instant::now() + Duration::from_secs(seconds);
        let mut scrapes = 0;
        while Instant::now() < until {
            let body = self
                .scrape_within_a_second(source)
                .unwrap_or_else(|e| panic!("scrape {scrapes} from {source} failed {e}"));
            assert!(
                body.contains("pcdns_capture_received_packets_total"),
                "{body}"
            );
            scrapes += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
        scrapes
    }
}

#[test]
fn metrics_answer_within_a_second_while_clients_trickle_bytes() {
    let Some(mut lab) = Lab::if_available(&["ip", "curl", "bash"]) else {
        return;
    };
    lab.sh("ip addr add 127.0.0.11/8 dev lo");
    let pcdns = lab.start_monitor(&["monitor", "-i", "lo", "--metrics", "9153"]);
    poll(10, "the first metrics", || {
        lab.scrape_within_a_second("127.0.0.1").ok()
    });
    // Four clients on 127.0.0.1 that send a byte a second, as the scraper's own address.
    lab.trickle(0..4, 14);
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.keep_scraping("127.0.0.1", 5) >= 10);
    // Eight more from 127.0.0.1 (twelve: over the per-address cap): a scraper on another
    // address is still answered every time.
    lab.trickle(4..12, 8);
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.keep_scraping("127.0.0.11", 4) >= 8);
    // A request whose headers never end is closed at the deadline (2 s), with no answer.
    let started = Instant::now();
    let stalled = Command::new("ip")
        .args(["netns", "exec", &lab.ns, "bash", "-c"])
        .arg(r"exec 3<>/dev/tcp/127.0.0.1/9153; printf 'GET /metrics HTTP/1.1\r\n' >&3; cat <&3")
        .output()
        .expect("bash");
    let waited = started.elapsed();
    assert!(stalled.stdout.is_empty(), "{stalled:?}");
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(4),
        "closed after {waited:?}"
    );
    lab.stop_monitor(pcdns, libc::SIGINT);
}

/// The files under `dir` (any depth), split into visible Parquet files and everything else.
#[cfg(feature = "parquet")]
fn parquet_log_files(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    common::files_under(dir)
        .into_iter()
        .map(|f| dir.join(f))
        .partition(|f| {
            let name = f.file_name().unwrap().to_string_lossy();
            !name.starts_with('_') && name.ends_with(".parquet")
        })
}

/// The client column of a closed Parquet log file (panics when it cannot be read whole).
#[cfg(feature = "parquet")]
fn parquet_clients(path: &Path) -> Vec<String> {
    use arrow_array::cast::AsArray;
    let mut clients = Vec::new();
    for batch in common::parquet_batches(path) {
        let column = batch
            .column_by_name("orig_h")
            .expect("orig_h")
            .as_string::<i32>();
        clients.extend(column.iter().flatten().map(String::from));
    }
    clients
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_log_rolls_and_a_killed_monitor_leaves_only_whole_files() {
    let Some(mut lab) = Lab::if_available(&["ip", "named", "dig"]) else {
        return;
    };
    lab.start_named();
    let logs = lab.path("logs");
    let expect = sample("contoso.toml").display().to_string();
    let pcdns = lab.start_monitor(&[
        "monitor",
        "-i",
        "lo",
        "-e",
        &expect,
        "--interval",
        "3600",
        "--pseudonymize",
        "test-key",
        "--log-parquet",
        &logs.display().to_string(),
        "--log-roll",
        "500ms",
        "--sensor",
        "lab",
    ]);
    // Lookups until a roll has closed a file.
    poll(30, "a closed Parquet file", || {
        lab.dig("127.0.0.53", "PersistentChatPool.contoso.com");
        let (closed, _) = parquet_log_files(&logs);
        (!closed.is_empty()).then_some(())
    });
    // More lookups until a file is being written, then SIGKILL.
    poll(30, "a file being written", || {
        lab.dig("127.0.0.53", "PersistentChatServer01.contoso.com");
        let (_, partial) = parquet_log_files(&logs);
        (!partial.is_empty()).then_some(())
    });
    lab.signal(pcdns, libc::SIGKILL);
    assert_eq!(lab.wait(pcdns, 10).code(), None, "killed by a signal");
    let (closed, others) = parquet_log_files(&logs);
    assert!(!closed.is_empty());
    let mut clients = Vec::new();
    for file in &closed {
        let relative = file.strip_prefix(&logs).unwrap().display().to_string();
        assert!(
            relative.starts_with("date=") && relative.contains("/hour="),
            "{relative}"
        );
        assert!(file
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("lab-"));
        clients.extend(parquet_clients(file));
    }
    assert!(!clients.is_empty());
    // Clients stay pseudonyms (the client 127.0.0.11 is never written).
    assert!(clients.iter().all(|c| c.starts_with("fd")), "{clients:?}");
    // What the kill cut short is hidden from engines: `_…partial` only.
    for file in &others {
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(
            name.starts_with('_') && name.ends_with(".partial"),
            "{name}"
        );
    }
    // SIGTERM closes the open file long before the hour's roll.
    let pcdns = lab.start_monitor(&[
        "monitor",
        "-i",
        "lo",
        "-e",
        &expect,
        "--interval",
        "3600",
        "--log-parquet",
        &logs.display().to_string(),
    ]);
    poll(30, "a file being written", || {
        lab.dig("127.0.0.53", "PersistentChatPool.contoso.com");
        (parquet_log_files(&logs).1.len() > others.len()).then_some(())
    });
    lab.signal(pcdns, libc::SIGTERM);
    assert_eq!(lab.wait(pcdns, 20).code(), Some(0));
    let (closed_now, others_now) = parquet_log_files(&logs);
    assert_eq!(others_now, others);
    assert_eq!(closed_now.len(), closed.len() + 1);
}
