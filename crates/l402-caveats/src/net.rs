//! Client addresses and networks for the `client_ip` caveat.

use core::fmt;
use std::net::IpAddr;

use crate::grammar;

/// One address (`203.0.113.7`) or network in CIDR form (`198.51.100.0/24`, `2001:db8::/32`).
///
/// Only the canonical spelling is accepted: the address exactly as Rust (RFC 5952 for IPv6)
/// prints it, a canonical prefix length, and no host bits set under the prefix. So each set of
/// addresses has exactly one spelling per form, and a printed caveat is byte-identical to the
/// parsed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: Option<u8>,
}

impl IpNet {
    /// A single address (printed without a prefix length).
    pub fn addr(addr: IpAddr) -> IpNet {
        IpNet { addr, prefix: None }
    }

    /// A network; `None` when the prefix is too long for the family or host bits are set.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        let net = IpNet { addr, prefix: Some(prefix) };
        (prefix <= net.max_len() && net.network_bits() == bits(addr)).then_some(net)
    }

    /// Parses the canonical text form.
    pub fn parse(s: &str) -> Option<IpNet> {
        let (addr_text, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(u8::try_from(grammar::canonical_u64(p)?).ok()?)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text.parse().ok()?;
        // Rust's IPv4 parser already accepts only the dotted-quad spelling without leading
        // zeros; IPv6 has several spellings, so compare with the RFC 5952 one.
        if addr.is_ipv6() && addr.to_string() != addr_text {
            return None;
        }
        match prefix {
            Some(p) => IpNet::new(addr, p),
            None => Some(IpNet::addr(addr)),
        }
    }

    /// The prefix length; a single address counts as a full-length prefix.
    pub fn prefix_len(&self) -> u8 {
        self.prefix.unwrap_or(self.max_len())
    }

    /// True when `ip` is in this network. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is
    /// judged as the IPv4 address it carries, because dual-stack servers report IPv4 clients
    /// that way.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.addr.is_ipv4() == ip.is_ipv4()
            && masked(bits(ip), self.len_bits(), self.width())
                == masked(bits(self.addr), self.len_bits(), self.width())
    }

    /// True when every address of `other` is in this network.
    pub fn contains_net(&self, other: &IpNet) -> bool {
        self.addr.is_ipv4() == other.addr.is_ipv4()
            && other.prefix_len() >= self.prefix_len()
            && self.contains(&other.addr)
    }

    fn max_len(&self) -> u8 {
        if self.addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    fn width(&self) -> u32 {
        u32::from(self.max_len())
    }

    fn len_bits(&self) -> u32 {
        u32::from(self.prefix_len())
    }

    fn network_bits(&self) -> u128 {
        masked(bits(self.addr), self.len_bits(), self.width())
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Keeps the top `len` bits of a `width`-bit address.
fn masked(v: u128, len: u32, width: u32) -> u128 {
    let host = width.saturating_sub(len);
    let host_mask = 1u128.checked_shl(host).map_or(u128::MAX, |m| m - 1);
    v & !host_mask
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix {
            Some(p) => write!(f, "{}/{p}", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_only() {
        for good in ["203.0.113.7", "198.51.100.0/24", "0.0.0.0/0", "2001:db8::/32", "::1", "::/0"]
        {
            assert_eq!(IpNet::parse(good).map(|n| n.to_string()).as_deref(), Some(good));
        }
        for bad in [
            "198.51.100.1/24",
            "2001:DB8::/32",
            "2001:0db8::/32",
            "1.2.3.4/33",
            "1.2.3.4/032",
            "1.2.3.4/",
            "01.2.3.4",
            "1.2.3",
            "256.0.0.1",
            "1.2.3.4.5",
            " 1.2.3.4",
            "host",
            "",
        ] {
            assert_eq!(IpNet::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn containment() {
        let net = IpNet::parse("198.51.100.0/24").unwrap();
        assert!(net.contains(&"198.51.100.200".parse().unwrap()));
        assert!(net.contains(&"::ffff:198.51.100.1".parse().unwrap()));
        assert!(!net.contains(&"198.51.101.1".parse().unwrap()));
        assert!(!net.contains(&"2001:db8::1".parse().unwrap()));
        assert!(net.contains_net(&IpNet::parse("198.51.100.128/25").unwrap()));
        assert!(net.contains_net(&IpNet::parse("198.51.100.9").unwrap()));
        assert!(!net.contains_net(&IpNet::parse("198.51.0.0/16").unwrap()));
        let all = IpNet::parse("::/0").unwrap();
        assert!(all.contains(&"2001:db8::1".parse().unwrap()));
    }
}
