//! `l402`: the command-line face of the l402 crates.
//!
//! Output is JSON on stdout (`l402 get` writes the body, as curl); errors are one JSON object
//! `{"code": .., "message": ..}` on stderr, or text for a person at a terminal where the
//! command has no `--json` asked.
//! Exit codes: 0 success, 1 the input was refused (with a stable code), 2 usage errors.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod out;

/// L402: pay-per-request HTTP with Lightning and macaroons.
#[derive(Parser)]
#[command(name = "l402", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode, mint, attenuate and verify L402 tokens.
    #[command(subcommand)]
    Token(cmd::token::TokenCommand),
    /// Parse WWW-Authenticate challenges and Authorization credentials in every L402 form.
    #[command(subcommand)]
    Header(cmd::header::HeaderCommand),
    /// Decode BOLT 11 invoices.
    #[command(subcommand)]
    Invoice(cmd::invoice::InvoiceCommand),
    /// Run the L402 reverse proxy in front of an HTTP or gRPC API.
    Proxy(cmd::proxy::ProxyArgs),
    /// Show the whole L402 loop on this machine: API, proxy, dev node, paying client.
    Demo(cmd::demo::DemoArgs),
    /// Fetch a URL like curl, paying L402 challenges within limits and budgets.
    Get(cmd::get::GetArgs),
    /// List, show, remove and attenuate the tokens `l402 get` bought.
    #[command(subcommand)]
    Tokens(cmd::tokens::TokensCommand),
    /// What `l402 get` spent, by period and domain.
    Spend(cmd::spend::SpendArgs),
    /// Print a shell completion script (`l402 completions bash > /etc/bash_completion.d/l402`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page, in roff (`l402 man > l402.1; man ./l402.1`).
    Man,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        // A person at a terminal reads clap's own text (with the help it suggests).
        Err(e) if std::io::IsTerminal::is_terminal(&std::io::stderr()) => {
            let _ = e.print();
            return ExitCode::from(out::USAGE);
        }
        Err(e) => return out::usage(&e.to_string()),
    };
    match cli.command {
        Command::Token(c) => cmd::token::run(c),
        Command::Header(c) => cmd::header::run(c),
        Command::Invoice(c) => cmd::invoice::run(c),
        Command::Proxy(a) => cmd::proxy::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Get(a) => cmd::get::run(a),
        Command::Tokens(c) => cmd::tokens::run(c),
        Command::Spend(a) => cmd::spend::run(a),
        Command::Completions { shell } => {
            // Both come from the clap definitions, so they never drift from the parser.
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "l402", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man => {
            let man = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
            match man.render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => out::fail("output", &e.to_string(), out::REFUSED),
            }
        }
    }
}
