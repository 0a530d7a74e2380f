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
///
/// Matching places IPv4 inside IPv6 as the IPv4-mapped range `::ffff:0:0/96` (RFC 4291
/// §2.5.5.2): `10.0.0.0/8` and `::ffff:10.0.0.0/104` hold the same addresses, and an IPv4
/// client is in an IPv6 network exactly when its mapped form is. Equality (`==`) still
/// compares spellings, since it serves the lossless round trip, not matching.
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
        (prefix <= net.max_len() && net.network() == wide(addr)).then_some(net)
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

    /// The prefix length as written; a single address counts as a full-length prefix.
    pub fn prefix_len(&self) -> u8 {
        self.prefix.unwrap_or(self.max_len())
    }

    /// True when `ip` is in this network. An IPv4 address and its IPv4-mapped IPv6 form
    /// (`::ffff:a.b.c.d`) are the same address here, on either side: dual-stack listeners
    /// report IPv4 clients in the mapped form, and a caveat may be written in either. Only
    /// `::ffff:0:0/96` is mapped; the deprecated IPv4-compatible `::a.b.c.d` is an ordinary
    /// IPv6 address. An IPv6 network outside the mapped range holds no IPv4 client, even
    /// `::/0`, as in Go's `net.IPNet` (decision 0305).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        let ip = wide(*ip);
        is_mapped(ip) == self.is_v4() && masked(ip, self.wide_len()) == self.network()
    }

    /// True when every address of `other` is in this network (with the same treatment of
    /// IPv4 as [`IpNet::contains`], so that narrowing agrees with matching).
    pub fn contains_net(&self, other: &IpNet) -> bool {
        self.is_v4() == other.is_v4()
            && other.wide_len() >= self.wide_len()
            && masked(other.network(), self.wide_len()) == self.network()
    }

    /// Whether this network's addresses are IPv4 ones: an IPv4 network, or an IPv6 one
    /// inside the mapped range.
    fn is_v4(&self) -> bool {
        self.wide_len() >= 96 && is_mapped(self.network())
    }

    fn max_len(&self) -> u8 {
        if self.addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// The prefix length in the 128-bit space: an IPv4 `/n` is the mapped `/(n + 96)`.
    fn wide_len(&self) -> u32 {
        let offset = if self.addr.is_ipv4() { 96 } else { 0 };
        u32::from(self.prefix_len()) + offset
    }

    fn network(&self) -> u128 {
        masked(wide(self.addr), self.wide_len())
    }
}

/// The address as 128 bits, IPv4 in its mapped form.
fn wide(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Whether a 128-bit address is in `::ffff:0:0/96`.
fn is_mapped(v: u128) -> bool {
    v >> 32 == 0xffff
}

/// Keeps the top `len` bits of a 128-bit address.
fn masked(v: u128, len: u32) -> u128 {
    // The host mask is `MAX >> len`; at len 128 the shift overflows, and no bit is host.
    v & !u128::MAX.checked_shr(len).unwrap_or(0)
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

    #[test]
    fn mapped_spellings_are_canonical_and_kept() {
        for good in ["::ffff:10.0.0.0/104", "::ffff:10.0.0.1", "::ffff:0.0.0.0/96", "::a00:1"] {
            assert_eq!(IpNet::parse(good).map(|n| n.to_string()).as_deref(), Some(good));
        }
        // Rust prints the IPv4-compatible form in hex, so the dotted spelling is refused.
        for bad in ["::10.0.0.1", "::ffff:a00:0/104", "::FFFF:10.0.0.1", "::ffff:10.0.0.1/104"] {
            assert_eq!(IpNet::parse(bad), None, "{bad:?}");
        }
        assert_eq!(IpNet::parse("::ffff:10.0.0.0/104").map(|n| n.prefix_len()), Some(104));
        assert_ne!(IpNet::parse("10.0.0.0/8"), IpNet::parse("::ffff:10.0.0.0/104"));
    }

    #[test]
    fn prefix_lengths_line_up_across_families() {
        let v4 = IpNet::parse("10.0.0.0/8").unwrap();
        let mapped = IpNet::parse("::ffff:10.0.0.0/104").unwrap();
        assert_eq!((v4.wide_len(), v4.network()), (mapped.wide_len(), mapped.network()));
        assert_eq!(IpNet::parse("0.0.0.0/0").unwrap().wide_len(), 96);
        assert_eq!(IpNet::parse("10.0.0.1").unwrap().wide_len(), 128);
        assert_eq!(masked(u128::MAX, 0), 0);
        assert_eq!(masked(u128::MAX, 128), u128::MAX);
        assert_eq!(masked(u128::MAX, 1), 1 << 127);
    }
}
