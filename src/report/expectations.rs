//! Writes a starting expectations file (TOML) from a discovery report: every name with A/AAAA
//! answers becomes a `[[server]]` (one address), `[[pool]]` (several IPv4) or `[[host]]` entry,
//! a name that led to another through a CNAME becomes an alias of that name's entry, names
//! whose lookups failed are listed as comments, and the servers that answered are a
//! commented-out authorized list. A person reviews it.

use super::{FailureReport, NameReport, Report};
use crate::expect::normalize;
use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::IpAddr;

/// One entry to write: a name with its addresses and the aliases that led to it.
struct Entry {
    name: String,
    addresses: Vec<IpAddr>,
    responses: u64,
    aliases: Vec<(String, u64)>,
}

impl Entry {
    fn new(name: &str) -> Self {
        Entry {
            name: name.to_string(),
            addresses: Vec::new(),
            responses: 0,
            aliases: Vec::new(),
        }
    }

    /// Adds the addresses `name` was answered with (once each, in the order seen).
    fn add_addresses(&mut self, name: &NameReport) {
        for address in name.addresses.iter().map(|a| a.address) {
            if !self.addresses.contains(&address) {
                self.addresses.push(address);
            }
        }
    }
}

/// The name `name` led to through CNAMEs most often, if any.
fn cname_target(name: &NameReport) -> Option<&str> {
    name.cname_targets
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(target, _)| target.as_str())
}

/// The entries of the names with answers, in report order: an alias is folded into the entry
/// of its CNAME target (made for it when the target was never asked itself).
fn entries(report: &Report) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let position = |entries: &[Entry], name: &str| {
        entries
            .iter()
            .position(|entry| normalize(&entry.name) == normalize(name))
    };
    let answered = report.names.iter().filter(|n| !n.addresses.is_empty());
    for name in answered {
        let target = cname_target(name).unwrap_or(&name.name);
        // A target also asked under its own name keeps that spelling.
        let target = report
            .names
            .iter()
            .find(|other| normalize(&other.name) == normalize(target))
            .map_or(target, |other| other.name.as_str());
        let index = position(&entries, target).unwrap_or_else(|| {
            entries.push(Entry::new(target));
            entries.len() - 1
        });
        let entry = &mut entries[index];
        entry.add_addresses(name);
        if normalize(&name.name) == normalize(target) {
            entry.responses += name.responses;
        } else {
            entry.aliases.push((name.name.clone(), name.responses));
        }
    }
    entries
}

/// The TOML text of a starting expectations file.
pub fn expectations_toml(report: &Report, sources: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Starting expectations written by pcdns from {}.",
        sources.join(", ")
    );
    let _ = writeln!(
        out,
        "# Every address below was seen in answers: review it before trusting it."
    );
    let servers: BTreeSet<IpAddr> = report
        .names
        .iter()
        .flat_map(|n| n.servers.iter().map(|s| s.server))
        .collect();
    let servers: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    let _ = writeln!(
        out,
        "# DNS servers that answered: uncomment to allow only these."
    );
    let _ = writeln!(out, "# authorized_servers = [{}]", servers.join(", "));
    if !report.failures.is_empty() {
        let _ = writeln!(
            out,
            "\n# Lookups that failed in this capture (not written as expectations: check them):"
        );
        for failure in &report.failures {
            let _ = writeln!(out, "#   {}", failure_text(failure));
        }
    }
    for entry in entries(report) {
        write_entry(&mut out, &entry);
    }
    out
}

/// A failed name, its failing rcodes and unanswered queries, e.g. `pool.example: NXDOMAIN 3`.
fn failure_text(failure: &FailureReport) -> String {
    let rcodes: Vec<String> = failure
        .rcodes
        .iter()
        .filter(|(rcode, count)| **count > 0 && !matches!(**rcode, "NOERROR" | "NODATA"))
        .map(|(rcode, count)| format!("{rcode} {count}"))
        .chain((failure.unanswered > 0).then(|| format!("unanswered {}", failure.unanswered)))
        .collect();
    format!("{}: {}", failure.name, rcodes.join(", "))
}

/// The warning for a "known-good" capture whose lookups failed (None when none did).
pub fn failed_lookups_warning(report: &Report) -> Option<String> {
    if report.failures.is_empty() {
        return None;
    }
    let names: Vec<String> = report.failures.iter().map(failure_text).collect();
    Some(format!(
        "the capture holds failed lookups ({}): is it really of a healthy deployment? They are comments in the file, not expectations",
        names.join("; ")
    ))
}

fn write_entry(out: &mut String, entry: &Entry) {
    let quoted = |items: &mut dyn Iterator<Item = String>| -> String {
        items
            .map(|item| format!("\"{item}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let through_aliases: u64 = entry.aliases.iter().map(|(_, responses)| responses).sum();
    let _ = match through_aliases {
        0 => writeln!(out, "\n# {} responses", entry.responses),
        more => writeln!(
            out,
            "\n# {} responses, {more} more through aliases",
            entry.responses
        ),
    };
    let addresses = &entry.addresses;
    let listed = quoted(&mut addresses.iter().map(ToString::to_string));
    let name = &entry.name;
    let _ = if addresses.len() == 1 && addresses[0].is_ipv4() {
        writeln!(out, "[[server]]\nname = \"{name}\"\naddress = {listed}")
    } else if addresses.iter().all(IpAddr::is_ipv4) {
        writeln!(out, "[[pool]]\nname = \"{name}\"\nmembers = [{listed}]")
    } else {
        writeln!(out, "[[host]]\nname = \"{name}\"\naddresses = [{listed}]")
    };
    if !entry.aliases.is_empty() {
        let aliases = quoted(&mut entry.aliases.iter().map(|(alias, _)| alias.clone()));
        let _ = writeln!(out, "aliases = [{aliases}]");
    }
}
