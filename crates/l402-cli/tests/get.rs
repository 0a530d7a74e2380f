//! `l402 get`, `l402 tokens` and `l402 spend` as separate processes against an L402 server
//! on loopback, paying through the dev node's pairing endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test code")]
#![allow(clippy::indexing_slicing, reason = "test code: a missing field fails the test")]

#[path = "../../l402-client/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};

use common::{Mode, TestServer, PRICE_MSAT};
use l402_lightning::dev::DevNode;
use l402_lightning::dev::PairingServer;
use serde_json::Value;

struct Env {
    server: TestServer,
    _pairing: PairingServer,
    dir: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn env(name: &str) -> Env {
    let dir = std::env::temp_dir().join(format!("l402-cli-get-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("home")).unwrap();
    let node = DevNode::new().unwrap();
    let pairing = node.serve_pairing(&dir.join("dev")).await.unwrap();
    let server = TestServer::start(std::sync::Arc::new(node)).await.unwrap();
    Env { server, _pairing: pairing, dir }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
    fn error(&self) -> Value {
        serde_json::from_str(self.stderr.trim()).unwrap_or_else(|e| panic!("{e}: {}", self.stderr))
    }
}

impl Env {
    async fn l402(&self, args: &[&str]) -> Run {
        self.l402_in(args, &self.dir.join("dev")).await
    }

    async fn l402_in(&self, args: &[&str], dev_dir: &Path) -> Run {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_l402"));
        for (k, _) in std::env::vars() {
            if k.starts_with("L402_") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .args(args)
            .env("HOME", self.dir.join("home"))
            .env("L402_DEV_DIR", dev_dir)
            .env("L402_STORE", self.dir.join("client.db"))
            .output()
            .await
            .unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn get_pays_once_then_reuses_and_the_tokens_and_spend_commands_see_it() {
    let env = env("pay").await;
    let url = env.server.url("/weather");
    let first = env.l402(&["get", &url]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let v = first.json();
    assert_eq!(v["status"], 200);
    assert_eq!(v["body"], "paid GET /weather ");
    assert_eq!(v["payment"]["paid_now"], true);
    assert_eq!(v["payment"]["amount_msat"], PRICE_MSAT);
    let hash = v["payment"]["payment_hash"].as_str().unwrap().to_owned();

    let second = env.l402(&["get", &env.server.url("/other")]).await;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    assert_eq!(second.json()["payment"]["paid_now"], false);
    assert_eq!(second.json()["payment"]["payment_hash"], hash.as_str());
    assert_eq!(env.server.settled().await, 1);

    let spend = env.l402(&["spend", "--json", "--entries"]).await.json();
    assert_eq!(spend["periods"]["total"]["paid"], 1);
    assert_eq!(spend["periods"]["hour"]["amount_msat"], PRICE_MSAT);
    assert_eq!(spend["periods"]["day"]["by_domain_msat"]["127.0.0.1"], PRICE_MSAT);
    assert_eq!(spend["entries"][0]["payment_hash"], hash.as_str());
    assert_eq!(spend["entries"][0]["outcome"], "paid");
    let table = env.l402(&["spend", "--table"]).await;
    assert!(table.stdout.contains("127.0.0.1"), "{}", table.stdout);

    let list = env.l402(&["tokens", "list"]).await.json();
    let scope = list[0]["scope"].as_str().unwrap().to_owned();
    assert_eq!(scope, format!("http://{}", env.server.addr));
    assert!(list[0].get("preimage").is_none(), "list shows no secrets");
    let shown = env.l402(&["tokens", "show", &scope, "--secret"]).await.json();
    assert!(shown["authorization"].as_str().unwrap().starts_with("L402 "));

    let narrowed =
        env.l402(&["tokens", "attenuate", &scope, "--path-prefix", "/v1", "--max-uses", "3"]).await;
    assert_eq!(narrowed.code, Some(0), "{}", narrowed.stderr);
    let caveats = narrowed.json()["caveats"].clone();
    assert_eq!(caveats, serde_json::json!(["path_prefix=/v1", "max_uses=3"]));
    // The stored token is unchanged.
    assert_eq!(
        env.l402(&["tokens", "show", &scope]).await.json()["caveats"],
        serde_json::json!([])
    );

    let removed = env.l402(&["tokens", "remove", &scope]).await.json();
    assert_eq!(removed["removed"], true);
    assert_eq!(env.l402(&["tokens", "list"]).await.json(), serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_shows_the_price_and_pays_nothing() {
    let env = env("dry").await;
    let run = env.l402(&["get", "--dry-run", &env.server.url("/")]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["payment_required"], true);
    assert_eq!(v["cached_token"], false);
    assert_eq!(v["quote"]["amount_msat"], PRICE_MSAT);
    assert_eq!(v["quote"]["would_pay"], true);
    assert_eq!(env.server.settled().await, 0);
    // Even without a reachable wallet.
    let run = env
        .l402_in(
            &["get", "--dry-run", "--max-cost", "1", &env.server.url("/")],
            &env.dir.join("nowhere"),
        )
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["quote"]["would_pay"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_have_typed_exit_codes_and_pay_nothing() {
    let env = env("refuse").await;
    let url = env.server.url("/");
    let run = env.l402(&["get", "--max-cost", "1", &url]).await;
    assert_eq!((run.code, run.error()["code"].as_str()), (Some(4), Some("over-max-cost")));

    std::fs::write(env.dir.join("client.toml"), "[budget]\nper_request_sat = 5\n").unwrap();
    let config = env.dir.join("client.toml");
    let run = env.l402(&["get", "--config", config.to_str().unwrap(), &url]).await;
    assert_eq!(run.code, Some(4), "{}", run.stderr);
    assert_eq!(run.error()["code"], "over-budget");
    assert_eq!(run.error()["reason"], "per-request");

    env.server.set_mode(Mode::WrongHash);
    let run = env.l402(&["get", &url]).await;
    assert_eq!((run.code, run.error()["code"].as_str()), (Some(7), Some("invoice-mismatch")));
    env.server.set_mode(Mode::Amountless);
    let run = env.l402(&["get", &url]).await;
    assert_eq!((run.code, run.error()["reason"].as_str()), (Some(7), Some("amount-required")));
    assert_eq!(env.server.settled().await, 0);

    let run = env.l402_in(&["get", &url], &env.dir.join("nowhere")).await;
    assert_eq!((run.code, run.error()["code"].as_str()), (Some(9), Some("config")));
    let run = env.l402(&["get", "-H", "no colon", &url]).await;
    assert_eq!(run.code, Some(2));
    let run = env.l402(&["get", "http://127.0.0.1:1/"]).await;
    assert_eq!((run.code, run.error()["code"].as_str()), (Some(8), Some("transport")));
}

#[tokio::test(flavor = "multi_thread")]
async fn post_data_is_replayed_and_output_goes_to_a_file() {
    let env = env("post").await;
    let out = env.dir.join("body.txt");
    let run = env
        .l402(&[
            "get",
            "-X",
            "POST",
            "-d",
            "a=1",
            "-H",
            "X-Test: yes",
            "-o",
            out.to_str().unwrap(),
            &env.server.url("/submit"),
        ])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "paid POST /submit a=1");
    let v = run.json();
    assert_eq!(v["output"], out.to_str().unwrap());
    assert_eq!(v["bytes"], 21);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_to_a_file_draws_progress_only_on_a_terminal() {
    let env = env("progress").await;
    let url = env.server.url("/weather");
    let on_tty = env.dir.join("tty.txt");
    // util-linux `script` runs the command under a pseudo-terminal, as a user's shell would.
    let cmdline = format!("'{}' get -o '{}' '{url}'", env!("CARGO_BIN_EXE_l402"), on_tty.display());
    let mut cmd = tokio::process::Command::new("script");
    for (k, _) in std::env::vars() {
        if k.starts_with("L402_") {
            cmd.env_remove(k);
        }
    }
    let o = cmd
        .args(["-qfec", &cmdline, "/dev/null"])
        .env("HOME", env.dir.join("home"))
        .env("L402_DEV_DIR", env.dir.join("dev"))
        .env("L402_STORE", env.dir.join("client.db"))
        .output()
        .await
        .unwrap();
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{screen}");
    assert!(screen.contains("] 100%"), "no progress bar on the terminal: {screen:?}");
    assert_eq!(std::fs::read_to_string(&on_tty).unwrap(), "paid GET /weather ");

    let piped = env.dir.join("piped.txt");
    let plain = env.l402(&["get", "-o", piped.to_str().unwrap(), &url]).await;
    assert_eq!(plain.code, Some(0), "{}", plain.stderr);
    assert!(!plain.stderr.contains("100%"), "progress drawn without a terminal: {}", plain.stderr);
    assert_eq!(std::fs::read_to_string(&piped).unwrap(), "paid GET /weather ");
}
