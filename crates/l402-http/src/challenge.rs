//! `WWW-Authenticate`: typed L402 challenges, which one to answer, and what servers send.

use http::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use l402_token::Macaroon;

use crate::limits::{self, Limits};
use crate::syntax::{self, Body, Param, RawChallenge};
use crate::{Error, Scheme};

/// The version every L402 text defines; an absent `version` parameter means this one.
pub const VERSION_0: &str = "0";

/// Which parameter name carried the macaroon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacaroonParam {
    /// `macaroon=`: Aperture, bLIP-26, lsat-js, lnget.
    Macaroon,
    /// `token=`: the 2026 spec text with `version="0"`.
    Token,
    /// Both, with the same value.
    Both,
}

/// A usable L402 (or LSAT) challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Challenge {
    /// `L402` or the legacy `LSAT`.
    pub scheme: Scheme,
    /// The macaroon, decoded.
    pub macaroon: Macaroon,
    /// The macaroon exactly as the server wrote it (any accepted base64 form).
    pub macaroon_text: String,
    /// The BOLT 11 invoice, not decoded here.
    pub invoice: String,
    /// The `version` parameter, `"0"` when absent.
    pub version: String,
    /// Which parameter name carried the macaroon.
    pub macaroon_param: MacaroonParam,
}

/// An L402/LSAT challenge that could not be used, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RejectedChallenge {
    /// The scheme it was offered under.
    pub scheme: Scheme,
    /// Its parameters as written (empty for a token68 body).
    pub params: Vec<Param>,
    /// Why it cannot be used; [`Error::code`] is stable.
    pub error: Error,
}

/// A challenge of another scheme (`Basic`, `Bearer`, `Payment`, …), kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtherChallenge {
    /// The scheme name as written.
    pub scheme: String,
    /// The token68 body, if it has one.
    pub token68: Option<String>,
    /// The parameters, if it has them.
    pub params: Vec<Param>,
}

/// One element of a challenge list.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParsedChallenge {
    /// A usable L402 or LSAT challenge.
    L402(Challenge),
    /// An L402 or LSAT challenge that cannot be used; the other challenges still parse.
    Rejected(RejectedChallenge),
    /// A challenge of another scheme.
    Other(OtherChallenge),
    /// A whole field line that is not a challenge list (only from a [`HeaderMap`]: one bad
    /// line does not hide the good ones).
    Malformed {
        /// Index of the `WWW-Authenticate` line, from 0.
        line: usize,
        /// Why; [`Error::code`] is stable.
        error: Error,
    },
}

impl ParsedChallenge {
    /// The usable L402 challenge, if this is one.
    pub fn as_l402(&self) -> Option<&Challenge> {
        match self {
            ParsedChallenge::L402(c) => Some(c),
            _ => None,
        }
    }

    /// The error, for rejected and malformed entries.
    pub fn error(&self) -> Option<&Error> {
        match self {
            ParsedChallenge::Rejected(r) => Some(&r.error),
            ParsedChallenge::Malformed { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Parses one `WWW-Authenticate` field value with the default [`Limits`].
///
/// A value that is not a challenge list is an error; an L402 challenge with a bad parameter
/// comes back as [`ParsedChallenge::Rejected`] and the rest of the list still parses.
pub fn parse_challenges(value: &str) -> Result<Vec<ParsedChallenge>, Error> {
    parse_challenges_with(value, &Limits::DEFAULT)
}

/// [`parse_challenges`] with explicit limits.
pub fn parse_challenges_with(value: &str, limits: &Limits) -> Result<Vec<ParsedChallenge>, Error> {
    limits.check_len(value)?;
    Ok(syntax::parse_list(value)?.into_iter().map(typed).collect())
}

/// Every challenge in every `WWW-Authenticate` line, in order, with the default [`Limits`].
pub fn challenges_from_headers(headers: &HeaderMap) -> Result<Vec<ParsedChallenge>, Error> {
    challenges_from_headers_with(headers, &Limits::DEFAULT)
}

/// [`challenges_from_headers`] with explicit limits. Too many lines is an error for the whole
/// map; a bad line becomes one [`ParsedChallenge::Malformed`] entry.
pub fn challenges_from_headers_with(
    headers: &HeaderMap,
    limits: &Limits,
) -> Result<Vec<ParsedChallenge>, Error> {
    let lines = limits::values(headers, WWW_AUTHENTICATE, limits)?;
    Ok(parse_lines(
        lines.iter().map(|v| limits::text(v, limits, Error::MalformedChallenge { offset: 0 })),
        limits,
    ))
}

/// Parses several field lines given as text (the CLI's arguments, a test's fixtures).
pub fn parse_challenge_lines<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    limits: &Limits,
) -> Result<Vec<ParsedChallenge>, Error> {
    let lines: Vec<&str> = lines.into_iter().collect();
    if lines.len() > limits.max_fields {
        return Err(Error::TooManyHeaders { count: lines.len() });
    }
    Ok(parse_lines(lines.into_iter().map(Ok), limits))
}

fn parse_lines<'a>(
    lines: impl Iterator<Item = Result<&'a str, Error>>,
    limits: &Limits,
) -> Vec<ParsedChallenge> {
    let mut out = Vec::new();
    for (line, text) in lines.enumerate() {
        match text.and_then(|t| parse_challenges_with(t, limits)) {
            Ok(cs) => out.extend(cs),
            Err(error) => out.push(ParsedChallenge::Malformed { line, error }),
        }
    }
    out
}

/// Picks the challenge a client should answer (decision 0400): the first usable `L402`
/// challenge, else the first usable `LSAT` one. With none usable, the error of the first
/// rejected L402/LSAT challenge (or malformed line), else `missing-challenge`.
pub fn select(offered: &[ParsedChallenge]) -> Result<&Challenge, Error> {
    let usable = || offered.iter().filter_map(ParsedChallenge::as_l402);
    if let Some(c) = usable().find(|c| c.scheme == Scheme::L402).or_else(|| usable().next()) {
        return Ok(c);
    }
    match offered.iter().find_map(ParsedChallenge::error) {
        Some(e) => Err(e.clone()),
        None => Err(Error::MissingChallenge),
    }
}

/// An L402/LSAT challenge whose token is not a macaroon: some servers (lightning-toll,
/// l402kit, Alby's server helpers) send their own token, such as base64 JSON, under
/// `macaroon=`. A client may answer it only when told to (decision 0711): nothing ties such a
/// token to the invoice, so the invoice cannot be checked against it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpaqueChallenge {
    /// `L402` or the legacy `LSAT`.
    pub scheme: Scheme,
    /// The token exactly as the server wrote it; it is sent back unchanged.
    pub token: String,
    /// The BOLT 11 invoice, not decoded here.
    pub invoice: String,
}

impl core::fmt::Debug for OpaqueChallenge {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OpaqueChallenge")
            .field("scheme", &self.scheme)
            .field("token_len", &self.token.len())
            .field("invoice", &self.invoice)
            .finish()
    }
}

/// The challenge to answer with an opaque token when [`select`] finds none usable: the first
/// `L402` (else `LSAT`) challenge that failed only because its token does not decode as a
/// macaroon, has an invoice, and whose token can be sent back as written (token68 characters,
/// which excludes the `:` the credential is split at).
pub fn select_opaque(offered: &[ParsedChallenge]) -> Option<OpaqueChallenge> {
    if select(offered).is_ok() {
        return None;
    }
    let opaque = || {
        offered.iter().filter_map(|c| match c {
            ParsedChallenge::Rejected(r) if matches!(r.error, Error::Token(_)) => {
                let get = |name: &str| {
                    r.params.iter().find(|p| p.name.eq_ignore_ascii_case(name)).map(|p| &p.value)
                };
                let token = get("macaroon").or_else(|| get("token"))?;
                let invoice = get("invoice").filter(|i| !i.is_empty())?;
                syntax::is_token68(token).then(|| OpaqueChallenge {
                    scheme: r.scheme,
                    token: token.clone(),
                    invoice: invoice.clone(),
                })
            }
            _ => None,
        })
    };
    opaque().find(|c| c.scheme == Scheme::L402).or_else(|| opaque().next())
}

fn typed(raw: RawChallenge) -> ParsedChallenge {
    let Some(scheme) = Scheme::from_name(&raw.scheme) else {
        let (token68, params) = match raw.body {
            Body::Empty => (None, Vec::new()),
            Body::Token68(t) => (Some(t), Vec::new()),
            Body::Params(p) => (None, p),
        };
        return ParsedChallenge::Other(OtherChallenge { scheme: raw.scheme, token68, params });
    };
    let params = match raw.body {
        Body::Params(p) => p,
        Body::Empty | Body::Token68(_) => Vec::new(),
    };
    match build(scheme, &params) {
        Ok(c) => ParsedChallenge::L402(c),
        Err(error) => ParsedChallenge::Rejected(RejectedChallenge { scheme, params, error }),
    }
}

/// Gives meaning to the parameters of an L402/LSAT challenge. Checks run in a fixed order so
/// that every input has exactly one code: duplicates, version, presence, macaroon decoding.
pub(crate) fn build(scheme: Scheme, params: &[Param]) -> Result<Challenge, Error> {
    // A set, not pairwise comparison: a 16 KiB line can hold thousands of parameters.
    let mut seen = std::collections::HashSet::with_capacity(params.len());
    for p in params {
        let name = p.name.to_ascii_lowercase();
        if seen.contains(&name) {
            return Err(Error::DuplicateParameter(name));
        }
        seen.insert(name);
    }
    let get = |name: &str| params.iter().find(|p| p.name.eq_ignore_ascii_case(name));
    let (text, macaroon_param) = match (get("macaroon"), get("token")) {
        (Some(m), Some(t)) if m.value == t.value => (Some(&m.value), MacaroonParam::Both),
        (Some(_), Some(_)) => return Err(Error::DuplicateParameter("token".into())),
        (Some(m), None) => (Some(&m.value), MacaroonParam::Macaroon),
        (None, Some(t)) => (Some(&t.value), MacaroonParam::Token),
        (None, None) => (None, MacaroonParam::Macaroon),
    };
    let version = get("version").map_or(VERSION_0, |p| p.value.as_str());
    if version != VERSION_0 {
        return Err(Error::UnsupportedVersion(version.to_owned()));
    }
    let text = text.ok_or(Error::MissingParameter("macaroon"))?;
    let invoice = match get("invoice") {
        Some(p) if !p.value.is_empty() => p.value.clone(),
        _ => return Err(Error::MissingParameter("invoice")),
    };
    let macaroon = Macaroon::from_base64(text)?;
    Ok(Challenge {
        scheme,
        macaroon,
        macaroon_text: text.clone(),
        invoice,
        version: version.to_owned(),
        macaroon_param,
    })
}

/// What a server sends in `WWW-Authenticate` (decision 0401 explains the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ChallengeStyle {
    /// Two lines, `LSAT macaroon="…", invoice="…"` then `L402 macaroon="…", invoice="…"`,
    /// exactly as Aperture sends them. Every client we know parses this.
    #[default]
    Aperture,
    /// One line, `L402 macaroon="…", invoice="…"` (bLIP-26).
    L402,
    /// One line, `L402 version="0", token="…", invoice="…"` (the 2026 spec text). Aperture's
    /// client, lnget and lsat-js cannot parse it.
    VersionToken,
}

/// The field values for a challenge, in the order they must be sent.
///
/// The macaroon is written as standard padded base64; the invoice as a quoted-string (an
/// invoice with control characters or non-ASCII is `unencodable-value`).
pub fn challenge_values(
    macaroon: &Macaroon,
    invoice: &str,
    style: ChallengeStyle,
) -> Result<Vec<HeaderValue>, Error> {
    let mac = macaroon.to_base64();
    let inv = syntax::quote(invoice)?;
    // Aperture's client regex needs exactly `", "` between the two and macaroon first.
    let classic = format!("macaroon=\"{mac}\", invoice={inv}");
    let lines = match style {
        ChallengeStyle::Aperture => vec![format!("LSAT {classic}"), format!("L402 {classic}")],
        ChallengeStyle::L402 => vec![format!("L402 {classic}")],
        ChallengeStyle::VersionToken => {
            vec![format!("L402 version=\"{VERSION_0}\", token=\"{mac}\", invoice={inv}")]
        }
    };
    lines
        .into_iter()
        .map(|l| HeaderValue::try_from(l).map_err(|_| Error::UnencodableValue))
        .collect()
}

/// Appends the challenge lines to `headers` (existing challenges of other schemes stay).
pub fn write_challenges(
    headers: &mut HeaderMap,
    macaroon: &Macaroon,
    invoice: &str,
    style: ChallengeStyle,
) -> Result<(), Error> {
    for v in challenge_values(macaroon, invoice, style)? {
        headers.append(WWW_AUTHENTICATE, v);
    }
    Ok(())
}
