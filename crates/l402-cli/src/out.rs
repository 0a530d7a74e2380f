//! The one place the CLI writes results and errors.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

/// Exit code for input that was refused with a stable code.
pub(crate) const REFUSED: u8 = 1;
/// Exit code for usage errors.
pub(crate) const USAGE: u8 = 2;

/// Prints a JSON value on stdout.
pub(crate) fn json<T: Serialize>(v: &T) -> ExitCode {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => fail("internal", &e.to_string(), REFUSED),
    }
}

/// Prints one line on stdout.
pub(crate) fn line(s: &str) -> ExitCode {
    println!("{s}");
    ExitCode::SUCCESS
}

/// Errors as text for a person (`l402 get` at a terminal without `--json`), else JSON.
static HUMAN: AtomicBool = AtomicBool::new(false);

/// Writes errors for a person from now on (`true`), or as JSON.
pub(crate) fn human(on: bool) {
    HUMAN.store(on, Ordering::Relaxed);
}

/// Prints an error object (`code`, `message`, details) on stderr, as one JSON line or, for a
/// person, as `l402: message (code)` with the details after it; exits with `status`.
pub(crate) fn error(v: &serde_json::Value, status: u8) -> ExitCode {
    if HUMAN.load(Ordering::Relaxed) {
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default().to_owned();
        let mut line = format!("l402: {} ({})", text("message"), text("code"));
        if let Some(o) = v.as_object() {
            for (k, x) in o.iter().filter(|(k, _)| !matches!(k.as_str(), "code" | "message")) {
                line.push_str(&format!(
                    "\n  {k}: {}",
                    x.as_str().map_or(x.to_string(), str::to_owned)
                ));
            }
        }
        eprintln!("{line}");
    } else {
        eprintln!("{v}");
    }
    ExitCode::from(status)
}

/// Prints `{"code", "message"}` on stderr and exits with `status`.
pub(crate) fn fail(code: &str, message: &str, status: u8) -> ExitCode {
    error(&serde_json::json!({ "code": code, "message": message }), status)
}

/// A usage error (exit 2).
pub(crate) fn usage(message: &str) -> ExitCode {
    fail("usage", message.trim_end(), USAGE)
}

/// An error and all its causes, `: `-separated: reqwest's own message names only the URL or
/// says "builder error", while what the user can act on (connection refused, an untrusted
/// certificate, no CA certificates on the system) is further down.
pub(crate) fn causes(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// An error with a stable code from a library crate (exit 1).
pub(crate) fn refused(code: &str, e: &dyn std::fmt::Display) -> ExitCode {
    fail(code, &e.to_string(), REFUSED)
}
