//! The sans-IO verifier: credential + request context + root key → verdict.
//!
//! Checks run in the documented order (decision 0602): token decode (done by
//! [`l402_http::Credential`] when reading the headers), identifier, preimage, signature,
//! caveats. The first failure decides the code. No IO, no clock, no async: the shell
//! ([`crate::Paywall`]) looks the key up, checks revocation and counts uses around it.

use l402_caveats::{Context, Verdict, Verifier};
use l402_http::Credential;
use l402_token::{Identifier, PaymentHash, TokenId};

use crate::keys::RootKey;
use crate::Error;

/// Step 1, before any key is known: the identifier the root key is looked up by
/// (`malformed-identifier`, `unknown-identifier-version`).
pub fn identify(credential: &Credential) -> Result<Identifier, Error> {
    Ok(credential.macaroon.l402_identifier()?)
}

/// What the core accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The token's identifier.
    pub identifier: Identifier,
    /// What its caveats allow beyond this request (allowance, deadline).
    pub verdict: Verdict,
}

/// Steps 1-5: identifier, preimage, signature (HMAC chain in constant time), then the
/// caveats against `context`. `context.prior_uses` should be left empty: the shell counts
/// uses exactly in the store instead.
pub fn verify(
    credential: &Credential,
    root_key: &RootKey,
    context: &Context,
    caveats: &Verifier,
) -> Result<Accepted, Error> {
    let identifier = credential.macaroon.verify(&root_key.0, Some(&credential.preimage))?;
    // Further macaroons of the same token (`L402 m1,m2:p`) must each verify and hold
    // (decision 0402).
    for m in &credential.others {
        m.verify(&root_key.0, Some(&credential.preimage))?;
    }
    judge(credential, identifier, context, caveats)
}

/// Step 5 alone, for a credential whose identifier, preimage and signature were already
/// verified under the root key it still has: the caveats against `context`. With several
/// macaroons the request gets what all of them allow.
pub(crate) fn judge(
    credential: &Credential,
    identifier: Identifier,
    context: &Context,
    caveats: &Verifier,
) -> Result<Accepted, Error> {
    let mut verdict = caveats.verify(&credential.macaroon, context)?;
    for m in &credential.others {
        let more = caveats.verify(m, context)?;
        verdict.max_uses = tighter(verdict.max_uses, more.max_uses);
        verdict.deadline = tighter(verdict.deadline, more.deadline);
        verdict.unchecked.extend(more.unchecked);
    }
    Ok(Accepted { identifier, verdict })
}

/// The stricter of two optional limits (`None` is no limit).
fn tighter<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A verified token, as handlers see it (request extensions, the axum extractor).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedToken {
    /// The buyer's token id.
    pub token_id: TokenId,
    /// The payment hash the token was bought with.
    pub payment_hash: PaymentHash,
    /// The service of the route that accepted it.
    pub service: String,
    /// The token's first-party caveats, in order, as raw bytes (lossless); with several
    /// macaroons sent, those of each in turn (all of them held).
    pub caveats: Vec<Vec<u8>>,
    /// When the token stops being valid (Unix seconds), if it expires.
    pub expires: Option<i64>,
    /// The token's usage allowance, if it has one.
    pub max_uses: Option<u64>,
    /// Uses left after this request, if the token has an allowance. This request is
    /// counted only when the handler answers without a 5xx.
    pub remaining: Option<u64>,
}

impl VerifiedToken {
    /// Builds the handler's view from what the core accepted.
    pub fn new(
        credential: &Credential,
        accepted: &Accepted,
        service: &str,
        used_before: Option<u64>,
    ) -> VerifiedToken {
        let max_uses = accepted.verdict.max_uses;
        VerifiedToken {
            token_id: accepted.identifier.token_id,
            payment_hash: accepted.identifier.payment_hash,
            service: service.to_owned(),
            caveats: core::iter::once(&credential.macaroon)
                .chain(&credential.others)
                .flat_map(|m| m.first_party_caveats().map(<[u8]>::to_vec))
                .collect(),
            expires: accepted.verdict.deadline,
            max_uses,
            remaining: max_uses
                .map(|m| m.saturating_sub(used_before.unwrap_or(0).saturating_add(1))),
        }
    }
}
