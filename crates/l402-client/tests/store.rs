//! One conformance suite, run against every store (memory, file, SQLite), plus tokens at
//! rest and the scope parser's properties.
#![allow(
    clippy::indexing_slicing,
    reason = "test code: a short index fails the test, as it should"
)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use l402_client::{
    Bearer, Budget, BudgetKind, Error, FileStore, LedgerQuery, MemoryStore, Outcome,
    PendingPayment, Resolution, Scheme, Scope, ScopePolicy, SpendSummary, SqliteStore, Token,
    TokenKey, TokenStore,
};
use l402_token::{Identifier, Macaroon, PaymentHash, Preimage};
use proptest::prelude::*;
use reqwest::Url;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Opens a store in a directory.
type MakeStore = fn(&PathBuf) -> Result<Box<dyn TokenStore>>;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh path in a per-test temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("l402-store-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scope(s: &str) -> Result<Scope> {
    Ok(Scope::for_url(&Url::parse(s)?, ScopePolicy::Origin)?)
}

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn pending(
    n: u8,
    scope: &Scope,
    amount_msat: u64,
    time: SystemTime,
) -> Result<(PendingPayment, Preimage)> {
    let preimage = Preimage::from_bytes([n; 32]);
    let macaroon = Macaroon::new_l402(&[1; 32], &Identifier::random(preimage.payment_hash())?);
    Ok((
        PendingPayment {
            time,
            url: format!("{scope}/item/{n}"),
            scope: scope.clone(),
            payment_hash: preimage.payment_hash(),
            amount_msat,
            max_fee_msat: 100,
            expires_at: time + Duration::from_secs(600),
            // Some opaque tokens (decision 0711), so every store is seen to keep both kinds.
            bearer: match n % 3 {
                0 => Bearer::Opaque(format!("eyJpZCI6{n}fQ")),
                _ => Bearer::Macaroon(macaroon),
            },
            // Both schemes, so that every store is seen to keep the one paid for.
            scheme: if n % 2 == 1 { Scheme::Lsat } else { Scheme::L402 },
        },
        preimage,
    ))
}

fn paid(
    store: &dyn TokenStore,
    n: u8,
    scope: &Scope,
    amount: u64,
    time: SystemTime,
) -> Result<PaymentHash> {
    let (p, preimage) = pending(n, scope, amount, time)?;
    store.begin_payment(&p, &Budget::unlimited(), time)?;
    store.resolve_payment(&p.payment_hash, &Resolution::Paid { preimage, fee_msat: 7 }, time)?;
    Ok(p.payment_hash)
}

fn tokens_round_trip_and_conditional_removal(store: &dyn TokenStore) -> Result {
    let a = scope("https://a.example")?;
    assert_eq!(store.token(&a)?, None);
    let hash = paid(store, 1, &a, 1_000, t0())?;
    let token = store.token(&a)?.ok_or("no token after payment")?;
    assert_eq!(token.payment_hash, hash);
    assert_eq!(token.scheme, Scheme::Lsat, "the challenge's scheme is kept");
    assert_eq!((token.amount_msat, token.fee_msat), (1_000, 7));
    token.preimage.check(&hash)?;
    // Removing "only if it is still token X" leaves a newer token alone.
    assert!(!store.remove_token(&a, Some(&PaymentHash([9; 32])))?);
    assert!(store.token(&a)?.is_some());
    assert!(store.remove_token(&a, Some(&hash))?);
    assert_eq!(store.token(&a)?, None);
    assert!(!store.remove_token(&a, None)?);
    // put_token replaces.
    store.put_token(&token)?;
    let newer = Token {
        payment_hash: Preimage::from_bytes([5; 32]).payment_hash(),
        preimage: Preimage::from_bytes([5; 32]),
        scheme: Scheme::L402,
        ..token.clone()
    };
    store.put_token(&newer)?;
    assert_eq!(store.tokens()?, vec![newer]);
    Ok(())
}

fn budgets_count_paid_and_pending_not_failed(store: &dyn TokenStore) -> Result {
    let a = scope("https://a.example")?;
    let b = scope("https://b.example:8443")?;
    let budget = Budget::unlimited().per_day(3_000).per_domain_day(1_500).total(10_000);
    let (p1, pre1) = pending(1, &a, 1_000, t0())?;
    store.begin_payment(&p1, &budget, t0())?;
    // Pending counts amount plus fee limit.
    assert_eq!(store.spent(None, None)?, 1_100);
    // The domain budget: a.example has 1_100 reserved, another 1_100 does not fit.
    let (p2, _) = pending(2, &a, 1_000, t0())?;
    match store.begin_payment(&p2, &budget, t0()) {
        Err(Error::OverBudget {
            budget: BudgetKind::Domain,
            limit_msat: 1_500,
            spent_msat: 1_100,
            needed_msat: 1_100,
        }) => {}
        other => return Err(format!("{other:?}").into()),
    }
    // b.example is another domain.
    let (p3, _) = pending(3, &b, 1_000, t0())?;
    store.begin_payment(&p3, &budget, t0())?;
    // A failed payment releases its reservation.
    store.resolve_payment(&p3.payment_hash, &Resolution::Failed("no-route".into()), t0())?;
    assert_eq!(store.spent(None, Some("b.example"))?, 0);
    let headroom = budget.headroom("a.example", t0(), &mut |since, d| store.spent(since, d))?;
    assert_eq!(
        headroom,
        vec![
            (BudgetKind::Day, 3_000, 1_900),
            (BudgetKind::Total, 10_000, 8_900),
            (BudgetKind::Domain, 1_500, 400)
        ]
    );
    // A paid one counts its actual fee.
    store.resolve_payment(
        &p1.payment_hash,
        &Resolution::Paid { preimage: pre1, fee_msat: 3 },
        t0(),
    )?;
    assert_eq!(store.spent(None, None)?, 1_003);
    // The same payment hash is never recorded twice.
    assert!(store.begin_payment(&p1, &Budget::unlimited(), t0()).is_err());
    // A day later the day and domain windows are empty; the total is not.
    let later = t0() + Duration::from_secs(86_401);
    assert_eq!(store.spent(Some(later - Duration::from_secs(86_400)), None)?, 0);
    let (p4, _) = pending(4, &a, 1_300, later)?;
    store.begin_payment(&p4, &budget, later)?;
    assert_eq!(store.spent(None, None)?, 1_003 + 1_400);
    Ok(())
}

fn pending_payments_survive_and_resolve_once(store: &dyn TokenStore) -> Result {
    let a = scope("https://a.example")?;
    let (p, pre) = pending(1, &a, 2_000, t0())?;
    store.begin_payment(&p, &Budget::unlimited(), t0())?;
    assert_eq!(store.pending()?, vec![p.clone()]);
    match store.begin_payment(&p, &Budget::unlimited(), t0()) {
        Err(Error::PaymentPending { payment_hash }) => assert_eq!(payment_hash, p.payment_hash),
        other => return Err(format!("{other:?}").into()),
    }
    // A wrong preimage cannot turn a pending payment into a token.
    let wrong = Resolution::Paid { preimage: Preimage::from_bytes([0xee; 32]), fee_msat: 0 };
    assert!(store.resolve_payment(&p.payment_hash, &wrong, t0()).is_err());
    assert_eq!(store.pending()?.len(), 1);
    store.resolve_payment(
        &p.payment_hash,
        &Resolution::Paid { preimage: pre, fee_msat: 1 },
        t0(),
    )?;
    // Resolving again (a racing recovery) changes nothing.
    store.resolve_payment(&p.payment_hash, &Resolution::Failed("timeout".into()), t0())?;
    assert!(store.pending()?.is_empty());
    assert_eq!(store.ledger(&LedgerQuery::all())?[0].outcome, Outcome::Paid);
    assert!(store.token(&a)?.is_some());
    Ok(())
}

/// Only a paid payment can be marked rejected; it still counts against budgets.
fn a_rejected_payment_stays_spent_and_says_so(store: &dyn TokenStore) -> Result {
    let a = scope("https://a.example")?;
    let hash = paid(store, 1, &a, 1_000, t0())?;
    let (p, _) = pending(2, &a, 500, t0())?;
    store.begin_payment(&p, &Budget::unlimited(), t0())?;
    assert!(!store.reject_payment(&p.payment_hash)?, "a pending payment is not rejected");
    assert!(!store.reject_payment(&PaymentHash([9; 32]))?, "an unknown one neither");
    assert!(store.reject_payment(&hash)?);
    assert!(!store.reject_payment(&hash)?, "once");
    let ledger = store.ledger(&LedgerQuery::all())?;
    let outcomes: Vec<_> = ledger.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["rejected", "pending"]);
    assert_eq!(store.spent(None, Some("a.example"))?, 1_007 + 600, "rejected still counts");
    let summary = SpendSummary::of(&ledger);
    assert_eq!((summary.paid, summary.rejected, summary.pending), (1, 1, 1));
    Ok(())
}

fn ledger_queries_by_time_and_domain(store: &dyn TokenStore) -> Result {
    let a = scope("https://a.example")?;
    let b = scope("http://b.example")?;
    paid(store, 1, &a, 1_000, t0())?;
    paid(store, 2, &b, 2_000, t0() + Duration::from_secs(7200))?;
    let (p, _) = pending(3, &a, 500, t0() + Duration::from_secs(7200))?;
    store.begin_payment(&p, &Budget::unlimited(), t0())?;
    store.resolve_payment(&p.payment_hash, &Resolution::Failed("no-route".into()), t0())?;

    let all = store.ledger(&LedgerQuery::all())?;
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].url, "https://a.example:443/item/1");
    assert_eq!(all[2].outcome, Outcome::Failed("no-route".into()));
    let recent = store.ledger(
        &LedgerQuery::all().within(t0() + Duration::from_secs(7300), Duration::from_secs(3600)),
    )?;
    assert_eq!(recent.len(), 2);
    let only_a = store.ledger(&LedgerQuery::all().domain("a.example"))?;
    assert_eq!(only_a.len(), 2);
    let summary = SpendSummary::of(&all);
    assert_eq!((summary.paid, summary.failed, summary.pending), (2, 1, 0));
    assert_eq!((summary.amount_msat, summary.fee_msat), (3_000, 14));
    assert_eq!(summary.by_domain_msat.get("a.example"), Some(&1_007));
    assert_eq!(summary.by_domain_msat.get("b.example"), Some(&2_007));
    Ok(())
}

fn scope_locks_exclude(store: &dyn TokenStore) -> Result {
    let a = scope("https://a.example")?;
    let b = scope("https://b.example")?;
    let held = store.lock_scope(&a)?;
    // Another scope is independent (would deadlock here otherwise).
    drop(store.lock_scope(&b)?);
    drop(held);
    // Released: taking it again does not block.
    drop(store.lock_scope(&a)?);
    Ok(())
}

macro_rules! store_suite {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;

            fn with_store(f: fn(&dyn TokenStore) -> Result) -> Result {
                let dir = TempDir::new()?;
                let make: MakeStore = $make;
                let store = make(&dir.0)?;
                f(&*store)
            }

            #[test]
            fn tokens_round_trip_and_conditional_removal() -> Result {
                with_store(super::tokens_round_trip_and_conditional_removal)
            }
            #[test]
            fn budgets_count_paid_and_pending_not_failed() -> Result {
                with_store(super::budgets_count_paid_and_pending_not_failed)
            }
            #[test]
            fn pending_payments_survive_and_resolve_once() -> Result {
                with_store(super::pending_payments_survive_and_resolve_once)
            }
            #[test]
            fn ledger_queries_by_time_and_domain() -> Result {
                with_store(super::ledger_queries_by_time_and_domain)
            }
            #[test]
            fn scope_locks_exclude() -> Result {
                with_store(super::scope_locks_exclude)
            }
            #[test]
            fn a_rejected_payment_stays_spent_and_says_so() -> Result {
                with_store(super::a_rejected_payment_stays_spent_and_says_so)
            }
        }
    };
}

store_suite!(memory, |_| Ok(Box::new(MemoryStore::new())));
store_suite!(file, |d| Ok(Box::new(FileStore::open(d.join("tokens.json"), None)?)));
store_suite!(sqlite, |d| Ok(Box::new(SqliteStore::open(d.join("tokens.db"), None)?)));
store_suite!(file_sealed, |d| Ok(Box::new(FileStore::open(
    d.join("tokens.json"),
    Some(TokenKey::from_bytes([3; 32]))
)?)));
store_suite!(sqlite_sealed, |d| Ok(Box::new(SqliteStore::open(
    d.join("tokens.db"),
    Some(TokenKey::from_bytes([3; 32]))
)?)));

#[test]
fn persistent_stores_keep_everything_across_reopen() -> Result {
    let dir = TempDir::new()?;
    let a = scope("https://a.example")?;
    let makers: [(&str, MakeStore); 2] = [
        ("file", |d| Ok(Box::new(FileStore::open(d.join("t.json"), None)?))),
        ("sqlite", |d| Ok(Box::new(SqliteStore::open(d.join("t.db"), None)?))),
    ];
    for (name, make) in makers {
        let hash = paid(&*make(&dir.0)?, 1, &a, 1_000, t0())?;
        let (p, _) = pending(2, &a, 1_000, t0())?;
        make(&dir.0)?.begin_payment(&p, &Budget::unlimited(), t0())?;
        let again = make(&dir.0)?;
        assert_eq!(again.token(&a)?.map(|t| t.payment_hash), Some(hash), "{name}");
        assert_eq!(again.pending()?, vec![p], "{name}");
        assert_eq!(again.ledger(&LedgerQuery::all())?.len(), 2, "{name}");
    }
    Ok(())
}

#[test]
fn sealed_tokens_need_the_right_key_and_leave_no_secret_on_disk() -> Result {
    let dir = TempDir::new()?;
    let a = scope("https://a.example")?;
    let key = TokenKey::from_bytes([3; 32]);
    for (name, path) in [("sqlite", dir.0.join("t.db")), ("file", dir.0.join("t.json"))] {
        let open = |key: Option<TokenKey>| -> Result<Box<dyn TokenStore>> {
            Ok(if name == "sqlite" {
                Box::new(SqliteStore::open(&path, key)?)
            } else {
                Box::new(FileStore::open(&path, key)?)
            })
        };
        let store = open(Some(key.clone()))?;
        paid(&*store, 1, &a, 1_000, t0())?;
        let token = store.token(&a)?.ok_or("no token")?;
        drop(store);
        // Neither the macaroon nor the preimage appears anywhere in the files.
        for entry in std::fs::read_dir(&dir.0)? {
            let bytes = std::fs::read(entry?.path()).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&token.preimage.to_hex()), "{name}: preimage on disk");
            assert!(!text.contains(&token.bearer.to_text()), "{name}: macaroon on disk");
        }
        match open(None)?.token(&a) {
            Err(e) => assert_eq!(e.code(), "token-key", "{name}"),
            Ok(t) => return Err(format!("{name}: opened without a key: {t:?}").into()),
        }
        match open(Some(TokenKey::from_bytes([4; 32])))?.token(&a) {
            Err(e) => assert_eq!(e.code(), "token-key", "{name}"),
            Ok(t) => return Err(format!("{name}: opened with a wrong key: {t:?}").into()),
        }
        assert_eq!(open(Some(key.clone()))?.token(&a)?, Some(token));
    }
    Ok(())
}

#[test]
fn a_sealed_secret_moved_to_another_row_does_not_open() -> Result {
    let dir = TempDir::new()?;
    let path = dir.0.join("t.json");
    let key = TokenKey::from_bytes([3; 32]);
    let store = FileStore::open(&path, Some(key.clone()))?;
    let (a, b) = (scope("https://a.example")?, scope("https://b.example")?);
    paid(&store, 1, &a, 1_000, t0())?;
    paid(&store, 2, &b, 1_000, t0())?;
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    let secret_a = json["tokens"][a.as_str()]["secret"].clone();
    json["tokens"][b.as_str()]["secret"] = secret_a;
    std::fs::write(&path, serde_json::to_vec(&json)?)?;
    assert_eq!(store.token(&b).err().map(|e| e.code()), Some("token-key"));
    Ok(())
}

#[test]
fn token_keys_come_from_hex_env_or_a_private_file() -> Result {
    let dir = TempDir::new()?;
    let key = TokenKey::generate()?;
    let path = dir.0.join("key");
    key.write_file(&path)?;
    assert!(key.write_file(&path).is_err(), "never overwrites a key");
    let back = TokenKey::from_file(&path)?;
    // Same key: a value sealed with one opens with the other.
    let store = FileStore::open(dir.0.join("t.json"), Some(key))?;
    paid(&store, 1, &scope("https://a.example")?, 1_000, t0())?;
    let store = FileStore::open(dir.0.join("t.json"), Some(back))?;
    assert!(store.token(&scope("https://a.example")?)?.is_some());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        assert_eq!(TokenKey::from_file(&path).err().map(|e| e.code()), Some("token-key"));
    }
    for bad in ["", "zz", &"ab".repeat(31), &"ab".repeat(33)] {
        assert_eq!(TokenKey::from_hex(bad).err().map(|e| e.code()), Some("token-key"), "{bad:?}");
    }
    assert!(format!("{:?}", TokenKey::from_bytes([7; 32])).contains(".."));
    Ok(())
}

#[test]
fn scopes_are_canonical() -> Result {
    let u = |s: &str| Url::parse(s);
    assert_eq!(
        Scope::for_url(&u("https://API.Example.com/v1/x?q=1")?, ScopePolicy::Origin)?.as_str(),
        "https://api.example.com:443"
    );
    assert_eq!(
        Scope::for_url(&u("http://h:8080/v1/x")?, ScopePolicy::PathPrefix)?.as_str(),
        "http://h:8080/v1/"
    );
    assert_eq!(Scope::for_url(&u("http://h/")?, ScopePolicy::PathPrefix)?.as_str(), "http://h:80/");
    assert_eq!(Scope::for_url(&u("http://[::1]:9/a")?, ScopePolicy::Origin)?.domain(), "[::1]");
    assert_eq!(scope("https://a.example")?.domain(), "a.example");
    let prefix = Scope::for_url(&u("http://[::1]:8080/v1/x")?, ScopePolicy::PathPrefix)?;
    assert_eq!(prefix.origin(), "http://[::1]:8080");
    assert_eq!(scope("https://a.example")?.origin(), "https://a.example:443");
    let covering: Vec<String> =
        Scope::covering(&u("http://h/beta/x")?)?.iter().map(|s| s.as_str().to_owned()).collect();
    assert_eq!(
        covering,
        ["http://h:80/beta/x/", "http://h:80/beta/", "http://h:80/", "http://h:80"],
        "narrowest first"
    );
    for s in Scope::covering(&u("http://h/")?)? {
        assert_eq!(Scope::parse(s.as_str())?, s, "canonical");
    }
    assert!(Scope::for_url(&u("file:///etc/passwd")?, ScopePolicy::Origin).is_err());
    for bad in
        ["", "https://a.example", "https://a.example:443/x", "ftp://a:21", "https://A.example:443"]
    {
        assert!(Scope::parse(bad).is_err(), "{bad:?}");
    }
    for good in ["https://a.example:443", "http://h:8080/v1/", "http://[::1]:9"] {
        assert_eq!(Scope::parse(good)?.as_str(), good);
    }
    let codes = Error::CODES;
    let mut sorted = codes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), codes.len(), "codes are distinct");
    Ok(())
}

proptest! {
    #[test]
    fn scope_parse_never_panics_and_round_trips(text in ".{0,80}") {
        if let Ok(s) = Scope::parse(&text) {
            prop_assert_eq!(s.as_str(), text.as_str());
            prop_assert_eq!(Scope::parse(s.as_str()).ok(), Some(s));
        }
    }

    #[test]
    fn scopes_of_urls_parse_back(
        host in "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,5})?",
        port in 1u16..,
        path in "(/[a-zA-Z0-9._~-]{0,8}){0,4}",
        prefix in any::<bool>(),
    ) {
        // Punycode labels are decoded by the URL parser: not what this property is about.
        prop_assume!(!host.contains("--"));
        let url = Url::parse(&format!("https://{host}:{port}{path}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let policy = if prefix { ScopePolicy::PathPrefix } else { ScopePolicy::Origin };
        let scope = Scope::for_url(&url, policy).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(Scope::parse(scope.as_str()).ok(), Some(scope.clone()));
        prop_assert_eq!(scope.domain(), host.as_str());
    }
}

/// Separate `l402 get` runs may open one new database at the same moment: every open must
/// succeed, whatever order their schema set-up interleaves in.
#[test]
fn concurrent_first_opens_of_one_database_all_succeed() -> Result {
    const OPENERS: usize = 8;
    for _ in 0..20 {
        let dir = TempDir::new()?;
        let db = dir.0.join("tokens.db");
        let start = std::sync::Arc::new(std::sync::Barrier::new(OPENERS));
        let openers: Vec<_> = (0..OPENERS)
            .map(|_| {
                let (db, start) = (db.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    SqliteStore::open(&db, None).map(drop).map_err(|e| e.to_string())
                })
            })
            .collect();
        for o in openers {
            o.join().map_err(|_| "opener panicked")??;
        }
    }
    Ok(())
}

/// Tokens are bearer credentials: the stores' files are the owner's only, a missing
/// directory is created so, and files an earlier release left readable are tightened
/// (decision 0810).
#[cfg(unix)]
#[test]
fn store_files_and_new_directories_are_owner_only() -> Result {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| -> Result<u32> {
        Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
    };
    let chmod =
        |p: &std::path::Path, m: u32| std::fs::set_permissions(p, PermissionsExt::from_mode(m));
    let dir = TempDir::new()?;
    let a = scope("https://a.example")?;

    let db = dir.0.join("new/t.db");
    let store = SqliteStore::open(&db, None)?;
    paid(&store, 1, &a, 1_000, t0())?;
    assert_eq!(mode(&dir.0.join("new"))?, 0o700, "a directory the store creates");
    for f in ["t.db", "t.db-wal", "t.db-shm"] {
        assert_eq!(mode(&dir.0.join("new").join(f))?, 0o600, "{f}");
    }
    // As an earlier release left them, while the first store still holds the WAL open.
    for f in ["t.db", "t.db-wal", "t.db-shm"] {
        chmod(&dir.0.join("new").join(f), 0o644)?;
    }
    let _again = SqliteStore::open(&db, None)?;
    for f in ["t.db", "t.db-wal", "t.db-shm"] {
        assert_eq!(mode(&dir.0.join("new").join(f))?, 0o600, "{f} tightened");
    }

    chmod(&dir.0, 0o750)?;
    let json = dir.0.join("t.json");
    paid(&FileStore::open(&json, None)?, 1, &a, 1_000, t0())?;
    assert_eq!(mode(&json)?, 0o600);
    chmod(&json, 0o644)?;
    FileStore::open(&json, None)?;
    assert_eq!(mode(&json)?, 0o600, "tightened on open");
    assert_eq!(mode(&dir.0)?, 0o750, "an existing directory is the user's: left alone");
    Ok(())
}
