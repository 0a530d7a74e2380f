//! Macaroon checks as LND reports them.
//!
//! Real LND encodes permissions in the macaroon's identifier; this server puts them in a
//! first-party caveat (`lnd-permissions=...`) since only it reads them. What clients see is
//! LND's: the `macaroon` metadata as hex, and status `Unknown` with LND's messages for a
//! missing, undecodable, forged or insufficient macaroon.

use l402_token::Macaroon;
use tonic::metadata::MetadataMap;
use tonic::Status;

/// The permissions this server knows, named as LND names them (`entity:action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Perm {
    InvoicesRead,
    InvoicesWrite,
    OffchainRead,
    OffchainWrite,
}

impl Perm {
    fn name(self) -> &'static str {
        match self {
            Perm::InvoicesRead => "invoices:read",
            Perm::InvoicesWrite => "invoices:write",
            Perm::OffchainRead => "offchain:read",
            Perm::OffchainWrite => "offchain:write",
        }
    }
}

const CAVEAT_PREFIX: &str = "lnd-permissions=";

/// Mints a macaroon granting `perms` under `root_key`.
pub(crate) fn mint(root_key: &[u8; 32], id: &str, perms: &[&str]) -> Vec<u8> {
    Macaroon::new(root_key, id.as_bytes(), Some(b"lnd"))
        .with_caveat(format!("{CAVEAT_PREFIX}{}", perms.join(",")))
        .encode()
}

/// Checks the request's macaroon for `perm`.
pub(crate) fn check(root_key: &[u8; 32], metadata: &MetadataMap, perm: Perm) -> Result<(), Status> {
    let values: Vec<_> = metadata.get_all("macaroon").iter().collect();
    let [value] = values.as_slice() else {
        return Err(Status::unknown(format!("expected 1 macaroon, got {}", values.len())));
    };
    let text = value.to_str().map_err(|_| Status::unknown("unable to decode macaroon"))?;
    let bytes = hex::decode(text)
        .map_err(|e| Status::unknown(format!("unable to decode macaroon: {e}")))?;
    let mac = Macaroon::decode(&bytes)
        .map_err(|e| Status::unknown(format!("unable to decode macaroon: {e}")))?;
    mac.verify_signature(root_key).map_err(|_| {
        Status::unknown("verification failed: signature mismatch after caveat verification")
    })?;
    let granted = mac.first_party_caveats().any(|c| {
        std::str::from_utf8(c)
            .ok()
            .and_then(|c| c.strip_prefix(CAVEAT_PREFIX))
            .is_some_and(|list| list.split(',').any(|p| p == perm.name()))
    });
    if granted {
        Ok(())
    } else {
        Err(Status::unknown("permission denied"))
    }
}
