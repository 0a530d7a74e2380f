//! Builds `spec-vectors/http.json`.
//!
//! Independent inputs (lsat-js test data, Aperture fixtures, the spec examples) are literals
//! here with their source; where the source states an outcome (the macaroon a challenge
//! carries, the preimage a credential carries, that a value is rejected) the generator refuses
//! to write a file in which our parser disagrees. Our own cases come from fixed seeds and state
//! the code they must produce.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use l402_http::{
    challenge_values, grpc, parse_challenge_lines, select, ChallengeStyle, Credential,
    CredentialSource, Error, Limits, MacaroonParam, ParsedChallenge, TokenStatus, TOKEN_STATUS,
};
use l402_token::{Identifier, Macaroon, Preimage, TokenId};
use l402_vectors::http::{
    ChallengeCase, CredentialCase, EmitChallengeCase, EmitCredentialCase, GrpcCase, HttpVectors,
    ParsedCase, SelectedCase, TokenStatusCase, TokenStatusValue,
};

use super::{seeded, Check};

const LSAT_JS: &str = "lsat-js tests/data.ts @ d902b95";
const APERTURE: &str =
    "aperture fixtures @ 7ee3ed7 (aperture-vectors.md A1-A3, serialized as B1-B3, C)";
const SPEC: &str = "lightninglabs/L402 protocol-specification.md @ 8f5a269 (illustrative values)";
const OURS: &str = "ours (fixed seed)";

const APERTURE_MAC: &str = "AgEEbHNhdAJCAAAwpHpumws6ufQoDwiTLNcge0QPUIWA0+tVY+tKPYAJ/zSfmEGlIpNm3VzxuzCqLhEp5KGiyPLUM9L+kcB7uzS+AAIPc2VydmljZXM9bWVtZTowAAISbWVtZV9jYXBhYmlsaXRpZXM9AAAGILA1VCEIExukt4nG+XR9tX8WJ2BVMiHG3UNt1uYJ+NRD";
const APERTURE_INVOICE: &str = "lnbcrt100n1p3qqkygpp5xzj85m5mpvatnapgpuyfxtxhypa5gr6sskqd8664v04550vqp8lsdq8f3f5z4qcqzpgsp5tpzvsq5pckqgln3ltpy3e9cf6tf2aj82ffa2tted77ltweuaweks9qyyssq0w5da3k40wtdukac7hp5s58hsxf8k8f52c5qneezu4xg3xh87xrnkl5jwtw098d2gjywx20nmkxl2y4vq9fr89kg5kzcwupv9xpdaggp4fc4ms";
const GO_MAC: &str = "AgESMy4xMzYuMTc4LjE1OjM0MjM4AkIAAD2b0rX78LATiVo8bKgHuurefeF5OeX2H5ZuacBIK3+RAR1PKU1oZpfCZFib4zdDoj0pOpgPmhtuzNllU+y//D0AAAYgcWFs9FIteCzpCcEPSwmXKBpcx97hyL5Yt99cbLjRHzU=";
const GO_INVOICE: &str = "lntb20n1psza5dwpp58kda9d0m7zcp8z2683k2spa6at08mcte88jlv8ukde5uqjpt07gsdzjfp85gnpqd9h8vmmfvdjjqurp09kk2mn5ypn8ymmdyppksctfdecx76twwssyxmmjv5sxcmny8gcnqvps8ycqzpgsp5m7xru8dlhrhmwjp8gynsj2l9mwan2jk52ah5xucrn9kc3p0pj5ns9qy9qsq7jjxypyyc7hvvs8srh6c3lvcp5l5wka94htnfxak99hd5qrx69sya9sj4zm3w5lncw0tksf944q73tduhlhs5apd63m9dte9dhva5dgqaceunx";
const BOLTWALL_MAC: &str = "AgEIbG9jYXRpb24ChAEwMDAwN2NlZjkzZjJjNTFhYTY1MjA4YmVjMTQ0N2ZjMzhmYzU4ZDliY2UxMzc1YTUzMmVkYjBkY2QyOTBhMmMzMzBhZTljNTMyNjZiMWJlMzE1MGI2NjZiM2Y2ZWM3MGYyOGJkNDNhOWQ0ZmQxOTQ2MWE2MjBmYmFjYzMzNzY4YTk5OTQAAhhleHBpcmF0aW9uPTE2NDQxOTQyNjM2OTMAAAYg_1CMq8TuMXv-ERHDWQCtlIhsQwwKiUDmnnh1maDFpkQ";
const BOLTWALL_MAC_2: &str = "AgEIbG9jYXRpb24ChAEwMDAwN2NlZjkzZjJjNTFhYTY1MjA4YmVjMTQ0N2ZjMzhmYzU4ZDliY2UxMzc1YTUzMmVkYjBkY2QyOTBhMmMzMzBhZWFkMDE0MmNlMjcxYjY5OTkzNDY5NDZlYzBlYTg1NmEwZTg4Zjc1YTE5YTZkMGMwNWVhMzZhNTVjY2E1MjYwYzAAAhhleHBpcmF0aW9uPTE2NDQxOTYyMDkwMzkAAAYgC0wqY_xSoouOLRuYipfQAu_HeSSVUDfgkro9Mg6AnHc";
const LSAT_JS_INVOICE: &str = "lntb10u1pw7kfm8pp50nhe8uk9r2n9yz97c9z8lsu0ckxehnsnwkjn9mdsmnffpgkrxzhqdq5w3jhxapqd9h8vmmfvdjscqzpgllq2qvdlgkllc27kpd87lz8pdfsfmtteyc3kwq734jpwnvqt96e4nuy0yauzdrtkumxsvawgda8dlljxu3nnjlhs6w75390wy7ukj6cpfmygah";
const SPEC_INVOICE: &str = "lnbc1500n1pw5kjhmpp5fu6xhthlt2vucmzkx6c7wtlh2r625r30cyjsfqhu8rsx4xpz5lwqdpa2fjkzep6yptksct5yp5hxgrrv96hx6twvusycn3qv9jx7ur5d9hkugr5dusx6cqzpgxqr23s79ruapxc4j5uskt4htly2salw4drq979d7rcela9wz02elhypmdzmzlnxuknpgfyfm86pntt8vvkvffma5qc9n50h4mvqhngadqy3ngqjcym5a";
const APERTURE_A2_INVOICE: &str = "lntb5u1p0pskpmpp5jzw9xvdast2g5lm5tswq6n64t2epe3f4xav43dyd239qr8h3yllqdqqcqzpgsp5m8sfjqgugthk66q3tr4gsqr5rh740jrq9x4l0kvj5e77nmwqvpnq9qy9qsq72afzu7sfuppzqg3q2pn49hlh66rv7w60h2ruahx857g94s066yzxcjn4yccqc79779sd232v9ewluvu0tmusvht6r99rld8xsk287cpyac79r";
const APERTURE_B2_MAC: &str =
    "AgEETFNBVAIEQUE9PQAABiAfL8hqIrDf8WeoUcLWE86rHVT9mbb3sa23ZWSqE8JwGw==";
const APERTURE_B1_MAC: &str = "AgEIYXBlcnR1cmUCBEFBPT0AAklwcmVpbWFnZT00OTM0OWRmZWE0YWJlZDNjZDE0ZjZkMzU2YWZhODNkZTk3ODdiNjA5ZjA4OGM4ZGYwOWJhY2M3YjRiZDIxYjM5AAAGIKMp8NcUmtVBYudEjYaIJemlCNTelfuG1dAGAAJJPKa1";
const APERTURE_B1_HEX: &str = "0201086170657274757265020441413d3d000249707265696d6167653d3439333439646665613461626564336364313466366433353661666138336465393738376236303966303838633864663039626163633762346264323162333900000620a329f0d7149ad54162e7448d868825e9a508d4de95fb86d5d0060002493ca6b5";
const APERTURE_B1_PREIMAGE: &str =
    "49349dfea4abed3cd14f6d356afa83de9787b609f088c8df09bacc7b4bd21b39";
const APERTURE_C_MAC: &str = "AgEEbHNhdAJCAABjDc0pZsQzZpESVEi7sltP9BKknHMtssirwbhYG9cQ3RERERERERERERERERERERERERERERERERERERERERERAAITc2VydmljZXM9c2VydmljZTE6MAACInNlcnZpY2UxX2NhcGFiaWxpdGllcz1hZGQsc3VidHJhY3QAAh9zZXJ2aWNlMV92YWxpZF91bnRpbD0xNzAwMDAwMDAwAAAGIDajTi5LQfcxXa2WFmYjFi67ODrbOM/Ta+THaQIz4ufX";
const APERTURE_C_PAID_HEX: &str = "0201046c73617402420000630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd111111111111111111111111111111111111111111111111111111111111111100021373657276696365733d73657276696365313a3000022273657276696365315f6361706162696c69746965733d6164642c737562747261637400021f73657276696365315f76616c69645f756e74696c3d31373030303030303030000249707265696d6167653d30303031303230333034303530363037303830393061306230633064306530663130313131323133313431353136313731383139316131623163316431653166000006204767d133bfa355111e632d94f94ad0c0a5505bb695f54ac41e02f017683d2fe2";
const APERTURE_C_PREIMAGE: &str =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const APERTURE_B3_HEX: &str = "0201044c534154020441413d3d000249707265696d6167653d30313032303330343035303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030000006209a62a8e448dcad4de6d3cf23802427143bbe594007bee88b40ac3aec122c0452";

/// The placeholder macaroon of the spec examples and Aperture's mock: not valid base64.
const PLACEHOLDER_MAC: &str = "AGIAJEemVQUTEyNCR0exk7ek90Cg==";

fn ours() -> (Macaroon, Preimage) {
    let preimage = Preimage::from_bytes(seeded("http/preimage"));
    let id = Identifier {
        payment_hash: preimage.payment_hash(),
        token_id: TokenId(seeded("http/token-id")),
    };
    let m = Macaroon::new_l402(&seeded("http/root"), &id)
        .with_caveat("services=weather:0")
        .with_caveat("weather_valid_until=1900000000");
    (m, preimage)
}

fn ours_other() -> (Macaroon, Preimage) {
    let preimage = Preimage::from_bytes(seeded("http/other-preimage"));
    let id = Identifier {
        payment_hash: preimage.payment_hash(),
        token_id: TokenId(seeded("http/other-token-id")),
    };
    (Macaroon::new_l402(&seeded("http/root"), &id), preimage)
}

fn blank(kind: &str) -> ParsedCase {
    ParsedCase {
        kind: kind.into(),
        scheme: None,
        macaroon: None,
        invoice: None,
        version: None,
        macaroon_param: None,
        code: None,
        line: None,
        token68: None,
        params: Vec::new(),
    }
}

fn parsed_case(p: &ParsedChallenge) -> ParsedCase {
    match p {
        ParsedChallenge::L402(c) => ParsedCase {
            scheme: Some(c.scheme.as_str().into()),
            macaroon: Some(c.macaroon_text.clone()),
            invoice: Some(c.invoice.clone()),
            version: Some(c.version.clone()),
            macaroon_param: Some(
                match c.macaroon_param {
                    MacaroonParam::Macaroon => "macaroon",
                    MacaroonParam::Token => "token",
                    _ => "both",
                }
                .into(),
            ),
            ..blank("l402")
        },
        ParsedChallenge::Rejected(r) => ParsedCase {
            scheme: Some(r.scheme.as_str().into()),
            code: Some(r.error.code().into()),
            params: r.params.iter().map(|p| (p.name.clone(), p.value.clone())).collect(),
            ..blank("rejected")
        },
        ParsedChallenge::Other(o) => ParsedCase {
            scheme: Some(o.scheme.clone()),
            token68: o.token68.clone(),
            params: o.params.iter().map(|p| (p.name.clone(), p.value.clone())).collect(),
            ..blank("other")
        },
        ParsedChallenge::Malformed { line, error } => {
            ParsedCase { code: Some(error.code().into()), line: Some(*line), ..blank("malformed") }
        }
        _ => panic!("a new ParsedChallenge variant needs a vector kind"),
    }
}

fn selected_case(offered: &[ParsedChallenge]) -> (Option<SelectedCase>, Option<String>) {
    match select(offered) {
        Ok(c) => (
            Some(SelectedCase {
                scheme: c.scheme.as_str().into(),
                macaroon: c.macaroon_text.clone(),
                invoice: c.invoice.clone(),
            }),
            None,
        ),
        Err(e) => (None, Some(e.code().into())),
    }
}

/// What a case must give: the scheme and macaroon text of the selected challenge, or a code.
type Expect<'a> = Result<(&'a str, &'a str), &'a str>;

fn check_selected(
    c: &mut Check,
    name: &str,
    sel: &Option<SelectedCase>,
    code: &Option<String>,
    want: Expect<'_>,
) {
    let ok = match want {
        Ok((scheme, mac)) => sel.as_ref().is_some_and(|s| s.scheme == scheme && s.macaroon == mac),
        Err(want) => code.as_deref() == Some(want),
    };
    c.expect(name, &format!("expected {want:?}, got {sel:?} / {code:?}"), ok);
}

struct Challenges<'c> {
    check: &'c mut Check,
    out: Vec<ChallengeCase>,
}

impl Challenges<'_> {
    fn add(
        &mut self,
        name: &str,
        source: &str,
        lines: &[&str],
        want: Expect<'_>,
        peers: Option<&str>,
    ) {
        let (parsed, selected, select_code) =
            match parse_challenge_lines(lines.iter().copied(), &Limits::DEFAULT) {
                Ok(items) => {
                    let (s, code) = selected_case(&items);
                    (items.iter().map(parsed_case).collect(), s, code)
                }
                Err(e) => (Vec::new(), None, Some(e.code().to_owned())),
            };
        check_selected(self.check, name, &selected, &select_code, want);
        self.out.push(ChallengeCase {
            name: name.into(),
            source: source.into(),
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
            parsed,
            selected,
            select_code,
            peers: peers.map(Into::into),
        });
    }
}

fn challenges(c: &mut Check) -> Vec<ChallengeCase> {
    let (m, _) = ours();
    let mac = m.to_base64();
    let mac = mac.as_str();
    let url = l402_token::text::encode_base64(&m.encode()).replace('+', "-").replace('/', "_");
    let url = url.trim_end_matches('=');
    let inv = APERTURE_A2_INVOICE;
    let mut s = Challenges { check: c, out: Vec::new() };
    let unquoted = "lsat-js rejects unquoted values; RFC 9110 allows a token and the value is one";

    // lsat-js data.ts: `aperture.challenge` is a whole field value; the others are the
    // parameter part, which lsat-js parses after its 4-character scheme.
    s.add(
        "lsat-js-aperture-challenge",
        LSAT_JS,
        &[&format!("LSAT macaroon=\"{APERTURE_MAC}\", invoice=\"{APERTURE_INVOICE}\"")],
        Ok(("LSAT", APERTURE_MAC)),
        None,
    );
    s.add(
        "lsat-js-challenge-with-space",
        LSAT_JS,
        &[&format!("L402 macaroon=\"{BOLTWALL_MAC}\" invoice=\"{LSAT_JS_INVOICE}\"")],
        Ok(("L402", BOLTWALL_MAC)),
        Some("RFC 9110 needs a comma between parameters; accepted like lsat-js (decision 0401)"),
    );
    s.add(
        "lsat-js-challenge-without-space",
        LSAT_JS,
        &[&format!("L402 macaroon=\"{BOLTWALL_MAC}\",invoice=\"{LSAT_JS_INVOICE}\"")],
        Ok(("L402", BOLTWALL_MAC)),
        None,
    );
    s.add(
        "lsat-js-golang-macaroon",
        LSAT_JS,
        &[&format!("L402 macaroon=\"{GO_MAC}\", invoice=\"{GO_INVOICE}\"")],
        Ok(("L402", GO_MAC)),
        None,
    );
    s.add(
        "lsat-js-error-missing-invoice",
        LSAT_JS,
        &[&format!("L402 macaroon={BOLTWALL_MAC}")],
        Err("missing-parameter"),
        None,
    );
    s.add(
        "lsat-js-error-missing-macaroon",
        LSAT_JS,
        &[&format!("L402 invoice=\"{LSAT_JS_INVOICE}\"")],
        Err("missing-parameter"),
        None,
    );
    s.add(
        "lsat-js-error-macaroon-not-quoted",
        LSAT_JS,
        &[&format!("L402 macaroon={BOLTWALL_MAC_2}, invoice=\"{LSAT_JS_INVOICE}\"")],
        Ok(("L402", BOLTWALL_MAC_2)),
        Some(unquoted),
    );
    s.add(
        "lsat-js-error-invoice-not-quoted",
        LSAT_JS,
        &[&format!("L402 macaroon=\"{BOLTWALL_MAC_2}\" invoice={LSAT_JS_INVOICE}")],
        Ok(("L402", BOLTWALL_MAC_2)),
        Some(unquoted),
    );
    s.add(
        "lsat-js-error-neither-quoted",
        LSAT_JS,
        &[&format!("L402 macaroon={BOLTWALL_MAC_2} invoice={LSAT_JS_INVOICE}")],
        Ok(("L402", BOLTWALL_MAC_2)),
        Some(unquoted),
    );

    // Aperture: the LSAT line first, then the L402 line, same values.
    let lsat_line = format!("LSAT macaroon=\"{APERTURE_B2_MAC}\", invoice=\"{inv}\"");
    let l402_line = format!("L402 macaroon=\"{APERTURE_B2_MAC}\", invoice=\"{inv}\"");
    s.add(
        "aperture-two-lines",
        APERTURE,
        &[&lsat_line, &l402_line],
        Ok(("L402", APERTURE_B2_MAC)),
        Some("lsat-js, lnget and Aperture's client answer the first (LSAT) line; Alby the last"),
    );
    s.add(
        "aperture-folded-into-one-line",
        APERTURE,
        &[&format!("{lsat_line}, {l402_line}")],
        Ok(("L402", APERTURE_B2_MAC)),
        None,
    );
    s.add("aperture-l402-line-only", APERTURE, &[&l402_line], Ok(("L402", APERTURE_B2_MAC)), None);
    let payment = "Payment id=\"kM9xPqWvT2nJrHsY\", realm=\"api.example.com\", method=\"lightning\", intent=\"charge\", request=\"eyJhbW91bnQiOiIxMDAwIn0\", expires=\"2026-01-01T00:00:00Z\"";
    s.add(
        "aperture-with-payment-scheme",
        APERTURE,
        &[&lsat_line, &l402_line, payment],
        Ok(("L402", APERTURE_B2_MAC)),
        None,
    );
    s.add(
        "aperture-mock-placeholder-macaroon",
        APERTURE,
        &[
            &format!("LSAT macaroon=\"{PLACEHOLDER_MAC}\", invoice=\"{SPEC_INVOICE}\""),
            &format!("L402 macaroon=\"{PLACEHOLDER_MAC}\", invoice=\"{SPEC_INVOICE}\""),
        ],
        Err("malformed-macaroon"),
        None,
    );
    s.add(
        "spec-version-token-example",
        SPEC,
        &[&format!("L402 version=\"0\", token=\"{PLACEHOLDER_MAC}\", invoice=\"{SPEC_INVOICE}\"")],
        Err("malformed-macaroon"),
        None,
    );

    // Ours: every accepted spelling, then every rejection.
    s.add(
        "version-token",
        OURS,
        &[&format!("L402 version=\"0\", token=\"{mac}\", invoice=\"{inv}\"")],
        Ok(("L402", mac)),
        Some("lsat-js, lnget and Aperture's client cannot parse token="),
    );
    s.add(
        "macaroon-and-token-same-value",
        OURS,
        &[&format!("L402 version=\"0\", token=\"{mac}\", macaroon=\"{mac}\", invoice=\"{inv}\"")],
        Ok(("L402", mac)),
        None,
    );
    s.add(
        "lsat-only",
        OURS,
        &[&format!("LSAT macaroon=\"{mac}\", invoice=\"{inv}\"")],
        Ok(("LSAT", mac)),
        None,
    );
    s.add(
        "names-in-any-case",
        OURS,
        &[&format!("l402 MACAROON=\"{mac}\", Invoice=\"{inv}\", VERSION=\"0\"")],
        Ok(("L402", mac)),
        Some("Aperture's client and lnget-era regexes are case-sensitive"),
    );
    s.add(
        "version-0-as-token",
        OURS,
        &[&format!("L402 version=0, macaroon=\"{mac}\", invoice=\"{inv}\"")],
        Ok(("L402", mac)),
        None,
    );
    s.add(
        "unknown-parameters-ignored",
        OURS,
        &[&format!("L402 realm=\"api\", macaroon=\"{mac}\", invoice=\"{inv}\", foo=bar")],
        Ok(("L402", mac)),
        None,
    );
    s.add(
        "invoice-before-macaroon",
        OURS,
        &[&format!("L402 invoice=\"{inv}\", macaroon=\"{mac}\"")],
        Ok(("L402", mac)),
        Some("Aperture's client regex needs macaroon first"),
    );
    s.add(
        "whitespace-around-equals",
        OURS,
        &[&format!("L402 macaroon = \"{mac}\" , invoice= \"{inv}\"")],
        Ok(("L402", mac)),
        None,
    );
    s.add(
        "empty-list-elements",
        OURS,
        &[&format!(", L402 macaroon=\"{mac}\",, invoice=\"{inv}\",")],
        Ok(("L402", mac)),
        None,
    );
    let escaped: String = inv.chars().flat_map(|ch| ['\\', ch]).collect();
    s.add(
        "quoted-pairs",
        OURS,
        &[&format!("L402 macaroon=\"{mac}\", invoice=\"{escaped}\"")],
        Ok(("L402", mac)),
        None,
    );
    s.add(
        "url-safe-unpadded-macaroon",
        OURS,
        &[&format!("L402 macaroon=\"{url}\", invoice=\"{inv}\"")],
        Ok(("L402", url)),
        Some("Aperture and lnget decode only standard padded base64"),
    );
    s.add(
        "basic-then-l402-in-one-line",
        OURS,
        &[&format!("Basic realm=\"a, b\", L402 macaroon=\"{mac}\", invoice=\"{inv}\"")],
        Ok(("L402", mac)),
        None,
    );
    s.add(
        "bad-l402-then-good-lsat",
        OURS,
        &[
            &format!("L402 macaroon=\"!!\", invoice=\"{inv}\""),
            &format!("LSAT macaroon=\"{mac}\", invoice=\"{inv}\""),
        ],
        Ok(("LSAT", mac)),
        None,
    );
    s.add(
        "malformed-line-does-not-hide-good-line",
        OURS,
        &[
            &format!("L402 macaroon=\"{mac}"),
            &format!("L402 macaroon=\"{mac}\", invoice=\"{inv}\""),
        ],
        Ok(("L402", mac)),
        None,
    );
    let other = ours_other().0.to_base64();
    s.add(
        "macaroon-and-token-differ",
        OURS,
        &[&format!("L402 token=\"{other}\", macaroon=\"{mac}\", invoice=\"{inv}\"")],
        Err("duplicate-parameter"),
        None,
    );
    s.add(
        "duplicate-invoice",
        OURS,
        &[&format!("L402 macaroon=\"{mac}\", invoice=\"{inv}\", invoice=\"{inv}\"")],
        Err("duplicate-parameter"),
        None,
    );
    s.add(
        "duplicate-name-in-other-case",
        OURS,
        &[&format!("L402 macaroon=\"{mac}\", MACAROON=\"{mac}\", invoice=\"{inv}\"")],
        Err("duplicate-parameter"),
        None,
    );
    s.add(
        "version-1",
        OURS,
        &[&format!("L402 version=\"1\", token=\"{mac}\", invoice=\"{inv}\"")],
        Err("unsupported-version"),
        None,
    );
    s.add(
        "empty-invoice",
        OURS,
        &[&format!("L402 macaroon=\"{mac}\", invoice=\"\"")],
        Err("missing-parameter"),
        None,
    );
    s.add(
        "empty-macaroon",
        OURS,
        &[&format!("L402 macaroon=\"\", invoice=\"{inv}\"")],
        Err("malformed-macaroon"),
        None,
    );
    s.add("token68-body", OURS, &[&format!("L402 {mac}")], Err("missing-parameter"), None);
    s.add("scheme-alone", OURS, &["L402"], Err("missing-parameter"), None);
    s.add(
        "other-schemes-only",
        OURS,
        &["Basic realm=\"x\", Bearer realm=\"y\", error=\"invalid_token\"", "Negotiate abc=="],
        Err("missing-challenge"),
        None,
    );
    s.add("empty-field", OURS, &[""], Err("missing-challenge"), None);
    s.add("no-field", OURS, &[], Err("missing-challenge"), None);
    s.add(
        "unterminated-quote",
        OURS,
        &[&format!("L402 macaroon=\"{mac}, invoice=\"{inv}")],
        Err("malformed-challenge"),
        None,
    );
    s.add(
        "tab-after-scheme",
        OURS,
        &[&format!("L402\tmacaroon=\"{mac}\", invoice=\"{inv}\"")],
        Err("malformed-challenge"),
        None,
    );
    s.add(
        "parameters-without-scheme",
        OURS,
        &[&format!("macaroon=\"{mac}\", invoice=\"{inv}\"")],
        Err("malformed-challenge"),
        None,
    );
    s.add(
        "non-ascii-in-quoted-string",
        OURS,
        &[&format!("L402 macaroon=\"{mac}\", invoice=\"{inv}\u{e9}\"")],
        Err("malformed-challenge"),
        None,
    );
    let huge = "a".repeat(Limits::DEFAULT.max_field_len);
    s.add(
        "header-too-large",
        OURS,
        &[&format!("L402 macaroon=\"{mac}\", invoice=\"{huge}\"")],
        Err("header-too-large"),
        None,
    );
    let line = format!("L402 macaroon=\"{mac}\", invoice=\"{inv}\"");
    let many: Vec<&str> = (0..=Limits::DEFAULT.max_fields).map(|_| line.as_str()).collect();
    s.add("too-many-headers", OURS, &many, Err("too-many-headers"), None);
    s.out
}

fn emitted_challenges(c: &mut Check) -> Vec<EmitChallengeCase> {
    let (m, _) = ours();
    let aperture = Macaroon::from_base64(APERTURE_B2_MAC).unwrap_or_else(|e| panic!("B2: {e}"));
    let mut out = Vec::new();
    for (name, source, mac, inv) in [
        ("ours", OURS, &m, APERTURE_A2_INVOICE),
        ("aperture-client-interceptor-test", APERTURE, &aperture, APERTURE_A2_INVOICE),
    ] {
        for (style, label) in [
            (ChallengeStyle::Aperture, "aperture"),
            (ChallengeStyle::L402, "l402"),
            (ChallengeStyle::VersionToken, "version-token"),
        ] {
            let lines: Vec<String> = challenge_values(mac, inv, style)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .iter()
                .map(|v| v.to_str().unwrap_or_default().to_owned())
                .collect();
            out.push(EmitChallengeCase {
                name: format!("{name}-{label}"),
                source: source.into(),
                macaroon: mac.to_base64(),
                invoice: inv.into(),
                style: label.into(),
                lines,
            });
        }
    }
    // Aperture's client_interceptor_test builds exactly these two lines (A2, serialized B2).
    let want = vec![
        format!("LSAT macaroon=\"{APERTURE_B2_MAC}\", invoice=\"{APERTURE_A2_INVOICE}\""),
        format!("L402 macaroon=\"{APERTURE_B2_MAC}\", invoice=\"{APERTURE_A2_INVOICE}\""),
    ];
    let got = out.iter().find(|e| e.name == "aperture-client-interceptor-test-aperture");
    c.expect(
        "aperture-client-interceptor-test-aperture",
        "Aperture's lines",
        got.map(|e| &e.lines) == Some(&want),
    );
    out
}

fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        let name = HeaderName::from_bytes(n.as_bytes()).unwrap_or_else(|e| panic!("{n}: {e}"));
        let value = HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{n}: {e}"));
        h.append(name, value);
    }
    h
}

fn source_name(s: CredentialSource) -> &'static str {
    match s {
        CredentialSource::Authorization => "authorization",
        CredentialSource::GrpcMetadataMacaroon => "grpc-metadata-macaroon",
        CredentialSource::Macaroon => "macaroon",
        _ => "token",
    }
}

struct Credentials<'c> {
    check: &'c mut Check,
    out: Vec<CredentialCase>,
}

impl Credentials<'_> {
    /// `want`: the preimage (lower-case hex) the credential carries, or the code.
    fn add(
        &mut self,
        name: &str,
        source: &str,
        pairs: &[(&str, &str)],
        want: Result<&str, &str>,
        peers: Option<&str>,
    ) {
        let headers: Vec<(String, String)> =
            pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        let got: Result<Credential, Error> = Credential::from_headers(&header_map(&headers));
        let ok = match (&got, want) {
            (Ok(cred), Ok(p)) => cred.preimage.to_hex() == p,
            (Err(e), Err(code)) => e.code() == code,
            _ => false,
        };
        self.check.expect(name, &format!("expected {want:?}, got {got:?}"), ok);
        let cred = got.as_ref().ok();
        self.out.push(CredentialCase {
            name: name.into(),
            source: source.into(),
            headers,
            scheme: cred.map(|c| c.scheme.as_str().into()),
            macaroon: cred.map(|c| c.macaroon.to_base64()),
            preimage: cred.map(|c| c.preimage.to_hex()),
            credential_source: cred.map(|c| source_name(c.source).into()),
            code: got.as_ref().err().map(|e| e.code().into()),
            peers: peers.map(Into::into),
        });
    }
}

fn credentials(c: &mut Check) -> Vec<CredentialCase> {
    let (m, p) = ours();
    let (m2, p2) = ours_other();
    let mac = m.to_base64();
    let pre = p.to_hex();
    let auth = format!("L402 {mac}:{pre}");
    let hex_paid = Credential::new(m.clone(), p.clone()).to_hex_value();
    let hex_paid = hex_paid.to_str().unwrap_or_default().to_owned();
    let mut s = Credentials { check: c, out: Vec::new() };
    const A: &str = "authorization";
    let b1_pre = APERTURE_B1_PREIMAGE;

    // Aperture auth/authenticator_test.go (A1, serialized B1): every accepted form, and the
    // negative header values it tests.
    s.add(
        "aperture-l402",
        APERTURE,
        &[(A, &format!("L402 {APERTURE_B1_MAC}:{b1_pre}"))],
        Ok(b1_pre),
        None,
    );
    s.add(
        "aperture-lsat",
        APERTURE,
        &[(A, &format!("LSAT {APERTURE_B1_MAC}:{b1_pre}"))],
        Ok(b1_pre),
        None,
    );
    s.add(
        "aperture-grpc-metadata-macaroon",
        APERTURE,
        &[("grpc-metadata-macaroon", APERTURE_B1_HEX)],
        Ok(b1_pre),
        None,
    );
    s.add("aperture-macaroon-header", APERTURE, &[("macaroon", APERTURE_B1_HEX)], Ok(b1_pre), None);
    s.add("aperture-authorization-foo", APERTURE, &[(A, "foo")], Err("missing-credential"), None);
    s.add("aperture-authorization-empty", APERTURE, &[(A, "")], Err("missing-credential"), None);
    s.add(
        "aperture-grpc-metadata-macaroon-foo",
        APERTURE,
        &[("grpc-metadata-macaroon", "foo")],
        Err("malformed-macaroon"),
        None,
    );
    s.add(
        "aperture-macaroon-header-foo",
        APERTURE,
        &[("macaroon", "foo")],
        Err("malformed-macaroon"),
        None,
    );
    s.add(
        "aperture-unrelated-header",
        APERTURE,
        &[("test", "foo")],
        Err("missing-credential"),
        None,
    );
    // Aperture's SetHeader pair (LSAT then L402) for the synthetic token C, and its paid form.
    s.add(
        "aperture-set-header-pair",
        APERTURE,
        &[
            (A, &format!("LSAT {APERTURE_C_MAC}:{APERTURE_C_PREIMAGE}")),
            (A, &format!("L402 {APERTURE_C_MAC}:{APERTURE_C_PREIMAGE}")),
        ],
        Ok(APERTURE_C_PREIMAGE),
        None,
    );
    s.add(
        "aperture-paid-grpc-metadata",
        APERTURE,
        &[("grpc-metadata-macaroon", APERTURE_C_PAID_HEX)],
        Ok(APERTURE_C_PREIMAGE),
        None,
    );
    s.add(
        "aperture-client-interceptor-paid-macaroon",
        APERTURE,
        &[("macaroon", APERTURE_B3_HEX)],
        Ok("0102030405000000000000000000000000000000000000000000000000000000"),
        None,
    );
    s.add(
        "spec-example",
        SPEC,
        &[(A, &format!("L402 {PLACEHOLDER_MAC}:1234abcd1234abcd1234abcd"))],
        Err("malformed-preimage"),
        Some("illustrative only: a 12-byte preimage and a macaroon that does not decode"),
    );

    // Ours: accepted spellings.
    s.add("canonical", OURS, &[(A, &auth)], Ok(&pre), None);
    s.add(
        "lower-case-scheme",
        OURS,
        &[(A, &format!("l402 {mac}:{pre}"))],
        Ok(&pre),
        Some("Aperture's regex is case-sensitive"),
    );
    s.add(
        "mixed-case-lsat",
        OURS,
        &[(A, &format!("lSaT {mac}:{pre}"))],
        Ok(&pre),
        Some("lsat-js fromToken accepts only LSAT; Aperture is case-sensitive"),
    );
    s.add(
        "several-spaces",
        OURS,
        &[(A, &format!("L402   {mac}:{pre}"))],
        Ok(&pre),
        Some("Aperture expects exactly one space"),
    );
    s.add(
        "upper-case-preimage",
        OURS,
        &[(A, &format!("L402 {mac}:{}", pre.to_uppercase()))],
        Ok(&pre),
        Some("Aperture's regex and lsat-js take lower-case hex only"),
    );
    let url = mac.replace('+', "-").replace('/', "_");
    s.add(
        "url-safe-unpadded-macaroon",
        OURS,
        &[(A, &format!("L402 {}:{pre}", url.trim_end_matches('=')))],
        Ok(&pre),
        Some("Aperture decodes only standard padded base64"),
    );
    s.add(
        "l402-and-lsat-agree",
        OURS,
        &[(A, &format!("LSAT {mac}:{pre}")), (A, &auth)],
        Ok(&pre),
        None,
    );
    s.add(
        "other-scheme-ignored",
        OURS,
        &[(A, "Bearer abc"), (A, &auth)],
        Ok(&pre),
        Some("Aperture's loop lets the last value decide"),
    );
    s.add(
        "authorization-before-macaroon-header",
        OURS,
        &[(A, &auth), ("macaroon", APERTURE_B1_HEX)],
        Ok(&pre),
        None,
    );
    s.add(
        "grpc-metadata-before-macaroon-header",
        OURS,
        &[("macaroon", APERTURE_B1_HEX), ("grpc-metadata-macaroon", &hex_paid)],
        Ok(&pre),
        None,
    );
    s.add(
        "token-metadata-on-grpc-request",
        OURS,
        &[("content-type", "application/grpc+proto"), ("token", &hex_paid)],
        Ok(&pre),
        Some("Aperture reads only the macaroon key"),
    );
    let two_preimages =
        Credential::new(m.clone().with_caveat(format!("preimage={}", p2.to_hex())), p.clone())
            .to_hex_value();
    s.add(
        "last-preimage-caveat-wins",
        OURS,
        &[("macaroon", two_preimages.to_str().unwrap_or_default())],
        Ok(&pre),
        None,
    );

    // Ours: rejections.
    s.add("no-headers", OURS, &[], Err("missing-credential"), None);
    s.add("other-scheme-only", OURS, &[(A, "Basic dXNlcjpwYXNz")], Err("missing-credential"), None);
    s.add(
        "token-header-on-http-request",
        OURS,
        &[("token", &hex_paid)],
        Err("missing-credential"),
        None,
    );
    s.add(
        "two-macaroons",
        OURS,
        &[(A, &format!("L402 {mac},{}:{pre}", m2.to_base64()))],
        Err("multiple-macaroons"),
        Some("lsat-js fails; Alby returns one joined string; Aperture's base64 decode fails"),
    );
    // The LSAT spec's list, read as attenuations of one token (decision 0402).
    let narrower = m.clone().with_caveat("max_uses=1").to_base64();
    s.add(
        "two-attenuations-of-one-token",
        OURS,
        &[(A, &format!("L402 {mac},{narrower}:{pre}"))],
        Ok(&pre),
        Some("no known peer reads a list; Aperture's base64 decode fails (aperture #143)"),
    );
    s.add("scheme-alone", OURS, &[(A, "L402")], Err("malformed-credential"), None);
    s.add("no-colon", OURS, &[(A, &format!("L402 {mac}{pre}"))], Err("malformed-credential"), None);
    s.add("no-macaroon", OURS, &[(A, &format!("L402 :{pre}"))], Err("malformed-credential"), None);
    s.add(
        "tab-after-scheme",
        OURS,
        &[(A, &format!("L402\t{mac}:{pre}"))],
        Err("malformed-credential"),
        None,
    );
    s.add(
        "preimage-63-digits",
        OURS,
        &[(A, &format!("L402 {mac}:{}", &pre[1..]))],
        Err("malformed-preimage"),
        None,
    );
    s.add(
        "preimage-65-digits",
        OURS,
        &[(A, &format!("L402 {mac}:{pre}0"))],
        Err("malformed-preimage"),
        None,
    );
    s.add(
        "preimage-trailing-junk",
        OURS,
        &[(A, &format!("L402 {mac}:{pre} x"))],
        Err("malformed-preimage"),
        Some("Aperture's unanchored regex ignores what follows 64 hex digits"),
    );
    s.add(
        "preimage-not-hex",
        OURS,
        &[(A, &format!("L402 {mac}:{}", "g".repeat(64)))],
        Err("malformed-preimage"),
        None,
    );
    s.add(
        "macaroon-not-base64",
        OURS,
        &[(A, &format!("L402 {}:{pre}", mac.replacen('A', "*", 1)))],
        Err("malformed-macaroon"),
        None,
    );
    s.add(
        "conflicting-preimages",
        OURS,
        &[(A, &auth), (A, &format!("L402 {mac}:{}", p2.to_hex()))],
        Err("conflicting-credentials"),
        Some("Aperture uses the last value"),
    );
    s.add(
        "conflicting-macaroons",
        OURS,
        &[(A, &auth), (A, &format!("L402 {}:{pre}", m2.to_base64()))],
        Err("conflicting-credentials"),
        None,
    );
    s.add(
        "second-value-malformed",
        OURS,
        &[(A, &auth), (A, &format!("L402 {mac}:00"))],
        Err("malformed-preimage"),
        None,
    );
    s.add(
        "conflicting-macaroon-headers",
        OURS,
        &[("macaroon", &hex_paid), ("macaroon", APERTURE_B1_HEX)],
        Err("conflicting-credentials"),
        None,
    );
    s.add(
        "hex-without-preimage-caveat",
        OURS,
        &[("macaroon", &m.to_hex())],
        Err("missing-preimage"),
        None,
    );
    s.add(
        "hex-with-bad-preimage-caveat",
        OURS,
        &[("macaroon", &m.clone().with_caveat("preimage=xyz").to_hex())],
        Err("malformed-preimage"),
        None,
    );
    let huge = format!("L402 {}:{pre}", "A".repeat(Limits::DEFAULT.max_field_len));
    s.add("header-too-large", OURS, &[(A, &huge)], Err("header-too-large"), None);
    let many: Vec<(&str, &str)> =
        (0..=Limits::DEFAULT.max_fields).map(|_| (A, auth.as_str())).collect();
    s.add("too-many-headers", OURS, &many, Err("too-many-headers"), None);
    s.out
}

fn emitted_credentials(c: &mut Check) -> Vec<EmitCredentialCase> {
    let (m, p) = ours();
    let mut out = Vec::new();
    let known = [
        ("ours", OURS, m.to_base64(), p.to_hex(), None),
        (
            "aperture-shaped-service1",
            APERTURE,
            APERTURE_C_MAC.to_owned(),
            APERTURE_C_PREIMAGE.to_owned(),
            Some(APERTURE_C_PAID_HEX),
        ),
        (
            "aperture-client-interceptor-test",
            APERTURE,
            APERTURE_B2_MAC.to_owned(),
            "0102030405000000000000000000000000000000000000000000000000000000".to_owned(),
            Some(APERTURE_B3_HEX),
        ),
    ];
    for (name, source, mac, pre, want_hex) in known {
        let m = Macaroon::from_base64(&mac).unwrap_or_else(|e| panic!("{name}: {e}"));
        let p = Preimage::from_hex(&pre).unwrap_or_else(|e| panic!("{name}: {e}"));
        let cred = Credential::new(m, p);
        let authorization = cred.to_authorization_value().to_str().unwrap_or_default().to_owned();
        let grpc_metadata = cred.to_hex_value().to_str().unwrap_or_default().to_owned();
        c.expect(name, "authorization", authorization == format!("L402 {mac}:{pre}"));
        if let Some(want) = want_hex {
            c.expect(name, "paid macaroon hex (Aperture's gRPC credential)", grpc_metadata == want);
        }
        out.push(EmitCredentialCase {
            name: name.into(),
            source: source.into(),
            macaroon: mac,
            preimage: pre,
            authorization,
            grpc_metadata,
        });
    }
    out
}

/// Name, source, header lines, and the expected selection (`None`: not a payment challenge).
type GrpcSpec<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Option<Expect<'a>>);

fn grpc_cases(c: &mut Check) -> Vec<GrpcCase> {
    let (m, _) = ours();
    let inv = APERTURE_A2_INVOICE;
    let mut legacy = HeaderMap::new();
    grpc::write_legacy_challenge(&mut legacy, &m, inv).unwrap_or_else(|e| panic!("legacy: {e}"));
    let legacy_details = legacy
        .get("grpc-status-details-bin")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let lsat_line = format!("LSAT macaroon=\"{APERTURE_B2_MAC}\", invoice=\"{inv}\"");
    let l402_line = format!("L402 macaroon=\"{APERTURE_B2_MAC}\", invoice=\"{inv}\"");
    let mac = m.to_base64();
    let placeholder_line =
        format!("LSAT macaroon=\"{PLACEHOLDER_MAC}\", invoice=\"{SPEC_INVOICE}\"");
    let ct = ("content-type", "application/grpc");
    let cases: Vec<GrpcSpec<'_>> = vec![
        (
            "aperture-trailers-only",
            APERTURE,
            vec![
                ct,
                ("grpc-status", "13"),
                ("grpc-message", "payment required"),
                ("www-authenticate", &lsat_line),
                ("www-authenticate", &l402_line),
            ],
            Some(Ok(("L402", APERTURE_B2_MAC))),
        ),
        (
            "aperture-mock-placeholder",
            APERTURE,
            vec![
                ct,
                ("grpc-status", "13"),
                ("grpc-message", "payment required"),
                ("www-authenticate", &placeholder_line),
            ],
            Some(Err("malformed-macaroon")),
        ),
        (
            "status-unknown-mixed-case-message",
            OURS,
            vec![
                ct,
                ("grpc-status", "2"),
                ("grpc-message", "rpc error: Payment Required"),
                ("www-authenticate", &l402_line),
            ],
            Some(Ok(("L402", APERTURE_B2_MAC))),
        ),
        (
            "percent-encoded-message",
            OURS,
            vec![
                ct,
                ("grpc-status", "13"),
                ("grpc-message", "payment%20required"),
                ("www-authenticate", &l402_line),
            ],
            Some(Ok(("L402", APERTURE_B2_MAC))),
        ),
        (
            "payment-required-without-challenge",
            OURS,
            vec![ct, ("grpc-status", "13"), ("grpc-message", "payment required")],
            Some(Err("missing-challenge")),
        ),
        (
            "status-internal-other-message",
            OURS,
            vec![
                ct,
                ("grpc-status", "13"),
                ("grpc-message", "internal error"),
                ("www-authenticate", &l402_line),
            ],
            None,
        ),
        ("status-ok", OURS, vec![ct, ("grpc-status", "0")], None),
        (
            "status-unauthenticated",
            OURS,
            vec![ct, ("grpc-status", "16"), ("grpc-message", "payment required")],
            None,
        ),
        (
            "legacy-status-details",
            OURS,
            vec![
                ct,
                ("grpc-status", "402"),
                ("grpc-message", "missing L402"),
                ("grpc-status-details-bin", &legacy_details),
            ],
            Some(Ok(("L402", &mac))),
        ),
        (
            "legacy-status-details-not-base64",
            OURS,
            vec![
                ct,
                ("grpc-status", "402"),
                ("grpc-message", "missing L402"),
                ("grpc-status-details-bin", "!!!"),
            ],
            Some(Err("malformed-status-details")),
        ),
        (
            "legacy-status-details-truncated",
            OURS,
            vec![
                ct,
                ("grpc-status", "402"),
                ("grpc-status-details-bin", &legacy_details[..legacy_details.len() / 2]),
            ],
            Some(Err("malformed-status-details")),
        ),
    ];
    let mut out = Vec::new();
    for (name, source, pairs, want) in cases {
        let headers: Vec<(String, String)> =
            pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        let map = header_map(&headers);
        let (selected, code) = match grpc::read_challenges(&map) {
            Ok(Some(items)) => selected_case(&items),
            Ok(None) => (None, None),
            Err(e) => (None, Some(e.code().to_owned())),
        };
        let payment_required = grpc::is_payment_required(&map);
        match want {
            Some(w) => check_selected(c, name, &selected, &code, w),
            None => {
                c.expect(name, "not a payment challenge", !payment_required && selected.is_none())
            }
        }
        out.push(GrpcCase {
            name: name.into(),
            source: source.into(),
            headers,
            payment_required,
            selected,
            code,
        });
    }
    out
}

pub(crate) fn build(c: &mut Check) -> HttpVectors {
    HttpVectors {
        version: 1,
        challenges: challenges(c),
        emitted_challenges: emitted_challenges(c),
        credentials: credentials(c),
        emitted_credentials: emitted_credentials(c),
        grpc: grpc_cases(c),
        token_status: token_status_cases(c),
    }
}

/// `L402-Token-Status` lines with their readings written out by hand from RFC 8941 and
/// decision 0604, then checked against the reader (and, for `emitted`, the writer).
fn token_status_cases(c: &mut Check) -> Vec<TokenStatusCase> {
    const RFC: &str = "RFC 8941 dictionary, decision 0604";
    let v = |expires, remaining| Some(TokenStatusValue { expires, remaining });
    let cases: &[(&str, &[&str], Option<TokenStatusValue>, bool)] = &[
        (
            "both-members",
            &["expires=1700000000, remaining=4"],
            v(Some(1_700_000_000), Some(4)),
            true,
        ),
        ("expiry-only", &["expires=1700000000"], v(Some(1_700_000_000), None), true),
        ("allowance-only", &["remaining=0"], v(None, Some(0)), true),
        (
            "largest-integer",
            &["remaining=999999999999999"],
            v(None, Some(999_999_999_999_999)),
            true,
        ),
        ("no-space-after-comma", &["remaining=2,expires=9"], v(Some(9), Some(2)), false),
        ("tabs-around-members", &["\tremaining=2 ,\texpires=9"], v(Some(9), Some(2)), false),
        ("unknown-members-skipped", &["v=2, remaining=5, future=\"x\""], v(None, Some(5)), false),
        ("boolean-member-skipped", &["fresh, remaining=5"], v(None, Some(5)), false),
        ("parameters-skipped", &["remaining=5;src=cache"], v(None, Some(5)), false),
        ("last-repeat-wins", &["remaining=5, remaining=4"], v(None, Some(4)), false),
        ("lines-join", &["expires=9", "remaining=2, expires=8"], v(Some(8), Some(2)), false),
        ("says-nothing", &["v=1"], None, false),
        ("empty", &[""], None, false),
        ("negative", &["remaining=-1"], None, false),
        ("decimal", &["remaining=1.5"], None, false),
        ("string", &["remaining=\"3\""], None, false),
        ("sixteen-digits", &["expires=1234567890123456"], None, false),
        ("upper-case-key", &["Remaining=3"], None, false),
        ("trailing-comma", &["remaining=3,"], None, false),
        ("empty-key", &["=3"], None, false),
        ("empty-value", &["remaining="], None, false),
        ("key-starts-with-digit", &["9lives=1, remaining=3"], None, false),
        ("one-bad-line-spoils-all", &["remaining=2", "expires=x"], None, false),
    ];
    let mut out = Vec::new();
    for (name, lines, read, emitted) in cases {
        let mut h = HeaderMap::new();
        for line in *lines {
            match HeaderValue::from_str(line) {
                Ok(v) => {
                    h.append(TOKEN_STATUS, v);
                }
                Err(_) => c.expect(name, "line is a valid field value", false),
            }
        }
        let got = TokenStatus::from_headers(&h)
            .map(|s| TokenStatusValue { expires: s.expires, remaining: s.remaining });
        c.expect(name, "reader agrees with the hand-written reading", got == *read);
        if *emitted {
            let written = read
                .map(|r| TokenStatus { expires: r.expires, remaining: r.remaining })
                .and_then(|s| s.to_header_value());
            let same = written.as_ref().and_then(|w| w.to_str().ok()) == lines.first().copied();
            c.expect(name, "writer emits exactly this line", same);
        }
        out.push(TokenStatusCase {
            name: (*name).to_owned(),
            source: RFC.to_owned(),
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
            read: *read,
            emitted: *emitted,
        });
    }
    out
}
