//! The one-line fix of a finding, for the kinds whose remedy is certain from the finding alone:
//! an address to remove or add, a name to create, a server to stop using. Other kinds (rotation,
//! timeouts, TTLs) need a person's judgement and get none.

use super::words::{address_list, record_type};
use super::{ExpectedReport, FindingReport};
use crate::analyze::FindingKind;
use std::net::IpAddr;

/// " served by S" / " on S": the servers that gave the answers, or nothing when none is known.
fn servers_clause(preposition: &str, servers: &[IpAddr]) -> String {
    match servers {
        [] => String::new(),
        servers => format!(" {preposition} {}", address_list(servers, "servers", ", ")),
    }
}

/// The fix of `finding`, whose name expects `expected` (None in discovery or for a finding about
/// no name), when one is certain.
pub fn fix(finding: &FindingReport, expected: Option<&ExpectedReport>) -> Option<String> {
    let name = &finding.name;
    let subject = finding.subject.parse::<IpAddr>().ok();
    match (finding.kind, subject) {
        (FindingKind::WrongAddress, Some(address)) => Some(format!(
            "remove the {} record {name} → {address}{}",
            record_type(&address),
            servers_clause("served by", &finding.servers)
        )),
        (FindingKind::MissingMember | FindingKind::MemberNeverSeen, Some(address)) => {
            Some(format!(
                "add the {} record {name} → {address}{}",
                record_type(&address),
                servers_clause("on", &finding.servers)
            ))
        }
        (FindingKind::Nxdomain, _) => {
            let members = expected.map_or(&[][..], |e| e.members.as_slice());
            let record = match members.first() {
                Some(first) => format!(
                    "the {} record {name} → {}",
                    record_type(first),
                    address_list(members, "members", ", ")
                ),
                None => format!("the record {name}"),
            };
            Some(format!(
                "create {record}{}",
                servers_clause("on", &finding.servers)
            ))
        }
        (FindingKind::UnauthorizedServer, Some(server)) => {
            let clients = match finding.clients.as_slice() {
                [] => "clients".to_string(),
                clients => format!("clients {}", address_list(clients, "clients", ", ")),
            };
            Some(format!(
                "point {clients} at an authorized DNS server instead of {server}"
            ))
        }
        _ => None,
    }
}
