//! The admin API's credentials: `Authorization: Bearer <token>` (RFC 6750 §2.1), read as
//! RFC 9110 §11.4 defines it: the scheme name in any case, one or more spaces, then the
//! credentials (decision 0812).

/// The credentials of a `Bearer` authorization value, or `None` when the value is not one
/// (another scheme, no space after the scheme, nothing after it).
///
/// ```
/// use l402_proxy::bearer::credentials;
///
/// assert_eq!(credentials(b"Bearer s3cret-token"), Some(&b"s3cret-token"[..]));
/// assert_eq!(credentials(b"bearer  s3cret-token"), Some(&b"s3cret-token"[..]));
/// assert_eq!(credentials(b"Basic czNjcmV0"), None);
/// assert_eq!(credentials(b"Bearer"), None);
/// ```
pub fn credentials(value: &[u8]) -> Option<&[u8]> {
    let space = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let start = rest.iter().position(|b| *b != b' ')?;
    let token = rest.get(start..)?;
    // Trailing whitespace is not part of a field value (RFC 9110 §5.5).
    let end = token.iter().rposition(|b| !matches!(b, b' ' | b'\t'))?;
    token.get(..=end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn negative_cases() {
        for bad in [
            &b""[..],
            b"Bearer",
            b"Bearer ",
            b"Bearer    ",
            b"Bearer\tabc",
            b"Bearerabc",
            b"Bearer-x abc",
            b"Bear abc",
            b"L402 abc:def",
            b" Bearer abc",
        ] {
            assert_eq!(credentials(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let v = format!("{scheme} abc.def");
            assert_eq!(credentials(v.as_bytes()), Some(&b"abc.def"[..]), "{v}");
        }
    }

    proptest! {
        /// Any token without leading or trailing whitespace comes back whole, whatever the
        /// scheme's case and however many spaces follow it.
        #[test]
        fn round_trip(token in "[!-~]([ -~]*[!-~])?", spaces in 1usize..4, upper in any::<u8>()) {
            let scheme: String = "bearer"
                .chars()
                .enumerate()
                .map(|(i, c)| if upper >> (i % 8) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect();
            let value = format!("{scheme}{}{token}", " ".repeat(spaces));
            prop_assert_eq!(credentials(value.as_bytes()), Some(token.as_bytes()));
        }

        /// Whatever is found is a non-empty part of the input, free of outer whitespace.
        #[test]
        fn found_credentials_are_inside_the_value(value in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some(c) = credentials(&value) {
                prop_assert!(!c.is_empty());
                prop_assert!(c.first() != Some(&b' ') && !matches!(c.last(), Some(b' ' | b'\t')));
                prop_assert!(value.windows(c.len()).any(|w| w == c));
            }
        }
    }
}
