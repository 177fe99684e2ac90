//! Client pseudonyms: a keyed hash (SipHash-1-3, 128 bits) turns each client address into a
//! stable address in fd00::/8 (unique local, never routed), so events, reports and metrics can
//! be shared without client addresses while one client still looks like one client. The same
//! key gives the same pseudonyms on every sensor.

use siphasher::sip128::{Hasher128, SipHasher13};
use std::hash::Hasher;
use std::net::{IpAddr, Ipv6Addr};

/// Maps client addresses to pseudonyms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pseudonymizer {
    key: [u8; 16],
}

impl Pseudonymizer {
    /// A pseudonymizer for the secret `key` (any text; keep it secret, or the pseudonyms of a
    /// small address range can be reversed by trying every address).
    pub fn new(key: &str) -> Self {
        let mut hasher = SipHasher13::new_with_key(b"pcdns-pseudonyms");
        hasher.write(key.as_bytes());
        Pseudonymizer {
            key: hasher.finish128().as_bytes(),
        }
    }

    /// The pseudonym of `address`.
    pub fn address(&self, address: IpAddr) -> IpAddr {
        let mut hasher = SipHasher13::new_with_key(&self.key);
        match address {
            IpAddr::V4(v4) => hasher.write(&v4.octets()),
            IpAddr::V6(v6) => hasher.write(&v6.octets()),
        }
        let mut bytes = hasher.finish128().as_bytes();
        bytes[0] = 0xfd;
        IpAddr::V6(Ipv6Addr::from(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_per_key_and_differ_between_keys_and_clients() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let one = Pseudonymizer::new("secret");
        assert_eq!(one.address(a), Pseudonymizer::new("secret").address(a));
        assert_ne!(one.address(a), one.address(b));
        assert_ne!(one.address(a), Pseudonymizer::new("other").address(a));
        assert!(one.address(a).to_string().starts_with("fd"));
    }
}
