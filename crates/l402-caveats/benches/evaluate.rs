//! Judging 3, 10 and 50 caveats, beside the HMAC cost of chaining the same caveats, measured
//! in the same run: the caveat engine should stay linear and small next to the chain.
#![allow(missing_docs, clippy::unwrap_used, reason = "benchmark harness")]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use l402_caveats::{Context, Verifier};
use l402_token::chain;

/// An Aperture-shaped start, then our extensions, then narrowing repeats of each, so every
/// caveat is parsed, compared with its predecessor and (when last) judged.
fn caveats(n: usize) -> Vec<Vec<u8>> {
    let fixed = [
        "services=weather:0,maps:0".to_owned(),
        "weather_capabilities=forecast,history".to_owned(),
        "weather_valid_until=1900000000".to_owned(),
        "expires_at=2030-01-01T00:00:00Z".to_owned(),
        "methods=GET,HEAD,POST".to_owned(),
        "path_prefix=/weather/".to_owned(),
        "client_ip=203.0.113.0/24,2001:db8::/32".to_owned(),
    ];
    (0..n)
        .map(|i| match fixed.get(i) {
            Some(c) => c.clone().into_bytes(),
            None => match i % 4 {
                0 => format!("max_uses={}", 1_000_000 - i).into_bytes(),
                1 => format!("weather_valid_until={}", 1_900_000_000 - i).into_bytes(),
                2 => format!("path_prefix=/weather/{}", "x".repeat(i)).into_bytes(),
                _ => format!("forecast_monthly_requests_{i}=100000").into_bytes(),
            },
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let ctx = Context::new()
        .with_service("weather")
        .with_capability("forecast")
        .with_now(1_800_000_000)
        .with_method("GET")
        .with_path("/weather/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/today")
        .with_client("203.0.113.5".parse().unwrap())
        .with_prior_uses(5);
    let verifier = Verifier::new();
    let mut g = c.benchmark_group("caveats");
    for n in [3usize, 10, 50] {
        let list = caveats(n);
        assert!(verifier.verify_caveats(list.iter().map(Vec::as_slice), &ctx).is_ok());
        g.bench_with_input(BenchmarkId::new("evaluate", n), &n, |b, _| {
            b.iter(|| verifier.verify_caveats(black_box(&list).iter().map(Vec::as_slice), &ctx))
        });
        g.bench_with_input(BenchmarkId::new("hmac-chain", n), &n, |b, _| {
            b.iter(|| {
                let mut sig = [7u8; 32];
                for c in black_box(&list) {
                    sig = chain::chain_first_party(&sig, c);
                }
                sig
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
