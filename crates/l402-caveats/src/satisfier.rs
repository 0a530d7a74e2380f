//! Checks a server registers for its own conditions.

use core::fmt;
use std::sync::Arc;

use crate::Context;

/// A refusal from a [`Satisfier`]: a stable code and a human explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Stable machine code, e.g. `over-budget`.
    pub code: &'static str,
    /// Explanation for logs.
    pub reason: String,
}

impl Rejection {
    /// A refusal with the given code.
    pub fn new(code: &'static str, reason: impl Into<String>) -> Rejection {
        Rejection { code, reason: reason.into() }
    }
}

/// A server's own check for one condition.
///
/// The engine calls [`Satisfier::is_well_formed`] on every occurrence, [`Satisfier::narrows`]
/// on each consecutive pair, and [`Satisfier::satisfy`] on the last occurrence only. Values
/// that are not UTF-8 are `malformed-caveat` before the satisfier sees them.
pub trait Satisfier: Send + Sync {
    /// The condition judged, compared byte for byte.
    fn condition(&self) -> &str;

    /// Whether a value decodes; `false` makes the token `malformed-caveat`. Default: any
    /// value.
    fn is_well_formed(&self, value: &str) -> bool {
        let _ = value;
        true
    }

    /// Whether `current`, following `previous`, allows no more. `false` makes the token
    /// `caveat-escalation`. The default only accepts an identical value, because a satisfier
    /// that cannot compare values cannot prove a change is a narrowing.
    fn narrows(&self, previous: &str, current: &str) -> bool {
        previous == current
    }

    /// Judges the last occurrence against the request.
    fn satisfy(&self, value: &str, context: &Context) -> Result<(), Rejection>;
}

impl<S: Satisfier + ?Sized> Satisfier for Arc<S> {
    fn condition(&self) -> &str {
        (**self).condition()
    }
    fn is_well_formed(&self, value: &str) -> bool {
        (**self).is_well_formed(value)
    }
    fn narrows(&self, previous: &str, current: &str) -> bool {
        (**self).narrows(previous, current)
    }
    fn satisfy(&self, value: &str, context: &Context) -> Result<(), Rejection> {
        (**self).satisfy(value, context)
    }
}

type NarrowFn = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// A [`Satisfier`] made of closures; see [`from_fn`].
pub struct FnSatisfier<F> {
    condition: String,
    satisfy: F,
    narrows: Option<NarrowFn>,
}

/// Builds a satisfier from a closure, which may capture state (shared through `Arc`s):
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use l402_caveats::{satisfier, Context, Rejection, Verifier};
///
/// let budget = Arc::new(AtomicU64::new(500));
/// let b = Arc::clone(&budget);
/// let sat = satisfier::from_fn("budget_sats", move |value, _ctx: &Context| {
///     let want: u64 = value.parse().map_err(|_| Rejection::new("malformed-caveat", "not a number"))?;
///     if want <= b.load(Ordering::Relaxed) { Ok(()) } else { Err(Rejection::new("over-budget", "too much")) }
/// })
/// .with_narrowing(|prev, cur| cur.parse::<u64>().ok() <= prev.parse::<u64>().ok());
/// let verifier = Verifier::new().with_satisfier(sat);
/// # let _ = verifier;
/// ```
pub fn from_fn<F>(condition: impl Into<String>, satisfy: F) -> FnSatisfier<F>
where
    F: Fn(&str, &Context) -> Result<(), Rejection> + Send + Sync,
{
    FnSatisfier { condition: condition.into(), satisfy, narrows: None }
}

impl<F> FnSatisfier<F> {
    /// Sets the narrowing rule (default: identical values only).
    pub fn with_narrowing(
        mut self,
        narrows: impl Fn(&str, &str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.narrows = Some(Arc::new(narrows));
        self
    }
}

impl<F> fmt::Debug for FnSatisfier<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnSatisfier").field("condition", &self.condition).finish_non_exhaustive()
    }
}

impl<F> Satisfier for FnSatisfier<F>
where
    F: Fn(&str, &Context) -> Result<(), Rejection> + Send + Sync,
{
    fn condition(&self) -> &str {
        &self.condition
    }
    fn narrows(&self, previous: &str, current: &str) -> bool {
        match &self.narrows {
            Some(n) => n(previous, current),
            None => previous == current,
        }
    }
    fn satisfy(&self, value: &str, context: &Context) -> Result<(), Rejection> {
        (self.satisfy)(value, context)
    }
}
