//! `l402 proxy` as a real process: configuration errors name their key, and a running proxy
//! in front of a sample API is paid across processes through the dev node's pairing file, by
//! this test and by `l402 get`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use l402_lightning::dev::DevPayer;
use l402_lightning::{PayRequest, Payer};

fn temp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("l402-cli-proxy-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn l402(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_l402")).args(args).output().unwrap()
}

fn stderr_json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stderr)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn invalid_configuration_names_the_key_and_exits_1() {
    let dir = temp("invalid");
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "[[services]]\nname = \"a\"\nupstream = \"http://127.0.0.1:1\"\nprice_msat = 0\n",
    )
    .unwrap();
    let out = l402(&["proxy", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_json(&out);
    assert_eq!(err["code"], "config-invalid");
    assert!(
        err["message"].as_str().unwrap().starts_with("services[0].price_msat: must be > 0"),
        "{err}"
    );

    let missing = l402(&["proxy", "--config", dir.join("nope.toml").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(stderr_json(&missing)["code"], "read-failed");

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../l402-proxy/examples/proxy.toml");
    let ok = l402(&["proxy", "--check", "--config", example]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

fn http_get(addr: &str, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    (status, out)
}

#[test]
fn a_running_proxy_is_paid_from_another_process() {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let api = runtime.block_on(l402_proxy::sample::SampleApi::start()).unwrap();
    let dir = temp("running");
    let config = dir.join("proxy.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n[listen]\naddr = \"127.0.0.1:0\"\n[lightning]\ndev_dir = {dev:?}\n[log]\nformat = \"json\"\n\
             [[services]]\nname = \"quotes\"\nupstream = \"{up}\"\npath_prefix = \"/api\"\nprice_sat = 3\n",
            data = dir.join("data"),
            dev = dir.join("dev"),
            up = api.url(),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_l402"))
        .args(["proxy", "--config", config.to_str().unwrap()])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // The proxy prints its bound address once it listens.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut logs = Vec::new();
    let addr = loop {
        let line = lines.next().expect("proxy exited before listening").unwrap();
        if let Some(a) = line.strip_prefix("l402 proxy listening on ") {
            break a.trim().to_owned();
        }
        logs.push(line);
    };
    // `log.format = "json"`: one JSON object per log line.
    let listening = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "l402 proxy listening");
    assert!(listening.is_some_and(|v| v["level"] == "INFO"), "{logs:?}");
    std::thread::spawn(move || for _ in lines {});

    let (status, response) = http_get(&addr, "/api/quote", None);
    assert_eq!(status, 402, "{response}");
    let mut headers = http::HeaderMap::new();
    for line in response.lines().filter(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))
    {
        headers
            .append("www-authenticate", line["www-authenticate:".len()..].trim().parse().unwrap());
    }
    let offered = l402_http::challenges_from_headers(&headers).unwrap();
    let challenge = l402_http::select(&offered).unwrap().clone();
    // The wallet lives in this process; the node in the proxy's: they meet through the
    // pairing file the proxy wrote.
    let wallet = DevPayer::connect(&dir.join("dev"), 100_000).unwrap();
    let paid = runtime
        .block_on(wallet.pay(PayRequest {
            bolt11: challenge.invoice.clone(),
            max_fee_msat: 0,
            timeout: Duration::from_secs(10),
        }))
        .unwrap();
    let auth = l402_http::Credential::new(challenge.macaroon, paid.preimage);
    let value = auth.to_authorization_value();
    let (status, response) = http_get(&addr, "/api/quote", Some(value.to_str().unwrap()));
    assert_eq!(status, 200, "{response}");
    assert!(response.contains("\"credential_seen\":false"), "{response}");

    // `l402 get` in a third process pays through the same pairing file, then reuses its token.
    let url = format!("http://{addr}/api/quote");
    let get = || {
        Command::new(env!("CARGO_BIN_EXE_l402"))
            .args(["get", "--json", "--store", dir.join("client.db").to_str().unwrap(), &url])
            .env("L402_DEV_DIR", dir.join("dev"))
            .env("HOME", &dir)
            .env_remove("L402_CONFIG")
            .env_remove("L402_STORE")
            .output()
            .unwrap()
    };
    for paid_now in [true, false] {
        let out = get();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["status"], 200, "{v}");
        assert_eq!(v["payment"]["paid_now"], paid_now, "{v}");
    }

    child.kill().unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
