//! Decode + verify of Aperture-shaped tokens, beside the bare HMAC chain over the same bytes.
//!
//! The chain (key derivation, identifier, one HMAC per caveat) is the floor no verifier can
//! beat; `docs/benchmarks.md` reports our cost as a ratio to it, measured in the same run.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, reason = "benchmark harness")]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use l402_token::{chain, Identifier, Macaroon, PaymentHash, TokenId};

/// An Aperture-shaped token: location `lsat`, v0 identifier, `services`, capabilities,
/// constraints, then `_valid_until`.
pub fn aperture_token(n: usize) -> (Vec<u8>, Macaroon) {
    let root = vec![0x42; 32];
    let id = Identifier { payment_hash: PaymentHash([1; 32]), token_id: TokenId([2; 32]) };
    let mut m = Macaroon::new_l402(&root, &id);
    for i in 0..n {
        match i {
            0 => m.add_first_party_caveat("services=weather:0"),
            1 => m.add_first_party_caveat("weather_capabilities=forecast,history"),
            2 => m.add_first_party_caveat("weather_valid_until=1900000000"),
            _ => m.add_first_party_caveat(format!("forecast_monthly_requests_{i}=100000")),
        }
    }
    (root, m)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("token");
    for n in [0usize, 3, 10, 50] {
        let (root, m) = aperture_token(n);
        let text = m.to_base64();
        let binary = m.encode();
        let ids: Vec<Vec<u8>> = m.caveats().iter().map(|c| c.id().to_vec()).collect();
        let identifier = m.identifier().to_vec();
        g.bench_with_input(BenchmarkId::new("hmac-floor", n), &n, |b, _| {
            b.iter(|| {
                let mut sig = chain::hmac(&chain::derive_key(black_box(&root)), &identifier);
                for id in &ids {
                    sig = chain::chain_first_party(&sig, id);
                }
                black_box(sig)
            })
        });
        g.bench_with_input(BenchmarkId::new("decode-verify-binary", n), &n, |b, _| {
            b.iter(|| {
                let m = Macaroon::decode(black_box(&binary)).unwrap();
                m.verify_signature(&root).unwrap();
            })
        });
        g.bench_with_input(BenchmarkId::new("decode-verify-base64", n), &n, |b, _| {
            b.iter(|| {
                let m = Macaroon::from_base64(black_box(&text)).unwrap();
                m.verify_signature(&root).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
