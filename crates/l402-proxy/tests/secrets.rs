//! Secrets in the configuration (the admin token, the PostgreSQL password) never reach
//! `Debug` output or a configuration error (decision 0816).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use l402_proxy::Config;

const TOKEN: &str = "s3cret-admin-token-0123456789";
const PASSWORD: &str = "pg-pa55word";

fn config(store: &str, admin: &str) -> String {
    format!(
        r#"
[admin]
addr = "127.0.0.1:8403"
{admin}

[store]
kind = "postgres"
{store}

[[services]]
name = "a"
upstream = "http://127.0.0.1:9000"
price_msat = 1000
"#
    )
}

#[test]
fn debug_shows_neither_the_admin_token_nor_the_postgres_password() {
    for (store, kept) in [
        (
            format!(
                r#"url = "postgres://l402:{PASSWORD}@db.internal:5432/tokens?sslmode=require""#
            ),
            "postgres://l402:<redacted>@db.internal:5432/tokens?sslmode=require",
        ),
        (
            format!(r#"url = "postgres://l402@db.internal/tokens?password={PASSWORD}""#),
            "postgres://l402@db.internal/tokens?password=<redacted>",
        ),
        (
            format!(r#"url = "host=db.internal user=l402 password='{PASSWORD} x' dbname=tokens""#),
            "host=db.internal user=l402 password=<redacted> dbname=tokens",
        ),
    ] {
        let text = config(&store, &format!(r#"token = "{TOKEN}""#));
        let config = Config::from_toml_str(&text, Vec::new()).unwrap();
        for shown in [format!("{config:?}"), format!("{config:#?}"), format!("{:?}", config.store)]
        {
            assert!(!shown.contains(TOKEN) && !shown.contains(PASSWORD), "{shown}");
            assert!(shown.contains(kept), "the rest stays useful: {shown}");
        }
        let admin = format!("{:?}", config.admin);
        assert!(admin.contains("<redacted>") && admin.contains("127.0.0.1:8403"), "{admin}");
        // The secrets are still there for the proxy to use.
        assert_eq!(config.admin.as_ref().unwrap().token, TOKEN);
        assert!(config.store.url.as_deref().unwrap().contains(PASSWORD));
    }
}

#[test]
fn a_syntax_error_on_the_token_line_does_not_quote_it() {
    let store = format!(r#"url = "postgres://l402:{PASSWORD}@db/tokens""#);
    for (admin, store, at) in [
        // An unclosed string, a missing `=`, a stray character after the value.
        (format!(r#"token = "{TOKEN}"#), store.clone(), "line 4"),
        (format!(r#"token "{TOKEN}""#), store.clone(), "line 4"),
        (format!(r#"token = "{TOKEN}" x"#), store.clone(), "line 4"),
        (
            r#"token = "0123456789abcdef""#.to_owned(),
            format!(r#"url = postgres://l402:{PASSWORD}@db"#),
            "line 8",
        ),
    ] {
        let e = Config::from_toml_str(&config(&store, &admin), Vec::new()).unwrap_err();
        assert_eq!(e.code(), "config-syntax");
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(TOKEN) && !shown.contains(PASSWORD), "{shown}");
        assert!(shown.contains(at) && shown.contains("column"), "the position stays: {shown}");
    }
    // A value of the wrong type is named by its key, not by its value.
    let e = Config::from_toml_str(&config(&store, "token = 98765432109876543"), Vec::new())
        .unwrap_err();
    let shown = format!("{e} {e:?}");
    assert_eq!(e.code(), "config-syntax");
    assert!(!shown.contains("98765432109876543"), "{shown}");
    assert!(shown.contains("admin.token") || shown.contains("token"), "{shown}");
}
