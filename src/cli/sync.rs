//! Sync commands: export, registry key, bundle inspect, receipts, purge, and `registry init`.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::{ArgGroup, Args, Subcommand};
use serde_json::json;

use super::{Exit, Failure};
use crate::app::sync::{ExportOutcome, Selection, Stage};
use crate::bundle::keys::RegistryPub;
use crate::bundle::{self, read};
use crate::store::Access;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").args(["since_last", "all", "range"])))]
pub struct ExportArgs {
    /// The folder to write the bundle to (the stick's folder).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Everything finalized since the previous export (the default).
    #[arg(long)]
    pub since_last: bool,
    /// Every final revision again.
    #[arg(long)]
    pub all: bool,
    /// A range of the change sequence again, `A..B` (for a lost stick; see `pendata export-log`).
    #[arg(long, value_parser = parse_range, value_name = "A..B")]
    pub range: Option<(u64, u64)>,
    /// Who exports (kept in the export log).
    #[arg(long, default_value = "-")]
    pub petugas: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RegistryKeyCommand {
    /// Set the registry's public key from its `registry.pub` file (e.g. on the stick).
    Set {
        /// The `registry.pub` file.
        file: PathBuf,
        /// Replace the registry key this tablet already trusts by another one (both fingerprints are
        /// shown; confirm the new one with the registry's office first).
        #[arg(long)]
        replace: bool,
    },
    /// Show the registry key this tablet encrypts to.
    Show,
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Show what a bundle reveals: without a key only the outside; with the registry's age identity
    /// file the manifest and a verification verdict (signature, hashes, counts). Exit 1 if it fails.
    Inspect {
        /// The bundle file (`pendata-….age`).
        file: PathBuf,
        /// The registry's age identity file (keys/registry-age.key).
        #[arg(long, value_name = "KEYFILE")]
        identity: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Apply a receipt from the registry: families become Accepted or Rejected (with reasons).
    /// Applying the same receipt twice changes nothing.
    Apply {
        /// The receipt file (`pendata-receipt-….json`).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the receipts applied on this tablet.
    List,
}

pub(super) fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("`{s}` is not a range A..B"))?;
    let a: u64 = a
        .trim()
        .parse()
        .map_err(|_| format!("`{a}` is not a number"))?;
    let b: u64 = b
        .trim()
        .trim_start_matches('=')
        .parse()
        .map_err(|_| format!("`{b}` is not a number"))?;
    if a == 0 || a > b {
        return Err(format!(
            "`{s}`: a range starts at 1 or later and does not run backwards"
        ));
    }
    Ok((a, b))
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| super::unreadable(path, &e))
}

/// Reads and checks a `registry.pub` before anything is changed.
pub fn read_registry_pub(path: &Path) -> Result<Vec<u8>, Failure> {
    let bytes = read_file(path)?;
    RegistryPub::parse(&bytes).map_err(|e| {
        Failure::input(format!(
            "{}: {e}; give the registry.pub file made by `pendata registry init`",
            path.display()
        ))
    })?;
    Ok(bytes)
}

pub fn export(dir: &Path, args: ExportArgs) -> Result<Exit, Failure> {
    // Checked completely first: a damaged page read during the export would stop it half-way.
    let device = super::open_device(dir, Access::Checked)?;
    let selection = match (args.all, args.range) {
        (true, _) => Selection::All,
        (_, Some((a, b))) => Selection::Range(a, b),
        _ => Selection::SinceLast,
    };
    let interactive = !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last = (Stage::Collecting, -1.0f32);
    let outcome = device.export(&args.to, selection, &args.petugas, &mut |stage, f| {
        if interactive && (stage != last.0 || f - last.1 >= 0.05) {
            last = (stage, f);
            let name = match stage {
                Stage::Collecting => "mengumpulkan / collecting",
                Stage::Writing => "menulis / writing",
                Stage::Verifying => "memeriksa / verifying",
                Stage::Marking => "menandai / marking",
            };
            eprint!("\r{name:<28} {:>3}%", (f * 100.0) as u32);
        }
    });
    if interactive {
        eprintln!();
    }
    match outcome? {
        ExportOutcome::Nothing { from, to } => {
            if args.json {
                say!("{}", json!({"written": false, "from": from, "to": to}));
            } else if from > to {
                say!(
                    "tidak ada yang baru untuk diekspor / nothing new to export since the last export"
                );
            } else {
                say!(
                    "tidak ada keluarga final untuk diekspor / nothing to export: no final family in sequence {from}..{to} (drafts stay on the tablet)"
                );
            }
            Ok(Exit::Ok)
        }
        ExportOutcome::Written(e) => {
            if args.json {
                say!("{}", serde_json::to_string_pretty(&*e).unwrap_or_default());
            } else {
                say!("{}", e.path.display());
                say!(
                    "{} keluarga / families, {} revisi / revisions, {} foto / photos, sequence {}..{}, {} bytes",
                    e.families,
                    e.revisions,
                    e.attachments,
                    e.from,
                    e.to,
                    e.size
                );
                say!("SHA-256 {}", e.sha256);
                say!(
                    "terverifikasi, aman untuk dicabut / verified, safe to remove ({} marked exported, {} exported again, {} changed since and left as they are)",
                    e.marked.exported,
                    e.marked.again,
                    e.marked.unchanged
                );
            }
            Ok(Exit::Ok)
        }
    }
}

pub fn export_log(dir: &Path, json_out: bool) -> Result<Exit, Failure> {
    let device = super::device::open_for_reading(dir)?;
    let log = device.exports()?;
    if json_out {
        say!("{}", serde_json::to_string_pretty(&log).unwrap_or_default());
        return Ok(Exit::Ok);
    }
    for e in &log {
        say!(
            "{}\t{}..{}\t{} families\t{}\t{}",
            e.at.format("%Y-%m-%d %H:%M"),
            e.from,
            e.to,
            e.records,
            e.kind,
            e.file
        );
    }
    if log.is_empty() {
        say!("belum pernah ekspor / no export yet");
    }
    Ok(Exit::Ok)
}

pub fn registry_key(dir: &Path, command: RegistryKeyCommand) -> Result<Exit, Failure> {
    let device = match command {
        RegistryKeyCommand::Show => super::device::open_for_reading(dir)?,
        RegistryKeyCommand::Set { .. } => super::open_device(dir, crate::store::Access::Write)?,
    };
    match command {
        RegistryKeyCommand::Set { file, replace } => {
            let bytes = read_registry_pub(&file)?;
            let before = device.registry_key()?;
            let key = if replace {
                device.replace_registry_key(&bytes)?
            } else {
                device.set_registry_key(&bytes)?
            };
            match before {
                Some(old) if !old.same_keys(&key) => say!(
                    "registry key replaced: {} (fingerprint {}) instead of {} (fingerprint {}); receipts and work packages signed by the old key are refused from now on",
                    key.name,
                    key.fingerprint(),
                    old.name,
                    old.fingerprint()
                ),
                _ => say!(
                    "registry key set: {} (fingerprint {})",
                    key.name,
                    key.fingerprint()
                ),
            }
            Ok(Exit::Ok)
        }
        RegistryKeyCommand::Show => match device.registry_key()? {
            Some(key) => {
                say!("{}", key.to_json().trim_end());
                say!("fingerprint {}", key.fingerprint());
                Ok(Exit::Ok)
            }
            None => Err(Failure::refused(
                "no registry key set: copy registry.pub from the registry and run `pendata registry-key set FILE`",
            )),
        },
    }
}

/// What a bundle shows without the registry's key: its size, encryption, recipients and name.
fn print_outside(
    name: &str,
    outside: &read::Outside,
    named: Option<&bundle::NameInfo>,
    json_out: bool,
) -> Result<(), Failure> {
    if json_out {
        say!(
            "{}",
            json!({
                "file": name,
                "size": outside.size,
                "encryption": outside.age_version,
                "recipients": outside.recipients,
                "name": named.as_ref().map(|n| json!({"device": n.device, "date": n.date, "time": n.time, "from": n.from, "to": n.to})),
            })
        );
    } else {
        say!(
            "{name}: {} bytes, encrypted ({})",
            outside.size,
            outside.age_version
        );
        say!(
            "  {} recipient(s): {}",
            outside.recipients.len(),
            outside.recipients.join(", ")
        );
        match named {
            Some(n) => say!(
                "  by its name: device {}, {} {}, sequence {}..{}",
                n.device,
                n.date,
                n.time,
                n.from,
                n.to
            ),
            None => say!("  the name is not a Pendata bundle name"),
        }
        say!(
            "  nothing else is readable without the registry's key (--identity keys/registry-age.key)"
        );
    }
    Ok(())
}

pub fn bundle(command: BundleCommand) -> Result<Exit, Failure> {
    let BundleCommand::Inspect {
        file,
        identity,
        json: json_out,
    } = command;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let named = bundle::parse_file_name(&name);
    let refused =
        |e: bundle::BundleError| Failure::of(e).about(format!("{}: refused", file.display()));
    std::fs::metadata(&file).map_err(|e| super::unreadable(&file, &e))?;
    // Only a regular file of a bundle's size: a pipe or a device would never end.
    let f = crate::registry::import::open_regular(&file, bundle::MAX_FILE_BYTES)
        .map_err(|why| Failure::input(format!("{}: {why}", file.display())))?;
    let outside = read::outside(std::io::BufReader::new(f)).map_err(refused)?;
    let Some(identity) = identity else {
        print_outside(&name, &outside, named.as_ref(), json_out)?;
        return Ok(Exit::Ok);
    };
    // The identity file is the user's input here, whatever went wrong reading it.
    let passphrase = if crate::registry::keys::is_sealed(&identity) {
        super::registry::ask_passphrase()?
    } else {
        None
    };
    let id = crate::registry::read_age_identity_with(&identity, passphrase.as_ref())
        .map_err(|e| Failure::from(e).with_exit(Exit::BadInput))?;
    let f = std::fs::File::open(&file).map_err(|e| super::unreadable(&file, &e))?;
    let mut photos = 0u64;
    let verified = read::read(f, std::slice::from_ref(&id), |item| {
        if let read::Item::Attachment { .. } = item {
            photos += 1;
        }
        Ok(())
    })
    .map_err(refused)?;
    let m = &verified.manifest;
    if let Some(n) = &named
        && (n.from, n.to) != (m.sequence.from, m.sequence.to)
    {
        return Err(Failure::refused(format!(
            "{}: refused: the file name says sequence {}..{}, the signed manifest {}..{} (renamed?): use the file as the tablet wrote it",
            file.display(),
            n.from,
            n.to,
            m.sequence.from,
            m.sequence.to
        )));
    }
    if json_out {
        say!(
            "{}",
            json!({"file": name, "verified": true, "manifest": m, "size": outside.size})
        );
    } else {
        say!("{name}: verified — signature, hashes and counts match");
        say!(
            "  device {} ({}), key {}",
            m.device.id,
            m.device.name,
            m.device.public_key
        );
        say!(
            "  created {}, {:?}, sequence {}..{}",
            m.created_at.to_rfc3339(),
            m.kind,
            m.sequence.from,
            m.sequence.to
        );
        say!(
            "  {} families, {} revisions, {} photos; petugas {}",
            m.counts.records,
            m.counts.revisions,
            photos,
            m.petugas.join(", ")
        );
        for f in &m.forms {
            say!("  form {} version {}", f.id, f.version);
        }
        for p in &m.parts {
            say!("  {} {} bytes sha256 {}", p.path, p.size, p.sha256);
        }
    }
    Ok(Exit::Ok)
}

pub fn receipt(dir: &Path, command: ReceiptCommand) -> Result<Exit, Failure> {
    let device = match command {
        ReceiptCommand::List => super::device::open_for_reading(dir)?,
        ReceiptCommand::Apply { .. } => super::open_device(dir, crate::store::Access::Write)?,
    };
    match command {
        ReceiptCommand::Apply {
            file,
            json: json_out,
        } => {
            let bytes = read_file(&file)?;
            let (receipt, out, first) = device
                .apply_receipt(&bytes)
                .map_err(|e| Failure::from(e).about(file.display()))?;
            if json_out {
                say!(
                    "{}",
                    json!({"receipt": receipt.receipt_id, "first_time": first, "outcome": out, "visits": receipt.visits})
                );
                return Ok(Exit::Ok);
            }
            if !first {
                say!(
                    "kuitansi ini sudah diterapkan / this receipt was applied before: nothing changed"
                );
            }
            say!(
                "{} diterima / accepted, {} ditolak / rejected, {} unchanged, {} superseded by a newer revision, {} unknown",
                out.accepted,
                out.rejected,
                out.unchanged,
                out.stale,
                out.unknown
            );
            if !receipt.visits.is_empty() {
                let conflicts = receipt
                    .visits
                    .iter()
                    .filter(|v| v.merged == crate::bundle::receipt::VisitMerged::Conflict)
                    .count();
                say!(
                    "{} kunjungan memperbarui keluarga di registri, {} menunggu keputusan operator / {} visits updated their families at the registry, {} wait for an operator",
                    receipt.visits.len() - conflicts,
                    conflicts,
                    receipt.visits.len() - conflicts,
                    conflicts
                );
            }
            for r in &receipt.rejected {
                for reason in &r.reasons {
                    say!(
                        "  {} rev {}: {} / {}",
                        r.record,
                        r.revision,
                        reason.id,
                        reason.en
                    );
                }
            }
            Ok(Exit::Ok)
        }
        ReceiptCommand::List => {
            for r in device.receipts()? {
                say!(
                    "{}\t{}\t{} accepted\t{} rejected\t{}",
                    r.applied_at.format("%Y-%m-%d %H:%M"),
                    r.registry,
                    r.outcome.accepted,
                    r.outcome.rejected,
                    r.receipt_id
                );
            }
            Ok(Exit::Ok)
        }
    }
}

pub fn purge(dir: &Path, before: NaiveDate) -> Result<Exit, Failure> {
    let device = super::open_device(dir, crate::store::Access::Write)?;
    if before > crate::app::now().date_naive() + chrono::Duration::days(1) {
        return Err(Failure::input(format!(
            "{before} is in the future: purge removes families accepted before a date that has passed"
        )));
    }
    let p = device.purge_accepted_before(before)?;
    // Deleted rows leave their bytes in free pages: the live data goes into a new file.
    if p.records > 0 && device.store.is_encrypted() {
        device.erase_freed()?;
    }
    say!(
        "{} keluarga dihapus dari tablet / families removed ({} revisions, {} photos, {} bytes of photos)",
        p.records,
        p.revisions,
        p.attachments,
        p.attachment_bytes
    );
    Ok(Exit::Ok)
}
