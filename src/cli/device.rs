//! Subcommands that work on this device's store: init, petugas, record, search, demo.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::Subcommand;
use serde_json::json;
use uuid::Uuid;

use super::{Command, Exit, Failure, parse_answers, parse_day, read_input};
use crate::app::{AppError, Device, now};
use crate::model::printable::clean;
use crate::store::{Access, Opened, RecordHead, Status, StoreError};

#[derive(Debug, Subcommand)]
pub enum PetugasCommand {
    /// Add a petugas; the PIN is read from standard input (one line) and stored only as a hash.
    Add {
        /// The petugas's code, unique on this device (e.g. P001); used to sign in.
        #[arg(long)]
        code: String,
        /// The petugas's full name.
        #[arg(long)]
        name: String,
        /// Read the PIN from standard input (required, so it never appears in the process list).
        #[arg(long, required = true)]
        pin_stdin: bool,
    },
    /// List the petugas of this device.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Start a record (prints its id).
    New {
        /// The form id (e.g. `keluarga`); the newest version is used.
        #[arg(long)]
        form: String,
        /// The code of the petugas entering the family.
        #[arg(long)]
        petugas: String,
        /// Answers as JSON (a file, or `-` for standard input).
        #[arg(long)]
        answers: PathBuf,
    },
    /// Merge answers into a record as a new revision (`null` removes an answer).
    Set {
        /// The record id (as `record new` and `record list` print it).
        id: String,
        /// The code of the petugas making the change.
        #[arg(long)]
        petugas: String,
        /// The answers to merge, as JSON (a file, or `-` for standard input).
        #[arg(long)]
        answers: PathBuf,
        /// Why a final (or exported, accepted, rejected) record is being corrected.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Attach a photo (JPEG or PNG, at most 20 MB) to a photo field: stored once by content, as the app
    /// stores it, and answered as a new revision; prints the photo's SHA-256.
    Attach {
        /// The record id.
        id: String,
        /// The photo field (e.g. `foto_depan`, `foto_lantai`, `foto_dinding`, `foto_atap`).
        #[arg(long)]
        field: String,
        /// The photo file.
        file: PathBuf,
        /// The code of the petugas making the change.
        #[arg(long)]
        petugas: String,
        /// Why a final (or exported, accepted, rejected) record is being corrected.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Finalize a draft: refused while errors remain or warnings are not acknowledged.
    Finalize {
        /// The record id.
        id: String,
        /// The code of the petugas finalizing.
        #[arg(long)]
        petugas: String,
        /// Acknowledge the form's warnings (recorded with the revision); without it, warnings refuse.
        #[arg(long)]
        ack_warnings: bool,
        /// The date of "today" for the rules (YYYY-MM-DD); default: the device's date.
        #[arg(long, value_parser = parse_day)]
        today: Option<NaiveDate>,
    },
    /// List records, newest change first.
    List {
        /// Only records in this status.
        #[arg(long, value_parser = clap::value_parser!(Status))]
        status: Option<Status>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show a record's current answers, and with --history every revision.
    Show {
        /// The record id.
        id: String,
        /// Also print every revision: the audit trail.
        #[arg(long)]
        history: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl clap::ValueEnum for Status {
    fn value_variants<'a>() -> &'a [Self] {
        &Status::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

fn parse_id(s: &str) -> Result<Uuid, Failure> {
    Uuid::parse_str(s.trim())
        .map_err(|_| Failure::input(format!(
            "`{s}` is not a record id (a UUID): give the id as `pendata record new` or `pendata record list` prints it"
        )))
}

fn print_json(v: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Failure::internal(format!("cannot write JSON: {e}")))?;
    say!("{text}");
    Ok(())
}

fn answers_from(path: &Path) -> Result<crate::store::Answers, Failure> {
    let source = if path == Path::new("-") {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    parse_answers(&read_input(path)?, &source)
}

fn head_line(h: &RecordHead) -> String {
    format!(
        "{}  {:<8}  r{:<3}  {}  {:<13}  {:<24}  {}",
        h.id,
        h.status.as_str(),
        h.revision,
        h.updated_at.format("%Y-%m-%d %H:%M"),
        clean(&h.summary.desa),
        clean(&h.summary.head_name),
        clean(&h.summary.no_kk)
    ) + if h.base.is_some() {
        "  [kunjungan/visit]"
    } else {
        ""
    }
}

/// The name of a petugas command, for the log.
pub fn petugas_name(command: &PetugasCommand) -> &'static str {
    match command {
        PetugasCommand::Add { .. } => "petugas add",
        PetugasCommand::List { .. } => "petugas list",
    }
}

/// The name of a record command, for the log.
pub fn record_name(command: &RecordCommand) -> &'static str {
    match command {
        RecordCommand::New { .. } => "record new",
        RecordCommand::Set { .. } => "record set",
        RecordCommand::Attach { .. } => "record attach",
        RecordCommand::Finalize { .. } => "record finalize",
        RecordCommand::List { .. } => "record list",
        RecordCommand::Show { .. } => "record show",
    }
}

/// The petugas a record command acts as (`--petugas`): the PIN given must be theirs.
pub fn record_petugas(command: &RecordCommand) -> Option<&str> {
    match command {
        RecordCommand::New { petugas, .. }
        | RecordCommand::Set { petugas, .. }
        | RecordCommand::Attach { petugas, .. }
        | RecordCommand::Finalize { petugas, .. } => Some(petugas),
        RecordCommand::List { .. } | RecordCommand::Show { .. } => None,
    }
}

/// Opens the store for a command that only reads: the file is left as it is, unless it had to be
/// checked (not closed cleanly, or changed outside Pendata) or migrated, which the command then says.
pub fn open_for_reading(dir: &Path) -> Result<Device, Failure> {
    let device = super::open_device(dir, Access::ReadOnly)?;
    match device.store.opened() {
        Opened::AsAsked => {}
        Opened::Checked => eprintln!(
            "catatan: berkas data tidak ditutup dengan benar terakhir kali (atau diubah di luar Pendata), jadi diperiksa lengkap dan dibuka untuk ditulis / note: the store file was not closed properly last time (or was changed outside Pendata), so it was checked completely and opened for writing"
        ),
        Opened::Migrated => eprintln!(
            "catatan: berkas data berformat lama dan diperbarui ke format program ini / note: the store file had an older format and was migrated to this program's"
        ),
    }
    Ok(device)
}

/// `pendata check`: 0 intact, 1 damaged (with what to do), other failures as usual.
fn check(dir: &Path) -> Result<Exit, Failure> {
    let damaged = |problems: &str| {
        Failure::refused(format!(
            "data tablet RUSAK / the store is DAMAGED: {problems}
             Jangan hapus berkas itu dan jangan membuat data baru (`pendata init`): salin seluruh folder data {dir} ke tempat aman dan serahkan kepada petugas dukungan. Keluarga yang sudah diekspor aman di registri.
             Do not delete the file or start a new store (`pendata init`): copy the whole data folder {dir} somewhere safe and give it to support. Families already exported are safe at the registry.",
            dir = dir.display()
        ))
    };
    let device = match super::open_device(dir, Access::Checked) {
        Ok(device) => device,
        Err(AppError::Store(e @ StoreError::Corrupt { .. })) => {
            let what = match &e {
                StoreError::Corrupt { path, detail } => format!("{} ({detail})", path.display()),
                _ => e.to_string(),
            };
            return Err(Failure {
                source: Some(Box::new(e)),
                ..damaged(&what)
            });
        }
        Err(e) => return Err(e.into()),
    };
    let problems = device.check_store()?;
    if !problems.is_empty() {
        return Err(damaged(&problems.join("; ")));
    }
    let families = device.list(None)?.len();
    say!(
        "data tablet utuh / the store is intact: {families} keluarga / families; every page's checksum, every family's history, the change sequence and the indexes were checked"
    );
    Ok(Exit::Ok)
}

pub fn run(dir: &Path, command: Command) -> Result<Exit, Failure> {
    match command {
        Command::Init {
            device_name,
            registry_key,
            demo,
        } => {
            // Check the key file before anything is created.
            let key = registry_key
                .as_deref()
                .map(super::sync::read_registry_pub)
                .transpose()?;
            if let Some(bytes) = &key {
                let parsed = crate::bundle::keys::RegistryPub::parse(bytes)
                    .map_err(|e| Failure::input(format!("the registry key: {e}")))?;
                if parsed.demo != demo {
                    return Err(AppError::DemoMismatch { tablet_demo: demo }.into());
                }
            }
            let (device, info) = if demo {
                Device::init_demo(dir, &device_name)?
            } else {
                Device::init(dir, &device_name)?
            };
            if let Some(key) = key {
                device.set_registry_key(&key)?;
            }
            say!("{}", info.id);
            eprintln!(
                "device `{}` created in {}",
                clean(&info.name),
                dir.display()
            );
            if let Some(code) = device.store.recovery_code() {
                eprintln!(
                    "KODE PEMULIHAN / RECOVERY CODE: {code}\n\
                     Tulis dan simpan oleh supervisor; ditampilkan sekali ini saja. Kode ini membuka data tablet bila semua petugasnya tidak ada.\n\
                     Write it down and give it to the supervisor to keep; it is shown this once only. It opens the tablet's data when none of its petugas can.\n\
                     Add the first petugas now (`pendata petugas add`): until then the store is not protected by a PIN."
                );
            }
            if info.demo {
                eprintln!(
                    "a DEMO tablet: `pendata demo` fills it with synthetic families; only a demo registry imports its bundles"
                );
            }
            Ok(Exit::Ok)
        }
        Command::Petugas { command } => petugas(dir, command),
        Command::Record { command } => record(dir, command),
        Command::Check => check(dir),
        Command::Search { text, json, limit } => {
            let device = open_for_reading(dir)?;
            let found = device.search(&text, limit)?;
            if json {
                print_json(&found)?;
            } else {
                for h in &found {
                    say!("{}", head_line(h));
                }
                eprintln!("{} keluarga ditemukan / families found", found.len());
            }
            Ok(Exit::Ok)
        }
        Command::Demo {
            families,
            seed,
            drafts,
            petugas,
            wilayah,
        } => demo(dir, &petugas, families, seed, drafts, wilayah.as_deref()),
        Command::Device { json } => identity(dir, json),
        Command::Form { .. }
        | Command::Validate { .. }
        | Command::Export(_)
        | Command::ExportLog { .. }
        | Command::RegistryKey { .. }
        | Command::Bundle { .. }
        | Command::Receipt { .. }
        | Command::Purge { .. }
        | Command::Package { .. }
        | Command::Office { .. }
        | Command::Registry { .. } => Err(Failure::internal(
            "a command reached the device commands by mistake (a bug)",
        )),
    }
}

/// `pendata device`: this tablet's id, name and key fingerprint, as the registry will show them.
fn identity(dir: &Path, json: bool) -> Result<Exit, Failure> {
    let i = open_for_reading(dir)?.identity()?;
    let name = crate::model::printable::clean(&i.name);
    if json {
        let v = json!({
            "id": i.id,
            "short_id": crate::bundle::short(i.id),
            "name": name,
            "fingerprint": i.fingerprint,
            "public_key": i.public_key,
            "age_recipient": i.age_recipient,
        });
        say!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        say!("device      {} ({})", i.id, crate::bundle::short(i.id));
        say!("name        {name}");
        say!("fingerprint {}", i.fingerprint);
    }
    Ok(Exit::Ok)
}

/// `petugas add` and `petugas list`.
fn petugas(dir: &Path, command: PetugasCommand) -> Result<Exit, Failure> {
    let device = match command {
        PetugasCommand::List { .. } => open_for_reading(dir)?,
        PetugasCommand::Add { .. } => super::open_device(dir, crate::store::Access::Write)?,
    };
    match command {
        PetugasCommand::Add { code, name, .. } => {
            let mut pin = String::new();
            std::io::stdin().read_to_string(&mut pin).map_err(|e| {
                Failure::input(format!("cannot read the PIN from standard input: {e}"))
            })?;
            let pin = pin.lines().next().unwrap_or_default().trim().to_string();
            let p = device.add_petugas(&code, &name, &pin)?;
            say!("{}\t{}", clean(&p.code), clean(&p.name));
            Ok(Exit::Ok)
        }
        PetugasCommand::List { json } => {
            let list = device.petugas()?;
            if json {
                let v: Vec<_> = list
                    .iter()
                    .map(|p| json!({"code": p.code, "name": p.name, "created_at": p.created_at}))
                    .collect();
                print_json(&v)?;
            } else {
                for p in list {
                    say!("{}\t{}", clean(&p.code), clean(&p.name));
                }
            }
            Ok(Exit::Ok)
        }
    }
}

fn record(dir: &Path, command: RecordCommand) -> Result<Exit, Failure> {
    let device = match command {
        RecordCommand::List { .. } | RecordCommand::Show { .. } => open_for_reading(dir)?,
        RecordCommand::New { .. }
        | RecordCommand::Set { .. }
        | RecordCommand::Attach { .. }
        | RecordCommand::Finalize { .. } => super::open_device(dir, crate::store::Access::Write)?,
    };
    match command {
        RecordCommand::New {
            form,
            petugas,
            answers,
        } => {
            let answers = answers_from(&answers)?;
            let head = device.new_record(&form, &petugas, answers)?;
            say!("{}", head.id);
            Ok(Exit::Ok)
        }
        RecordCommand::Set {
            id,
            petugas,
            answers,
            reason,
        } => {
            let id = parse_id(&id)?;
            let patch = answers_from(&answers)?;
            let head = device.set_answers(id, &petugas, patch, reason.as_deref())?;
            say!("{} r{} {}", head.id, head.revision, head.status);
            Ok(Exit::Ok)
        }
        RecordCommand::Attach {
            id,
            field,
            file,
            petugas,
            reason,
        } => {
            let id = parse_id(&id)?;
            let (head, hash) =
                device.attach_photo(id, &field, &file, &petugas, reason.as_deref())?;
            say!("{hash}");
            eprintln!("{} r{} {}: {field}", head.id, head.revision, head.status);
            Ok(Exit::Ok)
        }
        RecordCommand::Finalize {
            id,
            petugas,
            ack_warnings,
            today,
        } => {
            let id = parse_id(&id)?;
            let today = today.unwrap_or_else(|| now().date_naive());
            let head = device.finalize(id, &petugas, ack_warnings, today)?;
            say!("{} r{} {}", head.id, head.revision, head.status);
            Ok(Exit::Ok)
        }
        RecordCommand::List { status, json } => {
            let list = device.list(status)?;
            if json {
                print_json(&list)?;
            } else {
                for h in &list {
                    say!("{}", head_line(h));
                }
            }
            Ok(Exit::Ok)
        }
        RecordCommand::Show { id, history, json } => show(&device, &id, history, json),
    }
}

/// `record show`: the head, the answers and (with `history`) every revision.
fn show(device: &Device, id: &str, history: bool, json: bool) -> Result<Exit, Failure> {
    let id = parse_id(id)?;
    let (head, answers) = device.record(id)?;
    let revisions = if history {
        Some(device.history(id)?)
    } else {
        None
    };
    if json {
        print_json(&json!({"record": head, "answers": answers, "history": revisions}))?;
        return Ok(Exit::Ok);
    }
    say!("{}", head_line(&head));
    say!(
        "form {} {} · created {} by {}",
        head.form_id,
        head.form_version,
        head.created_at,
        head.created_by
    );
    for r in head.rejection_reasons() {
        say!("ditolak / rejected: {} / {}", r.id, r.en);
    }
    print_json(&answers)?;
    for r in revisions.unwrap_or_default() {
        say!(
            "r{:<3} seq {:<6} {:<10} {:<8} {} by {}{}",
            r.number,
            r.seq,
            format!("{:?}", r.action).to_lowercase(),
            r.status.as_str(),
            r.at,
            r.petugas,
            r.reason.map(|x| format!(" — {x}")).unwrap_or_default()
        );
    }
    Ok(Exit::Ok)
}

/// `pendata demo`: fills a demo tablet with synthetic families (of `wilayah` when given).
fn demo(
    dir: &Path,
    petugas: &str,
    families: usize,
    seed: Option<u64>,
    drafts: u8,
    wilayah: Option<&str>,
) -> Result<Exit, Failure> {
    let device = super::open_device(dir, crate::store::Access::Write)?;
    // A demo petugas made now takes the PIN this command was given (else the demo's 123456).
    if let (Err(_), Some(pin), true) = (
        device.find_petugas(petugas),
        super::given_pin(),
        device.store.device()?.demo,
    ) && crate::store::check_petugas(petugas, "Petugas Demo", &pin).is_ok()
    {
        device.add_petugas(petugas, "Petugas Demo", &pin)?;
    }
    let made = device.demo(petugas, families, seed, drafts, wilayah)?;
    say!(
        "{} keluarga dibuat / families created ({} draft)",
        made.total,
        made.drafts
    );
    Ok(Exit::Ok)
}
