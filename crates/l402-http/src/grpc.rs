//! The gRPC flavour: challenges travel in the response's single header block.
//!
//! Aperture answers an unpaid gRPC call with HTTP 200, `content-type: application/grpc`,
//! `grpc-status: 13`, `grpc-message: payment required` and its usual `www-authenticate`
//! lines, all in one header block (a Trailers-Only response), because grpc-go rejects HTTP
//! 402. Its client treats status 13 or 2 with "payment required" in the message as the
//! trigger. Older spec texts put the challenge in `grpc-status-details-bin` instead: a
//! `google.rpc.Status { code: 402, details: [QuotaFailure] }` whose violations read
//! `macaroon:<base64>` and `invoice:<bolt11>`. We read both and write either.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use l402_token::Macaroon;

use crate::challenge::{self, ChallengeStyle, ParsedChallenge, RejectedChallenge};
use crate::limits::{self, Limits};
use crate::syntax::Param;
use crate::{Error, Scheme};

/// The message Aperture sends and its client looks for (lower-cased, as a substring).
pub const PAYMENT_REQUIRED: &str = "payment required";
/// The message of the legacy status-details form.
pub const LEGACY_MESSAGE: &str = "missing L402";
/// `grpc-status` Internal: what Aperture sends.
pub const CODE_INTERNAL: u32 = 13;
/// `grpc-status` Unknown: what some gRPC stacks turn an unexpected status into.
pub const CODE_UNKNOWN: u32 = 2;
/// The HTTP status reused as a gRPC code by the legacy status-details form.
pub const LEGACY_CODE: u32 = 402;

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
const GRPC_STATUS_DETAILS_BIN: HeaderName = HeaderName::from_static("grpc-status-details-bin");
const QUOTA_FAILURE_TYPE: &str = "type.googleapis.com/google.rpc.QuotaFailure";

/// gRPC `-bin` metadata: emitted unpadded, read padded or not (gRPC over HTTP/2 spec).
const BIN: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Which gRPC wire a request or response uses, read from its `content-type`: the one rule
/// for "is this gRPC?" (issue 13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flavor {
    /// gRPC over HTTP/2 (`application/grpc`, `application/grpc+proto`, `application/grpc;…`):
    /// the call's status comes in the HTTP trailers.
    Grpc,
    /// gRPC-Web (`application/grpc-web…`, `application/grpc-web-text…`): the status comes in
    /// a frame at the end of the body, or in the headers of a trailers-only answer.
    Web,
}

impl Flavor {
    /// The `content-type` this flavour's trailers-only answers carry.
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Flavor::Grpc => "application/grpc",
            Flavor::Web => "application/grpc-web",
        })
    }
}

/// The gRPC flavour of a message from its `content-type` (compared without regard to case),
/// or `None` for anything else.
pub fn flavor(headers: &HeaderMap) -> Option<Flavor> {
    let t = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let rest = t.get(..16).filter(|head| head.eq_ignore_ascii_case("application/grpc"))?;
    let rest = t.get(rest.len()..)?;
    let suffix = |s: &str| s.is_empty() || s.starts_with(['+', ';']);
    if suffix(rest) {
        return Some(Flavor::Grpc);
    }
    let web = rest.get(..4).filter(|w| w.eq_ignore_ascii_case("-web"))?;
    let rest = rest.get(web.len()..)?;
    let text = rest.get(..5).filter(|w| w.eq_ignore_ascii_case("-text"));
    let rest = text.map_or(Some(rest), |t| rest.get(t.len()..))?;
    suffix(rest).then_some(Flavor::Web)
}

/// The `grpc-status` in `headers` (a trailers-only answer's headers, or trailers), if there
/// is one; an unreadable value counts as UNKNOWN (2).
pub fn status(headers: &HeaderMap) -> Option<u32> {
    let v = headers.get(GRPC_STATUS)?;
    Some(v.to_str().ok().and_then(|s| s.parse().ok()).unwrap_or(CODE_UNKNOWN))
}

/// Whether `headers` start a gRPC (not gRPC-Web) response whose status is still to come, in
/// the trailers: not a trailers-only answer, which carries it already.
pub fn status_pending(headers: &HeaderMap) -> bool {
    flavor(headers) == Some(Flavor::Grpc) && status(headers).is_none()
}

/// Writes Aperture's gRPC challenge into `headers`: content type, status 13, message and the
/// `www-authenticate` lines of `style`.
pub fn write_challenge(
    headers: &mut HeaderMap,
    macaroon: &Macaroon,
    invoice: &str,
    style: ChallengeStyle,
) -> Result<(), Error> {
    let values = challenge::challenge_values(macaroon, invoice, style)?;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(GRPC_STATUS, HeaderValue::from(CODE_INTERNAL));
    headers.insert(GRPC_MESSAGE, HeaderValue::from_static(PAYMENT_REQUIRED));
    for v in values {
        headers.append(http::header::WWW_AUTHENTICATE, v);
    }
    Ok(())
}

/// The whole Trailers-Only response: HTTP 200 with [`write_challenge`]'s headers.
pub fn challenge_response(
    macaroon: &Macaroon,
    invoice: &str,
    style: ChallengeStyle,
) -> Result<Response<()>, Error> {
    let mut r = Response::new(());
    *r.status_mut() = StatusCode::OK;
    write_challenge(r.headers_mut(), macaroon, invoice, style)?;
    Ok(r)
}

/// Writes the legacy form: `grpc-status: 402`, `grpc-message: missing L402` and the challenge
/// in `grpc-status-details-bin`. For old clients and for testing readers; Aperture never sent it.
pub fn write_legacy_challenge(
    headers: &mut HeaderMap,
    macaroon: &Macaroon,
    invoice: &str,
) -> Result<(), Error> {
    let details = HeaderValue::try_from(BIN.encode(status_details(macaroon, invoice)))
        .map_err(|_| Error::UnencodableValue)?;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(GRPC_STATUS, HeaderValue::from(LEGACY_CODE));
    headers.insert(GRPC_MESSAGE, HeaderValue::from_static(LEGACY_MESSAGE));
    headers.insert(GRPC_STATUS_DETAILS_BIN, details);
    Ok(())
}

/// Whether a gRPC response asks for payment: status 13 or 2 with "payment required" in the
/// (percent-decoded, lower-cased) message, as Aperture's client decides; or the legacy 402.
pub fn is_payment_required(headers: &HeaderMap) -> bool {
    let status = headers.get(GRPC_STATUS).and_then(|v| v.to_str().ok()?.trim().parse::<u32>().ok());
    match status {
        Some(CODE_INTERNAL | CODE_UNKNOWN) => headers
            .get(GRPC_MESSAGE)
            .map(|m| percent_decode(m.as_bytes()).to_lowercase())
            .is_some_and(|m| m.contains(PAYMENT_REQUIRED)),
        Some(LEGACY_CODE) => true,
        _ => false,
    }
}

/// Reads the challenges of a gRPC response with the default [`Limits`]; `None` when the
/// response does not ask for payment.
pub fn read_challenges(headers: &HeaderMap) -> Result<Option<Vec<ParsedChallenge>>, Error> {
    read_challenges_with(headers, &Limits::DEFAULT)
}

/// [`read_challenges`] with explicit limits. The `www-authenticate` lines come first, then the
/// challenge from `grpc-status-details-bin` if there is one. A details value that does not
/// decode is an error only when no usable challenge was found elsewhere.
pub fn read_challenges_with(
    headers: &HeaderMap,
    limits: &Limits,
) -> Result<Option<Vec<ParsedChallenge>>, Error> {
    if !is_payment_required(headers) {
        return Ok(None);
    }
    let mut out = challenge::challenges_from_headers_with(headers, limits)?;
    let details = limits::values(headers, GRPC_STATUS_DETAILS_BIN, limits)?;
    if let Some(v) = details.first() {
        let parsed = limits::text(v, limits, Error::MalformedStatusDetails("not base64"))
            .and_then(legacy_challenge);
        match parsed {
            Ok(c) => out.push(c),
            Err(e) if out.iter().all(|c| c.as_l402().is_none()) => return Err(e),
            Err(_) => {}
        }
    }
    Ok(Some(out))
}

/// The challenge inside a `grpc-status-details-bin` value.
pub fn legacy_challenge(value: &str) -> Result<ParsedChallenge, Error> {
    let bytes =
        BIN.decode(value.trim()).map_err(|_| Error::MalformedStatusDetails("not base64"))?;
    let (code, _message, details) = decode_status(&bytes)?;
    if code != i64::from(LEGACY_CODE) {
        return Err(Error::MalformedStatusDetails("status code is not 402"));
    }
    let mut params = Vec::new();
    for (type_url, value) in details {
        if type_url != QUOTA_FAILURE_TYPE {
            continue;
        }
        for (subject, description) in decode_quota_failure(value)? {
            // The texts never said which field carries the string, so both are read.
            for s in [subject, description] {
                for name in ["macaroon", "invoice"] {
                    if let Some(v) = s.strip_prefix(name).and_then(|r| r.strip_prefix(':')) {
                        params.push(Param { name: name.to_owned(), value: v.to_owned() });
                    }
                }
            }
        }
    }
    Ok(match challenge::build(Scheme::L402, &params) {
        Ok(c) => ParsedChallenge::L402(c),
        Err(error) => {
            ParsedChallenge::Rejected(RejectedChallenge { scheme: Scheme::L402, params, error })
        }
    })
}

/// `google.rpc.Status { code: 402, message: "missing L402", details: [Any(QuotaFailure)] }`
/// with the violations in `description`.
pub fn status_details(macaroon: &Macaroon, invoice: &str) -> Vec<u8> {
    let mut failure = Vec::new();
    for v in [format!("macaroon:{}", macaroon.to_base64()), format!("invoice:{invoice}")] {
        let mut violation = Vec::new();
        put_bytes(&mut violation, 2, v.as_bytes());
        put_bytes(&mut failure, 1, &violation);
    }
    let mut any = Vec::new();
    put_bytes(&mut any, 1, QUOTA_FAILURE_TYPE.as_bytes());
    put_bytes(&mut any, 2, &failure);
    let mut status = Vec::new();
    put_varint(&mut status, 1 << 3);
    put_varint(&mut status, u64::from(LEGACY_CODE));
    put_bytes(&mut status, 2, LEGACY_MESSAGE.as_bytes());
    put_bytes(&mut status, 3, &any);
    status
}

fn percent_decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = bytes.iter();
    while let Some(&b) = i.next() {
        if b == b'%' {
            let hi = i.clone().next().and_then(|h| (*h as char).to_digit(16));
            let lo = i.clone().nth(1).and_then(|l| (*l as char).to_digit(16));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push((hi * 16 + lo) as u8);
                i.nth(1);
                continue;
            }
        }
        out.push(b);
    }
    String::from_utf8_lossy(&out).into_owned()
}

// A few protobuf wire-format fields by hand: the two messages are small and fixed.

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Skipped,
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, Error> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&b, rest) =
                self.0.split_first().ok_or(Error::MalformedStatusDetails("truncated varint"))?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::MalformedStatusDetails("varint too long"))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], Error> {
        let n = usize::try_from(n).map_err(|_| Error::MalformedStatusDetails("length"))?;
        let (head, rest) =
            self.0.split_at_checked(n).ok_or(Error::MalformedStatusDetails("truncated field"))?;
        self.0 = rest;
        Ok(head)
    }

    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, Error> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => self.take(8).map(|_| Value::Skipped)?,
            2 => {
                let n = self.varint()?;
                Value::Bytes(self.take(n)?)
            }
            5 => self.take(4).map(|_| Value::Skipped)?,
            _ => return Err(Error::MalformedStatusDetails("unsupported wire type")),
        };
        Ok(Some((key >> 3, value)))
    }
}

fn utf8(b: &[u8]) -> Result<String, Error> {
    String::from_utf8(b.to_vec()).map_err(|_| Error::MalformedStatusDetails("string is not utf-8"))
}

type Details<'a> = Vec<(String, &'a [u8])>;

fn decode_status(bytes: &[u8]) -> Result<(i64, String, Details<'_>), Error> {
    let (mut code, mut message, mut details) = (0i64, String::new(), Vec::new());
    let mut r = Reader(bytes);
    while let Some((field, value)) = r.field()? {
        match (field, value) {
            // int32 on the wire: negative values arrive sign-extended to 64 bits.
            (1, Value::Varint(v)) => code = i64::from(v as i32),
            (2, Value::Bytes(b)) => message = utf8(b)?,
            (3, Value::Bytes(b)) => {
                let (mut type_url, mut value) = (String::new(), &[][..]);
                let mut any = Reader(b);
                while let Some((f, v)) = any.field()? {
                    match (f, v) {
                        (1, Value::Bytes(b)) => type_url = utf8(b)?,
                        (2, Value::Bytes(b)) => value = b,
                        _ => {}
                    }
                }
                details.push((type_url, value));
            }
            _ => {}
        }
    }
    Ok((code, message, details))
}

fn decode_quota_failure(bytes: &[u8]) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    let mut r = Reader(bytes);
    while let Some((field, value)) = r.field()? {
        if let (1, Value::Bytes(b)) = (field, value) {
            let (mut subject, mut description) = (String::new(), String::new());
            let mut v = Reader(b);
            while let Some((f, val)) = v.field()? {
                match (f, val) {
                    (1, Value::Bytes(b)) => subject = utf8(b)?,
                    (2, Value::Bytes(b)) => description = utf8(b)?,
                    _ => {}
                }
            }
            out.push((subject, description));
        }
    }
    Ok(out)
}
