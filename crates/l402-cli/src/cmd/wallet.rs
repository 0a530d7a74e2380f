//! Client configuration for `l402 get`, `l402 tokens` and `l402 spend`: the wallet, the token
//! store, limits and budgets, from a TOML file and the environment (the environment wins).
//!
//! The file is `--config`, else `$L402_CONFIG`, else `~/.l402/client.toml` when it exists:
//!
//! ```toml
//! store = "/home/me/.l402/client.db"   # SQLite; a path ending in .json uses the file store
//! token_key_file = "/home/me/.l402/token.key"
//! max_cost_sat = 1000
//! max_fee_sat = 10
//! network = "mainnet"                  # for LND; the dev wallet uses its node's network
//! cacert = "/home/me/.l402/ca.pem"     # also trust this CA for HTTPS (`l402 get --cacert`)
//! opaque_tokens = false                # pay tokens that are not macaroons (`--opaque-token`)
//!
//! [wallet]
//! kind = "dev"                         # or "lnd"
//! dir = "/home/me/.l402/dev"           # dev: the dev node's pairing directory
//! # address = "127.0.0.1:10009"        # lnd
//! # tls_cert = "/home/me/.lnd/tls.cert"
//! # macaroon = "/home/me/l402-payer.macaroon"
//!
//! [budget]
//! per_request_sat = 100
//! per_hour_sat = 1000
//! per_day_sat = 5000
//! total_sat = 100000
//! per_domain_day_sat = 2000
//! ```
//!
//! Environment: `L402_STORE`, `L402_WALLET` (`dev`|`lnd`), `L402_DEV_DIR`,
//! `L402_LND_ADDRESS`, `L402_LND_TLS_CERT`, `L402_LND_MACAROON`, `L402_NETWORK`,
//! `L402_MAX_COST_SAT`, `L402_MAX_FEE_SAT`, `L402_TOKEN_KEY` (64 hex digits),
//! `L402_TOKEN_KEY_FILE`, `L402_CACERT`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use l402_client::{Budget, FileStore, SqliteStore, TokenKey, TokenStore};
use l402_lightning::{Network, Payer};
use serde::Deserialize;

use super::cacert::CaCert;

/// Options shared by the client commands.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ClientArgs {
    /// Client configuration file (TOML). Default: $L402_CONFIG, else ~/.l402/client.toml.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Token store: SQLite database, or a JSON file if the name ends in `.json`.
    /// Default: $L402_STORE, else ~/.l402/client.db.
    #[arg(long, value_name = "PATH")]
    pub(crate) store: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    store: Option<PathBuf>,
    token_key_file: Option<PathBuf>,
    max_cost_sat: Option<u64>,
    max_fee_sat: Option<u64>,
    network: Option<String>,
    cacert: Option<PathBuf>,
    opaque_tokens: Option<bool>,
    wallet: Option<WalletFile>,
    budget: Option<BudgetFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WalletFile {
    kind: Option<String>,
    dir: Option<PathBuf>,
    address: Option<String>,
    tls_cert: Option<PathBuf>,
    macaroon: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetFile {
    per_request_sat: Option<u64>,
    per_hour_sat: Option<u64>,
    per_day_sat: Option<u64>,
    total_sat: Option<u64>,
    per_domain_day_sat: Option<u64>,
}

/// Which wallet pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wallet {
    /// The dev node's wallet through its pairing directory. NOT FOR REAL MONEY.
    Dev { dir: PathBuf },
    /// LND over gRPC.
    Lnd { address: String, tls_cert: PathBuf, macaroon: PathBuf, network: Network },
}

/// Everything the client commands need, resolved.
#[derive(Debug, Clone)]
pub(crate) struct ClientConfig {
    pub(crate) store: PathBuf,
    pub(crate) key: Option<TokenKey>,
    pub(crate) max_cost_msat: u64,
    pub(crate) max_fee_msat: u64,
    pub(crate) budget: Budget,
    pub(crate) wallet: Wallet,
    /// A CA to trust for HTTPS, from `$L402_CACERT` or the file; `--cacert` wins over it.
    pub(crate) cacert: Option<CaCert>,
    /// Pay challenges whose token is not a macaroon (decision 0711); `--opaque-token` too.
    pub(crate) opaque_tokens: bool,
}

/// A configuration problem, reported with code `config`.
#[derive(Debug)]
pub(crate) struct ConfigError(pub(crate) String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_u64(name: &str) -> Result<Option<u64>, ConfigError> {
    env(name)
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| ConfigError(format!("{name} must be a whole number")))
        })
        .transpose()
}

fn sat(sat: u64, what: &str) -> Result<u64, ConfigError> {
    sat.checked_mul(1000).ok_or_else(|| ConfigError(format!("{what} is too large")))
}

/// The configuration file's contents and its path, if there is one.
fn read_file_config(args: &ClientArgs) -> Result<(FileConfig, Option<PathBuf>), ConfigError> {
    let explicit = args.config.clone().or_else(|| env("L402_CONFIG").map(PathBuf::from));
    let path = match explicit {
        Some(p) => p,
        None => match home().map(|h| h.join(".l402").join("client.toml")) {
            Some(p) if p.exists() => p,
            _ => return Ok((FileConfig::default(), None)),
        },
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
    let file =
        toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    Ok((file, Some(path)))
}

impl ClientConfig {
    /// Reads the file, then applies the environment and the command line.
    pub(crate) fn load(
        args: &ClientArgs,
        max_cost_sat: Option<u64>,
        max_fee_sat: Option<u64>,
    ) -> Result<ClientConfig, ConfigError> {
        let (file, file_path) = read_file_config(args)?;
        let store = args
            .store
            .clone()
            .or_else(|| env("L402_STORE").map(PathBuf::from))
            .or(file.store)
            .or_else(|| home().map(|h| h.join(".l402").join("client.db")))
            .ok_or_else(|| ConfigError("no token store: set --store, L402_STORE or HOME".into()))?;

        let key = match (
            TokenKey::from_env(),
            env("L402_TOKEN_KEY_FILE").map(PathBuf::from).or(file.token_key_file),
        ) {
            (Err(e), _) => return Err(ConfigError(e.to_string())),
            (Ok(Some(k)), _) => Some(k),
            (Ok(None), Some(path)) => {
                Some(TokenKey::from_file(&path).map_err(|e| ConfigError(e.to_string()))?)
            }
            (Ok(None), None) => None,
        };

        // Aperture's client defaults: 1000 sat per invoice, 10 sat routing fee.
        let max_cost =
            max_cost_sat.or(env_u64("L402_MAX_COST_SAT")?).or(file.max_cost_sat).unwrap_or(1000);
        let max_fee =
            max_fee_sat.or(env_u64("L402_MAX_FEE_SAT")?).or(file.max_fee_sat).unwrap_or(10);

        let cacert = match (env("L402_CACERT"), file.cacert, &file_path) {
            (Some(p), _, _) => Some(CaCert { path: p.into(), from: "L402_CACERT".into() }),
            (None, Some(path), Some(f)) => {
                Some(CaCert { path, from: format!("cacert in {}", f.display()) })
            }
            _ => None,
        };

        let b = file.budget.unwrap_or_default();
        let mut budget = Budget::unlimited();
        budget.per_request_msat =
            b.per_request_sat.map(|v| sat(v, "per_request_sat")).transpose()?;
        budget.per_hour_msat = b.per_hour_sat.map(|v| sat(v, "per_hour_sat")).transpose()?;
        budget.per_day_msat = b.per_day_sat.map(|v| sat(v, "per_day_sat")).transpose()?;
        budget.total_msat = b.total_sat.map(|v| sat(v, "total_sat")).transpose()?;
        budget.per_domain_day_msat =
            b.per_domain_day_sat.map(|v| sat(v, "per_domain_day_sat")).transpose()?;

        let w = file.wallet.unwrap_or_default();
        let kind = env("L402_WALLET").or(w.kind).unwrap_or_else(|| "dev".into());
        let wallet = match kind.as_str() {
            "dev" => Wallet::Dev {
                dir: env("L402_DEV_DIR")
                    .map(PathBuf::from)
                    .or(w.dir)
                    .unwrap_or_else(l402_lightning::dev::default_dir),
            },
            "lnd" => {
                let need = |v: Option<String>, what: &str| {
                    v.ok_or_else(|| ConfigError(format!("the lnd wallet needs {what}")))
                };
                let network =
                    env("L402_NETWORK").or(file.network).unwrap_or_else(|| "mainnet".into());
                Wallet::Lnd {
                    address: need(
                        env("L402_LND_ADDRESS").or(w.address),
                        "an address (L402_LND_ADDRESS)",
                    )?,
                    tls_cert: need(
                        env("L402_LND_TLS_CERT").or(w.tls_cert.map(|p| p.display().to_string())),
                        "tls_cert (L402_LND_TLS_CERT)",
                    )?
                    .into(),
                    macaroon: need(
                        env("L402_LND_MACAROON").or(w.macaroon.map(|p| p.display().to_string())),
                        "a macaroon (L402_LND_MACAROON)",
                    )?
                    .into(),
                    network: network
                        .parse()
                        .map_err(|e: l402_lightning::Error| ConfigError(e.to_string()))?,
                }
            }
            other => {
                return Err(ConfigError(format!("unknown wallet kind {other:?} (dev or lnd)")))
            }
        };
        Ok(ClientConfig {
            store,
            key,
            max_cost_msat: sat(max_cost, "max cost")?,
            max_fee_msat: sat(max_fee, "max fee")?,
            budget,
            wallet,
            cacert,
            opaque_tokens: file.opaque_tokens.unwrap_or(false),
        })
    }

    /// Opens the token store.
    pub(crate) fn open_store(&self) -> Result<Arc<dyn TokenStore>, l402_client::Error> {
        open_store(&self.store, self.key.clone())
    }

    /// Connects the wallet; returns the payer and the network its invoices must be for.
    pub(crate) fn payer(&self) -> Result<(Arc<dyn Payer>, Network), ConfigError> {
        match &self.wallet {
            Wallet::Dev { dir } => {
                let pairing = l402_lightning::dev::Pairing::read(dir).map_err(|e| {
                    ConfigError(format!(
                        "no dev node to pay (is `l402 proxy` or `l402 demo` running?): {e}"
                    ))
                })?;
                let network = pairing.network;
                // The dev wallet's balance is a number it keeps for itself; budgets are what
                // limit spending.
                Ok((
                    Arc::new(l402_lightning::dev::DevPayer::from_pairing(pairing, u64::MAX / 2)),
                    network,
                ))
            }
            Wallet::Lnd { address, tls_cert, macaroon, network } => {
                lnd_payer(address, tls_cert, macaroon, *network)
            }
        }
    }
}

/// Opens a store by path: `.json` is the file store, anything else SQLite.
pub(crate) fn open_store(
    path: &Path,
    key: Option<TokenKey>,
) -> Result<Arc<dyn TokenStore>, l402_client::Error> {
    if path.extension().is_some_and(|e| e == "json") {
        Ok(Arc::new(FileStore::open(path, key)?))
    } else {
        Ok(Arc::new(SqliteStore::open(path, key)?))
    }
}

#[cfg(feature = "lnd")]
fn lnd_payer(
    address: &str,
    tls_cert: &Path,
    macaroon: &Path,
    network: Network,
) -> Result<(Arc<dyn Payer>, Network), ConfigError> {
    let config = l402_lightning::lnd::LndConfig::from_files(address, tls_cert, macaroon, network)
        .map_err(|e| ConfigError(e.to_string()))?;
    let payer =
        l402_lightning::lnd::LndPayer::new(&config).map_err(|e| ConfigError(e.to_string()))?;
    Ok((Arc::new(payer), network))
}

#[cfg(not(feature = "lnd"))]
fn lnd_payer(
    _: &str,
    _: &Path,
    _: &Path,
    _: Network,
) -> Result<(Arc<dyn Payer>, Network), ConfigError> {
    Err(ConfigError("this l402 was built without LND support (cargo feature `lnd`)".into()))
}
