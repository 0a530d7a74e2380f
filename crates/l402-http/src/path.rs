//! Request-path normalisation: the one spelling of a path that a paywall judges and an
//! upstream receives.
//!
//! A paywall that matches one spelling of a path while the upstream serves another can be
//! walked around: `/free/../paid`, `/free/%2e%2e/paid`, `//paid`, and for a Java servlet
//! container `/free/..;/paid` (it drops `;params` before resolving `..`). So the L402
//! pipeline (`l402-server`'s layer) normalises first, judges and routes the normal form, and
//! passes the normal form on (decisions 0801,
//! 0809). Every `%XX` is decoded, the result judged, then encoded again in one canonical way:
//!
//! 1. refused, because upstreams read them differently: an encoded `/`, `\` or NUL, a bare
//!    `\` ([`PathError::Forbidden`]); `;` path parameters, raw or encoded
//!    ([`PathError::Parameter`]); a `%` that came from `%25` and is followed by two hex digits,
//!    which a second decoding would read as an escape ([`PathError::DoubleEncoding`]); escapes
//!    that do not decode to UTF-8, such as the overlong `%C0%AE` ([`PathError::BadUtf8`]);
//!    control bytes, raw or encoded, and raw spaces ([`PathError::ControlByte`]); segments of
//!    dots and spaces only other than `.` and `..`, which Windows reads as `.` or `..`
//!    ([`PathError::DotSegment`]);
//! 2. empty segments (`//`) are dropped, `.` segments removed, and `..` removes the previous
//!    segment (never climbing above the root); a trailing `/` is kept;
//! 3. the bytes are written back with every RFC 3986 `pchar` (unreserved, sub-delims but `;`,
//!    `:` and `@`) raw and everything else (space, `%`, `"`, `?`, non-ASCII, …) as `%XX` with
//!    upper-case hex, so each path has exactly one spelling.
//!
//! How an upstream compares paths beyond that (case, trailing dots) is routing, the proxy's
//! concern.

use core::fmt;
use std::borrow::Cow;

/// Why a path was refused (the request gets 400 with [`PathError::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// The path does not start with `/`. Code `path-not-absolute`.
    NotAbsolute,
    /// A `%` not followed by two hex digits. Code `path-bad-escape`.
    BadEscape,
    /// An encoded `/`, `\` or NUL, or a bare `\`. Code `path-forbidden`.
    Forbidden,
    /// A `;` (or `%3B`): servlet containers cut path parameters out of segments, other
    /// servers keep them. Code `path-parameter`.
    Parameter,
    /// `%25` followed by two hex digits: a second decoding would see a new escape. Code
    /// `path-double-encoding`.
    DoubleEncoding,
    /// Escapes that do not decode to UTF-8 (overlong forms, stray or missing continuation
    /// bytes). Code `path-bad-utf8`.
    BadUtf8,
    /// A control byte (raw or encoded) or a raw space. Code `path-control-byte`.
    ControlByte,
    /// A segment of dots and spaces only, other than `.` and `..` (`...`, `.. `). Code
    /// `path-dot-segment`.
    DotSegment,
}

impl PathError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            PathError::NotAbsolute => "path-not-absolute",
            PathError::BadEscape => "path-bad-escape",
            PathError::Forbidden => "path-forbidden",
            PathError::Parameter => "path-parameter",
            PathError::DoubleEncoding => "path-double-encoding",
            PathError::BadUtf8 => "path-bad-utf8",
            PathError::ControlByte => "path-control-byte",
            PathError::DotSegment => "path-dot-segment",
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "path does not start with '/'",
            PathError::BadEscape => "invalid percent-encoding in path",
            PathError::Forbidden => "path contains an encoded '/', '\\' or NUL, or a '\\'",
            PathError::Parameter => "path contains a ';' (path parameters are refused)",
            PathError::DoubleEncoding => "path contains a double-encoded escape ('%25' and hex)",
            PathError::BadUtf8 => "path escapes do not decode to UTF-8",
            PathError::ControlByte => "path contains a control byte or a space",
            PathError::DotSegment => "path has a segment of dots and spaces only",
        })
    }
}

impl std::error::Error for PathError {}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 `pchar` without `;` and `%`: written raw in the normal form.
fn is_raw(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
        )
}

/// Decodes every escape; `%2F`, `%5C`, `%00` and a bare `\` are refused here, because after
/// decoding they could no longer be told from structure.
fn decode(path: &str) -> Result<Vec<u8>, PathError> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_val);
                let lo = bytes.get(i + 2).copied().and_then(hex_val);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(PathError::BadEscape);
                };
                let v = hi * 16 + lo;
                if matches!(v, b'/' | b'\\' | 0) {
                    return Err(PathError::Forbidden);
                }
                out.push(v);
                i += 3;
            }
            b'\\' => return Err(PathError::Forbidden),
            b' ' => return Err(PathError::ControlByte),
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Judges the decoded bytes. A `%` here always came from `%25` (a raw `%` starts an escape).
fn judge(decoded: &[u8]) -> Result<(), PathError> {
    for (i, &b) in decoded.iter().enumerate() {
        match b {
            b';' => return Err(PathError::Parameter),
            0..=0x1F | 0x7F => return Err(PathError::ControlByte),
            b'%' => {
                let next = decoded.get(i + 1..i + 3).unwrap_or_default();
                if next.len() == 2 && next.iter().all(|&h| hex_val(h).is_some()) {
                    return Err(PathError::DoubleEncoding);
                }
            }
            _ => {}
        }
    }
    if core::str::from_utf8(decoded).is_err() {
        return Err(PathError::BadUtf8);
    }
    Ok(())
}

/// Whether `path` is already in normal form, told without decoding or allocating: only
/// `pchar`s and `/`, no `%`, no empty segment but a trailing one, no segment of dots.
/// Nearly every real request path is; `normal_form_needs_no_rewrite` checks this against
/// the full rules.
fn is_normal(path: &str) -> bool {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') || !b.iter().all(|&c| c == b'/' || is_raw(c)) {
        return false;
    }
    let segments = b.get(1..).unwrap_or_default();
    let mut it = segments.split(|&c| c == b'/').peekable();
    while let Some(seg) = it.next() {
        let last = it.peek().is_none();
        if (seg.is_empty() && !last) || (!seg.is_empty() && seg.iter().all(|&c| c == b'.')) {
            return false;
        }
    }
    true
}

/// Normalises an absolute request path (no query). See the module docs for the rules.
/// A path already in normal form comes back borrowed.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    if is_normal(path) {
        return Ok(Cow::Borrowed(path));
    }
    rewrite(path).map(Cow::Owned)
}

/// The normal form by the full rules: decoded, judged, resolved, encoded again.
fn rewrite(path: &str) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode(path)?;
    judge(&decoded)?;
    let trailing = decoded.ends_with(b"/") || decoded.ends_with(b"/.") || decoded.ends_with(b"/..");
    let mut out: Vec<&[u8]> = Vec::new();
    for seg in decoded.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            s if s.iter().all(|&b| b == b'.' || b == b' ') => return Err(PathError::DotSegment),
            s => out.push(s),
        }
    }
    let mut result = String::with_capacity(path.len());
    for seg in &out {
        result.push('/');
        for &b in *seg {
            if is_raw(b) {
                result.push(char::from(b));
            } else {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                result.push('%');
                result.push(char::from(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0')));
                result.push(char::from(HEX.get(usize::from(b & 0xF)).copied().unwrap_or(b'0')));
            }
        }
    }
    if result.is_empty() || trailing {
        result.push('/');
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every spelling we know of, with what it becomes: a normal form, or the refusal.
    #[test]
    fn every_spelling() {
        use PathError::*;
        let cases: &[(&str, Result<&str, PathError>)] = &[
            ("/", Ok("/")),
            ("/a/b", Ok("/a/b")),
            ("//a//b", Ok("/a/b")),
            ("/a/./b", Ok("/a/b")),
            ("/a/../b", Ok("/b")),
            ("/../../b", Ok("/b")),
            ("/a/%2e%2e/b", Ok("/b")),
            ("/a/%2E%2e/b", Ok("/b")),
            ("/a/.%2e/b", Ok("/b")),
            ("/a/%2e./b", Ok("/b")),
            ("/a/%2e/b", Ok("/a/b")),
            ("/%61pi", Ok("/api")),
            ("/a%20b", Ok("/a%20b")),
            ("/a%3fb", Ok("/a%3Fb")),
            ("/a%23b", Ok("/a%23b")),
            ("/a/", Ok("/a/")),
            ("/a/b/..", Ok("/a/")),
            ("/a/.", Ok("/a/")),
            ("/a/%2e", Ok("/a/")),
            ("/a/%20/../b", Err(DotSegment)),
            // One spelling per character: pchars raw, the rest encoded.
            ("/é", Ok("/%C3%A9")),
            ("/%c3%a9", Ok("/%C3%A9")),
            ("/%3a%40%21%24%26%27%28%29%2a%2b%2c%3d", Ok("/:@!$&'()*+,=")),
            ("/a{b}", Ok("/a%7Bb%7D")),
            ("/%25", Ok("/%25")),
            ("/%25zz", Ok("/%25zz")),
            ("/%25%25", Ok("/%25%25")),
            ("/a.", Ok("/a.")),
            ("/A", Ok("/A")),
            // Structure smuggled in escapes.
            ("a", Err(NotAbsolute)),
            ("", Err(NotAbsolute)),
            ("/%zz", Err(BadEscape)),
            ("/%2", Err(BadEscape)),
            ("/%u002e%u002e/b", Err(BadEscape)),
            ("/a%2fb", Err(Forbidden)),
            ("/a/..%2fb", Err(Forbidden)),
            ("/a%5Cb", Err(Forbidden)),
            ("/a%00", Err(Forbidden)),
            ("/a\\..\\b", Err(Forbidden)),
            // Servlet path parameters: Tomcat, Jetty and Spring drop `;…` from a segment.
            ("/free/..;/paid", Err(Parameter)),
            ("/free/..;a=b/paid", Err(Parameter)),
            ("/free/%2e%2e;/paid", Err(Parameter)),
            ("/free/.%2e;/paid", Err(Parameter)),
            ("/free/.;/../paid", Err(Parameter)),
            ("/free;/../paid", Err(Parameter)),
            ("/alpha;x/secret", Err(Parameter)),
            ("/;/alpha/secret", Err(Parameter)),
            ("/secret;jsessionid=1", Err(Parameter)),
            ("/free/..%3b/paid", Err(Parameter)),
            ("/free/..%3B/paid", Err(Parameter)),
            ("/alpha%3bx/secret", Err(Parameter)),
            // Double decoding: IIS, some frameworks decode twice.
            ("/free/%252e%252e/paid", Err(DoubleEncoding)),
            ("/free/..%252fpaid", Err(DoubleEncoding)),
            ("/%2541", Err(DoubleEncoding)),
            ("/%25%34%31", Err(DoubleEncoding)),
            ("/%25%32%65", Err(DoubleEncoding)),
            ("/%25253B", Err(DoubleEncoding)),
            // Not UTF-8: overlong dots and slashes, stray and missing continuation bytes.
            ("/free/%c0%ae%c0%ae/paid", Err(BadUtf8)),
            ("/free/%C0%AE./paid", Err(BadUtf8)),
            ("/free/..%c0%afpaid", Err(BadUtf8)),
            ("/free/%e0%80%ae/paid", Err(BadUtf8)),
            ("/%80", Err(BadUtf8)),
            ("/%bf", Err(BadUtf8)),
            ("/%e2%82", Err(BadUtf8)),
            ("/%c3", Err(BadUtf8)),
            ("/%c3é", Err(BadUtf8)),
            ("/%ff", Err(BadUtf8)),
            ("/%ed%a0%80", Err(BadUtf8)),
            // Control bytes and whitespace some servers trim.
            ("/a%09", Err(ControlByte)),
            ("/free/..%09/paid", Err(ControlByte)),
            ("/free/..%0d%0a/paid", Err(ControlByte)),
            ("/a%7f", Err(ControlByte)),
            ("/a%1f", Err(ControlByte)),
            ("/a b", Err(ControlByte)),
            ("/a\tb", Err(ControlByte)),
            // Dot segments Windows folds to `.` or `..`.
            ("/free/.../paid", Err(DotSegment)),
            ("/free/..%20/paid", Err(DotSegment)),
            ("/free/%2e%2e%20/paid", Err(DotSegment)),
            ("/free/.%20/paid", Err(DotSegment)),
            ("/free/%20/paid", Err(DotSegment)),
            ("/free/..../paid", Err(DotSegment)),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input).as_deref().map_err(|e| *e), *want, "{input:?}");
        }
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(PathError::Parameter.code(), "path-parameter");
        assert_eq!(PathError::DoubleEncoding.code(), "path-double-encoding");
        assert_eq!(PathError::BadUtf8.code(), "path-bad-utf8");
        assert_eq!(PathError::ControlByte.code(), "path-control-byte");
        assert_eq!(PathError::DotSegment.code(), "path-dot-segment");
        assert_eq!(PathError::Forbidden.code(), "path-forbidden");
    }

    fn has_double_escape(n: &str) -> bool {
        n.as_bytes().windows(5).any(|w| {
            w.starts_with(b"%25") && w.get(3..).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        })
    }

    /// Decodes a normal form fully: it must be UTF-8.
    fn decodes_to_utf8(n: &str) -> bool {
        String::from_utf8(decode(n).unwrap_or_default()).is_ok()
    }

    proptest::proptest! {
        #[test]
        fn normal_form_is_a_fixed_point(s in "(/[a-z.;%2eE5BcC0/]{0,8}){1,6}") {
            if let Ok(n) = normalize(&s) {
                proptest::prop_assert_eq!(normalize(&n).map(Cow::into_owned), Ok(n.to_string()));
                proptest::prop_assert!(n.starts_with('/'));
                proptest::prop_assert!(!n.contains("//"));
                proptest::prop_assert!(!n.contains(';'));
                proptest::prop_assert!(!has_double_escape(&n), "{}", n);
                proptest::prop_assert!(decodes_to_utf8(&n), "{}", n);
                proptest::prop_assert!(!n.split('/').any(|seg| seg == ".." || seg == "."));
            }
        }

        #[test]
        fn escapes_of_any_byte(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..12)) {
            let mut s = String::from("/");
            for b in &bytes {
                s.push_str(&format!("%{b:02x}"));
            }
            match normalize(&s) {
                Ok(n) => {
                    proptest::prop_assert_eq!(normalize(&n).map(Cow::into_owned), Ok(n.to_string()));
                    proptest::prop_assert!(!n.contains(';'));
                    proptest::prop_assert!(!has_double_escape(&n), "{}", n);
                    proptest::prop_assert!(decodes_to_utf8(&n), "{}", n);
                    proptest::prop_assert!(core::str::from_utf8(&bytes).is_ok());
                }
                Err(e) => proptest::prop_assert!(e != PathError::BadEscape),
            }
        }

        #[test]
        fn normal_form_needs_no_rewrite(s in "(/[a-z.;%2eE5BcC0/~!]{0,8}){0,6}/?") {
            // The quick check may only say "normal" where the full rules agree.
            if is_normal(&s) {
                proptest::prop_assert_eq!(rewrite(&s), Ok(s.clone()));
            }
            // And it says so for every normal form without escapes.
            if let Ok(n) = rewrite(&s) {
                proptest::prop_assert!(n.contains('%') || is_normal(&n), "{}", n);
            }
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            if let Ok(n) = normalize(&s) {
                proptest::prop_assert_eq!(normalize(&n).map(Cow::into_owned), Ok(n.to_string()));
                proptest::prop_assert!(!n.contains(';'));
                proptest::prop_assert!(decodes_to_utf8(&n), "{}", n);
            }
        }
    }
}
