//! Root keys and the dev node's pairing secret are the owner's only (decision 0810): the
//! data directory `0700`, `proxy.sqlite` and its `-wal`/`-shm` `0600`, whether the proxy
//! creates them or finds them looser; a directory it must not tighten stops the start.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use l402_proxy::sample::SampleApi;
use l402_proxy::{Config, Proxy};
use support::{paid_service, raw, start, temp_dir};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

const STORE: [&str; 3] = ["proxy.sqlite", "proxy.sqlite-wal", "proxy.sqlite-shm"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_the_store_are_owner_only() {
    let api = SampleApi::start().await.unwrap();
    let s = start(vec![paid_service("quotes", &api.url(), "/")], |_| {}).await;
    // A challenge writes a root key, so the WAL exists.
    assert_eq!(raw(s.proxy.addr(), "GET", "/q", &[]).await.status, 402);
    let data = s.dir.0.join("data");
    assert_eq!(mode(&data), 0o700);
    for f in STORE {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looser_data_directory_and_store_are_tightened_at_start() {
    let api = SampleApi::start().await.unwrap();
    let services = || vec![paid_service("quotes", &api.url(), "/")];
    let first = start(services(), |_| {}).await;
    assert_eq!(raw(first.proxy.addr(), "GET", "/q", &[]).await.status, 402);
    // As an earlier release created them, while the first proxy still holds the WAL open.
    let data = first.dir.0.join("data");
    chmod(&data, 0o755);
    for f in STORE {
        chmod(&data.join(f), 0o644);
    }
    let second = start(services(), |c| c.data_dir = data.clone()).await;
    assert_eq!(mode(&data), 0o700);
    for f in STORE {
        assert_eq!(mode(&data.join(f)), 0o600, "{f} tightened");
    }
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_directory_is_refused_as_the_data_directory() {
    let dir = temp_dir("sticky");
    let shared = dir.0.join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o1777);
    let mut config = Config::with_services(vec![paid_service("quotes", "http://127.0.0.1:9", "/")]);
    config.listen.addr = "127.0.0.1:0".into();
    config.data_dir = shared.clone();
    config.lightning.dev_dir = Some(dir.0.join("dev"));
    let err = Proxy::builder(config).start().await.unwrap_err();
    assert_eq!(err.code(), "data-dir");
    assert!(err.to_string().contains("sticky"), "{err}");
    assert_eq!(mode(&shared), 0o1777, "not tightened");
    assert!(!shared.join("proxy.sqlite").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_nodes_directory_and_pairing_file_are_owner_only() {
    let dir = temp_dir("dev");
    let mut config = Config::with_services(vec![paid_service("quotes", "http://127.0.0.1:9", "/")]);
    config.listen.addr = "127.0.0.1:0".into();
    config.data_dir = dir.0.join("data");
    config.lightning.dev_dir = Some(dir.0.join("dev"));
    let proxy = Proxy::builder(config).start().await.unwrap();
    let pairing = proxy.pairing_file().unwrap().to_owned();
    assert_eq!(mode(&dir.0.join("dev")), 0o700);
    assert_eq!(mode(&pairing), 0o600);
}
