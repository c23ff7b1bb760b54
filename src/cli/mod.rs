//! The command line: clap definitions and the subcommands, a thin face over `app` and `registry`.
//! Errors are printed once ([`exit::report`]) with the exit codes of [`exit::Exit`]; each command's start,
//! end, duration and outcome go to the log (`crate::log`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use crate::form::catalog::Catalog;
use crate::form::compile::DataFiles;
use crate::form::{Form, Severity, evaluate};

/// Prints a line to standard output; a closed pipe (`pendata record list | head`) ends the command
/// quietly instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err($crate::cli::Failure::output)?
    }};
}

mod chain;
mod device;
pub mod exit;
mod packages;
mod registry;
mod sync;

pub use exit::{Exit, Failure};

#[derive(Debug, Parser)]
#[command(
    name = "pendata",
    version,
    about = "Pendata — offline household assessment for DTSEN (Dinas Sosial)",
    long_about = "Pendata — offline household assessment for DTSEN (Dinas Sosial).\n\n\
                  Every action of the tablet app has a command here, for scripting, registry work and tests.\n\n\
                  Exit codes: 0 done; 1 refused, or something needs an operator; 2 bad input or usage; \
                  3 an internal failure (give pendata.log to support). The log is pendata.log in the data \
                  directory (for `pendata registry …`: in the registry's folder)."
)]
pub struct Cli {
    /// The data directory (default: $PENDATA_DATA_DIR, else the platform's data directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Also print the log's lines (what the program does, with timings) on standard error.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Read the PIN that unlocks the store (a petugas's, or the recovery code) from the first line of
    /// standard input; without it, from `PENDATA_PIN`.
    #[arg(long)]
    pub pin_stdin: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The secret that unlocks the store for this command (`--pin-stdin` or `PENDATA_PIN`).
static SECRET: std::sync::Mutex<Option<zeroize::Zeroizing<String>>> = std::sync::Mutex::new(None);

/// The petugas the command acts as (its `--petugas`), whose PIN must unlock the store: a petugas cannot
/// act as another with their own PIN, and only that petugas's key slot is tried (one key derivation
/// instead of one per petugas).
static ACTING: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// The petugas a command names with `--petugas`, if it acts as one.
fn acting_petugas(command: Option<&Command>) -> Option<&str> {
    let code = match command? {
        Command::Record { command } => device::record_petugas(command)?,
        Command::Package { command } => packages::package_petugas(command)?,
        Command::Demo { petugas, .. } => petugas,
        // `-`: the export's default, nobody named.
        Command::Export(args) if args.petugas.trim() != "-" => &args.petugas,
        _ => return None,
    };
    Some(code.trim())
}

/// Takes the unlocking secret for the command about to run.
fn take_secret(pin_stdin: bool) -> Result<(), Failure> {
    let secret = if pin_stdin {
        let mut line = zeroize::Zeroizing::new(String::new());
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| Failure::input(format!("cannot read the PIN from standard input: {e}")))?;
        Some(zeroize::Zeroizing::new(line.trim().to_string()))
    } else {
        std::env::var("PENDATA_PIN")
            .ok()
            .filter(|p| !p.trim().is_empty())
            .map(|p| zeroize::Zeroizing::new(p.trim().to_string()))
    };
    *SECRET
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = secret;
    Ok(())
}

/// The PIN this command was given (`--pin-stdin`, `PENDATA_PIN`), if any.
pub(crate) fn given_pin() -> Option<zeroize::Zeroizing<String>> {
    SECRET
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Opens the device's store as `access` asks, unlocked by the command's secret (a store with no
/// petugas yet opens without one).
pub(crate) fn open_device(
    dir: &Path,
    access: crate::store::Access,
) -> crate::app::Result<crate::app::Device> {
    use crate::app::AppError;
    use crate::store::{StoreError, Unlock};
    let secret = given_pin();
    let acting = ACTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let unlock = match (secret.as_deref(), acting.as_deref()) {
        (Some(s), Some(code)) if !crate::store::keys::is_recovery_code(s) => {
            Unlock::Pin { code, pin: s }
        }
        (Some(s), _) => Unlock::Secret(s),
        (None, _) => Unlock::Setup,
    };
    let device = match (
        crate::app::Device::open_as(dir, access, unlock),
        secret.as_deref(),
    ) {
        // A petugas the store does not know yet (`demo` adds its own): opened by whose PIN it is; the
        // command itself then refuses a petugas it cannot use.
        (Err(AppError::Store(StoreError::UnknownPetugas(_))), Some(s))
            if matches!(unlock, Unlock::Pin { .. }) =>
        {
            crate::app::Device::open_as(dir, access, Unlock::Secret(s))?
        }
        (opened, _) => opened?,
    };
    // A store of an earlier build was encrypted on this open: its new recovery code, shown once.
    if let Some(code) = device.store.recovery_code() {
        eprintln!(
            "data tablet kini terenkripsi / the store is now encrypted.\n\
             KODE PEMULIHAN / RECOVERY CODE: {code}\n\
             Tulis dan simpan oleh supervisor; ditampilkan sekali ini saja. / Write it down and give it to the supervisor to keep; it is shown this once only."
        );
    }
    Ok(device)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with form files.
    Form {
        #[command(subcommand)]
        command: FormCommand,
    },
    /// Validate a set of answers against a form and print every error and warning.
    Validate {
        /// The form id (e.g. `keluarga`).
        #[arg(long)]
        form: String,
        /// A specific form version (yyyymmddrr); default: the newest.
        #[arg(long)]
        form_version: Option<u64>,
        /// The answers as a JSON file, or `-` for standard input.
        #[arg(long)]
        answers: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// The date of "today" for the rules (YYYY-MM-DD); default: the device's date.
        #[arg(long, value_parser = parse_day)]
        today: Option<NaiveDate>,
    },
    /// Create this device's store: device id, name and signing key. Refuses to overwrite a store.
    Init {
        /// What people call this tablet, e.g. "Tablet Palaran 01" (bundles and the registry show it).
        #[arg(long)]
        device_name: String,
        /// The registry's public key file (registry.pub), so the tablet can export right away.
        #[arg(long, value_name = "FILE")]
        registry_key: Option<PathBuf>,
        /// A demo tablet, for training and demonstrations: only it takes `pendata demo`'s synthetic
        /// families, and its bundles are marked demo, which only a demo registry imports.
        #[arg(long)]
        demo: bool,
    },
    /// Petugas (field workers) of this device.
    Petugas {
        #[command(subcommand)]
        command: device::PetugasCommand,
    },
    /// Household records: create, change, finalize, list, show.
    Record {
        #[command(subcommand)]
        command: device::RecordCommand,
    },
    /// Find families by name, NIK or KK prefix and address words.
    Search {
        /// What to look for: a name, a NIK or KK prefix, address words.
        text: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// At most this many families, newest change first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Check the tablet's store completely: every page's checksum, then each family's history, the
    /// change sequence and the indexes. Exit 0: intact; 1: damaged (said in words, with what to do).
    Check,
    /// Fill a demo tablet's store (`pendata init --demo`) with realistic synthetic families (demos,
    /// training, benchmarks).
    Demo {
        /// How many families to add.
        #[arg(long)]
        families: usize,
        /// The random seed: the same seed makes the same families. Default: one of this tablet's own
        /// (from its device id and its changes so far), so two tablets never make the same ones.
        #[arg(long)]
        seed: Option<u64>,
        /// Share of families left as drafts, in percent.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100))]
        drafts: u8,
        /// The petugas the families are entered by (created with PIN 123456 when missing).
        #[arg(long, default_value = "DEMO")]
        petugas: String,
        /// Only families living in this region: a kabupaten/kota (`64.72`, for a kabupaten registry's
        /// demo), a kecamatan (`64.72.01`) or a desa code. Default: the whole province.
        #[arg(long)]
        wilayah: Option<String>,
    },
    /// Write a sync bundle (signed, encrypted to the registry) to a folder, e.g. a USB stick; only then
    /// mark its families exported.
    Export(sync::ExportArgs),
    /// The bundles written from this tablet, newest first.
    ExportLog {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The registry's public key this tablet encrypts bundles to.
    RegistryKey {
        #[command(subcommand)]
        command: sync::RegistryKeyCommand,
    },
    /// Look inside a sync bundle and verify it.
    Bundle {
        #[command(subcommand)]
        command: sync::BundleCommand,
    },
    /// Receipts from the registry.
    Receipt {
        #[command(subcommand)]
        command: sync::ReceiptCommand,
    },
    /// Remove families the registry accepted before DATE from this tablet (their history goes too;
    /// everything else stays).
    Purge {
        /// Remove the families whose acceptance by the registry came before this day.
        #[arg(long, value_parser = parse_day, value_name = "YYYY-MM-DD")]
        accepted_before: NaiveDate,
    },
    /// Work packages from the registry: families to visit (verivali).
    Package {
        #[command(subcommand)]
        command: packages::PackageCommand,
    },
    /// This tablet as the registry knows it: device id, name and key fingerprint (the operator compares
    /// the fingerprint with `pendata registry devices DIR list` before approving the tablet).
    Device {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The registry office's screens (dashboard, import, devices, work queue, families, receipts,
    /// reports) on the registry in DIR, or on the one set up on this PC most recently.
    Office {
        /// The registry's folder (default: the one `registry init` or the office opened last here).
        dir: Option<PathBuf>,
    },
    /// The provincial registry's tools.
    Registry {
        #[command(flatten)]
        who: registry::Who,
        #[command(subcommand)]
        command: registry::RegistryCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum FormCommand {
    /// Check a form file: structure, names, references, expressions, types, choice lists.
    Check {
        /// The form file (JSON); data files are looked up next to it.
        file: PathBuf,
    },
    /// List the forms built into this program.
    List,
}

fn parse_day(s: &str) -> Result<NaiveDate, String> {
    crate::form::value::parse_date(s).ok_or_else(|| format!("`{s}` is not a date YYYY-MM-DD"))
}

/// Runs the program with the process arguments.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::BadInput
            } else {
                Exit::Ok
            }
            .into();
        }
    };
    crate::log::init(log_dir(&cli).as_deref(), cli.verbose);
    let name = command_name(cli.command.as_ref());
    let started = std::time::Instant::now();
    tracing::info!(command = name, version = env!("CARGO_PKG_VERSION"), "start");
    let exit = match run(cli) {
        Ok(exit) => exit,
        Err(f) => exit::report(&f),
    };
    tracing::info!(
        command = name,
        exit = exit.code(),
        ms = started.elapsed().as_millis() as u64,
        "finish"
    );
    exit.into()
}

/// Where a command logs: the registry's folder for `pendata registry …`, else the data directory (none
/// when it cannot be found; the command then says so itself). Only into a folder that holds a store or
/// a registry, or that the command creates one in: a mistyped `--data-dir /tmp` leaves no log in /tmp.
fn log_dir(cli: &Cli) -> Option<PathBuf> {
    let (dir, creates, marker) = match &cli.command {
        Some(Command::Registry { command, .. }) => (
            registry::dir_of(command).to_path_buf(),
            matches!(command, registry::RegistryCommand::Init { .. }),
            crate::registry::PUB_FILE,
        ),
        Some(Command::Office { dir: Some(dir) }) => (dir.clone(), false, crate::registry::PUB_FILE),
        command => (
            data_dir(cli.data_dir.clone()).ok()?,
            matches!(command, None | Some(Command::Init { .. })),
            crate::store::STORE_FILE,
        ),
    };
    (creates || dir.join(marker).exists()).then_some(dir)
}

/// The command's name for the log (`record new`): never its arguments, which may be personal data.
fn command_name(command: Option<&Command>) -> &'static str {
    let Some(command) = command else {
        return "app";
    };
    match command {
        Command::Form { .. } => "form",
        Command::Validate { .. } => "validate",
        Command::Init { .. } => "init",
        Command::Petugas { command } => device::petugas_name(command),
        Command::Record { command } => device::record_name(command),
        Command::Search { .. } => "search",
        Command::Demo { .. } => "demo",
        Command::Check => "check",
        Command::Export(_) => "export",
        Command::ExportLog { .. } => "export-log",
        Command::RegistryKey { .. } => "registry-key",
        Command::Bundle { .. } => "bundle",
        Command::Receipt { .. } => "receipt",
        Command::Purge { .. } => "purge",
        Command::Package { command } => packages::package_name(command),
        Command::Device { .. } => "device",
        Command::Office { .. } => "office",
        Command::Registry { command, .. } => registry::name(command),
    }
}

/// Runs a parsed command; returns how it ended, or a failure to print.
pub fn run(cli: Cli) -> Result<Exit, Failure> {
    take_secret(cli.pin_stdin)?;
    *ACTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) =
        acting_petugas(cli.command.as_ref()).map(str::to_string);
    match cli.command {
        None => {
            let dir = data_dir(cli.data_dir)?;
            crate::ui::run(&dir).map_err(|e| {
                Failure::internal(format!(
                    "cannot open the app window: {e}; start it from a graphical session (or use the commands, `pendata --help`)"
                ))
            })?;
            Ok(Exit::Ok)
        }
        Some(Command::Office { dir }) => {
            crate::ui::office::run(dir.as_deref()).map_err(|e| {
                Failure::internal(format!(
                    "cannot open the office window: {e}; start it from a graphical session (or use `pendata registry …`)"
                ))
            })?;
            Ok(Exit::Ok)
        }
        Some(Command::Form {
            command: FormCommand::Check { file },
        }) => form_check(&file),
        Some(Command::Form {
            command: FormCommand::List,
        }) => {
            let catalog = Catalog::shared().map_err(Failure::internal)?;
            for (id, version) in catalog.list() {
                say!("{id}\t{version}");
            }
            Ok(Exit::Ok)
        }
        Some(Command::Validate {
            form,
            form_version,
            answers,
            json,
            today,
        }) => validate(&form, form_version, &answers, json, today),
        Some(Command::Bundle { command }) => sync::bundle(command),
        Some(Command::Registry { who, command }) => registry::run(command, &who),
        Some(Command::Export(args)) => sync::export(&data_dir(cli.data_dir)?, args),
        Some(Command::ExportLog { json }) => sync::export_log(&data_dir(cli.data_dir)?, json),
        Some(Command::RegistryKey { command }) => {
            sync::registry_key(&data_dir(cli.data_dir)?, command)
        }
        Some(Command::Receipt { command }) => sync::receipt(&data_dir(cli.data_dir)?, command),
        Some(Command::Package { command }) => packages::run(&data_dir(cli.data_dir)?, command),
        Some(Command::Purge { accepted_before }) => {
            sync::purge(&data_dir(cli.data_dir)?, accepted_before)
        }
        Some(command) => device::run(&data_dir(cli.data_dir)?, command),
    }
}

/// `--data-dir`, else `PENDATA_DATA_DIR`, else the platform's data directory.
pub fn data_dir(flag: Option<PathBuf>) -> Result<PathBuf, Failure> {
    if let Some(d) = flag {
        return Ok(d);
    }
    if let Some(d) = std::env::var_os("PENDATA_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    directories::ProjectDirs::from("id.go.kaltimprov", "Dinas Sosial", "Pendata")
        .map(|p| p.data_dir().to_path_buf())
        .ok_or_else(|| {
            Failure::input("no data directory: give --data-dir DIR or set PENDATA_DATA_DIR")
        })
}

/// Data files next to a form file on disk.
struct DirData<'a>(&'a Path);

impl DataFiles for DirData<'_> {
    fn read(&self, name: &str) -> Result<String, String> {
        let rel = Path::new(name);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err("data files must lie in the form's folder or below it".into());
        }
        std::fs::read_to_string(self.0.join(rel)).map_err(|e| e.to_string())
    }
}

fn form_check(file: &Path) -> Result<Exit, Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| unreadable(file, &e))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    match Form::from_json(&text, &DirData(dir)) {
        Ok(form) => {
            let fields = form.fields.len();
            say!(
                "{}: ok — form `{}` version {}, {} pages, {fields} fields, {} choice lists",
                file.display(),
                form.id,
                form.version,
                form.pages.len(),
                form.choice_lists.len()
            );
            Ok(Exit::Ok)
        }
        Err(problems) => {
            for p in &problems {
                say!("{}: {p}", file.display());
            }
            eprintln!("{}: {} problem(s)", file.display(), problems.len());
            Ok(Exit::Refused)
        }
    }
}

/// An input file that cannot be read: bad input, with what to check.
pub(crate) fn unreadable(path: &Path, e: &std::io::Error) -> Failure {
    Failure::input(format!(
        "cannot read {}: {e}; check the file's name and that you may read it",
        path.display()
    ))
}

pub(crate) fn read_input(path: &Path) -> Result<String, Failure> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::input(format!("cannot read standard input: {e}")))?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).map_err(|e| unreadable(path, &e))
    }
}

/// Parses answers JSON: an object of field name → value.
pub fn parse_answers(
    text: &str,
    source: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| {
            Failure::input(format!(
                "{source} is not valid JSON: {e}; give the answers as a JSON object of field name → answer"
            ))
        })?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(Failure::input(format!(
            "{source} must be a JSON object of field name → answer"
        ))),
    }
}

fn validate(
    form_id: &str,
    version: Option<u64>,
    answers: &Path,
    json: bool,
    today: Option<NaiveDate>,
) -> Result<Exit, Failure> {
    let catalog = Catalog::shared().map_err(Failure::internal)?;
    let form = match version {
        Some(v) => catalog.version(form_id, v),
        None => catalog.latest(form_id),
    }
    .ok_or_else(|| {
        let known: Vec<String> = catalog.list().map(|(id, v)| format!("{id} {v}")).collect();
        Failure::input(format!(
            "unknown form `{form_id}`{}; known forms: {}",
            version.map(|v| format!(" version {v}")).unwrap_or_default(),
            known.join(", ")
        ))
    })?;
    let source = if answers == Path::new("-") {
        "standard input".to_string()
    } else {
        answers.display().to_string()
    };
    let answers = parse_answers(&read_input(answers)?, &source)?;
    let today = today.unwrap_or_else(|| chrono::Local::now().date_naive());
    let ev = evaluate(form, &answers, today);
    let report = ev.report();
    if json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::internal(format!("cannot write the report: {e}")))?;
        say!("{text}");
    } else {
        say!(
            "{} {}: {} kesalahan, {} peringatan / {} error(s), {} warning(s)",
            report.form,
            report.version,
            report.errors,
            report.warnings,
            report.errors,
            report.warnings
        );
        for issue in &report.issues {
            let sev = match issue.severity {
                Severity::Error => "KESALAHAN/ERROR",
                Severity::Warning => "PERINGATAN/WARNING",
            };
            let path = if issue.path.is_empty() {
                "(formulir/form)"
            } else {
                &issue.path
            };
            say!(
                "{sev:<18} {path}: {} / {} [{}]",
                issue.message.id,
                issue.message.en,
                issue.code
            );
        }
    }
    Ok(if report.ok { Exit::Ok } else { Exit::Refused })
}

/// One issue as a line: severity, field path, the message in both languages, its code.
pub(crate) fn issue_line(i: &crate::form::Issue) -> String {
    let sev = match i.severity {
        Severity::Error => "KESALAHAN/ERROR",
        Severity::Warning => "PERINGATAN/WARNING",
    };
    format!(
        "{sev:<18} {}: {} / {} [{}]",
        i.path, i.message.id, i.message.en, i.code
    )
}
