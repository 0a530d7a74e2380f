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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l402_get_pays_boltwall_once_under_the_lsat_scheme_and_reuses_the_token() {
    let env = env("boltwall").await;
    let dev_dir = env.dev_dir();
    let server = Server::start("node", "js/boltwall.mjs", &[&dev_dir, Path::new("7")]).await;

    let first = env.l402(&["get", &server.url]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert_eq!(first.stdout, server.body);
    let second = env.l402(&["get", &server.url]).await;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    assert_eq!(second.stdout, server.body);

    let spend = env.l402(&["spend", "--json"]).await.json();
    assert_eq!(spend["periods"]["total"]["paid"], 1, "{spend}");
    assert_eq!(spend["periods"]["total"]["amount_msat"], 7_000, "{spend}");
    let tokens = env.l402(&["tokens", "list"]).await.json();
    assert_eq!(tokens.as_array().map(Vec::len), Some(1), "{tokens}");
    let scope = tokens[0]["scope"].as_str().unwrap();
    let shown = env.l402(&["tokens", "show", scope, "--secret"]).await.json();
    let authorization = shown["authorization"].as_str().unwrap();
    assert!(authorization.starts_with("LSAT "), "stored under boltwall's scheme: {authorization}");

    let seen = server.stop().await;
    // The challenge, the paid retry, and the second run's token sent up front: every
    // credential under the scheme boltwall offered (it answers `L402` with a fresh 402).
    let schemes: Vec<&Value> =
        seen["requests"].as_array().unwrap().iter().map(|r| &r["scheme"]).collect();
    assert_eq!(schemes, [&Value::Null, &json!("LSAT"), &json!("LSAT")], "{seen}");
    assert_eq!(seen["invoices"].as_array().map(Vec::len), Some(1), "one invoice: {seen}");
    assert_eq!(env.settled(&seen["invoices"]), 1, "paid exactly once at the node: {seen}");
}
