//! The admin API, on its own listener, behind a bearer token.
//!
//! | Method and path | Answer |
//! |---|---|
//! | `GET /healthz` | `ok` (no token needed) |
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
    pub(crate) token: String,
    pub(crate) paywall: Arc<Paywall>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) ledger: Arc<Ledger>,
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    full(status, "application/json", value.to_string())
}

fn error(status: StatusCode, code: &'static str) -> Response<Body> {
    json(status, &serde_json::json!({ "code": code }))
}

impl Admin {
    fn authorized(&self, req: &Request<Incoming>) -> bool {
        let Some(given) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        // Constant time: the token is a secret.
        given.as_bytes().ct_eq(self.token.as_bytes()).into()
    }

    pub(crate) async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_owned();
        if path == "/healthz" {
            return full(StatusCode::OK, "text/plain; charset=utf-8", "ok\n");
        }
        if !self.authorized(&req) {
            let mut r = error(StatusCode::UNAUTHORIZED, "admin-unauthorized");
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
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
