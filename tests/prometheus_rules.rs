//! The Prometheus rules shipped in samples/ are valid (`promtool check rules`, package
//! prometheus), so the README's fleet examples load as they are.

use crate::common::{missing, sample};

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
    assert!(text.contains("SUCCESS: 12 rules found"), "{text}");
}

/// Every finding kind the rules select (`kind="..."`, `kind=~"a|b"`) is one pcdns reports, so a
/// renamed or merged kind cannot leave an alert that never fires.
#[test]
fn the_rules_name_only_existing_finding_kinds() {
    let rules = std::fs::read_to_string(sample("prometheus-rules.yml")).expect("rules");
    let mut named = 0;
    for (at, _) in rules.match_indices("kind=") {
        let rest = rules[at + 5..].trim_start_matches('~');
        let quoted = rest.strip_prefix('"').expect("a quoted kind");
        let selector = &quoted[..quoted.find('"').expect("closing quote")];
        for kind in selector.split('|') {
            let parsed: Result<pcdns::analyze::FindingKind, _> =
                serde_json::from_value(serde_json::Value::String(kind.into()));
            assert!(parsed.is_ok(), "{kind} is not a finding kind");
            named += 1;
        }
    }
    assert!(named >= 5, "the rotation alert names its kinds");
}
