//! The metrics hook: what the pipeline decided, for whoever counts it.

use crate::mint::{MintedChallenge, Route};
use crate::settle::Settlement;
use crate::Error;

use super::{Problem, Reason};

/// Told about every decision of the pipeline, in the request's task: keep it cheap (count,
/// sample logs). Every method does nothing by default.
pub trait Observe: Send + Sync + 'static {
    /// A routed request's verdict: `code` is `ok` (a valid credential), `free`, or the
    /// stable code of its refusal.
    fn verdict(&self, route: &Route, code: &'static str) {
        let _ = (route, code);
    }

    /// A refusal before any route was chosen (its path, or the selector's).
    fn refused(&self, problem: &Problem) {
        let _ = problem;
    }

    /// A challenge was minted for a refused request.
    fn challenged(&self, route: &Route, challenge: &MintedChallenge) {
        let _ = (route, challenge);
    }

    /// No challenge could be minted (rate limit, node down): the request got `error`.
    fn challenge_failed(&self, route: &Route, error: &Error) {
        let _ = (route, error);
    }

    /// A paid request's use was settled.
    fn settled(&self, route: &Route, reason: Reason, settlement: Settlement) {
        let _ = (route, reason, settlement);
    }
}

/// Observes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Nothing;

impl Observe for Nothing {}
