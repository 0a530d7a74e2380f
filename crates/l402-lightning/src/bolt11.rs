//! BOLT 11 invoices: parse, validate, view as JSON, and check against a challenge's macaroon.
//!
//! Parsing is done by `lightning-invoice`; this module adds the checks an L402 client needs
//! before paying, with stable error codes, and never panics on input.

use core::str::FromStr;
use core::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::hashes::Hash as _;
use l402_token::{Identifier, Macaroon, PaymentHash};
use lightning_invoice::{Currency, SignedRawBolt11Invoice, TaggedField};

use crate::{Error, Network};

/// The longest invoice text accepted. BOLT 11 sets no limit; real invoices with many route
/// hints stay far below this, and the bound keeps hostile input cheap.
pub const MAX_INVOICE_LEN: usize = 8192;

/// BOLT 11's default expiry when the invoice has no `x` field.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(3600);

/// 21 million BTC in millisatoshis: no invoice can ask for more.
const MAX_MSAT: u64 = 21_000_000 * 100_000_000 * 1000;

/// A parsed BOLT 11 invoice whose structure and signature have been checked.
///
/// Checked on parse: bech32 and field syntax, exactly one payment hash, exactly one description
/// or description hash, an amount that is a whole number of millisatoshis and at most 21M BTC,
/// and the signature (against the `n` field, or by public-key recovery). A payment secret is
/// not required, so that pre-2020 invoices still decode (decision 0202); expiry and network
/// are checked separately because they depend on the caller.
#[derive(Debug, Clone)]
pub struct Invoice {
    text: String,
    payment_hash: PaymentHash,
    amount_msat: Option<u64>,
    timestamp: u64,
    expiry: Duration,
    network: Network,
    payee: [u8; 33],
    description: Option<String>,
    description_hash: Option<[u8; 32]>,
}

impl Invoice {
    /// Parses and checks a BOLT 11 string. Surrounding whitespace and a `lightning:` URI
    /// prefix are ignored; either all-lower or all-upper case is accepted.
    pub fn parse(s: &str) -> Result<Invoice, Error> {
        let trimmed = s.trim();
        let text = match trimmed.get(..10) {
            Some(p) if p.eq_ignore_ascii_case("lightning:") => trimmed.get(10..).unwrap_or(""),
            _ => trimmed,
        };
        if text.len() > MAX_INVOICE_LEN {
            return Err(Error::MalformedInvoice(format!(
                "longer than {MAX_INVOICE_LEN} characters"
            )));
        }
        let text = text.to_ascii_lowercase();
        let signed = SignedRawBolt11Invoice::from_str(&text)
            .map_err(|e| Error::MalformedInvoice(e.to_string()))?;
        Self::check(signed, text)
    }

    fn check(signed: SignedRawBolt11Invoice, text: String) -> Result<Invoice, Error> {
        let raw = signed.raw_invoice();
        let mut hashes = Vec::new();
        let mut description = None;
        let mut description_hash = None;
        let mut descriptions = 0usize;
        for field in raw.known_tagged_fields() {
            match field {
                TaggedField::PaymentHash(h) => hashes.push(h.0.to_byte_array()),
                TaggedField::Description(d) => {
                    descriptions += 1;
                    description = Some(d.as_inner().0.clone());
                }
                TaggedField::DescriptionHash(h) => {
                    descriptions += 1;
                    description_hash = Some(h.0.to_byte_array());
                }
                _ => {}
            }
        }
        let payment_hash = match hashes.as_slice() {
            [h] => PaymentHash(*h),
            [] => return Err(Error::MalformedInvoice("no payment hash".into())),
            _ => return Err(Error::MalformedInvoice("more than one payment hash".into())),
        };
        if descriptions != 1 {
            return Err(Error::MalformedInvoice(
                "needs exactly one description or description hash".into(),
            ));
        }

        let amount_msat = match (raw.hrp.raw_amount, raw.amount_pico_btc()) {
            (None, _) => None,
            // lightning-invoice reports an overflowing amount as absent; it is not amountless.
            (Some(_), None) => return Err(Error::MalformedInvoice("amount overflows".into())),
            (Some(_), Some(pico)) if pico % 10 != 0 => {
                return Err(Error::MalformedInvoice(
                    "amount is not a whole number of millisatoshis".into(),
                ))
            }
            (Some(_), Some(pico)) if pico / 10 > MAX_MSAT => {
                return Err(Error::MalformedInvoice("amount above 21 million bitcoin".into()))
            }
            (Some(_), Some(pico)) => Some(pico / 10),
        };

        if !signed.check_signature() {
            return Err(Error::InvalidInvoiceSignature);
        }
        let payee = match raw.payee_pub_key() {
            Some(pk) => pk.0.serialize(),
            None => signed
                .recover_payee_pub_key()
                .map_err(|_| Error::InvalidInvoiceSignature)?
                .0
                .serialize(),
        };

        Ok(Invoice {
            text,
            payment_hash,
            amount_msat,
            timestamp: raw.data.timestamp.as_unix_timestamp(),
            expiry: raw.expiry_time().map_or(DEFAULT_EXPIRY, |e| *e.as_duration()),
            network: match raw.currency() {
                Currency::Bitcoin => Network::Mainnet,
                Currency::BitcoinTestnet => Network::Testnet,
                Currency::Signet => Network::Signet,
                Currency::Regtest => Network::Regtest,
                Currency::Simnet => Network::Simnet,
            },
            payee,
            description,
            description_hash,
        })
    }

    /// The invoice text in canonical lower case.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The payment hash.
    pub fn payment_hash(&self) -> PaymentHash {
        self.payment_hash
    }

    /// The amount in millisatoshis, or `None` for an amountless invoice.
    pub fn amount_msat(&self) -> Option<u64> {
        self.amount_msat
    }

    /// The amount, or [`Error::AmountRequired`] for an amountless invoice: a priced resource
    /// never sells for "whatever you like".
    pub fn require_amount(&self) -> Result<u64, Error> {
        self.amount_msat.ok_or(Error::AmountRequired)
    }

    /// Creation time in seconds since the Unix epoch.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// How long after its timestamp the invoice can be paid.
    pub fn expiry(&self) -> Duration {
        self.expiry
    }

    /// The instant the invoice expires (saturating far in the future on overflow).
    pub fn expires_at(&self) -> SystemTime {
        let secs = self.timestamp.saturating_add(self.expiry.as_secs());
        UNIX_EPOCH
            .checked_add(Duration::from_secs(secs))
            .unwrap_or(UNIX_EPOCH + Duration::from_secs(u32::MAX.into()))
    }

    /// Whether the invoice has expired at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        now >= self.expires_at()
    }

    /// [`Error::InvoiceExpired`] if the invoice has expired at `now`.
    pub fn check_not_expired(&self, now: SystemTime) -> Result<(), Error> {
        if self.is_expired_at(now) {
            Err(Error::InvoiceExpired)
        } else {
            Ok(())
        }
    }

    /// The network the invoice is for.
    pub fn network(&self) -> Network {
        self.network
    }

    /// [`Error::WrongNetwork`] unless the invoice is for `expected`.
    pub fn check_network(&self, expected: Network) -> Result<(), Error> {
        if self.network == expected {
            Ok(())
        } else {
            Err(Error::WrongNetwork { expected, found: self.network })
        }
    }

    /// The payee's node public key (33 bytes, compressed).
    pub fn payee(&self) -> [u8; 33] {
        self.payee
    }

    /// The description, if the invoice carries one in clear (not only its hash).
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The description hash, if the invoice carries one instead of a description.
    pub fn description_hash(&self) -> Option<[u8; 32]> {
        self.description_hash
    }

    /// A JSON-ready view for tools (`l402 invoice decode`).
    pub fn view(&self) -> InvoiceView {
        InvoiceView {
            payment_hash: self.payment_hash.to_string(),
            amount_msat: self.amount_msat,
            timestamp: self.timestamp,
            expiry: self.expiry.as_secs(),
            network: self.network,
            payee: hex::encode(self.payee),
            description: self.description.clone(),
            description_hash: self.description_hash.map(hex::encode),
        }
    }
}

impl FromStr for Invoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Invoice::parse(s)
    }
}

/// The JSON view of an invoice printed by `l402 invoice decode`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InvoiceView {
    /// 64 lower-case hex digits.
    pub payment_hash: String,
    /// Millisatoshis; `null` for an amountless invoice.
    pub amount_msat: Option<u64>,
    /// Creation time, seconds since the Unix epoch.
    pub timestamp: u64,
    /// Seconds after `timestamp` during which the invoice can be paid.
    pub expiry: u64,
    /// `mainnet`, `testnet`, `signet`, `regtest` or `simnet`.
    pub network: Network,
    /// The payee's node public key, 66 hex digits.
    pub payee: String,
    /// The description; `null` when only a description hash is given.
    pub description: Option<String>,
    /// The description hash in hex, when given instead of a description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_hash: Option<String>,
}

/// Decodes an invoice into pretty-printed JSON for `l402 invoice decode <BOLT11>`. On error
/// the CLI prints [`Error::code`] and exits 1.
pub fn decode_to_json(bolt11: &str) -> Result<String, Error> {
    let view = Invoice::parse(bolt11)?.view();
    serde_json::to_string_pretty(&view).map_err(|e| Error::Backend(e.to_string()))
}

/// Checks that an invoice belongs to a challenge's macaroon: the payment hash in the
/// macaroon's L402 identifier must equal the invoice's. The client calls this before paying,
/// so a tampered or mixed-up challenge never costs money.
///
/// The identifier is read leniently (the 132-hex-character form of lsat-js is accepted), since
/// this is a consistency check, not verification.
pub fn check_against_macaroon(invoice: &Invoice, macaroon: &Macaroon) -> Result<(), Error> {
    let (identifier, _) = Identifier::decode_lenient(macaroon.identifier())?;
    if identifier.payment_hash == invoice.payment_hash {
        Ok(())
    } else {
        Err(Error::PaymentHashMismatch)
    }
}
