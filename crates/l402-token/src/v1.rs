//! Reading the V1 format (libmacaroons' original packets), which some peers still emit.
//!
//! A packet is `4 hex digits of total length` `key` SP `value` LF. The order is
//! `location`, `identifier`, then per caveat `cid` [`vid` [`cl`]], then `signature`.

use crate::macaroon::{Caveat, Macaroon};
use crate::reader::Reader;
use crate::{FormatError, Limits};

struct Packet<'a> {
    key: &'a [u8],
    value: &'a [u8],
}

fn packet<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<Packet<'a>, FormatError> {
    let head = r.take(4)?;
    let mut len = 0usize;
    for &h in head {
        let d = (h as char).to_digit(16).ok_or(FormatError::BadPacket)?;
        len = len * 16 + d as usize;
    }
    // Shortest packet: header, a one-byte key, the space and the newline.
    let body_len = len.checked_sub(4).filter(|&n| n >= 3).ok_or(FormatError::BadPacket)?;
    let body = r.take(body_len)?;
    let (&last, body) = body.split_last().ok_or(FormatError::BadPacket)?;
    if last != b'\n' {
        return Err(FormatError::BadPacket);
    }
    let space =
        body.iter().position(|&b| b == b' ').filter(|&i| i > 0).ok_or(FormatError::BadPacket)?;
    let (key, value) = body.split_at(space);
    let value = value.get(1..).unwrap_or_default();
    if value.len() > limits.max_field_len {
        return Err(FormatError::FieldTooLong);
    }
    Ok(Packet { key, value })
}

fn expect<'a>(r: &mut Reader<'a>, key: &[u8], limits: &Limits) -> Result<&'a [u8], FormatError> {
    let p = packet(r, limits)?;
    if p.key == key {
        Ok(p.value)
    } else {
        Err(FormatError::BadPacket)
    }
}

pub(crate) fn decode(bytes: &[u8], limits: &Limits) -> Result<Macaroon, FormatError> {
    let mut r = Reader::new(bytes);
    let location = expect(&mut r, b"location", limits)?;
    let identifier = expect(&mut r, b"identifier", limits)?;
    let mut caveats: Vec<Caveat> = Vec::new();
    loop {
        let p = packet(&mut r, limits)?;
        match p.key {
            b"signature" => {
                let signature: [u8; 32] = p
                    .value
                    .try_into()
                    .map_err(|_| FormatError::BadSignatureLength(p.value.len()))?;
                if !r.is_empty() {
                    return Err(FormatError::TrailingBytes);
                }
                return Ok(Macaroon {
                    // V1 always writes a location; an empty one means "none", as in Go.
                    location: (!location.is_empty()).then(|| location.to_vec()),
                    identifier: identifier.to_vec(),
                    caveats,
                    signature,
                });
            }
            b"cid" => {
                if caveats.len() == limits.max_caveats {
                    return Err(FormatError::TooManyCaveats);
                }
                caveats.push(Caveat { location: None, id: p.value.to_vec(), vid: None });
            }
            b"vid" => match caveats.last_mut() {
                Some(c) if c.vid.is_none() => c.vid = Some(p.value.to_vec()),
                _ => return Err(FormatError::BadPacket),
            },
            b"cl" => match caveats.last_mut() {
                Some(c) if c.vid.is_some() && c.location.is_none() => {
                    c.location = (!p.value.is_empty()).then(|| p.value.to_vec());
                }
                Some(c) if c.vid.is_none() => return Err(FormatError::LocationInFirstPartyCaveat),
                _ => return Err(FormatError::BadPacket),
            },
            _ => return Err(FormatError::BadPacket),
        }
    }
}
