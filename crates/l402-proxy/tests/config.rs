//! Configuration: the example parses, every mistake names its key, the environment overrides.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::time::Duration;

use l402_proxy::config::TimeoutConfig;
use l402_proxy::Config;
use l402_proxy::Timeouts;

const BASE: &str = r#"
[[services]]
name = "a"
upstream = "http://127.0.0.1:9000"
price_msat = 1000

[[services]]
name = "b"
path_prefix = "/b"
upstream = "https://example.com/base"
price_sat = 2
"#;

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

fn err(text: &str) -> String {
    Config::from_toml_str(text, no_env()).unwrap_err().to_string()
}

#[test]
fn the_annotated_example_is_valid() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/proxy.toml"))
        .unwrap();
    let config = Config::from_toml_str(&text, no_env()).unwrap();
    assert_eq!(config.services.len(), 3);
    assert_eq!(config.services[0].static_price_msat(), Some(10_000));
    assert_eq!(
        config.timeouts_for(&config.services[0]),
        Timeouts {
            connect: Duration::from_secs(10),
            response: Some(Duration::from_secs(5)),
            idle: Some(Duration::from_secs(300)),
        }
    );
    assert_eq!(config.listen.metrics_path, "", "the example keeps metrics off the public listener");
}

#[test]
fn metrics_stay_off_the_public_listener_unless_a_path_is_set() {
    let config = Config::from_toml_str(BASE, no_env()).unwrap();
    assert_eq!(config.listen.metrics_path, "");
    let env = vec![("L402_PROXY__LISTEN__METRICS_PATH".to_owned(), "/metrics".to_owned())];
    let config = Config::from_toml_str(BASE, env).unwrap();
    assert_eq!(config.listen.metrics_path, "/metrics");
}

#[test]
fn errors_name_the_key_at_fault() {
    let cases: Vec<(String, &str)> = vec![
        (BASE.replace("price_sat = 2", "price_sat = 0"), "services[1].price_sat: must be > 0"),
        (
            BASE.replace("price_msat = 1000", "price_msat = 0"),
            "services[0].price_msat: must be > 0",
        ),
        (BASE.replace("price_sat = 2", ""), "services[1].price_msat: required with auth = true"),
        (
            BASE.replace("price_sat = 2", "price_sat = 2\nprice_msat = 1"),
            "services[1].price_msat: set only one",
        ),
        (
            BASE.replace("https://example.com/base", "ftp://x"),
            "services[1].upstream: must be an absolute http or https URL",
        ),
        (
            BASE.replace("https://example.com/base", "https://x/?q=1"),
            "services[1].upstream: must not have a query",
        ),
        (
            BASE.replace("path_prefix = \"/b\"", "path_prefix = \"b\""),
            "services[1].path_prefix: must start with '/'",
        ),
        (
            BASE.replace("path_prefix = \"/b\"", "path_prefix = \"/b/../c\""),
            "services[1].path_prefix: must be in normal form: /c",
        ),
        (BASE.replace("name = \"b\"", "name = \"b:c\""), "services[1].name: must be non-empty"),
        (
            format!("{BASE}free_paths = [\"/ok\", \"//x\"]"),
            "services[1].free_paths[1]: must be in normal form",
        ),
        (
            format!("{BASE}[services.caveats]\nmethods = [\"get\"]"),
            "services[1].caveats.methods[0]: must be an upper-case HTTP method",
        ),
        (
            format!("{BASE}[services.caveats]\nmax_uses = 0"),
            "services[1].caveats.max_uses: must be > 0",
        ),
        (
            format!("{BASE}[services.caveats]\nvalid_for_secs = 0"),
            "services[1].caveats.valid_for_secs: must be > 0",
        ),
        (format!("{BASE}auth = false"), "services[1].price_sat: set, but auth = false"),
        (
            format!("[listen]\naddr = \"nope\"\n{BASE}"),
            "listen.addr: must be an IP address and port",
        ),
        (
            format!("[listen]\ntls_cert = \"c.pem\"\n{BASE}"),
            "listen.tls_key: required with listen.tls_cert",
        ),
        (
            format!("[admin]\ntoken = \"short\"\n{BASE}"),
            "admin.token: must be at least 16 characters",
        ),
        (
            format!("[store]\nkind = \"postgres\"\n{BASE}"),
            "store.url: required with store.kind = \"postgres\"",
        ),
        (format!("[store]\nkind = \"redis\"\n{BASE}"), "store.kind: must be"),
        (format!("[lightning]\nbackend = \"lnd\"\n{BASE}"), "lightning.lnd_endpoint: required"),
        (format!("[log]\nformat = \"xml\"\n{BASE}"), "log.format: must be"),
        ("".to_owned(), "services: at least one"),
        (format!("invoice_expiry_secs = 0\n{BASE}"), "invoice_expiry_secs: must be > 0"),
        (
            format!("trusted_proxies = [\"10.0.0.0/8\", \"10.0.0.1/8\"]\n{BASE}"),
            "trusted_proxies[1]: must be an IP address or a CIDR network",
        ),
    ];
    for (text, want) in cases {
        let got = err(&text);
        assert!(got.starts_with(want), "want {want:?}, got {got:?}");
    }
}

#[test]
fn schema_errors_are_config_syntax() {
    let e = Config::from_toml_str(&format!("{BASE}pricee_msat = 3"), no_env()).unwrap_err();
    assert_eq!(e.code(), "config-syntax");
    assert!(e.to_string().contains("pricee_msat"), "{e}");
    let e = Config::from_toml_str("[[services]\n", no_env()).unwrap_err();
    assert_eq!(e.code(), "config-syntax");
    let e = Config::from_toml_str(&BASE.replace("price_sat = 2", "price_sat = 0"), no_env())
        .unwrap_err();
    assert_eq!(e.code(), "config-invalid");
}

#[test]
fn environment_overrides_keys_with_types() {
    let env = vec![
        ("L402_PROXY__LISTEN__ADDR".to_owned(), "0.0.0.0:9999".to_owned()),
        ("L402_PROXY__SERVICES__1__PRICE_SAT".to_owned(), "7".to_owned()),
        ("L402_PROXY__SERVICES__0__NAME".to_owned(), "12345".to_owned()),
        ("L402_PROXY__ADMIN__TOKEN".to_owned(), "from-the-environment-0123".to_owned()),
        ("L402_PROXY__SERVICES__0__CAVEATS__METHODS".to_owned(), "[\"GET\"]".to_owned()),
        ("UNRELATED".to_owned(), "x".to_owned()),
    ];
    let config = Config::from_toml_str(BASE, env).unwrap();
    assert_eq!(config.listen.addr, "0.0.0.0:9999");
    assert_eq!(config.services[1].price_sat, Some(7));
    assert_eq!(config.services[0].name, "12345", "a string key stays a string");
    assert_eq!(config.admin.unwrap().token, "from-the-environment-0123");
    assert_eq!(config.services[0].caveats.methods, vec!["GET".to_owned()]);
}

#[test]
fn environment_errors_name_the_variable() {
    let bad = vec![("L402_PROXY__SERVICES__5__NAME".to_owned(), "x".to_owned())];
    let e = Config::from_toml_str(BASE, bad).unwrap_err().to_string();
    assert!(e.starts_with("L402_PROXY__SERVICES__5__NAME: index 5 skips entries"), "{e}");
    let zero = vec![("L402_PROXY__SERVICES__0__PRICE_MSAT".to_owned(), "0".to_owned())];
    let e = Config::from_toml_str(BASE, zero).unwrap_err().to_string();
    assert!(e.starts_with("services[0].price_msat: must be > 0"), "{e}");
}

fn timeouts(config: &Config) -> Vec<Timeouts> {
    config.services.iter().map(|s| config.timeouts_for(s)).collect()
}

#[test]
fn upstream_timeouts_fall_back_from_service_to_global_to_default() {
    let defaults = Config::from_toml_str(BASE, no_env()).unwrap();
    let default = Timeouts {
        connect: Duration::from_millis(TimeoutConfig::DEFAULT_CONNECT_MS),
        response: Some(Duration::from_millis(TimeoutConfig::DEFAULT_RESPONSE_MS)),
        idle: Some(Duration::from_millis(TimeoutConfig::DEFAULT_IDLE_MS)),
    };
    assert_eq!(default.connect, Duration::from_secs(10));
    assert_eq!(default.response, Some(Duration::from_secs(60)));
    assert_eq!(default.idle, Some(Duration::from_secs(300)));
    assert_eq!(timeouts(&defaults), vec![default, default]);

    let text = format!(
        "[upstream_timeouts]\nconnect_ms = 500\nresponse_ms = 2000\nidle_ms = 30000\n{BASE}\
         [services.upstream_timeouts]\nresponse_ms = 0\nidle_ms = 0\n"
    );
    let config = Config::from_toml_str(&text, no_env()).unwrap();
    assert_eq!(
        timeouts(&config),
        vec![
            Timeouts {
                connect: Duration::from_millis(500),
                response: Some(Duration::from_secs(2)),
                idle: Some(Duration::from_secs(30)),
            },
            // 0: no limit (long polling, silent streams); the connect limit is still inherited.
            Timeouts { connect: Duration::from_millis(500), response: None, idle: None },
        ]
    );

    let env = vec![
        ("L402_PROXY__UPSTREAM_TIMEOUTS__CONNECT_MS".to_owned(), "250".to_owned()),
        ("L402_PROXY__SERVICES__0__UPSTREAM_TIMEOUTS__RESPONSE_MS".to_owned(), "0".to_owned()),
        ("L402_PROXY__SERVICES__1__UPSTREAM_TIMEOUTS__IDLE_MS".to_owned(), "15000".to_owned()),
    ];
    let config = Config::from_toml_str(BASE, env).unwrap();
    assert_eq!(
        timeouts(&config),
        vec![
            Timeouts { connect: Duration::from_millis(250), response: None, idle: default.idle },
            Timeouts {
                connect: Duration::from_millis(250),
                response: default.response,
                idle: Some(Duration::from_secs(15)),
            },
        ]
    );
}

#[test]
fn bad_upstream_timeouts_are_config_errors_naming_the_key() {
    for value in ["-1", "\"10s\"", "1.5", "true", "-9223372036854775808"] {
        for (text, key) in [
            (
                format!("[upstream_timeouts]\nconnect_ms = {value}\n{BASE}"),
                "upstream_timeouts.connect_ms",
            ),
            (
                format!("{BASE}[services.upstream_timeouts]\nresponse_ms = {value}\n"),
                "services.upstream_timeouts.response_ms",
            ),
            (
                format!("[upstream_timeouts]\nidle_ms = {value}\n{BASE}"),
                "upstream_timeouts.idle_ms",
            ),
        ] {
            let e = Config::from_toml_str(&text, no_env()).unwrap_err();
            assert_eq!(e.code(), "config-syntax", "{value}: {e}");
            let e = e.to_string();
            assert!(e.contains("expected a whole number of milliseconds"), "{value}: {e}");
            assert!(e.contains(key), "{value}: {e}");
        }
    }
    let env = vec![("L402_PROXY__UPSTREAM_TIMEOUTS__RESPONSE_MS".to_owned(), "soon".to_owned())];
    let e = Config::from_toml_str(BASE, env).unwrap_err();
    assert_eq!(e.code(), "config-syntax");
    assert!(e.to_string().contains("upstream_timeouts.response_ms"), "{e}");

    // Only the response timeout can be turned off.
    let e =
        Config::from_toml_str(&format!("[upstream_timeouts]\nconnect_ms = 0\n{BASE}"), no_env())
            .unwrap_err();
    assert_eq!(e.code(), "config-invalid");
    assert!(e.to_string().starts_with("upstream_timeouts.connect_ms: must be > 0"), "{e}");
    let e = Config::from_toml_str(
        &format!("{BASE}[services.upstream_timeouts]\nconnect_ms = 0\n"),
        no_env(),
    )
    .unwrap_err();
    assert!(
        e.to_string().starts_with("services[1].upstream_timeouts.connect_ms: must be > 0"),
        "{e}"
    );

    let e = Config::from_toml_str(&format!("[upstream_timeouts]\nread_ms = 5\n{BASE}"), no_env())
        .unwrap_err();
    assert_eq!(e.code(), "config-syntax");
    assert!(e.to_string().contains("read_ms"), "{e}");
}

/// `not_delivered_statuses` and `not_delivered_grpc_statuses` (decision 0813): defaults, a
/// list replacing them, and bad codes named by key and index.
#[test]
fn not_delivered_statuses_default_replace_and_name_bad_codes() {
    use l402_server::NotDelivered;
    let config = Config::from_toml_str(BASE, no_env()).unwrap();
    assert_eq!(config.services[1].not_delivered(), NotDelivered::default());
    let text = format!("{BASE}not_delivered_statuses = [409]\nnot_delivered_grpc_statuses = []\n");
    let config = Config::from_toml_str(&text, no_env()).unwrap();
    assert_eq!(config.services[1].not_delivered(), NotDelivered::new([409], []));
    let env = vec![("L402_PROXY__SERVICES__1__NOT_DELIVERED_STATUSES".to_owned(), "[]".to_owned())];
    let from_env = Config::from_toml_str(BASE, env).unwrap();
    let charged_always = NotDelivered::new([], NotDelivered::DEFAULT_GRPC);
    assert_eq!(from_env.services[1].not_delivered(), charged_always);
    for (line, want) in [
        (
            "not_delivered_statuses = [200]",
            "services[1].not_delivered_statuses[0]: must be an HTTP error status, 400-599",
        ),
        ("not_delivered_statuses = [503, 600]", "services[1].not_delivered_statuses[1]: must be"),
        (
            "not_delivered_grpc_statuses = [0]",
            "services[1].not_delivered_grpc_statuses[0]: must be a gRPC error code, 1-16",
        ),
        (
            "not_delivered_grpc_statuses = [14, 17]",
            "services[1].not_delivered_grpc_statuses[1]: must be",
        ),
    ] {
        let e = Config::from_toml_str(&format!("{BASE}{line}\n"), no_env()).unwrap_err();
        assert_eq!(e.code(), "config-invalid", "{line}: {e}");
        assert!(e.to_string().starts_with(want), "{line}: {e}");
    }
    for line in [
        "not_delivered_statuses = [-1]",
        "not_delivered_statuses = \"5xx\"",
        "not_delivered_statuses = [70000]",
    ] {
        let e = Config::from_toml_str(&format!("{BASE}{line}\n"), no_env()).unwrap_err();
        assert_eq!(e.code(), "config-syntax", "{line}: {e}");
        assert!(e.to_string().contains("not_delivered_statuses"), "{line}: {e}");
    }
}

proptest::proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        let _ = Config::from_toml_str(&text, no_env());
    }

    #[test]
    fn prices_round_trip(msat in 1u64..u64::MAX) {
        let text = BASE.replace("price_msat = 1000", &format!("price_msat = {}", msat.min(i64::MAX as u64)));
        let c = Config::from_toml_str(&text, no_env()).unwrap();
        proptest::prop_assert_eq!(c.services[0].static_price_msat(), Some(msat.min(i64::MAX as u64)));
    }

    #[test]
    fn any_millisecond_count_is_accepted_without_panicking(ms in 0u64..=i64::MAX as u64) {
        let text = format!("[upstream_timeouts]\nresponse_ms = {ms}\nidle_ms = {ms}\nconnect_ms = {}\n{BASE}", ms.max(1));
        let c = Config::from_toml_str(&text, no_env()).unwrap();
        let t = c.timeouts_for(&c.services[0]);
        proptest::prop_assert_eq!(t.response, (ms > 0).then(|| Duration::from_millis(ms)));
        proptest::prop_assert_eq!(t.idle, (ms > 0).then(|| Duration::from_millis(ms)));
        proptest::prop_assert_eq!(t.connect, Duration::from_millis(ms.max(1)));
    }
}
