//! `l402 token verify` with request flags and `l402 token attenuate` with typed caveats, run
//! as a user would, and against the shared caveat vectors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod support;

use std::process::Output;

use support::{l402, stderr_code, stdout_json};

fn line(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap().trim().to_owned()
}

const ROOT: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const PREIMAGE: &str = "2222222222222222222222222222222222222222222222222222222222222222";

fn minted() -> String {
    let hash =
        hex::encode(l402_token::Preimage::from_hex(PREIMAGE).unwrap().payment_hash().as_bytes());
    line(&l402(&[
        "token",
        "mint",
        "--root-key",
        ROOT,
        "--payment-hash",
        &hash,
        "--token-id",
        &"33".repeat(32),
        "--caveat",
        "services=weather:0,maps:0",
        "--caveat",
        "weather_capabilities=",
        "--caveat",
        "weather_valid_until=1900000000",
    ]))
}

fn verify(token: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut args = vec!["token", "verify", token, "--root-key", ROOT, "--preimage", PREIMAGE];
    args.extend_from_slice(extra);
    let o = l402(&args);
    (o.status.code(), stdout_json(&o))
}

#[test]
fn typed_attenuation_then_verify_with_request_flags() {
    let token = minted();
    let delegated = line(&l402(&[
        "token",
        "attenuate",
        &token,
        "--service",
        "weather",
        "--capabilities",
        "forecast",
        "--valid-until",
        "1800000000",
        "--expires-at",
        "2027-01-01T00:00:00Z",
        "--method",
        "GET,HEAD",
        "--path-prefix",
        "/weather/",
        "--client-ip",
        "203.0.113.0/24",
        "--max-uses",
        "5",
    ]));
    let decoded = stdout_json(&l402(&["token", "decode", &delegated]));
    let ids: Vec<&str> =
        decoded["caveats"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids[3..],
        [
            "services=weather:0",
            "weather_capabilities=forecast",
            "weather_valid_until=1800000000",
            "expires_at=2027-01-01T00:00:00Z",
            "methods=GET,HEAD",
            "path_prefix=/weather/",
            "client_ip=203.0.113.0/24",
            "max_uses=5",
        ]
    );
    let ok = [
        "--now",
        "1700000000",
        "--service",
        "weather",
        "--capability",
        "forecast",
        "--method",
        "GET",
        "--path",
        "/weather/today",
        "--client-ip",
        "203.0.113.7",
        "--prior-uses",
        "4",
    ];
    let (code, v) = verify(&delegated, &ok);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["verdict"], "valid");
    assert_eq!(v["caveats"]["max_uses"], 5);
    assert_eq!(v["caveats"]["deadline"], 1_798_761_600);
    assert_eq!(v["caveats"]["unchecked"], serde_json::json!([]));

    let swap = |flag: &str, value: &'static str| -> Vec<&str> {
        let mut args = ok.to_vec();
        let i = args.iter().position(|a| *a == flag).unwrap();
        args[i + 1] = value;
        args
    };
    for (flag, value, want) in [
        ("--service", "maps", "wrong-service"),
        ("--capability", "history", "wrong-capability"),
        ("--now", "1800000000", "expired"),
        ("--method", "POST", "wrong-method"),
        ("--path", "/admin", "wrong-path"),
        ("--client-ip", "192.0.2.1", "wrong-client"),
        ("--prior-uses", "5", "uses-exhausted"),
    ] {
        let (code, v) = verify(&delegated, &swap(flag, value));
        assert_eq!(code, Some(1), "{flag}");
        assert_eq!(v["verdict"], want, "{flag}");
    }
}

#[test]
fn absent_flags_leave_caveats_unchecked_and_now_defaults_to_the_clock() {
    let token = minted();
    let narrowed = line(&l402(&["token", "attenuate", &token, "--method", "GET"]));
    let (code, v) = verify(&narrowed, &[]);
    assert_eq!(code, Some(0), "{v}");
    let unchecked: Vec<&str> =
        v["caveats"]["unchecked"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(unchecked, ["services", "methods"]);
    // The clock is past 1 (any real clock is), so an expired token is expired without --now.
    let expired = line(&l402(&["token", "attenuate", &token, "--expires-at", "1"]));
    assert_eq!(verify(&expired, &[]).1["verdict"], "expired");
}

#[test]
fn caveat_checks_run_after_the_signature() {
    let token = minted();
    // `l402 token attenuate` refuses to widen, so the widening is appended below the CLI.
    let widened = l402_token::Macaroon::from_base64(&token)
        .unwrap()
        .with_caveat("weather_valid_until=1900000001")
        .to_base64();
    assert_eq!(verify(&widened, &[]).1["verdict"], "caveat-escalation");
    let o = l402(&["token", "verify", &widened, "--root-key", &"12".repeat(32)]);
    assert_eq!(stdout_json(&o)["verdict"], "invalid-signature");
}

#[test]
fn strict_mode_refuses_unknown_conditions() {
    let token = minted();
    let t = line(&l402(&["token", "attenuate", &token, "--caveat", "colour=blue"]));
    assert_eq!(verify(&t, &[]).1["verdict"], "valid");
    assert_eq!(verify(&t, &["--strict"]).1["verdict"], "unknown-caveat");
}

#[test]
fn typed_attenuation_refuses_widening_and_bad_values() {
    let token = minted();
    let narrowed = line(&l402(&["token", "attenuate", &token, "--max-uses", "3"]));
    for (args, code, exit) in [
        (vec!["--max-uses", "4"], "caveat-escalation", 1),
        (vec!["--service", "news"], "caveat-escalation", 1),
        (vec!["--service", "weather", "--valid-until", "1900000001"], "caveat-escalation", 1),
        (vec!["--method", "GET POST"], "malformed-caveat", 1),
        (vec!["--path-prefix", "relative"], "malformed-caveat", 1),
        (vec!["--client-ip", "10.0.0.1/8"], "usage", 2),
        (vec!["--expires-at", "tomorrow"], "usage", 2),
        (vec!["--capabilities", "a"], "usage", 2),
        (vec![], "usage", 2),
    ] {
        let mut full = vec!["token", "attenuate", narrowed.as_str()];
        full.extend(args.iter().copied());
        let o = l402(&full);
        assert_eq!(o.status.code(), Some(exit), "{args:?}");
        assert_eq!(stderr_code(&o), code, "{args:?}");
    }
}

#[test]
fn token_vectors_through_the_cli() {
    for case in l402_vectors::caveats().tokens {
        let c = &case.context;
        let mut args: Vec<String> = [
            "token",
            "verify",
            &case.token,
            "--root-key",
            &case.root_key,
            "--preimage",
            &case.preimage,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut flag = |name: &str, v: Option<String>| {
            if let Some(v) = v {
                args.push(format!("--{name}"));
                args.push(v);
            }
        };
        flag("service", c.service.clone());
        flag("capability", c.capability.clone());
        flag("now", c.now.map(|n| n.to_string()));
        flag("method", c.method.clone());
        flag("path", c.path.clone());
        flag("client-ip", c.client_ip.clone());
        flag("prior-uses", c.prior_uses.map(|n| n.to_string()));
        if c.now.is_none() {
            l402_vectors::skip("cli", &case.name, "the CLI uses the clock when --now is absent");
            continue;
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = l402(&refs);
        assert_eq!(stdout_json(&o)["verdict"], case.outcome, "{}", case.name);
    }
}

#[test]
fn attenuate_refuses_a_raw_widening_caveat() {
    let root = "11".repeat(32);
    let hash = "22".repeat(32);
    let minted = std::process::Command::new(env!("CARGO_BIN_EXE_l402"))
        .args(["token", "mint", "--root-key", &root, "--payment-hash", &hash])
        .args(["--caveat", "weather_valid_until=2000000000"])
        .output()
        .unwrap();
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    let run = |caveat: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_l402"))
            .args(["token", "attenuate", &token, "--caveat", caveat])
            .output()
            .unwrap()
    };
    let wider = run("weather_valid_until=2100000000");
    assert_eq!(wider.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&wider.stderr).unwrap();
    assert_eq!(err["code"], "caveat-escalation");
    let malformed = run("weather_valid_until=soon");
    assert_eq!(malformed.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&malformed.stderr).unwrap();
    assert_eq!(err["code"], "malformed-caveat");
    let narrower = run("weather_valid_until=1900000000");
    assert_eq!(narrower.status.code(), Some(0));
    // Unknown conditions are a holder's own business: appended as given.
    assert_eq!(run("note=for-the-sub-agent").status.code(), Some(0));
}
