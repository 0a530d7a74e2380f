//! The verify path beside the HMAC floor of the same token, and a challenge mint with the dev
//! node. Goal: the full verify path within 2x of the floor.
#![allow(missing_docs, reason = "criterion's macros generate undocumented items")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark setup: a failure is a bug to surface at once"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use http::HeaderMap;
use l402_caveats::{Context, Verifier};
use l402_http::Credential;
use l402_lightning::dev::DevNode;
use l402_server::store::MemoryStore;
use l402_server::verify::{identify, verify};
use l402_server::{macaroon, KeyMode, KeyRing, Paywall, PaywallConfig, Price, RateLimit, Route};
use l402_token::chain::{chain_first_party, derive_key, hmac};
use l402_token::{Identifier, Preimage};

const NOW: i64 = 1_700_000_000;

fn route() -> Route {
    Route::new("weather", Price::msat(2_000))
        .capabilities(&["forecast"])
        .valid_for(Duration::from_secs(3600))
}

fn bench(c: &mut Criterion) {
    let ring = KeyRing::new(1, [9; 32]);
    let preimage = Preimage::from_bytes([0x11; 32]);
    let id =
        Identifier { payment_hash: preimage.payment_hash(), token_id: ring.token_id().unwrap() };
    let root = ring.root_key(&id, NOW).unwrap();
    let mac = macaroon(&root, &id, &route().caveats_at(NOW).unwrap());
    let mut headers = HeaderMap::new();
    Credential::new(mac.clone(), preimage.clone()).write_authorization(&mut headers);
    let context = Context::new()
        .with_service("weather")
        .with_now(NOW)
        .with_method("GET")
        .with_path("/forecast");
    let caveats = Verifier::new();

    let mut g = c.benchmark_group("verify");
    g.bench_function("hmac-floor", |b| {
        b.iter(|| {
            let mut sig = hmac(&derive_key(&root.0), mac.identifier());
            for cav in mac.first_party_caveats() {
                sig = chain_first_party(&sig, cav);
            }
            black_box(sig == *mac.signature())
        })
    });
    g.bench_function("core-derived-key", |b| {
        b.iter(|| {
            let cred = Credential::from_headers(black_box(&headers)).unwrap();
            let id = identify(&cred).unwrap();
            let key = ring.root_key(&id, NOW).unwrap();
            black_box(verify(&cred, &key, &context, &caveats).unwrap())
        })
    });
    // Where the time above goes: the lower crates' header parse and caveat engine.
    g.bench_function("part-parse-header", |b| {
        b.iter(|| black_box(Credential::from_headers(black_box(&headers)).unwrap()))
    });
    g.bench_function("part-caveats", |b| {
        b.iter(|| black_box(caveats.verify(black_box(&mac), &context).unwrap()))
    });
    // Keyed like the paywall's cache: by the identifier, so a hit costs no SHA-256.
    let cache = std::collections::HashMap::from([(id, root.clone())]);
    g.bench_function("core-warm-cache", |b| {
        b.iter(|| {
            let cred = Credential::from_headers(black_box(&headers)).unwrap();
            let id = identify(&cred).unwrap();
            let key = cache.get(&id).unwrap();
            black_box(verify(&cred, key, &context, &caveats).unwrap())
        })
    });

    // The whole shell (revocation check included) on a current-thread runtime.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let node = DevNode::new().unwrap();
    let mut config = PaywallConfig::default();
    config.rate_limit = RateLimit { challenges: u64::MAX, window: Duration::from_secs(60) };
    for (name, mode) in [
        ("paywall-derived", KeyMode::Derived(KeyRing::new(1, [9; 32]))),
        ("paywall-per-token-cached", KeyMode::PerToken),
    ] {
        let paywall = Paywall::builder(Arc::new(node.clone()), Arc::new(MemoryStore::new()))
            .key_mode(mode)
            .config(config.clone())
            .build();
        let (parts, ()) = http::Request::get("/forecast").body(()).unwrap().into_parts();
        let minted = rt.block_on(paywall.challenge(&route(), &parts, None)).unwrap();
        let preimage = rt.block_on(async {
            use l402_lightning::Payer;
            l402_lightning::dev::DevPayer::new(&node, 10_000_000)
                .pay(l402_lightning::PayRequest {
                    bolt11: minted.invoice.bolt11.clone(),
                    max_fee_msat: 0,
                    timeout: Duration::from_secs(5),
                })
                .await
                .unwrap()
                .preimage
        });
        let (mut parts, ()) = http::Request::get("/forecast").body(()).unwrap().into_parts();
        Credential::new(minted.macaroon.clone(), preimage).write_authorization(&mut parts.headers);
        // Warm the cache (and confirm the pending key) once.
        drop(rt.block_on(paywall.authorize(&route(), &parts, None)).unwrap());
        g.bench_function(name, |b| {
            b.iter(|| black_box(rt.block_on(paywall.authorize(&route(), &parts, None)).unwrap()))
        });
        if name == "paywall-derived" {
            g.bench_function("mint-dev-node", |b| {
                b.iter(|| {
                    black_box(rt.block_on(paywall.challenge(&route(), &parts, None)).unwrap())
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
