//! Expectations: the DNS records a Persistent Chat deployment needs, read from a TOML file
//! written the way the deployment's DNS table reads. Every error names the file, the line and
//! the problem. Pure after reading the file: no other I/O.

use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use toml::Spanned;

/// What kind of entry a watched name came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// `[[server]]`: one Persistent Chat Server FQDN and its address.
    Server,
    /// `[[pool]]`: the pool FQDN with one address per member (DNS load balancing).
    Pool,
    /// `[[host]]`: any other name with its expected addresses.
    Host,
}

/// One watched name and the answers it should get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedName {
    /// The name as written in the file (no trailing dot).
    pub name: String,
    /// Where it came from.
    pub kind: EntryKind,
    /// Addresses that must appear in every answer of their family.
    pub members: Vec<IpAddr>,
    /// Addresses allowed in answers but never reported missing.
    pub standby: Vec<IpAddr>,
    /// Largest acceptable TTL, if any.
    pub max_ttl: Option<u32>,
    /// Names that lead here through a CNAME (as written): their answers count for this name.
    pub aliases: Vec<String>,
    /// Line of the entry in the expectations file.
    pub line: usize,
    /// The normalized name (lowercase, no trailing dot), shared cheaply with the analysis.
    pub key: std::sync::Arc<str>,
    /// The name as written, shared cheaply with the analysis.
    pub label: std::sync::Arc<str>,
}

impl ExpectedName {
    /// True if `address` may appear in an answer for this name.
    pub fn allows(&self, address: &IpAddr) -> bool {
        self.members.contains(address) || self.standby.contains(address)
    }

    /// True if the entry defines addresses of the family of `ipv4` (A when true, AAAA when false).
    pub fn defines_family(&self, ipv4: bool) -> bool {
        self.members
            .iter()
            .chain(&self.standby)
            .any(|a| a.is_ipv4() == ipv4)
    }
}

/// The whole expectations file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    /// The file it was read from.
    pub source: String,
    /// Watched names, in file order (duplicates merged).
    pub names: Vec<ExpectedName>,
    /// DNS servers allowed to answer for watched names (empty: any).
    pub authorized_servers: Vec<IpAddr>,
    /// Entry by normalized name (looked up for every watched message: a fast hasher).
    index: HashMap<String, usize, foldhash::fast::RandomState>,
}

impl Expectations {
    /// The entry for `name` (any case, trailing dot ignored).
    pub fn find(&self, name: &str) -> Option<usize> {
        self.index.get(&normalize(name)).copied()
    }

    /// Every name to watch, as written: each entry's name, then its aliases.
    pub fn watched_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().flat_map(|entry| {
            std::iter::once(entry.name.as_str()).chain(entry.aliases.iter().map(String::as_str))
        })
    }

    /// Every member and standby address of every watched name, sorted, once each.
    pub fn addresses(&self) -> Vec<IpAddr> {
        let mut addresses: Vec<IpAddr> = self
            .names
            .iter()
            .flat_map(|n| n.members.iter().chain(&n.standby))
            .copied()
            .collect();
        addresses.sort_unstable();
        addresses.dedup();
        addresses
    }

    /// The entry for an already normalized name (no allocation).
    pub fn find_normalized(&self, normalized: &str) -> Option<usize> {
        self.index.get(normalized).copied()
    }

    /// True if answers from `server` are acceptable.
    pub fn is_authorized(&self, server: &IpAddr) -> bool {
        self.authorized_servers.is_empty() || self.authorized_servers.contains(server)
    }
}

/// Lowercase, no trailing dot: the form names are compared in.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// An expectations file problem: file, line, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectError {
    /// The file.
    pub file: String,
    /// 1-based line (0 when the file could not be read at all).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ExpectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for ExpectError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    authorized_servers: Vec<Spanned<String>>,
    #[serde(default)]
    server: Vec<Spanned<ServerShape>>,
    #[serde(default)]
    pool: Vec<Spanned<PoolShape>>,
    #[serde(default)]
    host: Vec<Spanned<HostShape>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerShape {
    name: Spanned<String>,
    address: Spanned<String>,
    max_ttl: Option<u32>,
    #[serde(default)]
    aliases: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolShape {
    name: Spanned<String>,
    members: Vec<Spanned<String>>,
    #[serde(default)]
    standby: Vec<Spanned<String>>,
    max_ttl: Option<u32>,
    #[serde(default)]
    aliases: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostShape {
    name: Spanned<String>,
    addresses: Vec<Spanned<String>>,
    max_ttl: Option<u32>,
    #[serde(default)]
    aliases: Vec<Spanned<String>>,
}

/// Reads and validates an expectations file.
pub fn load(path: &Path) -> Result<Expectations, ExpectError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ExpectError {
        file: file.clone(),
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    parse(&file, &text)
}

/// Parses expectations from `text`; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Expectations, ExpectError> {
    let builder = Builder { file, text };
    let shape: FileShape = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|span| builder.line_of(span.start))
            .unwrap_or(0);
        builder.error_at_line(line, e.message().trim().to_string())
    })?;
    let mut expectations = Expectations {
        source: file.to_string(),
        ..Default::default()
    };
    for server in &shape.authorized_servers {
        expectations
            .authorized_servers
            .push(builder.address(server)?);
    }
    let mut entries = Vec::new();
    for server in &shape.server {
        let line = builder.line_of(server.span().start);
        let server = server.get_ref();
        let members = vec![builder.address(&server.address)?];
        entries.push((
            builder.name(&server.name)?,
            EntryKind::Server,
            members,
            Vec::new(),
            server.max_ttl,
            line,
            builder.aliases(&server.aliases)?,
        ));
    }
    for pool in &shape.pool {
        let line = builder.line_of(pool.span().start);
        let pool = pool.get_ref();
        let name = builder.name(&pool.name)?;
        if pool.members.is_empty() {
            return Err(builder.error_at_line(line, format!("pool \"{name}\" has no members")));
        }
        let members = builder.addresses(&pool.members)?;
        let standby = builder.addresses(&pool.standby)?;
        if let Some(both) = pool
            .standby
            .iter()
            .zip(&standby)
            .find(|(_, a)| members.contains(a))
        {
            return Err(builder.error(
                both.0,
                format!("{} is listed both as a member and as standby", both.1),
            ));
        }
        let aliases = builder.aliases(&pool.aliases)?;
        entries.push((
            name,
            EntryKind::Pool,
            members,
            standby,
            pool.max_ttl,
            line,
            aliases,
        ));
    }
    for host in &shape.host {
        let line = builder.line_of(host.span().start);
        let host = host.get_ref();
        if host.addresses.is_empty() {
            return Err(builder.error_at_line(
                line,
                format!("host \"{}\" has no addresses", host.name.get_ref()),
            ));
        }
        let addresses = builder.addresses(&host.addresses)?;
        entries.push((
            builder.name(&host.name)?,
            EntryKind::Host,
            addresses,
            Vec::new(),
            host.max_ttl,
            line,
            builder.aliases(&host.aliases)?,
        ));
    }
    entries.sort_by_key(|entry| entry.5);
    let mut aliases = Vec::new();
    for (name, kind, members, standby, max_ttl, line, entry_aliases) in entries {
        let key = normalize(&name);
        aliases.extend(entry_aliases.into_iter().map(|alias| (key.clone(), alias)));
        if let Some(&existing) = expectations.index.get(&key) {
            let earlier = &mut expectations.names[existing];
            // A single-server pool: the pool FQDN is the server FQDN, valid when the addresses agree.
            if sorted(&earlier.members) != sorted(&members)
                || sorted(&earlier.standby) != sorted(&standby)
            {
                return Err(builder.error_at_line(
                    line,
                    format!(
                        "\"{name}\" is already defined at line {} with different addresses",
                        earlier.line
                    ),
                ));
            }
            earlier.max_ttl = match (earlier.max_ttl, max_ttl) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if kind == EntryKind::Pool {
                earlier.kind = EntryKind::Pool;
            }
            continue;
        }
        expectations.index.insert(key, expectations.names.len());
        let (key, label) = (normalize(&name).into(), name.as_str().into());
        expectations.names.push(ExpectedName {
            name,
            kind,
            members,
            standby,
            max_ttl,
            aliases: Vec::new(),
            line,
            key,
            label,
        });
    }
    for (target, (alias, line)) in aliases {
        let index = expectations.index[&target];
        if let Some(&taken) = expectations.index.get(&normalize(&alias)) {
            let other = &expectations.names[taken];
            return Err(builder.error_at_line(
                line,
                format!(
                    "alias \"{alias}\" is already watched for \"{}\" (line {})",
                    other.name, other.line
                ),
            ));
        }
        expectations.index.insert(normalize(&alias), index);
        expectations.names[index].aliases.push(alias);
    }
    if expectations.names.is_empty() {
        return Err(builder.error_at_line(
            1,
            "no [[server]], [[pool]] or [[host]] entries: nothing to watch".into(),
        ));
    }
    Ok(expectations)
}

fn sorted(addresses: &[IpAddr]) -> Vec<IpAddr> {
    let mut copy = addresses.to_vec();
    copy.sort();
    copy
}

struct Builder<'a> {
    file: &'a str,
    text: &'a str,
}

impl Builder<'_> {
    fn line_of(&self, byte_offset: usize) -> usize {
        self.text.as_bytes()[..byte_offset.min(self.text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn error_at_line(&self, line: usize, message: String) -> ExpectError {
        ExpectError {
            file: self.file.to_string(),
            line,
            message,
        }
    }

    fn error<T>(&self, at: &Spanned<T>, message: String) -> ExpectError {
        self.error_at_line(self.line_of(at.span().start), message)
    }

    fn address(&self, text: &Spanned<String>) -> Result<IpAddr, ExpectError> {
        text.get_ref().trim().parse().map_err(|_| {
            self.error(
                text,
                format!("\"{}\" is not an IPv4 or IPv6 address", text.get_ref()),
            )
        })
    }

    fn addresses(&self, texts: &[Spanned<String>]) -> Result<Vec<IpAddr>, ExpectError> {
        let mut addresses: Vec<IpAddr> = Vec::with_capacity(texts.len());
        for text in texts {
            let address = self.address(text)?;
            if addresses.contains(&address) {
                return Err(self.error(text, format!("{address} is listed twice")));
            }
            addresses.push(address);
        }
        Ok(addresses)
    }

    /// The aliases of an entry, each with its line.
    fn aliases(&self, texts: &[Spanned<String>]) -> Result<Vec<(String, usize)>, ExpectError> {
        texts
            .iter()
            .map(|text| Ok((self.name(text)?, self.line_of(text.span().start))))
            .collect()
    }

    fn name(&self, text: &Spanned<String>) -> Result<String, ExpectError> {
        let name = text.get_ref().trim().trim_end_matches('.');
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty() && label.len() <= 63 && !label.contains(char::is_whitespace)
            });
        if valid {
            Ok(name.to_string())
        } else {
            Err(self.error(
                text,
                format!("\"{}\" is not a valid DNS name", text.get_ref()),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTOSO: &str = r#"
authorized_servers = ["192.0.2.53"]

[[server]]
name = "PersistentChatServer01.contoso.com"
address = "10.10.10.1"

[[pool]]
name = "PersistentChatPool.contoso.com"
members = ["10.10.10.1", "10.10.10.2"]
standby = ["10.10.10.9"]
max_ttl = 3600
"#;

    #[test]
    fn reads_servers_pools_and_authorized_servers() {
        let expectations = parse("contoso.toml", CONTOSO).unwrap();
        assert_eq!(expectations.names.len(), 2);
        let pool = &expectations.names[expectations
            .find("persistentchatpool.CONTOSO.com.")
            .unwrap()];
        assert_eq!(pool.kind, EntryKind::Pool);
        assert_eq!(pool.line, 8);
        assert!(pool.allows(&"10.10.10.9".parse().unwrap()));
        assert_eq!(pool.max_ttl, Some(3600));
        assert!(expectations.is_authorized(&"192.0.2.53".parse().unwrap()));
        assert!(!expectations.is_authorized(&"192.0.2.54".parse().unwrap()));
    }

    fn error_of(text: &str) -> String {
        parse("x.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn bad_address_names_file_line_and_value() {
        let text =
            "[[pool]]\nname = \"p.contoso.com\"\nmembers = [\"10.10.10.1\",\n  \"10.10.10.300\"]\n";
        assert_eq!(
            error_of(text),
            "x.toml:4: \"10.10.10.300\" is not an IPv4 or IPv6 address"
        );
    }

    #[test]
    fn unknown_key_is_reported_with_its_line() {
        let message = error_of("[[server]]\nname = \"a.contoso.com\"\nadress = \"10.0.0.1\"\n");
        assert!(
            message.starts_with("x.toml:3: unknown field `adress`"),
            "{message}"
        );
    }

    #[test]
    fn empty_pool_and_empty_file_are_errors() {
        assert_eq!(
            error_of("\n[[pool]]\nname = \"p.c.com\"\nmembers = []\n"),
            "x.toml:2: pool \"p.c.com\" has no members"
        );
        assert!(error_of("# nothing\n").contains("nothing to watch"));
    }

    #[test]
    fn conflicting_duplicate_is_an_error_and_agreeing_single_server_pool_is_not() {
        let agreeing = "[[server]]\nname = \"chat.c.com\"\naddress = \"10.0.0.1\"\n[[pool]]\nname = \"CHAT.c.com\"\nmembers = [\"10.0.0.1\"]\n";
        let expectations = parse("x.toml", agreeing).unwrap();
        assert_eq!(expectations.names.len(), 1);
        assert_eq!(expectations.names[0].kind, EntryKind::Pool);
        let conflicting = agreeing.replace("members = [\"10.0.0.1\"]", "members = [\"10.0.0.2\"]");
        assert_eq!(
            error_of(&conflicting),
            "x.toml:4: \"CHAT.c.com\" is already defined at line 1 with different addresses"
        );
    }

    #[test]
    fn host_entries_take_ipv4_and_ipv6() {
        let expectations = parse(
            "x.toml",
            "[[host]]\nname = \"h.c.com\"\naddresses = [\"192.0.2.1\", \"2001:db8::1\"]\n",
        )
        .unwrap();
        let host = &expectations.names[0];
        assert!(host.defines_family(true) && host.defines_family(false));
    }

    #[test]
    fn invalid_name_and_member_listed_as_standby_are_errors() {
        assert!(
            error_of("[[server]]\nname = \"a..b\"\naddress = \"10.0.0.1\"\n")
                .contains("not a valid DNS name")
        );
        let both =
            "[[pool]]\nname = \"p.c.com\"\nmembers = [\"10.0.0.1\"]\nstandby = [\"10.0.0.1\"]\n";
        assert_eq!(
            error_of(both),
            "x.toml:4: 10.0.0.1 is listed both as a member and as standby"
        );
    }

    #[test]
    fn aliases_lead_to_their_entry_and_may_not_be_watched_twice() {
        let text = "[[pool]]\nname = \"Pool.contoso.com\"\nmembers = [\"10.0.0.1\"]\n\
                    aliases = [\"Chat.contoso.com.\"]\n";
        let expectations = parse("t.toml", text).unwrap();
        assert_eq!(expectations.find("chat.CONTOSO.com"), Some(0));
        assert_eq!(expectations.names[0].aliases, vec!["Chat.contoso.com"]);
        assert_eq!(
            expectations.watched_names().collect::<Vec<_>>(),
            vec!["Pool.contoso.com", "Chat.contoso.com"]
        );
        let twice =
            format!("{text}[[server]]\nname = \"chat.contoso.com\"\naddress = \"10.0.0.1\"\n");
        assert_eq!(
            error_of(&twice),
            "x.toml:4: alias \"Chat.contoso.com\" is already watched for \"chat.contoso.com\" (line 5)"
        );
    }
}
