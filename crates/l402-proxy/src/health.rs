//! The one place probes are answered, on the public and the admin listener: liveness (the
//! process serves) and readiness (something can be bought: the store and the Lightning
//! backend answer). The health path is readiness in plain text, so that a probe written for
//! `ok` never hears it while nothing can be bought (issue 13).

use http::{Response, StatusCode};
use l402_server::Readiness;

use crate::proxy::full;
use crate::upstream::Body;

/// Which answer a probe path gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// `live_path`: `ok`.
    Live,
    /// `health_path`: `ok`, or 503 with the failing parts' codes, as text.
    Health,
    /// `ready_path`: the same verdict as JSON.
    Ready,
}

/// The answer to `probe`; `readiness` is not read for liveness.
pub(crate) fn answer(probe: Probe, readiness: Option<Readiness>) -> Response<Body> {
    let text = "text/plain; charset=utf-8";
    let Some(r) = readiness.filter(|_| probe != Probe::Live) else {
        return full(StatusCode::OK, text, "ok\n");
    };
    let status = if r.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let part = |code: Option<&'static str>| code.unwrap_or("ok");
    match probe {
        Probe::Ready => {
            let body = serde_json::json!({
                "status": if r.is_ready() { "ready" } else { "unavailable" },
                "store": part(r.store),
                "lightning": part(r.lightning),
            });
            full(status, "application/json", body.to_string())
        }
        _ if r.is_ready() => full(status, text, "ok\n"),
        _ => {
            let body =
                format!("unavailable: store={} lightning={}\n", part(r.store), part(r.lightning));
            full(status, text, body)
        }
    }
}
