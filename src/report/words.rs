//! Small wording helpers shared by the renderings: counts with the right plural, address lists
//! in numeric order, and long lists abbreviated to their size, first and last address.

use std::net::IpAddr;

/// Addresses listed in full; longer lists are abbreviated (JSON keeps them all).
pub const MAX_LISTED_ADDRESSES: usize = 8;

/// "1 response", "2 responses": `count` with the singular or plural noun.
pub fn counted(count: u64, one: &str, many: &str) -> String {
    match count {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// `count` with a noun whose plural adds an "s" ("1 client", "3 clients").
pub fn plural(count: u64, one: &str) -> String {
    counted(count, one, &format!("{one}s"))
}

/// The addresses in numeric order (IPv4 before IPv6), duplicates kept.
pub fn sorted(addresses: &[IpAddr]) -> Vec<IpAddr> {
    let mut sorted = addresses.to_vec();
    sorted.sort_unstable();
    sorted
}

/// The addresses in numeric order joined by `separator`; past [`MAX_LISTED_ADDRESSES`] only
/// their number, the lowest and the highest: "129 members, 10.10.11.2 … 10.10.11.130".
/// `many` is the noun counted ("members", "addresses").
pub fn address_list(addresses: &[IpAddr], many: &str, separator: &str) -> String {
    let sorted = sorted(addresses);
    match (sorted.first(), sorted.last()) {
        (Some(first), Some(last)) if sorted.len() > MAX_LISTED_ADDRESSES => {
            format!("{} {many}, {first} … {last}", sorted.len())
        }
        _ => sorted
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(separator),
    }
}

/// The DNS record type that carries `address`: A or AAAA.
pub fn record_type(address: &IpAddr) -> &'static str {
    match address {
        IpAddr::V4(_) => "A",
        IpAddr::V6(_) => "AAAA",
    }
}

/// Counts by rcode class in report order, those seen only ("NOERROR 12, NODATA 3"; "none").
pub fn rcodes_text(rcodes: &std::collections::BTreeMap<&'static str, u64>) -> String {
    let parts: Vec<String> = crate::analyze::RcodeClass::ALL
        .iter()
        .filter_map(|c| {
            rcodes
                .get(c.label())
                .filter(|n| **n > 0)
                .map(|n| format!("{} {n}", c.label()))
        })
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(text: &[&str]) -> Vec<IpAddr> {
        text.iter().map(|t| t.parse().unwrap()).collect()
    }

    #[test]
    fn lists_addresses_in_numeric_order() {
        let list = address_list(
            &ips(&["10.0.0.101", "10.0.0.11", "10.0.0.2"]),
            "addresses",
            " ",
        );
        assert_eq!(list, "10.0.0.2 10.0.0.11 10.0.0.101");
    }

    #[test]
    fn abbreviates_long_lists_to_count_first_and_last() {
        let many: Vec<IpAddr> = (2..=130)
            .rev()
            .map(|i: u32| IpAddr::from([10, 10, 11, i as u8]))
            .collect();
        assert_eq!(
            address_list(&many, "members", ", "),
            "129 members, 10.10.11.2 … 10.10.11.130"
        );
    }

    #[test]
    fn plurals_follow_the_count() {
        assert_eq!(plural(1, "client"), "1 client");
        assert_eq!(plural(0, "client"), "0 clients");
        assert_eq!(counted(1, "query", "queries"), "1 query");
        assert_eq!(counted(2, "query", "queries"), "2 queries");
    }
}
