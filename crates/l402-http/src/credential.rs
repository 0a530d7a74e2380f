//! `Authorization: L402 <macaroon>:<preimage>` and Aperture's hex-macaroon alternates.

use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use l402_token::{Macaroon, Preimage};

use crate::limits::{self, Limits};
use crate::{Error, Scheme};

/// Header (and gRPC metadata key) of the hex form sent by grpc-gateway clients.
pub const GRPC_METADATA_MACAROON: &str = "grpc-metadata-macaroon";
/// Header (and gRPC metadata key) of the hex form sent by Aperture's gRPC clients.
pub const MACAROON: &str = "macaroon";
/// gRPC metadata key of the hex form in the 2026 spec text.
pub const TOKEN: &str = "token";

/// The caveat condition that carries the preimage inside a hex-form macaroon.
const PREIMAGE_CAVEAT: &[u8] = b"preimage=";

/// Where a credential was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialSource {
    /// `Authorization: L402|LSAT <base64>:<hex>`.
    Authorization,
    /// `Grpc-Metadata-Macaroon: <hex>` with a `preimage=` caveat.
    GrpcMetadataMacaroon,
    /// `Macaroon: <hex>` (gRPC metadata `macaroon`) with a `preimage=` caveat.
    Macaroon,
    /// gRPC metadata `token: <hex>` with a `preimage=` caveat.
    Token,
}

/// A paid L402 credential: one macaroon and the preimage of its invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Credential {
    /// The scheme it was sent under (`L402` for the hex forms, which have none).
    pub scheme: Scheme,
    /// The macaroon. For the hex forms it includes the client's `preimage=` caveat.
    pub macaroon: Macaroon,
    /// Further macaroons sent with it (`L402 m1,m2:p`, the LSAT spec's list): each has the
    /// first one's identifier, so all are one token, and a verifier must accept every one
    /// (decision 0402). Usually empty.
    pub others: Vec<Macaroon>,
    /// The macaroon exactly as it was written (base64 or hex).
    pub macaroon_text: String,
    /// The preimage.
    pub preimage: Preimage,
    /// Where it was found.
    pub source: CredentialSource,
}

impl Credential {
    /// A credential to send.
    pub fn new(macaroon: Macaroon, preimage: Preimage) -> Credential {
        let macaroon_text = macaroon.to_base64();
        Credential {
            scheme: Scheme::L402,
            macaroon,
            others: Vec::new(),
            macaroon_text,
            preimage,
            source: CredentialSource::Authorization,
        }
    }

    /// Parses one `Authorization` value with the default [`Limits`].
    ///
    /// Accepted: `L402` or `LSAT` in any case, one or more spaces, one macaroon in any base64
    /// form the token crate accepts, `:`, exactly 64 hex digits in either case. Up to
    /// [`MAX_MACAROONS`] comma-separated macaroons are accepted when all carry the same
    /// identifier (attenuations of one token, [`Credential::others`]); otherwise
    /// `multiple-macaroons` (decision 0402).
    pub fn parse_authorization(value: &str) -> Result<Credential, Error> {
        Credential::parse_authorization_with(value, &Limits::DEFAULT)
    }

    /// [`Credential::parse_authorization`] with explicit limits.
    pub fn parse_authorization_with(value: &str, limits: &Limits) -> Result<Credential, Error> {
        limits.check_len(value)?;
        let value = value.trim_matches([' ', '\t']);
        let (name, rest) = value.split_once(' ').unwrap_or((value, ""));
        let scheme =
            Scheme::from_name(name).ok_or(Error::MalformedCredential("not an L402 credential"))?;
        let token = rest.trim_start_matches(' ');
        let (macaroons, preimage) = token
            .rsplit_once(':')
            .ok_or(Error::MalformedCredential("no ':' before the preimage"))?;
        // Decode first and look for the reasons that take precedence only on failure: a comma
        // or an empty macaroon never decodes as base64, so a success proves there was
        // neither, and the common path skips a scan of the token.
        let decoded = Preimage::from_hex(preimage)
            .and_then(|preimage| Ok((preimage, Macaroon::from_base64(macaroons)?)));
        let (preimage, macaroon, others) = match decoded {
            Ok((preimage, macaroon)) => (preimage, macaroon, Vec::new()),
            Err(_) if macaroons.contains(',') => {
                let (first, others) = several(macaroons)?;
                (Preimage::from_hex(preimage)?, first, others)
            }
            Err(_) if macaroons.is_empty() => {
                return Err(Error::MalformedCredential("no macaroon"))
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Credential {
            scheme,
            macaroon,
            others,
            macaroon_text: macaroons.to_owned(),
            preimage,
            source: CredentialSource::Authorization,
        })
    }

    /// Parses a hex macaroon whose last `preimage=` caveat carries the preimage (Aperture's
    /// `Macaroon` and `Grpc-Metadata-Macaroon` headers, gRPC metadata `macaroon`/`token`).
    pub fn parse_hex(value: &str, source: CredentialSource) -> Result<Credential, Error> {
        Credential::parse_hex_with(value, source, &Limits::DEFAULT)
    }

    /// [`Credential::parse_hex`] with explicit limits.
    pub fn parse_hex_with(
        value: &str,
        source: CredentialSource,
        limits: &Limits,
    ) -> Result<Credential, Error> {
        limits.check_len(value)?;
        let value = value.trim_matches([' ', '\t']);
        let macaroon = Macaroon::from_hex(value)?;
        // Aperture's HasCaveat keeps the last occurrence; so do we.
        let last = macaroon
            .first_party_caveats()
            .filter_map(|c| c.strip_prefix(PREIMAGE_CAVEAT))
            .last()
            .ok_or(Error::MissingPreimage)?;
        let hex = core::str::from_utf8(last).map_err(|_| l402_token::Error::MalformedPreimage)?;
        let preimage = Preimage::from_hex(hex)?;
        Ok(Credential {
            scheme: Scheme::L402,
            macaroon,
            others: Vec::new(),
            macaroon_text: value.to_owned(),
            preimage,
            source,
        })
    }

    /// Reads the credential of a request with the default [`Limits`].
    ///
    /// Sources in Aperture's order; the first one present decides: `Authorization` (values of
    /// other schemes are ignored), `Grpc-Metadata-Macaroon`, `Macaroon`, and on gRPC requests
    /// (`content-type: application/grpc…`) the `token` key. Every value of the deciding source
    /// is parsed, and they must name the same macaroon and preimage, else
    /// `conflicting-credentials` (decision 0402).
    pub fn from_headers(headers: &HeaderMap) -> Result<Credential, Error> {
        Credential::from_headers_with(headers, &Limits::DEFAULT)
    }

    /// [`Credential::from_headers`] with explicit limits.
    pub fn from_headers_with(headers: &HeaderMap, limits: &Limits) -> Result<Credential, Error> {
        // Values are checked one by one against the first instead of being collected: this
        // runs on every request. A parse error anywhere still wins over a conflict, as when
        // every value was parsed before comparing.
        let mut found = Found::default();
        for v in limits::value_iter(headers, AUTHORIZATION, limits)? {
            let text = limits::text(v, limits, Error::MalformedCredential("not visible ascii"))?;
            for part in joined(text) {
                if is_ours(part) {
                    found.add(Credential::parse_authorization_with(part, limits)?);
                }
            }
        }
        if found.first.is_none() {
            let grpc = crate::grpc::flavor(headers).is_some();
            let alternates = [
                (GRPC_METADATA_MACAROON, CredentialSource::GrpcMetadataMacaroon, true),
                (MACAROON, CredentialSource::Macaroon, true),
                (TOKEN, CredentialSource::Token, grpc),
            ];
            for (name, source, _) in alternates.into_iter().filter(|(_, _, wanted)| *wanted) {
                if found.first.is_some() {
                    break;
                }
                let name = HeaderName::from_static(name);
                for v in limits::value_iter(headers, name, limits)? {
                    let text =
                        limits::text(v, limits, Error::MalformedCredential("not visible ascii"))?;
                    found.add(Credential::parse_hex_with(text, source, limits)?);
                }
            }
        }
        match found {
            Found { conflict: true, .. } => Err(Error::ConflictingCredentials),
            Found { first: Some(first), .. } => Ok(first),
            Found { first: None, .. } => Err(Error::MissingCredential),
        }
    }

    /// The same credential under `scheme`: a client answers a challenge under the scheme it
    /// was offered in, since servers that know only `LSAT` (boltwall, lsat-js) refuse `L402`
    /// (decision 0707).
    pub fn with_scheme(mut self, scheme: Scheme) -> Credential {
        self.scheme = scheme;
        self
    }

    /// `<scheme> <standard padded base64>:<lower-case hex>`, under [`Credential::scheme`]
    /// (`L402` unless [`Credential::with_scheme`] or the parsed header said otherwise).
    pub fn to_authorization_value(&self) -> HeaderValue {
        let (scheme, pre) = (self.scheme.as_str(), self.preimage.to_hex());
        let mut macs = self.macaroon.to_base64();
        for m in &self.others {
            macs.push(',');
            macs.push_str(&m.to_base64());
        }
        let s = format!("{scheme} {macs}:{pre}");
        // Base64, hex, a space and a colon are always valid field bytes.
        HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// Sets `Authorization` (replacing any earlier value).
    pub fn write_authorization(&self, headers: &mut HeaderMap) {
        headers.insert(AUTHORIZATION, self.to_authorization_value());
    }

    /// The gRPC metadata form: hex of the macaroon with a `preimage=<hex>` caveat appended,
    /// unless its last `preimage=` caveat already names this preimage.
    pub fn to_hex_value(&self) -> HeaderValue {
        let wanted = format!("preimage={}", self.preimage.to_hex());
        let last =
            self.macaroon.first_party_caveats().filter(|c| c.starts_with(PREIMAGE_CAVEAT)).last();
        let hex = if last.is_some_and(|c| c.eq_ignore_ascii_case(wanted.as_bytes())) {
            self.macaroon.to_hex()
        } else {
            self.macaroon.clone().with_caveat(wanted).to_hex()
        };
        HeaderValue::try_from(hex).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// Sets gRPC metadata `macaroon` (what Aperture's gRPC client sends).
    pub fn write_grpc_metadata(&self, headers: &mut HeaderMap) {
        headers.insert(HeaderName::from_static(MACAROON), self.to_hex_value());
    }
}

/// The most macaroons one `Authorization` value may list.
pub const MAX_MACAROONS: usize = 8;

/// `m1,m2,…`: each decodes, and all carry the first one's identifier (one token, several
/// attenuations); anything else is `multiple-macaroons`, since nothing says what macaroons of
/// different tokens under one preimage would mean.
fn several(list: &str) -> Result<(Macaroon, Vec<Macaroon>), Error> {
    let count = list.split(',').count();
    if count > MAX_MACAROONS {
        return Err(Error::MultipleMacaroons(count));
    }
    let mut all = Vec::with_capacity(count);
    for text in list.split(',') {
        if text.is_empty() {
            return Err(Error::MalformedCredential("no macaroon"));
        }
        all.push(Macaroon::from_base64(text)?);
    }
    let first = all.remove(0);
    if all.iter().any(|m| m.identifier() != first.identifier()) {
        return Err(Error::MultipleMacaroons(count));
    }
    Ok((first, all))
}

/// The credentials of the deciding source, as they are parsed: the first, and whether a
/// later one named another macaroon or preimage.
#[derive(Default)]
struct Found {
    first: Option<Credential>,
    conflict: bool,
}

impl Found {
    fn add(&mut self, c: Credential) {
        match &self.first {
            None => self.first = Some(c),
            Some(first) => {
                self.conflict |= c.macaroon != first.macaroon
                    || c.others != first.others
                    || c.preimage != first.preimage;
            }
        }
    }
}

/// The credentials of one `Authorization` value that an intermediary joined from several
/// lines (`LSAT m:p, L402 m:p`, Aperture's client's two lines): cut before each `,` that is
/// followed by an auth-scheme and a space (`L402 `, `Basic `). An L402 credential holds no
/// space after its scheme, so a comma between macaroons (`L402 m1,m2:p`) is never cut;
/// parts of other schemes are ignored as other values are.
fn joined(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    core::iter::from_fn(move || {
        let text = rest?;
        let mut from = 0;
        while let Some(i) = text.get(from..).and_then(|t| t.find(',')).map(|i| i + from) {
            let after = text.get(i + 1..).unwrap_or_default().trim_start_matches([' ', '\t']);
            let word = after.split(' ').next().unwrap_or_default();
            let scheme = !word.is_empty() && word.bytes().all(is_tchar);
            if scheme && after.len() > word.len() {
                rest = Some(after);
                return text.get(..i);
            }
            from = i + 1;
        }
        rest = None;
        Some(text)
    })
}

/// An RFC 9110 `tchar`, of which auth-scheme names are made.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether an `Authorization` value is meant for us: its first word names L402 or LSAT.
fn is_ours(value: &str) -> bool {
    let value = value.trim_start_matches([' ', '\t']);
    // A tab after the scheme is not `1*SP`, but the value is still meant for us: it must be
    // refused as malformed rather than ignored as another scheme's.
    Scheme::from_name(value.split([' ', '\t']).next().unwrap_or_default()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list of macaroons is judged before the preimage: too many, an empty one, one that
    /// does not decode, then identifiers that differ.
    #[test]
    fn a_list_of_macaroons_is_judged_before_the_preimage() {
        let good_hex = "11".repeat(32);
        let nine = ["AgJ="; 9].join(",");
        let cases = [
            (format!("L402 {nine}:zz"), "multiple-macaroons"),
            ("LSAT ,:".to_owned(), "malformed-credential"),
            (",:".to_owned(), "malformed-credential"),
            (format!("L402 :{good_hex}"), "malformed-credential"),
            (format!("L402 AgJ=,AgJ=:{good_hex}"), "malformed-macaroon"),
            ("L402 a,b,c:zz".to_owned(), "malformed-macaroon"),
        ];
        for (value, want) in cases {
            let got = Credential::parse_authorization(&value).map(|_| ()).map_err(|e| e.code());
            assert_eq!(got, Err(want), "{value}");
        }
    }
}
