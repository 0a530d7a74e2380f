//! A throwaway PostgreSQL server on a free loopback port, started from the installed
//! `initdb`/`pg_ctl` (Debian puts them in `/usr/lib/postgresql/<version>/bin`).
//!
//! As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root) and
//! its data directory is chowned to it. Dropping [`PgServer`] stops the server and removes
//! the directory. When no server can be started, [`PgServer::start_or_skip`] skips outside
//! CI and fails in CI (`CI` set), so CI never silently loses the PostgreSQL tests.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub(crate) struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    next_db: AtomicU32,
    /// `pg_ctl start` options, for a restart.
    opts: String,
}

fn find_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Some(bin);
    }
    // Other layouts put the tools on PATH.
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

impl PgServer {
    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let out = self
            .command(tool)
            .args(args)
            .current_dir(&self.dir)
            .output()
            .map_err(|e| format!("{tool}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Starts a fresh server.
    pub(crate) fn start() -> Result<PgServer, String> {
        PgServer::start_with(None)
    }

    /// Starts a fresh server that takes TCP connections over TLS only, presenting
    /// `(certificate, key)` (PEM).
    fn start_tls(cert: &str, key: &str) -> Result<PgServer, String> {
        PgServer::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Result<PgServer, String> {
        let bin = find_bin().ok_or("no initdb found (install the postgresql package)")?;
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "l402-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("temp dir: {e}"))?;
        let as_postgres = is_root();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                return Err("cannot chown the data directory to postgres".into());
            }
        }
        let mut server = PgServer {
            dir,
            bin,
            port: free_port()?,
            as_postgres,
            next_db: AtomicU32::new(0),
            opts: String::new(),
        };
        let data = server.data_dir();
        let data = data.to_str().ok_or("temp dir is not UTF-8")?;
        server.run(
            "initdb",
            &["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"],
        )?;
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            server.port,
            server.dir.display()
        );
        if let Some((cert, key)) = tls {
            server.write_tls_files(cert, key)?;
            opts.push_str(" -c ssl=on");
        }
        server.opts = opts;
        server.start_again()?;
        Ok(server)
    }

    /// Starts the stopped server again, on the same port and data.
    pub(crate) fn start_again(&self) -> Result<(), String> {
        let data = self.data_dir();
        let data = data.to_str().ok_or("temp dir is not UTF-8")?;
        let log = self.dir.join("server.log");
        let log = log.to_str().ok_or("temp dir is not UTF-8")?;
        self.run("pg_ctl", &["-D", data, "-o", &self.opts, "-l", log, "-w", "-t", "60", "start"])
    }

    /// Stops the server at once, as a crash would (`-m immediate`: connections are cut).
    #[allow(dead_code, reason = "not every test binary that shares this file restarts it")]
    pub(crate) fn stop(&self) -> Result<(), String> {
        let data = self.data_dir();
        let data = data.to_str().ok_or("temp dir is not UTF-8")?;
        self.run("pg_ctl", &["-D", data, "-m", "immediate", "-w", "stop"])
    }

    /// `server.crt`, `server.key` (the server refuses a key others can read) and a
    /// `pg_hba.conf` with no plain TCP line, so that a connection without TLS is refused.
    fn write_tls_files(&self, cert: &str, key: &str) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt as _;
        let data = self.data_dir();
        let files = [
            ("server.crt", cert, 0o644),
            ("server.key", key, 0o600),
            ("pg_hba.conf", "local all all trust\nhostssl all all 127.0.0.1/32 trust\n", 0o600),
        ];
        for (name, text, mode) in files {
            let path = data.join(name);
            std::fs::write(&path, text).map_err(|e| format!("{name}: {e}"))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| format!("{name}: {e}"))?;
            if self.as_postgres {
                let ok = Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&path)
                    .status()
                    .is_ok_and(|s| s.success());
                if !ok {
                    return Err(format!("cannot chown {name} to postgres"));
                }
            }
        }
        Ok(())
    }

    /// [`PgServer::start`], or `None` with a printed reason outside CI; an error in CI.
    pub(crate) fn start_or_skip(test: &str) -> Result<Option<PgServer>, String> {
        PgServer::or_skip(test, PgServer::start())
    }

    /// [`PgServer::start_tls`], skipped as [`PgServer::start_or_skip`] is.
    #[allow(dead_code, reason = "not every test binary that shares this file uses TLS")]
    pub(crate) fn start_tls_or_skip(
        test: &str,
        cert: &str,
        key: &str,
    ) -> Result<Option<PgServer>, String> {
        PgServer::or_skip(test, PgServer::start_tls(cert, key))
    }

    fn or_skip(test: &str, started: Result<PgServer, String>) -> Result<Option<PgServer>, String> {
        match started {
            Ok(s) => Ok(Some(s)),
            Err(e) if std::env::var_os("CI").is_some() => {
                Err(format!("{test}: PostgreSQL is required in CI: {e}"))
            }
            Err(e) => {
                eprintln!("skipping {test}: cannot start PostgreSQL: {e}");
                Ok(None)
            }
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A connection string for database `db`.
    pub(crate) fn config(&self, db: &str) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname={db}", self.port)
    }

    /// Creates a fresh, empty database and returns its connection string.
    pub(crate) async fn fresh_db(&self) -> Result<String, String> {
        let name = format!("t{}", self.next_db.fetch_add(1, Ordering::Relaxed));
        let (client, conn) =
            tokio_postgres::connect(&self.config("postgres"), tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("connect: {e}"))?;
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| format!("create database: {e}"))?;
        drop(client);
        let _ = task.await;
        Ok(self.config(&name))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data_dir();
        if let Some(data) = data.to_str() {
            let _ = self.run("pg_ctl", &["-D", data, "-m", "immediate", "-w", "stop"]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
