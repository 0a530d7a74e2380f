//! `l402 invoice decode`.

use std::process::ExitCode;

use clap::Subcommand;

use super::arg_or_stdin;
use crate::out;

#[derive(Subcommand)]
pub(crate) enum InvoiceCommand {
    /// Print a BOLT 11 invoice as JSON: payment_hash, amount_msat, timestamp, expiry, network,
    /// payee, description. Exit 1 with a stable code when it is not a valid, signed invoice.
    Decode {
        /// The invoice, or `-` for standard input.
        bolt11: String,
    },
}

pub(crate) fn run(c: InvoiceCommand) -> ExitCode {
    match c {
        InvoiceCommand::Decode { bolt11 } => {
            let text = match arg_or_stdin(&bolt11) {
                Ok(t) => t,
                Err(e) => return out::usage(&format!("reading stdin: {e}")),
            };
            match l402_lightning::decode_to_json(&text) {
                Ok(json) => out::line(&json),
                Err(e) => out::refused(e.code(), &e),
            }
        }
    }
}
