//! Indonesian identity numbers: NIK (person) and nomor KK (Kartu Keluarga), both `PPKKCC DDMMYY SSSS`.
//! Parsing enforces the hard rules; the soft cross-checks (sex, birth date, address) are methods that the
//! form engine turns into warnings.

use chrono::{Datelike, NaiveDate};

/// Why a NIK or KK number is structurally impossible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be exactly 16 digits")]
    Length,
    #[error("province code 00 does not exist")]
    Province,
    #[error("the date part (DDMMYY) is not a real date")]
    Date,
    #[error("serial number 0000 is never issued")]
    Serial,
}

impl IdError {
    /// Stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            IdError::Length => "length",
            IdError::Province => "province",
            IdError::Date => "date",
            IdError::Serial => "serial",
        }
    }
}

/// The parts shared by NIK and KK numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts {
    region: [u8; 6],
    day: u32,
    month: u32,
    yy: u32,
}

fn num(digits: &[u8]) -> u32 {
    digits
        .iter()
        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
}

fn parse_parts(s: &str, day_offset: u32) -> Result<Parts, IdError> {
    let b = s.as_bytes();
    let Ok(digits) = <[u8; 16]>::try_from(b) else {
        return Err(IdError::Length);
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(IdError::Length);
    }
    let [
        p0,
        p1,
        k0,
        k1,
        c0,
        c1,
        d0,
        d1,
        m0,
        m1,
        y0,
        y1,
        s0,
        s1,
        s2,
        s3,
    ] = digits;
    if num(&[p0, p1]) == 0 {
        return Err(IdError::Province);
    }
    let mut day = num(&[d0, d1]);
    if day_offset > 0 && day > day_offset {
        day -= day_offset;
    }
    let month = num(&[m0, m1]);
    let yy = num(&[y0, y1]);
    let exists = |century: i32| NaiveDate::from_ymd_opt(century + yy as i32, month, day).is_some();
    if !(exists(1900) || exists(2000)) {
        return Err(IdError::Date);
    }
    if num(&[s0, s1, s2, s3]) == 0 {
        return Err(IdError::Serial);
    }
    Ok(Parts {
        region: [p0, p1, k0, k1, c0, c1],
        day,
        month,
        yy,
    })
}

fn dotted_region(region: &[u8; 6]) -> String {
    let s = String::from_utf8_lossy(region);
    format!(
        "{}.{}.{}",
        s.get(0..2).unwrap_or_default(),
        s.get(2..4).unwrap_or_default(),
        s.get(4..6).unwrap_or_default()
    )
}

/// A structurally valid NIK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nik {
    parts: Parts,
    female: bool,
}

impl Nik {
    /// Parses a NIK: 16 digits, province not 00, a real birth date (day + 40 for women), serial not 0000.
    pub fn parse(s: &str) -> Result<Nik, IdError> {
        let female = s
            .get(6..8)
            .and_then(|d| d.parse::<u32>().ok())
            .is_some_and(|d| d > 40);
        let parts = parse_parts(s, 40)?;
        Ok(Nik { parts, female })
    }

    /// Whether the NIK encodes a woman (day of birth + 40).
    pub fn is_female(&self) -> bool {
        self.female
    }

    /// Whether the NIK's DDMMYY agrees with a birth date.
    pub fn matches_birth_date(&self, date: NaiveDate) -> bool {
        date.day() == self.parts.day
            && date.month() == self.parts.month
            && date.year().rem_euclid(100) as u32 == self.parts.yy
    }

    /// The kecamatan of registration as a dotted Kemendagri code, e.g. `64.72.01`.
    pub fn kecamatan_code(&self) -> String {
        dotted_region(&self.parts.region)
    }
}

/// A structurally valid nomor KK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KkNumber {
    parts: Parts,
}

impl KkNumber {
    /// Parses a nomor KK: 16 digits, province not 00, a real issue date, serial not 0000.
    pub fn parse(s: &str) -> Result<KkNumber, IdError> {
        Ok(KkNumber {
            parts: parse_parts(s, 0)?,
        })
    }

    /// The kecamatan where the card was issued, e.g. `64.72.01`.
    pub fn kecamatan_code(&self) -> String {
        dotted_region(&self.parts.region)
    }

    /// The issue date, taking the century that does not lie after `today`.
    pub fn issue_date(&self, today: NaiveDate) -> Option<NaiveDate> {
        let p = self.parts;
        [2000, 1900]
            .into_iter()
            .filter_map(|c| NaiveDate::from_ymd_opt(c + p.yy as i32, p.month, p.day))
            .find(|d| *d <= today)
    }
}

/// The kecamatan part (`64.72.01`) of a dotted Kemendagri code of any depth ≥ 3.
pub fn kecamatan_of(code: &str) -> Option<&str> {
    let mut dots = code.match_indices('.').map(|(i, _)| i);
    let _ = dots.next()?;
    let _ = dots.next()?;
    match dots.next() {
        Some(third) => code.get(..third),
        None => Some(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case = (&'static str, Result<(bool, &'static str), IdError>);

    #[test]
    fn nik_cases() {
        let cases: [Case; 10] = [
            ("6472011203850001", Ok((false, "64.72.01"))),
            ("6472015203850002", Ok((true, "64.72.01"))),
            ("647201120385000", Err(IdError::Length)),
            ("64720112038500011", Err(IdError::Length)),
            ("64720112038500a1", Err(IdError::Length)),
            ("0072011203850001", Err(IdError::Province)),
            ("6472013202850001", Err(IdError::Date)),
            ("6472017203850001", Err(IdError::Date)),
            ("6472011203850000", Err(IdError::Serial)),
            ("6472016902000001", Ok((true, "64.72.01"))), // 29 Feb 2000 exists
        ];
        for (nik, expected) in cases {
            let got = Nik::parse(nik).map(|n| (n.is_female(), n.kecamatan_code()));
            let got = got.as_ref().map(|(f, k)| (*f, k.as_str())).map_err(|e| *e);
            assert_eq!(got, expected, "{nik}");
        }
    }

    #[test]
    fn nik_birth_date_cross_check() {
        let nik = Nik::parse("6472015203850002").unwrap();
        assert!(nik.matches_birth_date(NaiveDate::from_ymd_opt(1985, 3, 12).unwrap()));
        assert!(!nik.matches_birth_date(NaiveDate::from_ymd_opt(1985, 3, 13).unwrap()));
    }

    #[test]
    fn kk_issue_date_and_region() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        let kk = KkNumber::parse("6472011503190003").unwrap();
        assert_eq!(kk.issue_date(today), NaiveDate::from_ymd_opt(2019, 3, 15));
        assert_eq!(kk.kecamatan_code(), "64.72.01");
        assert_eq!(KkNumber::parse("6472014503190003"), Err(IdError::Date));
        assert_eq!(kecamatan_of("64.72.01.1001"), Some("64.72.01"));
        assert_eq!(kecamatan_of("64.72"), None);
    }
}
