//! The command line on the bundled samples: golden reports, the key facts of the broken sample
//! asserted on their own, exit codes, stdin, compression, several files and bad input.

use crate::common::*;
use serde_json::Value;
use std::process::Output;

const BROKEN: &str = "samples/broken.pcap";
const HEALTHY: &str = "samples/healthy.pcap";
const CONTOSO: &str = "samples/contoso.toml";

fn finding<'a>(report: &'a Value, kind: &str, name: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind && f["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} finding for {name}"))
}

/// The JSON report of the broken sample against the contoso expectations.
fn broken_report() -> Value {
    json(&pcdns(&[
        "analyze", BROKEN, "--expect", CONTOSO, "--format", "json",
    ]))
}

/// The report section of one watched name.
fn name<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["names"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no name {name}"))
}

fn example_frames(finding: &Value) -> Vec<u64> {
    finding["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["frame"].as_u64().unwrap())
        .collect()
}

/// Runs pcdns, checks its exit code and compares its output with a golden file.
fn assert_golden_run(args: &[&str], exit_code: i32, golden: &str) {
    let output = pcdns(args);
    assert_eq!(output.status.code(), Some(exit_code), "{}", stderr(&output));
    assert_golden(golden, &stdout(&output));
}

#[test]
fn broken_sample_text_report_matches_golden_and_exits_1() {
    assert_golden_run(&["analyze", BROKEN, "--expect", CONTOSO], 1, "broken.txt");
}

#[test]
fn broken_sample_json_report_matches_golden() {
    assert_golden_run(
        &["analyze", BROKEN, "--expect", CONTOSO, "--format", "json"],
        1,
        "broken.json",
    );
}

#[test]
fn broken_sample_names_the_wrong_address_the_missing_record_and_the_rogue_server() {
    let report = json(&pcdns(&[
        "analyze", BROKEN, "--expect", CONTOSO, "--format", "json",
    ]));
    let wrong = finding(&report, "wrong_address", "PersistentChatPool.contoso.com");
    assert_eq!(wrong["subject"], "10.10.10.3");
    assert_eq!(wrong["severity"], "error");
    assert_eq!(wrong["count"], 12);
    assert_eq!(example_frames(wrong), [2, 6, 10, 14, 18]);
    let missing = finding(&report, "nxdomain", "PersistentChatServer02.contoso.com");
    assert_eq!(missing["count"], 3);
    assert_eq!(example_frames(missing), [16, 20, 24]);
    let rogue = finding(
        &report,
        "unauthorized_server",
        "PersistentChatPool.contoso.com",
    );
    assert_eq!(rogue["subject"], "127.0.0.54");
    assert_eq!(example_frames(rogue), [48, 50]);
    let lacking = finding(&report, "missing_member", "PersistentChatPool.contoso.com");
    assert_eq!(
        (lacking["subject"].as_str(), lacking["severity"].as_str()),
        (Some("10.10.10.2"), Some("warning"))
    );
    // AAAA for an IPv4-only pool is counted as NODATA, never a finding.
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["kind"] != "nodata"));
    let pool = name(&report, "PersistentChatPool.contoso.com");
    assert_eq!(pool["rcodes"]["NODATA"], 3);
}

#[test]
fn broken_sample_shows_which_members_each_client_received_first() {
    let report = broken_report();
    let pool = name(&report, "PersistentChatPool.contoso.com");
    let clients = pool["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 3);
    for client in clients {
        let received: u64 = client["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["first"].as_u64().unwrap())
            .sum();
        // Every NOERROR answer has exactly one first address; each client also got one NODATA (AAAA).
        let answered = client["responses"].as_u64().unwrap() - 1;
        assert_eq!(received, answered, "{client}");
    }
}

#[test]
fn tshark_confirms_the_frame_numbers_of_the_broken_sample() {
    if !tool_available("tshark") {
        return missing("tshark");
    }
    let fields = |filter: &str| -> Vec<u64> {
        let output = std::process::Command::new("tshark")
            .args([
                "-r",
                BROKEN,
                "-Y",
                filter,
                "-T",
                "fields",
                "-e",
                "frame.number",
            ])
            .current_dir(root())
            .output()
            .expect("run tshark");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect()
    };
    let report = json(&pcdns(&[
        "analyze", BROKEN, "--expect", CONTOSO, "--format", "json",
    ]));
    let wrong_frames = fields("dns.flags.response == 1 && dns.a == 10.10.10.3");
    assert_eq!(wrong_frames.len(), 12);
    assert_eq!(
        example_frames(finding(
            &report,
            "wrong_address",
            "PersistentChatPool.contoso.com"
        )),
        wrong_frames[..5]
    );
    let nxdomain_frames =
        fields("dns.flags.rcode == 3 && dns.qry.name == \"PersistentChatServer02.contoso.com\"");
    assert_eq!(
        example_frames(finding(
            &report,
            "nxdomain",
            "PersistentChatServer02.contoso.com"
        )),
        nxdomain_frames
    );
    let rogue_frames = fields("dns.flags.response == 1 && ip.src == 127.0.0.54");
    assert_eq!(
        example_frames(finding(
            &report,
            "unauthorized_server",
            "PersistentChatPool.contoso.com"
        )),
        rogue_frames
    );
}

#[test]
fn healthy_sample_is_clean_and_matches_golden() {
    assert_golden_run(&["analyze", HEALTHY, "--expect", CONTOSO], 0, "healthy.txt");
}

#[test]
fn fail_on_chooses_the_severity_that_sets_exit_1() {
    let warnings_only = pcdns(&["analyze", BROKEN, "--expect", CONTOSO, "--fail-on", "never"]);
    assert_eq!(warnings_only.status.code(), Some(0));
    let healthy_strict = pcdns(&["analyze", HEALTHY, "--expect", CONTOSO, "--fail-on", "info"]);
    assert_eq!(healthy_strict.status.code(), Some(0));
}

#[test]
fn discovery_without_expectations_lists_names_and_failures() {
    assert_golden_run(&["analyze", BROKEN], 0, "broken-discovery.txt");
    let report = json(&pcdns(&["analyze", BROKEN, "--format", "json"]));
    assert_eq!(report["mode"], "discovery");
    assert_eq!(
        report["failures"][0]["name"],
        "PersistentChatServer02.contoso.com"
    );
}

#[test]
fn expect_from_a_healthy_capture_writes_expectations_that_pass_on_it() {
    let output = pcdns(&["expect", "--from", HEALTHY]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert_golden("healthy-expect.toml", &text);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &text).unwrap();
    let path = file.path().to_str().unwrap();
    assert_eq!(
        pcdns(&["analyze", HEALTHY, "--expect", path]).status.code(),
        Some(0)
    );
    assert_eq!(
        pcdns(&["analyze", BROKEN, "--expect", path]).status.code(),
        Some(1)
    );
}

/// Writes `pcdns expect --from CAPTURE` to a file and analyses CAPTURE with it: the file's
/// text, the stderr of `expect`, and the findings.
fn expect_then_analyse(capture: &str) -> (String, String, Vec<Value>) {
    let output = pcdns(&["expect", "--from", capture]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &text).unwrap();
    let path = file.path().to_str().unwrap();
    let report = json(&pcdns(&[
        "analyze", capture, "--expect", path, "-f", "json",
    ]));
    let findings = report["findings"].as_array().unwrap().clone();
    (text, stderr(&output), findings)
}

#[test]
fn expectations_written_from_a_known_good_capture_raise_no_finding_on_it() {
    // samples/cname.pcap: clients reach the pool through chat.contoso.com CNAME the pool.
    for capture in [HEALTHY, "samples/cname.pcap"] {
        let (text, warnings, findings) = expect_then_analyse(capture);
        assert!(findings.is_empty(), "{capture}: {findings:#?}\n{text}");
        assert_eq!(warnings, "", "{capture}");
    }
    let (text, _, _) = expect_then_analyse("samples/cname.pcap");
    let pool = "[[pool]]\nname = \"PersistentChatPool.contoso.com\"\n\
                members = [\"10.10.10.1\", \"10.10.10.2\"]\naliases = [\"chat.contoso.com\"]\n";
    assert!(text.contains(pool), "{text}");
    assert!(!text.contains("name = \"chat.contoso.com\""), "{text}");
}

#[test]
fn expect_from_a_capture_with_failures_warns_and_lists_them_as_comments() {
    let (text, warnings, _) = expect_then_analyse(BROKEN);
    assert!(
        warnings.contains("warning: the capture holds failed lookups (PersistentChatServer02.contoso.com: NXDOMAIN 3; PersistentChatPool.contoso.com: unanswered 2)"),
        "{warnings}"
    );
    assert!(
        text.contains("\n#   PersistentChatServer02.contoso.com: NXDOMAIN 3\n"),
        "{text}"
    );
    assert!(!text.contains("name = \"PersistentChatServer02"), "{text}");
}

#[test]
fn no_watched_response_is_a_warning_that_suggests_the_port_dns_was_found_on() {
    // samples/other-port.pcap: BIND answering the pool on UDP port 5300, nothing on 53.
    let other_port = "samples/other-port.pcap";
    let args = ["analyze", other_port, "-e", CONTOSO, "--fail-on", "warning"];
    let output = pcdns(&[&args[..], &["-f", "json"]].concat());
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output);
    let empty = finding(&report, "no_watched_responses", "");
    assert_eq!(empty["severity"], "warning");
    let message = empty["message"].as_str().unwrap();
    assert!(
        message.contains("(4 on UDP port 5300): rerun with --dns-port 5300"),
        "{message}"
    );
    // Told the port, the same capture has its evidence and no such finding.
    let told = json(&pcdns(
        &[&args[..], &["-f", "json", "--dns-port", "5300"]].concat(),
    ));
    assert_eq!(told["summary"]["watched_responses"], 4);
    assert!(!has_kind(&told, "no_watched_responses"));
    // A merge keeps what the second look found.
    let saved = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(saved.path(), &output.stdout).unwrap();
    let merged = json(&pcdns(&[
        "merge",
        saved.path().to_str().unwrap(),
        "-f",
        "json",
    ]));
    assert_eq!(
        finding(&merged, "no_watched_responses", "")["message"],
        message
    );
    // Watched names answered on port 53 nowhere, and DNS on no other port: no suggestion.
    let expectations = tempfile::NamedTempFile::new().unwrap();
    let other = "[[server]]\nname = \"elsewhere.example\"\naddress = \"192.0.2.1\"\n";
    std::fs::write(expectations.path(), other).unwrap();
    let path = expectations.path().to_str().unwrap();
    let report = json(&pcdns(&["analyze", HEALTHY, "-e", path, "-f", "json"]));
    let message = finding(&report, "no_watched_responses", "")["message"].to_string();
    assert!(
        message.contains("in 44 packets (44 DNS messages"),
        "{message}"
    );
    assert!(!message.contains("--dns-port"), "{message}");
    // Evidence found: no finding.
    let healthy = json(&pcdns(&["analyze", HEALTHY, "-e", CONTOSO, "-f", "json"]));
    assert!(!has_kind(&healthy, "no_watched_responses"));
}

fn has_kind(report: &Value, kind: &str) -> bool {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == kind)
}

#[test]
fn any_number_of_threads_gives_the_same_bytes() {
    // A synthetic capture of several batches, so that the threads share the work, a third of
    // its events for the watched pool, with the expectations of that pool; and the two samples,
    // as several files.
    let dir = tempfile::tempdir().unwrap();
    let (capture, expectations) = (dir.path().join("synth.pcap"), dir.path().join("synth.toml"));
    let (capture, expectations) = (capture.to_str().unwrap(), expectations.to_str().unwrap());
    let packets = (6 * pcdns::pipeline::BATCH_FRAMES).to_string();
    let synth = pcdns(&[
        "synth",
        "--out",
        capture,
        "--packets",
        &packets,
        "--clients",
        "500",
        "--other-dns",
        "0.3",
        "--expect-out",
        expectations,
    ]);
    assert!(synth.status.success(), "{}", stderr(&synth));
    let commands: [&[&str]; 5] = [
        &["analyze", capture, "--format", "json"],
        &[
            "analyze",
            capture,
            "--expect",
            expectations,
            "--format",
            "json",
        ],
        &[
            "analyze", BROKEN, HEALTHY, "--expect", CONTOSO, "--format", "json",
        ],
        &["log", capture],
        &["log", capture, "--expect", expectations],
    ];
    for command in commands {
        let run = |threads: &str| pcdns(&[command, &["--threads", threads]].concat());
        let one = run("1");
        assert!(!one.stdout.is_empty(), "{command:?}: {}", stderr(&one));
        for threads in ["2", "4"] {
            let other = run(threads);
            assert_eq!(other.status.code(), one.status.code(), "{command:?}");
            if let Some(difference) = golden_difference(&stdout(&one), &stdout(&other)) {
                panic!("{command:?} on {threads} threads differs from one thread:\n{difference}");
            }
        }
    }
}

#[test]
fn several_files_keep_their_own_frame_numbers() {
    let report = json(&pcdns(&[
        "analyze", HEALTHY, BROKEN, "--expect", CONTOSO, "--format", "json",
    ]));
    let wrong = finding(&report, "wrong_address", "PersistentChatPool.contoso.com");
    assert_eq!(wrong["examples"][0]["file"], BROKEN);
    assert_eq!(wrong["examples"][0]["frame"], 2);
    assert_eq!(report["summary"]["files"].as_array().unwrap().len(), 2);
    assert_eq!(report["summary"]["packets"], 44 + 50);
}

#[test]
fn stdin_and_compressed_input_give_the_same_report() {
    use std::io::Write;
    let plain = std::fs::read(root().join(BROKEN)).unwrap();
    let reference = pcdns(&["analyze", BROKEN, "--expect", CONTOSO, "--format", "json"]);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&plain).unwrap();
    let zstd =
        ruzstd::encoding::compress_to_vec(&plain[..], ruzstd::encoding::CompressionLevel::Fastest);
    for (label, bytes) in [
        ("plain", plain.clone()),
        ("gzip", gzip.finish().unwrap()),
        ("zstd", zstd),
    ] {
        let output = pcdns_with_stdin(
            &["analyze", "-", "--expect", CONTOSO, "--format", "json"],
            &bytes,
        );
        assert_same_report(label, &output, &reference);
    }
}

/// `output` exited 1 with the report of `reference`, read from another kind of input: only
/// the input's name and compression differ.
fn assert_same_report(label: &str, output: &Output, reference: &Output) {
    assert_eq!(output.status.code(), Some(1), "{label}: {}", stderr(output));
    assert_eq!(
        without_file_names(json(output)),
        without_file_names(json(reference)),
        "{label}"
    );
}

/// `report` without the names and compression of its input files.
fn without_file_names(mut report: Value) -> Value {
    report["summary"]["files"] = Value::Null;
    report["state"]["files"] = Value::Null;
    for f in report["findings"].as_array_mut().unwrap() {
        for e in f["examples"].as_array_mut().unwrap() {
            e["file"] = Value::Null;
        }
    }
    for n in report["names"].as_array_mut().unwrap() {
        for s in n["answer_sets"].as_array_mut().unwrap() {
            for e in s["examples"].as_array_mut().unwrap() {
                e["file"] = Value::Null;
            }
        }
    }
    report
}

#[test]
fn a_named_pipe_is_read_as_a_stream_plain_or_compressed() {
    let reference = pcdns(&["analyze", BROKEN, "--expect", CONTOSO, "--format", "json"]);
    let dir = tempfile::tempdir().unwrap();
    for (label, writer) in [("plain", "cat"), ("gzip", "gzip -c")] {
        let fifo = dir.path().join(label).display().to_string();
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "mkfifo {fifo} || exit 2; {writer} {BROKEN} >{fifo} & timeout 30 \"$PCDNS\" analyze {fifo} \
                 --expect {CONTOSO} --format json; status=$?; wait; exit $status"
            ))
            .env("PCDNS", env!("CARGO_BIN_EXE_pcdns"))
            .current_dir(root())
            .output()
            .expect("run sh");
        assert_same_report(label, &output, &reference);
    }
}

#[test]
fn truncated_file_reports_what_was_read_names_the_offset_and_exits_2() {
    let bytes = std::fs::read(root().join(BROKEN)).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bytes[..bytes.len() - 30]).unwrap();
    let path = file.path().to_str().unwrap();
    let output = pcdns(&["analyze", path, "--expect", CONTOSO, "--format", "json"]);
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(
        error.contains(path) && error.contains("truncated at byte offset"),
        "{error}"
    );
    let report = json(&output);
    assert_eq!(report["summary"]["packets"], 49);
    assert_eq!(
        finding(&report, "wrong_address", "PersistentChatPool.contoso.com")["count"],
        12
    );
    assert_eq!(report["capture_errors"].as_array().unwrap().len(), 1);
}

#[test]
fn empty_garbage_and_missing_files_are_clear_errors() {
    let empty = tempfile::NamedTempFile::new().unwrap();
    let garbage = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(garbage.path(), b"GET / HTTP/1.1\r\nHost: example\r\n\r\n").unwrap();
    let cases = [
        (
            empty.path().to_str().unwrap().to_string(),
            "truncated at byte offset 0",
        ),
        (
            garbage.path().to_str().unwrap().to_string(),
            "not a capture file",
        ),
        (
            "no/such/file.pcap".to_string(),
            "no/such/file.pcap: cannot open",
        ),
    ];
    for (path, message) in cases {
        let output = pcdns(&["analyze", &path]);
        assert_eq!(output.status.code(), Some(2), "{path}");
        assert!(
            stderr(&output).contains(message),
            "{path}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn wrong_expectations_name_file_line_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[[pool]]\nname = \"p.contoso.com\"\nmembers = [\"10.10.10.1\", \"10.10.10.x\"]\n",
            ":3: \"10.10.10.x\" is not an IPv4 or IPv6 address",
        ),
        (
            "[[server]]\nname = \"s.contoso.com\"\naddress = \"10.0.0.1\"\ncolour = \"blue\"\n",
            ":4: unknown field `colour`",
        ),
        (
            "[[pool]]\nname = \"p.contoso.com\"\nmembers = []\n",
            ":1: pool \"p.contoso.com\" has no members",
        ),
        ("[[server\n", ":1: "),
    ];
    for (index, (text, message)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{index}.toml"));
        std::fs::write(&path, text).unwrap();
        let output = pcdns(&["analyze", BROKEN, "--expect", path.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2));
        let error = stderr(&output);
        assert!(
            error.contains(&format!("{}{message}", path.display())),
            "{error}"
        );
        assert!(
            output.stdout.is_empty(),
            "no report without valid expectations"
        );
    }
}

#[test]
fn a_closed_stdout_exits_quietly() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_pcdns"))
        .args(["analyze", BROKEN, "--expect", CONTOSO])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
    assert_ne!(output.status.code(), Some(2));
}

#[test]
fn queries_to_a_down_server_are_unanswered_findings_with_their_frames() {
    let report = json(&pcdns(&[
        "analyze", BROKEN, "--expect", CONTOSO, "--format", "json",
    ]));
    let unanswered = finding(&report, "unanswered", "PersistentChatPool.contoso.com");
    assert_eq!(
        (
            unanswered["subject"].as_str(),
            unanswered["severity"].as_str()
        ),
        (Some("127.0.0.55"), Some("error"))
    );
    assert_eq!(example_frames(unanswered), [25, 26]);
    assert_eq!(unanswered["clients"][0], "127.0.0.12");
    let transactions = &report["summary"]["transactions"];
    assert_eq!(
        (
            transactions["answered"].as_u64(),
            transactions["unanswered"].as_u64()
        ),
        (Some(23), Some(2))
    );
    assert_eq!(transactions["query_timeout_seconds"], 5.0);
    // With a timeout longer than the rest of the capture, they are only pending at the end.
    let patient = json(&pcdns(&[
        "analyze",
        BROKEN,
        "--expect",
        CONTOSO,
        "--format",
        "json",
        "--query-timeout",
        "30",
    ]));
    assert_eq!(patient["summary"]["transactions"]["pending_at_end"], 2);
    assert!(patient["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["kind"] != "unanswered"));
}

#[test]
fn latency_is_reported_per_name_and_per_server() {
    let report = broken_report();
    let pool = name(&report, "PersistentChatPool.contoso.com");
    let latency = &pool["latency"];
    assert_eq!(latency["count"], 17);
    let (p50, p99, max) = (
        latency["p50_ms"].as_f64().unwrap(),
        latency["p99_ms"].as_f64().unwrap(),
        latency["max_ms"].as_f64().unwrap(),
    );
    assert!(
        0.0 < p50 && p50 <= p99 && p99 <= max && max < 100.0,
        "{latency}"
    );
    let bucket_total: u64 = latency["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[1].as_u64().unwrap())
        .sum();
    assert_eq!(bucket_total, 17);
    assert!(pool["servers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["latency"]["count"].as_u64() > Some(0)));
}

#[test]
fn transaction_log_of_the_broken_sample_matches_golden() {
    assert_golden_run(&["log", BROKEN], 0, "broken-log.ndjson");
    let watched_only = stdout(&pcdns(&["log", BROKEN, "--expect", CONTOSO]));
    assert_eq!(
        watched_only.lines().count(),
        25,
        "www.contoso.com is not watched"
    );
    let every_name = stdout(&pcdns(&["log", BROKEN, "--expect", CONTOSO, "--all"]));
    assert_eq!(every_name.lines().count(), 26);
    let statuses: Vec<String> = every_name
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(statuses.iter().filter(|s| *s == "unanswered").count(), 2);
}

#[test]
fn durations_take_units_and_a_wrong_one_is_refused_with_exit_2() {
    let output = pcdns(&[
        "analyze",
        HEALTHY,
        "--expect",
        CONTOSO,
        "--format",
        "json",
        "--fail-on",
        "never",
        "--query-timeout",
        "500ms",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        json(&output)["summary"]["transactions"]["query_timeout_seconds"],
        0.5
    );
    let output = pcdns(&["analyze", HEALTHY, "--query-timeout", "2x"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    for phrase in [
        "--query-timeout",
        "'2x' for '--query-timeout <DURATION>': not a duration",
        "500ms, 30s",
    ] {
        assert!(message.contains(phrase), "{phrase}: {message}");
    }
    assert!(stdout(&output).is_empty());
}

#[test]
fn help_ends_with_examples_and_exit_codes() {
    let output = pcdns(&["analyze", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = stdout(&output);
    let examples = help.find("Examples").expect(&help);
    let exit_codes = help.find("Exit codes").expect(&help);
    assert!(examples < exit_codes, "{help}");
    for phrase in ["pcdns analyze ", "0 ", "1 ", "2 "] {
        assert!(help[examples..].contains(phrase), "{phrase}: {help}");
    }
}

#[test]
fn golden_diffs_report_extra_and_missing_lines_and_line_endings() {
    assert_eq!(golden_difference("a\nb\n", "a\nb\n"), None);
    let longer = golden_difference("a\nb\n", "a\nb\nc\nd\n").expect("differs");
    assert!(
        longer.contains("expected 2 lines, actual 4 lines"),
        "{longer}"
    );
    assert!(longer.contains("line 3 (only actual): c"), "{longer}");
    assert!(longer.contains("line 4 (only actual): d"), "{longer}");
    let shorter = golden_difference("a\nx\nb\n", "a\ny\n").expect("differs");
    assert!(
        shorter.contains("line 2:\n  expected: x\n  actual:   y"),
        "{shorter}"
    );
    assert!(shorter.contains("line 3 (only expected): b"), "{shorter}");
    let ending = golden_difference("a\nb\n", "a\nb").expect("differs");
    assert!(ending.contains("line endings differ"), "{ending}");
}

/// Runs `shell` (sh syntax, in the project root, `$PCDNS` the binary) under a pseudo-terminal
/// (util-linux `script`), so that pcdns sees a terminal on stderr; returns what reached the
/// terminal, or None (reported missing) without `script`.
fn on_a_terminal(shell: &str) -> Option<String> {
    use std::process::{Command, Stdio};
    if !tool_available("script") {
        missing("script (package util-linux)");
        return None;
    }
    let mut child = Command::new("script")
        .args(["-qec", shell, "/dev/null"])
        .env("PCDNS", env!("CARGO_BIN_EXE_pcdns"))
        .env("TERM", "xterm")
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run script");
    // `script` ends the session when its own input ends: keep that open until it is done.
    let _input = child.stdin.take();
    let output = child.wait_with_output().expect("wait for script");
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn progress_is_a_spinner_for_a_pipe_and_nothing_for_a_short_run() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo").display().to_string();
    // The capture arrives at once, its end a second later: the run lasts over half a second.
    let slow = "{ cat samples/broken.pcap; sleep 1; }";
    let runs = [
        ("stdin", format!("{slow} | \"$PCDNS\" analyze - >/dev/null")),
        (
            "fifo",
            format!("mkfifo {fifo}; {slow} >{fifo} & timeout 30 \"$PCDNS\" analyze {fifo} >/dev/null; wait"),
        ),
    ];
    for (label, shell) in runs {
        let Some(terminal) = on_a_terminal(&shell) else {
            return;
        };
        // broken.pcap: 50 packets, 7,030 captured bytes.
        assert!(
            terminal.contains("6.87 KiB read, 50 packets, ") && terminal.contains("/s"),
            "{label}: {terminal:?}"
        );
        assert!(!terminal.contains("0 B/0 B"), "{label}: {terminal:?}");
    }
    for short in [
        "\"$PCDNS\" analyze samples/broken.pcap >/dev/null",
        "\"$PCDNS\" analyze - <samples/broken.pcap >/dev/null",
    ] {
        let terminal = on_a_terminal(short).expect("script was there");
        assert_eq!(terminal, "", "{short}");
    }
    let quiet = on_a_terminal(&format!(
        "{slow} | \"$PCDNS\" analyze --no-progress - >/dev/null"
    ));
    assert_eq!(quiet.expect("script was there"), "");
}

/// A build without the `parquet` feature says how to get Parquet output (exit 2).
#[cfg(not(feature = "parquet"))]
#[test]
fn parquet_log_without_the_feature_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = pcdns(&[
        "log",
        "samples/broken.pcap",
        "--format",
        "parquet",
        "--output",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--features parquet"),
        "{}",
        stderr(&output)
    );
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}
