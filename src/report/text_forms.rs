//! Text forms the logs write for every transaction, made without the formatting machinery:
//! addresses, and RFC 3339 times that reuse the date and time of the last second.

use super::rfc3339;
use serde::{Serialize, Serializer};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};

/// The longest text `Display` writes for an IPv6 address (eight groups of four hex digits).
const ADDRESS_TEXT_MAX: usize = 39;

/// An address in its usual text form, as `Display` writes it, held on the stack: IPv4 in
/// dotted decimal without the formatting machinery (addresses are written several times per
/// line of the logs), IPv6 through `Display`.
#[derive(Debug, Clone, Copy)]
pub struct AddressText {
    bytes: [u8; ADDRESS_TEXT_MAX],
    len: usize,
}

impl AddressText {
    /// The text of `address`.
    pub fn new(address: IpAddr) -> Self {
        let mut text = AddressText {
            bytes: [0; ADDRESS_TEXT_MAX],
            len: 0,
        };
        match address {
            IpAddr::V4(v4) => text.push_ipv4(v4),
            IpAddr::V6(v6) => {
                let mut cursor = io::Cursor::new(&mut text.bytes[..]);
                // The buffer holds the longest form, so the write cannot run out of room.
                let _ = write!(cursor, "{v6}");
                text.len = cursor.position() as usize;
            }
        }
        text
    }

    fn push_ipv4(&mut self, address: Ipv4Addr) {
        for (index, octet) in address.octets().into_iter().enumerate() {
            if index > 0 {
                self.push(b'.');
            }
            if octet >= 100 {
                self.push(b'0' + octet / 100);
            }
            if octet >= 10 {
                self.push(b'0' + octet / 10 % 10);
            }
            self.push(b'0' + octet % 10);
        }
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits, hex digits, dots and colons are ever written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl Serialize for AddressText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Length of [`rfc3339`]'s text for any `u64` of nanoseconds (years 1970 to 2554):
/// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`.
const RFC3339_LEN: usize = 27;
/// Length of its date and time to the second.
const SECOND_LEN: usize = 19;

/// Times as [`rfc3339`] writes them, the date and time of the last second kept: capture times
/// come nearly in order, so most share their second with the time before.
#[derive(Debug, Default)]
pub struct Rfc3339Clock {
    /// The last second (seconds since the epoch) and its text to the second.
    last: Option<(u64, [u8; SECOND_LEN])>,
}

/// One time's RFC 3339 text, held on the stack.
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339Text([u8; RFC3339_LEN]);

impl Rfc3339Clock {
    /// The text of `ts_ns` (nanoseconds since the epoch): [`rfc3339`]'s, byte for byte.
    pub fn text(&mut self, ts_ns: u64) -> Rfc3339Text {
        let second = ts_ns / 1_000_000_000;
        let prefix = match self.last {
            Some((last, prefix)) if last == second => prefix,
            _ => {
                let whole = rfc3339(second * 1_000_000_000);
                let mut prefix = [0; SECOND_LEN];
                prefix.copy_from_slice(&whole.as_bytes()[..SECOND_LEN]);
                self.last = Some((second, prefix));
                prefix
            }
        };
        let mut text = [0; RFC3339_LEN];
        text[..SECOND_LEN].copy_from_slice(&prefix);
        text[SECOND_LEN] = b'.';
        // Microseconds, truncated, as the `time` crate writes six subsecond digits.
        let mut micros = ts_ns % 1_000_000_000 / 1_000;
        for digit in text[SECOND_LEN + 1..RFC3339_LEN - 1].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        text[RFC3339_LEN - 1] = b'Z';
        Rfc3339Text(text)
    }
}

impl Rfc3339Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Serialize for Rfc3339Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for text in [
            "0.0.0.0",
            "10.10.10.1",
            "192.168.100.255",
            "1.20.255.9",
            "255.255.255.255",
            "::",
            "::1",
            "2001:db8::53",
            "::ffff:10.10.10.1",
            "::ffff:10.0.0.1",
            "fe80::1:2:3:4",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let address: IpAddr = text.parse().unwrap();
            assert_eq!(AddressText::new(address).as_str(), address.to_string());
            assert_eq!(address.to_string(), text);
        }
    }

    #[test]
    fn times_are_written_as_rfc3339_writes_them_in_any_order() {
        let mut clock = Rfc3339Clock::default();
        let times = [
            0,
            999,
            1_000,
            999_999_999,
            1_000_000_000,
            1_700_000_000_123_456_789,
            1_700_000_000_999_999_999,
            1_700_000_001_000_000_000,
            1_700_000_000_000_000_001,
            951_782_400_000_000_000, // 2000-02-29
            u64::MAX,
        ];
        for ts in times.into_iter().chain(times.into_iter().rev()) {
            assert_eq!(clock.text(ts).as_str(), rfc3339(ts), "{ts}");
        }
    }
}
