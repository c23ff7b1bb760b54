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

    proptest::proptest! {
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
