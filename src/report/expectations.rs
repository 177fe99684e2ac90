//! Writes a starting expectations file (TOML) from a discovery report: every name with A/AAAA
//! answers becomes a `[[server]]` (one address), `[[pool]]` (several IPv4) or `[[host]]` entry,
//! with the servers that answered as a commented-out authorized list. A person reviews it.

use super::Report;
use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::IpAddr;

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
    for name in &report.names {
        let addresses: Vec<IpAddr> = name.addresses.iter().map(|a| a.address).collect();
        let quoted: Vec<String> = addresses.iter().map(|a| format!("\"{a}\"")).collect();
        let _ = writeln!(out, "\n# {} responses", name.responses);
        if addresses.len() == 1 && addresses[0].is_ipv4() {
            let _ = writeln!(
                out,
                "[[server]]\nname = \"{}\"\naddress = {}",
                name.name, quoted[0]
            );
        } else if addresses.iter().all(IpAddr::is_ipv4) {
            let _ = writeln!(
                out,
                "[[pool]]\nname = \"{}\"\nmembers = [{}]",
                name.name,
                quoted.join(", ")
            );
        } else {
            let _ = writeln!(
                out,
                "[[host]]\nname = \"{}\"\naddresses = [{}]",
                name.name,
                quoted.join(", ")
            );
        }
    }
    out
}
