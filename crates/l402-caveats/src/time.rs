//! RFC 3339 timestamps for the `expires_at` caveat, without a date-time dependency.

use core::fmt;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while_m_n};
use nom::combinator::{all_consuming, map_res, opt};
use nom::sequence::preceded;
use nom::{IResult, Parser};

/// An RFC 3339 `date-time` (`2030-01-01T00:00:00Z`, `2030-01-01t01:00:00.5+01:00`).
///
/// The text is kept as written so a caveat prints back to its exact bytes; comparisons use
/// the instant. Years 0000-9999, seconds 00-59 (a leap second `60` is refused), at most nine
/// fraction digits, offsets up to ±23:59.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timestamp {
    text: String,
    unix: i64,
    nanos: u32,
}

impl Timestamp {
    /// Parses an RFC 3339 `date-time`.
    pub fn parse(s: &str) -> Option<Timestamp> {
        let (_, p) = all_consuming(date_time).parse(s.as_bytes()).ok()?;
        let days = days_from_civil(p.year, p.month, p.day)?;
        let local = days * 86_400
            + i64::from(p.hour) * 3600
            + i64::from(p.minute) * 60
            + i64::from(p.second);
        Some(Timestamp {
            text: s.to_owned(),
            unix: local - i64::from(p.offset_minutes) * 60,
            nanos: p.nanos,
        })
    }

    /// The UTC timestamp of a Unix second, printed as `YYYY-MM-DDTHH:MM:SSZ`; `None` outside
    /// years 0000-9999.
    pub fn from_unix(unix: i64) -> Option<Timestamp> {
        let days = unix.div_euclid(86_400);
        let secs = unix.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        if !(0..=9999).contains(&y) {
            return None;
        }
        let text = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        );
        Some(Timestamp { text, unix, nanos: 0 })
    }

    /// Whole Unix seconds of the instant (rounded down).
    pub fn unix(&self) -> i64 {
        self.unix
    }

    /// Nanoseconds past [`Timestamp::unix`].
    pub fn nanos(&self) -> u32 {
        self.nanos
    }

    /// The first whole Unix second at which the instant has passed: a token with this expiry
    /// is valid while `now < deadline`, the same rule as `<service>_valid_until`.
    pub fn deadline(&self) -> i64 {
        self.unix.saturating_add(i64::from(self.nanos > 0))
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when `self` is not later than `other`.
    pub fn not_after(&self, other: &Timestamp) -> bool {
        (self.unix, self.nanos) <= (other.unix, other.nanos)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    offset_minutes: i32,
}

type Res<'a, T> = IResult<&'a [u8], T, ()>;

fn digits<'a>(n: usize, max: u32) -> impl Parser<&'a [u8], Output = u32, Error = ()> {
    map_res(take_while_m_n(n, n, |b: u8| b.is_ascii_digit()), move |d: &[u8]| {
        let v = d.iter().fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'));
        if v <= max {
            Ok(v)
        } else {
            Err(())
        }
    })
}

fn fraction(i: &[u8]) -> Res<'_, u32> {
    map_res(
        preceded(tag(&b"."[..]), take_while_m_n(1, 9, |b: u8| b.is_ascii_digit())),
        |d: &[u8]| {
            let mut v = d.iter().fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'));
            for _ in d.len()..9 {
                v *= 10;
            }
            Ok::<u32, ()>(v)
        },
    )
    .parse(i)
}

fn offset(i: &[u8]) -> Res<'_, i32> {
    let zulu = map_res(alt((tag(&b"Z"[..]), tag(&b"z"[..]))), |_| Ok::<i32, ()>(0));
    let numeric = map_res(
        (alt((tag(&b"+"[..]), tag(&b"-"[..]))), digits(2, 23), tag(&b":"[..]), digits(2, 59)),
        |(sign, h, _, m): (&[u8], u32, &[u8], u32)| {
            let minutes = i32::try_from(h * 60 + m).map_err(|_| ())?;
            Ok::<i32, ()>(if sign == b"-" { -minutes } else { minutes })
        },
    );
    alt((zulu, numeric)).parse(i)
}

fn date_time(i: &[u8]) -> Res<'_, Parts> {
    let (i, (year, _, month, _, day)) =
        (digits(4, 9999), tag(&b"-"[..]), digits(2, 12), tag(&b"-"[..]), digits(2, 31)).parse(i)?;
    let (i, _) = alt((tag(&b"T"[..]), tag(&b"t"[..]))).parse(i)?;
    let (i, (hour, _, minute, _, second)) =
        (digits(2, 23), tag(&b":"[..]), digits(2, 59), tag(&b":"[..]), digits(2, 59)).parse(i)?;
    let (i, nanos) = opt(fraction).parse(i)?;
    let (i, offset_minutes) = offset(i)?;
    let parts = Parts {
        year: i64::from(year),
        month,
        day,
        hour,
        minute,
        second,
        nanos: nanos.unwrap_or(0),
        offset_minutes,
    };
    Ok((i, parts))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days since 1970-01-01 of a proleptic Gregorian date; `None` for an impossible date.
fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    let month_len = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => return None,
    };
    if d == 0 || d > month_len {
        return None;
    }
    // Count from 1 March so the leap day falls at the end of the counting year.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let month_from_march = i64::from((m + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(d) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let d = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let m = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let y = year_of_era + era * 400 + i64::from(m <= 2);
    // Both are in range by construction (1..=31 and 1..=12).
    (y, u32::try_from(m).unwrap_or(1), u32::try_from(d).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let t = |s: &str| Timestamp::parse(s).map(|t| (t.unix(), t.nanos()));
        assert_eq!(t("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(t("2023-11-14T22:13:20Z"), Some((1_700_000_000, 0)));
        assert_eq!(t("2023-11-14t23:13:20.5+01:00"), Some((1_700_000_000, 500_000_000)));
        assert_eq!(t("2000-02-29T00:00:00-00:30"), Some((951_784_200, 0)));
        assert_eq!(t("0000-01-01T00:00:00Z"), Some((-62_167_219_200, 0)));
    }

    #[test]
    fn refused_forms() {
        for bad in [
            "",
            "2023-11-14T22:13:20",
            "2023-11-14 22:13:20Z",
            "2023-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-00-01T00:00:00Z",
            "2023-01-00T00:00:00Z",
            "2023-01-01T24:00:00Z",
            "2023-01-01T00:00:60Z",
            "2023-01-01T00:00:00.Z",
            "2023-01-01T00:00:00.1234567890Z",
            "2023-01-01T00:00:00+24:00",
            "2023-01-01T00:00:00+0100",
            "2023-1-01T00:00:00Z",
            "2023-01-01T00:00:00Zjunk",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn from_unix_round_trips() {
        for unix in [0, 1_700_000_000, -1, 951_782_400, 253_402_300_799] {
            let t = Timestamp::from_unix(unix).unwrap();
            assert_eq!(Timestamp::parse(t.as_str()), Some(t.clone()), "{unix}");
            assert_eq!(t.unix(), unix);
        }
        assert_eq!(Timestamp::from_unix(253_402_300_800), None);
    }
}
