//! Typed caveats: the standard L402 conditions and our extensions, parsed and printed
//! losslessly.

use core::fmt;

use crate::grammar;
use crate::view::View;
use crate::{Error, IpNet, Timestamp};

/// The `services` condition.
pub const SERVICES: &str = "services";
/// Suffix of the per-service `<service>_capabilities` condition.
pub const CAPABILITIES_SUFFIX: &str = "_capabilities";
/// Suffix of the per-service `<service>_valid_until` condition.
pub const VALID_UNTIL_SUFFIX: &str = "_valid_until";
/// Our extension: expiry as an RFC 3339 time, for every service.
pub const EXPIRES_AT: &str = "expires_at";
/// Our extension: allowed HTTP methods.
pub const METHODS: &str = "methods";
/// Our extension: allowed request path prefix.
pub const PATH_PREFIX: &str = "path_prefix";
/// Our extension: allowed client addresses or networks.
pub const CLIENT_IP: &str = "client_ip";
/// Our extension: how many requests the token may make.
pub const MAX_USES: &str = "max_uses";
/// Added by Aperture's gRPC client to carry the preimage; judged by the token layer.
pub const PREIMAGE: &str = "preimage";

/// One entry of a `services` caveat: `name:tier`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceTier {
    /// Service name: non-empty, without `,` or `:`.
    pub name: String,
    /// Tier (Aperture's base tier is 0). Stored, compared when narrowing, not checked against
    /// the request.
    pub tier: u8,
}

impl ServiceTier {
    /// A service at the given tier.
    pub fn new(name: impl Into<String>, tier: u8) -> ServiceTier {
        ServiceTier { name: name.into(), tier }
    }
}

/// The kind of a built-in check; [`crate::Verifier`] can enable them one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Builtin {
    /// `services=name:tier[,...]`.
    Services,
    /// `<service>_valid_until=<unix seconds>`.
    ValidUntil,
    /// `expires_at=<RFC 3339>`.
    ExpiresAt,
    /// `<service>_capabilities=a,b`.
    Capabilities,
    /// `methods=GET,HEAD`.
    Methods,
    /// `path_prefix=/api/`.
    PathPrefix,
    /// `client_ip=203.0.113.0/24,...`.
    ClientIp,
    /// `max_uses=<count>`.
    MaxUses,
}

impl Builtin {
    /// Every built-in, in the order their final checks run.
    pub const ALL: [Builtin; 8] = [
        Builtin::Services,
        Builtin::ValidUntil,
        Builtin::ExpiresAt,
        Builtin::Capabilities,
        Builtin::Methods,
        Builtin::PathPrefix,
        Builtin::ClientIp,
        Builtin::MaxUses,
    ];

    /// The built-in that owns a condition, if any. Conditions are matched byte for byte.
    pub fn of_condition(condition: &[u8]) -> Option<Builtin> {
        // The fixed names are ASCII, so comparing bytes needs no UTF-8 check; only the
        // per-service conditions must be UTF-8 as a whole.
        match condition {
            c if c == SERVICES.as_bytes() => Some(Builtin::Services),
            c if c == EXPIRES_AT.as_bytes() => Some(Builtin::ExpiresAt),
            c if c == METHODS.as_bytes() => Some(Builtin::Methods),
            c if c == PATH_PREFIX.as_bytes() => Some(Builtin::PathPrefix),
            c if c == CLIENT_IP.as_bytes() => Some(Builtin::ClientIp),
            c if c == MAX_USES.as_bytes() => Some(Builtin::MaxUses),
            c if c.ends_with(CAPABILITIES_SUFFIX.as_bytes()) => {
                let c = core::str::from_utf8(c).ok()?;
                service_of(c, CAPABILITIES_SUFFIX).map(|_| Builtin::Capabilities)
            }
            c if c.ends_with(VALID_UNTIL_SUFFIX.as_bytes()) => {
                let c = core::str::from_utf8(c).ok()?;
                service_of(c, VALID_UNTIL_SUFFIX).map(|_| Builtin::ValidUntil)
            }
            _ => None,
        }
    }
}

pub(crate) fn service_of<'a>(condition: &'a str, suffix: &str) -> Option<&'a str> {
    condition.strip_suffix(suffix).filter(|s| !s.is_empty())
}

/// A first-party caveat, typed.
///
/// [`Caveat::parse`] and [`Caveat::encode`] are exact inverses: every byte string that parses
/// prints back to the same bytes, and every value that encodes parses back to itself. That is
/// why only canonical numbers and addresses are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Caveat {
    /// `services=name:tier[,name:tier...]`: the services the token may be used for.
    Services(Vec<ServiceTier>),
    /// `<service>_capabilities=a,b`: the capabilities of one service the token may use. An
    /// empty list (`<service>_capabilities=`, which Aperture always mints) restricts nothing.
    Capabilities {
        /// The service.
        service: String,
        /// Allowed capabilities; empty means unrestricted.
        capabilities: Vec<String>,
    },
    /// `<service>_valid_until=<unix seconds>`: valid while `now < unix`.
    ValidUntil {
        /// The service.
        service: String,
        /// Unix seconds.
        unix: i64,
    },
    /// `expires_at=<RFC 3339>`: valid before the instant, for every service.
    ExpiresAt(Timestamp),
    /// `methods=GET,HEAD`: allowed HTTP methods (case-sensitive, as in HTTP).
    Methods(Vec<String>),
    /// `path_prefix=/api/`: the request path must start with this (byte for byte).
    PathPrefix(String),
    /// `client_ip=addr-or-cidr[,...]`: the client address must be in one of these.
    ClientIp(Vec<IpNet>),
    /// `max_uses=<count>`: how many requests the token may make; the server counts.
    MaxUses(u64),
    /// A `condition=value` caveat with a condition none of the above owns.
    Other {
        /// Condition bytes.
        condition: Vec<u8>,
        /// Value bytes.
        value: Vec<u8>,
    },
    /// A caveat with no `=`: it has no condition (Aperture skips these).
    Opaque(Vec<u8>),
}

pub(crate) fn malformed(condition: &[u8], reason: &'static str) -> Error {
    Error::Malformed {
        index: None,
        condition: String::from_utf8_lossy(condition).into_owned(),
        reason,
    }
}

impl Caveat {
    /// Parses a first-party caveat. Fails only with `malformed-caveat`, when a built-in
    /// condition's value does not decode; unknown conditions become [`Caveat::Other`] and
    /// caveats without `=` become [`Caveat::Opaque`].
    pub fn parse(caveat: &[u8]) -> Result<Caveat, Error> {
        match grammar::split(caveat) {
            None => Ok(Caveat::Opaque(caveat.to_vec())),
            Some((c, v)) => Caveat::parse_parts(c, v),
        }
    }

    /// Parses a caveat already split into condition and value.
    pub fn parse_parts(condition: &[u8], value: &[u8]) -> Result<Caveat, Error> {
        // The validation rules live in the borrowed form the engine judges (`view`).
        match View::parse(condition, value)? {
            Some(view) => Ok(view.into_owned()),
            None => Ok(Caveat::Other { condition: condition.to_vec(), value: value.to_vec() }),
        }
    }

    /// The built-in that owns this caveat; `None` for [`Caveat::Other`] and
    /// [`Caveat::Opaque`].
    pub fn builtin(&self) -> Option<Builtin> {
        Some(match self {
            Caveat::Services(_) => Builtin::Services,
            Caveat::Capabilities { .. } => Builtin::Capabilities,
            Caveat::ValidUntil { .. } => Builtin::ValidUntil,
            Caveat::ExpiresAt(_) => Builtin::ExpiresAt,
            Caveat::Methods(_) => Builtin::Methods,
            Caveat::PathPrefix(_) => Builtin::PathPrefix,
            Caveat::ClientIp(_) => Builtin::ClientIp,
            Caveat::MaxUses(_) => Builtin::MaxUses,
            Caveat::Other { .. } | Caveat::Opaque(_) => return None,
        })
    }

    /// The condition bytes (`None` for [`Caveat::Opaque`]).
    pub fn condition(&self) -> Option<Vec<u8>> {
        let s = match self {
            Caveat::Services(_) => SERVICES.to_owned(),
            Caveat::Capabilities { service, .. } => format!("{service}{CAPABILITIES_SUFFIX}"),
            Caveat::ValidUntil { service, .. } => format!("{service}{VALID_UNTIL_SUFFIX}"),
            Caveat::ExpiresAt(_) => EXPIRES_AT.to_owned(),
            Caveat::Methods(_) => METHODS.to_owned(),
            Caveat::PathPrefix(_) => PATH_PREFIX.to_owned(),
            Caveat::ClientIp(_) => CLIENT_IP.to_owned(),
            Caveat::MaxUses(_) => MAX_USES.to_owned(),
            Caveat::Other { condition, .. } => return Some(condition.clone()),
            Caveat::Opaque(_) => return None,
        };
        Some(s.into_bytes())
    }

    /// The caveat bytes: `condition=value`.
    pub fn encode(&self) -> Vec<u8> {
        let value = match self {
            Caveat::Services(s) => {
                s.iter().map(|s| format!("{}:{}", s.name, s.tier)).collect::<Vec<_>>().join(",")
            }
            Caveat::Capabilities { capabilities, .. } => capabilities.join(","),
            Caveat::ValidUntil { unix, .. } => unix.to_string(),
            Caveat::ExpiresAt(t) => t.as_str().to_owned(),
            Caveat::Methods(m) => m.join(","),
            Caveat::PathPrefix(p) => p.clone(),
            Caveat::ClientIp(n) => n.iter().map(IpNet::to_string).collect::<Vec<_>>().join(","),
            Caveat::MaxUses(n) => n.to_string(),
            Caveat::Other { condition, value } => {
                let mut out = condition.clone();
                out.push(b'=');
                out.extend_from_slice(value);
                return out;
            }
            Caveat::Opaque(bytes) => return bytes.clone(),
        };
        let mut out = self.condition().unwrap_or_default();
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
        out
    }

    /// Checks that this value encodes to bytes that parse back to itself (a `services` name
    /// with a `,` would not), as the attenuation helpers require.
    pub fn validate(&self) -> Result<(), Error> {
        let bytes = self.encode();
        match Caveat::parse(&bytes)? {
            back if back == *self => Ok(()),
            _ => Err(malformed(
                &self.condition().unwrap_or(bytes),
                "value cannot be encoded losslessly",
            )),
        }
    }

    /// True when `self`, appearing after `previous` (same condition), allows no more than
    /// `previous`. Caveats of different conditions never narrow each other.
    pub fn narrows(&self, previous: &Caveat) -> bool {
        match (previous, self) {
            (Caveat::Services(prev), Caveat::Services(cur)) => cur.iter().all(|c| prev.contains(c)),
            (
                Caveat::Capabilities { service: ps, capabilities: prev },
                Caveat::Capabilities { service: cs, capabilities: cur },
            ) => {
                ps == cs
                    && (prev.is_empty()
                        || (!cur.is_empty() && cur.iter().all(|c| prev.contains(c))))
            }
            (
                Caveat::ValidUntil { service: ps, unix: p },
                Caveat::ValidUntil { service: cs, unix: c },
            ) => ps == cs && c <= p,
            (Caveat::ExpiresAt(p), Caveat::ExpiresAt(c)) => c.not_after(p),
            (Caveat::Methods(prev), Caveat::Methods(cur)) => cur.iter().all(|c| prev.contains(c)),
            (Caveat::PathPrefix(p), Caveat::PathPrefix(c)) => c.starts_with(p.as_str()),
            (Caveat::ClientIp(prev), Caveat::ClientIp(cur)) => {
                cur.iter().all(|c| prev.iter().any(|p| p.contains_net(c)))
            }
            (Caveat::MaxUses(p), Caveat::MaxUses(c)) => c <= p,
            (
                Caveat::Other { condition: pc, value: pv },
                Caveat::Other { condition: cc, value: cv },
            ) => pc == cc && pv == cv,
            _ => false,
        }
    }
}

impl fmt::Display for Caveat {
    /// The caveat as text, with non-UTF-8 bytes replaced (use [`Caveat::encode`] for bytes).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.encode()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Caveat, &'static str> {
        Caveat::parse(s.as_bytes()).map_err(|e| e.code())
    }

    #[test]
    fn aperture_service_codec_cases() {
        // aperture l402/service_test.go @ 7ee3ed7 (aperture-vectors.md A6).
        assert_eq!(p("services=a:0"), Ok(Caveat::Services(vec![ServiceTier::new("a", 0)])));
        assert_eq!(
            p("services=a:0,b:1,c:0"),
            Ok(Caveat::Services(vec![
                ServiceTier::new("a", 0),
                ServiceTier::new("b", 1),
                ServiceTier::new("c", 0)
            ]))
        );
        for bad in
            ["services=", "services=:0", "services=a", "services=a:", "services=a:b", "services=,,"]
        {
            assert_eq!(p(bad), Err("malformed-caveat"), "{bad}");
        }
    }

    #[test]
    fn grammar_edges() {
        assert_eq!(
            p("expiration=1337="),
            Ok(Caveat::Other { condition: b"expiration".to_vec(), value: b"1337=".to_vec() })
        );
        assert_eq!(p("expiration:1337"), Ok(Caveat::Opaque(b"expiration:1337".to_vec())));
        assert_eq!(
            p("svc_capabilities="),
            Ok(Caveat::Capabilities { service: "svc".into(), capabilities: vec![] })
        );
        assert_eq!(
            p("_capabilities=a"),
            Ok(Caveat::Other { condition: b"_capabilities".to_vec(), value: b"a".to_vec() })
        );
        assert_eq!(
            Caveat::parse(b"max_uses=\xff"),
            Err(malformed(b"max_uses", "value is not UTF-8"))
        );
        assert_eq!(
            Caveat::parse(b"\xff=\xfe"),
            Ok(Caveat::Other { condition: b"\xff".to_vec(), value: b"\xfe".to_vec() })
        );
    }
}
