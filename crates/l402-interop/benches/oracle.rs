//! Our decode + verify beside the `macaroon` crate's and the bare HMAC floor, in one run.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, reason = "benchmark harness")]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use l402_token::{chain, Identifier, Macaroon, PaymentHash, TokenId};

fn token(n: usize) -> (Vec<u8>, Macaroon) {
    let root = vec![0x42; 32];
    let id = Identifier { payment_hash: PaymentHash([1; 32]), token_id: TokenId([2; 32]) };
    let mut m = Macaroon::new_l402(&root, &id);
    for i in 0..n {
        m.add_first_party_caveat(format!("weather_capabilities=forecast,history,c{i}"));
    }
    (root, m)
}

fn bench(c: &mut Criterion) {
    macaroon::initialize().expect("libsodium");
    let mut g = c.benchmark_group("oracle");
    for n in [0usize, 3, 10, 50] {
        let (root, m) = token(n);
        let binary = m.encode();
        let ids: Vec<Vec<u8>> = m.caveats().iter().map(|c| c.id().to_vec()).collect();
        g.bench_with_input(BenchmarkId::new("hmac-floor", n), &n, |b, _| {
            b.iter(|| {
                let mut sig = chain::hmac(&chain::derive_key(black_box(&root)), m.identifier());
                for id in &ids {
                    sig = chain::chain_first_party(&sig, id);
                }
                black_box(sig)
            })
        });
        g.bench_with_input(BenchmarkId::new("ours", n), &n, |b, _| {
            b.iter(|| {
                Macaroon::decode(black_box(&binary)).unwrap().verify_signature(&root).unwrap()
            })
        });
        let key = macaroon::MacaroonKey::generate(&root);
        g.bench_with_input(BenchmarkId::new("macaroon-crate", n), &n, |b, _| {
            b.iter(|| {
                let m = macaroon::Macaroon::deserialize_binary(black_box(&binary)).unwrap();
                let mut v = macaroon::Verifier::default();
                v.satisfy_general(|_| true);
                v.verify(&m, &key, vec![]).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
