//! RFC 9110 §11.6.1 challenge lists, with nom.
//!
//! ```text
//! WWW-Authenticate = #challenge
//! challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param       = token BWS "=" BWS ( token / quoted-string )
//! token68          = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! The list is ambiguous only after a comma: what follows is either one more parameter of the
//! current challenge or the next challenge. A parameter starts with `token BWS "="`, a
//! challenge with a token followed by a space, a comma or the end, so one look-ahead decides.
//! Empty list elements (`a, , b`) are accepted as RFC 9110 §5.6.1 requires of recipients.
//!
//! One leniency beyond the RFC (decision 0401): parameters separated by spaces alone
//! (`macaroon="…" invoice="…"`), as boltwall-era servers wrote them and lsat-js accepts.

use nom::bytes::complete::{take_while, take_while1};
use nom::character::complete::char;
use nom::combinator::{eof, peek, recognize};
use nom::error::{Error as NomError, ErrorKind};
use nom::multi::many0;
use nom::{IResult, Parser};

use crate::Error;

/// One `name=value` parameter of a challenge, the value unquoted and unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Param {
    /// The name as written (compare case-insensitively).
    pub name: String,
    /// The value, with quotes removed and quoted-pairs resolved.
    pub value: String,
}

/// What follows the scheme of a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    Empty,
    Token68(String),
    Params(Vec<Param>),
}

/// One challenge as the grammar sees it, before any meaning is given to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawChallenge {
    pub(crate) scheme: String,
    pub(crate) body: Body,
}

type Res<'a, T> = IResult<&'a str, T>;

fn fail(at: &str) -> nom::Err<NomError<&str>> {
    nom::Err::Error(NomError::new(at, ErrorKind::Verify))
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn is_token68_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~+/".contains(c)
}

/// Whether all of `s` is one token68 (RFC 9110 §11.2).
pub(crate) fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty() && body.chars().all(is_token68_char)
}

fn token(i: &str) -> Res<'_, &str> {
    take_while1(is_tchar).parse(i)
}

fn ows(i: &str) -> Res<'_, &str> {
    take_while(|c| c == ' ' || c == '\t').parse(i)
}

fn spaces1(i: &str) -> Res<'_, &str> {
    take_while1(|c| c == ' ').parse(i)
}

fn token68(i: &str) -> Res<'_, &str> {
    recognize((take_while1(is_token68_char), take_while(|c| c == '='))).parse(i)
}

fn quoted_string(i: &str) -> Res<'_, String> {
    let (mut rest, _) = char('"').parse(i)?;
    let mut out = String::new();
    loop {
        let mut chars = rest.chars();
        match chars.next() {
            Some('"') => return Ok((chars.as_str(), out)),
            Some('\\') => match chars.next() {
                Some(c) if c == '\t' || (' '..='~').contains(&c) => out.push(c),
                _ => return Err(fail(rest)),
            },
            Some(c) if c == '\t' || (' '..='~').contains(&c) => out.push(c),
            _ => return Err(fail(rest)),
        }
        rest = chars.as_str();
    }
}

fn param_value(i: &str) -> Res<'_, String> {
    if i.starts_with('"') {
        quoted_string(i)
    } else {
        token(i).map(|(rest, t)| (rest, t.to_owned()))
    }
}

fn auth_param(i: &str) -> Res<'_, Param> {
    let (rest, (name, _, _, _, value)) = (token, ows, char('='), ows, param_value).parse(i)?;
    Ok((rest, Param { name: name.to_owned(), value }))
}

/// `token BWS "="`: what tells a parameter from the next challenge.
fn param_start(i: &str) -> Res<'_, ()> {
    peek((token, ows, char('='))).parse(i).map(|(rest, _)| (rest, ()))
}

/// `OWS "," OWS` with any number of empty elements.
fn list_separator(i: &str) -> Res<'_, ()> {
    (ows, char(','), ows, many0((char(','), ows))).parse(i).map(|(rest, _)| (rest, ()))
}

fn params(i: &str) -> Res<'_, Vec<Param>> {
    let (mut i, first) = auth_param(i)?;
    let mut out = vec![first];
    loop {
        let next = (list_separator, param_start)
            .parse(i)
            .map(|(rest, _)| rest)
            .or_else(|_| (spaces1, param_start).parse(i).map(|(rest, _)| rest));
        match next {
            Ok(rest) => {
                let (rest, p) = auth_param(rest)?;
                out.push(p);
                i = rest;
            }
            Err(_) => return Ok((i, out)),
        }
    }
}

fn challenge(i: &str) -> Res<'_, RawChallenge> {
    let (i, scheme) = token(i)?;
    let scheme = scheme.to_owned();
    if let Ok((after, _)) = spaces1(i) {
        if let Ok((rest, ps)) = params(after) {
            return Ok((rest, RawChallenge { scheme, body: Body::Params(ps) }));
        }
        let end = peek((ows, (char(',').map(|_| ()).or(eof.map(|_| ())))));
        if let Ok((rest, t)) = (token68, end).parse(after).map(|(r, (t, _))| (r, t)) {
            return Ok((rest, RawChallenge { scheme, body: Body::Token68(t.to_owned()) }));
        }
    }
    Ok((i, RawChallenge { scheme, body: Body::Empty }))
}

fn challenge_list(input: &str) -> Res<'_, Vec<RawChallenge>> {
    let (mut i, _) = (ows, many0((char(','), ows))).parse(input)?;
    let mut out = Vec::new();
    while !i.is_empty() {
        let (rest, c) = challenge(i)?;
        out.push(c);
        let (rest, _) = ows(rest)?;
        if rest.is_empty() {
            return Ok((rest, out));
        }
        let (rest, _) = list_separator(rest)?;
        i = rest;
    }
    Ok((i, out))
}

/// Parses one `WWW-Authenticate` field value into its challenges.
pub(crate) fn parse_list(input: &str) -> Result<Vec<RawChallenge>, Error> {
    match challenge_list(input) {
        Ok(("", out)) => Ok(out),
        Ok((rest, _)) => Err(Error::MalformedChallenge { offset: input.len() - rest.len() }),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            Err(Error::MalformedChallenge { offset: input.len() - e.input.len() })
        }
        Err(nom::Err::Incomplete(_)) => Err(Error::MalformedChallenge { offset: input.len() }),
    }
}

/// Writes `value` as a quoted-string, or refuses a value no quoted-string can carry.
pub(crate) fn quote(value: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\t' | ' '..='~' => out.push(c),
            _ => return Err(Error::UnencodableValue),
        }
    }
    out.push('"');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, value: &str) -> Param {
        Param { name: name.into(), value: value.into() }
    }

    #[test]
    fn splits_challenges_from_parameters() {
        let got = parse_list(
            r#"Basic realm="a, b", L402 macaroon="m", invoice=i , Negotiate abc==, Bare"#,
        )
        .unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].body, Body::Params(vec![p("realm", "a, b")]));
        assert_eq!(got[1].body, Body::Params(vec![p("macaroon", "m"), p("invoice", "i")]));
        assert_eq!(got[2].body, Body::Token68("abc==".into()));
        assert_eq!(got[3].body, Body::Empty);
    }

    #[test]
    fn reports_where_parsing_stopped() {
        // An unterminated quote leaves the parameter unparsed: the error points at its start.
        assert_eq!(parse_list(r#"L402 a="x"#), Err(Error::MalformedChallenge { offset: 5 }));
        assert_eq!(parse_list("L402 a=b c"), Err(Error::MalformedChallenge { offset: 9 }));
    }
}
