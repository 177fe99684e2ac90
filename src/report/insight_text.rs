//! The insight part of a name's text section: roles, first-position balance per member (with
//! connections, when the capture holds them), per server and per client subnet, answer-set
//! changes and the timeline's shape. The full timeline is in JSON and the HTML report.

use super::insight::InsightReport;
use super::table::Table;
use super::words::{address_list, plural};
use crate::analyze::rotation::Balance;
use std::fmt::Write;

/// Rows listed per server and subnet table.
const MAX_ROWS: usize = 10;

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.0}%", 100.0 * part as f64 / whole as f64)
    }
}

fn test_text(balance: &Balance) -> String {
    match (balance.chi_square, balance.p_value) {
        (Some(chi), Some(p)) => format!(
            "chi-square {chi}, df {}, p {p:.3}",
            balance.degrees_of_freedom
        ),
        _ => "-".into(),
    }
}

fn spread(balance: &Balance) -> String {
    balance
        .first
        .iter()
        .map(|n| percent(*n, balance.answers))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Appends the insight of one name.
pub fn render_insight(out: &mut String, insight: &InsightReport, colour: bool) {
    let roles = &insight.roles;
    let receivers = match roles.stub_clients + roles.resolver_clients {
        // Discovery keeps no table of clients to tell them apart.
        0 => String::new(),
        _ => format!(
            "{}, {} among the receivers; ",
            plural(roles.stub_clients, "stub client"),
            plural(roles.resolver_clients, "resolver")
        ),
    };
    let _ = writeln!(
        out,
        "  roles: {receivers}{} iterative (RD=0) and {} authoritative (AA) {}",
        roles.iterative_responses,
        roles.authoritative_responses,
        if roles.authoritative_responses == 1 {
            "response"
        } else {
            "responses"
        }
    );
    let rotation = &insight.rotation;
    let non_member_first: u64 = insight.non_members.iter().map(|n| n.first).sum();
    // Shares are of every first position, a non-member's included.
    let answers = rotation.overall.answers + non_member_first;
    if answers > 0 || !insight.connections.is_empty() {
        let test = match non_member_first {
            0 => test_text(&rotation.overall),
            n => format!(
                "{} put an address that is not a member first; members only: {}",
                plural(n, "answer"),
                test_text(&rotation.overall)
            ),
        };
        let _ = writeln!(
            out,
            "  rotation: first position over {} with several addresses to recursive queries ({test})",
            plural(answers, "answer"),
        );
        let mut table = Table::new(&[
            "ADDRESS",
            "FIRST",
            "SHARE",
            "CONNECTIONS",
            "BY POSITION",
            "WITHOUT ANSWER",
            "CLIENTS",
        ]);
        let mut unlisted = 0;
        let non_members = insight
            .non_members
            .iter()
            .map(|n| (n.address, n.first, Some(n.role)));
        let rows = rotation
            .candidates
            .iter()
            .copied()
            .zip(rotation.overall.first.iter().copied())
            .map(|(member, first)| (member, first, None))
            .chain(non_members);
        for (address, first, non_member) in rows {
            let connections = insight.connections.iter().find(|c| c.address == address);
            // A large pool lists only members that came first or were connected to; an address
            // that is not a member is always listed.
            if rotation.candidates.len() > MAX_ROWS
                && first == 0
                && connections.is_none()
                && non_member.is_none()
            {
                unlisted += 1;
                continue;
            }
            let (after, by_position, without, clients) =
                connections.map_or(("-".into(), "-".into(), "-".into(), "-".into()), |c| {
                    let positions: Vec<String> = c.by_position.iter().map(u64::to_string).collect();
                    (
                        c.after_answer.to_string(),
                        positions.join("/"),
                        c.without_answer.to_string(),
                        c.clients.to_string(),
                    )
                });
            let label = match non_member {
                None => address.to_string(),
                Some(role) => format!("{address} (NOT A MEMBER: {role})"),
            };
            table.row(vec![
                label,
                first.to_string(),
                percent(first, answers),
                after,
                by_position,
                without,
                clients,
            ]);
        }
        out.push_str(&table.render(4, colour));
        if unlisted > 0 {
            let _ = writeln!(
                out,
                "    ... and {unlisted} more members never first and never connected to"
            );
        }
        if rotation.netmask.detected {
            let _ = writeln!(
                out,
                "    netmask ordering: {} of {} answers put the client's local member first",
                rotation.netmask.local_first, rotation.netmask.eligible_answers
            );
        }
    }
    if rotation.servers.len() > 1 || rotation.subnets.len() > 1 {
        let mut table = Table::new(&[
            "SERVER / SUBNET",
            "ANSWERS",
            "FIRST SHARES (member order)",
            "TEST",
        ]);
        for s in rotation.servers.iter().take(MAX_ROWS) {
            table.row(vec![
                s.server.to_string(),
                s.balance.answers.to_string(),
                spread(&s.balance),
                test_text(&s.balance),
            ]);
        }
        for s in rotation.subnets.iter().take(MAX_ROWS) {
            let label = format!("{} ({})", s.subnet, plural(s.clients, "client"));
            table.row(vec![
                label,
                s.balance.answers.to_string(),
                spread(&s.balance),
                test_text(&s.balance),
            ]);
        }
        out.push_str(&table.render(4, colour));
    }
    for change in &insight.changes {
        let list = |a: &[std::net::IpAddr]| address_list(a, "addresses", " ");
        let _ = writeln!(
            out,
            "  change at {}: added [{}], removed [{}]; the set before was seen {} s longer (TTL {} s)",
            change.at,
            list(&change.added),
            list(&change.removed),
            change.old_set_seen_for_s,
            change.old_set_ttl_s
        );
    }
    let timeline = &insight.timeline;
    if timeline.intervals.is_empty() {
        // Discovered names keep no timeline.
        return;
    }
    let peak = timeline
        .intervals
        .iter()
        .map(|i| i.responses)
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "  timeline: {} of {} s, at most {} in one (all in --format json and --html)",
        plural(timeline.intervals.len() as u64, "interval"),
        timeline.bucket_seconds,
        plural(peak, "response")
    );
}
