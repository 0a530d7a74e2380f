//! Builds `spec-vectors/token.json`.
//!
//! Independent values (libmacaroons, go-macaroon, Aperture, lsat-js, the shared research
//! vectors) are written here as literals with their source, and the generator refuses to
//! write a file in which our codec does not reproduce them.

use l402_token::{chain, text, Error, Identifier, Macaroon, PaymentHash, Preimage, TokenId};
use l402_vectors::token::{CaveatCase, FailureCase, IdentifierCase, TokenCase, TokenVectors};

use super::{seeded, Check};

const LIBMACAROONS: &str = "libmacaroons README @ ca0211d (signatures)";
const GO_MACAROON: &str = "go-macaroon marshal_test.go @ 1679699 (TestMarshalBinaryRoundTrip)";
const LSAT_JS: &str = "lsat-js tests/data.ts @ d902b95";
const APERTURE: &str =
    "aperture fixtures @ 7ee3ed7, serialized by the shared research (aperture-vectors.md)";
const RESEARCH: &str =
    "shared research vectors (reference-vectors.md section F), cross-checked with pymacaroons";
const OURS: &str = "ours (fixed seed)";

const GO_V2_HEX: &str = "02010e687474703a2f2f6d7962616e6b2f021c77652075736564206f7572206f7468657220736563726574206b65790002146163636f756e74203d20333733353932383535390001136874\
74703a2f2f617574682e6d7962616e6b2f0227746869732077617320686f772077652072656d696e642061757468206f66206b65792f707265640448000000000000000000000000000000000000000000000000d36ec502e05886d1f0279f055fa52554d16d16c1b14074bbb83ff0fdd79dc2fe098f0ed4a2b091130e6b5db46a20a86b00000620d27db2fd1f22760e4c3dae8137e2d8fc1df6c0741c18aed4b97256bf78d1f55c";
const LIBMACAROONS_V1_TEXT: &str = "MDAxY2xvY2F0aW9uIGh0dHA6Ly9teWJhbmsvCjAwMjZpZGVudGlmaWVyIHdlIHVzZWQgb3VyIHNlY3JldCBrZXkKMDAyZnNpZ25hdHVyZSDj2eApCFJsTAA5rhURQRXZf91ovyujebNCqvD2F9BVLwo";
const APERTURE_VIA_LSAT_JS: &str = "AgEEbHNhdAJCAAAwpHpumws6ufQoDwiTLNcge0QPUIWA0+tVY+tKPYAJ/zSfmEGlIpNm3VzxuzCqLhEp5KGiyPLUM9L+kcB7uzS+AAIPc2VydmljZXM9bWVtZTowAAISbWVtZV9jYXBhYmlsaXRpZXM9AAAGILA1VCEIExukt4nG+XR9tX8WJ2BVMiHG3UNt1uYJ+NRD";
const GO_VIA_LSAT_JS: &str = "AgESMy4xMzYuMTc4LjE1OjM0MjM4AkIAAD2b0rX78LATiVo8bKgHuurefeF5OeX2H5ZuacBIK3+RAR1PKU1oZpfCZFib4zdDoj0pOpgPmhtuzNllU+y//D0AAAYgcWFs9FIteCzpCcEPSwmXKBpcx97hyL5Yt99cbLjRHzU=";
const BOLTWALL_VIA_LSAT_JS: &str = "AgEIbG9jYXRpb24ChAEwMDAwN2NlZjkzZjJjNTFhYTY1MjA4YmVjMTQ0N2ZjMzhmYzU4ZDliY2UxMzc1YTUzMmVkYjBkY2QyOTBhMmMzMzBhZTljNTMyNjZiMWJlMzE1MGI2NjZiM2Y2ZWM3MGYyOGJkNDNhOWQ0ZmQxOTQ2MWE2MjBmYmFjYzMzNzY4YTk5OTQAAhhleHBpcmF0aW9uPTE2NDQxOTQyNjM2OTMAAAYg_1CMq8TuMXv-ERHDWQCtlIhsQwwKiUDmnnh1maDFpkQ";
const APERTURE_B1: &str = "AgEIYXBlcnR1cmUCBEFBPT0AAklwcmVpbWFnZT00OTM0OWRmZWE0YWJlZDNjZDE0ZjZkMzU2YWZhODNkZTk3ODdiNjA5ZjA4OGM4ZGYwOWJhY2M3YjRiZDIxYjM5AAAGIKMp8NcUmtVBYudEjYaIJemlCNTelfuG1dAGAAJJPKa1";
const APERTURE_B2: &str = "AgEETFNBVAIEQUE9PQAABiAfL8hqIrDf8WeoUcLWE86rHVT9mbb3sa23ZWSqE8JwGw==";
const APERTURE_B4: &str = "AgEDbG9jAgJpZAAABiC+muRrz7pzU9ndKa/ZaGwRuFOacc/6JbKhr1oekYAXGw==";
const APERTURE_C: &str = "AgEEbHNhdAJCAABjDc0pZsQzZpESVEi7sltP9BKknHMtssirwbhYG9cQ3RERERERERERERERERERERERERERERERERERERERERERAAITc2VydmljZXM9c2VydmljZTE6MAACInNlcnZpY2UxX2NhcGFiaWxpdGllcz1hZGQsc3VidHJhY3QAAh9zZXJ2aWNlMV92YWxpZF91bnRpbD0xNzAwMDAwMDAwAAAGIDajTi5LQfcxXa2WFmYjFi67ODrbOM/Ta+THaQIz4ufX";
const LOOP_BASE: &str = "AgEEbHNhdAJCAAAC1EmjH7smfI81Lplop54+X8lcG76qUC/WRU695aS+3P7XSz7ySCD0QGAe/1v7Qr701hXElIzsiso8sVvSPxATAAIZc2VydmljZXM9bGlnaHRuaW5nX2xvb3A6MAACLGxpZ2h0bmluZ19sb29wX2NhcGFiaWxpdGllcz1sb29wX291dCxsb29wX2luAAImbG9vcF9vdXRfbW9udGhseV92b2x1bWVfc2F0cz0yMDAwMDAwMDAAAAYgYUSXCXyEWvqA+4Qn3skG6wW6PrU0QOCTuCKHkFB1ZcA=";
const LOOP_BASE_URL_NOPAD: &str = "AgEEbHNhdAJCAAAC1EmjH7smfI81Lplop54-X8lcG76qUC_WRU695aS-3P7XSz7ySCD0QGAe_1v7Qr701hXElIzsiso8sVvSPxATAAIZc2VydmljZXM9bGlnaHRuaW5nX2xvb3A6MAACLGxpZ2h0bmluZ19sb29wX2NhcGFiaWxpdGllcz1sb29wX291dCxsb29wX2luAAImbG9vcF9vdXRfbW9udGhseV92b2x1bWVfc2F0cz0yMDAwMDAwMDAAAAYgYUSXCXyEWvqA-4Qn3skG6wW6PrU0QOCTuCKHkFB1ZcA";
const LOOP_ATTENUATED: &str = "AgEEbHNhdAJCAAAC1EmjH7smfI81Lplop54+X8lcG76qUC/WRU695aS+3P7XSz7ySCD0QGAe/1v7Qr701hXElIzsiso8sVvSPxATAAIZc2VydmljZXM9bGlnaHRuaW5nX2xvb3A6MAACLGxpZ2h0bmluZ19sb29wX2NhcGFiaWxpdGllcz1sb29wX291dCxsb29wX2luAAImbG9vcF9vdXRfbW9udGhseV92b2x1bWVfc2F0cz0yMDAwMDAwMDAAAiNsaWdodG5pbmdfbG9vcF9jYXBhYmlsaXRpZXM9bG9vcF9pbgACJWxvb3BfaW5fbW9udGhseV92b2x1bWVfc2F0cz0xMDAwMDAwMDAAAAYgG4vuNiW92W5SW6NEKeg0tVWxQ5Hp1PCBd16K7L0NNcs=";
const LOOP_ROOT: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const LOOP_PREIMAGE: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const LOOP_NO_DERIVATION_SIG: &str =
    "4ff2005ade1fa3ab8d2e91bfa93c4511ad016a809863a943a1768d99e3cf600b";
const APERTURE_C_ROOT: &str = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";
const APERTURE_C_PREIMAGE: &str =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

struct Known<'a> {
    name: &'a str,
    source: &'a str,
    text: &'a str,
    root_key: Option<Vec<u8>>,
    preimage: Option<&'a str>,
    signature: &'a str,
}

fn token_case(k: &Known<'_>, c: &mut Check) -> TokenCase {
    let m = Macaroon::from_base64(k.text).unwrap_or_else(|e| panic!("{}: {e}", k.name));
    let binary = text::decode_base64(k.text, usize::MAX).map(|(b, _)| b).unwrap_or_default();
    // V1 input re-encodes as V2, so only V2 inputs must round-trip byte for byte.
    if binary.first() == Some(&2) {
        c.expect(k.name, "byte-exact round trip", m.encode() == binary);
    }
    c.expect(k.name, "signature", hex::encode(m.signature()) == k.signature);
    let lenient = Identifier::decode_lenient(m.identifier()).ok();
    let signature_check = k.root_key.as_ref().map(|root| code(m.verify_signature(root)));
    if let (Some(p), Some((id, _))) = (k.preimage, lenient) {
        let ok = Preimage::from_hex(p).map(|p| p.check(&id.payment_hash).is_ok());
        c.expect(k.name, "preimage matches payment hash", ok == Ok(true));
    }
    TokenCase {
        name: k.name.into(),
        source: k.source.into(),
        text: k.text.into(),
        binary: hex::encode(&binary),
        canonical: m.to_base64(),
        root_key: k.root_key.as_ref().map(hex::encode),
        preimage: k.preimage.map(Into::into),
        location: m.location().map(|l| String::from_utf8_lossy(l).into_owned()),
        identifier: hex::encode(m.identifier()),
        payment_hash: lenient.map(|(id, _)| id.payment_hash.to_string()),
        token_id: lenient.map(|(id, _)| id.token_id.to_string()),
        caveats: m
            .caveats()
            .iter()
            .map(|c| CaveatCase {
                id: hex::encode(c.id()),
                vid: c.vid().map(hex::encode),
                location: c.location().map(|l| String::from_utf8_lossy(l).into_owned()),
            })
            .collect(),
        signature: hex::encode(m.signature()),
        identifier_code: Identifier::decode(m.identifier()).err().map(|e| e.code().to_owned()),
        signature_check,
    }
}

fn code(r: Result<(), Error>) -> String {
    match r {
        Ok(()) => "valid".into(),
        Err(e) => e.code().into(),
    }
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad literal {s}: {e}"))
}

/// An L402 token of ours with `n` caveats. Seeds do not depend on `n`, so tokens with fewer
/// caveats are prefixes of those with more.
fn ours(n: usize) -> (Macaroon, Vec<u8>, Preimage) {
    let root = seeded("token/root").to_vec();
    let preimage = Preimage::from_bytes(seeded("token/preimage"));
    let id = Identifier {
        payment_hash: preimage.payment_hash(),
        token_id: TokenId(seeded("token/token-id")),
    };
    let mut m = Macaroon::new_l402(&root, &id);
    let caveats = [
        "services=weather:0",
        "weather_capabilities=forecast,history",
        "weather_valid_until=1900000000",
    ];
    for i in 0..n {
        match caveats.get(i) {
            Some(c) => m.add_first_party_caveat(*c),
            None => m.add_first_party_caveat(format!("weather_capabilities=forecast,history,c{i}")),
        }
    }
    (m, root, preimage)
}

pub(crate) fn build(c: &mut Check) -> TokenVectors {
    let secret1 = b"this is our super secret key; only we should know it".to_vec();
    let secret2 = b"this is a different super-secret key; never use the same secret twice".to_vec();

    // libmacaroons README example 1 and its three first-party caveats, re-expressed as V2.
    let mut libmac = Macaroon::new(&secret1, b"we used our secret key", Some(b"http://mybank/"));
    let mut known_texts = vec![(
        "libmacaroons-v1-text".to_owned(),
        LIBMACAROONS_V1_TEXT.to_owned(),
        "e3d9e02908526c4c0039ae15114115d97fdd68bf2ba379b342aaf0f617d0552f",
    )];
    for (i, (cav, sig)) in [
        (
            "account = 3735928559",
            "1efe4763f290dbce0c1d08477367e11f4eee456a64933cf662d79772dbb82128",
        ),
        (
            "time < 2020-01-01T00:00",
            "b5f06c8c8ef92f6c82c6ff282cd1f8bd1849301d09a2db634ba182536a611c49",
        ),
        (
            "email = alice@example.org",
            "ddf553e46083e55b8d71ab822be3d8fcf21d6bf19c40d617bb9fb438934474b6",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        libmac.add_first_party_caveat(cav);
        known_texts.push((format!("libmacaroons-{}-caveats", i + 1), libmac.to_base64(), sig));
    }

    let go_v2 = unhex(GO_V2_HEX);
    let go_text = text::encode_base64(&go_v2);
    let mut known: Vec<Known<'_>> = known_texts
        .iter()
        .map(|(name, t, sig)| Known {
            name,
            source: LIBMACAROONS,
            text: t,
            root_key: Some(secret1.clone()),
            preimage: None,
            signature: sig,
        })
        .collect();
    let fixed = [
        (
            "go-macaroon-v2-third-party",
            GO_MACAROON,
            go_text.as_str(),
            Some(secret2.clone()),
            None,
            "d27db2fd1f22760e4c3dae8137e2d8fc1df6c0741c18aed4b97256bf78d1f55c",
        ),
        (
            "aperture-via-lsat-js",
            LSAT_JS,
            APERTURE_VIA_LSAT_JS,
            None,
            None,
            "b035542108131ba4b789c6f9747db57f162760553221c6dd436dd6e609f8d443",
        ),
        (
            "go-generated-via-lsat-js",
            LSAT_JS,
            GO_VIA_LSAT_JS,
            None,
            None,
            "71616cf4522d782ce909c10f4b0997281a5cc7dee1c8be58b7df5c6cb8d11f35",
        ),
        (
            "boltwall-url-safe-hex-identifier",
            LSAT_JS,
            BOLTWALL_VIA_LSAT_JS,
            None,
            Some("2ca931a1c36b48f54948b898a271a53ed91ff7d0081939a5fa511249e81cba5c"),
            "ff508cabc4ee317bfe1111c35900ad94886c430c0a8940e69e787599a0c5a644",
        ),
        (
            "aperture-authenticator-test",
            APERTURE,
            APERTURE_B1,
            Some(b"aabbccddeeff00112233445566778899".to_vec()),
            None,
            "a329f0d7149ad54162e7448d868825e9a508d4de95fb86d5d0060002493ca6b5",
        ),
        (
            "aperture-client-interceptor-test",
            APERTURE,
            APERTURE_B2,
            Some(b"aabbccddeeff00112233445566778899".to_vec()),
            None,
            "1f2fc86a22b0dff167a851c2d613ceab1d54fd99b6f7b1adb76564aa13c2701b",
        ),
        (
            "aperture-proxy-test",
            APERTURE,
            APERTURE_B4,
            Some(b"key".to_vec()),
            None,
            "be9ae46bcfba7353d9dd29afd9686c11b8539a71cffa25b2a1af5a1e9180171b",
        ),
        (
            "aperture-shaped-service1",
            APERTURE,
            APERTURE_C,
            Some(unhex(APERTURE_C_ROOT)),
            Some(APERTURE_C_PREIMAGE),
            "36a34e2e4b41f7315dad96166623162ebb383adb38cfd36be4c7690233e2e7d7",
        ),
        (
            "loop-base",
            RESEARCH,
            LOOP_BASE,
            Some(unhex(LOOP_ROOT)),
            Some(LOOP_PREIMAGE),
            "614497097c845afa80fb8427dec906eb05ba3eb53440e093b8228790507565c0",
        ),
        (
            "loop-base-url-safe-unpadded",
            RESEARCH,
            LOOP_BASE_URL_NOPAD,
            Some(unhex(LOOP_ROOT)),
            Some(LOOP_PREIMAGE),
            "614497097c845afa80fb8427dec906eb05ba3eb53440e093b8228790507565c0",
        ),
        (
            "loop-attenuated",
            RESEARCH,
            LOOP_ATTENUATED,
            Some(unhex(LOOP_ROOT)),
            Some(LOOP_PREIMAGE),
            "1b8bee3625bdd96e525ba34429e834b555b14391e9d4f081775e8aecbd0d35cb",
        ),
    ];
    for (name, source, text, root_key, preimage, signature) in fixed {
        known.push(Known { name, source, text, root_key, preimage, signature });
    }
    let mut tokens: Vec<TokenCase> = known.iter().map(|k| token_case(k, c)).collect();

    // The research vector's paid macaroon is ours plus the client's `preimage=` caveat.
    let loop_paid = Macaroon::from_base64(LOOP_BASE)
        .map(|m| m.with_caveat(format!("preimage={LOOP_PREIMAGE}")))
        .map(|m| hex::encode(m.signature()));
    c.expect(
        "loop-paid",
        "signature",
        loop_paid.as_deref()
            == Ok("b65fe1408f1a19b55ca7e6a0a0069918424aa6089d35e808b4e25de658bbf3a1"),
    );

    // Ours, from fixed seeds.
    let owned: Vec<(String, String, Vec<u8>, String, String)> = [0, 1, 3, 10, 50]
        .into_iter()
        .map(|n| {
            let (m, root, preimage) = ours(n);
            (
                format!("ours-{n}-caveats"),
                m.to_base64(),
                root,
                preimage.to_hex(),
                hex::encode(m.signature()),
            )
        })
        .collect();
    for (name, text, root, preimage, sig) in &owned {
        tokens.push(token_case(
            &Known {
                name,
                source: OURS,
                text,
                root_key: Some(root.clone()),
                preimage: Some(preimage),
                signature: sig,
            },
            c,
        ));
    }

    TokenVectors { version: 1, tokens, failures: failures(c), identifiers: identifiers() }
}

fn failures(c: &mut Check) -> Vec<FailureCase> {
    let (m3, root3, pre3) = ours(3);
    let good = m3.encode();
    let good_text = m3.to_base64();
    let root3_hex = hex::encode(&root3);
    let mut out = Vec::new();
    let mut text_case = |name: &str, t: String, code: &str| {
        out.push(FailureCase {
            name: name.into(),
            source: OURS.into(),
            text: Some(t),
            binary: None,
            root_key: None,
            preimage: None,
            code: code.into(),
        });
    };
    const MAC: &str = "malformed-macaroon";
    text_case("text-empty", String::new(), MAC);
    text_case("text-space-inside", format!("{} {}", &good_text[..8], &good_text[8..]), MAC);
    text_case("text-newline-at-end", format!("{good_text}\n"), MAC);
    text_case("text-invalid-character", good_text.replacen('A', "*", 1), MAC);
    text_case("text-mixed-alphabets", format!("-{}", &good_text[1..]).replacen('A', "+", 1), MAC);
    text_case("text-partial-padding", "AgEE=".into(), MAC);
    text_case("text-padding-in-middle", format!("AA==\u{0041}{good_text}"), MAC);
    text_case("text-impossible-length", "AgEEb".into(), MAC);
    text_case("text-non-canonical-bits", "AgF=".into(), MAC);
    text_case("text-hex-is-not-base64-of-a-macaroon", hex::encode(&good), MAC);
    text_case("text-too-long", "A".repeat(30_000), MAC);

    let bin = |name: &str, b: Vec<u8>, code: &str| FailureCase {
        name: name.into(),
        source: OURS.into(),
        text: None,
        binary: Some(hex::encode(b)),
        root_key: None,
        preimage: None,
        code: code.into(),
    };
    let with = |mut v: Vec<u8>, f: &dyn Fn(&mut Vec<u8>)| {
        f(&mut v);
        v
    };
    let header = |loc: &[u8], id: &[u8]| {
        let mut v = vec![2u8];
        if !loc.is_empty() {
            v.push(1);
            v.push(loc.len() as u8);
            v.extend_from_slice(loc);
        }
        v.push(2);
        v.push(id.len() as u8);
        v.extend_from_slice(id);
        v.push(0);
        v
    };
    let sig = |v: &mut Vec<u8>| {
        v.push(6);
        v.push(32);
        v.extend_from_slice(&[0xab; 32]);
    };
    let mut bins = vec![
        bin("binary-empty", vec![], MAC),
        bin("binary-unknown-format-byte", with(good.clone(), &|v| v[0] = 3), MAC),
        bin("binary-zero-format-byte", with(good.clone(), &|v| v[0] = 0), MAC),
        bin("binary-truncated-in-signature", good[..good.len() - 1].to_vec(), MAC),
        bin("binary-truncated-in-identifier", good[..20].to_vec(), MAC),
        bin("binary-format-byte-only", vec![2], MAC),
        bin("binary-trailing-byte", with(good.clone(), &|v| v.push(0)), MAC),
        bin(
            "binary-non-minimal-varint",
            with(header(b"", b"id"), &|v| {
                v.splice(2..3, [0x82, 0x00]);
                v.push(0);
                sig(v)
            }),
            MAC,
        ),
        bin(
            "binary-varint-over-go-limit",
            {
                let mut v = vec![2u8, 2, 0x80, 0x80, 0x80, 0x80, 0x08];
                v.extend_from_slice(b"id");
                v
            },
            MAC,
        ),
        bin(
            "binary-fields-out-of-order",
            {
                let mut v = vec![2u8, 2, 2, b'i', b'd', 1, 1, b'l', 0, 0];
                sig(&mut v);
                v
            },
            MAC,
        ),
        bin(
            "binary-duplicate-field",
            {
                let mut v = vec![2u8, 2, 2, b'i', b'd', 2, 2, b'i', b'd', 0, 0];
                sig(&mut v);
                v
            },
            MAC,
        ),
        bin(
            "binary-missing-identifier",
            {
                let mut v = vec![2u8, 1, 1, b'l', 0, 0];
                sig(&mut v);
                v
            },
            MAC,
        ),
        bin(
            "binary-unknown-field-type",
            {
                let mut v = vec![2u8, 2, 2, b'i', b'd', 3, 1, b'x', 0, 0];
                sig(&mut v);
                v
            },
            MAC,
        ),
        bin(
            "binary-location-in-first-party-caveat",
            {
                let mut v = header(b"", b"id");
                v.extend_from_slice(&[1, 1, b'l', 2, 3, b'a', b'=', b'b', 0, 0]);
                sig(&mut v);
                v
            },
            MAC,
        ),
        bin(
            "binary-caveat-without-identifier",
            {
                let mut v = header(b"", b"id");
                v.extend_from_slice(&[4, 1, b'v', 0, 0]);
                sig(&mut v);
                v
            },
            MAC,
        ),
        bin(
            "binary-short-signature",
            {
                let mut v = header(b"", b"id");
                v.extend_from_slice(&[0, 6, 31]);
                v.extend_from_slice(&[0xab; 31]);
                v
            },
            MAC,
        ),
        bin("binary-missing-signature", with(header(b"", b"id"), &|v| v.push(0)), MAC),
        bin(
            "binary-wrong-final-field",
            {
                let mut v = header(b"", b"id");
                v.extend_from_slice(&[0, 4, 32]);
                v.extend_from_slice(&[0xab; 32]);
                v
            },
            MAC,
        ),
        bin(
            "binary-field-over-limit",
            {
                let mut v = vec![2u8, 2, 0x81, 0x20]; // identifier of 4097 bytes
                v.extend_from_slice(&[b'x'; 4097]);
                v.push(0);
                v.push(0);
                sig(&mut v);
                v
            },
            MAC,
        ),
        bin(
            "binary-too-many-caveats",
            {
                let mut m = Macaroon::new(b"k", b"id", None);
                for i in 0..257 {
                    m.add_first_party_caveat(format!("c={i}"));
                }
                m.encode()
            },
            MAC,
        ),
        bin(
            "binary-over-total-limit",
            {
                let mut m = Macaroon::new(b"k", b"id", None);
                for _ in 0..5 {
                    m.add_first_party_caveat(vec![b'x'; 4000]);
                }
                m.encode()
            },
            MAC,
        ),
        bin("v1-bad-length-digits", b"00zzlocation x\n".to_vec(), MAC),
        bin("v1-missing-newline", b"000flocation abc".to_vec(), MAC),
        bin("v1-identifier-first", v1_packet("identifier", b"x"), MAC),
        bin(
            "v1-trailing-bytes",
            {
                let mut v = text::decode_base64(LIBMACAROONS_V1_TEXT, usize::MAX)
                    .map(|(b, _)| b)
                    .unwrap_or_default();
                v.push(b'0');
                v
            },
            MAC,
        ),
        bin(
            "v1-location-in-first-party-caveat",
            [
                v1_packet("location", b"l"),
                v1_packet("identifier", b"i"),
                v1_packet("cid", b"a=b"),
                v1_packet("cl", b"l"),
                v1_packet("signature", &[0xab; 32]),
            ]
            .concat(),
            MAC,
        ),
        bin(
            "v1-short-signature",
            [
                v1_packet("location", b"l"),
                v1_packet("identifier", b"i"),
                v1_packet("signature", &[0xab; 31]),
            ]
            .concat(),
            MAC,
        ),
    ];
    out.append(&mut bins);

    // Identifier failures, seen through a whole macaroon.
    for (name, id, code) in [
        ("identifier-not-l402", b"we used our secret key".to_vec(), "unknown-identifier-version"),
        ("identifier-one-byte", vec![0u8], "malformed-identifier"),
        ("identifier-65-bytes", vec![0u8; 65], "malformed-identifier"),
        ("identifier-version-1", with(vec![0u8; 66], &|v| v[1] = 1), "unknown-identifier-version"),
    ] {
        out.push(FailureCase {
            name: name.into(),
            source: OURS.into(),
            text: Some(Macaroon::new(&root3, &id, Some(b"lsat")).to_base64()),
            binary: None,
            root_key: Some(root3_hex.clone()),
            preimage: Some(pre3.to_hex()),
            code: code.into(),
        });
    }

    // Preimage and signature failures on a valid token of ours.
    let pre = pre3.to_hex();
    for (name, p) in [
        ("preimage-63-digits", pre[..63].to_owned()),
        ("preimage-65-digits", format!("{pre}0")),
        ("preimage-non-hex", format!("zz{}", &pre[2..])),
        ("preimage-0x-prefix", format!("0x{}", &pre[2..])),
        ("preimage-empty", String::new()),
    ] {
        checked_push(&mut out, name, good_text.clone(), &root3_hex, Some(p), "malformed-preimage");
    }
    checked_push(
        &mut out,
        "preimage-wrong",
        good_text.clone(),
        &root3_hex,
        Some("22".repeat(32)),
        "wrong-preimage",
    );
    let mut flipped = m3.encode();
    if let Some(b) = flipped.last_mut() {
        *b ^= 1;
    }
    checked_push(
        &mut out,
        "signature-bit-flipped",
        text::encode_base64(&flipped),
        &root3_hex,
        Some(pre.clone()),
        "invalid-signature",
    );
    checked_push(
        &mut out,
        "signature-wrong-root-key",
        good_text.clone(),
        &"00".repeat(32),
        Some(pre.clone()),
        "invalid-signature",
    );
    let (m2, _, _) = ours(2);
    let mut dropped = Macaroon::decode(&m2.encode()).unwrap_or_else(|e| panic!("{e}"));
    // Keep the 3-caveat signature on the 2-caveat body: a holder trying to remove a caveat.
    let mut bytes = dropped.encode();
    let sig_at = bytes.len() - 32;
    bytes[sig_at..].copy_from_slice(m3.signature());
    dropped = Macaroon::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
    checked_push(
        &mut out,
        "signature-caveat-dropped",
        dropped.to_base64(),
        &root3_hex,
        Some(pre.clone()),
        "invalid-signature",
    );
    let mut appended = m3.encode();
    let at = appended.len() - 35;
    appended.splice(at..at, b"\x02\x07foo=bar\x00".iter().copied());
    checked_push(
        &mut out,
        "signature-caveat-appended-without-resigning",
        text::encode_base64(&appended),
        &root3_hex,
        Some(pre.clone()),
        "invalid-signature",
    );

    // The research vector, signed the way the 2026 macaroon-spec text says (no key derivation).
    let mut no_derivation = unhex(&hex::encode(
        Macaroon::from_base64(LOOP_BASE).map(|m| m.encode()).unwrap_or_default(),
    ));
    let n = no_derivation.len();
    no_derivation[n - 32..].copy_from_slice(&unhex(LOOP_NO_DERIVATION_SIG));
    let chain_ok = {
        let m = Macaroon::decode(&no_derivation).unwrap_or_else(|e| panic!("{e}"));
        let root = unhex(LOOP_ROOT);
        let mut s = chain::hmac(&root, m.identifier());
        for cav in m.caveats() {
            s = chain::chain_first_party(&s, cav.id());
        }
        s == *m.signature()
    };
    c.expect("signature-without-key-derivation", "literal spec chain reproduces", chain_ok);
    out.push(FailureCase {
        name: "signature-without-key-derivation".into(),
        source: RESEARCH.into(),
        text: Some(text::encode_base64(&no_derivation)),
        binary: None,
        root_key: Some(LOOP_ROOT.into()),
        preimage: Some(LOOP_PREIMAGE.into()),
        code: "invalid-signature".into(),
    });
    // An L402 token with a third-party caveat appended and correctly chained.
    let (m1, root1, pre1) = ours(1);
    let (cid, vid, loc) =
        (b"discharge-me".as_slice(), [7u8; 72], b"https://auth.example".as_slice());
    let mut tp = m1.encode();
    let at = tp.len() - 35;
    let mut section = vec![1u8, loc.len() as u8];
    section.extend_from_slice(loc);
    section.extend_from_slice(&[2, cid.len() as u8]);
    section.extend_from_slice(cid);
    section.extend_from_slice(&[4, vid.len() as u8]);
    section.extend_from_slice(&vid);
    section.push(0);
    tp.splice(at..at, section);
    let n = tp.len();
    tp[n - 32..].copy_from_slice(&chain::chain_third_party(m1.signature(), &vid, cid));
    checked_push(
        &mut out,
        "third-party-caveat-without-discharge",
        text::encode_base64(&tp),
        &hex::encode(&root1),
        Some(pre1.to_hex()),
        "missing-discharge",
    );
    out
}

fn checked_push(
    out: &mut Vec<FailureCase>,
    name: &str,
    t: String,
    root: &str,
    preimage: Option<String>,
    code: &str,
) {
    out.push(FailureCase {
        name: name.into(),
        source: OURS.into(),
        text: Some(t),
        binary: None,
        root_key: Some(root.into()),
        preimage,
        code: code.into(),
    });
}

fn v1_packet(key: &str, value: &[u8]) -> Vec<u8> {
    let mut v = format!("{:04x}{key} ", 4 + key.len() + 1 + value.len() + 1).into_bytes();
    v.extend_from_slice(value);
    v.push(b'\n');
    v
}

fn identifiers() -> Vec<IdentifierCase> {
    let hash: [u8; 32] = core::array::from_fn(|i| i as u8 + 1);
    let token: [u8; 32] = core::array::from_fn(|i| 32 - i as u8);
    let id = Identifier { payment_hash: PaymentHash(hash), token_id: TokenId(token) };
    let raw = id.encode().to_vec();
    let ok = |name: &str, source: &str, bytes: Vec<u8>| IdentifierCase {
        name: name.into(),
        source: source.into(),
        bytes: hex::encode(bytes),
        payment_hash: Some(hex::encode(hash)),
        token_id: Some(hex::encode(token)),
        code: None,
    };
    let bad = |name: &str, bytes: Vec<u8>, code: &str| IdentifierCase {
        name: name.into(),
        source: OURS.into(),
        bytes: hex::encode(bytes),
        payment_hash: None,
        token_id: None,
        code: Some(code.into()),
    };
    let mut v1 = raw.clone();
    v1[1] = 1;
    vec![
        ok("aperture-layout-test", "aperture l402/identifier_test.go @ 7ee3ed7", raw.clone()),
        bad("empty", vec![], "malformed-identifier"),
        bad("one-byte", vec![0], "malformed-identifier"),
        bad("version-only", vec![0, 0], "malformed-identifier"),
        bad("65-bytes", raw[..65].to_vec(), "malformed-identifier"),
        bad("67-bytes", [raw.as_slice(), &[0]].concat(), "malformed-identifier"),
        bad("version-1", v1, "unknown-identifier-version"),
        bad("version-ffff", [&[0xff, 0xff][..], &raw[2..]].concat(), "unknown-identifier-version"),
        // lsat-js writes the identifier as hex text; strictly that is version 0x3030.
        bad("hex-text-strict", hex::encode(&raw).into_bytes(), "unknown-identifier-version"),
    ]
}
