//! Empty evidence: expectations were given but the capture holds no response about any watched
//! name, so every check passed for want of data (a wrong interface, capture filter or port).
//! The finding carries what the capture did hold, and the UDP ports that carried responses
//! about watched names but are not taken as DNS (see `--dns-port`). No I/O, no wording.

use super::derived::{DerivedFinding, Detail};
use super::{Analysis, Watching};

/// What a capture without a single watched response held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoEvidence {
    /// Frames read.
    pub packets: u64,
    /// DNS messages on the DNS ports (about other names).
    pub dns_messages: u64,
    /// Responses about watched names on other UDP ports, per server port, most first.
    pub other_ports: Vec<(u16, u64)>,
}

/// True when `watching` has expectations and `analysis` holds no response about a watched name.
pub fn lacks_evidence(analysis: &Analysis, watching: &Watching) -> bool {
    watching.expectations().is_some() && analysis.names.values().all(|f| f.responses == 0)
}

/// The finding when `analysis` lacks evidence (see [`lacks_evidence`]).
pub fn no_evidence_finding(analysis: &Analysis, watching: &Watching) -> Option<DerivedFinding> {
    if !lacks_evidence(analysis, watching) {
        return None;
    }
    let traffic = &analysis.traffic;
    let mut other_ports: Vec<(u16, u64)> = traffic
        .other_port_responses
        .iter()
        .map(|(&port, &count)| (port, count))
        .collect();
    other_ports.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let detail = Detail::NoEvidence(NoEvidence {
        packets: traffic.packets,
        dns_messages: traffic.dns_messages,
        other_ports,
    });
    Some(DerivedFinding::new("", String::new(), 0, detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::FindingKind;

    fn watching() -> Watching {
        let toml = "[[pool]]\nname = \"a.example\"\nmembers = [\"10.0.0.1\"]\n";
        Watching::Expectations(crate::expect::parse("t.toml", toml).unwrap())
    }

    #[test]
    fn no_watched_response_with_expectations_is_a_finding_naming_the_other_ports() {
        let mut analysis = Analysis::default();
        analysis.traffic.packets = 10;
        analysis.traffic.other_port_responses = [(5353, 1), (5300, 4)].into();
        let finding = no_evidence_finding(&analysis, &watching()).expect("a finding");
        assert_eq!(finding.key.kind, FindingKind::NoWatchedResponses);
        let Detail::NoEvidence(evidence) = finding.detail else {
            panic!("{finding:?}");
        };
        assert_eq!(evidence.other_ports, vec![(5300, 4), (5353, 1)]);
        assert!(no_evidence_finding(&analysis, &Watching::Discovery).is_none());
        let mut facts = crate::analyze::NameFacts::named("a.example".into());
        facts.responses = 1;
        analysis.names.insert("a.example".into(), facts);
        assert!(no_evidence_finding(&analysis, &watching()).is_none());
    }
}
