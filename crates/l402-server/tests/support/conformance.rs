//! The one store conformance suite. Each backend supplies a factory that opens two store
//! handles on one fresh database (two instances sharing it; the memory store hands out the
//! same store twice).

use std::future::Future;
use std::sync::Arc;

use l402_server::store::{DueKey, KeyRecord, Store};
use l402_server::RootKey;
use l402_token::{PaymentHash, TokenId};

pub(crate) type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub(crate) struct Pair {
    pub(crate) a: Arc<dyn Store>,
    pub(crate) b: Arc<dyn Store>,
}

/// Whether the whole feed, read from the start, lists `id`.
async fn listed(store: &dyn Store, id: &TokenId) -> Result<bool> {
    Ok(store.revoked_since(0).await?.token_ids.contains(id))
}

fn token(n: u8) -> TokenId {
    TokenId([n; 32])
}

fn record(n: u8, pending_until: Option<i64>) -> KeyRecord {
    KeyRecord {
        key_hash: [n; 32],
        token_id: token(n),
        payment_hash: PaymentHash([n ^ 0x55; 32]),
        root_key: RootKey([n ^ 0xff; 32]),
        pending_until,
        issuer: None,
    }
}

/// Runs every check, each on a fresh database, printing its name.
pub(crate) async fn run_all<F, Fut>(backend: &str, fresh: F) -> Result
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Pair>>,
{
    macro_rules! check {
        ($name:ident) => {{
            eprintln!("{backend}: {}", stringify!($name));
            $name(fresh().await?)
                .await
                .map_err(|e| format!("{backend}: {}: {e}", stringify!($name)))?;
        }};
    }
    check!(keys_round_trip);
    check!(due_pending_keys_are_claimed_once);
    check!(only_pending_keys_are_forgotten);
    check!(due_keys_are_claimed_only_by_their_issuer);
    check!(revocation_reaches_the_other_instance);
    check!(the_revocation_feed_never_skips_and_is_quiet_when_unchanged);
    check!(a_reservation_reads_the_counted_uses);
    check!(usage_is_exact_under_concurrency);
    check!(release_gives_the_use_back);
    check!(lapsed_reservations_count_as_uses);
    check!(renewed_reservations_outlive_their_first_lease);
    check!(rate_windows_fill_across_instances);
    check!(rate_windows_are_exact_under_concurrency);
    Ok(())
}

async fn keys_round_trip(p: Pair) -> Result {
    assert_eq!(p.a.root_key(&[1; 32]).await?, None);
    p.a.insert_key(record(1, Some(1_000))).await?;
    let got = p.b.root_key(&[1; 32]).await?.ok_or("key written by a not seen by b")?;
    assert_eq!(got.root_key, RootKey([0xfe; 32]));
    assert!(got.pending);
    p.b.confirm_key(&[1; 32]).await?;
    let got = p.a.root_key(&[1; 32]).await?.ok_or("confirmed key must stay")?;
    assert!(!got.pending);
    // Confirming an absent key is a no-op.
    p.a.confirm_key(&[9; 32]).await?;
    assert_eq!(p.a.root_key(&[9; 32]).await?, None);
    Ok(())
}

fn due(n: u8) -> DueKey {
    DueKey { key_hash: [n; 32], payment_hash: Some(PaymentHash([n ^ 0x55; 32])) }
}

async fn due_pending_keys_are_claimed_once(p: Pair) -> Result {
    p.a.insert_key(record(2, Some(100))).await?;
    p.a.insert_key(record(3, None)).await?;
    p.a.insert_key(record(10, Some(90))).await?;
    p.a.insert_key(record(11, Some(101))).await?;
    assert_eq!(p.b.claim_due_keys(89, 500, 10, None).await?, vec![], "nothing is due yet");
    // Earliest deadline first, at most `limit`, each with the payment hash it was written with.
    assert_eq!(p.b.claim_due_keys(100, 500, 1, None).await?, vec![due(10)]);
    assert_eq!(
        p.a.claim_due_keys(100, 500, 10, None).await?,
        vec![due(2)],
        "claimed keys are not due"
    );
    assert_eq!(p.b.claim_due_keys(100, 500, 10, None).await?, vec![]);
    // A pending key past its deadline still reads: only its preimage can make it verify.
    assert!(p.a.root_key(&[2; 32]).await?.ok_or("due key still there")?.pending);
    // Unjudged claims come back at the recheck time, beside the newly due.
    let mut again = p.a.claim_due_keys(500, 900, 10, None).await?;
    again.sort_by_key(|d| d.key_hash);
    assert_eq!(again, vec![due(2), due(10), due(11)]);
    assert!(p.a.root_key(&[3; 32]).await?.is_some(), "a permanent key is never due");
    assert_eq!(p.a.prune(1_000_000).await?.keys, 0, "a store's prune leaves keys alone");
    assert!(p.b.root_key(&[2; 32]).await?.is_some());
    Ok(())
}

/// A due key is claimed only by an instance on the node that issued it, or by any when no
/// issuer was recorded (decision 0612).
async fn due_keys_are_claimed_only_by_their_issuer(p: Pair) -> Result {
    let of = |n: u8, issuer: Option<&str>| KeyRecord {
        issuer: issuer.map(str::to_owned),
        ..record(n, Some(100))
    };
    p.a.insert_key(of(30, Some("node-a"))).await?;
    p.a.insert_key(of(31, Some("node-b"))).await?;
    p.a.insert_key(of(32, None)).await?;
    let hashes = |d: Vec<DueKey>| d.into_iter().map(|k| k.key_hash[0]).collect::<Vec<_>>();
    let mut by_b = hashes(p.b.claim_due_keys(100, 500, 10, Some("node-b")).await?);
    by_b.sort_unstable();
    assert_eq!(by_b, vec![31, 32], "its own key and the one nobody recorded");
    assert_eq!(hashes(p.a.claim_due_keys(100, 500, 10, None).await?), Vec::<u8>::new());
    assert_eq!(hashes(p.a.claim_due_keys(100, 500, 10, Some("node-a")).await?), vec![30]);
    Ok(())
}

async fn only_pending_keys_are_forgotten(p: Pair) -> Result {
    p.a.insert_key(record(12, Some(100))).await?;
    p.a.insert_key(record(13, Some(100))).await?;
    p.b.confirm_key(&[13; 32]).await?;
    assert!(p.b.forget_pending(&[12; 32]).await?);
    assert_eq!(p.a.root_key(&[12; 32]).await?, None);
    assert!(!p.b.forget_pending(&[13; 32]).await?, "paid in the meantime: kept");
    assert!(p.a.root_key(&[13; 32]).await?.is_some());
    assert!(!p.a.forget_pending(&[14; 32]).await?, "absent");
    Ok(())
}

async fn revocation_reaches_the_other_instance(p: Pair) -> Result {
    p.a.insert_key(record(4, None)).await?;
    p.a.insert_key(record(5, None)).await?;
    assert!(!listed(&*p.b, &token(4)).await?);
    p.a.revoke(&token(4), 7).await?;
    assert!(listed(&*p.a, &token(4)).await?);
    assert_eq!(p.a.root_key(&[4; 32]).await?, None, "revoking deletes the key");
    assert!(listed(&*p.b, &token(4)).await?);
    assert!(!listed(&*p.b, &token(5)).await?);
    assert!(p.b.root_key(&[5; 32]).await?.is_some());
    // Revoking twice is fine.
    p.b.revoke(&token(4), 8).await?;
    Ok(())
}

/// Read as a feed from either instance, every revocation arrives once the cursor passes it,
/// none is skipped, and a read with nothing new returns nothing (decision 0610).
async fn the_revocation_feed_never_skips_and_is_quiet_when_unchanged(p: Pair) -> Result {
    let start = p.b.revoked_since(0).await?;
    assert!(start.token_ids.is_empty());
    let mut cursor = start.cursor;
    let mut seen = std::collections::HashSet::new();
    for n in 20..30u8 {
        let by = if n % 2 == 0 { &p.a } else { &p.b };
        by.revoke(&token(n), 1).await?;
        if n % 3 == 0 {
            let page = p.b.revoked_since(cursor).await?;
            seen.extend(page.token_ids);
            cursor = page.cursor;
        }
    }
    let page = p.b.revoked_since(cursor).await?;
    seen.extend(page.token_ids);
    let expected: std::collections::HashSet<TokenId> = (20..30u8).map(token).collect();
    assert_eq!(seen, expected, "every revocation, from either instance, none skipped");
    let quiet = p.b.revoked_since(page.cursor).await?;
    assert!(quiet.token_ids.iter().all(|t| expected.contains(t)), "nothing that was not revoked");
    let again = p.b.revoked_since(quiet.cursor).await?;
    assert_eq!(again.cursor, quiet.cursor, "the cursor stays when nothing changed");
    Ok(())
}

/// A reservation carries the counted uses it was made against: the one round trip gives
/// `remaining` too.
async fn a_reservation_reads_the_counted_uses(p: Pair) -> Result {
    let first = p.a.reserve_use(&token(11), 3, 1_000).await?.ok_or("granted")?;
    assert_eq!(first.used, 0);
    p.a.commit_use(&first).await?;
    let second = p.b.reserve_use(&token(11), 3, 1_000).await?.ok_or("granted")?;
    assert_eq!(second.used, 1);
    // A use still held elsewhere counts too: it is charged unless given back.
    let third = p.a.reserve_use(&token(11), 3, 1_000).await?.ok_or("granted")?;
    assert_eq!(third.used, 2, "one counted, one held by the second");
    p.a.release_use(&third).await?;
    assert_eq!(p.b.commit_use(&second).await?, 2);
    assert!(p.a.reserve_use(&token(11), 0, 1_000).await?.is_none(), "a zero allowance");
    p.a.ping().await?;
    Ok(())
}

async fn usage_is_exact_under_concurrency(p: Pair) -> Result {
    const ALLOWANCE: u64 = 10;
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let store = if i % 2 == 0 { Arc::clone(&p.a) } else { Arc::clone(&p.b) };
        tasks.push(tokio::spawn(async move {
            match store.reserve_use(&token(6), ALLOWANCE, 1_000).await? {
                Some(r) => {
                    store.commit_use(&r).await?;
                    Ok::<_, l402_server::Error>(1u64)
                }
                None => Ok(0),
            }
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += t.await??;
    }
    assert_eq!(granted, ALLOWANCE, "exactly the allowance was granted");
    assert_eq!(p.a.uses(&token(6)).await?, ALLOWANCE);
    assert_eq!(p.b.uses(&token(6)).await?, ALLOWANCE);
    assert!(p.b.reserve_use(&token(6), ALLOWANCE, 1_000).await?.is_none());
    assert_eq!(p.a.uses(&token(7)).await?, 0, "other tokens untouched");
    Ok(())
}

async fn release_gives_the_use_back(p: Pair) -> Result {
    let r = p.a.reserve_use(&token(8), 1, 1_000).await?.ok_or("first use must be granted")?;
    assert!(p.b.reserve_use(&token(8), 1, 1_000).await?.is_none(), "reserved use is taken");
    p.a.release_use(&r).await?;
    assert_eq!(p.a.uses(&token(8)).await?, 0, "a released use is not counted");
    let r2 = p.b.reserve_use(&token(8), 1, 1_000).await?.ok_or("released use comes back")?;
    assert_eq!(p.b.commit_use(&r2).await?, 1);
    assert_eq!(p.a.commit_use(&r2).await?, 1, "committing twice counts once");
    p.a.release_use(&r).await?;
    assert!(p.a.reserve_use(&token(8), 1, 1_000).await?.is_none());
    Ok(())
}

/// A reservation nobody settles (a crash, a store outage at commit time) is charged when its
/// lease lapses: fail closed (decision 0609).
async fn lapsed_reservations_count_as_uses(p: Pair) -> Result {
    let crashed = p.a.reserve_use(&token(9), 2, 50).await?.ok_or("granted")?;
    let _other = p.a.reserve_use(&token(9), 2, 80).await?.ok_or("second use granted")?;
    assert!(p.b.reserve_use(&token(9), 2, 100).await?.is_none());
    assert_eq!(p.b.prune(49).await?.reservations, 0);
    assert_eq!(p.a.uses(&token(9)).await?, 0);
    assert_eq!(p.b.prune(50).await?.reservations, 1);
    assert_eq!(p.a.uses(&token(9)).await?, 1, "the lapsed reservation was counted");
    assert!(p.b.reserve_use(&token(9), 2, 100).await?.is_none(), "the other is still held");
    // Settling it late changes nothing: it was counted once.
    assert_eq!(p.a.commit_use(&crashed).await?, 1);
    p.b.release_use(&crashed).await?;
    assert_eq!(p.b.uses(&token(9)).await?, 1);
    assert_eq!(p.b.prune(80).await?.reservations, 1);
    assert_eq!(p.a.uses(&token(9)).await?, 2, "each lapsed reservation counts once");
    assert!(p.a.reserve_use(&token(9), 2, 100).await?.is_none(), "no use comes back");
    assert!(p.a.reserve_use(&token(10), 1, 100).await?.is_some(), "other tokens untouched");
    Ok(())
}

async fn renewed_reservations_outlive_their_first_lease(p: Pair) -> Result {
    let r = p.a.reserve_use(&token(15), 1, 50).await?.ok_or("granted")?;
    assert!(p.b.renew_use(&r, 200).await?);
    assert_eq!(p.b.prune(150).await?.reservations, 0, "renewed: still held");
    assert!(p.b.reserve_use(&token(15), 1, 300).await?.is_none());
    assert_eq!(p.a.commit_use(&r).await?, 1, "a renewed reservation counts");
    assert!(!p.a.renew_use(&r, 400).await?, "settled: nothing to renew");
    let lapsed = p.a.reserve_use(&token(16), 1, 50).await?.ok_or("granted")?;
    assert_eq!(p.b.prune(60).await?.reservations, 1);
    assert!(!p.a.renew_use(&lapsed, 400).await?, "counted: nothing to renew");
    assert_eq!(p.a.uses(&token(16)).await?, 1);
    Ok(())
}

async fn rate_windows_fill_across_instances(p: Pair) -> Result {
    const B: &str = "ip:192.0.2.1";
    assert!(p.a.take_hit(B, 60, 3).await?);
    assert!(p.b.take_hit(B, 60, 3).await?);
    assert!(p.a.take_hit(B, 60, 3).await?);
    assert!(!p.b.take_hit(B, 60, 3).await?, "full, whichever instance asks");
    assert!(!p.a.take_hit(B, 60, 3).await?);
    assert!(p.a.take_hit(B, 60, 4).await?, "a full window was left at 3, not counted on");
    assert!(p.a.take_hit("ip:192.0.2.2", 60, 3).await?, "buckets are separate");
    assert!(p.b.take_hit(B, 120, 2).await?, "a new window starts empty");
    assert!(!p.a.take_hit("ip:192.0.2.3", 60, 0).await?, "a zero limit takes nothing");
    assert_eq!(p.b.prune(60).await?.windows, 2, "nothing was written for the zero limit");
    assert!(p.a.take_hit(B, 120, 2).await?, "later window survives");
    assert!(!p.a.take_hit(B, 120, 2).await?);
    Ok(())
}

async fn rate_windows_are_exact_under_concurrency(p: Pair) -> Result {
    const LIMIT: u64 = 5;
    let mut tasks = Vec::new();
    for i in 0..24u32 {
        let store = if i % 2 == 0 { Arc::clone(&p.a) } else { Arc::clone(&p.b) };
        tasks.push(tokio::spawn(async move {
            store.take_hit("ip:198.51.100.7", 60, LIMIT).await.map(u64::from)
        }));
    }
    let mut taken = 0;
    for t in tasks {
        taken += t.await??;
    }
    assert_eq!(taken, LIMIT, "exactly the limit was taken");
    Ok(())
}
