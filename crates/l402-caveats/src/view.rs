//! Built-in caveats borrowed from the token's bytes: the form the engine judges.
//!
//! [`Caveat`] owns a `String` per name and list item, which costs several allocations per
//! caveat on every request; the engine only compares, so it keeps validated slices instead.
//! The validation rules live here once: [`Caveat::parse_parts`] builds on [`View::parse`],
//! so both forms accept exactly the same bytes. `Caveat::narrows` and [`View::narrows`] state
//! the same rules on the two forms; a property test checks that they agree.

use crate::caveat::{malformed, VALID_UNTIL_SUFFIX};
use crate::caveat::{service_of, Builtin, Caveat, ServiceTier, CAPABILITIES_SUFFIX};
use crate::grammar::{self, canonical_i64, canonical_u64, comma_items, comma_list_all};
use crate::{Error, IpNet, Timestamp};

/// A built-in caveat, validated, borrowing its text. Lists are kept as their validated
/// comma-separated text and split again when compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum View<'a> {
    /// `name:tier[,name:tier...]`: entries are canonical, so equal text is an equal entry.
    Services(&'a str),
    /// An empty `list` restricts nothing.
    Capabilities {
        service: &'a str,
        list: &'a str,
    },
    ValidUntil {
        service: &'a str,
        unix: i64,
    },
    ExpiresAt(Timestamp),
    Methods(&'a str),
    PathPrefix(&'a str),
    ClientIp(Vec<IpNet>),
    MaxUses(u64),
}

/// Items of a list already validated by [`View::parse`].
fn items(list: &str) -> impl Iterator<Item = &str> {
    list.split(',')
}

/// Items of a capabilities list, where the empty text is the empty list.
fn capabilities(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').filter(|c| !c.is_empty())
}

impl<'a> View<'a> {
    /// Validates a built-in condition's value; `None` when no built-in owns the condition.
    pub(crate) fn parse(condition: &'a [u8], value: &'a [u8]) -> Result<Option<View<'a>>, Error> {
        match Builtin::of_condition(condition) {
            Some(kind) => View::parse_as(kind, condition, value).map(Some),
            None => Ok(None),
        }
    }

    /// Validates a value of a condition `kind` owns (as [`Builtin::of_condition`] says).
    pub(crate) fn parse_as(
        kind: Builtin,
        condition: &'a [u8],
        value: &'a [u8],
    ) -> Result<View<'a>, Error> {
        let bad = |reason| malformed(condition, reason);
        let v = core::str::from_utf8(value).map_err(|_| bad("value is not UTF-8"))?;
        // `of_condition` only matches UTF-8 conditions.
        let c = core::str::from_utf8(condition).map_err(|_| bad("condition is not UTF-8"))?;
        Ok(match kind {
            Builtin::Services => {
                let ok = comma_list_all(v, |entry| {
                    entry.split_once(':').is_some_and(|(name, tier)| {
                        !name.is_empty()
                            && canonical_u64(tier).is_some_and(|t| u8::try_from(t).is_ok())
                    })
                });
                if !ok {
                    return Err(bad(
                        "expected name:tier[,name:tier...] with non-empty names and tiers 0-255",
                    ));
                }
                View::Services(v)
            }
            Builtin::Capabilities => {
                if !v.is_empty() && !comma_list_all(v, |_| true) {
                    return Err(bad("expected a comma-separated list without empty items"));
                }
                View::Capabilities {
                    service: service_of(c, CAPABILITIES_SUFFIX).unwrap_or_default(),
                    list: v,
                }
            }
            Builtin::ValidUntil => View::ValidUntil {
                service: service_of(c, VALID_UNTIL_SUFFIX).unwrap_or_default(),
                unix: canonical_i64(v)
                    .ok_or_else(|| bad("expected canonical decimal Unix seconds"))?,
            },
            Builtin::ExpiresAt => View::ExpiresAt(
                Timestamp::parse(v).ok_or_else(|| bad("expected an RFC 3339 date-time"))?,
            ),
            Builtin::Methods => {
                let mut list =
                    comma_items(v).ok_or_else(|| bad("expected a list of HTTP methods"))?;
                if !list.all(grammar::is_http_token) {
                    return Err(bad("an HTTP method is not an RFC 9110 token"));
                }
                View::Methods(v)
            }
            Builtin::PathPrefix => {
                if !v.starts_with('/') || v.chars().any(char::is_control) {
                    return Err(bad(
                        "expected a path starting with / and without control characters",
                    ));
                }
                View::PathPrefix(v)
            }
            Builtin::ClientIp => View::ClientIp(
                comma_items(v)
                    .and_then(|list| list.map(IpNet::parse).collect())
                    .ok_or_else(|| bad("expected canonical IP addresses or CIDR networks"))?,
            ),
            Builtin::MaxUses => {
                View::MaxUses(canonical_u64(v).ok_or_else(|| bad("expected a canonical count"))?)
            }
        })
    }

    /// The built-in this caveat belongs to.
    pub(crate) fn builtin(&self) -> Builtin {
        match self {
            View::Services(_) => Builtin::Services,
            View::Capabilities { .. } => Builtin::Capabilities,
            View::ValidUntil { .. } => Builtin::ValidUntil,
            View::ExpiresAt(_) => Builtin::ExpiresAt,
            View::Methods(_) => Builtin::Methods,
            View::PathPrefix(_) => Builtin::PathPrefix,
            View::ClientIp(_) => Builtin::ClientIp,
            View::MaxUses(_) => Builtin::MaxUses,
        }
    }

    /// Whether `service` is one of a services list's names.
    pub(crate) fn names_service(list: &str, service: &str) -> bool {
        items(list).any(|entry| entry.split_once(':').is_some_and(|(name, _)| name == service))
    }

    /// Whether a capabilities list is empty (unrestricted) or names `capability`.
    pub(crate) fn allows_capability(list: &str, capability: &str) -> bool {
        list.is_empty() || capabilities(list).any(|c| c == capability)
    }

    /// Whether a methods list names `method`.
    pub(crate) fn allows_method(list: &str, method: &str) -> bool {
        items(list).any(|m| m == method)
    }

    /// The same rule as `Caveat::narrows`: `self`, after `previous`, allows no more.
    pub(crate) fn narrows(&self, previous: &View<'_>) -> bool {
        match (previous, self) {
            (View::Services(prev), View::Services(cur)) => {
                items(cur).all(|c| items(prev).any(|p| p == c))
            }
            (
                View::Capabilities { service: ps, list: prev },
                View::Capabilities { service: cs, list: cur },
            ) => {
                ps == cs
                    && (prev.is_empty()
                        || (!cur.is_empty()
                            && capabilities(cur).all(|c| capabilities(prev).any(|p| p == c))))
            }
            (
                View::ValidUntil { service: ps, unix: p },
                View::ValidUntil { service: cs, unix: c },
            ) => ps == cs && c <= p,
            (View::ExpiresAt(p), View::ExpiresAt(c)) => c.not_after(p),
            (View::Methods(prev), View::Methods(cur)) => {
                items(cur).all(|c| items(prev).any(|p| p == c))
            }
            (View::PathPrefix(p), View::PathPrefix(c)) => c.starts_with(p),
            (View::ClientIp(prev), View::ClientIp(cur)) => {
                cur.iter().all(|c| prev.iter().any(|p| p.contains_net(c)))
            }
            (View::MaxUses(p), View::MaxUses(c)) => c <= p,
            _ => false,
        }
    }

    /// The owned form.
    pub(crate) fn into_owned(self) -> Caveat {
        match self {
            View::Services(list) => Caveat::Services(
                items(list)
                    .filter_map(|entry| {
                        let (name, tier) = entry.split_once(':')?;
                        Some(ServiceTier::new(name, tier.parse().ok()?))
                    })
                    .collect(),
            ),
            View::Capabilities { service, list } => Caveat::Capabilities {
                service: service.to_owned(),
                capabilities: capabilities(list).map(str::to_owned).collect(),
            },
            View::ValidUntil { service, unix } => {
                Caveat::ValidUntil { service: service.to_owned(), unix }
            }
            View::ExpiresAt(t) => Caveat::ExpiresAt(t),
            View::Methods(list) => Caveat::Methods(items(list).map(str::to_owned).collect()),
            View::PathPrefix(p) => Caveat::PathPrefix(p.to_owned()),
            View::ClientIp(nets) => Caveat::ClientIp(nets),
            View::MaxUses(n) => Caveat::MaxUses(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Values that mix valid and invalid lists of each built-in's shape.
    fn caveat_text() -> impl Strategy<Value = String> {
        let names = prop::sample::select(vec!["a", "b", "weather", "", "a:1"]);
        let tiers = prop::sample::select(vec!["0", "1", "255", "256", "01", ""]);
        let entry = (names, tiers).prop_map(|(n, t)| format!("{n}:{t}"));
        let word = prop::sample::select(vec!["GET", "HEAD", "x", "", "a b"]);
        prop_oneof![
            prop::collection::vec(entry, 1..4).prop_map(|e| format!("services={}", e.join(","))),
            prop::collection::vec(word.clone(), 0..4)
                .prop_map(|w| format!("svc_capabilities={}", w.join(","))),
            prop::collection::vec(word, 1..4).prop_map(|w| format!("methods={}", w.join(","))),
            prop::sample::select(vec!["/", "/a", "/a/b", "a", "/\u{1}"])
                .prop_map(|p| format!("path_prefix={p}")),
            (-3i64..3).prop_map(|n| format!("svc_valid_until={n}")),
            (0u64..3).prop_map(|n| format!("max_uses={n}")),
        ]
    }

    proptest! {
        /// The borrowed form accepts what the owned form accepts, narrows as it narrows, and
        /// converts to the same value.
        #[test]
        fn view_agrees_with_caveat(a in caveat_text(), b in caveat_text()) {
            let parse = |s: &str| {
                let (c, v) = grammar::split(s.as_bytes()).unwrap_or_default();
                (Caveat::parse(s.as_bytes()), View::parse(c, v).map(|v| v.map(View::into_owned)))
            };
            let (owned_a, view_a) = parse(&a);
            prop_assert_eq!(owned_a.clone().map(Some), view_a);
            let (owned_b, _) = parse(&b);
            if let (Ok(ca), Ok(cb)) = (owned_a, owned_b) {
                let (c, v) = grammar::split(a.as_bytes()).unwrap_or_default();
                let (d, w) = grammar::split(b.as_bytes()).unwrap_or_default();
                if let (Ok(Some(va)), Ok(Some(vb))) = (View::parse(c, v), View::parse(d, w)) {
                    prop_assert_eq!(cb.narrows(&ca), vb.narrows(&va), "{} then {}", a, b);
                }
            }
        }
    }
}
