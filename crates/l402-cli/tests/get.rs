//! `l402 get`, `l402 tokens` and `l402 spend` as separate processes against an L402 server
//! on loopback (plain HTTP, and behind TLS with a private CA), paying through the dev node's
//! pairing endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test code")]
#![allow(clippy::indexing_slicing, reason = "test code: a missing field fails the test")]

#[path = "../../l402-client/tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{Mode, TestServer, PRICE_MSAT};
use l402_lightning::dev::DevNode;
use l402_lightning::dev::PairingServer;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

struct Env {
    server: TestServer,
    _pairing: PairingServer,
    dir: PathBuf,
}

/// A CA no test server uses: the "platform's roots" of every run (see `l402_in`).
fn unrelated_ca() -> String {
    private_ca("unrelated test CA").pem()
}

/// Names differ so that a wrong CA is an unknown issuer, not a candidate with a bad signature.
fn private_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// The test server behind TLS, with a certificate for 127.0.0.1 from a private CA. TLS ends
/// here and the bytes go on to the plain server, so the challenges, invoices and payments
/// are the ones the plain tests check.
struct Https {
    addr: SocketAddr,
    /// The private CA's certificate, PEM.
    ca: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Https {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Https {
    async fn start(backend: SocketAddr) -> Https {
        let ca = private_ca("l402 test CA");
        let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
        let key = KeyPair::generate().unwrap();
        let cert = leaf.signed_by(&key, &ca).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(cert.pem().as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that does not trust the certificate ends here: nothing reaches
                    // the server behind.
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Https { addr, ca: ca.pem(), task }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }
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
    std::fs::write(dir.join("system-roots.pem"), unrelated_ca()).unwrap();
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
        run(self.command(args, dev_dir, &[]), None).await
    }

    /// With extra (or overridden) environment variables.
    async fn l402_env(&self, args: &[&str], vars: &[(&str, &Path)]) -> Run {
        run(self.command(args, &self.dir.join("dev"), vars), None).await
    }

    /// With `input` on standard input.
    async fn l402_stdin(&self, args: &[&str], input: Vec<u8>) -> Run {
        run(self.command(args, &self.dir.join("dev"), &[]), Some(input)).await
    }

    /// As if the machine had no CA bundle at all: rustls-native-certs finds nothing.
    async fn l402_without_roots(&self, args: &[&str]) -> Run {
        let nowhere = self.dir.join("no-such-bundle");
        self.l402_env(args, &[("SSL_CERT_FILE", &nowhere), ("SSL_CERT_DIR", &nowhere)]).await
    }

    fn command(
        &self,
        args: &[&str],
        dev_dir: &Path,
        vars: &[(&str, &Path)],
    ) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_l402"));
        for (k, _) in std::env::vars() {
            if k.starts_with("L402_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args)
            .env("HOME", self.dir.join("home"))
            .env("L402_DEV_DIR", dev_dir)
            .env("L402_STORE", self.dir.join("client.db"))
            // The platform's roots, as rustls-native-certs reads them: one CA that signed
            // nothing here, so no test depends on (or is fooled by) the machine's bundle.
            .env("SSL_CERT_FILE", self.dir.join("system-roots.pem"))
            .env_remove("SSL_CERT_DIR");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd
    }
}

async fn run(mut cmd: tokio::process::Command, input: Option<Vec<u8>>) -> Run {
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt as _;
    let stdin = if input.is_some() { Stdio::piped() } else { Stdio::null() };
    let mut child = cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    if let (Some(input), Some(mut pipe)) = (input, child.stdin.take()) {
        // l402 may stop reading once it has seen enough: a broken pipe is its answer.
        let _ = pipe.write_all(&input).await;
    }
    let out = child.wait_with_output().await.unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn get_pays_once_then_reuses_and_the_tokens_and_spend_commands_see_it() {
    let env = env("pay").await;
    let url = env.server.url("/weather");
    let first = env.l402(&["get", "--json", &url]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let v = first.json();
    assert_eq!(v["status"], 200);
    assert_eq!(v["body"], "paid GET /weather ");
    assert_eq!(v["payment"]["paid_now"], true);
    assert_eq!(v["payment"]["amount_msat"], PRICE_MSAT);
    let hash = v["payment"]["payment_hash"].as_str().unwrap().to_owned();

    let second = env.l402(&["get", "--json", &env.server.url("/other")]).await;
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
    let run = env.l402(&["get", "--json", "--dry-run", &env.server.url("/")]).await;
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
            &["get", "--json", "--dry-run", "--max-cost", "1", &env.server.url("/")],
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
    let run = env.l402(&["get", "--json", "--max-cost", "1", &url]).await;
    assert_eq!((run.code, run.error()["code"].as_str()), (Some(4), Some("over-max-cost")));

    std::fs::write(env.dir.join("client.toml"), "[budget]\nper_request_sat = 5\n").unwrap();
    let config = env.dir.join("client.toml");
    let run = env.l402(&["get", "--json", "--config", config.to_str().unwrap(), &url]).await;
    assert_eq!(run.code, Some(4), "{}", run.stderr);
    assert_eq!(run.error()["code"], "over-budget");
    assert_eq!(run.error()["reason"], "per-request");

    env.server.set_mode(Mode::WrongHash);
    let run = env.l402(&["get", "--json", &url]).await;
    assert_eq!((run.code, run.error()["code"].as_str()), (Some(7), Some("invoice-mismatch")));
    env.server.set_mode(Mode::Amountless);
    let run = env.l402(&["get", "--json", &url]).await;
    assert_eq!((run.code, run.error()["reason"].as_str()), (Some(7), Some("amount-required")));
    assert_eq!(env.server.settled().await, 0);

    // Without a usable wallet, a 402 fails before anything moves (a free URL is fetched:
    // `a_free_url_needs_no_wallet`).
    env.server.set_mode(Mode::Honest);
    let run = env.l402_in(&["get", "--json", &url], &env.dir.join("nowhere")).await;
    assert_eq!((run.code, run.error()["code"].as_str()), (Some(5), Some("payment-failed")));
    assert_eq!(run.error()["reason"], "config", "{}", run.stderr);
    assert_eq!(run.error()["paid"], "no");
    assert_eq!(env.server.settled().await, 0);
    let run = env.l402(&["get", "--json", "-H", "no colon", &url]).await;
    assert_eq!(run.code, Some(2));
    let run = env.l402(&["get", "--json", "http://127.0.0.1:1/"]).await;
    assert_eq!((run.code, run.error()["code"].as_str()), (Some(8), Some("transport")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_refused_the_token_it_sold_is_not_paid_again_until_asked() {
    let env = env("rejected").await;
    env.server.set_mode(Mode::RejectAllTokens);
    let url = env.server.url("/");
    let run = env.l402(&["get", "--json", &url]).await;
    assert_eq!((run.code, run.error()["code"].as_str()), (Some(7), Some("token-rejected")));
    let hash = run.error()["payment_hash"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let run = env.l402(&["get", "--json", &url]).await;
        assert_eq!((run.code, run.error()["code"].as_str()), (Some(4), Some("rejected-recently")));
        assert_eq!(run.error()["payment_hash"], hash.as_str());
        assert!(run.error()["retry_after"].as_u64().is_some());
    }
    assert_eq!(env.server.settled().await, 1, "paid once");
    let spend = env.l402(&["spend", "--json", "--entries"]).await.json();
    assert_eq!(spend["entries"][0]["outcome"], "rejected");
    assert_eq!(spend["periods"]["total"]["rejected"], 1);
    assert_eq!(spend["periods"]["total"]["amount_msat"], PRICE_MSAT, "still spent");
    let run = env.l402(&["get", "--json", "--retry-rejected", &url]).await;
    assert_eq!((run.code, run.error()["code"].as_str()), (Some(7), Some("token-rejected")));
    assert_eq!(env.server.settled().await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_free_url_needs_no_wallet_and_redirects_are_followed_only_with_l() {
    let env = env("no-wallet").await;
    let (front, task) = common::redirector(env.server.url("")).await.unwrap();
    let url = format!("http://{front}/x");
    let nowhere = env.dir.join("nowhere");
    let run = env.l402_in(&["get", "--json", &url], &nowhere).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["status"], 307, "not followed without -L");
    // With -L the redirect leads to a paid server on another origin: not paid there.
    let run = env.l402(&["get", "--json", "-L", &url]).await;
    assert_eq!((run.code, run.error()["code"].as_str()), (Some(7), Some("redirected-challenge")));
    let run = env.l402(&["get", "--json", "-L", "--max-redirs", "0", &url]).await;
    assert_eq!(run.code, Some(0), "--max-redirs 0 follows none: {}", run.stderr);
    assert_eq!(env.server.settled().await, 0);
    task.abort();
}

/// curl's habits: the body goes to stdout as it arrives, piped or not; -i puts the status
/// and headers first; -f writes no body for an error status; -s silences the payment line;
/// --max-filesize bounds the body.
#[tokio::test(flavor = "multi_thread")]
async fn the_body_goes_raw_to_stdout_with_curls_flags() {
    let env = env("raw").await;
    let url = env.server.url("/raw");
    let run = env.l402(&["get", &url]).await;
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), "paid GET /raw "), "{}", run.stderr);
    assert!(run.stderr.contains("l402: paid"), "{}", run.stderr);
    let run = env.l402(&["get", "-s", "-i", &url]).await;
    assert!(run.stdout.starts_with("HTTP/1.1 200 OK\r\n"), "{}", run.stdout);
    assert!(run.stdout.ends_with("\r\n\r\npaid GET /raw "), "{}", run.stdout);
    assert!(run.stderr.is_empty(), "-s: {}", run.stderr);
    let run = env.l402(&["get", "-v", &url]).await;
    assert!(run.stderr.contains(&format!("> GET {url}")), "{}", run.stderr);
    assert!(run.stderr.contains("< HTTP/1.1 200 OK"), "{}", run.stderr);
    let run = env.l402(&["get", "--max-filesize", "3", &url]).await;
    assert_eq!((run.code, run.error()["code"].as_str()), (Some(9), Some("too-large")));
    assert_eq!(env.server.settled().await, 1, "paid once, reused since");
    let e404 = silent_server(b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnope").await;
    let run = env.l402(&["get", &format!("http://{e404}/")]).await;
    assert_eq!((run.code, run.stdout.as_str()), (Some(3), "nope"));
    let run = env.l402(&["get", "-f", &format!("http://{e404}/")]).await;
    assert_eq!((run.code, run.stdout.as_str()), (Some(3), ""));
}

/// A server that accepts, reads a request head, optionally writes `head`, and then says
/// nothing more, holding the connection open.
async fn silent_server(head: &'static [u8]) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = listener.accept().await {
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf).await {
                    Ok(n) if n > 0 => seen.extend_from_slice(buf.get(..n).unwrap_or_default()),
                    _ => break,
                }
            }
            let _ = s.write_all(head).await;
            held.push(s);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_or_stalls_its_body_is_a_timeout() {
    let env = env("timeout").await;
    let mute = silent_server(b"").await;
    let run = env.l402(&["get", "--json", "--max-time", "0.5", &format!("http://{mute}/")]).await;
    assert_eq!(
        (run.code, run.error()["code"].as_str()),
        (Some(8), Some("timeout")),
        "{}",
        run.stderr
    );
    let stall = silent_server(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc").await;
    let run = env.l402(&["get", "--json", "--max-time", "0.5", &format!("http://{stall}/")]).await;
    assert_eq!(
        (run.code, run.error()["code"].as_str()),
        (Some(8), Some("timeout")),
        "{}",
        run.stderr
    );
    for bad in [["--max-time", "-1"], ["--connect-timeout", "0"]] {
        let run = env.l402(&["get", "--json", bad[0], bad[1], &env.server.url("/")]).await;
        assert_eq!((run.code, run.error()["code"].as_str()), (Some(2), Some("usage")), "{bad:?}");
    }
    assert_eq!(env.server.settled().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn post_data_is_replayed_and_output_goes_to_a_file() {
    let env = env("post").await;
    let out = env.dir.join("body.txt");
    let run = env
        .l402(&[
            "get",
            "--json",
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
    let plain = env.l402(&["get", "--json", "-o", piped.to_str().unwrap(), &url]).await;
    assert_eq!(plain.code, Some(0), "{}", plain.stderr);
    assert!(!plain.stderr.contains("100%"), "progress drawn without a terminal: {}", plain.stderr);
    assert_eq!(std::fs::read_to_string(&piped).unwrap(), "paid GET /weather ");
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_cacert_pays_and_prints_the_body() {
    let env = env("https").await;
    let https = Https::start(env.server.addr).await;
    // A bundle, as curl takes: another CA first, then the one that signed the server's.
    let bundle = env.dir.join("bundle.pem");
    std::fs::write(&bundle, format!("{}{}", unrelated_ca(), https.ca)).unwrap();
    let cacert = bundle.to_str().unwrap();

    let dry = env.l402(&["get", "--json", "--dry-run", "--cacert", cacert, &https.url("/")]).await;
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert_eq!(dry.json()["payment_required"], true);

    let run = env.l402(&["get", "--json", "--cacert", cacert, &https.url("/weather")]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["status"], 200);
    assert_eq!(v["body"], "paid GET /weather ");
    assert_eq!(v["payment"]["paid_now"], true);
    assert_eq!(v["payment"]["scope"], https.url(""));
    assert_eq!(env.server.settled().await, 1);

    // The token bought over HTTPS is reused there.
    let again = env.l402(&["get", "--json", "--cacert", cacert, &https.url("/again")]).await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(again.json()["payment"]["paid_now"], false);
    assert_eq!(again.json()["body"], "paid GET /again ");
    assert_eq!(env.server.settled().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_without_cacert_is_a_transport_error_and_pays_nothing() {
    let env = env("https-untrusted").await;
    let https = Https::start(env.server.addr).await;
    let run = env.l402(&["get", "--json", &https.url("/weather")]).await;
    assert_eq!((run.code, run.error()["code"].as_str()), (Some(8), Some("transport")));
    let message = run.error()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("certificate"), "names the TLS cause: {message}");
    assert_eq!(env.server.challenges(), 0, "the request never got past the handshake");
    assert_eq!(env.server.settled().await, 0);
    let spend = env.l402(&["spend", "--json"]).await.json();
    assert_eq!(spend["periods"]["total"]["paid"], 0);
    assert_eq!(spend["periods"]["total"]["pending"], 0);
    assert_eq!(env.l402(&["tokens", "list"]).await.json(), serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_cacert_file_is_a_usage_error() {
    let env = env("bad-cacert").await;
    // A plain-HTTP URL the fetch would succeed on: only the refusal of the file stops it.
    let url = env.server.url("/");
    let garbage = env.dir.join("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    // Well-formed PEM and base64, but the bytes are not a certificate.
    let not_der = env.dir.join("not-der.pem");
    std::fs::write(
        &not_der,
        "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let broken = env.dir.join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n")
        .unwrap();
    let missing = env.dir.join("missing.pem");
    for (file, reason) in [
        (&garbage, "no-certificate"),
        (&not_der, "invalid-certificate"),
        (&broken, "malformed-pem"),
        (&missing, "unreadable"),
        (&env.dir, "unreadable"),
    ] {
        let run = env.l402(&["get", "--json", "--cacert", file.to_str().unwrap(), &url]).await;
        assert_eq!(run.code, Some(2), "{}: {}", file.display(), run.stderr);
        let e = run.error();
        assert_eq!((e["code"].as_str(), e["reason"].as_str()), (Some("cacert"), Some(reason)));
        assert!(e["message"].as_str().unwrap().contains(file.to_str().unwrap()), "{e}");
    }
    assert_eq!(env.server.challenges(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_needs_no_system_roots() {
    let env = env("no-roots-http").await;
    let url = env.server.url("/weather");
    let dry = env.l402_without_roots(&["get", "--json", "--dry-run", &url]).await;
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert_eq!(dry.json()["payment_required"], true);
    let run = env.l402_without_roots(&["get", "--json", &url]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["body"], "paid GET /weather ");
    assert_eq!(run.json()["payment"]["paid_now"], true);
    assert_eq!(env.server.settled().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_without_system_roots_verifies_against_the_bundled_roots() {
    let env = env("no-roots-https").await;
    let https = Https::start(env.server.addr).await;
    // The private CA is in no bundle: refused at the handshake, and the error says which
    // roots were used.
    let run = env.l402_without_roots(&["get", "--json", &https.url("/weather")]).await;
    assert_eq!(
        (run.code, run.error()["code"].as_str()),
        (Some(8), Some("transport")),
        "{}",
        run.stderr
    );
    assert_eq!(run.error()["roots"], "bundled");
    assert!(run.error()["message"].as_str().unwrap().contains("certificate"), "{}", run.stderr);
    assert_eq!(env.server.challenges(), 0);

    // --cacert adds to the bundled roots as it adds to the platform's.
    let ca = env.dir.join("ca.pem");
    std::fs::write(&ca, &https.ca).unwrap();
    let run = env
        .l402_without_roots(&[
            "get",
            "--json",
            "--cacert",
            ca.to_str().unwrap(),
            &https.url("/weather"),
        ])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["body"], "paid GET /weather ");
    assert_eq!(env.server.settled().await, 1);

    // With a bundle, a transport error does not mention roots.
    let run = env.l402(&["get", "--json", &https.url("/weather")]).await;
    assert_eq!(run.code, Some(8), "{}", run.stderr);
    assert!(run.error().get("roots").is_none(), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn cacert_comes_from_the_flag_the_environment_or_the_config_file() {
    let env = env("cacert-sources").await;
    let https = Https::start(env.server.addr).await;
    let url = https.url("/");
    let good = env.dir.join("good.pem");
    std::fs::write(&good, &https.ca).unwrap();
    let missing = env.dir.join("missing.pem");
    let config = env.dir.join("client.toml");
    let with_config = |ca: &Path| {
        std::fs::write(&config, format!("cacert = {:?}\n", ca.to_str().unwrap())).unwrap();
    };
    // --dry-run reaches the server (or fails the handshake) and pays nothing.
    let trusted = |run: &Run| {
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert_eq!(run.json()["payment_required"], true);
    };
    let refused = |run: &Run, from: &str| {
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        let e = run.error();
        assert_eq!(
            (e["code"].as_str(), e["reason"].as_str()),
            (Some("cacert"), Some("unreadable"))
        );
        let message = e["message"].as_str().unwrap();
        assert!(message.starts_with(from), "names where the file came from: {message}");
        assert!(message.contains(missing.to_str().unwrap()), "{message}");
    };

    let none = env.l402(&["get", "--json", "--dry-run", &url]).await;
    assert_eq!((none.code, none.error()["code"].as_str()), (Some(8), Some("transport")));

    // The file alone, found through $HOME like a user's.
    std::fs::create_dir_all(env.dir.join("home/.l402")).unwrap();
    let home_config = env.dir.join("home/.l402/client.toml");
    std::fs::write(&home_config, format!("cacert = {:?}\n", good.to_str().unwrap())).unwrap();
    trusted(&env.l402(&["get", "--json", "--dry-run", &url]).await);
    std::fs::remove_file(&home_config).unwrap();

    with_config(&missing);
    let cfg = config.to_str().unwrap();
    let run = env.l402(&["get", "--json", "--config", cfg, "--dry-run", &url]).await;
    refused(&run, &format!("cacert in {cfg}"));

    // The environment wins over the file.
    let args = ["get", "--config", cfg, "--dry-run", &url];
    trusted(&env.l402_env(&args, &[("L402_CACERT", &good)]).await);
    with_config(&good);
    refused(&env.l402_env(&args, &[("L402_CACERT", &missing)]).await, "L402_CACERT");

    // The flag wins over both.
    let flag = ["get", "--config", cfg, "--cacert", good.to_str().unwrap(), "--dry-run", &url];
    with_config(&missing);
    trusted(&env.l402_env(&flag, &[("L402_CACERT", &missing)]).await);
    let flag = ["get", "--config", cfg, "--cacert", missing.to_str().unwrap(), "--dry-run", &url];
    with_config(&good);
    refused(&env.l402_env(&flag, &[("L402_CACERT", &good)]).await, "--cacert");

    // And a configured CA serves a real paid fetch, not only the dry run.
    let run = env.l402(&["get", "--json", "--config", cfg, &https.url("/weather")]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["payment"]["paid_now"], true);
    assert_eq!(env.server.settled().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_max_body_is_refused_before_anything_is_sent() {
    let env = env("max-body").await;
    let url = env.server.url("/submit");
    let file = env.dir.join("body.txt");
    let body = "x".repeat(100);
    std::fs::write(&file, &body).unwrap();
    let data = format!("@{}", file.display());
    let too_large = |run: &Run, limit: u64| {
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        assert_eq!(run.error()["code"], "body-too-large", "{}", run.stderr);
        assert_eq!(run.error()["limit_bytes"], limit);
    };

    too_large(
        &env.l402(&["get", "--json", "-X", "POST", "--max-body", "99", "-d", &data, &url]).await,
        99,
    );
    let stdin = env
        .l402_stdin(
            &["get", "--json", "-X", "POST", "--max-body", "99", "-d", "@-", &url],
            body.clone().into_bytes(),
        )
        .await;
    too_large(&stdin, 99);
    too_large(
        &env.l402(&["get", "--json", "-X", "POST", "--max-body", "99", "-d", &body, &url]).await,
        99,
    );
    // The default, 64 MiB, against a sparse file one byte over it.
    let big = env.dir.join("big.bin");
    std::fs::File::create(&big).unwrap().set_len((64 << 20) + 1).unwrap();
    let run = env
        .l402(&["get", "--json", "-X", "POST", "-d", &format!("@{}", big.display()), &url])
        .await;
    too_large(&run, 64 << 20);
    assert_eq!(env.server.challenges(), 0, "nothing was sent");
    assert_eq!(env.server.settled().await, 0, "nothing was paid");

    // At the limit it goes through, and is sent again after paying.
    let run =
        env.l402(&["get", "--json", "-X", "POST", "--max-body", "100", "-d", &data, &url]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["body"], format!("paid POST /submit {body}"));
    let run = env
        .l402_stdin(
            &["get", "--json", "-X", "POST", "--max-body", "100", "-d", "@-", &url],
            body.clone().into_bytes(),
        )
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["body"], format!("paid POST /submit {body}"));
    assert_eq!(env.server.settled().await, 1);
}
