//! BOLT 11 parsing, validation, the JSON view and the macaroon check, against public invoices
//! (reference vectors, section A) and invoices the dev node makes.

use std::time::{Duration, UNIX_EPOCH};

use bitcoin::hashes::{sha256, Hash as _};
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use l402_lightning::dev::DevNode;
use l402_lightning::{
    check_against_macaroon, decode_to_json, Error, Invoice, InvoiceRequest, Network,
};
use l402_token::{Macaroon, PaymentHash};
use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
use proptest::prelude::*;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// lsat-js tests/data.ts `invoice.payreq` (2019, no payment secret).
const LNTB_10U: &str = "lntb10u1pw7kfm8pp50nhe8uk9r2n9yz97c9z8lsu0ckxehnsnwkjn9mdsmnffpgkrxzhqdq5w3jhxapqd9h8vmmfvdjscqzpgllq2qvdlgkllc27kpd87lz8pdfsfmtteyc3kwq734jpwnvqt96e4nuy0yauzdrtkumxsvawgda8dlljxu3nnjlhs6w75390wy7ukj6cpfmygah";
const LNTB_10U_HASH: &str = "7cef93f2c51aa65208bec1447fc38fc58d9bce1375a532edb0dcd290a2c330ae";

/// lsat-js "challenge with golang generated macaroon".
const LNTB_20N: &str = "lntb20n1psza5dwpp58kda9d0m7zcp8z2683k2spa6at08mcte88jlv8ukde5uqjpt07gsdzjfp85gnpqd9h8vmmfvdjjqurp09kk2mn5ypn8ymmdyppksctfdecx76twwssyxmmjv5sxcmny8gcnqvps8ycqzpgsp5m7xru8dlhrhmwjp8gynsj2l9mwan2jk52ah5xucrn9kc3p0pj5ns9qy9qsq7jjxypyyc7hvvs8srh6c3lvcp5l5wka94htnfxak99hd5qrx69sya9sj4zm3w5lncw0tksf944q73tduhlhs5apd63m9dte9dhva5dgqaceunx";
const LNTB_20N_HASH: &str = "3d9bd2b5fbf0b013895a3c6ca807baeade7de17939e5f61f966e69c0482b7f91";
const GOLANG_MACAROON: &str = "AgESMy4xMzYuMTc4LjE1OjM0MjM4AkIAAD2b0rX78LATiVo8bKgHuurefeF5OeX2H5ZuacBIK3+RAR1PKU1oZpfCZFib4zdDoj0pOpgPmhtuzNllU+y//D0AAAYgcWFs9FIteCzpCcEPSwmXKBpcx97hyL5Yt99cbLjRHzU=";

/// lsat-js "aperture originated challenge" (regtest).
const LNBCRT_100N: &str = "lnbcrt100n1p3qqkygpp5xzj85m5mpvatnapgpuyfxtxhypa5gr6sskqd8664v04550vqp8lsdq8f3f5z4qcqzpgsp5tpzvsq5pckqgln3ltpy3e9cf6tf2aj82ffa2tted77ltweuaweks9qyyssq0w5da3k40wtdukac7hp5s58hsxf8k8f52c5qneezu4xg3xh87xrnkl5jwtw098d2gjywx20nmkxl2y4vq9fr89kg5kzcwupv9xpdaggp4fc4ms";
const LNBCRT_100N_HASH: &str = "30a47a6e9b0b3ab9f4280f08932cd7207b440f508580d3eb5563eb4a3d8009ff";
const APERTURE_MACAROON: &str = "AgEEbHNhdAJCAAAwpHpumws6ufQoDwiTLNcge0QPUIWA0+tVY+tKPYAJ/zSfmEGlIpNm3VzxuzCqLhEp5KGiyPLUM9L+kcB7uzS+AAIPc2VydmljZXM9bWVtZTowAAISbWVtZV9jYXBhYmlsaXRpZXM9AAAGILA1VCEIExukt4nG+XR9tX8WJ2BVMiHG3UNt1uYJ+NRD";

/// lsat-js "challenge with space": base64url macaroon whose identifier is 132 hex characters.
const HEX_ID_MACAROON: &str = "AgEIbG9jYXRpb24ChAEwMDAwN2NlZjkzZjJjNTFhYTY1MjA4YmVjMTQ0N2ZjMzhmYzU4ZDliY2UxMzc1YTUzMmVkYjBkY2QyOTBhMmMzMzBhZTljNTMyNjZiMWJlMzE1MGI2NjZiM2Y2ZWM3MGYyOGJkNDNhOWQ0ZmQxOTQ2MWE2MjBmYmFjYzMzNzY4YTk5OTQAAhhleHBpcmF0aW9uPTE2NDQxOTQyNjM2OTMAAAYg_1CMq8TuMXv-ERHDWQCtlIhsQwwKiUDmnnh1maDFpkQ";

#[test]
fn public_vectors_parse_with_their_payment_hashes() -> Result {
    for (text, hash, msat, network) in [
        (LNTB_10U, LNTB_10U_HASH, 1_000_000, Network::Testnet),
        (LNTB_20N, LNTB_20N_HASH, 2_000, Network::Testnet),
        (LNBCRT_100N, LNBCRT_100N_HASH, 10_000, Network::Regtest),
    ] {
        let inv = Invoice::parse(text)?;
        assert_eq!(inv.payment_hash(), hash.parse::<PaymentHash>()?, "{text}");
        assert_eq!(inv.amount_msat(), Some(msat));
        assert_eq!(inv.require_amount()?, msat);
        assert_eq!(inv.network(), network);
        assert_eq!(inv.check_network(network), Ok(()));
        assert_eq!(inv.as_str(), text);
    }
    Ok(())
}

#[test]
fn json_view_has_the_documented_fields() -> Result {
    let json: serde_json::Value = serde_json::from_str(&decode_to_json(LNBCRT_100N)?)?;
    assert_eq!(json["payment_hash"], LNBCRT_100N_HASH);
    assert_eq!(json["amount_msat"], 10_000);
    assert_eq!(json["network"], "regtest");
    assert_eq!(json["expiry"], 3600, "no x field means BOLT 11's default");
    assert!(json["timestamp"].as_u64().is_some_and(|t| t > 1_600_000_000));
    assert_eq!(json["payee"].as_str().map(str::len), Some(66));
    assert!(json["description"].is_string());
    Ok(())
}

#[test]
fn case_whitespace_and_uri_prefix_are_tolerated() -> Result {
    let upper = format!("  LIGHTNING:{}\n", LNBCRT_100N.to_ascii_uppercase());
    assert_eq!(Invoice::parse(&upper)?.payment_hash(), Invoice::parse(LNBCRT_100N)?.payment_hash());
    Ok(())
}

#[test]
fn malformed_invoices_have_a_stable_code() {
    let mut flipped = LNBCRT_100N.to_owned();
    flipped.replace_range(40..41, if &LNBCRT_100N[40..41] == "q" { "p" } else { "q" });
    let long = format!("lnbcrt1{}", "q".repeat(9000));
    for bad in ["", "lnbc", "not an invoice", flipped.as_str(), &LNBCRT_100N[..100], long.as_str()]
    {
        let code = Invoice::parse(bad).map(|_| ()).map_err(|e| e.code());
        assert_eq!(code, Err("malformed-invoice"), "{bad:?}");
        assert_eq!(decode_to_json(bad).map_err(|e| e.code()), Err("malformed-invoice"));
    }
}

#[test]
fn wrong_network_is_reported_with_both_networks() -> Result {
    let inv = Invoice::parse(LNTB_20N)?;
    let err = inv.check_network(Network::Regtest).map_err(|e| e.code());
    assert_eq!(err, Err("wrong-network"));
    assert_eq!(
        inv.check_network(Network::Mainnet),
        Err(Error::WrongNetwork { expected: Network::Mainnet, found: Network::Testnet })
    );
    Ok(())
}

#[test]
fn expiry_is_checked_against_the_given_time() -> Result {
    let inv = Invoice::parse(LNBCRT_100N)?;
    let at = UNIX_EPOCH + Duration::from_secs(inv.timestamp());
    assert_eq!(inv.check_not_expired(at), Ok(()));
    assert_eq!(inv.check_not_expired(at + Duration::from_secs(3599)), Ok(()));
    assert_eq!(inv.check_not_expired(at + Duration::from_secs(3600)), Err(Error::InvoiceExpired));
    Ok(())
}

#[test]
fn macaroon_check_matches_payment_hashes() -> Result {
    let aperture = Macaroon::from_base64(APERTURE_MACAROON)?;
    let golang = Macaroon::from_base64(GOLANG_MACAROON)?;
    let hex_id = Macaroon::from_base64(HEX_ID_MACAROON)?;
    check_against_macaroon(&Invoice::parse(LNBCRT_100N)?, &aperture)?;
    check_against_macaroon(&Invoice::parse(LNTB_20N)?, &golang)?;
    check_against_macaroon(&Invoice::parse(LNTB_10U)?, &hex_id)?;
    for (inv, mac) in [(LNTB_20N, &aperture), (LNBCRT_100N, &golang), (LNBCRT_100N, &hex_id)] {
        assert_eq!(
            check_against_macaroon(&Invoice::parse(inv)?, mac),
            Err(Error::PaymentHashMismatch)
        );
    }
    // A macaroon that is not an L402 token wraps the token crate's error and code.
    let plain = Macaroon::new(b"key", b"\x00\x00short", None);
    let err = check_against_macaroon(&Invoice::parse(LNBCRT_100N)?, &plain);
    assert!(matches!(err, Err(Error::Token(_))));
    assert_eq!(err.map_err(|e| e.code()), Err("malformed-identifier"));
    Ok(())
}

fn dev_invoice(node: &DevNode, amount_msat: u64, memo: &str) -> Result<String> {
    let req = InvoiceRequest { amount_msat, memo: memo.into(), expiry: Duration::from_secs(600) };
    Ok(node.create(&req)?.bolt11)
}

#[test]
fn dev_node_invoices_round_trip() -> Result {
    let node = DevNode::builder().seed([3; 32]).build()?;
    let created = node.create(&InvoiceRequest {
        amount_msat: 1_234_567,
        memo: "quote of the day".into(),
        expiry: Duration::from_secs(90),
    })?;
    let inv = Invoice::parse(&created.bolt11)?;
    assert!(created.bolt11.starts_with("lnbcrt"));
    assert_eq!(inv.payment_hash(), created.payment_hash);
    assert_eq!(inv.amount_msat(), Some(1_234_567));
    assert_eq!(inv.description(), Some("quote of the day"));
    assert_eq!(inv.expiry(), Duration::from_secs(90));
    assert_eq!(inv.expires_at(), created.expires_at);
    assert_eq!(inv.payee(), node.node_id());
    assert_eq!(inv.network(), Network::Regtest);
    Ok(())
}

/// An invoice whose amount was changed after signing (re-encoded with a valid checksum).
fn tampered(key: [u8; 32], with_payee: bool) -> Result<String> {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&key).map_err(|e| e.to_string())?;
    let mut builder = InvoiceBuilder::new(Currency::Regtest)
        .description("x".into())
        .payment_hash(sha256::Hash::from_byte_array([9; 32]))
        .payment_secret(PaymentSecret([8; 32]))
        .duration_since_epoch(Duration::from_secs(1_700_000_000))
        .min_final_cltv_expiry_delta(18)
        .amount_milli_satoshis(1000);
    if with_payee {
        builder = builder.payee_pub_key(sk.public_key(&secp));
    }
    let signed = builder.build_signed(|m| secp.sign_ecdsa_recoverable(m, &sk))?;
    let (mut raw, _, sig) = signed.into_signed_raw().into_parts();
    raw.hrp.raw_amount = Some(2000);
    let resigned = raw.sign::<_, ()>(|_| Ok(*sig)).map_err(|()| "sign")?;
    Ok(resigned.to_string())
}

#[test]
fn tampered_invoice_fails_signature_or_changes_payee() -> Result {
    let err = Invoice::parse(&tampered([5; 32], true)?).map_err(|e| e.code());
    assert_eq!(err.map(|_| ()), Err("invalid-invoice-signature"));
    // Without an `n` field the signature "recovers" to some other key: the payee changes,
    // which is why the dev node (and every payer check) compares payees.
    let secp = Secp256k1::new();
    let real =
        SecretKey::from_slice(&[5; 32]).map_err(|e| e.to_string())?.public_key(&secp).serialize();
    assert_ne!(Invoice::parse(&tampered([5; 32], false)?)?.payee(), real);
    Ok(())
}

#[test]
fn amountless_invoice_requires_amount() -> Result {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[6; 32]).map_err(|e| e.to_string())?;
    let inv = InvoiceBuilder::new(Currency::Regtest)
        .description("donation".into())
        .payment_hash(sha256::Hash::from_byte_array([1; 32]))
        .payment_secret(PaymentSecret([2; 32]))
        .duration_since_epoch(Duration::from_secs(1_700_000_000))
        .min_final_cltv_expiry_delta(18)
        .build_signed(|m| secp.sign_ecdsa_recoverable(m, &sk))?;
    let parsed = Invoice::parse(&inv.to_string())?;
    assert_eq!(parsed.amount_msat(), None);
    assert_eq!(parsed.require_amount(), Err(Error::AmountRequired));
    let json: serde_json::Value = serde_json::from_str(&decode_to_json(&inv.to_string())?)?;
    assert!(json["amount_msat"].is_null());
    Ok(())
}

const BECH32: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,300}") {
        let _ = Invoice::parse(&s);
        let _ = decode_to_json(&s);
    }

    #[test]
    fn bech32_noise_never_panics(hrp in "ln(bc|tb|bcrt|sb)[0-9]{0,6}[munp]?", data in proptest::collection::vec(0usize..32, 0..400)) {
        let s: String = data.iter().map(|&i| char::from(BECH32[i])).collect();
        let _ = Invoice::parse(&format!("{hrp}1{s}"));
    }

    #[test]
    fn dev_invoices_round_trip(amount in 1u64..=1_000_000_000_000_000_000, memo in "[ -~]{0,100}") {
        let node = DevNode::builder().seed([4; 32]).build().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = dev_invoice(&node, amount, &memo).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let inv = Invoice::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(inv.amount_msat(), Some(amount));
        prop_assert_eq!(inv.description(), Some(memo.as_str()));
        prop_assert_eq!(inv.payee(), node.node_id());
    }

    #[test]
    fn any_single_substitution_is_rejected(pos in 0usize..1000, with in 0usize..32) {
        let node = DevNode::builder().seed([4; 32]).build().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = dev_invoice(&node, 5000, "substitution").map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Only positions in the data part (after the separator) hold bech32 characters.
        let sep = text.rfind('1').unwrap_or(0);
        let pos = sep + 1 + pos % (text.len() - sep - 1);
        let mut bytes = text.into_bytes();
        let new = BECH32[with];
        prop_assume!(bytes.get(pos) != Some(&new));
        if let Some(b) = bytes.get_mut(pos) { *b = new; }
        let mutated = String::from_utf8(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(Invoice::parse(&mutated).is_err());
    }
}
