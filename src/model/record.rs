//! What a record is, independent of where it is kept: its status machine, what a revision did, and the
//! revision itself. The device store, the bundle format and the registry all speak these types.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Answers: field name → JSON value (repeats as arrays of objects).
pub type Answers = Map<String, Value>;

/// Where a record is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Final,
    Exported,
    Accepted,
    Rejected,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Draft,
        Status::Final,
        Status::Exported,
        Status::Accepted,
        Status::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Final => "final",
            Status::Exported => "exported",
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
        }
    }

    /// The status machine. Corrections (back to Draft) go through `Store::save_answers` with a reason.
    pub fn can_become(self, to: Status) -> bool {
        matches!(
            (self, to),
            (Status::Draft, Status::Final)
                | (Status::Final, Status::Exported)
                // A re-export (lost stick) leaves Exported as it is.
                | (Status::Exported, Status::Exported)
                | (Status::Exported, Status::Accepted)
                | (Status::Exported, Status::Rejected)
        )
    }

    /// Whether changing the answers needs a reason (the record was already final once).
    pub fn is_locked(self) -> bool {
        self != Status::Draft
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!("`{s}` is not a status (draft, final, exported, accepted, rejected)")
            })
    }
}

/// What a revision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Saved,
    Finalized,
    /// Changed after it was final (needs a reason); the record is a draft again.
    Corrected,
}

/// One revision: a full snapshot of the answers with who, where and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub record: Uuid,
    pub number: u32,
    /// Position in the device change sequence.
    pub seq: u64,
    pub action: Action,
    /// The record's status right after this revision.
    pub status: Status,
    pub form_id: String,
    pub form_version: u64,
    #[serde(deserialize_with = "answers::deserialize")]
    pub answers: Answers,
    pub petugas: String,
    pub device: Uuid,
    /// Device time: UTC with the device's offset (WITA is +08:00). The sequence orders; the clock informs.
    pub at: DateTime<FixedOffset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Warning codes and paths acknowledged at finalizing (`anggota[1].nik nik_region_mismatch`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acknowledged: Vec<String>,
    /// A visit of a family the registry already has (from a work package): what it is based on. Absent
    /// for families entered on this tablet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Box<VisitBase>>,
}

/// What a visit of a registry family is based on: the family (its id is the record's id), the hash of
/// the registry's revision the package carried, and the package. The registry merges the visit as an
/// update of that family when its current revision still has this hash, else as an update conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitBase {
    pub family: Uuid,
    /// SHA-256 (hex) of the registry's revision the visit starts from (`registry::package::revision_hash`).
    pub revision: String,
    pub package: Uuid,
}

/// Every quoted 64-digit lowercase hex string in a JSON document: how answers name attachments (photos
/// are stored by the SHA-256 of their bytes). A byte scan, no parsing, that looks at one byte in 32: a run
/// of 64 hex digits always holds two sampled bytes 32 apart, and only where both are hex digits is the run
/// around them measured. Export runs this over every revision, so it must cost little next to reading.
pub fn attachment_refs(json: &[u8], out: &mut std::collections::BTreeSet<String>) {
    const LEN: usize = 64;
    const STEP: usize = LEN / 2;
    let hex = |at: usize| {
        json.get(at)
            .is_some_and(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    };
    let mut p = 0;
    while p < json.len() {
        if !(hex(p) && hex(p + STEP)) {
            p += STEP;
            continue;
        }
        let mut start = p;
        while start > 0 && hex(start - 1) {
            start -= 1;
        }
        let mut end = p + 1;
        while hex(end) {
            end += 1;
        }
        if end - start == LEN
            && start > 0
            && json.get(start - 1) == Some(&b'"')
            && json.get(end) == Some(&b'"')
            && let Some(c) = json.get(start..end)
        {
            out.insert(String::from_utf8_lossy(c).into_owned());
        }
        // `end` is not a hex digit: runs after it are found by sampling from there.
        p = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_attachment_references_in_json() {
        let h = "a".repeat(64);
        let doc = format!(
            r#"{{"foto":"{h}","x":"{}","y":"b","z":"{h}0"}}"#,
            "A".repeat(64)
        );
        let mut out = std::collections::BTreeSet::new();
        attachment_refs(doc.as_bytes(), &mut out);
        assert_eq!(out.into_iter().collect::<Vec<_>>(), vec![h]);
    }

    /// The plain scan the sampling one must agree with: every quote, then 64 hex digits and a quote.
    fn every_quote(json: &[u8]) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        for (i, _) in json.iter().enumerate().filter(|(_, b)| **b == b'"') {
            let Some(c) = json.get(i + 1..i + 65) else {
                continue;
            };
            if json.get(i + 65) == Some(&b'"')
                && c.iter()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            {
                out.insert(String::from_utf8_lossy(c).into_owned());
            }
        }
        out
    }

    /// Answers read the fast way, next to serde_json's own reading of the same text.
    fn both(answers_json: &str) -> (Result<Answers, String>, Result<Answers, String>) {
        #[derive(Deserialize)]
        struct Fast {
            #[serde(deserialize_with = "answers::deserialize")]
            answers: Answers,
        }
        #[derive(Deserialize)]
        struct Plain {
            answers: Answers,
        }
        let doc = format!(r#"{{"answers":{answers_json}}}"#);
        (
            serde_json::from_str::<Fast>(&doc)
                .map(|f| f.answers)
                .map_err(|e| e.to_string()),
            serde_json::from_str::<Plain>(&doc)
                .map(|p| p.answers)
                .map_err(|e| e.to_string()),
        )
    }

    #[test]
    fn answers_read_fast_are_the_answers_serde_json_reads() {
        for doc in [
            r#"{}"#,
            r#"{"b":"2","a":"1","c":[{"z":1,"y":-2,"x":3.5e3}],"d":null,"e":true,"f":["1","2"]}"#,
            r#"{"a":1,"a":2,"b":{"k":"v","k":"w"}}"#,
            r#"{"n":18446744073709551615,"m":-9223372036854775808,"u":"Ü\n\u00e9\"","o":{"p":{"q":[[],{}]}}}"#,
        ] {
            let (fast, plain) = both(doc);
            assert_eq!(fast, plain, "{doc}");
            assert!(fast.is_ok(), "{doc}");
        }
        // Not an object: refused, as serde_json refuses it.
        for doc in ["[]", "\"x\"", "1", "null"] {
            let (fast, plain) = both(doc);
            assert!(
                fast.is_err() && plain.is_err(),
                "{doc}: {fast:?} / {plain:?}"
            );
        }
        // Duplicate keys: the last one counts, as with serde_json.
        let (fast, _) = both(r#"{"a":1,"a":2}"#);
        assert_eq!(fast.unwrap()["a"], 2);
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            "[a-zA-Z0-9 \\\"é_]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(("[a-e]{1,2}", inner), 0..8).prop_map(|kv| {
                    // Written as text below, in this order, repeats included.
                    Value::Array(
                        kv.into_iter()
                            .map(|(k, v)| Value::Array(vec![Value::String(k), v]))
                            .collect(),
                    )
                }),
            ]
        })
    }

    /// JSON text for a generated value, where an array of [key, value] pairs becomes an object with
    /// those entries in that order (so objects with unsorted and repeated keys are written).
    fn text(v: &Value) -> String {
        match v {
            Value::Array(items)
                if !items.is_empty()
                    && items.iter().all(
                        |i| matches!(i, Value::Array(p) if p.len() == 2 && p[0].is_string()),
                    ) =>
            {
                let entries: Vec<String> = items
                    .iter()
                    .map(|i| format!("{}:{}", i[0], text(&i[1])))
                    .collect();
                format!("{{{}}}", entries.join(","))
            }
            Value::Array(items) => {
                format!("[{}]", items.iter().map(text).collect::<Vec<_>>().join(","))
            }
            other => other.to_string(),
        }
    }

    proptest::proptest! {
        #[test]
        fn any_answers_read_fast_equal_serde_json_s(
            entries in proptest::collection::vec(("[a-f]{1,3}", json_value()), 0..12)
        ) {
            let body: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), text(v)))
                .collect();
            let doc = format!("{{{}}}", body.join(","));
            let (fast, plain) = both(&doc);
            proptest::prop_assert!(plain.is_ok(), "{}", doc);
            proptest::prop_assert_eq!(fast, plain, "{}", doc);
        }

        #[test]
        fn sampling_finds_what_a_plain_scan_finds(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    "[0-9a-f]{60,68}",
                    "[0-9a-fA-F]{64}",
                    "[a-z0-9 ]{0,40}",
                    proptest::strategy::Just("\"".to_string()),
                    proptest::strategy::Just(",\"x\":".to_string()),
                ],
                0..40,
            )
        ) {
            let doc = parts.concat();
            let mut fast = std::collections::BTreeSet::new();
            attachment_refs(doc.as_bytes(), &mut fast);
            proptest::prop_assert_eq!(fast, every_quote(doc.as_bytes()));
        }
    }

    #[test]
    fn hashes_at_every_offset_and_side_by_side_are_found() {
        let a = "a".repeat(64);
        let b = "0123456789abcdef".repeat(4);
        for pad in 0..70 {
            let doc = format!(
                r#"{}"{a}","{b}"{}"{}""#,
                "x".repeat(pad),
                "1".repeat(pad),
                "f".repeat(65)
            );
            let mut out = std::collections::BTreeSet::new();
            attachment_refs(doc.as_bytes(), &mut out);
            assert_eq!(out, every_quote(doc.as_bytes()), "pad {pad}");
            assert!(out.contains(&a) && out.contains(&b), "pad {pad}");
        }
    }
}

/// Reading answers faster than `serde_json::Value` does, with the same result: an object's entries are
/// collected and the map built from them at once (a tablet writes keys in order, so that is one pass),
/// instead of inserting key by key into a B-tree. The registry reads a million revisions in an import;
/// this was a third of parsing them.
pub mod answers {
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Number, Value};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
        match d.deserialize_map(FastValue)? {
            Value::Object(m) => Ok(m),
            _ => Err(de::Error::custom("answers must be an object")),
        }
    }

    /// A JSON value, objects built in one go.
    struct FastValue;

    impl<'de> DeserializeSeed<'de> for FastValue {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(FastValue)
        }
    }

    impl<'de> Visitor<'de> for FastValue {
        type Value = Value;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::Number(v.into()))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::Number(v.into()))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(FastValue)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(v) = seq.next_element_seed(FastValue)? {
                out.push(v);
            }
            Ok(Value::Array(out))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut entries: Vec<(String, Value)> =
                Vec::with_capacity(map.size_hint().unwrap_or(16));
            while let Some(k) = map.next_key::<String>()? {
                let v = map.next_value_seed(FastValue)?;
                entries.push((k, v));
            }
            // Built from sorted entries in one pass; of repeated keys the last counts, as when inserted.
            Ok(Value::Object(entries.into_iter().collect()))
        }
    }
}
