//! `l402 header parse-challenge|parse-authorization`.

use std::process::ExitCode;

use clap::Subcommand;
use http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use l402_http::{
    parse_challenge_lines, select, Credential, Error, Limits, MacaroonParam, Param, ParsedChallenge,
};
use serde::Serialize;

use super::arg_or_stdin;
use crate::out;

#[derive(Subcommand)]
pub(crate) enum HeaderCommand {
    /// Parse `WWW-Authenticate` field lines into a JSON array of challenges; exit 1 when none
    /// of them can be answered.
    ParseChallenge {
        /// One argument per field line (`-` reads one line from standard input).
        #[arg(required = true)]
        values: Vec<String>,
    },
    /// Parse `Authorization` field lines into `{scheme, macaroons, preimage}`; several lines
    /// must agree.
    ParseAuthorization {
        /// One argument per field line (`-` reads one line from standard input).
        #[arg(required = true)]
        values: Vec<String>,
    },
}

pub(crate) fn run(c: HeaderCommand) -> ExitCode {
    let (HeaderCommand::ParseChallenge { values } | HeaderCommand::ParseAuthorization { values }) =
        &c;
    let mut lines = Vec::with_capacity(values.len());
    for v in values {
        match arg_or_stdin(v) {
            Ok(l) => lines.push(l),
            Err(e) => return out::usage(&format!("reading stdin: {e}")),
        }
    }
    match c {
        HeaderCommand::ParseChallenge { .. } => parse_challenge(&lines),
        HeaderCommand::ParseAuthorization { .. } => parse_authorization(&lines),
    }
}

#[derive(Serialize)]
struct ErrorView {
    code: &'static str,
    message: String,
}

impl From<&Error> for ErrorView {
    fn from(e: &Error) -> Self {
        ErrorView { code: e.code(), message: e.to_string() }
    }
}

#[derive(Serialize)]
struct ParamView<'a> {
    name: &'a str,
    value: &'a str,
}

/// One challenge. The same keys for every kind, `null` where they do not apply.
#[derive(Serialize)]
struct ChallengeView<'a> {
    scheme: Option<&'a str>,
    macaroon: Option<&'a str>,
    invoice: Option<&'a str>,
    version: Option<&'a str>,
    /// `macaroon`, `token` or `both`: which parameter carried the macaroon.
    macaroon_param: Option<&'static str>,
    /// Raw parameters of other schemes and of rejected L402/LSAT challenges.
    params: Option<Vec<ParamView<'a>>>,
    token68: Option<&'a str>,
    /// For a malformed field line: its index among the arguments.
    line: Option<usize>,
    error: Option<ErrorView>,
    /// True for the one challenge a client should answer.
    selected: bool,
}

fn params(ps: &[Param]) -> Option<Vec<ParamView<'_>>> {
    Some(ps.iter().map(|p| ParamView { name: &p.name, value: &p.value }).collect())
}

fn view(p: &ParsedChallenge, selected: bool) -> ChallengeView<'_> {
    let blank = ChallengeView {
        scheme: None,
        macaroon: None,
        invoice: None,
        version: None,
        macaroon_param: None,
        params: None,
        token68: None,
        line: None,
        error: None,
        selected: false,
    };
    match p {
        ParsedChallenge::L402(c) => ChallengeView {
            scheme: Some(c.scheme.as_str()),
            macaroon: Some(&c.macaroon_text),
            invoice: Some(&c.invoice),
            version: Some(&c.version),
            macaroon_param: Some(match c.macaroon_param {
                MacaroonParam::Macaroon => "macaroon",
                MacaroonParam::Token => "token",
                MacaroonParam::Both => "both",
            }),
            selected,
            ..blank
        },
        ParsedChallenge::Rejected(r) => ChallengeView {
            scheme: Some(r.scheme.as_str()),
            params: params(&r.params),
            error: Some((&r.error).into()),
            ..blank
        },
        ParsedChallenge::Other(o) => ChallengeView {
            scheme: Some(&o.scheme),
            params: params(&o.params),
            token68: o.token68.as_deref(),
            ..blank
        },
        ParsedChallenge::Malformed { line, error } => {
            ChallengeView { line: Some(*line), error: Some(error.into()), ..blank }
        }
        _ => blank,
    }
}

fn parse_challenge(lines: &[String]) -> ExitCode {
    let items = match parse_challenge_lines(lines.iter().map(String::as_str), &Limits::DEFAULT) {
        Ok(items) => items,
        Err(e) => return out::refused(e.code(), &e),
    };
    let chosen = select(&items);
    let at = chosen
        .as_ref()
        .ok()
        .and_then(|c| items.iter().position(|i| i.as_l402().is_some_and(|x| std::ptr::eq(x, *c))));
    let views: Vec<ChallengeView<'_>> =
        items.iter().enumerate().map(|(n, i)| view(i, Some(n) == at)).collect();
    let printed = out::json(&views);
    match chosen {
        Ok(_) => printed,
        // The array is still printed: it says why each challenge was refused.
        Err(e) => out::refused(e.code(), &e),
    }
}

#[derive(Serialize)]
struct CredentialView<'a> {
    scheme: &'static str,
    macaroons: Vec<&'a str>,
    preimage: String,
}

fn parse_authorization(lines: &[String]) -> ExitCode {
    let mut headers = HeaderMap::new();
    for l in lines {
        match HeaderValue::from_str(l) {
            Ok(v) => {
                headers.append(AUTHORIZATION, v);
            }
            Err(_) => {
                let e = Error::MalformedCredential("not a valid field value");
                return out::refused(e.code(), &e);
            }
        }
    }
    match Credential::from_headers(&headers) {
        Ok(c) => out::json(&CredentialView {
            scheme: c.scheme.as_str(),
            macaroons: c.macaroon_text.split(',').collect(),
            preimage: c.preimage.to_hex(),
        }),
        Err(e) => out::refused(e.code(), &e),
    }
}
