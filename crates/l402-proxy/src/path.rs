//! Request-path normalisation, done once before matching and forwarding.
//!
//! A paywall that matches one spelling of a path and forwards another can be walked around:
//! `/free/../paid`, `/free/%2e%2e/paid` and `//paid` must all be judged as the path the
//! upstream will serve. So the proxy normalises first, matches the normal form, and forwards
//! the normal form (decision 0801):
//!
//! 1. percent-encodings of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, and
//!    the hex of the other encodings is upper-cased;
//! 2. encodings that would change the path's structure or smuggle bytes upstream decoders
//!    disagree on are refused: `%2F` (`/`), `%5C` (`\`), `%00`, and a bare `\`;
//! 3. empty segments (`//`) are dropped, `.` segments removed, and `..` removes the previous
//!    segment (never climbing above the root);
//! 4. a trailing `/` is kept.

use core::fmt;

/// Why a path was refused (the request gets 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// An encoded `/`, `\` or NUL, or a bare `\`.
    Forbidden,
}

impl PathError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            PathError::NotAbsolute => "path-not-absolute",
            PathError::BadEscape => "path-bad-escape",
            PathError::Forbidden => "path-forbidden",
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "path does not start with '/'",
            PathError::BadEscape => "invalid percent-encoding in path",
            PathError::Forbidden => "path contains an encoded '/', '\\' or NUL, or a '\\'",
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

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Normalises an absolute request path (no query). See the module docs for the rules.
pub fn normalize(path: &str) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    // Pass 1: canonical escapes.
    let bytes = path.as_bytes();
    let mut decoded = String::with_capacity(path.len());
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
                if is_unreserved(v) {
                    decoded.push(char::from(v));
                } else {
                    decoded.push('%');
                    decoded.push(char::from(
                        b"0123456789ABCDEF".get(usize::from(hi)).copied().unwrap_or(b'0'),
                    ));
                    decoded.push(char::from(
                        b"0123456789ABCDEF".get(usize::from(lo)).copied().unwrap_or(b'0'),
                    ));
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Forbidden),
            _ => {
                // Multi-byte UTF-8 sequences pass through byte by byte; `path` is a &str, so
                // copying whole chars keeps the output valid UTF-8.
                let ch = path.get(i..).and_then(|s| s.chars().next()).unwrap_or('\u{FFFD}');
                decoded.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    // Pass 2: segments.
    let trailing = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    let mut out: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut result = String::with_capacity(decoded.len());
    for seg in &out {
        result.push('/');
        result.push_str(seg);
    }
    if result.is_empty() || trailing {
        result.push('/');
    }
    Ok(result)
}

/// Whether `path` (normalised) lies under `prefix` (normalised) on a segment boundary:
/// `/api` covers `/api` and `/api/x`, not `/apix`; `/api/` covers `/api/` and `/api/x`, and
/// `/api` too.
pub fn under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        let ok = [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("//a//b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/../../b", "/b"),
            ("/a/%2e%2e/b", "/b"),
            ("/a/%2E%2e/b", "/b"),
            ("/a/.%2e/b", "/b"),
            ("/%61pi", "/api"),
            ("/a%20b", "/a%20b"),
            ("/a%3fb", "/a%3Fb"),
            ("/a/", "/a/"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/é", "/é"),
        ];
        for (input, want) in ok {
            assert_eq!(normalize(input).as_deref(), Ok(want), "{input}");
        }
        assert_eq!(normalize("a"), Err(PathError::NotAbsolute));
        assert_eq!(normalize("/%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize("/%2"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%2fb"), Err(PathError::Forbidden));
        assert_eq!(normalize("/a%5Cb"), Err(PathError::Forbidden));
        assert_eq!(normalize("/a%00"), Err(PathError::Forbidden));
        assert_eq!(normalize("/a\\..\\b"), Err(PathError::Forbidden));
    }

    #[test]
    fn segment_prefixes() {
        assert!(under("/api", "/api"));
        assert!(under("/api/x", "/api"));
        assert!(under("/api/x", "/api/"));
        assert!(!under("/apix", "/api"));
        assert!(under("/anything", "/"));
    }

    proptest::proptest! {
        #[test]
        fn normal_form_is_a_fixed_point(s in "(/[a-z.%2eE/]{0,6}){1,6}") {
            if let Ok(n) = normalize(&s) {
                proptest::prop_assert_eq!(normalize(&n), Ok(n.clone()));
                proptest::prop_assert!(n.starts_with('/'));
                proptest::prop_assert!(!n.contains("//"));
                proptest::prop_assert!(!n.split('/').any(|seg| seg == ".." || seg == "."));
            }
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = normalize(&s);
        }
    }
}
