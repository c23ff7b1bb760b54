//! Runtime values of answers and expressions, their XPath-like conversions, and the parsing of a JSON
//! answer into a typed value for a field kind (the boundary where raw answers become typed).

use chrono::NaiveDate;
use serde_json::Value as Json;

use super::schema::FieldKind;

/// A GPS reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gps {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
}

/// A typed answer or expression result.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Date(NaiveDate),
    Multi(Vec<String>),
    Gps(Gps),
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

impl Value {
    /// Empty in the XLSForm sense: no answer, or an empty text or selection.
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Str(s) => s.is_empty(),
            Value::Multi(m) => m.is_empty(),
            Value::Num(n) => n.is_nan(),
            _ => false,
        }
    }

    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Num(n) => *n != 0.0 && !n.is_nan(),
            Value::Str(s) => !s.is_empty(),
            Value::Multi(m) => !m.is_empty(),
            Value::Date(_) | Value::Gps(_) => true,
        }
    }

    pub fn to_num(&self) -> f64 {
        match self {
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Num(n) => *n,
            Value::Str(s) => s.trim().parse().unwrap_or(f64::NAN),
            Value::Date(d) => (*d - epoch()).num_days() as f64,
            Value::Null | Value::Multi(_) | Value::Gps(_) => f64::NAN,
        }
    }

    pub fn to_date(&self) -> Option<NaiveDate> {
        match self {
            Value::Date(d) => Some(*d),
            Value::Str(s) => parse_date(s),
            Value::Num(n) if n.is_finite() && n.abs() < 1e7 => {
                epoch().checked_add_signed(chrono::Duration::days(n.floor() as i64))
            }
            _ => None,
        }
    }

    pub fn to_text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Num(n) => format_num(*n),
            Value::Str(s) => s.clone(),
            Value::Date(d) => iso_date(*d),
            Value::Multi(m) => m.join(" "),
            Value::Gps(g) => match g.accuracy_m {
                Some(a) => format!("{} {} 0 {}", g.lat, g.lon, a),
                None => format!("{} {}", g.lat, g.lon),
            },
        }
    }

    /// The value as an answer JSON value (the inverse of [`parse_answer`]).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Num(n) => {
                if n.fract() == 0.0 && n.abs() < 9e15 {
                    Json::from(*n as i64)
                } else {
                    serde_json::Number::from_f64(*n).map_or(Json::Null, Json::Number)
                }
            }
            Value::Str(s) => Json::String(s.clone()),
            Value::Date(d) => Json::String(iso_date(*d)),
            Value::Multi(m) => Json::Array(m.iter().cloned().map(Json::String).collect()),
            Value::Gps(g) => {
                let mut o = serde_json::Map::new();
                o.insert("lat".into(), Json::from(g.lat));
                o.insert("lon".into(), Json::from(g.lon));
                if let Some(a) = g.accuracy_m {
                    o.insert("accuracy_m".into(), Json::from(a));
                }
                Json::Object(o)
            }
        }
    }
}

pub fn format_num(n: f64) -> String {
    if n.is_nan() {
        String::new()
    } else if n.fract() == 0.0 && n.abs() < 9e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A date answer: exactly `YYYY-MM-DD` (what the date picker writes), a real day of the calendar.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b: &[u8; 10] = s.as_bytes().try_into().ok()?;
    let digits = |r: std::ops::Range<usize>| {
        b.get(r)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i32::try_from(digits(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)
}

/// `YYYY-MM-DD` (chrono's `format` parses its pattern on every call; dates are formatted per answer).
pub fn iso_date(d: NaiveDate) -> String {
    use chrono::Datelike;
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// Why a JSON answer does not fit its field's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAnswer {
    pub expected_id: &'static str,
    pub expected_en: &'static str,
}

fn bad<T>(id: &'static str, en: &'static str) -> Result<T, BadAnswer> {
    Err(BadAnswer {
        expected_id: id,
        expected_en: en,
    })
}

fn code_of(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// Whether `s` is a content hash as attachments are named: 64 lowercase hex digits (SHA-256).
pub fn is_content_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses a JSON answer for a field of `kind`. `null` is no answer.
pub fn parse_answer(kind: FieldKind, v: &Json) -> Result<Value, BadAnswer> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    match kind {
        // A photo is named by the SHA-256 of its stored bytes (how the app and `record attach` store it):
        // a file name or path typed as text would travel as text, without the photo.
        FieldKind::Photo => match v {
            Json::String(s) if is_content_hash(s) => Ok(Value::Str(s.clone())),
            _ => bad(
                "foto yang tersimpan di tablet (lampirkan dengan kamera aplikasi atau `pendata record attach`)",
                "a photo stored on the tablet (attach it in the app or with `pendata record attach`)",
            ),
        },
        FieldKind::Text | FieldKind::Nik | FieldKind::Kk | FieldKind::Phone => match v {
            Json::String(s) => Ok(Value::Str(s.clone())),
            _ => bad("teks", "text"),
        },
        FieldKind::Integer => match v.as_f64() {
            Some(n) if n.fract() == 0.0 && n.abs() < 9e15 => Ok(Value::Num(n)),
            _ => bad("bilangan bulat", "a whole number"),
        },
        FieldKind::Decimal => match v.as_f64() {
            Some(n) if n.is_finite() => Ok(Value::Num(n)),
            _ => bad("angka", "a number"),
        },
        FieldKind::Date => match v.as_str().and_then(parse_date) {
            Some(d) => Ok(Value::Date(d)),
            None => bad("tanggal TTTT-BB-HH", "a date YYYY-MM-DD"),
        },
        FieldKind::SelectOne => match code_of(v) {
            Some(c) => Ok(Value::Str(c)),
            None => bad("kode pilihan", "a choice code"),
        },
        FieldKind::SelectMultiple => {
            let Json::Array(items) = v else {
                return bad("daftar kode pilihan", "a list of choice codes");
            };
            let mut codes = Vec::with_capacity(items.len());
            for item in items {
                let Some(c) = code_of(item) else {
                    return bad("daftar kode pilihan", "a list of choice codes");
                };
                if !codes.contains(&c) {
                    codes.push(c);
                }
            }
            Ok(Value::Multi(codes))
        }
        FieldKind::Gps => {
            let Json::Object(o) = v else {
                return bad(
                    "lokasi {\"lat\", \"lon\", \"accuracy_m\"}",
                    "a location {\"lat\", \"lon\", \"accuracy_m\"}",
                );
            };
            let lat = o.get("lat").and_then(Json::as_f64);
            let lon = o.get("lon").and_then(Json::as_f64);
            let acc = o.get("accuracy_m");
            let accuracy_m = match acc {
                None | Some(Json::Null) => None,
                Some(a) => match a.as_f64() {
                    Some(a) if a >= 0.0 => Some(a),
                    _ => return bad("akurasi dalam meter ≥ 0", "an accuracy in metres ≥ 0"),
                },
            };
            let known = ["lat", "lon", "accuracy_m"];
            match (lat, lon) {
                (Some(lat), Some(lon))
                    if (-90.0..=90.0).contains(&lat)
                        && (-180.0..=180.0).contains(&lon)
                        && o.keys().all(|k| known.contains(&k.as_str())) =>
                {
                    Ok(Value::Gps(Gps {
                        lat,
                        lon,
                        accuracy_m,
                    }))
                }
                _ => bad(
                    "lintang −90..90 dan bujur −180..180",
                    "a latitude −90..90 and longitude −180..180",
                ),
            }
        }
        FieldKind::Note | FieldKind::Calculated | FieldKind::Repeat => Ok(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_answers_by_kind() {
        let d = NaiveDate::from_ymd_opt(2020, 2, 29).unwrap();
        let cases: Vec<(FieldKind, Json, Result<Value, ()>)> = vec![
            (FieldKind::Integer, json!(3), Ok(Value::Num(3.0))),
            (FieldKind::Integer, json!(3.5), Err(())),
            (FieldKind::Integer, json!("3"), Err(())),
            (FieldKind::Decimal, json!(3.5), Ok(Value::Num(3.5))),
            (FieldKind::Date, json!("2020-02-29"), Ok(Value::Date(d))),
            (FieldKind::Date, json!("2021-02-29"), Err(())),
            (FieldKind::Date, json!("2020-2-29"), Err(())),
            (FieldKind::SelectOne, json!(2), Ok(Value::Str("2".into()))),
            (FieldKind::SelectOne, json!(true), Err(())),
            (
                FieldKind::SelectMultiple,
                json!(["1", 2, "1"]),
                Ok(Value::Multi(vec!["1".into(), "2".into()])),
            ),
            (FieldKind::SelectMultiple, json!("1"), Err(())),
            (
                FieldKind::Gps,
                json!({"lat": -0.5, "lon": 117.1}),
                Ok(Value::Gps(Gps {
                    lat: -0.5,
                    lon: 117.1,
                    accuracy_m: None,
                })),
            ),
            (FieldKind::Gps, json!({"lat": 95.0, "lon": 117.1}), Err(())),
            (
                FieldKind::Gps,
                json!({"lat": 1.0, "lon": 117.1, "x": 1}),
                Err(()),
            ),
            (FieldKind::Text, json!(null), Ok(Value::Null)),
            (FieldKind::Nik, json!(6472011203850001u64), Err(())),
        ];
        for (kind, v, expected) in cases {
            assert_eq!(
                parse_answer(kind, &v).map_err(|_| ()),
                expected,
                "{kind:?} {v}"
            );
        }
    }

    #[test]
    fn conversions() {
        assert_eq!(Value::Str("12".into()).to_num(), 12.0);
        assert!(Value::Str("x".into()).to_num().is_nan());
        assert_eq!(Value::Num(3.0).to_text(), "3");
        let d = Value::Date(NaiveDate::from_ymd_opt(1970, 1, 11).unwrap());
        assert_eq!(d.to_num(), 10.0);
        assert_eq!(Value::Num(10.0).to_date(), d.to_date());
        assert_eq!(d.to_text(), "1970-01-11");
        assert_eq!(d.to_json(), json!("1970-01-11"));
    }

    #[test]
    fn dates_are_exactly_year_month_day() {
        let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(parse_date("2026-11-30"), ymd(2026, 11, 30));
        assert_eq!(parse_date("0999-01-01"), ymd(999, 1, 1));
        for bad in [
            "2026-11-31",
            "2026-13-01",
            "2026-00-10",
            "2026-1-301",
            "2026/11/30",
            "20261130xx",
            "+026-11-30",
            "2026-11-3 ",
            " 026-11-30",
            "2026-11-30 ",
            "２０２６-11-30",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
        for d in [ymd(2026, 2, 3), ymd(1, 12, 31), ymd(9999, 1, 1)]
            .into_iter()
            .flatten()
        {
            assert_eq!(parse_date(&iso_date(d)), Some(d));
            assert_eq!(iso_date(d), d.format("%Y-%m-%d").to_string());
        }
    }
}
