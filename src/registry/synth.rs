//! Test and benchmark support: synthetic tablets that make real, signed and encrypted bundles without a
//! device store, so registry tests and benchmarks can make thousands of them quickly — including
//! revisions a real tablet would refuse to finalize.

use chrono::{DateTime, Duration, FixedOffset};
use ed25519_dalek::SigningKey;
use uuid::Uuid;

use crate::bundle::manifest::{DeviceRef, ExportKind, SeqRange};
use crate::bundle::write::{AttachmentSource, Builder, Header};
use crate::bundle::{Result, hex};
use crate::model::record::{Action, Answers, Revision, Status, VisitBase};

struct NoAttachments;

impl AttachmentSource for NoAttachments {
    fn attachment(&mut self, _hash: &str) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

/// A tablet that only exists to make bundles: an id, a key and a change sequence.
pub struct SynthTablet {
    pub id: Uuid,
    pub name: String,
    pub key: SigningKey,
    pub petugas: String,
    /// The last sequence position used.
    pub seq: u64,
    /// Revisions made and not yet put into a bundle: (seq, JSON line).
    pending: Vec<(u64, Vec<u8>)>,
    /// Where the next bundle starts.
    next_from: u64,
    pub clock: DateTime<FixedOffset>,
    /// The household form's version its revisions name (the latest built-in one).
    pub form_version: u64,
    /// The base its next revisions carry: set while it makes a visit of a registry family.
    pub visit: Option<VisitBase>,
    /// The age recipient its bundles' manifests give (a real tablet's work package key), if any.
    pub age_recipient: Option<String>,
}

impl SynthTablet {
    /// A tablet whose id and key follow from `n` (deterministic).
    pub fn new(n: u64, clock: DateTime<FixedOffset>) -> SynthTablet {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&n.to_le_bytes());
        seed[8] = 0x5e;
        SynthTablet {
            // The tablet number in the first and the last 8 hex digits: its file names and short id differ.
            id: Uuid::from_u128(
                (u128::from(0x0193_0000u32.wrapping_add(n as u32)) << 96)
                    | 0x0000_0000_0000_7000_8000_0000_0000_0000
                    | u128::from(n),
            ),
            name: format!("Tablet {n:04}"),
            key: SigningKey::from_bytes(&seed),
            petugas: format!("P{n:04}"),
            seq: 0,
            pending: Vec::new(),
            next_from: 1,
            clock,
            form_version: crate::form::catalog::Catalog::shared()
                .ok()
                .and_then(|c| c.latest("keluarga"))
                .map_or(1, |f| f.version),
            visit: None,
            age_recipient: None,
        }
    }

    /// Appends a revision of `record` and returns its sequence position. `Finalized` and `Corrected`
    /// go into the next bundle; drafts only take a position.
    pub fn revise(
        &mut self,
        record: Uuid,
        number: u32,
        action: Action,
        answers: Answers,
        acknowledged: Vec<String>,
    ) -> u64 {
        self.seq += 1;
        self.clock += Duration::minutes(3);
        let status = match action {
            Action::Finalized => Status::Final,
            _ => Status::Draft,
        };
        let rev = Revision {
            record,
            number,
            seq: self.seq,
            action,
            status,
            form_id: "keluarga".into(),
            form_version: self.form_version,
            answers,
            petugas: self.petugas.clone(),
            device: self.id,
            at: self.clock,
            reason: (action == Action::Corrected).then(|| "koreksi".to_string()),
            acknowledged,
            base: self.visit.clone().map(Box::new),
        };
        if matches!(action, Action::Finalized | Action::Corrected) {
            self.pending
                .push((self.seq, serde_json::to_vec(&rev).unwrap_or_default()));
        }
        self.seq
    }

    /// Seals what was made since the previous bundle into a bundle encrypted to `recipients`.
    pub fn bundle(&mut self, recipients: &[age::x25519::Recipient]) -> Result<Vec<u8>> {
        let from = self.next_from;
        let to = self.seq;
        let lines: Vec<Vec<u8>> = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        self.next_from = to + 1;
        self.make(from, to, &lines, recipients, ExportKind::Incremental)
    }

    /// A bundle of exactly these lines over `from..=to`.
    pub fn make(
        &self,
        from: u64,
        to: u64,
        lines: &[Vec<u8>],
        recipients: &[age::x25519::Recipient],
        kind: ExportKind,
    ) -> Result<Vec<u8>> {
        let mut b = Builder::new()?;
        for l in lines {
            b.add_revision(l)?;
        }
        let header = Header {
            created_at: self.clock,
            device: DeviceRef {
                id: self.id,
                name: self.name.clone(),
                public_key: hex(self.key.verifying_key().as_bytes()),
                age_recipient: self.age_recipient.clone(),
                demo: false,
            },
            sequence: SeqRange { from, to },
            kind,
        };
        let sealed = b.seal(header, &self.key, &mut NoAttachments)?;
        sealed.encrypt_to(recipients, &mut NoAttachments, Vec::new())
    }

    /// The file name a real tablet would give the next bundle.
    pub fn file_name(&self, from: u64, to: u64) -> String {
        crate::bundle::file_name(self.id, self.clock, from, to)
    }
}
