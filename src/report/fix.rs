//! The one-line fix of a finding, for the kinds whose remedy is certain from the finding alone:
//! an address to remove or add, a name to create, a server to stop using. Other kinds (rotation,
//! timeouts, TTLs) need a person's judgement and get none. A record is never to be changed on a
//! server that is not authorized: clients of such a server are pointed at an authorized one.

use super::words::{address_list, record_type};
use super::{FindingReport, Report};
use crate::analyze::FindingKind;
use std::net::IpAddr;

/// " served by S" / " on S": the servers that gave the answers, or nothing when none is known.
fn servers_clause(preposition: &str, servers: &[IpAddr]) -> String {
    match servers {
        [] => String::new(),
        servers => format!(" {preposition} {}", address_list(servers, "servers", ", ")),
    }
}

/// "point clients C at an authorized DNS server instead of S".
fn point_elsewhere(clients: &[IpAddr], servers: &str) -> String {
    let clients = match clients {
        [] => "clients".to_string(),
        clients => format!("clients {}", address_list(clients, "clients", ", ")),
    };
    format!("point {clients} at an authorized DNS server instead of {servers}")
}

/// The fix of `finding` in `report`, when one is certain.
pub fn fix(finding: &FindingReport, report: &Report) -> Option<String> {
    let name = &finding.name;
    let subject = finding.subject.parse::<IpAddr>().ok();
    let unauthorized = report.unauthorized_servers_of(name);
    // The servers a record is to be changed on: the authorized ones among the finding's.
    let authorized: Vec<IpAddr> = finding
        .servers
        .iter()
        .filter(|s| !unauthorized.contains(s))
        .copied()
        .collect();
    let record_fix = matches!(
        finding.kind,
        FindingKind::WrongAddress
            | FindingKind::MissingMember
            | FindingKind::MemberNeverSeen
            | FindingKind::Nxdomain
    );
    if record_fix && !finding.servers.is_empty() && authorized.is_empty() {
        let servers = address_list(&finding.servers, "servers", ", ");
        return Some(point_elsewhere(&finding.clients, &servers));
    }
    match (finding.kind, subject) {
        (FindingKind::WrongAddress, Some(address)) => Some(format!(
            "remove the {} record {name} → {address}{}",
            record_type(&address),
            servers_clause("served by", &authorized)
        )),
        (FindingKind::MissingMember | FindingKind::MemberNeverSeen, Some(address)) => {
            Some(format!(
                "add the {} record {name} → {address}{}",
                record_type(&address),
                servers_clause("on", &authorized)
            ))
        }
        (FindingKind::Nxdomain, _) => {
            let expected = report.expected_of(name);
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
                servers_clause("on", &authorized)
            ))
        }
        (FindingKind::UnauthorizedServer, Some(server)) => {
            Some(point_elsewhere(&finding.clients, &server.to_string()))
        }
        _ => None,
    }
}
