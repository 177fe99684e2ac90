//! Finding events: one JSON object per line (NDJSON), written by `pcdns monitor` as soon as a
//! finding appears or grows, so a log shipper or a person tailing the file sees it at once.
//! Recorded and derived findings are worded as in the report.

use super::build::{derived_report, finding_report};
use super::{rfc3339, FindingReport};
use crate::analyze::derived::Finding;
use crate::analyze::FrameRef;
use crate::expect::Expectations;
use serde::Serialize;

/// One event line.
#[derive(Debug, Serialize)]
struct EventLine<'a> {
    /// Always "finding".
    #[serde(rename = "type")]
    kind: &'static str,
    /// When pcdns learned it (RFC 3339, UTC).
    time: String,
    /// Occurrences since the last event for this finding.
    new: u64,
    /// The finding as in the report (count is the total so far).
    #[serde(flatten)]
    finding: &'a FindingReport,
    /// Where the latest frame behind it was saved (`--evidence`).
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<Evidence<'a>>,
}

/// An evidence file and a frame in it.
#[derive(Debug, Serialize)]
struct Evidence<'a> {
    file: &'a str,
    frame: u64,
}

/// What an event is about: the finding, what is new, and where its latest frame was saved.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    /// The finding.
    pub finding: Finding<'a>,
    /// Occurrences since the last event.
    pub new: u64,
    /// The evidence file and frame number, if saved.
    pub evidence: Option<(&'a str, u64)>,
}

/// Renders an event at `time_ns`. `sources` names the inputs that example frames point into.
pub fn render_event(
    facts: &EventFacts<'_>,
    time_ns: u64,
    expectations: Option<&Expectations>,
    sources: &[String],
) -> String {
    let EventFacts {
        finding,
        new,
        evidence,
    } = *facts;
    let finding = match finding {
        Finding::Recorded(key, occurrences) => {
            let frames = |examples: &[FrameRef]| super::build::frame_reports(examples, sources);
            finding_report(key, occurrences, expectations, &frames)
        }
        Finding::Derived(derived) => derived_report(derived),
    };
    let line = EventLine {
        kind: "finding",
        time: rfc3339(time_ns),
        new,
        finding: &finding,
        evidence: evidence.map(|(file, frame)| Evidence { file, frame }),
    };
    let mut text = serde_json::to_string(&line).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::derived::{DerivedFinding, Detail, FixedServer};
    use crate::analyze::{FindingKey, FindingKind, Occurrences};

    #[test]
    fn an_event_is_one_json_line_with_type_time_and_counts() {
        let key = FindingKey {
            kind: FindingKind::WrongAddress,
            name: "PersistentChatPool.contoso.com".into(),
            subject: "10.10.10.3".into(),
        };
        let occurrences = Occurrences {
            count: 3,
            first_ts_ns: 1_700_000_000_000_000_000,
            last_ts_ns: 1_700_000_001_000_000_000,
            examples: vec![FrameRef {
                file_index: 0,
                frame_number: 7,
            }],
            ..Occurrences::default()
        };
        let facts = EventFacts {
            finding: Finding::Recorded(&key, &occurrences),
            new: 2,
            evidence: Some(("evidence-000001.pcapng", 4)),
        };
        let line = render_event(&facts, 1_700_000_002_000_000_000, None, &["eth0".into()]);
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["type"], "finding");
        assert_eq!(value["kind"], "wrong_address");
        assert_eq!(value["severity"], "error");
        assert_eq!(value["new"], 2);
        assert_eq!(value["count"], 3);
        assert_eq!(value["time"], "2023-11-14T22:13:22.000000Z");
        assert_eq!(value["examples"][0]["file"], "eth0");
        assert_eq!(value["examples"][0]["frame"], 7);
        assert_eq!(value["evidence"]["file"], "evidence-000001.pcapng");
        assert_eq!(value["evidence"]["frame"], 4);
    }

    #[test]
    fn a_derived_finding_is_an_event_worded_as_in_the_report() {
        let (server, first) = ("192.0.2.53".parse().unwrap(), "10.10.10.1".parse().unwrap());
        let derived = DerivedFinding {
            key: FindingKey {
                kind: FindingKind::NotRotating,
                name: "PersistentChatPool.contoso.com".into(),
                subject: String::new(),
            },
            count: 12,
            servers: vec![server],
            clients: Vec::new(),
            detail: Detail::NotRotating {
                fixed: vec![FixedServer {
                    server,
                    first,
                    answers: 12,
                    p_value: 1.1e-5,
                }],
                tested: 2,
            },
        };
        let facts = EventFacts {
            finding: Finding::Derived(&derived),
            new: 12,
            evidence: None,
        };
        let line = render_event(&facts, 1_700_000_002_000_000_000, None, &["eth0".into()]);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["kind"], "not_rotating");
        assert_eq!(value["severity"], "warning");
        assert_eq!(value["count"], 12);
        assert_eq!(value["servers"][0], "192.0.2.53");
        assert_eq!(
            value["message"],
            "1 of 2 servers tested does not rotate, so their clients all try one member: 192.0.2.53 put 10.10.10.1 first in all 12 answers (p = 1.1e-5 after correction)"
        );
        assert!(value.get("evidence").is_none());
    }
}
