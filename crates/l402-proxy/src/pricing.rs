//! Prices from a pricing endpoint, asked once per challenge.
//!
//! The proxy `POST`s `{"service":…,"method":…,"path":…,"host":…}` (JSON) to the service's
//! `pricing_url` and expects `200` with `{"price_msat": N}` (N > 0). Anything else refuses the
//! challenge with 503 (`pricing`), so a broken pricing service never gives access away.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use l402_server::{Price, PriceFuture};

use crate::upstream::{BoxError, HttpClient};

/// Largest pricing answer read.
const MAX_ANSWER: usize = 4096;
/// How long the pricing endpoint may take.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(serde::Deserialize)]
struct Answer {
    price_msat: u64,
}

/// A [`Price`] that asks `url` for each challenge of `service`.
pub(crate) fn endpoint(client: HttpClient, url: http::Uri, service: String) -> Price {
    Price::dynamic(move |parts: &http::request::Parts| -> PriceFuture {
        let body = serde_json::json!({
            "service": service,
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "host": parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok())
                .or_else(|| parts.uri.host()),
        })
        .to_string();
        let client = client.clone();
        let url = url.clone();
        Box::pin(async move {
            let request = http::Request::post(url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(
                    Full::new(Bytes::from(body))
                        .map_err(|never| -> BoxError { match never {} })
                        .boxed(),
                )
                .map_err(|e| format!("pricing request: {e}"))?;
            let ask = async {
                let response =
                    client.request(request).await.map_err(|e| format!("pricing endpoint: {e}"))?;
                if response.status() != http::StatusCode::OK {
                    return Err(format!("pricing endpoint answered {}", response.status()));
                }
                let bytes = Limited::new(response.into_body(), MAX_ANSWER)
                    .collect()
                    .await
                    .map_err(|e| format!("pricing endpoint body: {e}"))?
                    .to_bytes();
                let answer: Answer = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("pricing endpoint answer: {e}"))?;
                if answer.price_msat == 0 {
                    return Err("pricing endpoint answered a zero price".to_owned());
                }
                Ok(answer.price_msat)
            };
            tokio::time::timeout(TIMEOUT, ask)
                .await
                .map_err(|_| "pricing endpoint timed out".to_owned())?
        })
    })
}
