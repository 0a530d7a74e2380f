//! Builds `spec-vectors/caveats.json`.
//!
//! Every case carries its expected outcome as a literal: for Aperture's test data
//! (aperture-vectors.md A6-A8) and the synthetic Aperture-shaped token (section C) the
//! literal is what Aperture does; for ours it is what `docs/caveats.md` says. The generator
//! refuses to write a file in which `l402-caveats` disagrees with any literal.

use l402_caveats::{Caveat, Context, Verifier};
use l402_token::{Identifier, Macaroon, Preimage, TokenId};
use l402_vectors::caveats::{CaveatVectors, ContextCase, EvaluationCase, ParseCase, TokenCase};

use super::{seeded, Check};

const A6: &str = "aperture l402/service_test.go @ 7ee3ed7 (aperture-vectors.md A6)";
const A7: &str = "aperture l402/caveat_test.go @ 7ee3ed7 (aperture-vectors.md A7)";
const A8: &str =
    "aperture l402/satisfier_test.go TestTimeoutSatisfier @ 7ee3ed7 (aperture-vectors.md A8)";
const C: &str = "shared research, synthetic Aperture-shaped token (aperture-vectors.md C)";
const OURS: &str = "ours (docs/caveats.md)";

const C_TOKEN: &str = "AgEEbHNhdAJCAABjDc0pZsQzZpESVEi7sltP9BKknHMtssirwbhYG9cQ3RERERERERERERERERERERERERERERERERERERERERERAAITc2VydmljZXM9c2VydmljZTE6MAACInNlcnZpY2UxX2NhcGFiaWxpdGllcz1hZGQsc3VidHJhY3QAAh9zZXJ2aWNlMV92YWxpZF91bnRpbD0xNzAwMDAwMDAwAAAGIDajTi5LQfcxXa2WFmYjFi67ODrbOM/Ta+THaQIz4ufX";
const C_ROOT: &str = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";
const C_PREIMAGE: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Converts a vector's request into the engine's.
pub(crate) fn context(c: &ContextCase) -> Context {
    let mut ctx = Context::new();
    ctx.service = c.service.clone();
    ctx.capability = c.capability.clone();
    ctx.now = c.now;
    ctx.method = c.method.clone();
    ctx.path = c.path.clone();
    ctx.client = c.client_ip.as_deref().and_then(|s| s.parse().ok());
    ctx.prior_uses = c.prior_uses;
    ctx
}

fn kind(c: &Caveat) -> &'static str {
    match c {
        Caveat::Services(_) => "services",
        Caveat::Capabilities { .. } => "capabilities",
        Caveat::ValidUntil { .. } => "valid_until",
        Caveat::ExpiresAt(_) => "expires_at",
        Caveat::Methods(_) => "methods",
        Caveat::PathPrefix(_) => "path_prefix",
        Caveat::ClientIp(_) => "client_ip",
        Caveat::MaxUses(_) => "max_uses",
        Caveat::Opaque(_) => "opaque",
        _ => "other",
    }
}

fn parse_case(name: &str, source: &str, caveat: &[u8], expected: &str, c: &mut Check) -> ParseCase {
    let parsed = Caveat::parse(caveat);
    let (outcome, kind) = match &parsed {
        Ok(p) => ("ok".to_owned(), Some(kind(p).to_owned())),
        Err(e) => (e.code().to_owned(), None),
    };
    let got = kind.clone().unwrap_or_else(|| outcome.clone());
    c.expect(name, &format!("parses as {expected}, got {got}"), got == expected);
    if let Ok(p) = &parsed {
        c.expect(name, "prints back to the same bytes", p.encode() == caveat);
    }
    let split = l402_caveats::grammar::split(caveat);
    ParseCase {
        name: name.into(),
        source: source.into(),
        caveat: hex::encode(caveat),
        text: String::from_utf8(caveat.to_vec()).ok(),
        condition: split.map(|(k, _)| hex::encode(k)),
        value: split.map(|(_, v)| hex::encode(v)),
        outcome,
        kind,
    }
}

struct Eval<'a> {
    name: &'a str,
    source: &'a str,
    caveats: &'a [&'a [u8]],
    aperture: bool,
    strict: bool,
    context: ContextCase,
    expected: &'a str,
}

fn eval_case(e: Eval<'_>, c: &mut Check) -> EvaluationCase {
    let v = if e.aperture { Verifier::aperture() } else { Verifier::new() }.strict(e.strict);
    let r = v.verify_caveats(e.caveats.iter().copied(), &context(&e.context));
    let outcome = match &r {
        Ok(_) => "valid".to_owned(),
        Err(err) => err.code().to_owned(),
    };
    c.expect(e.name, &format!("outcome {} (got {outcome})", e.expected), outcome == e.expected);
    let verdict = r.ok();
    EvaluationCase {
        name: e.name.into(),
        source: e.source.into(),
        caveats: e.caveats.iter().map(hex::encode).collect(),
        text: e.caveats.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect(),
        builtins: if e.aperture { "aperture" } else { "all" }.into(),
        strict: e.strict,
        context: e.context,
        outcome,
        max_uses: verdict.as_ref().and_then(|v| v.max_uses),
        deadline: verdict.as_ref().and_then(|v| v.deadline),
        skipped: verdict.map(|v| v.skipped).unwrap_or_default(),
    }
}

/// A token with its keys: (token, root key hex, preimage hex).
type Keys<'a> = (&'a str, &'a str, &'a str);

fn token_case(
    (name, source): (&str, &str),
    (token, root, preimage): Keys<'_>,
    context: ContextCase,
    expected: &str,
    c: &mut Check,
) -> TokenCase {
    let outcome = (|| {
        let m = Macaroon::from_base64(token).map_err(|e| e.code().to_owned())?;
        let root_key = hex::decode(root).map_err(|e| e.to_string())?;
        let p = Preimage::from_hex(preimage).map_err(|e| e.code().to_owned())?;
        m.verify(&root_key, Some(&p)).map_err(|e| e.code().to_owned())?;
        Verifier::new().verify(&m, &self::context(&context)).map_err(|e| e.code().to_owned())
    })();
    let outcome = match outcome {
        Ok(_) => "valid".to_owned(),
        Err(code) => code,
    };
    c.expect(name, &format!("outcome {expected} (got {outcome})"), outcome == expected);
    TokenCase {
        name: name.into(),
        source: source.into(),
        token: token.into(),
        root_key: root.into(),
        preimage: preimage.into(),
        context,
        outcome,
    }
}

fn ctx() -> ContextCase {
    ContextCase::default()
}

/// The full request most of our evaluations use.
fn request() -> ContextCase {
    ContextCase {
        service: Some("svc".into()),
        capability: Some("read".into()),
        now: Some(1_700_000_000),
        method: Some("GET".into()),
        path: Some("/api/v1/items".into()),
        client_ip: Some("198.51.100.7".into()),
        prior_uses: Some(3),
    }
}

fn parse_cases(c: &mut Check) -> Vec<ParseCase> {
    let mut out = Vec::new();
    let mut add = |name: &str, source: &str, caveat: &[u8], expected: &str, c: &mut Check| {
        out.push(parse_case(name, source, caveat, expected, c));
    };
    // A7: split at the first `=`; no `=` is not a condition=value caveat (Aperture: skipped).
    add("a7-expiration", A7, b"expiration=1337", "other", c);
    add("a7-expiration-trailing-equals", A7, b"expiration=1337=", "other", c);
    add("a7-no-equals", A7, b"expiration:1337", "opaque", c);
    // A6: the services value codec.
    add("a6-one-service", A6, b"services=a:0", "services", c);
    add("a6-three-services", A6, b"services=a:0,b:1,c:0", "services", c);
    for (name, value) in [
        ("a6-empty", ""),
        ("a6-empty-name", ":0"),
        ("a6-no-tier", "a"),
        ("a6-empty-tier", "a:"),
        ("a6-non-numeric-tier", "a:b"),
        ("a6-empty-entries", ",,"),
    ] {
        add(name, A6, format!("services={value}").as_bytes(), "malformed-caveat", c);
    }
    let ours: &[(&str, &[u8], &str)] = &[
        ("capabilities-empty", b"svc_capabilities=", "capabilities"),
        ("capabilities-two", b"svc_capabilities=add,subtract", "capabilities"),
        ("capabilities-empty-item", b"svc_capabilities=add,,subtract", "malformed-caveat"),
        ("capabilities-no-service", b"_capabilities=a", "other"),
        ("valid-until", b"svc_valid_until=1700000000", "valid_until"),
        ("valid-until-negative", b"svc_valid_until=-1000", "valid_until"),
        ("valid-until-leading-zero", b"svc_valid_until=01700000000", "malformed-caveat"),
        ("valid-until-minus-zero", b"svc_valid_until=-0", "malformed-caveat"),
        (
            "valid-until-milliseconds-overflow",
            b"svc_valid_until=99999999999999999999",
            "malformed-caveat",
        ),
        ("expires-at-utc", b"expires_at=2023-11-14T22:13:20Z", "expires_at"),
        ("expires-at-offset-fraction", b"expires_at=2023-11-14t23:13:20.5+01:00", "expires_at"),
        ("expires-at-no-offset", b"expires_at=2023-11-14T22:13:20", "malformed-caveat"),
        ("expires-at-leap-second", b"expires_at=2016-12-31T23:59:60Z", "malformed-caveat"),
        ("expires-at-unix", b"expires_at=1700000000", "malformed-caveat"),
        ("methods", b"methods=GET,HEAD", "methods"),
        ("methods-not-token", b"methods=GET POST", "malformed-caveat"),
        ("methods-empty", b"methods=", "malformed-caveat"),
        ("path-prefix", b"path_prefix=/api/v1/", "path_prefix"),
        ("path-prefix-relative", b"path_prefix=api", "malformed-caveat"),
        ("client-ip", b"client_ip=203.0.113.7,198.51.100.0/24,2001:db8::/32", "client_ip"),
        ("client-ip-mapped", b"client_ip=::ffff:198.51.100.0/120", "client_ip"),
        ("client-ip-host-bits", b"client_ip=198.51.100.1/24", "malformed-caveat"),
        ("client-ip-non-canonical-v6", b"client_ip=2001:DB8::/32", "malformed-caveat"),
        ("client-ip-hostname", b"client_ip=localhost", "malformed-caveat"),
        ("max-uses", b"max_uses=100", "max_uses"),
        ("max-uses-negative", b"max_uses=-1", "malformed-caveat"),
        ("max-uses-plus", b"max_uses=+1", "malformed-caveat"),
        ("preimage-is-other", b"preimage=00", "other"),
        ("condition-not-utf8", b"\xff\xfe=1", "other"),
        ("known-condition-value-not-utf8", b"max_uses=1\xff", "malformed-caveat"),
        ("opaque-not-utf8", b"\xff\xfe", "opaque"),
        ("empty-caveat", b"", "opaque"),
        ("empty-condition", b"=x", "other"),
        ("spaces-are-bytes", b"services = a:0", "other"),
    ];
    for (name, caveat, expected) in ours {
        add(name, OURS, caveat, expected, c);
    }
    out
}

/// (name, caveats, strict, request, expected outcome).
type OurEval<'a> = (&'a str, &'a [&'a [u8]], bool, ContextCase, &'a str);

fn evaluations(c: &mut Check) -> Vec<EvaluationCase> {
    let mut out = Vec::new();
    // A8 with Aperture's two satisfiers, now = 0.
    let restricted = ContextCase { service: Some("restricted".into()), now: Some(0), ..ctx() };
    for (name, values, expected) in [
        ("a8-future", &["1000"][..], "valid"),
        ("a8-past", &["-1000"][..], "expired"),
        ("a8-narrowing", &["1000", "500"][..], "valid"),
        ("a8-widening", &["500", "1000"][..], "caveat-escalation"),
    ] {
        let cav: Vec<Vec<u8>> =
            values.iter().map(|v| format!("restricted_valid_until={v}").into_bytes()).collect();
        let refs: Vec<&[u8]> = cav.iter().map(Vec::as_slice).collect();
        out.push(eval_case(
            Eval {
                name,
                source: A8,
                caveats: &refs,
                aperture: true,
                strict: false,
                context: restricted.clone(),
                expected,
            },
            c,
        ));
    }
    let r = request();
    let cases: &[OurEval<'_>] = &[
        (
            "all-pass",
            &[
                b"services=svc:0",
                b"svc_capabilities=read,write",
                b"svc_valid_until=1700000001",
                b"expires_at=2023-11-14T22:13:21Z",
                b"methods=GET",
                b"path_prefix=/api/",
                b"client_ip=198.51.100.0/24",
                b"max_uses=4",
            ],
            false,
            r.clone(),
            "valid",
        ),
        ("wrong-service", &[b"services=other:0,more:1"], false, r.clone(), "wrong-service"),
        ("wrong-capability", &[b"svc_capabilities=write"], false, r.clone(), "wrong-capability"),
        ("empty-capabilities-allow-all", &[b"svc_capabilities="], false, r.clone(), "valid"),
        (
            "capability-not-named",
            &[b"svc_capabilities=write"],
            false,
            ContextCase { capability: None, ..r.clone() },
            "missing-capability",
        ),
        (
            "capability-not-named-empty-list",
            &[b"svc_capabilities="],
            false,
            ContextCase { capability: None, ..r.clone() },
            "valid",
        ),
        (
            "capabilities-of-another-service",
            &[b"other_capabilities=write"],
            false,
            r.clone(),
            "valid",
        ),
        ("expired-valid-until", &[b"svc_valid_until=1700000000"], false, r.clone(), "expired"),
        ("expired-expires-at", &[b"expires_at=2023-11-14T22:13:20Z"], false, r.clone(), "expired"),
        (
            "expires-at-fraction-still-valid",
            &[b"expires_at=2023-11-14T22:13:20.001Z"],
            false,
            r.clone(),
            "valid",
        ),
        (
            "no-now-no-expiry-check",
            &[b"svc_valid_until=1"],
            false,
            ContextCase { now: None, ..r.clone() },
            "valid",
        ),
        (
            "valid-until-every-service-when-none-named",
            &[b"other_valid_until=1"],
            false,
            ContextCase { service: None, ..r.clone() },
            "expired",
        ),
        ("wrong-method", &[b"methods=POST,PUT"], false, r.clone(), "wrong-method"),
        ("method-case-sensitive", &[b"methods=get"], false, r.clone(), "wrong-method"),
        ("wrong-path", &[b"path_prefix=/api/v2/"], false, r.clone(), "wrong-path"),
        (
            "wrong-client",
            &[b"client_ip=198.51.101.0/24,2001:db8::/32"],
            false,
            r.clone(),
            "wrong-client",
        ),
        (
            "mapped-client",
            &[b"client_ip=198.51.100.7"],
            false,
            ContextCase { client_ip: Some("::ffff:198.51.100.7".into()), ..r.clone() },
            "valid",
        ),
        // Decision 0305: a mapped network is its IPv4 network; other IPv6 holds no IPv4.
        ("mapped-caveat", &[b"client_ip=::ffff:198.51.100.0/120"], false, r.clone(), "valid"),
        ("ipv6-any-is-not-ipv4", &[b"client_ip=::/0"], false, r.clone(), "wrong-client"),
        (
            "narrowing-to-mapped",
            &[b"client_ip=198.51.100.0/24", b"client_ip=::ffff:198.51.100.0/120"],
            false,
            r.clone(),
            "valid",
        ),
        (
            "escalation-ipv6-to-ipv4",
            &[b"client_ip=::/0", b"client_ip=198.51.100.0/24"],
            false,
            r.clone(),
            "caveat-escalation",
        ),
        ("uses-exhausted", &[b"max_uses=3"], false, r.clone(), "uses-exhausted"),
        (
            "uses-not-counted",
            &[b"max_uses=0"],
            false,
            ContextCase { prior_uses: None, ..r.clone() },
            "valid",
        ),
        (
            "escalation-services",
            &[b"services=svc:0", b"services=svc:0,b:0"],
            false,
            ctx(),
            "caveat-escalation",
        ),
        (
            "escalation-tier-change",
            &[b"services=svc:0", b"services=svc:1"],
            false,
            ctx(),
            "caveat-escalation",
        ),
        (
            "escalation-tier-raised",
            &[b"services=svc:0", b"services=svc:1"],
            false,
            r.clone(),
            "caveat-escalation",
        ),
        ("spaces-make-another-condition", &[b"services = other:0"], false, r.clone(), "valid"),
        (
            "escalation-capabilities-emptied",
            &[b"svc_capabilities=read", b"svc_capabilities="],
            false,
            ctx(),
            "caveat-escalation",
        ),
        (
            "narrowing-capabilities-from-empty",
            &[b"svc_capabilities=", b"svc_capabilities=read"],
            false,
            r.clone(),
            "valid",
        ),
        (
            "escalation-expires-at",
            &[b"expires_at=2030-01-01T00:00:00Z", b"expires_at=2030-01-01T00:00:01+00:00"],
            false,
            ctx(),
            "caveat-escalation",
        ),
        (
            "escalation-methods",
            &[b"methods=GET", b"methods=GET,POST"],
            false,
            ctx(),
            "caveat-escalation",
        ),
        (
            "escalation-path",
            &[b"path_prefix=/api/v1/", b"path_prefix=/api/"],
            false,
            ctx(),
            "caveat-escalation",
        ),
        (
            "escalation-client",
            &[b"client_ip=10.0.0.0/16", b"client_ip=10.0.0.0/8"],
            false,
            ctx(),
            "caveat-escalation",
        ),
        ("escalation-max-uses", &[b"max_uses=5", b"max_uses=6"], false, ctx(), "caveat-escalation"),
        (
            "last-occurrence-decides",
            &[b"methods=GET,POST", b"methods=POST"],
            false,
            r.clone(),
            "wrong-method",
        ),
        ("malformed-services", &[b"services=svc"], false, r.clone(), "malformed-caveat"),
        (
            "malformed-beats-escalation",
            &[b"max_uses=1", b"max_uses=2", b"methods=,"],
            false,
            r.clone(),
            "malformed-caveat",
        ),
        (
            "escalation-beats-request-checks",
            &[b"services=x:0", b"max_uses=1", b"max_uses=2"],
            false,
            r.clone(),
            "caveat-escalation",
        ),
        (
            "services-checked-before-expiry",
            &[b"svc_valid_until=1", b"services=x:0"],
            false,
            r.clone(),
            "wrong-service",
        ),
        (
            "unknown-skipped",
            &[b"colour=blue", b"no-equals", b"\xff=\x00"],
            false,
            r.clone(),
            "valid",
        ),
        ("unknown-strict", &[b"colour=blue"], true, r.clone(), "unknown-caveat"),
        ("opaque-strict", &[b"no-equals"], true, r.clone(), "unknown-caveat"),
        ("non-utf8-condition-strict", &[b"\xff=\x00"], true, r.clone(), "unknown-caveat"),
        (
            "preimage-accepted-strict",
            &[b"preimage=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"],
            true,
            r.clone(),
            "valid",
        ),
        (
            "non-utf8-value-of-known-condition",
            &[b"methods=G\xffT"],
            false,
            r.clone(),
            "malformed-caveat",
        ),
    ];
    for (name, caveats, strict, context, expected) in cases {
        out.push(eval_case(
            Eval {
                name,
                source: OURS,
                caveats,
                aperture: false,
                strict: *strict,
                context: context.clone(),
                expected,
            },
            c,
        ));
    }
    // Aperture checks neither capabilities nor our extensions.
    out.push(eval_case(
        Eval {
            name: "aperture-ignores-capabilities-and-extensions",
            source: OURS,
            caveats: &[b"svc_capabilities=write", b"methods=POST", b"max_uses=banana"],
            aperture: true,
            strict: false,
            context: r,
            expected: "valid",
        },
        c,
    ));
    out
}

fn tokens(c: &mut Check) -> Vec<TokenCase> {
    let mut out = Vec::new();
    // The token sells `add,subtract`: the request names one, since a capability list refuses
    // a request that names none (decision 0306; Aperture never checks capabilities).
    let service = |s: &str, now: i64| ContextCase {
        service: Some(s.into()),
        capability: Some("add".into()),
        now: Some(now),
        ..ctx()
    };
    for (name, context, expected) in [
        ("c-service1-before-expiry", service("service1", 1_699_999_999), "valid"),
        ("c-service1-at-expiry", service("service1", 1_700_000_000), "expired"),
        ("c-service2", service("service2", 1_600_000_000), "wrong-service"),
    ] {
        out.push(token_case((name, C), (C_TOKEN, C_ROOT, C_PREIMAGE), context, expected, c));
    }
    // Ours: a seeded token minted like Aperture's, then delegated with every helper.
    let root = seeded("caveats/root");
    let preimage = Preimage::from_bytes(seeded("caveats/preimage"));
    let id = Identifier {
        payment_hash: preimage.payment_hash(),
        token_id: TokenId(seeded("caveats/token-id")),
    };
    let minted = Macaroon::new_l402(&root, &id)
        .with_caveat("services=weather:0")
        .with_caveat("weather_capabilities=")
        .with_caveat("weather_valid_until=1900000000");
    let delegated = {
        use l402_caveats::{Attenuate, IpNet};
        let net =
            IpNet::parse("203.0.113.0/24").unwrap_or_else(|| IpNet::addr([203, 0, 113, 1].into()));
        minted
            .restrict_capabilities("weather", &["forecast"])
            .and_then(|m| m.expire_at(1_800_000_000))
            .and_then(|m| m.limit_methods(&["GET"]))
            .and_then(|m| m.limit_paths("/weather/"))
            .and_then(|m| m.limit_clients(&[net]))
            .and_then(|m| m.limit_uses(10))
            .unwrap_or_else(|e| panic!("attenuating our token: {e}"))
    };
    let ok = ContextCase {
        service: Some("weather".into()),
        capability: Some("forecast".into()),
        now: Some(1_700_000_000),
        method: Some("GET".into()),
        path: Some("/weather/today".into()),
        client_ip: Some("203.0.113.9".into()),
        prior_uses: Some(9),
    };
    let (root_hex, pre_hex) = (hex::encode(root), preimage.to_hex());
    let minted_b64 = minted.to_base64();
    let delegated_b64 = delegated.to_base64();
    let cases: Vec<(&str, &str, ContextCase, &str)> = vec![
        ("ours-minted", &minted_b64, ok.clone(), "valid"),
        ("ours-delegated", &delegated_b64, ok.clone(), "valid"),
        (
            "ours-delegated-history",
            &delegated_b64,
            ContextCase { capability: Some("history".into()), ..ok.clone() },
            "wrong-capability",
        ),
        (
            "ours-delegated-late",
            &delegated_b64,
            ContextCase { now: Some(1_800_000_000), ..ok.clone() },
            "expired",
        ),
        (
            "ours-delegated-post",
            &delegated_b64,
            ContextCase { method: Some("POST".into()), ..ok.clone() },
            "wrong-method",
        ),
        (
            "ours-delegated-other-path",
            &delegated_b64,
            ContextCase { path: Some("/admin".into()), ..ok.clone() },
            "wrong-path",
        ),
        (
            "ours-delegated-other-client",
            &delegated_b64,
            ContextCase { client_ip: Some("192.0.2.1".into()), ..ok.clone() },
            "wrong-client",
        ),
        (
            "ours-delegated-used-up",
            &delegated_b64,
            ContextCase { prior_uses: Some(10), ..ok.clone() },
            "uses-exhausted",
        ),
    ];
    for (name, token, context, expected) in cases {
        out.push(token_case((name, OURS), (token, &root_hex, &pre_hex), context, expected, c));
    }
    // A widened copy re-signed by a holder: the chain is valid, the escalation is not.
    let widened = delegated.clone().with_caveat("max_uses=11").to_base64();
    out.push(token_case(
        ("ours-holder-widened", OURS),
        (&widened, &root_hex, &pre_hex),
        ok.clone(),
        "caveat-escalation",
        c,
    ));
    let wrong_root = hex::encode(seeded("caveats/other-root"));
    out.push(token_case(
        ("ours-wrong-root-before-caveats", OURS),
        (&widened, &wrong_root, &pre_hex),
        ok,
        "invalid-signature",
        c,
    ));
    out
}

pub(crate) fn build(c: &mut Check) -> CaveatVectors {
    CaveatVectors {
        version: 1,
        parse: parse_cases(c),
        evaluations: evaluations(c),
        tokens: tokens(c),
    }
}
