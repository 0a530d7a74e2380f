//! Buying a token the way a client does: ask, read the challenge, pay it with the dev wallet.

use std::time::Duration;

use http::StatusCode;
use l402_http::{challenges_from_headers, select, Credential};
use l402_lightning::dev::DevPayer;
use l402_lightning::{PayRequest, Payer};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Asks for `url`, pays the challenge it must answer with, returns the credential.
pub(crate) async fn buy(
    client: &reqwest::Client,
    payer: &DevPayer,
    url: &str,
) -> Result<Credential> {
    let r = client.get(url).send().await?;
    assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED, "{url} asks for payment");
    let offered = challenges_from_headers(r.headers())?;
    let chosen = select(&offered)?;
    let request = PayRequest {
        bolt11: chosen.invoice.clone(),
        max_fee_msat: 0,
        timeout: Duration::from_secs(10),
    };
    let paid = payer.pay(request).await?;
    Ok(Credential::new(chosen.macaroon.clone(), paid.preimage))
}
