//! `l402 proxy --config FILE`: run the L402 reverse proxy until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use l402_proxy::{Config, Proxy};

use crate::out;

/// Arguments of `l402 proxy`.
#[derive(clap::Args)]
pub(crate) struct ProxyArgs {
    /// The TOML configuration (see crates/l402-proxy/examples/proxy.toml); `L402_PROXY__…`
    /// environment variables override its keys.
    #[arg(long, short)]
    config: PathBuf,
    /// Validate the configuration and exit.
    #[arg(long)]
    check: bool,
}

/// Sets up `tracing` output on stderr, text or JSON.
pub(crate) fn init_logs(format: &str, level: &str) {
    let level = match level {
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let builder = tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr);
    // A second initialisation (tests running commands in one process) is harmless.
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}

/// The proxy's runtime: one worker per CPU it may run on (or `TOKIO_WORKER_THREADS`), and
/// with a single worker tokio's current-thread scheduler, which skips the work-stealing
/// machinery one thread does not need (free path 0.50x to 0.66x of nginx's req/s measured
/// side by side; decision 0615).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let workers = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1);
    if workers <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
    }
}

pub(crate) fn run(args: ProxyArgs) -> ExitCode {
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => return out::refused(e.code(), &e),
    };
    if args.check {
        return out::json(&serde_json::json!({ "valid": true, "services": config.services.len() }));
    }
    init_logs(&config.log.format, &config.log.level);
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => return out::refused("runtime", &e),
    };
    runtime.block_on(async {
        let proxy = match Proxy::builder(config).start().await {
            Ok(p) => p,
            Err(e) => return out::refused(e.code(), &e),
        };
        eprintln!("l402 proxy listening on {}", proxy.addr());
        if let Some(admin) = proxy.admin_addr() {
            eprintln!("admin API on {admin}");
        }
        if let Some(f) = proxy.pairing_file() {
            eprintln!("dev node (NOT FOR REAL MONEY) pairing file: {}", f.display());
        }
        shutdown_signal().await;
        tracing::info!("shutting down: draining in-flight requests");
        proxy.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Ctrl-C, or SIGTERM on Unix.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
