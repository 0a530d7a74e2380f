//! The one place the CLI writes results and errors.

use std::process::ExitCode;

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

/// Prints `{"code", "message"}` on stderr and exits with `status`.
pub(crate) fn fail(code: &str, message: &str, status: u8) -> ExitCode {
    let v = serde_json::json!({ "code": code, "message": message });
    eprintln!("{v}");
    ExitCode::from(status)
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
