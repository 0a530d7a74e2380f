//! Real third-party clients paying through our proxy: each reads the 402 with its own code,
//! pays the dev node's invoice (through its pairing protocol), sends its own credential, and
//! reuses it. Payments are counted at the node, so a client that paid twice fails.
#![cfg(feature = "peers")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test code")]

use l402_interop::run_script;
use l402_proxy::sample::SampleApi;
use l402_proxy::{Config, Proxy};
use serde_json::json;

const JS: (&str, &str) = ("node", "js/pay.mjs");

/// A proxy selling `/api/quote` for 7 sat, with its dev node paired in `dir/dev`.
async fn proxy(dir: &std::path::Path) -> (Proxy, SampleApi) {
    let api = SampleApi::start().await.unwrap();
    let toml = format!(
        r#"data_dir = "{data}"
[listen]
addr = "127.0.0.1:0"
[lightning]
backend = "dev"
dev_dir = "{dev}"
[[services]]
name = "quotes"
path_prefix = "/"
upstream = "{api}"
price_sat = 7
"#,
        data = dir.join("data").display(),
        dev = dir.join("dev").display(),
        api = api.url(),
    );
    let config = Config::from_toml_str(&toml, std::iter::empty()).unwrap();
    (Proxy::builder(config).start().await.unwrap(), api)
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("l402-interop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs one case of a paying script (`js/pay.mjs`, `py/pay.py`) against the proxy; returns
/// its answer.
async fn pay_through(
    proxy: &Proxy,
    script: (&'static str, &'static str),
    op: &str,
) -> serde_json::Value {
    let pairing = proxy.pairing_file().expect("the dev node pairs").to_owned();
    let url = format!("http://{}/api/quote", proxy.addr());
    let case = json!({"op": op, "url": url, "pairing": pairing});
    let got = tokio::task::spawn_blocking(move || run_script(script, &[case]));
    got.await.unwrap().unwrap().remove(0)
}

/// Settlements reach the ledger from the node's feed: waits for `n`, then counts them all.
async fn settled(proxy: &Proxy, n: u64) -> u64 {
    let waited =
        tokio::time::timeout(std::time::Duration::from_secs(10), proxy.ledger().wait_settled(n));
    waited.await.expect("the payment reached the ledger");
    proxy.ledger().revenue().settled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lsat_js_pays_once_through_the_proxy_and_reuses_its_token() {
    let dir = temp("lsat-js");
    let (proxy, _api) = proxy(&dir).await;
    let r = pay_through(&proxy, JS, "lsat-js").await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["statuses"], json!([402, 200, 200]), "{r}");
    assert_eq!(r["token_scheme"], "LSAT", "lsat-js sends its own scheme, which we accept");
    assert_eq!(settled(&proxy, 1).await, 1, "paid exactly once");
    assert_eq!(proxy.ledger().revenue().total_msat, 7_000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alby_fetch_with_l402_pays_once_through_the_proxy_and_reuses_its_credentials() {
    let dir = temp("alby");
    let (proxy, _api) = proxy(&dir).await;
    let r = pay_through(&proxy, JS, "alby").await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["statuses"], json!([200, 200]), "{r}");
    assert_eq!(r["paid"], 1, "{r}");
    assert_eq!(settled(&proxy, 1).await, 1, "paid exactly once");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l402_requests_pays_once_through_the_proxy_and_reuses_its_token() {
    let dir = temp("l402-requests");
    let (proxy, _api) = proxy(&dir).await;
    let r = pay_through(&proxy, ("python3", "py/pay.py"), "l402-requests").await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["statuses"], json!([200, 200]), "{r}");
    assert_eq!(r["paid"], 1, "{r}");
    assert_eq!(settled(&proxy, 1).await, 1, "paid exactly once");
    let _ = std::fs::remove_dir_all(&dir);
}
