//! The real client address behind trusted reverse proxies (`Forwarded`, `X-Forwarded-For`).

use std::net::{IpAddr, Ipv6Addr};

use http::HeaderMap;
use l402_caveats::IpNet;

/// At most this many hops are read from forwarding headers; a longer chain is cut at the
/// proxy nearest to us.
const MAX_HOPS: usize = 64;

/// The proxies whose forwarding headers we believe.
///
/// With none (the default), the client is the TCP peer and forwarding headers are ignored,
/// since anyone can send them. With some, and a peer among them, the hops in `Forwarded`
/// (RFC 7239, preferred when present) or else `X-Forwarded-For` are read from the right;
/// the first hop that is not a trusted proxy is the client. A hop that does not parse
/// (`unknown`, an obfuscated name) stops the walk at the last proxy we trust, so a client
/// cannot pick its own rate-limit bucket by sending garbage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// Trust nobody: the TCP peer is the client.
    pub fn none() -> TrustedProxies {
        TrustedProxies::default()
    }

    /// Trust these networks.
    pub fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies { nets }
    }

    /// Parses `addr-or-cidr[,…]` (the `client_ip` caveat syntax); `None` if any item fails.
    pub fn parse(list: &str) -> Option<TrustedProxies> {
        list.split(',')
            .map(|s| IpNet::parse(s.trim()))
            .collect::<Option<Vec<_>>>()
            .map(TrustedProxies::new)
    }

    fn trusts(&self, ip: &IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// The client's address given the TCP peer and the request headers; `None` only when the
    /// peer is unknown.
    pub fn client_addr(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(&peer) {
            return Some(peer);
        }
        let hops = if headers.contains_key(http::header::FORWARDED) {
            forwarded_hops(headers)
        } else {
            x_forwarded_for_hops(headers)
        };
        let mut nearest = peer;
        for hop in hops.iter().rev().take(MAX_HOPS) {
            match hop {
                Some(ip) if self.trusts(ip) => nearest = *ip,
                Some(ip) => return Some(*ip),
                None => return Some(nearest),
            }
        }
        Some(nearest)
    }
}

fn header_texts<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    // Non-ASCII values are not something a proxy we trust writes; treat them as one bad hop.
    headers.get_all(name).iter().map(|v| v.to_str().unwrap_or("\u{0}"))
}

/// The hops of every `X-Forwarded-For` line, oldest first; `None` for a hop that does not
/// parse.
pub fn x_forwarded_for_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    header_texts(headers, "x-forwarded-for")
        .flat_map(|line| line.split(','))
        .map(|hop| parse_node(hop.trim()))
        .collect()
}

/// The `for=` hops of every `Forwarded` line (RFC 7239), oldest first; `None` for an
/// element without `for=` or whose node does not parse.
pub fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    header_texts(headers, "forwarded").flat_map(parse_forwarded).collect()
}

/// One `Forwarded` field value: its elements' `for=` nodes.
pub fn parse_forwarded(value: &str) -> Vec<Option<IpAddr>> {
    split_outside_quotes(value, ',')
        .into_iter()
        .map(|element| {
            split_outside_quotes(element, ';').into_iter().find_map(|pair| {
                let (name, v) = pair.trim().split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| parse_node(&unquote(v.trim())?))?
            })
        })
        .collect()
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(s.get(start..i).unwrap_or_default());
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(s.get(start..).unwrap_or_default());
    out
}

fn unquote(v: &str) -> Option<String> {
    let Some(inner) = v.strip_prefix('"') else {
        return Some(v.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(out)
}

/// A node: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`.
/// IPv4-mapped IPv6 addresses become IPv4.
pub fn parse_node(node: &str) -> Option<IpAddr> {
    let ip = if let Some(rest) = node.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?)
    } else if let Ok(ip) = node.parse::<IpAddr>() {
        ip
    } else {
        let (addr, port) = node.rsplit_once(':')?;
        if !is_port(port) {
            return None;
        }
        IpAddr::V4(addr.parse().ok()?)
    };
    Some(ip.to_canonical())
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// The rate-limit bucket of a client: its IPv4 address, or its IPv6 /64 (one subscriber
/// usually holds a whole /64).
pub fn bucket(client: Option<IpAddr>) -> String {
    match client.map(|c| c.to_canonical()) {
        None => "ip:unknown".to_owned(),
        Some(IpAddr::V4(v4)) => format!("ip:{v4}"),
        Some(IpAddr::V6(v6)) => {
            let [a, b, c, d, ..] = v6.segments();
            let net = Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0);
            format!("ip:{net}/64")
        }
    }
}
