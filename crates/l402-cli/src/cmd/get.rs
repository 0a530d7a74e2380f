//! `l402 get`: a curl-like client that pays L402 challenges within limits and budgets.
//!
//! Exit codes (documented in docs/client.md):
//! 0 response with status < 400; 2 usage; 3 response with status >= 400;
//! 4 refused by a limit (`over-budget`, `over-max-cost`, `rejected-recently`); 5 payment failed, nothing paid;
//! 6 payment outcome unknown or still pending (`payment-failed` with paid=unknown,
//! `payment-pending`); 7 the server misbehaved (`invalid-challenge`, `opaque-token`, `invalid-invoice`,
//! `invoice-mismatch`, `token-rejected`, `insecure-transport`, `redirected-challenge`); 8
//! transport (connection, DNS, TLS, `timeout`); 9 local (`config`, `store`, `token-key`, `lightning`, `body-not-replayable`, output).
//! A `--cacert` file that cannot be used is a usage error (2) with code `cacert`, and so is a
//! `-d` body over `--max-body` (code `body-too-large`).

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use clap::Args;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use l402_client::{Error, L402Middleware, Paid, Receipt, Scope, ScopePolicy, TokenStatus};
use l402_lightning::{Network, PayRequest, Payer, Payment, PaymentStatus};
use l402_token::PaymentHash;
use serde_json::json;

use super::cacert::{self, CaCert};
use super::tls::{self, Roots};
use super::wallet::{ClientArgs, ClientConfig, Wallet};
use crate::out;

/// A response with status >= 400.
const HTTP_ERROR: u8 = 3;
/// Refused by a limit.
const LIMIT: u8 = 4;
/// Payment failed, nothing paid.
const NOT_PAID: u8 = 5;
/// Payment outcome unknown, or an earlier payment still pending.
const UNKNOWN: u8 = 6;
/// The server misbehaved.
const SERVER: u8 = 7;
/// Connection, DNS, TLS.
const TRANSPORT: u8 = 8;
/// Configuration, store, key, wallet, output file.
const LOCAL: u8 = 9;

/// The default `--max-body`. The body is held in memory, since the paid retry sends it again;
/// this keeps a mistyped `@/dev/zero` or a stray disk image from filling it.
const MAX_BODY: u64 = 64 << 20;

#[derive(Args, Debug)]
pub(crate) struct GetArgs {
    /// The URL to fetch.
    url: String,
    /// HTTP method.
    #[arg(short = 'X', long = "request", default_value = "GET", value_name = "METHOD")]
    method: String,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Request body; `@FILE` reads a file, `@-` standard input.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    data: Option<String>,
    /// The largest `-d` body, in bytes (default 64 MiB): it is held in memory to be sent
    /// again after paying. A larger one is refused before anything is sent.
    #[arg(long, value_name = "BYTES", default_value_t = MAX_BODY)]
    max_body: u64,
    /// Write the body to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// The most one invoice may cost, in satoshis (default 1000).
    #[arg(long, value_name = "SAT")]
    max_cost: Option<u64>,
    /// The routing fee limit per payment, in satoshis (default 10).
    #[arg(long, value_name = "SAT")]
    max_fee: Option<u64>,
    /// Also trust the CA certificate(s) in this PEM file, on top of the platform's roots: a
    /// private CA, or a server's self-signed certificate. Default: $L402_CACERT, else
    /// `cacert` in the configuration file.
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Pay even a server that refused the token it sold within the last hour
    /// (`rejected-recently` otherwise).
    #[arg(long)]
    retry_rejected: bool,
    /// Also pay a server whose token is not a macaroon (lightning-toll, l402kit, Alby's
    /// server helpers), sending it back as received. Off by default: such a token cannot be
    /// checked against the invoice (decision 0711). Default: `opaque_tokens` in the
    /// configuration file.
    #[arg(long)]
    opaque_token: bool,
    /// Show the price, the budget headroom and whether a cached token applies; pay nothing.
    #[arg(long)]
    dry_run: bool,
    /// Seconds to wait for a connection (TCP and TLS) to each server.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    connect_timeout: f64,
    /// Seconds each HTTP exchange (headers and body) may take, the challenge and the paid
    /// retry each on their own; 0 for no limit. Paying is bounded by the wallet's timeout.
    #[arg(long, value_name = "SECS", default_value_t = 300.0)]
    max_time: f64,
    /// Machine output: one JSON object on stdout with status, headers, body and payment;
    /// errors as JSON on stderr. Without it the body goes to stdout as it arrives (curl's
    /// habit, decision 0709).
    #[arg(long)]
    json: bool,
    /// Write the status line and response headers before the body (not with --json).
    #[arg(short = 'i', long = "include")]
    include: bool,
    /// Say nothing on stderr but errors: no progress, no payment line.
    #[arg(short = 's', long = "silent")]
    silent: bool,
    /// Write the request line, the response status and headers to stderr.
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Fail on an HTTP status of 400 or more: write no body (exit 3 either way).
    #[arg(short = 'f', long = "fail")]
    fail: bool,
    /// Follow redirects, at most --max-redirs of them (none without -L, as curl).
    #[arg(short = 'L', long = "location")]
    location: bool,
    /// The most redirects -L follows.
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_redirs: usize,
    /// Do not verify TLS certificates (loudly warned: the credential is a bearer token).
    #[arg(short = 'k', long = "insecure")]
    insecure: bool,
    /// Stop with `too-large` once the body passes BYTES (default: no limit, 64 MiB with
    /// --json, which holds the body in memory).
    #[arg(long, value_name = "BYTES")]
    max_filesize: Option<u64>,
    #[command(flatten)]
    client: ClientArgs,
}

/// The exit code for a client error.
fn exit_for(e: &Error) -> u8 {
    match e {
        Error::OverBudget { .. } | Error::OverMaxCost { .. } | Error::RejectedRecently { .. } => {
            LIMIT
        }
        Error::PaymentFailed { paid: Paid::No, .. } => NOT_PAID,
        Error::PaymentFailed { .. } | Error::PaymentPending { .. } => UNKNOWN,
        Error::InvalidChallenge(_)
        | Error::OpaqueToken(_)
        | Error::InvalidInvoice(_)
        | Error::InvoiceMismatch
        | Error::TokenRejected { .. }
        | Error::InsecureTransport
        | Error::RedirectedChallenge { .. } => SERVER,
        _ => LOCAL,
    }
}

fn client_error(e: &Error) -> ExitCode {
    let mut v = json!({ "code": e.code(), "message": e.to_string() });
    if let Some(reason) = e.reason() {
        set(&mut v, "reason", json!(reason));
    }
    match e {
        Error::PaymentFailed { payment_hash, paid, .. } => {
            set(&mut v, "payment_hash", json!(payment_hash.to_string()));
            set(&mut v, "paid", json!(paid.as_str()));
        }
        Error::PaymentPending { payment_hash } | Error::TokenRejected { payment_hash, .. } => {
            set(&mut v, "payment_hash", json!(payment_hash.to_string()));
        }
        Error::RejectedRecently { payment_hash, until } => {
            set(&mut v, "payment_hash", json!(payment_hash.to_string()));
            let secs = until.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            set(&mut v, "retry_after", json!(secs));
        }
        Error::OverBudget { limit_msat, spent_msat, needed_msat, .. } => {
            set(&mut v, "limit_msat", json!(limit_msat));
            set(&mut v, "spent_msat", json!(spent_msat));
            set(&mut v, "needed_msat", json!(needed_msat));
        }
        _ => {}
    }
    out::error(&v, exit_for(e))
}

pub(crate) fn run(a: GetArgs) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt.block_on(get(a)),
        Err(e) => out::fail("internal", &format!("no async runtime: {e}"), LOCAL),
    }
}

fn parse_headers(lines: &[String]) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) =
            line.split_once(':').ok_or_else(|| format!("header {line:?} has no ':'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("bad header name in {line:?}"))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("bad header value in {line:?}"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// Why a `-d` body was not read.
enum DataError {
    /// Reported with code `usage`.
    Unreadable(String),
    /// Reported with code `body-too-large`.
    TooLarge { what: String, limit: u64 },
}

fn read_data(data: &str, limit: u64) -> Result<Vec<u8>, DataError> {
    match data.strip_prefix('@') {
        Some("-") => read_bounded(std::io::stdin().lock(), "standard input", limit),
        Some(path) => {
            let f = std::fs::File::open(path)
                .map_err(|e| DataError::Unreadable(format!("reading {path}: {e}")))?;
            // A regular file's size is known without reading it. Pipes, devices and /proc
            // files report 0 or nothing useful, so the read itself is bounded as well.
            if f.metadata().is_ok_and(|m| m.is_file() && m.len() > limit) {
                return Err(DataError::TooLarge { what: path.to_owned(), limit });
            }
            read_bounded(f, path, limit)
        }
        None if data.len() as u64 > limit => {
            Err(DataError::TooLarge { what: "the -d argument".into(), limit })
        }
        None => Ok(data.as_bytes().to_vec()),
    }
}

/// Reads at most one byte past `limit`, which is enough to tell that there is too much.
fn read_bounded(r: impl std::io::Read, what: &str, limit: u64) -> Result<Vec<u8>, DataError> {
    let mut buf = Vec::new();
    std::io::Read::read_to_end(&mut r.take(limit.saturating_add(1)), &mut buf)
        .map_err(|e| DataError::Unreadable(format!("reading {what}: {e}")))?;
    if buf.len() as u64 > limit {
        return Err(DataError::TooLarge { what: what.to_owned(), limit });
    }
    Ok(buf)
}

/// Stands in for a wallet that cannot be used (or, in `--dry-run`, is not to be asked): free
/// URLs still work, and a payment fails with why (nothing is paid).
struct NoWallet(String);

#[async_trait::async_trait]
impl Payer for NoWallet {
    async fn pay(&self, _: PayRequest) -> Result<Payment, l402_lightning::Error> {
        Err(l402_lightning::Error::Config(format!("no usable wallet: {}", self.0)))
    }
    async fn payment_status(
        &self,
        _: &PaymentHash,
    ) -> Result<PaymentStatus, l402_lightning::Error> {
        Ok(PaymentStatus::Unknown)
    }
}

async fn get(a: GetArgs) -> ExitCode {
    let as_json = a.json;
    out::human(!as_json && std::io::stderr().is_terminal());
    let url = match reqwest::Url::parse(&a.url) {
        Ok(u) => u,
        Err(e) => return out::usage(&format!("bad URL {:?}: {e}", a.url)),
    };
    let Ok(method) = Method::from_bytes(a.method.as_bytes()) else {
        return out::usage(&format!("bad method {:?}", a.method));
    };
    let headers = match parse_headers(&a.headers) {
        Ok(h) => h,
        Err(e) => return out::usage(&e),
    };
    let body = match a.data.as_deref().map(|d| read_data(d, a.max_body)).transpose() {
        Ok(b) => b,
        Err(DataError::Unreadable(e)) => return out::usage(&e),
        Err(DataError::TooLarge { what, limit }) => {
            let message = format!(
                "{what} is larger than --max-body ({limit} bytes); the body is held in memory \
                 to be sent again after paying"
            );
            let v = json!({ "code": "body-too-large", "message": message, "limit_bytes": limit });
            return out::error(&v, out::USAGE);
        }
    };
    let cfg = match ClientConfig::load(&a.client, a.max_cost, a.max_fee) {
        Ok(c) => c,
        Err(e) => return out::fail("config", &e.0, LOCAL),
    };
    let cacert = a
        .cacert
        .clone()
        .map(|path| CaCert { path, from: "--cacert".into() })
        .or(cfg.cacert.clone());
    let extra = match cacert.as_ref().map(cacert::load).transpose() {
        Ok(r) => r.unwrap_or_default(),
        Err(e) => {
            let v = json!({ "code": "cacert", "reason": e.reason, "message": e.message });
            return out::error(&v, out::USAGE);
        }
    };
    let limits = match options(&a) {
        Ok(t) => t,
        Err(e) => return out::fail("usage", &e, out::USAGE),
    };
    let http = match tls::client(&extra, limits) {
        Ok(h) => h,
        Err(e) => return out::fail("config", &format!("cannot build the HTTP client: {e}"), LOCAL),
    };
    if let (Some(why), "https", false) = (&http.platform_error, url.scheme(), as_json) {
        eprintln!(
            "l402: no usable CA certificates on this machine ({why}); verifying against the \
             Mozilla roots built into l402"
        );
    }
    let store = match cfg.open_store() {
        Ok(s) => s,
        Err(e) => return client_error(&e),
    };
    // A wallet is needed only when a 402 must be paid: a free URL is fetched without one.
    let (payer, network) = match cfg.payer() {
        Ok(p) => p,
        Err(e) => {
            let network = match &cfg.wallet {
                Wallet::Lnd { network, .. } => *network,
                Wallet::Dev { .. } => Network::Regtest,
            };
            let why = if a.dry_run { "dry run: no payment".to_owned() } else { e.0 };
            (Arc::new(NoWallet(why)) as Arc<dyn Payer>, network)
        }
    };
    let m = L402Middleware::builder(payer, store.clone())
        .network(network)
        .max_cost_msat(cfg.max_cost_msat)
        .max_fee_msat(cfg.max_fee_msat)
        .budget(cfg.budget.clone())
        .retry_rejected(a.retry_rejected)
        .opaque_tokens(a.opaque_token || cfg.opaque_tokens)
        .build();
    if a.dry_run {
        return dry_run(&m, &http, method, url, headers, body, as_json).await;
    }
    let roots = http.roots;
    let client = reqwest_middleware::ClientBuilder::new(http.client).with(m).build();
    if a.verbose {
        eprintln!("> {method} {url}");
    }
    let mut req = client.request(method, url.clone()).headers(headers);
    if let Some(b) = body {
        req = req.body(b);
    }
    match req.send().await {
        Ok(resp) => {
            let shape = Shape {
                file: a.output.as_deref(),
                json: as_json,
                include: a.include,
                silent: a.silent,
                verbose: a.verbose,
                fail: a.fail,
                max_filesize: a.max_filesize,
            };
            output(resp, &url, shape).await
        }
        Err(e) => match Error::from_middleware(&e) {
            Some(ce) => client_error(ce),
            None if matches!(&e, reqwest_middleware::Error::Reqwest(r) if r.is_timeout()) => {
                out::fail("timeout", &out::causes(&e), TRANSPORT)
            }
            None => transport(&e, &url, roots),
        },
    }
}

/// `--connect-timeout` and `--max-time` in seconds; `--max-time 0` is no limit.
fn options(a: &GetArgs) -> Result<tls::Options, String> {
    let (connect, total) = (a.connect_timeout, a.max_time);
    let secs = |name: &str, v: f64| {
        std::time::Duration::try_from_secs_f64(v)
            .map_err(|_| format!("{name} must be a number of seconds, not {v}"))
    };
    let connect = secs("--connect-timeout", connect)?;
    if connect.is_zero() {
        return Err("--connect-timeout must be above 0".into());
    }
    let total = secs("--max-time", total)?;
    let redirects = if a.location { a.max_redirs } else { 0 };
    if a.insecure {
        eprintln!(
            "l402: WARNING: -k: TLS certificates are NOT verified; anyone on the path can read \
             the credential and take the payment"
        );
    }
    let total = (!total.is_zero()).then_some(total);
    Ok(tls::Options { connect, total, redirects, insecure: a.insecure })
}

/// A transport failure with its whole cause chain (`out::causes`). An HTTPS request verified
/// against the bundled roots says so: an untrusted certificate may then be from a CA the
/// missing system bundle would have held.
fn transport(e: &dyn std::error::Error, url: &reqwest::Url, roots: Roots) -> ExitCode {
    let mut message = out::causes(e);
    let bundled = roots == Roots::Bundled && url.scheme() == "https";
    if bundled {
        message.push_str(
            " (no CA certificates on this machine, so HTTPS is verified against the Mozilla \
             roots built into l402; for a private CA pass --cacert FILE or set L402_CACERT)",
        );
    }
    let mut v = json!({ "code": "transport", "message": message });
    if bundled {
        set(&mut v, "roots", json!(roots.as_str()));
    }
    out::error(&v, TRANSPORT)
}

/// Sets a field of a JSON object (no-op on other values, which never reach here).
pub(crate) fn set(v: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_owned(), value);
    }
}

fn receipt_json(r: Option<&Receipt>) -> serde_json::Value {
    match r {
        None => serde_json::Value::Null,
        Some(r) => json!({
            "scope": r.scope.as_str(),
            "payment_hash": r.payment_hash.to_string(),
            "paid_now": r.paid_now,
            "amount_msat": r.amount_msat,
            "fee_msat": r.fee_msat,
            "token_status": r.token_status.as_ref().map(token_status_json),
        }),
    }
}

/// What the server said the token still buys: `expires_at` in Unix seconds, `remaining` uses.
fn token_status_json(s: &TokenStatus) -> serde_json::Value {
    json!({ "expires_at": s.expires, "remaining": s.remaining })
}

fn headers_json(h: &HeaderMap) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (name, value) in h {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match map.get_mut(name.as_str()) {
            Some(serde_json::Value::Array(a)) => a.push(json!(v)),
            _ => {
                map.insert(name.as_str().to_owned(), json!([v]));
            }
        }
    }
    serde_json::Value::Object(map)
}

/// Draws `[#####     ]  45%  1.2/2.6 MB` on standard error.
fn progress(done: u64, total: Option<u64>) {
    let mb = |b: u64| b as f64 / 1_000_000.0;
    match total.filter(|t| *t > 0) {
        Some(t) => {
            let pct = (done.min(t) * 100) / t;
            let filled = usize::try_from(pct / 5).unwrap_or(20);
            eprint!(
                "\r[{}{}] {pct:>3}% {:.1}/{:.1} MB",
                "#".repeat(filled),
                " ".repeat(20usize.saturating_sub(filled)),
                mb(done),
                mb(t)
            );
        }
        None => eprint!("\r{:.1} MB", mb(done)),
    }
}

/// How the answer is written.
struct Shape<'a> {
    file: Option<&'a std::path::Path>,
    json: bool,
    include: bool,
    silent: bool,
    verbose: bool,
    fail: bool,
    max_filesize: Option<u64>,
}

/// The body in the JSON envelope is held in memory: bounded unless `--max-filesize` says
/// otherwise.
const JSON_BODY_LIMIT: u64 = 64 * 1024 * 1024;

fn status_and_headers(status: reqwest::StatusCode, headers: &HeaderMap) -> String {
    let mut s = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {}\r\n", String::from_utf8_lossy(v.as_bytes())));
    }
    s.push_str("\r\n");
    s
}

async fn output(mut resp: reqwest::Response, url: &reqwest::Url, shape: Shape<'_>) -> ExitCode {
    let status = resp.status();
    let receipt = resp.extensions().get::<Receipt>().cloned();
    let headers = resp.headers().clone();
    let total = resp.content_length();
    let failed = status.as_u16() >= 400;
    if shape.verbose {
        for line in status_and_headers(status, &headers).lines().filter(|l| !l.is_empty()) {
            eprintln!("< {line}");
        }
    }
    let limit = shape.max_filesize.or(shape.json.then_some(JSON_BODY_LIMIT));
    if let Some(l) = limit.filter(|l| total.is_some_and(|t| t > *l)) {
        return too_large(l);
    }
    let show_progress = shape.file.is_some() && !shape.silent && std::io::stderr().is_terminal();
    // Streamed: into the file, or onto stdout as it arrives; only the envelope holds it.
    let mut sink: Box<dyn std::io::Write> = match shape.file {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => {
                return out::fail(
                    "output",
                    &format!("cannot create {}: {e}", path.display()),
                    LOCAL,
                )
            }
        },
        None if shape.json || (shape.fail && failed) => Box::new(std::io::sink()),
        None => Box::new(std::io::stdout().lock()),
    };
    if shape.include && !shape.json {
        if let Err(e) = sink.write_all(status_and_headers(status, &headers).as_bytes()) {
            return out::fail("output", &e.to_string(), LOCAL);
        }
    }
    let mut body = Vec::new();
    let mut done = 0u64;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                done += chunk.len() as u64;
                if let Some(l) = limit.filter(|l| done > *l) {
                    return too_large(l);
                }
                let written = if shape.json && shape.file.is_none() {
                    body.extend_from_slice(&chunk);
                    Ok(())
                } else {
                    sink.write_all(&chunk)
                };
                if let Err(e) = written {
                    return out::fail("output", &e.to_string(), LOCAL);
                }
                if show_progress {
                    progress(done, total);
                }
            }
            Ok(None) => break,
            Err(e) => {
                let message = format!("reading the body: {}", out::causes(&e));
                let code = if e.is_timeout() { "timeout" } else { "transport" };
                return out::fail(code, &message, TRANSPORT);
            }
        }
    }
    if show_progress {
        eprintln!();
    }
    if let Err(e) = sink.flush() {
        return out::fail("output", &e.to_string(), LOCAL);
    }
    drop(sink);
    if shape.json {
        let mut v = json!({
            "url": url.as_str(),
            "status": status.as_u16(),
            "headers": headers_json(&headers),
            "payment": receipt_json(receipt.as_ref()),
            "bytes": done,
        });
        match shape.file {
            Some(path) => set(&mut v, "output", json!(path.display().to_string())),
            None => match String::from_utf8(body) {
                Ok(text) => set(&mut v, "body", json!(text)),
                Err(e) => {
                    use base64::Engine as _;
                    set(
                        &mut v,
                        "body_base64",
                        json!(base64::engine::general_purpose::STANDARD.encode(e.into_bytes())),
                    );
                }
            },
        }
        println!("{v}");
    } else if let Some(r) = receipt.filter(|r| r.paid_now && !shape.silent) {
        eprintln!(
            "l402: paid {} msat (+{} msat fee) for {}, payment hash {}",
            r.amount_msat, r.fee_msat, r.scope, r.payment_hash
        );
    }
    if failed {
        if shape.fail && !shape.json {
            eprintln!("l402: the server answered {status}");
        }
        ExitCode::from(HTTP_ERROR)
    } else {
        ExitCode::SUCCESS
    }
}

fn too_large(limit: u64) -> ExitCode {
    let message = format!("the body is larger than {limit} bytes (--max-filesize)");
    let v = json!({ "code": "too-large", "message": message, "limit_bytes": limit });
    out::error(&v, LOCAL)
}

async fn dry_run(
    m: &L402Middleware,
    http: &tls::Http,
    method: Method,
    url: reqwest::Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    as_json: bool,
) -> ExitCode {
    let scope = match Scope::for_url(&url, ScopePolicy::Origin) {
        Ok(s) => s,
        Err(e) => return client_error(&e),
    };
    let store = m.store().clone();
    let cached = match store.token(&scope) {
        Ok(t) => t,
        Err(e) => return client_error(&e),
    };
    let mut req = http.client.request(method, url.clone()).headers(headers);
    if let Some(t) = &cached {
        req = req.header(
            http::header::AUTHORIZATION,
            match t.authorization() {
                Ok(v) => v,
                Err(e) => return client_error(&e),
            },
        );
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return transport(&e, &url, http.roots),
    };
    let status = resp.status();
    let payment_required = status == StatusCode::PAYMENT_REQUIRED
        || (status == StatusCode::UNAUTHORIZED
            && l402_http::challenges_from_headers(resp.headers())
                .is_ok_and(|o| l402_http::select(&o).is_ok()));
    let quote = if payment_required {
        match m.quote(&url, resp.headers()).await {
            Ok(q) => json!({
                "payment_hash": q.payment_hash.to_string(),
                "amount_msat": q.amount_msat,
                "max_fee_msat": q.max_fee_msat,
                "would_pay": q.refusal.is_none(),
                "refusal": q.refusal,
            }),
            Err(e) => json!({ "would_pay": false, "refusal": e.to_string(), "code": e.code() }),
        }
    } else {
        serde_json::Value::Null
    };
    let budget = m.config().budget.clone();
    let headroom =
        budget.headroom(scope.domain(), SystemTime::now(), &mut |since, d| store.spent(since, d));
    let headroom = match headroom {
        Ok(h) => h
            .into_iter()
            .map(|(kind, limit, left)| json!({ "budget": kind.as_str(), "limit_msat": limit, "remaining_msat": left }))
            .collect::<Vec<_>>(),
        Err(e) => return client_error(&e),
    };
    let v = json!({
        "dry_run": true,
        "url": url.as_str(),
        "scope": scope.as_str(),
        "status": status.as_u16(),
        "cached_token": cached.is_some(),
        "cached_token_accepted": cached.is_some() && !payment_required,
        "payment_required": payment_required,
        "quote": quote,
        "budget": headroom,
    });
    if as_json {
        println!("{v}");
    } else {
        match serde_json::to_string_pretty(&v) {
            Ok(s) => println!("{s}"),
            Err(_) => println!("{v}"),
        }
    }
    ExitCode::SUCCESS
}
