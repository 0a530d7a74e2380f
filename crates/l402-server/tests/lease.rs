//! A request that runs longer than the reservation lease (a long gRPC stream, a long poll)
//! keeps its reservation: the paywall renews it until the request is finished, so the use is
//! settled when it ends, counted or given back as its end says. A reservation that lapses
//! counts as a use (decision 0609). Time is tokio's paused clock and a manual wall clock:
//! nothing sleeps.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use l402_http::Credential;
use l402_lightning::clock::ManualClock;
use l402_lightning::dev::{DevNode, DevPayer};
use l402_lightning::{PayRequest, Payer};
use l402_server::store::MemoryStore;
use l402_server::{Paywall, PaywallConfig, Price, Route};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const LEASE: Duration = Duration::from_secs(300);

async fn run(renewed: bool, charge: bool) -> Result<(u64, Option<u64>)> {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let node = DevNode::builder().clock(clock.clone()).build()?;
    let mut config = PaywallConfig::default();
    config.reservation_lease = LEASE;
    let paywall = Paywall::builder(Arc::new(node.clone()), Arc::new(MemoryStore::new()))
        .config(config)
        .clock(clock.clone())
        .build();
    let route = Route::new("stream", Price::msat(1_000)).max_uses(1);
    let (parts, ()) = http::Request::get("/s").body(())?.into_parts();
    let minted = paywall.challenge(&route, &parts, None).await?;
    let request = PayRequest {
        bolt11: minted.invoice.bolt11.clone(),
        max_fee_msat: 0,
        timeout: Duration::from_secs(5),
    };
    let paid = DevPayer::new(&node, 10_000).pay(request).await?;
    let (mut parts, ()) = http::Request::get("/s").body(())?.into_parts();
    Credential::new(minted.macaroon, paid.preimage).write_authorization(&mut parts.headers);

    let authorized = paywall.authorize(&route, &parts, None).await?;
    // The request runs for twice the lease, in steps of a sixth of it.
    for _ in 0..12 {
        clock.advance(LEASE / 6);
        if renewed {
            tokio::time::advance(LEASE / 6).await;
        }
        // Let the renewal task run before the next prune looks at the lease.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        paywall.prune().await?;
    }
    let finished = paywall.finish(authorized, charge).await;
    // A charge is counted in the background (decision 0610): let it run.
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
    let uses = paywall.store().uses(&minted.identifier.token_id).await?;
    Ok((uses, finished.status.remaining))
}

#[tokio::test(start_paused = true)]
async fn a_request_longer_than_the_lease_is_counted_once() -> Result {
    assert_eq!(run(true, true).await?, (1, Some(0)));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_request_longer_than_the_lease_can_still_be_given_back() -> Result {
    assert_eq!(run(true, false).await?, (0, Some(1)));
    Ok(())
}

/// The same run with the renewal task starved of time: the lease lapses and a prune counts
/// the reservation as a use (fail closed), so giving it back at the end is too late. This is
/// what the renewal prevents (and what shows the test above can fail).
#[tokio::test(start_paused = true)]
async fn without_renewal_the_lapsed_reservation_is_counted() -> Result {
    assert_eq!(run(false, false).await?, (1, Some(0)));
    assert_eq!(run(false, true).await?, (1, Some(0)), "and counted once");
    Ok(())
}
