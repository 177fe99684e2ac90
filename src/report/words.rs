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

/// `items` joined by ", "; past [`MAX_LISTED_ADDRESSES`] the first half of that many and how many
/// more `many` there are: "10.0.0.1 12, 10.0.0.2 9, 10.0.0.3 9, 10.0.0.4 8, and 125 more addresses".
pub fn abbreviated(items: &[String], many: &str) -> String {
    if items.len() <= MAX_LISTED_ADDRESSES {
        return items.join(", ");
    }
    let shown = MAX_LISTED_ADDRESSES / 2;
    format!(
        "{}, and {} more {many}",
        items[..shown].join(", "),
        items.len() - shown
    )
}

/// An answer set described against a large pool's `members`, where listing it would hide the
/// point: "all 129 members", "128 of 129 members (not 10.0.0.2) and 10.0.0.250". Sets of a small
/// pool, and sets too far from the pool to say so shortly, are listed as [`address_list`] does.
pub fn set_text(addresses: &[IpAddr], members: &[IpAddr]) -> String {
    let listed = address_list(addresses, "addresses", " ");
    if members.len() <= MAX_LISTED_ADDRESSES || addresses.len() <= MAX_LISTED_ADDRESSES {
        return listed;
    }
    let missing: Vec<IpAddr> = members
        .iter()
        .filter(|m| !addresses.contains(m))
        .copied()
        .collect();
    let others: Vec<IpAddr> = addresses
        .iter()
        .filter(|a| !members.contains(a))
        .copied()
        .collect();
    if missing.len() + others.len() > MAX_LISTED_ADDRESSES {
        return listed;
    }
    let mut text = match missing.as_slice() {
        [] => format!("all {} members", members.len()),
        missing => format!(
            "{} of {} members (not {})",
            members.len() - missing.len(),
            members.len(),
            address_list(missing, "members", ", ")
        ),
    };
    if !others.is_empty() {
        text.push_str(&format!(
            " and {}",
            address_list(&others, "addresses", ", ")
        ));
    }
    text
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
    fn long_lists_keep_their_first_items_and_count_the_rest() {
        let short: Vec<String> = (1..=8).map(|i| i.to_string()).collect();
        assert_eq!(abbreviated(&short, "shares"), "1, 2, 3, 4, 5, 6, 7, 8");
        let long: Vec<String> = (1..=129).map(|i| i.to_string()).collect();
        assert_eq!(
            abbreviated(&long, "shares"),
            "1, 2, 3, 4, and 125 more shares"
        );
    }

    #[test]
    fn answer_sets_of_a_large_pool_say_how_they_differ_from_it() {
        let members: Vec<IpAddr> = (1..=129).map(|i: u8| IpAddr::from([10, 0, 0, i])).collect();
        assert_eq!(set_text(&members, &members), "all 129 members");
        let mut set = members[1..].to_vec();
        set.push(IpAddr::from([10, 0, 0, 250]));
        assert_eq!(
            set_text(&set, &members),
            "128 of 129 members (not 10.0.0.1) and 10.0.0.250"
        );
        // Far from the pool, or a small pool: listed as address_list does.
        assert_eq!(
            set_text(&members[..20], &members),
            "20 addresses, 10.0.0.1 … 10.0.0.20"
        );
        assert_eq!(set_text(&members[..2], &members[..3]), "10.0.0.1 10.0.0.2");
    }

    #[test]
    fn plurals_follow_the_count() {
        assert_eq!(plural(1, "client"), "1 client");
        assert_eq!(plural(0, "client"), "0 clients");
        assert_eq!(counted(1, "query", "queries"), "1 query");
        assert_eq!(counted(2, "query", "queries"), "2 queries");
    }
}
