//! The Prometheus rules shipped in samples/ are valid (`promtool check rules`, package
//! prometheus), so the README's fleet examples load as they are.

mod common;
use common::{missing, sample};

#[test]
fn the_sample_prometheus_rules_pass_promtool() {
    let output = match std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(sample("prometheus-rules.yml"))
        .output()
    {
        Ok(output) => output,
        Err(_) => return missing("promtool (package prometheus)"),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("SUCCESS: 11 rules found"), "{text}");
}
