//! The engine: judges a token's first-party caveats against a request.

use core::fmt;
use std::sync::Arc;

use l402_token::Macaroon;

use crate::caveat::{Builtin, PREIMAGE};
use crate::satisfier::Satisfier;
use crate::view::View;
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
    Builtin(View<'a>),
    Custom(usize, &'a str),
}

struct Entry<'a> {
    index: usize,
    condition: &'a [u8],
    judged: Judged<'a>,
    /// Position (in the entries) of the previous occurrence of the same condition.
    previous: Option<usize>,
    /// Whether this is the last occurrence of its condition: the one judged.
    last: bool,
    /// See [`Verifier::rank`].
    rank: usize,
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
        let mut entries = self.classify(caveats, &mut verdict)?;
        link_occurrences(&mut entries);
        self.check_narrowing(&entries)?;
        // Final checks by rank, then in token order. There are few ranks, so walking the
        // entries once per rank costs less than collecting and sorting them.
        for rank in 0..Builtin::ALL.len() + self.custom.len() {
            for e in entries.iter().filter(|e| e.last && e.rank == rank) {
                self.satisfy_final(e, context, &mut verdict)?;
            }
        }
        Ok(verdict)
    }

    /// Where an entry's final check runs: built-ins in [`Builtin::ALL`] order, then custom
    /// satisfiers in registration order.
    fn rank(judged: &Judged<'_>) -> usize {
        match judged {
            Judged::Builtin(c) => {
                let b = c.builtin();
                Builtin::ALL.iter().position(|x| *x == b).unwrap_or(0)
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
                let judged = Judged::Custom(k, value);
                let rank = Verifier::rank(&judged);
                entries.push(Entry { index, condition, judged, previous: None, last: true, rank });
            } else if self.ignored.iter().any(|c| c == condition) {
                verdict.skipped.push(index);
            } else if let Some(kind) =
                Builtin::of_condition(condition).filter(|b| self.builtins.contains(b))
            {
                let judged =
                    Judged::Builtin(View::parse_as(kind, condition, value).map_err(with_index)?);
                let rank = Verifier::rank(&judged);
                entries.push(Entry { index, condition, judged, previous: None, last: true, rank });
            } else {
                unknown(verdict, condition)?;
            }
        }
        Ok(entries)
    }

    /// Pass 2: each occurrence must narrow the previous one, in token order.
    fn check_narrowing(&self, entries: &[Entry<'_>]) -> Result<(), Error> {
        for cur in entries {
            if let Some(prev) = cur.previous.and_then(|p| entries.get(p)) {
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
        }
        Ok(())
    }

    /// Pass 3: judge one last occurrence against the request.
    fn satisfy_final(
        &self,
        e: &Entry<'_>,
        ctx: &Context,
        verdict: &mut Verdict,
    ) -> Result<(), Error> {
        let condition = || lossy(e.condition);
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
                View::Services(list) => match &ctx.service {
                    Some(s) if View::names_service(list, s) => {}
                    Some(s) => return Err(Error::WrongService { service: s.clone() }),
                    None => unchecked = true,
                },
                View::ValidUntil { service, unix } => {
                    if applies_to(service) {
                        unchecked |= self.expiry(*unix, ctx, verdict, condition)?;
                    }
                }
                View::ExpiresAt(t) => {
                    unchecked |= self.expiry(t.deadline(), ctx, verdict, condition)?
                }
                View::Capabilities { service, list } => {
                    if applies_to(service) {
                        match &ctx.capability {
                            _ if list.is_empty() => {}
                            Some(c) if View::allows_capability(list, c) => {}
                            Some(c) => {
                                return Err(Error::WrongCapability {
                                    service: (*service).to_owned(),
                                    capability: c.clone(),
                                })
                            }
                            // Deny by default (decision 0306): a token narrowed to some
                            // capabilities says nothing about a request that names none.
                            None => {
                                return Err(Error::MissingCapability {
                                    service: (*service).to_owned(),
                                })
                            }
                        }
                    }
                }
                View::Methods(methods) => match &ctx.method {
                    Some(m) if View::allows_method(methods, m) => {}
                    Some(m) => return Err(Error::WrongMethod { method: m.clone() }),
                    None => unchecked = true,
                },
                View::PathPrefix(prefix) => match &ctx.path {
                    Some(p) if p.starts_with(prefix) => {}
                    Some(p) => return Err(Error::WrongPath { path: p.clone() }),
                    None => unchecked = true,
                },
                View::ClientIp(nets) => match &ctx.client {
                    Some(ip) if nets.iter().any(|n| n.contains(ip)) => {}
                    Some(ip) => return Err(Error::WrongClient { client: *ip }),
                    None => unchecked = true,
                },
                View::MaxUses(n) => {
                    verdict.max_uses = Some(*n);
                    if let Some(used) = ctx.prior_uses {
                        if used >= *n {
                            return Err(Error::UsesExhausted { allowance: *n, used });
                        }
                    }
                }
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

/// A condition as text for a report. Valid UTF-8 is the rule, and checking it first is
/// cheaper than the lossy decoder, which runs for every unchecked caveat of a request.
fn lossy(condition: &[u8]) -> String {
    match core::str::from_utf8(condition) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(condition).into_owned(),
    }
}

/// Up to this many judged caveats, occurrences are linked by scanning back; a token carries
/// a handful, and the scan allocates nothing.
const SCAN_LIMIT: usize = 16;

/// Links each entry to the previous occurrence of its condition and marks the last ones.
fn link_occurrences(entries: &mut [Entry<'_>]) {
    if entries.len() <= SCAN_LIMIT {
        for cur in 1..entries.len() {
            let (before, rest) = entries.split_at_mut(cur);
            let Some(e) = rest.first_mut() else { continue };
            if let Some(prev) = before.iter().rposition(|p| p.condition == e.condition) {
                e.previous = Some(prev);
                if let Some(p) = before.get_mut(prev) {
                    p.last = false;
                }
            }
        }
        return;
    }
    // Sorting positions by condition groups the occurrences without hashing, and stays
    // `n log n` for long lists.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| {
        let condition = |i: usize| entries.get(i).map(|e| e.condition);
        condition(a).cmp(&condition(b)).then(a.cmp(&b))
    });
    for pair in order.windows(2) {
        let &[prev, cur] = pair else { continue };
        let same = entries.get(prev).map(|e| e.condition) == entries.get(cur).map(|e| e.condition);
        if same {
            if let Some(e) = entries.get_mut(cur) {
                e.previous = Some(prev);
            }
            if let Some(e) = entries.get_mut(prev) {
                e.last = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Both linking strategies (the scan for short lists, the sort for long ones) find
        /// the previous occurrence and the last occurrence the obvious way.
        #[test]
        fn occurrences_are_linked_like_a_naive_scan(
            conditions in prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "ab"]), 0..40)
        ) {
            let mut entries: Vec<Entry<'_>> = conditions
                .iter()
                .enumerate()
                .map(|(index, c)| Entry {
                    index,
                    condition: c.as_bytes(),
                    judged: Judged::Builtin(View::MaxUses(0)),
                    previous: None,
                    last: true,
                    rank: 0,
                })
                .collect();
            link_occurrences(&mut entries);
            for (i, e) in entries.iter().enumerate() {
                let before = conditions.get(..i).unwrap_or_default();
                let after = conditions.get(i + 1..).unwrap_or_default();
                let c = conditions.get(i).copied().unwrap_or_default();
                prop_assert_eq!(e.previous, before.iter().rposition(|p| *p == c));
                prop_assert_eq!(e.last, !after.contains(&c));
            }
        }
    }
}
