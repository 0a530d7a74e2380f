//! The engine: judges a token's first-party caveats against a request.

use core::fmt;
use std::collections::HashMap;
use std::sync::Arc;

use l402_token::Macaroon;

use crate::caveat::{Builtin, Caveat, PREIMAGE};
use crate::satisfier::Satisfier;
use crate::{grammar, Context, Error};

/// What an accepted token allows, beyond "this request".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verdict {
    /// The effective usage allowance (the last `max_uses`, which narrowing makes the
    /// smallest); the server counts uses against it.
    pub max_uses: Option<u64>,
    /// The earliest expiry that applied to this request, in Unix seconds (valid while
    /// `now < deadline`).
    pub deadline: Option<i64>,
    /// Positions of caveats that were not judged: unknown conditions and caveats without
    /// `=` (lenient mode), and conditions accepted unchecked (such as `preimage`).
    pub skipped: Vec<usize>,
    /// Conditions (lossy UTF-8) whose final check needed a context field that was absent.
    pub unchecked: Vec<String>,
}

/// Judges caveats. Cheap to clone; share one per server.
///
/// Evaluation order (recorded in `docs/decisions/0302-caveat-evaluation-order.md`):
/// 1. every first-party caveat in token order is classified and decoded: the first caveat
///    that is malformed (`malformed-caveat`) or, in strict mode, unknown (`unknown-caveat`)
///    decides;
/// 2. every consecutive pair of caveats with the same condition is compared, in token order
///    of the later one: the first widening is `caveat-escalation`;
/// 3. the last occurrence of each condition is judged against the request, built-ins first
///    in [`Builtin::ALL`] order, then custom satisfiers in registration order.
///
/// So a token's malformed and escalation codes do not depend on the request.
#[derive(Clone)]
pub struct Verifier {
    builtins: Vec<Builtin>,
    custom: Vec<Arc<dyn Satisfier>>,
    ignored: Vec<Vec<u8>>,
    strict: bool,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let custom: Vec<&str> = self.custom.iter().map(|s| s.condition()).collect();
        let ignored: Vec<_> = self.ignored.iter().map(|c| String::from_utf8_lossy(c)).collect();
        f.debug_struct("Verifier")
            .field("builtins", &self.builtins)
            .field("custom", &custom)
            .field("ignored", &ignored)
            .field("strict", &self.strict)
            .finish()
    }
}

enum Judged<'a> {
    Builtin(Caveat),
    Custom(usize, &'a str),
}

struct Entry<'a> {
    index: usize,
    condition: &'a [u8],
    judged: Judged<'a>,
}

impl Verifier {
    /// Every built-in check, lenient about unknown conditions, `preimage` accepted unchecked.
    pub fn new() -> Verifier {
        Verifier::with_builtins(&Builtin::ALL)
    }

    /// Only what Aperture's proxy checks: `services` and `<service>_valid_until`.
    pub fn aperture() -> Verifier {
        Verifier::with_builtins(&[Builtin::Services, Builtin::ValidUntil])
    }

    /// The given built-ins; conditions of the others count as unknown.
    pub fn with_builtins(builtins: &[Builtin]) -> Verifier {
        Verifier {
            builtins: builtins.to_vec(),
            custom: Vec::new(),
            ignored: vec![PREIMAGE.as_bytes().to_vec()],
            strict: false,
        }
    }

    /// Strict mode rejects caveats no satisfier judges (`unknown-caveat`) instead of skipping
    /// them as the L402 specification requires.
    pub fn strict(mut self, strict: bool) -> Verifier {
        self.strict = strict;
        self
    }

    /// Registers a satisfier. It takes precedence over a built-in with the same condition,
    /// and replaces an earlier satisfier for the same condition.
    pub fn with_satisfier(mut self, satisfier: impl Satisfier + 'static) -> Verifier {
        self.custom.retain(|s| s.condition() != satisfier.condition());
        self.custom.push(Arc::new(satisfier));
        self
    }

    /// Accepts a condition without checking it, even in strict mode (for example constraints
    /// a backend enforces itself).
    pub fn accept_unchecked(mut self, condition: impl Into<Vec<u8>>) -> Verifier {
        self.ignored.push(condition.into());
        self
    }

    /// Judges a macaroon's first-party caveats. Call it after the signature check: it trusts
    /// the caveats it is given. Third-party caveats are the token layer's business (it
    /// refuses them) and are not looked at here.
    pub fn verify(&self, macaroon: &Macaroon, context: &Context) -> Result<Verdict, Error> {
        self.verify_caveats(macaroon.first_party_caveats(), context)
    }

    /// Judges a list of first-party caveat ids in token order.
    pub fn verify_caveats<'a, I>(&self, caveats: I, context: &Context) -> Result<Verdict, Error>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut verdict = Verdict::default();
        let entries = self.classify(caveats, &mut verdict)?;
        let lasts = self.check_narrowing(&entries)?;
        let mut finals: Vec<&Entry<'_>> =
            lasts.into_iter().filter_map(|i| entries.get(i)).collect();
        finals.sort_by_key(|e| (self.rank(e), e.index));
        for e in finals {
            self.satisfy_final(e, context, &mut verdict)?;
        }
        Ok(verdict)
    }

    fn rank(&self, e: &Entry<'_>) -> usize {
        match &e.judged {
            Judged::Builtin(c) => {
                c.builtin().and_then(|b| Builtin::ALL.iter().position(|x| *x == b)).unwrap_or(0)
            }
            Judged::Custom(k, _) => Builtin::ALL.len() + k,
        }
    }

    /// Pass 1: decode every caveat.
    fn classify<'a, I>(&self, caveats: I, verdict: &mut Verdict) -> Result<Vec<Entry<'a>>, Error>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut entries = Vec::new();
        for (index, raw) in caveats.into_iter().enumerate() {
            let unknown = |verdict: &mut Verdict, condition: &[u8]| {
                if self.strict {
                    Err(Error::Unknown {
                        index,
                        condition: String::from_utf8_lossy(condition).into_owned(),
                    })
                } else {
                    verdict.skipped.push(index);
                    Ok(())
                }
            };
            let Some((condition, value)) = grammar::split(raw) else {
                unknown(verdict, raw)?;
                continue;
            };
            let with_index = |e: Error| match e {
                Error::Malformed { condition, reason, .. } => {
                    Error::Malformed { index: Some(index), condition, reason }
                }
                other => other,
            };
            if let Some(k) = self.custom.iter().position(|s| s.condition().as_bytes() == condition)
            {
                let bad = |reason| Error::Malformed {
                    index: Some(index),
                    condition: String::from_utf8_lossy(condition).into_owned(),
                    reason,
                };
                let value = core::str::from_utf8(value).map_err(|_| bad("value is not UTF-8"))?;
                let well_formed = self.custom.get(k).is_some_and(|s| s.is_well_formed(value));
                if !well_formed {
                    return Err(bad("the server's satisfier refuses the value"));
                }
                entries.push(Entry { index, condition, judged: Judged::Custom(k, value) });
            } else if self.ignored.iter().any(|c| c == condition) {
                verdict.skipped.push(index);
            } else if Builtin::of_condition(condition).is_some_and(|b| self.builtins.contains(&b)) {
                let c = Caveat::parse_parts(condition, value).map_err(with_index)?;
                entries.push(Entry { index, condition, judged: Judged::Builtin(c) });
            } else {
                unknown(verdict, condition)?;
            }
        }
        Ok(entries)
    }

    /// Pass 2: each occurrence must narrow the previous one. Returns the positions (in
    /// `entries`) of the last occurrence of each condition.
    fn check_narrowing(&self, entries: &[Entry<'_>]) -> Result<Vec<usize>, Error> {
        let mut last: HashMap<&[u8], usize> = HashMap::new();
        for (pos, cur) in entries.iter().enumerate() {
            if let Some(prev) = last.get(cur.condition).and_then(|&p| entries.get(p)) {
                let ok = match (&prev.judged, &cur.judged) {
                    (Judged::Builtin(p), Judged::Builtin(c)) => c.narrows(p),
                    (Judged::Custom(k, p), Judged::Custom(_, c)) => {
                        self.custom.get(*k).is_some_and(|s| s.narrows(p, c))
                    }
                    // One condition is always judged the same way.
                    _ => false,
                };
                if !ok {
                    return Err(Error::Escalation {
                        index: cur.index,
                        condition: String::from_utf8_lossy(cur.condition).into_owned(),
                    });
                }
            }
            last.insert(cur.condition, pos);
        }
        Ok(last.into_values().collect())
    }

    /// Pass 3: judge one last occurrence against the request.
    fn satisfy_final(
        &self,
        e: &Entry<'_>,
        ctx: &Context,
        verdict: &mut Verdict,
    ) -> Result<(), Error> {
        let condition = || String::from_utf8_lossy(e.condition).into_owned();
        let applies_to = |service: &str| ctx.service.as_deref().is_none_or(|s| s == service);
        let mut unchecked = false;
        match &e.judged {
            Judged::Custom(k, value) => {
                if let Some(s) = self.custom.get(*k) {
                    s.satisfy(value, ctx).map_err(|r| Error::Rejected {
                        condition: condition(),
                        code: r.code,
                        reason: r.reason,
                    })?;
                }
            }
            Judged::Builtin(c) => match c {
                Caveat::Services(list) => match &ctx.service {
                    Some(s) if list.iter().any(|t| t.name == *s) => {}
                    Some(s) => return Err(Error::WrongService { service: s.clone() }),
                    None => unchecked = true,
                },
                Caveat::ValidUntil { service, unix } => {
                    if applies_to(service) {
                        unchecked |= self.expiry(*unix, ctx, verdict, condition)?;
                    }
                }
                Caveat::ExpiresAt(t) => {
                    unchecked |= self.expiry(t.deadline(), ctx, verdict, condition)?
                }
                Caveat::Capabilities { service, capabilities } => {
                    if applies_to(service) {
                        match &ctx.capability {
                            _ if capabilities.is_empty() => {}
                            Some(c) if capabilities.contains(c) => {}
                            Some(c) => {
                                return Err(Error::WrongCapability {
                                    service: service.clone(),
                                    capability: c.clone(),
                                })
                            }
                            None => unchecked = true,
                        }
                    }
                }
                Caveat::Methods(methods) => match &ctx.method {
                    Some(m) if methods.contains(m) => {}
                    Some(m) => return Err(Error::WrongMethod { method: m.clone() }),
                    None => unchecked = true,
                },
                Caveat::PathPrefix(prefix) => match &ctx.path {
                    Some(p) if p.starts_with(prefix.as_str()) => {}
                    Some(p) => return Err(Error::WrongPath { path: p.clone() }),
                    None => unchecked = true,
                },
                Caveat::ClientIp(nets) => match &ctx.client {
                    Some(ip) if nets.iter().any(|n| n.contains(ip)) => {}
                    Some(ip) => return Err(Error::WrongClient { client: *ip }),
                    None => unchecked = true,
                },
                Caveat::MaxUses(n) => {
                    verdict.max_uses = Some(*n);
                    if let Some(used) = ctx.prior_uses {
                        if used >= *n {
                            return Err(Error::UsesExhausted { allowance: *n, used });
                        }
                    }
                }
                // Never classified as built-in entries.
                Caveat::Other { .. } | Caveat::Opaque(_) => {}
            },
        }
        if unchecked {
            verdict.unchecked.push(condition());
        }
        Ok(())
    }

    /// Checks one deadline; returns whether it went unchecked for want of `now`.
    fn expiry(
        &self,
        deadline: i64,
        ctx: &Context,
        verdict: &mut Verdict,
        condition: impl Fn() -> String,
    ) -> Result<bool, Error> {
        verdict.deadline = Some(verdict.deadline.map_or(deadline, |d| d.min(deadline)));
        match ctx.now {
            Some(now) if now < deadline => Ok(false),
            Some(_) => Err(Error::Expired { condition: condition(), deadline }),
            None => Ok(true),
        }
    }
}
