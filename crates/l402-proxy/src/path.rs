//! How a service's upstream compares request paths beyond the normal form
//! ([`l402_http::path::normalize`], applied by the pipeline before routing): case and
//! trailing dots, as the service's `case_insensitive` and `strip_trailing_dots` keys declare
//! (decision 0809).

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

fn hex_val(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
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
    use l402_http::path::normalize;

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

    proptest::proptest! {
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
