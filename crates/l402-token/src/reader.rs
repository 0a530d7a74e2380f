//! A checked cursor: every read is bounds-checked, so parsers built on it cannot panic.

use crate::FormatError;

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    pub(crate) fn byte(&mut self) -> Result<u8, FormatError> {
        let (&b, rest) = self.buf.split_first().ok_or(FormatError::Truncated)?;
        self.buf = rest;
        Ok(b)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let (head, rest) = self.buf.split_at_checked(n).ok_or(FormatError::Truncated)?;
        self.buf = rest;
        Ok(head)
    }

    /// An unsigned LEB128 varint, minimal and at most `0x7fffffff` (Go's limit), so that
    /// every accepted encoding re-encodes to the same bytes.
    pub(crate) fn varint(&mut self) -> Result<u64, FormatError> {
        let mut value: u64 = 0;
        for shift in (0..35).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return Err(FormatError::BadVarint);
                }
                return if value > 0x7fff_ffff { Err(FormatError::BadVarint) } else { Ok(value) };
            }
        }
        Err(FormatError::BadVarint)
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
