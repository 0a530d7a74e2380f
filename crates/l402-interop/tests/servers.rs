//! Real third-party L402 servers, paid by the real `l402` client. Each server sells a route
//! through a dev node owned by the test (its invoices come from the node's pairing endpoint),
//! and `l402 get` pays it once and reuses the token. Payments are counted at the node, so a
//! client that paid twice fails. The `l402` binary is named in `L402_BIN`, which
//! `cargo xtask interop` builds.
#![cfg(feature = "peers")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test code")]
#![allow(clippy::indexing_slicing, reason = "test code: a missing field fails the test")]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use l402_lightning::dev::{DevNode, PairingServer};
use l402_lightning::InvoiceState;
use l402_token::PaymentHash;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A dev node with its pairing endpoint, and a client's home, store and pairing directory.
struct Env {
    node: DevNode,
    _pairing: PairingServer,
    dir: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn env(name: &str) -> Env {
    let dir =
        std::env::temp_dir().join(format!("l402-interop-server-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("home")).unwrap();
    let node = DevNode::new().unwrap();
    let pairing = node.serve_pairing(&dir.join("dev")).await.unwrap();
    Env { node, _pairing: pairing, dir }
}

/// One run of the `l402` binary.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

impl Env {
    fn dev_dir(&self) -> PathBuf {
        self.dir.join("dev")
    }

    /// `l402 ARGS` with this environment's wallet, store and home, and no inherited `L402_*`.
    async fn l402(&self, args: &[&str]) -> Run {
        let bin = std::env::var_os("L402_BIN").expect(
            "L402_BIN must name the l402 binary: run `cargo xtask interop`, which builds it",
        );
        let mut cmd = Command::new(bin);
        for (k, _) in std::env::vars() {
            if k.starts_with("L402_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args)
            .env("HOME", self.dir.join("home"))
            .env("L402_DEV_DIR", self.dev_dir())
            .env("L402_STORE", self.dir.join("client.db"))
            .stdin(Stdio::null());
        let out = cmd.output().await.unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    /// How many of `hashes` (the invoices a server asked the node for) the node settled.
    fn settled(&self, hashes: &Value) -> usize {
        let hashes = hashes.as_array().expect("a list of payment hashes");
        let settled = |h: &&Value| {
            let hash: PaymentHash = h.as_str().unwrap().parse().unwrap();
            matches!(self.node.state(&hash), Ok(InvoiceState::Settled(_)))
        };
        hashes.iter().filter(settled).count()
    }
}

/// A third-party server script, running until [`Server::stop`] (or killed when dropped).
struct Server {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// The protected URL.
    url: String,
    /// What it answers there once paid.
    body: String,
}

impl Server {
    /// Starts `program script args…` from this crate's directory; waits for its first line,
    /// `{"url", "body"}`.
    async fn start(program: &str, script: &str, args: &[&Path]) -> Server {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new(program)
            .arg(crate_dir.join(script))
            .args(args)
            .env("L402_INTEROP_DIR", l402_interop::interop_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{program} {script}: {e}"));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next_line().await.unwrap();
        let ready: Value = match first {
            Some(line) => serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")),
            None => panic!("{script} exited before listening: {:?}", child.wait().await),
        };
        let url = ready["url"].as_str().unwrap().to_owned();
        let body = ready["body"].as_str().unwrap().to_owned();
        Server { child, lines, url, body }
    }

    /// Closes its stdin and returns its last line: what it saw.
    async fn stop(mut self) -> Value {
        drop(self.child.stdin.take());
        let line = self.lines.next_line().await.unwrap().expect("a summary line");
        let status = self.child.wait().await.unwrap();
        assert!(status.success(), "server exited with {status}");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }
}

/// `l402 get FLAGS URL` twice: both answer the protected body, and the client's ledger and
/// token store show one payment of `price_msat` and one token sent under `scheme`. Stops the
/// server and checks what it saw: the challenge, the paid retry, and the second run's token
/// sent up front, all under `scheme`, for one invoice the node settled. Returns what it saw.
async fn pays_once_and_reuses(
    env: &Env,
    server: Server,
    flags: &[&str],
    scheme: &str,
    price_msat: u64,
) -> Value {
    let args: Vec<&str> =
        ["get"].iter().chain(flags).chain([&server.url.as_str()]).copied().collect();
    for run in ["first", "second"] {
        let got = env.l402(&args).await;
        assert_eq!(got.code, Some(0), "{run} run: {}", got.stderr);
        assert_eq!(got.stdout, server.body, "{run} run");
    }

    let spend = env.l402(&["spend", "--json"]).await.json();
    assert_eq!(spend["periods"]["total"]["paid"], 1, "{spend}");
    assert_eq!(spend["periods"]["total"]["amount_msat"], price_msat, "{spend}");
    let tokens = env.l402(&["tokens", "list"]).await.json();
    assert_eq!(tokens.as_array().map(Vec::len), Some(1), "{tokens}");
    let scope = tokens[0]["scope"].as_str().unwrap();
    let shown = env.l402(&["tokens", "show", scope, "--secret"]).await.json();
    let authorization = shown["authorization"].as_str().unwrap();
    assert!(authorization.starts_with(&format!("{scheme} ")), "stored under {scheme}: {shown}");

    let seen = server.stop().await;
    let schemes: Vec<&Value> =
        seen["requests"].as_array().unwrap().iter().map(|r| &r["scheme"]).collect();
    assert_eq!(schemes, [&Value::Null, &json!(scheme), &json!(scheme)], "{seen}");
    assert_eq!(seen["invoices"].as_array().map(Vec::len), Some(1), "one invoice: {seen}");
    assert_eq!(env.settled(&seen["invoices"]), 1, "paid exactly once at the node: {seen}");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l402_get_pays_boltwall_once_under_the_lsat_scheme_and_reuses_the_token() {
    let env = env("boltwall").await;
    let server = Server::start("node", "js/boltwall.mjs", &[&env.dev_dir(), Path::new("7")]).await;
    // boltwall offers only `LSAT`, and answers an `L402` credential with a fresh 402.
    pays_once_and_reuses(&env, server, &[], "LSAT", 7_000).await;
}

/// lightning-toll's `macaroon="…"` is base64url JSON (`{"id", "caveats", "signature"}`), not a
/// macaroon: the client cannot check the token binds the invoice, so it refuses unless told
/// the token is opaque.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l402_get_refuses_lightning_toll_s_json_token_and_pays_nothing() {
    let env = env("toll-refused").await;
    let server = Server::start("python3", "py/toll.py", &[&env.dev_dir(), Path::new("5")]).await;
    let got = env.l402(&["get", "--json", &server.url]).await;
    assert_eq!(got.code, Some(7), "the server misbehaved: {}", got.stderr);
    let error: Value =
        serde_json::from_str(got.stderr.trim()).unwrap_or_else(|e| panic!("{e}: {}", got.stderr));
    assert_eq!(error["code"], "opaque-token", "{error}");
    assert_eq!(error["reason"], "malformed-macaroon", "{error}");
    assert_eq!(got.stdout, "");

    let spend = env.l402(&["spend", "--json"]).await.json();
    assert_eq!(spend["periods"]["total"]["paid"], 0, "{spend}");
    let seen = server.stop().await;
    assert_eq!(seen["invoices"].as_array().map(Vec::len), Some(1), "one challenge: {seen}");
    assert_eq!(env.settled(&seen["invoices"]), 0, "nothing paid at the node: {seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l402_get_opaque_token_pays_lightning_toll_once_and_reuses_the_token() {
    let env = env("toll-opaque").await;
    let server = Server::start("python3", "py/toll.py", &[&env.dev_dir(), Path::new("5")]).await;
    let seen = pays_once_and_reuses(&env, server, &["--opaque-token"], "L402", 5_000).await;
    assert_eq!(seen["paid"], seen["invoices"], "its wallet saw the payment too: {seen}");
}
