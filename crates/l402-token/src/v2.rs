//! The V2 binary format (libmacaroons `doc/format.txt`, Go `marshal-v2.go`).
//!
//! ```text
//! macaroon = 0x02 [location] identifier EOS *caveat EOS signature
//! caveat   = [location] identifier [vid] EOS
//! field    = varint(type) varint(len) bytes      ; types strictly increase in a section
//! ```

use crate::macaroon::{Caveat, Macaroon};
use crate::reader::{put_varint, Reader};
use crate::{FormatError, Limits};

const EOS: u64 = 0;
const LOCATION: u64 = 1;
const IDENTIFIER: u64 = 2;
const VID: u64 = 4;
const SIGNATURE: u64 = 6;

/// The fields of one section, by type.
#[derive(Default)]
struct Section<'a> {
    location: Option<&'a [u8]>,
    identifier: Option<&'a [u8]>,
    vid: Option<&'a [u8]>,
}

fn field<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<&'a [u8], FormatError> {
    let len = r.varint()?;
    let len = usize::try_from(len).map_err(|_| FormatError::FieldTooLong)?;
    if len > limits.max_field_len {
        return Err(FormatError::FieldTooLong);
    }
    r.take(len)
}

/// Reads fields up to and including the section's EOS. `allowed` lists the field types this
/// section may hold; they must appear in strictly increasing order.
fn section<'a>(
    r: &mut Reader<'a>,
    allowed: &[u64],
    limits: &Limits,
) -> Result<Section<'a>, FormatError> {
    let mut s = Section::default();
    let mut last = EOS;
    loop {
        let ty = r.varint()?;
        if ty == EOS {
            return Ok(s);
        }
        if ty <= last || !allowed.contains(&ty) {
            return Err(FormatError::UnexpectedField(ty));
        }
        last = ty;
        let data = field(r, limits)?;
        match ty {
            LOCATION => s.location = Some(data),
            IDENTIFIER => s.identifier = Some(data),
            _ => s.vid = Some(data),
        }
    }
}

pub(crate) fn decode(bytes: &[u8], limits: &Limits) -> Result<Macaroon, FormatError> {
    let mut r = Reader::new(bytes);
    if r.byte()? != 2 {
        return Err(FormatError::UnknownVersion(bytes.first().copied().unwrap_or_default()));
    }
    let head = section(&mut r, &[LOCATION, IDENTIFIER], limits)?;
    let identifier = head.identifier.ok_or(FormatError::MissingIdentifier)?;
    let mut caveats = Vec::new();
    loop {
        match r.peek() {
            None => return Err(FormatError::Truncated),
            Some(0) => {
                r.byte()?;
                break;
            }
            Some(_) => {}
        }
        if caveats.len() == limits.max_caveats {
            return Err(FormatError::TooManyCaveats);
        }
        let s = section(&mut r, &[LOCATION, IDENTIFIER, VID], limits)?;
        let id = s.identifier.ok_or(FormatError::MissingIdentifier)?;
        if s.vid.is_none() && s.location.is_some() {
            return Err(FormatError::LocationInFirstPartyCaveat);
        }
        caveats.push(Caveat {
            location: s.location.map(<[u8]>::to_vec),
            id: id.to_vec(),
            vid: s.vid.map(<[u8]>::to_vec),
        });
    }
    let ty = r.varint()?;
    if ty != SIGNATURE {
        return Err(FormatError::UnexpectedField(ty));
    }
    let sig = field(&mut r, limits)?;
    let signature: [u8; 32] =
        sig.try_into().map_err(|_| FormatError::BadSignatureLength(sig.len()))?;
    if !r.is_empty() {
        return Err(FormatError::TrailingBytes);
    }
    Ok(Macaroon {
        location: head.location.map(<[u8]>::to_vec),
        identifier: identifier.to_vec(),
        caveats,
        signature,
    })
}

fn put_field(out: &mut Vec<u8>, ty: u64, data: &[u8]) {
    put_varint(out, ty);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

pub(crate) fn encode(m: &Macaroon) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.encoded_len_hint());
    out.push(2);
    if let Some(loc) = &m.location {
        put_field(&mut out, LOCATION, loc);
    }
    put_field(&mut out, IDENTIFIER, &m.identifier);
    out.push(0);
    for c in &m.caveats {
        if let Some(loc) = &c.location {
            put_field(&mut out, LOCATION, loc);
        }
        put_field(&mut out, IDENTIFIER, &c.id);
        if let Some(vid) = &c.vid {
            put_field(&mut out, VID, vid);
        }
        out.push(0);
    }
    out.push(0);
    put_field(&mut out, SIGNATURE, &m.signature);
    out
}
