//! Request-path normalisation, done once before matching and forwarding.
//!
//! A paywall that matches one spelling of a path while the upstream serves another can be
//! walked around: `/free/../paid`, `/free/%2e%2e/paid`, `//paid`, and for a Java servlet
//! container `/free/..;/paid` (it drops `;params` before resolving `..`). So the proxy
//! normalises first, matches the normal form, and forwards the normal form (decisions 0801,
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
//! How a service's upstream compares paths beyond that (case, trailing dots) is a
//! [`Matching`], used by [`covers`].

use core::fmt;

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

/// Normalises an absolute request path (no query). See the module docs for the rules.
pub fn normalize(path: &str) -> Result<String, PathError> {
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

/// Whether `path` (normalised) lies under `prefix` (normalised) on a segment boundary, byte for
/// byte: `/api` covers `/api` and `/api/x`, not `/apix`; `/api/` covers `/api/` and `/api/x`,
/// and `/api` too.
pub fn under(path: &str, prefix: &str) -> bool {
    covers(path, prefix, Matching::EXACT, Lean::Free)
}

/// How an upstream compares paths, beyond the normal form: what the service's
/// `case_insensitive` and `strip_trailing_dots` keys declare (decision 0809).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Matching {
    /// Segments compare without regard to case (IIS; Express's default routing).
    pub case_insensitive: bool,
    /// Segments compare with trailing dots and spaces removed, and cut at a `:` (NTFS
    /// streams, `dir::$INDEX_ALLOCATION`), as Windows reads file names (IIS).
    pub strip_trailing_dots: bool,
}

impl Matching {
    /// Byte-for-byte comparison of segments.
    pub const EXACT: Matching = Matching { case_insensitive: false, strip_trailing_dots: false };

    /// A matching with the given options.
    pub fn new(case_insensitive: bool, strip_trailing_dots: bool) -> Matching {
        Matching { case_insensitive, strip_trailing_dots }
    }

    /// Both sets of options at once: what an upstream with `other`'s behaviour would also
    /// treat as equal.
    pub fn union(self, other: Matching) -> Matching {
        Matching {
            case_insensitive: self.case_insensitive || other.case_insensitive,
            strip_trailing_dots: self.strip_trailing_dots || other.strip_trailing_dots,
        }
    }
}

/// Which way a comparison leans where upstreams' case rules differ (non-ASCII letters such as
/// `ß` or the Kelvin sign): a paid prefix matches when any rule would match, a free prefix or
/// free path only when every rule would. Where in doubt, a path is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lean {
    /// Matching a paid service's prefix: match generously.
    Paid,
    /// Matching a free service's prefix or a free path: match strictly.
    Free,
}

/// Whether `path` (normalised) lies under `prefix` (normalised) on a segment boundary, with
/// segments compared as `matching` says.
pub fn covers(path: &str, prefix: &str, matching: Matching, lean: Lean) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    if matching == Matching::EXACT {
        return match path.strip_prefix(prefix) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        };
    }
    let mut segs = path.split('/');
    prefix.split('/').all(|want| segs.next().is_some_and(|got| same(got, want, matching, lean)))
}

fn same(got: &str, want: &str, matching: Matching, lean: Lean) -> bool {
    let (got, want) = if matching.strip_trailing_dots {
        (windows_name(got), windows_name(want))
    } else {
        (got, want)
    };
    if got == want {
        return true;
    }
    if !matching.case_insensitive {
        return false;
    }
    let (got, want) = (percent_decoded(got), percent_decoded(want));
    let lower = got.to_lowercase() == want.to_lowercase();
    let upper = got.to_uppercase() == want.to_uppercase();
    match lean {
        Lean::Paid => lower || upper,
        Lean::Free => lower && upper,
    }
}

/// A segment as Windows names the file: cut at the first `:`, trailing dots and spaces
/// removed.
fn windows_name(seg: &str) -> &str {
    let mut s = seg.split(':').next().unwrap_or(seg);
    loop {
        let t = s.trim_end_matches('.');
        let t = t.strip_suffix("%20").unwrap_or(t);
        if t.len() == s.len() {
            return s;
        }
        s = t;
    }
}

/// A normalised segment's text (its escapes decode to UTF-8; anything else stays as is).
fn percent_decoded(seg: &str) -> String {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            let (hi, lo) = (hex_val(*h.first()?)?, hex_val(*h.get(1)?)?);
            Some(hi * 16 + lo)
        });
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| seg.to_owned())
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

    #[test]
    fn segment_prefixes() {
        assert!(under("/api", "/api"));
        assert!(under("/api/x", "/api"));
        assert!(under("/api/x", "/api/"));
        assert!(!under("/apix", "/api"));
        assert!(under("/anything", "/"));
        assert!(!under("/API/x", "/api"));
        assert!(!under("/api./x", "/api"));
    }

    #[test]
    fn matching_options() {
        let ci = Matching::new(true, false);
        let dots = Matching::new(false, true);
        let both = ci.union(dots);
        for lean in [Lean::Paid, Lean::Free] {
            assert!(covers("/API/x", "/api", ci, lean));
            assert!(covers("/Api", "/api/", ci, lean));
            assert!(!covers("/apix", "/api", ci, lean));
            assert!(!covers("/api./x", "/api", ci, lean));
            assert!(covers("/%C3%89t%C3%A9", "/%C3%A9t%C3%A9", ci, lean), "é and É");
            assert!(covers("/api./x", "/api", dots, lean));
            assert!(covers("/api...%20./x", "/api", dots, lean));
            assert!(covers("/api::$INDEX_ALLOCATION/x", "/api", dots, lean));
            assert!(covers("/api:$i30:$INDEX_ALLOCATION", "/api", dots, lean));
            assert!(!covers("/API./x", "/api", dots, lean));
            assert!(!covers("/apix./x", "/api", dots, lean));
            assert!(covers("/API./x", "/api", both, lean));
            assert!(covers("/a/b.", "/a/b", dots, lean));
            assert!(!covers("/a", "/a/b", both, lean));
        }
        // Where case rules differ, a paid prefix matches and a free one does not.
        let kelvin = "/%E2%84%AA"; // U+212A KELVIN SIGN, lower case 'k'
        assert!(covers(kelvin, "/k", ci, Lean::Paid));
        assert!(!covers(kelvin, "/k", ci, Lean::Free));
        assert!(covers("/stra%C3%9Fe", "/STRASSE", ci, Lean::Paid), "ß upper-cases to SS");
        assert!(!covers("/stra%C3%9Fe", "/STRASSE", ci, Lean::Free));
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
                proptest::prop_assert_eq!(normalize(&n), Ok(n.clone()));
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
                    proptest::prop_assert_eq!(normalize(&n), Ok(n.clone()));
                    proptest::prop_assert!(!n.contains(';'));
                    proptest::prop_assert!(!has_double_escape(&n), "{}", n);
                    proptest::prop_assert!(decodes_to_utf8(&n), "{}", n);
                    proptest::prop_assert!(core::str::from_utf8(&bytes).is_ok());
                }
                Err(e) => proptest::prop_assert!(e != PathError::BadEscape),
            }
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            if let Ok(n) = normalize(&s) {
                proptest::prop_assert_eq!(normalize(&n), Ok(n.clone()));
                proptest::prop_assert!(!n.contains(';'));
                proptest::prop_assert!(decodes_to_utf8(&n), "{}", n);
            }
        }

        #[test]
        fn folding_only_widens(s in "(/[a-zA-Z.]{1,4}){1,4}", p in "(/[a-zA-Z]{1,3}){1,2}") {
            // An option never makes a path stop matching, and a paid prefix covers whatever
            // a free one does.
            if let (Ok(n), Ok(p)) = (normalize(&s), normalize(&p)) {
                let both = Matching::new(true, true);
                for lean in [Lean::Paid, Lean::Free] {
                    if under(&n, &p) {
                        proptest::prop_assert!(covers(&n, &p, both, lean));
                    }
                }
                if covers(&n, &p, both, Lean::Free) {
                    proptest::prop_assert!(covers(&n, &p, both, Lean::Paid));
                }
            }
        }
    }
}
