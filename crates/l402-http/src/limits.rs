//! Size limits on the header fields we read, checked before any parsing.

use http::header::{AsHeaderName, HeaderMap, HeaderValue, ValueIter};

use crate::Error;

/// Limits on the fields this crate reads.
///
/// The defaults are far above anything a real L402 peer sends (an Aperture challenge line is
/// about 600 bytes; a token with 50 caveats is about 6 KiB as hex) and well below what would
/// let a peer make us allocate much per message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest field value accepted, in bytes.
    pub max_field_len: usize,
    /// Most field lines of one name accepted.
    pub max_fields: usize,
}

impl Limits {
    /// 16 KiB per field value, 16 lines per field name.
    pub const DEFAULT: Limits = Limits { max_field_len: 16 * 1024, max_fields: 16 };

    /// Limits with the given values.
    pub const fn new(max_field_len: usize, max_fields: usize) -> Limits {
        Limits { max_field_len, max_fields }
    }

    pub(crate) fn check_len(&self, value: &str) -> Result<(), Error> {
        if value.len() > self.max_field_len {
            Err(Error::HeaderTooLarge { len: value.len() })
        } else {
            Ok(())
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Every value of `name`, refusing too many lines before looking at any of them.
pub(crate) fn values<'a>(
    headers: &'a HeaderMap,
    name: impl AsHeaderName,
    limits: &Limits,
) -> Result<Vec<&'a HeaderValue>, Error> {
    let all: Vec<&HeaderValue> = headers.get_all(name).iter().collect();
    if all.len() > limits.max_fields {
        return Err(Error::TooManyHeaders { count: all.len() });
    }
    Ok(all)
}

/// [`values`] without collecting: the count is checked first, then the values are walked
/// again. Reading credentials happens on every request, where the `Vec` showed up in
/// profiles.
pub(crate) fn value_iter<'a>(
    headers: &'a HeaderMap,
    name: impl AsHeaderName,
    limits: &Limits,
) -> Result<ValueIter<'a, HeaderValue>, Error> {
    let all = headers.get_all(name);
    let count = all.iter().count();
    if count > limits.max_fields {
        return Err(Error::TooManyHeaders { count });
    }
    Ok(all.iter())
}

/// A value as text, after the size check. Field values with bytes outside visible ASCII,
/// space and tab are refused with `not_text`.
pub(crate) fn text<'a>(
    value: &'a HeaderValue,
    limits: &Limits,
    not_text: Error,
) -> Result<&'a str, Error> {
    if value.len() > limits.max_field_len {
        return Err(Error::HeaderTooLarge { len: value.len() });
    }
    value.to_str().map_err(|_| not_text)
}
