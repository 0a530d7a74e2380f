//! The byte-level grammar, written with nom: `condition "=" value`, decimal numbers and
//! comma-separated lists. Every parser here consumes its whole input or fails.

use nom::bytes::complete::{tag, take_till, take_till1, take_while1};
use nom::combinator::{all_consuming, opt, rest};
use nom::multi::separated_list1;
use nom::sequence::separated_pair;
use nom::{IResult, Parser};

type Res<'a, T> = IResult<&'a [u8], T, ()>;

/// Splits a first-party caveat at its first `=` into `(condition, value)`.
///
/// `None` when there is no `=` at all; see `docs/decisions/0300-caveat-grammar.md` for what
/// such a caveat means. Conditions are compared byte for byte afterwards: no trimming, no case
/// folding, no UTF-8 requirement.
pub fn split(caveat: &[u8]) -> Option<(&[u8], &[u8])> {
    let r: Res<'_, (&[u8], &[u8])> =
        separated_pair(take_till(|b| b == b'='), tag(&b"="[..]), rest).parse(caveat);
    r.ok().map(|(_, pair)| pair)
}

/// A canonical unsigned decimal: digits only, no sign, no leading zero (except `0` itself),
/// no overflow. Canonical so that printing a parsed caveat gives back the same bytes.
pub(crate) fn canonical_u64(s: &str) -> Option<u64> {
    let r: Res<'_, &[u8]> =
        all_consuming(take_while1(|b: u8| b.is_ascii_digit())).parse(s.as_bytes());
    let (_, digits) = r.ok()?;
    if digits.len() > 1 && digits.first() == Some(&b'0') {
        return None;
    }
    s.parse().ok()
}

/// A canonical signed decimal: an optional `-`, then a canonical unsigned number; `-0` is
/// refused (it would print as `0`).
pub(crate) fn canonical_i64(s: &str) -> Option<i64> {
    let r: Res<'_, (Option<&[u8]>, &[u8])> =
        all_consuming((opt(tag(&b"-"[..])), take_while1(|b: u8| b.is_ascii_digit())))
            .parse(s.as_bytes());
    let (_, (minus, digits)) = r.ok()?;
    if digits.len() > 1 && digits.first() == Some(&b'0') {
        return None;
    }
    if minus.is_some() && digits == b"0" {
        return None;
    }
    s.parse().ok()
}

/// A non-empty, comma-separated list of non-empty items. `a,,b`, `,a` and `a,` are refused.
pub(crate) fn comma_list(s: &str) -> Option<Vec<&str>> {
    let r: Res<'_, Vec<&[u8]>> =
        all_consuming(separated_list1(tag(&b","[..]), take_till1(|b| b == b',')))
            .parse(s.as_bytes());
    let (_, items) = r.ok()?;
    // Splitting at an ASCII byte keeps every item valid UTF-8.
    items.into_iter().map(|i| core::str::from_utf8(i).ok()).collect()
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
        assert_eq!(comma_list("a,b"), Some(vec!["a", "b"]));
        for bad in ["", ",", "a,", ",a", "a,,b"] {
            assert_eq!(comma_list(bad), None, "{bad:?}");
        }
    }
}
