//! An L402 reverse proxy: put a Lightning price on any HTTP, WebSocket or gRPC API without
//! touching its code (the Aperture role).
//!
//! - [`Config`]: the TOML configuration, `L402_PROXY__…` environment overrides, validation
//!   that names the key at fault (`services[1].price_msat: must be > 0`);
//! - [`Proxy`]: binds the listeners and serves. Each request goes through
//!   `l402_server`'s one pipeline (`l402_server::tower`, decision 0614): its path normalised
//!   (`l402_http::path`), matched to a service by host and path prefix (as the upstream
//!   compares paths), authorized or challenged by
//!   [`l402_server::Paywall`] (HTTP 402, or the gRPC status-13 form for `application/grpc`),
//!   then forwarded with streamed bodies in both directions, WebSocket upgrades tunnelled,
//!   hop-by-hop headers and the L402 credential removed, within the service's
//!   upstream timeouts ([`Timeouts`]: 504 `upstream-timeout`, no use counted; a
//!   body that goes quiet is ended); an upstream that cannot be reached or answers badly gets
//!   the client a 502 (`upstream-unreachable`, `upstream-error`), no use counted either;
//! - slow and idle clients: handshake, header-read and idle clocks on every connection, a
//!   global and a per-client connection limit (when full, the connection waiting longest
//!   for a request head is shed), request bodies bounded in size and upload time, accept
//!   errors backed off (decision 0811);
//! - operations: Prometheus [`Metrics`] (on the admin listener; on the public one only when
//!   `listen.metrics_path` is set), a health endpoint, the admin API on its own listener
//!   (revoke, recent tokens, revenue), graceful shutdown.
//!
//! The dev node (default backend) is **NOT FOR REAL MONEY**. See `docs/proxy.md` for the
//! configuration reference, metric names and the admin API.
//!
//! ```
//! use l402_proxy::{Config, Proxy};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("l402-proxy-doc-{}", std::process::id()));
//! let toml = r#"
//!     [listen]
//!     addr = "127.0.0.1:0"
//!
//!     [[services]]
//!     name = "weather"
//!     upstream = "http://127.0.0.1:9000"
//!     price_sat = 10
//!     free_paths = ["/status"]
//! "#;
//! # let toml = format!("data_dir = {:?}\n[lightning]\ndev_dir = {:?}\n{toml}", dir.join("data"), dir.join("dev"));
//! let config = Config::from_toml_str(&toml, std::env::vars())?;
//! let proxy = Proxy::builder(config).start().await?;
//! println!("listening on {}", proxy.addr());
//! proxy.shutdown().await;
//!
//! // Mistakes name their key.
//! let bad = Config::from_toml_str(
//!     "[[services]]\nname = \"x\"\nupstream = \"http://127.0.0.1:1\"\nprice_msat = 0",
//!     [],
//! );
//! assert_eq!(bad.unwrap_err().to_string(), "services[0].price_msat: must be > 0 (use auth = false or free_paths for free access)");
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admin;
// Public for the fuzz targets only, not part of the API.
#[doc(hidden)]
pub mod bearer;
mod body_limit;
pub mod config;
mod error;
mod forward;
mod headers;
mod health;
mod host;
mod idle;
mod ledger;
mod listen;
mod log_sampler;
mod metrics;
mod observe;
// Public for the fuzz targets only, not part of the API.
#[doc(hidden)]
pub mod path;
mod pricing;
mod proxy;
mod route;
pub mod sample;
mod server;
mod stall;
mod upstream;

pub use crate::config::Config;
pub use crate::error::{Error, TlsError};
pub use crate::ledger::{Ledger, Revenue, TokenRecord};
pub use crate::metrics::Metrics;
pub use crate::server::{Proxy, ProxyBuilder};
pub use crate::upstream::Timeouts;
