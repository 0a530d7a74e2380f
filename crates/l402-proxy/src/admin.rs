//! The admin API, on its own listener, behind a bearer token.
//!
//! | Method and path | Answer |
//! |---|---|
//! | `GET /livez`, `/healthz`, `/readyz` | liveness, and readiness as text or JSON (no token needed) |
//! | `GET /metrics` | the Prometheus text |
//! | `GET /tokens?limit=N` | recent tokens minted by this instance, newest first (JSON) |
//! | `GET /revenue` | settled invoices and millisatoshis, by service (JSON) |
//! | `POST /tokens/<token id hex>/revoke` | revokes the token in the shared store |

use std::sync::Arc;

use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use l402_server::Paywall;
use l402_token::TokenId;
use subtle::ConstantTimeEq;

use crate::ledger::{Ledger, RECENT};
use crate::metrics::Metrics;
use crate::proxy::full;
use crate::upstream::Body;

pub(crate) struct Admin {
    /// SHA-256 of the token: digests of one length are compared, so the comparison's time
    /// says nothing about the token's length (decision 0812).
    token: [u8; 32],
    paywall: Arc<Paywall>,
    metrics: Arc<Metrics>,
    ledger: Arc<Ledger>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    bitcoin_hashes::sha256::Hash::hash(bytes).to_byte_array()
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    full(status, "application/json", value.to_string())
}

fn error(status: StatusCode, code: &'static str) -> Response<Body> {
    json(status, &serde_json::json!({ "code": code }))
}

/// Why a call was refused before it was looked at.
enum Refused {
    /// No bearer token, or the wrong one: 401 `admin-unauthorized`.
    Unauthorized,
    /// More than one `Authorization` field line: 400 `admin-duplicate-authorization`.
    Duplicate,
}

impl Admin {
    pub(crate) fn new(
        token: &str,
        paywall: Arc<Paywall>,
        metrics: Arc<Metrics>,
        ledger: Arc<Ledger>,
    ) -> Admin {
        Admin { token: digest(token.as_bytes()), paywall, metrics, ledger }
    }

    fn authorize(&self, req: &Request<Incoming>) -> Result<(), Refused> {
        let mut lines = req.headers().get_all(header::AUTHORIZATION).iter();
        let first = lines.next();
        // Authorization is not a list: two lines cannot be combined, and which one a hop in
        // front would pass on is anyone's guess, so neither is judged.
        if lines.next().is_some() {
            return Err(Refused::Duplicate);
        }
        let given = first.and_then(|v| crate::bearer::credentials(v.as_bytes()));
        let Some(given) = given else { return Err(Refused::Unauthorized) };
        if bool::from(digest(given).ct_eq(&self.token)) {
            Ok(())
        } else {
            Err(Refused::Unauthorized)
        }
    }

    pub(crate) async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_owned();
        let probe = match path.as_str() {
            "/livez" => Some(crate::health::Probe::Live),
            "/healthz" => Some(crate::health::Probe::Health),
            "/readyz" => Some(crate::health::Probe::Ready),
            _ => None,
        };
        if let Some(probe) = probe {
            let ready = match probe {
                crate::health::Probe::Live => None,
                _ => Some(self.paywall.readiness().await),
            };
            return crate::health::answer(probe, ready);
        }
        if let Err(refused) = self.authorize(&req) {
            let (status, code) = match refused {
                Refused::Unauthorized => (StatusCode::UNAUTHORIZED, "admin-unauthorized"),
                Refused::Duplicate => (StatusCode::BAD_REQUEST, "admin-duplicate-authorization"),
            };
            self.metrics.inc("l402_proxy_admin_refused_total", &[("code", code)]);
            let mut r = error(status, code);
            if status == StatusCode::UNAUTHORIZED {
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
            }
            return r;
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (req.method(), segments.as_slice()) {
            (&Method::GET, ["metrics"]) => {
                full(StatusCode::OK, "text/plain; version=0.0.4", self.metrics.render())
            }
            (&Method::GET, ["tokens"]) => {
                let limit = req
                    .uri()
                    .query()
                    .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("limit=")))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(100)
                    .min(RECENT);
                json(StatusCode::OK, &serde_json::json!({ "tokens": self.ledger.recent(limit) }))
            }
            (&Method::GET, ["revenue"]) => {
                json(StatusCode::OK, &serde_json::json!(self.ledger.revenue()))
            }
            (&Method::POST, ["tokens", id, "revoke"]) => {
                let Some(token_id) = parse_token_id(id) else {
                    return error(StatusCode::BAD_REQUEST, "invalid-token-id");
                };
                match self.paywall.revoke(&token_id).await {
                    Ok(()) => {
                        self.ledger.revoked(&token_id);
                        tracing::info!(token_id = %hex::encode(token_id.as_bytes()), "token revoked");
                        json(
                            StatusCode::OK,
                            &serde_json::json!({ "revoked": hex::encode(token_id.as_bytes()) }),
                        )
                    }
                    Err(e) => {
                        tracing::warn!(code = e.code(), "revocation failed");
                        error(StatusCode::SERVICE_UNAVAILABLE, "store")
                    }
                }
            }
            _ => error(StatusCode::NOT_FOUND, "not-found"),
        }
    }
}

fn parse_token_id(hex_id: &str) -> Option<TokenId> {
    let bytes: [u8; 32] = hex::decode(hex_id).ok()?.try_into().ok()?;
    Some(TokenId::from(bytes))
}
