//! The engine through its public interface: every code, both modes, absent context fields,
//! custom satisfiers with captured state.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use l402_caveats::{satisfier, Builtin, Context, Rejection, Verdict, Verifier};

fn judge(v: &Verifier, caveats: &[&[u8]], ctx: &Context) -> Result<Verdict, &'static str> {
    v.verify_caveats(caveats.iter().copied(), ctx).map_err(|e| e.code())
}

fn code(caveats: &[&str], ctx: &Context) -> &'static str {
    let bytes: Vec<&[u8]> = caveats.iter().map(|c| c.as_bytes()).collect();
    match judge(&Verifier::new(), &bytes, ctx) {
        Ok(_) => "valid",
        Err(c) => c,
    }
}

fn full() -> Context {
    Context::new()
        .with_service("svc")
        .with_capability("read")
        .with_now(1000)
        .with_method("GET")
        .with_path("/api/v1/items")
        .with_client("198.51.100.7".parse().unwrap())
        .with_prior_uses(3)
}

#[test]
fn every_builtin_code() {
    let ctx = full();
    let cases: &[(&[&str], &str)] = &[
        (&["services=svc:0", "svc_capabilities=read,write", "svc_valid_until=1001"], "valid"),
        (&["services=other:0"], "wrong-service"),
        (&["svc_capabilities=write"], "wrong-capability"),
        (&["svc_valid_until=1000"], "expired"),
        (&["expires_at=1970-01-01T00:16:40Z"], "expired"),
        (&["expires_at=1970-01-01T00:16:40.1Z"], "valid"),
        (&["methods=POST,PUT"], "wrong-method"),
        (&["methods=get"], "wrong-method"),
        (&["path_prefix=/api/v2/"], "wrong-path"),
        (&["client_ip=198.51.101.0/24,2001:db8::/32"], "wrong-client"),
        (&["client_ip=198.51.100.0/24"], "valid"),
        (&["max_uses=3"], "uses-exhausted"),
        (&["max_uses=4"], "valid"),
        (&["services=svc:0", "services=svc:0,b:0"], "caveat-escalation"),
        (&["services=svc:x"], "malformed-caveat"),
        (&["svc_valid_until=01"], "malformed-caveat"),
        (&["methods=GET,"], "malformed-caveat"),
        (&["client_ip=198.51.100.7/24"], "malformed-caveat"),
    ];
    for (caveats, want) in cases {
        assert_eq!(code(caveats, &ctx), *want, "{caveats:?}");
    }
}

#[test]
fn narrowing_rules_per_condition() {
    let ctx = Context::new();
    let pairs: &[(&str, &str, bool)] = &[
        ("services=a:0,b:0", "services=b:0", true),
        ("services=a:0", "services=a:1", false),
        ("svc_capabilities=", "svc_capabilities=a", true),
        ("svc_capabilities=a,b", "svc_capabilities=b", true),
        ("svc_capabilities=a", "svc_capabilities=", false),
        ("svc_capabilities=a", "svc_capabilities=a,c", false),
        ("svc_valid_until=1000", "svc_valid_until=500", true),
        ("svc_valid_until=1000", "svc_valid_until=1000", true),
        ("svc_valid_until=500", "svc_valid_until=1000", false),
        ("expires_at=2030-01-01T00:00:00Z", "expires_at=2030-01-01T01:00:00+02:00", true),
        ("expires_at=2030-01-01T00:00:00Z", "expires_at=2030-01-01T00:00:00.001Z", false),
        ("methods=GET,POST", "methods=GET", true),
        ("methods=GET", "methods=GET,HEAD", false),
        ("path_prefix=/api/", "path_prefix=/api/v1/", true),
        ("path_prefix=/api/v1/", "path_prefix=/api/", false),
        ("path_prefix=/api/", "path_prefix=/apx/v1", false),
        ("client_ip=10.0.0.0/8", "client_ip=10.1.0.0/16,10.2.3.4", true),
        ("client_ip=10.0.0.0/8", "client_ip=11.0.0.0/8", false),
        // The same addresses spelled as IPv4-mapped IPv6 (decision 0305).
        ("client_ip=10.0.0.0/8", "client_ip=::ffff:10.0.0.0/104", true),
        ("client_ip=10.0.0.0/8", "client_ip=::ffff:0.0.0.0/96", false),
        ("client_ip=2001:db8::/32", "client_ip=10.0.0.0/8", false),
        ("max_uses=10", "max_uses=9", true),
        ("max_uses=10", "max_uses=11", false),
    ];
    for (prev, cur, narrows) in pairs {
        let got = code(&[prev, cur], &ctx);
        // A narrowed capability list then needs a capability the empty context lacks.
        let capabilities = cur.strip_prefix("svc_capabilities=").is_some_and(|v| !v.is_empty());
        let want = match (*narrows, capabilities) {
            (true, true) => "missing-capability",
            (true, false) => "valid",
            (false, _) => "caveat-escalation",
        };
        assert_eq!(got, want, "{prev} then {cur}");
    }
}

#[test]
fn aperture_timeout_satisfier_cases() {
    // aperture l402/satisfier_test.go TestTimeoutSatisfier @ 7ee3ed7, now = 0
    // (aperture-vectors.md A8).
    let ctx = Context::new().with_service("restricted").with_now(0);
    let v = Verifier::aperture();
    let run = |vals: &[&str]| {
        let cav: Vec<String> = vals.iter().map(|v| format!("restricted_valid_until={v}")).collect();
        let b: Vec<&[u8]> = cav.iter().map(|c| c.as_bytes()).collect();
        judge(&v, &b, &ctx).map(|_| ())
    };
    assert_eq!(run(&["1000"]), Ok(()));
    assert_eq!(run(&["-1000"]), Err("expired"));
    assert_eq!(run(&["1000", "500"]), Ok(()));
    assert_eq!(run(&["500", "1000"]), Err("caveat-escalation"));
}

#[test]
fn lenient_skips_and_strict_rejects_unknown_and_opaque() {
    let caveats: &[&[u8]] =
        &[b"services=svc:0", b"no-equals-sign", b"\xff\xfe=\x00", b"colour=blue"];
    let ok = judge(&Verifier::new(), caveats, &full()).unwrap();
    assert_eq!(ok.skipped, vec![1, 2, 3]);
    let strict = Verifier::new().strict(true);
    assert_eq!(judge(&strict, caveats, &full()).unwrap_err(), "unknown-caveat");
    assert_eq!(judge(&strict, &[b"no-equals-sign"], &full()).unwrap_err(), "unknown-caveat");
    assert_eq!(judge(&strict, &[b"\xff=1"], &full()).unwrap_err(), "unknown-caveat");
    // preimage is accepted unchecked in both modes; other conditions can be added.
    let p: &[&[u8]] = &[b"preimage=00", b"loop_out_monthly_volume_sats=1"];
    assert_eq!(judge(&strict, p, &full()).unwrap_err(), "unknown-caveat");
    let strict = strict.accept_unchecked("loop_out_monthly_volume_sats");
    assert_eq!(judge(&strict, p, &full()).unwrap().skipped, vec![0, 1]);
}

#[test]
fn a_known_condition_with_a_non_utf8_value_is_malformed_in_both_modes() {
    for strict in [false, true] {
        let v = Verifier::new().strict(strict);
        assert_eq!(judge(&v, &[b"methods=G\xffT"], &full()).unwrap_err(), "malformed-caveat");
    }
}

#[test]
fn disabled_builtins_are_unknown() {
    let v = Verifier::with_builtins(&[Builtin::Services]);
    let c: &[&[u8]] = &[b"methods=not a method"];
    assert!(judge(&v, c, &full()).is_ok());
    assert_eq!(judge(&v.strict(true), c, &full()).unwrap_err(), "unknown-caveat");
    // Aperture never looks at capabilities.
    assert!(judge(&Verifier::aperture(), &[b"svc_capabilities=write"], &full()).is_ok());
}

#[test]
fn absent_context_fields_leave_their_caveats_unchecked() {
    let caveats = [
        "services=other:0",
        "svc_valid_until=1",
        "methods=POST",
        "path_prefix=/x",
        "client_ip=10.0.0.1",
        "max_uses=1",
    ];
    let b: Vec<&[u8]> = caveats.iter().map(|c| c.as_bytes()).collect();
    let v = judge(&Verifier::new(), &b, &Context::new()).unwrap();
    assert_eq!(v.max_uses, Some(1));
    assert_eq!(v.deadline, Some(1));
    assert_eq!(v.unchecked.len(), 5, "{:?}", v.unchecked);
}

#[test]
fn a_capability_narrowing_refuses_a_request_that_names_no_capability() {
    // Deny by default (decision 0306): the narrowing is not skipped for want of the fact.
    let svc = Context::new().with_service("svc");
    assert_eq!(code(&["svc_capabilities=write"], &svc), "missing-capability");
    assert_eq!(code(&["svc_capabilities=write"], &Context::new()), "missing-capability");
    assert_eq!(
        code(&["svc_capabilities=write"], &svc.clone().with_capability("read")),
        "wrong-capability"
    );
    assert_eq!(code(&["svc_capabilities=write"], &svc.clone().with_capability("write")), "valid");
    // Aperture's always-minted empty list restricts nothing, so it needs no capability; the
    // caveat of another service is not this request's business.
    assert_eq!(code(&["svc_capabilities="], &svc), "valid");
    assert_eq!(code(&["other_capabilities=write"], &svc), "valid");
    // Only the last occurrence is judged, and it must narrow the first.
    assert_eq!(code(&["svc_capabilities=", "svc_capabilities=read"], &svc), "missing-capability");
}

#[test]
fn per_service_conditions_apply_to_the_named_service_or_to_all() {
    let other = Context::new().with_service("other").with_now(5).with_capability("read");
    assert_eq!(code(&["svc_valid_until=1", "svc_capabilities=write"], &other), "valid");
    let unnamed = Context::new().with_now(5);
    assert_eq!(code(&["svc_valid_until=1"], &unnamed), "expired");
    assert_eq!(
        code(&["svc_capabilities=write"], &unnamed.with_capability("read")),
        "wrong-capability"
    );
}

#[test]
fn codes_do_not_depend_on_the_request_for_token_faults() {
    // Malformed beats escalation beats request checks, whatever the order in the token.
    let c = ["services=other:0", "max_uses=2", "max_uses=3", "methods=,"];
    assert_eq!(code(&c, &full()), "malformed-caveat");
    assert_eq!(code(&c[..3], &full()), "caveat-escalation");
    assert_eq!(code(&c[..2], &full()), "wrong-service");
    // Final checks run in built-in order: services before expiry before method.
    assert_eq!(
        code(&["methods=POST", "svc_valid_until=1", "services=x:0"], &full()),
        "wrong-service"
    );
    assert_eq!(code(&["methods=POST", "svc_valid_until=1"], &full()), "expired");
}

#[test]
fn closures_with_captured_state_are_satisfiers() {
    let budget = Arc::new(AtomicU64::new(100));
    let seen = Arc::clone(&budget);
    let v = Verifier::new().strict(true).with_satisfier(
        satisfier::from_fn("budget_sats", move |value, ctx: &Context| {
            let want: u64 = value.parse().map_err(|_| Rejection::new("over-budget", "nan"))?;
            let tenant_ok = ctx.custom.get("tenant").is_some_and(|t| t == "acme");
            if tenant_ok && want <= seen.load(Ordering::Relaxed) {
                Ok(())
            } else {
                Err(Rejection::new("over-budget", format!("{want} sats")))
            }
        })
        .with_narrowing(|p, c| c.parse::<u64>().ok() <= p.parse::<u64>().ok()),
    );
    let ctx = Context::new().with_custom("tenant", "acme");
    assert!(judge(&v, &[b"budget_sats=80"], &ctx).is_ok());
    assert_eq!(
        judge(&v, &[b"budget_sats=80", b"budget_sats=90"], &ctx).unwrap_err(),
        "caveat-escalation"
    );
    assert!(judge(&v, &[b"budget_sats=90", b"budget_sats=80"], &ctx).is_ok());
    budget.store(50, Ordering::Relaxed);
    assert_eq!(judge(&v, &[b"budget_sats=80"], &ctx).unwrap_err(), "over-budget");
    assert_eq!(judge(&v, &[b"budget_sats=\xff"], &ctx).unwrap_err(), "malformed-caveat");
}

#[test]
fn a_custom_satisfier_overrides_a_builtin_and_defaults_to_identical_narrowing() {
    struct AnyMethod;
    impl l402_caveats::Satisfier for AnyMethod {
        fn condition(&self) -> &str {
            "methods"
        }
        fn satisfy(&self, _: &str, _: &Context) -> Result<(), Rejection> {
            Ok(())
        }
    }
    let v = Verifier::new().with_satisfier(AnyMethod);
    assert!(judge(&v, &[b"methods=not a token"], &full()).is_ok());
    assert_eq!(judge(&v, &[b"methods=a", b"methods=b"], &full()).unwrap_err(), "caveat-escalation");
    assert!(judge(&v, &[b"methods=a", b"methods=a"], &full()).is_ok());
}

#[test]
fn error_display_is_lower_case_and_codes_are_listed() {
    let e = Verifier::new()
        .verify_caveats([&b"services=x:0"[..]], &Context::new().with_service("y"))
        .unwrap_err();
    let text = e.to_string();
    assert!(text.chars().next().is_some_and(|c| c.is_lowercase()), "{text}");
    assert!(l402_caveats::Error::CODES.contains(&e.code()));
}
