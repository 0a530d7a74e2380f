//! The byte-level grammar: `condition "=" value`, decimal numbers and comma-separated lists.
//! Every parser here consumes its whole input or fails. Hand-written rather than with nom
//! (which the timestamp grammar uses): these run for every caveat of every request.

/// Splits a first-party caveat at its first `=` into `(condition, value)`.
///
/// `None` when there is no `=` at all; see `docs/decisions/0300-caveat-grammar.md` for what
/// such a caveat means. Conditions are compared byte for byte afterwards: no trimming, no case
/// folding, no UTF-8 requirement.
pub fn split(caveat: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = caveat.iter().position(|&b| b == b'=')?;
    let (condition, value) = caveat.split_at_checked(at)?;
    Some((condition, value.get(1..)?))
}

/// A canonical unsigned decimal: digits only, no sign, no leading zero (except `0` itself),
/// no overflow. Canonical so that printing a parsed caveat gives back the same bytes.
pub(crate) fn canonical_u64(s: &str) -> Option<u64> {
    if !is_canonical_digits(s) {
        return None;
    }
    s.parse().ok()
}

/// A canonical signed decimal: an optional `-`, then a canonical unsigned number; `-0` is
/// refused (it would print as `0`).
pub(crate) fn canonical_i64(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !is_canonical_digits(digits) || (digits.len() < s.len() && digits == "0") {
        return None;
    }
    s.parse().ok()
}

/// One or more ASCII digits without a leading zero (except `0` itself). Hand-written: numbers
/// are checked in every `_valid_until` caveat of every request.
fn is_canonical_digits(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && b.iter().all(u8::is_ascii_digit) && !(b.len() > 1 && b.first() == Some(&b'0'))
}

/// A non-empty, comma-separated list of non-empty items, as an iterator over the items.
/// `a,,b`, `,a` and `a,` are refused. Written without nom and without collecting, because
/// the engine validates lists on every request and only needs to walk them.
pub(crate) fn comma_items(s: &str) -> Option<core::str::Split<'_, char>> {
    if s.is_empty() || s.split(',').any(str::is_empty) {
        return None;
    }
    Some(s.split(','))
}

/// Whether `s` is a list [`comma_items`] accepts whose every item satisfies `item`, in one
/// pass over the text.
pub(crate) fn comma_list_all(s: &str, mut item: impl FnMut(&str) -> bool) -> bool {
    !s.is_empty() && s.split(',').all(|i| !i.is_empty() && item(i))
}

/// An RFC 9110 token (the grammar of an HTTP method).
pub(crate) fn is_http_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_at_the_first_equals() {
        assert_eq!(split(b"expiration=1337="), Some((&b"expiration"[..], &b"1337="[..])));
        assert_eq!(split(b"=x"), Some((&b""[..], &b"x"[..])));
        assert_eq!(split(b"a="), Some((&b"a"[..], &b""[..])));
        assert_eq!(split(b"expiration:1337"), None);
        assert_eq!(split(b""), None);
    }

    #[test]
    fn numbers_are_canonical() {
        assert_eq!(canonical_u64("0"), Some(0));
        assert_eq!(canonical_u64("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "01", "+1", "-1", "1 ", "18446744073709551616", "1a"] {
            assert_eq!(canonical_u64(bad), None, "{bad:?}");
        }
        assert_eq!(canonical_i64("-1000"), Some(-1000));
        for bad in ["-0", "-", "--1", "-01", "9223372036854775808"] {
            assert_eq!(canonical_i64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lists_have_no_empty_items() {
        assert_eq!(comma_items("a,b").map(Iterator::collect), Some(vec!["a", "b"]));
        assert!(comma_list_all("a,b", |_| true));
        assert!(!comma_list_all("a,b", |i| i == "a"));
        for bad in ["", ",", "a,", ",a", "a,,b"] {
            assert!(comma_items(bad).is_none(), "{bad:?}");
            assert!(!comma_list_all(bad, |_| true), "{bad:?}");
        }
    }
}
