//! `pendata registry …`: the provincial registry's tools. Exit codes (`super::exit`): 0 all handled,
//! 1 something needs an operator (or was refused), 2 bad input, 3 an internal failure.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use age::secrecy::SecretString;
use ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing;

use clap::Subcommand;
use serde_json::json;

use super::{Exit, Failure};
use crate::bundle::keys::{Level, key_fingerprint};
use crate::bundle::short;
use crate::durable::{Existing, WriteError};
use crate::model::printable::clean;
use crate::registry::export::{ExportError, ExportFormat};
use crate::registry::queue::ConflictView;
use crate::registry::report::{ReportError, ReportFormat};
use crate::registry::{ConflictKind, DeviceState, MergeCounts, QuarantineEntry};
use crate::registry::{FileOutcome, Registry};

/// Who runs a registry command, and why: every decision and import records them in the audit log
/// (`pendata registry log DIR`).
#[derive(Debug, clap::Args)]
pub struct Who {
    /// Sign in as this operator; the passphrase is read from PENDATA_OPERATOR_PASSPHRASE, or else from
    /// the first line on stdin. Decisions need it once the registry has operators.
    #[arg(long, global = true, value_name = "NAME")]
    pub operator: Option<String>,
    /// Why: recorded with each decision in the audit log.
    #[arg(long, global = true, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Create a registry in DIR: the age identity that opens bundles, the key that signs receipts,
    /// registry.pub for the tablets, and the registry's store. Never replaces existing keys.
    Init {
        /// The folder to create the registry in.
        dir: PathBuf,
        /// The registry's name, shown on tablets (default: "Dinas Sosial Provinsi Kalimantan Timur", or
        /// for a kabupaten/kota "Dinas Sosial" and its region's name).
        #[arg(long)]
        name: Option<String>,
        /// A demo registry, for training and demonstrations: it imports only demo tablets' bundles
        /// (`pendata init --demo`), and a real registry refuses those.
        #[arg(long)]
        demo: bool,
        /// Keep the secret keys under a passphrase read from standard input (its first line, at least
        /// 10 characters): every command that opens the registry then asks for it.
        #[arg(long)]
        passphrase_stdin: bool,
        /// The registry's level in the chain: a province's (the default) or a kabupaten/kota's.
        #[arg(long, value_parser = ["provinsi", "kabupaten"], default_value = "provinsi")]
        level: String,
        /// The region it takes families of: `64` for a province, `64.72` for a kabupaten/kota (required
        /// for a kabupaten/kota). Families from elsewhere are quarantined with the reason.
        #[arg(long, value_name = "CODE")]
        wilayah: Option<String>,
    },
    /// Put the registry's secret keys under a passphrase (read from standard input), or change it:
    /// the keys themselves stay, so tablets and bundles are unaffected.
    Protect {
        /// The registry's folder (made by `pendata registry init`).
        dir: PathBuf,
        /// Read the new passphrase from standard input (its first line).
        #[arg(long, required = true)]
        passphrase_stdin: bool,
    },
    /// Import bundles (files, or folders such as a whole stick): decrypt, verify, validate every
    /// revision, merge; quarantine what fails, detect gaps and conflicts. Importing a bundle twice
    /// changes nothing. The files merged within a few seconds are saved together, durably; a progress
    /// line on stderr tells each file once it is saved. Exit 0 when all was handled, 1 when something
    /// needs an operator.
    Import {
        /// The registry's folder (made by `pendata registry init`).
        dir: PathBuf,
        /// Bundle files, or folders (such as a stick) whose bundles are all imported.
        #[arg(required = true, value_name = "BUNDLE")]
        bundles: Vec<PathBuf>,
        /// No progress lines on stderr.
        #[arg(long, short)]
        quiet: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The tablets: list them (default), approve one (its held bundles are merged) or revoke one.
    Devices {
        /// The registry's folder (made by `pendata registry init`).
        dir: PathBuf,
        #[command(subcommand)]
        action: Option<DevicesAction>,
    },
    /// Write the signed receipt for a device into a folder (the stick), for `pendata receipt apply`.
    #[command(group(clap::ArgGroup::new("for").args(["device", "registry"]).required(true)))]
    Receipt {
        /// The registry's folder (made by `pendata registry init`).
        dir: PathBuf,
        /// The device id, or its 8 hex digits as `devices DIR list` and bundle file names show them.
        #[arg(long)]
        device: Option<String>,
        /// At a province: the kabupaten/kota registry's id (as `devices DIR list` shows it): its receipt
        /// carries the province's evaluations of what it forwarded.
        #[arg(long, value_name = "KAB")]
        registry: Option<String>,
        /// The folder to write the receipt to (the tablet's stick).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// What needs an operator: pending devices and bundles, quarantine, conflicts, gaps.
    Status {
        /// The registry's folder (made by `pendata registry init`).
        dir: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Families and members as spreadsheets: CSV (FILE for families, FILE-anggota.csv next to it for
    /// members) or XLSX (one sheet each). Labels next to codes, region names; written atomically. A file
    /// already there is left alone (exit 1) unless --replace is given.
    Export {
        /// The registry's folder (made by `pendata registry init`).
        dir: PathBuf,
        /// CSV (two files) or XLSX (one workbook).
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        /// The file to write (for CSV, the members go to FILE-anggota.csv next to it).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Only families of this kabupaten/kota (`6472` or `64.72`).
        #[arg(long, value_name = "CODE")]
        kabupaten: Option<String>,
        /// Replace the files if they are already there (without it, the export refuses and writes nothing).
        #[arg(long)]
        replace: bool,
    },
    /// The figures per kabupaten/kota and kecamatan: families by state and result, members, housing and
    /// programme indicators, changes since the previous import. HTML is one page readable offline. A --to
    /// file already there is left alone (exit 1) unless --replace is given.
    Report {
        /// The registry's folder (made by `pendata registry init`).
        dir: PathBuf,
        /// Text for a terminal, JSON for other programs, HTML for people (one self-contained page).
        #[arg(long, value_enum, default_value = "text")]
        format: ReportFormat,
        /// Write to FILE (atomically) instead of standard output.
        #[arg(long, value_name = "FILE")]
        to: Option<PathBuf>,
        /// Replace FILE if it is already there (without it, the report refuses and writes nothing).
        #[arg(long, requires = "to")]
        replace: bool,
    },
    /// Revisions held because they failed validation: list them, release one, or confirm a rejection.
    Quarantine {
        /// The registry's folder (made by `pendata registry init`).
        dir: PathBuf,
        #[command(subcommand)]
        action: Option<QuarantineAction>,
    },
    /// Families in conflict: list them, keep one member, or mark them as distinct families.
    Conflicts {
        /// The registry's folder (made by `pendata registry init`).
        dir: PathBuf,
        #[command(subcommand)]
        action: Option<ConflictAction>,
    },
    /// Write a work package for one device: the accepted families of some desa to visit (verivali),
    /// signed by the registry and encrypted to that device. A family is in at most one open package.
    Package(super::packages::PackageArgs),
    /// Families from outside this registry (another registry's export, last year's list).
    Prelist {
        #[command(subcommand)]
        command: PrelistCommand,
    },
    /// The work packages issued: list them with progress, show one, or cancel one.
    Packages {
        /// The registry's folder (made by `pendata registry init`).
        dir: PathBuf,
        #[command(subcommand)]
        action: Option<super::packages::PackagesAction>,
    },
    /// The people who sign in to the registry: add one (a supervisor's decision; the first one must be
    /// a supervisor and is added by the computer's account), list them, disable one.
    Operator {
        /// The registry's folder (made by `pendata registry init`).
        dir: PathBuf,
        #[command(subcommand)]
        action: OperatorAction,
    },
    /// Pengesahan at a kabupaten/kota registry: endorse families for forwarding to the province with
    /// the musyawarah desa minutes (--minutes REF --date YYYY-MM-DD), or hold them back (--hold --reason
    /// TEXT). Recorded with who decided.
    Endorse(super::chain::EndorseArgs),
    /// The province a kabupaten/kota registry forwards to.
    Upstream {
        #[command(subcommand)]
        action: super::chain::UpstreamAction,
    },
    /// Write the upward bundle for the province: the families endorsed (since the last forward, all,
    /// or a range again), signed by this registry and encrypted to the province.
    Forward(super::chain::ForwardArgs),
    /// At a province: accept the families a kabupaten/kota forwarded, or return them with --reason
    /// TEXT — one family, a desa's or a kabupaten/kota's.
    Evaluate(super::chain::EvaluateArgs),
    /// At a province: per kabupaten/kota, the proposals received (new, updated), accepted, returned,
    /// waiting and withdrawn, their course per month (a line chart in HTML) and the welfare indicators
    /// of its families, with the date and the data's cut-off. A --to file already there is left alone
    /// (exit 1) unless --replace is given.
    Proposals(super::chain::ProposalsArgs),
    /// The audit trail: who decided or imported what, when, and why (ids only, no names of families).
    Log {
        /// The registry's folder (made by `pendata registry init`).
        dir: PathBuf,
        /// Only entries from this day on (the registry's local time).
        #[arg(long, value_parser = super::parse_day, value_name = "YYYY-MM-DD")]
        since: Option<chrono::NaiveDate>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperatorAction {
    /// Add an operator; the passphrase (at least 8 characters) is read from stdin and kept only as an
    /// argon2id hash.
    Add {
        /// The operator's name (how they sign in with --operator).
        #[arg(long)]
        name: String,
        /// What they may do: operator (import and decide) or supervisor (also operators, revoking devices).
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read the new passphrase from stdin (after the signed-in supervisor's, if that comes from stdin too).
        #[arg(long, required = true)]
        passphrase_stdin: bool,
    },
    /// The operators, with their role and whether they may sign in.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stop an operator from signing in (their entries in the log stay).
    Disable {
        /// The operator's name.
        name: String,
    },
}

/// Which conflicts (all given must hold).
#[derive(Debug, clap::Args)]
pub struct ConflictFilter {
    /// Only conflicts with a family in this kabupaten/kota (`6472` or `64.72`).
    #[arg(long, value_name = "CODE")]
    kabupaten: Option<String>,
    /// Only conflicts with a family in this desa (`6472011001` or `64.72.01.1001`).
    #[arg(long, value_name = "CODE")]
    desa: Option<String>,
    /// Only conflicts of this kind.
    #[arg(long, value_enum)]
    kind: Option<KindArg>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    TwoDevices,
    SharedNik,
    SharedKk,
    Update,
}

impl ConflictFilter {
    fn filter(&self) -> crate::registry::queue::Filter {
        crate::registry::queue::Filter {
            kabupaten: self.kabupaten.clone(),
            desa: self.desa.clone(),
            kind: self.kind.map(|k| match k {
                KindArg::TwoDevices => ConflictKind::TwoDevices,
                KindArg::SharedNik => ConflictKind::SharedNik,
                KindArg::SharedKk => ConflictKind::SharedKk,
                KindArg::Update => ConflictKind::Update,
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Operator,
    Supervisor,
}

// The registry's own formats, as clap reads and lists them.
impl clap::ValueEnum for ExportFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[ExportFormat::Csv, ExportFormat::Xlsx]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }))
    }
}

impl clap::ValueEnum for ReportFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[ReportFormat::Text, ReportFormat::Json, ReportFormat::Html]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(match self {
            ReportFormat::Text => "text",
            ReportFormat::Json => "json",
            ReportFormat::Html => "html",
        }))
    }
}

#[derive(Debug, Subcommand)]
pub enum PrelistCommand {
    /// Import families in the CSV layout `registry export` writes (FILE, and FILE-anggota.csv beside it
    /// for the members): every row validated first, each problem named by row, column and why; one bad
    /// row and nothing is imported.
    Import {
        /// The registry's folder (made by `pendata registry init`).
        dir: PathBuf,
        /// The families' CSV file (`keluarga.csv`).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DevicesAction {
    /// List the devices the registry knows: pending, approved, revoked.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Register a tablet before its first export, from what `pendata device --json > FILE` wrote on it
    /// (e.g. on the stick): pending until approved; once approved, work packages can be written for it.
    Add {
        /// The file `pendata device --json` wrote.
        file: PathBuf,
    },
    /// Trust the device's key (compare its fingerprint with the tablet's Settings or `pendata device`
    /// first); its held bundles are merged now.
    Approve {
        /// The device id, or its 8 hex digits as the list shows them.
        device: String,
    },
    /// Refuse the device's bundles from now on (what was merged stays); the bundles held for it are
    /// discarded. A supervisor's decision.
    Revoke {
        /// The device id, or its 8 hex digits as the list shows them.
        device: String,
    },
    /// One device: id, name, state, key fingerprint, bundles.
    Show {
        /// The device id, or its 8 hex digits as the list shows them.
        device: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Discard the bundles still held for a revoked device (a supervisor's decision).
    Discard {
        /// The device id, or its 8 hex digits as the list shows them.
        device: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineAction {
    /// List the revisions held in quarantine, with their reasons.
    List {
        /// Released and rejected ones too.
        #[arg(long)]
        all: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Let the revision in despite its reasons. KEY is DEVICE:SEQ as the list shows it.
    Release {
        /// DEVICE:SEQ, as the list shows it.
        key: String,
    },
    /// Confirm the rejection (the tablet is told, with the reasons).
    Reject {
        /// DEVICE:SEQ, as the list shows it.
        key: String,
    },
    /// Decide every revision in quarantine the filters let through the same way (each one recorded in
    /// the audit log with the reason, which is required): the twin of the office's decision for a
    /// filtered set.
    Decide {
        /// Only revisions of families in this kabupaten/kota (`6472` or `64.72`).
        #[arg(long, value_name = "CODE")]
        kabupaten: Option<String>,
        /// Only revisions of families in this desa (`6472011001` or `64.72.01.1001`).
        #[arg(long, value_name = "CODE")]
        desa: Option<String>,
        /// Let them in despite their reasons.
        #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
        release: bool,
        /// Confirm their rejection (the tablets are told).
        #[arg(long)]
        reject: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConflictAction {
    /// List the open conflicts and the families in each (name, kabupaten/kota, desa), filtered.
    List {
        /// Decided ones too.
        #[arg(long)]
        all: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        filter: ConflictFilter,
    },
    /// Decide every open conflict the filters let through the same way (each one recorded in the audit
    /// log with the reason, which is required): keep member N, distinct families, or the same family.
    Decide {
        /// Required, so that no filter means every open conflict knowingly.
        #[arg(long, required = true)]
        all: bool,
        #[command(flatten)]
        filter: ConflictFilter,
        /// Keep member N (from 1, as listed) of each.
        #[arg(long, value_name = "N", group = "how")]
        keep: Option<usize>,
        /// Different families (shared NIK or KK): all stay.
        #[arg(long, group = "how")]
        distinct: bool,
        /// The same family: member N stays, the other becomes its update.
        #[arg(long, value_name = "N", group = "how")]
        same: Option<usize>,
    },
    /// Keep member N (from 1, as listed) of conflict ID; the others are overruled and rejected.
    Keep {
        /// The conflict's id, as the list shows it.
        id: u64,
        /// The family to keep: its number in the conflict, from 1, as listed.
        member: usize,
    },
    /// Conflict ID (a shared NIK or KK number) is between different families: both stay.
    Distinct {
        /// The conflict's id, as the list shows it.
        id: u64,
    },
    /// Conflict ID (a shared NIK or KK number) is one family entered twice: member N (the registry's
    /// family) stays and the other becomes its update (merge as an update; no family is added).
    Same {
        /// The conflict's id, as the list shows it.
        id: u64,
        /// The family that stays: its number in the conflict, from 1, as listed.
        member: usize,
    },
}

/// The computer's account running this command (recorded while the registry has no operators).
fn os_account() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .map(|s| clean(s.trim()).into_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// One line from stdin, without its line end.
fn stdin_line(what: &str) -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Failure::input(format!("cannot read {what} from stdin: {e}")))?;
    let line = line.trim_end_matches(['\n', '\r']).to_string();
    if line.is_empty() {
        return Err(Failure::input(format!("no {what} on stdin")));
    }
    Ok(line)
}

/// Opens the registry for a decision: signs the operator in (`--operator`), or, while the registry has
/// no operators, records the computer's account (and says so); the reason goes with each decision.
pub(super) fn signed(dir: &Path, who: &Who) -> Result<Registry, Failure> {
    sign_in(open(dir)?, who)
}

/// [`signed`] for a registry already open.
fn sign_in(mut reg: Registry, who: &Who) -> Result<Registry, Failure> {
    use crate::registry::{Actor, Role};
    reg.session.reason = who
        .reason
        .as_deref()
        .map(|r| clean(r.trim()).chars().take(500).collect());
    match &who.operator {
        Some(name) => {
            let pass = match std::env::var("PENDATA_OPERATOR_PASSPHRASE") {
                Ok(p) if !p.is_empty() => p,
                _ => stdin_line("the operator's passphrase")?,
            };
            reg.session.actor = Some(reg.sign_in(name, &pass)?);
        }
        None if reg.operators()?.is_empty() => {
            let name = os_account();
            eprintln!(
                "catatan: registri ini belum memiliki operator; keputusan dicatat atas akun {name} / note: this registry has no operators yet; decisions are recorded under the computer's account {name} (add one: `pendata registry operator DIR add`)"
            );
            reg.session.actor = Some(Actor::Account { name });
        }
        None => {}
    }
    reg.check_allowed(Role::Operator)?;
    Ok(reg)
}

pub(super) fn open(dir: &Path) -> Result<Registry, Failure> {
    let started = Instant::now();
    let passphrase = key_passphrase(dir)?;
    let reg = Registry::open_with(dir, passphrase.as_ref())?;
    tracing::info!(ms = started.elapsed().as_millis() as u64, "registry opened");
    Ok(reg)
}

/// The passphrase of a registry whose secret keys are under one: `PENDATA_REGISTRY_PASSPHRASE`, or asked
/// once on the terminal; none for a registry without one (or when nobody can be asked: opening then says
/// what to do).
pub(crate) fn key_passphrase(dir: &Path) -> Result<Option<SecretString>, Failure> {
    if !crate::registry::is_protected(dir) {
        return Ok(None);
    }
    ask_passphrase()
}

/// `PENDATA_REGISTRY_PASSPHRASE`, or the passphrase typed on the terminal (not shown), or none.
pub(crate) fn ask_passphrase() -> Result<Option<SecretString>, Failure> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Some(SecretString::from(p)));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    rpassword::prompt_password("Frasa sandi kunci registri / registry key passphrase: ")
        .map(|p| Some(SecretString::from(p)))
        .map_err(|e| Failure::input(format!("cannot read the passphrase from the terminal: {e}")))
}

/// Where a script gives the passphrase of the registry's keys.
const PASSPHRASE_ENV: &str = "PENDATA_REGISTRY_PASSPHRASE";

/// The first line of standard input, as a passphrase.
fn passphrase_from_stdin() -> Result<SecretString, Failure> {
    let mut text = Zeroizing::new(String::new());
    std::io::stdin().read_line(&mut text).map_err(|e| {
        Failure::input(format!(
            "cannot read the passphrase from standard input: {e}"
        ))
    })?;
    let line = text.trim_end_matches(['\n', '\r']);
    Ok(SecretString::from(line.to_string()))
}

/// The registry folder a command works on (its log goes there).
pub fn dir_of(command: &RegistryCommand) -> &Path {
    match command {
        RegistryCommand::Init { dir, .. }
        | RegistryCommand::Protect { dir, .. }
        | RegistryCommand::Import { dir, .. }
        | RegistryCommand::Devices { dir, .. }
        | RegistryCommand::Receipt { dir, .. }
        | RegistryCommand::Status { dir, .. }
        | RegistryCommand::Export { dir, .. }
        | RegistryCommand::Report { dir, .. }
        | RegistryCommand::Quarantine { dir, .. }
        | RegistryCommand::Conflicts { dir, .. }
        | RegistryCommand::Packages { dir, .. }
        | RegistryCommand::Operator { dir, .. }
        | RegistryCommand::Log { dir, .. } => dir,
        RegistryCommand::Prelist {
            command: PrelistCommand::Import { dir, .. },
        } => dir,
        RegistryCommand::Package(a) => &a.dir,
        RegistryCommand::Endorse(a) => super::chain::dir_of(a),
        RegistryCommand::Forward(a) => &a.dir,
        RegistryCommand::Evaluate(a) => &a.dir,
        RegistryCommand::Proposals(a) => &a.dir,
        RegistryCommand::Upstream { action } => match action {
            super::chain::UpstreamAction::Set { dir, .. }
            | super::chain::UpstreamAction::Receipt { dir, .. } => dir,
        },
    }
}

/// The command's name for the log.
pub fn name(command: &RegistryCommand) -> &'static str {
    match command {
        RegistryCommand::Init { .. } => "registry init",
        RegistryCommand::Protect { .. } => "registry protect",
        RegistryCommand::Import { .. } => "registry import",
        RegistryCommand::Devices { .. } => "registry devices",
        RegistryCommand::Receipt { .. } => "registry receipt",
        RegistryCommand::Status { .. } => "registry status",
        RegistryCommand::Export { .. } => "registry export",
        RegistryCommand::Report { .. } => "registry report",
        RegistryCommand::Quarantine { .. } => "registry quarantine",
        RegistryCommand::Conflicts { .. } => "registry conflicts",
        RegistryCommand::Package(_) => "registry package",
        RegistryCommand::Prelist { .. } => "registry prelist import",
        RegistryCommand::Packages { .. } => "registry packages",
        RegistryCommand::Operator { .. } => "registry operator",
        RegistryCommand::Log { .. } => "registry log",
        RegistryCommand::Endorse(_) => "registry endorse",
        RegistryCommand::Forward(_) => "registry forward",
        RegistryCommand::Evaluate(_) => "registry evaluate",
        RegistryCommand::Proposals(_) => "registry proposals",
        RegistryCommand::Upstream { .. } => "registry upstream",
    }
}

pub fn run(command: RegistryCommand, who: &Who) -> Result<Exit, Failure> {
    let now = crate::app::now();
    match command {
        RegistryCommand::Init {
            dir,
            name,
            demo,
            passphrase_stdin,
            level,
            wilayah,
        } => init_cmd(&dir, name, demo, passphrase_stdin, &level, wilayah),
        RegistryCommand::Protect { dir, .. } => protect(&dir, who),
        RegistryCommand::Import {
            dir,
            bundles,
            quiet,
            json,
        } => import(&signed(&dir, who)?, &bundles, quiet, json),
        RegistryCommand::Devices { dir, action } => devices_cmd(&dir, action, now, who),
        RegistryCommand::Receipt {
            dir,
            registry: Some(kab),
            to,
            ..
        } => {
            let (path, n) = open(&dir)?.write_upward_receipt(&kab, &to, now)?;
            say!("{}", path.display());
            eprintln!("receipt for kabupaten/kota registry {kab}: {n} evaluation(s)");
            Ok(Exit::Ok)
        }
        RegistryCommand::Receipt {
            dir, device, to, ..
        } => {
            let device = device.unwrap_or_default();
            let reg = open(&dir)?;
            let w = reg.write_receipt(&device, &to, now)?;
            say!("{}", w.path.display());
            eprintln!(
                "receipt for {}: {} positions accepted in {} range(s), {} revisions rejected, {} waiting for a conflict decision",
                short(w.receipt.device),
                w.accepted_positions,
                w.receipt.accepted.len(),
                w.receipt.rejected.len(),
                w.held_for_conflicts
            );
            Ok(Exit::Ok)
        }
        RegistryCommand::Status { dir, json } => status(&open(&dir)?, json),
        RegistryCommand::Export {
            dir,
            format,
            to,
            kabupaten,
            replace,
        } => export(&dir, format, to, kabupaten.as_deref(), replace),
        RegistryCommand::Report {
            dir,
            format,
            to,
            replace,
        } => report(&open(&dir)?, format, to.as_deref(), replace),
        RegistryCommand::Quarantine { dir, action } => quarantine_cmd(&dir, action, now, who),
        RegistryCommand::Conflicts { dir, action } => conflicts_cmd(&dir, action, now, who),
        RegistryCommand::Package(a) => super::packages::write(&signed(&a.dir, who)?, &a, now),
        RegistryCommand::Prelist {
            command: PrelistCommand::Import { dir, file, json },
        } => {
            let done = signed(&dir, who)?.import_prelist(&file, now)?;
            if json {
                say!(
                    "{}",
                    serde_json::to_string_pretty(&done).unwrap_or_default()
                );
            } else {
                say!(
                    "{} families ({} members) imported from {}",
                    done.families,
                    done.members,
                    file.display()
                );
            }
            Ok(Exit::Ok)
        }
        RegistryCommand::Packages { dir, action } => {
            let reg = if matches!(action, Some(super::packages::PackagesAction::Cancel { .. })) {
                signed(&dir, who)?
            } else {
                open(&dir)?
            };
            super::packages::packages(&reg, action, now)
        }
        RegistryCommand::Operator { dir, action } => operator_cmd(&dir, action, now, who),
        RegistryCommand::Log { dir, since, json } => audit_log(&open(&dir)?, since, json),
        RegistryCommand::Endorse(a) => super::chain::endorse(&a, who, now),
        RegistryCommand::Forward(a) => super::chain::forward(&a, who, now),
        RegistryCommand::Evaluate(a) => super::chain::evaluate(&a, who, now),
        RegistryCommand::Proposals(a) => super::chain::proposals(&a, existing(a.replace), now),
        RegistryCommand::Upstream { action } => super::chain::upstream(&action, who, now),
    }
}

fn operator_cmd(
    dir: &Path,
    action: OperatorAction,
    now: chrono::DateTime<chrono::FixedOffset>,
    who: &Who,
) -> Result<Exit, Failure> {
    use crate::registry::Role;
    match action {
        OperatorAction::Add { name, role, .. } => {
            let reg = signed(dir, who)?;
            let pass = stdin_line("the new operator's passphrase")?;
            let role = match role {
                RoleArg::Operator => Role::Operator,
                RoleArg::Supervisor => Role::Supervisor,
            };
            let o = reg.add_operator(&name, role, &pass, now)?;
            say!("operator {} added ({})", o.name, o.role.as_str());
            Ok(Exit::Ok)
        }
        OperatorAction::Disable { name } => {
            let o = signed(dir, who)?.disable_operator(&name, now)?;
            say!("operator {} disabled: can no longer sign in", o.name);
            Ok(Exit::Ok)
        }
        OperatorAction::List { json } => {
            let ops = open(dir)?.operators()?;
            if json {
                let rows: Vec<_> = ops
                    .iter()
                    .map(|o| {
                        json!({"name": o.name, "role": o.role, "enabled": o.enabled,
                               "created_at": o.created_at, "changed_at": o.changed_at})
                    })
                    .collect();
                say!(
                    "{}",
                    serde_json::to_string_pretty(&rows).unwrap_or_default()
                );
            } else if ops.is_empty() {
                say!(
                    "no operators yet: decisions are recorded under the computer's account / belum ada operator"
                );
            } else {
                for o in &ops {
                    say!(
                        "{:<24} {:<10} {}",
                        o.name,
                        o.role.as_str(),
                        if o.enabled { "enabled" } else { "disabled" }
                    );
                }
            }
            Ok(Exit::Ok)
        }
    }
}

fn audit_log(
    reg: &Registry,
    since: Option<chrono::NaiveDate>,
    json: bool,
) -> Result<Exit, Failure> {
    let offset = *crate::app::now().offset();
    let since = since
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_local_timezone(offset).single());
    let entries = reg.audit_log(since)?;
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&entries).unwrap_or_default()
        );
        return Ok(Exit::Ok);
    }
    if entries.is_empty() {
        say!(
            "nothing in the audit log{}",
            if since.is_some() { " since then" } else { "" }
        );
    }
    for e in &entries {
        say!(
            "{:>5}  {}  {:<28} {:<20} {}{}{}",
            e.number,
            e.at.format("%Y-%m-%d %H:%M:%S %:z"),
            clean(&e.actor.to_string()),
            e.action,
            e.objects.join(" "),
            e.detail
                .as_deref()
                .map(|d| format!("  ({d})"))
                .unwrap_or_default(),
            e.reason
                .as_deref()
                .map(|r| format!("  — {}", clean(r)))
                .unwrap_or_default()
        );
    }
    Ok(Exit::Ok)
}

/// Reads what `pendata device --json` wrote (small: refused beyond 64 KiB).
fn read_device_file(file: &Path) -> Result<serde_json::Value, Failure> {
    let meta = std::fs::metadata(file)
        .map_err(|e| Failure::input(format!("cannot read {}: {e}", file.display())))?;
    if meta.len() > 64 * 1024 {
        return Err(Failure::input(format!(
            "{}: too large for what `pendata device --json` writes",
            file.display()
        )));
    }
    let bytes = std::fs::read(file)
        .map_err(|e| Failure::input(format!("cannot read {}: {e}", file.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Failure::input(format!("{}: not JSON: {e}", file.display())))
}

fn devices_cmd(
    dir: &Path,
    action: Option<DevicesAction>,
    now: chrono::DateTime<chrono::FixedOffset>,
    who: &Who,
) -> Result<Exit, Failure> {
    let action = action.unwrap_or(DevicesAction::List { json: false });
    let reg = match &action {
        DevicesAction::List { .. } | DevicesAction::Show { .. } => open(dir)?,
        _ => signed(dir, who)?,
    };
    match action {
        DevicesAction::List { json } => devices(&reg, json),
        DevicesAction::Show { device, json } => device_show(&reg, &device, json),
        DevicesAction::Discard { device } => {
            let gone = reg.discard_held(&device, now)?;
            say!("{} held bundle(s) discarded", gone.len());
            Ok(Exit::Ok)
        }
        DevicesAction::Add { file } => {
            let v = read_device_file(&file)?;
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            let (Some(id), Some(name), Some(key), Some(recipient)) = (
                field("id").and_then(|i| i.parse::<uuid::Uuid>().ok()),
                field("name"),
                field("public_key"),
                field("age_recipient"),
            ) else {
                return Err(Failure::input(format!(
                    "{}: not what `pendata device --json` writes (id, name, public_key, age_recipient); make it on the tablet with its current pendata",
                    file.display()
                )));
            };
            // The file's own fingerprint must be its key's (checked before anything is stored).
            let fingerprint = key_fingerprint(&key.trim().to_ascii_lowercase());
            if field("fingerprint").is_some_and(|f| f != fingerprint) {
                return Err(Failure::input(format!(
                    "{}: its fingerprint does not match its key: the file was changed; nothing was registered",
                    file.display()
                )));
            }
            let d = reg.enrol_pending(id, &name, &key, &recipient, now)?;
            say!(
                "device {} ({}) {}; fingerprint {} — compare it with the tablet's Settings screen, then `pendata registry devices DIR approve {}` / cocokkan sidik kunci dengan layar Pengaturan tablet, lalu setujui",
                short(d.id),
                clean(&d.name),
                d.state.as_str(),
                fingerprint,
                short(d.id)
            );
            Ok(Exit::Ok)
        }
        DevicesAction::Approve { device } => {
            let (d, merged) = reg.approve(&device, now)?;
            say!("approved {} ({})", d.id, clean(&d.name));
            let mut code = Exit::Ok;
            tracing::info!(device = %d.id, held = merged.len(), "device approved");
            for (p, outcome) in merged {
                log_outcome(Path::new(&p.file), &outcome);
                if outcome.needs_operator() {
                    code = Exit::Refused;
                }
                say!("  {}: {}", p.file, describe(&outcome));
            }
            Ok(code)
        }
        DevicesAction::Revoke { device } => {
            let id = reg.find_device(&device)?.id;
            let held = reg
                .pending_bundles()?
                .iter()
                .filter(|p| p.device == id)
                .count();
            let d = reg.revoke(&device, now)?;
            say!(
                "revoked {} ({}): its bundles are refused from now on{}",
                d.id,
                clean(&d.name),
                if held > 0 {
                    format!("; {held} held bundle(s) discarded")
                } else {
                    String::new()
                }
            );
            Ok(Exit::Ok)
        }
    }
}

fn quarantine_cmd(
    dir: &Path,
    action: Option<QuarantineAction>,
    now: chrono::DateTime<chrono::FixedOffset>,
    who: &Who,
) -> Result<Exit, Failure> {
    let action = action.unwrap_or(QuarantineAction::List {
        all: false,
        json: false,
    });
    let reg = match &action {
        QuarantineAction::List { .. } => open(dir)?,
        _ => signed(dir, who)?,
    };
    match action {
        QuarantineAction::List { all, json } => {
            let q = reg.quarantine(all)?;
            if json {
                say!("{}", serde_json::to_string_pretty(&q).unwrap_or_default());
            } else if q.is_empty() {
                say!(
                    "nothing in quarantine: no revision waits to be released or rejected / tidak ada revisi di karantina"
                );
            } else {
                for e in &q {
                    print_quarantined(e)?;
                }
            }
            if !json {
                not_accepted_note(&reg)?;
            }
            Ok(Exit::Ok)
        }
        QuarantineAction::Release { key } => {
            let q = reg.decide_quarantine(&key, true, now)?;
            say!(
                "released {}:{} (family {}, revision {})",
                short(q.device),
                q.seq,
                q.record,
                q.revision
            );
            Ok(Exit::Ok)
        }
        QuarantineAction::Decide {
            kabupaten,
            desa,
            release,
            ..
        } => {
            let filter = crate::registry::queue::Filter {
                kabupaten,
                desa,
                kind: None,
            };
            let done = reg.decide_quarantine_all(&filter, release, now)?;
            say!(
                "{} revisi karantina {} / {} quarantined revision(s) {}",
                done.decided.len(),
                if release { "dilepas" } else { "ditolak" },
                done.decided.len(),
                if release { "released" } else { "rejected" }
            );
            for (key, why) in &done.skipped {
                say!("  {key} left as it is: {}", clean(why));
            }
            Ok(if done.skipped.is_empty() {
                Exit::Ok
            } else {
                Exit::Refused
            })
        }
        QuarantineAction::Reject { key } => {
            let q = reg.decide_quarantine(&key, false, now)?;
            say!(
                "rejected {}:{} (family {}, revision {}); the next receipt tells the tablet",
                short(q.device),
                q.seq,
                q.record,
                q.revision
            );
            Ok(Exit::Ok)
        }
    }
}

fn conflicts_cmd(
    dir: &Path,
    action: Option<ConflictAction>,
    now: chrono::DateTime<chrono::FixedOffset>,
    who: &Who,
) -> Result<Exit, Failure> {
    let action = action.unwrap_or(ConflictAction::List {
        all: false,
        json: false,
        filter: ConflictFilter {
            kabupaten: None,
            desa: None,
            kind: None,
        },
    });
    let reg = match &action {
        ConflictAction::List { .. } => open(dir)?,
        _ => signed(dir, who)?,
    };
    match action {
        ConflictAction::List { all, json, filter } => {
            let cs = reg.conflict_views(all, &filter.filter())?;
            if json {
                say!("{}", serde_json::to_string_pretty(&cs).unwrap_or_default());
            } else if cs.is_empty() {
                say!("no open conflicts (with these filters) / tidak ada konflik");
            } else {
                for c in &cs {
                    print_conflict(&reg, c)?;
                }
                say!("{} conflict(s)", cs.len());
            }
            Ok(Exit::Ok)
        }
        ConflictAction::Decide {
            filter,
            keep,
            distinct,
            same,
            ..
        } => {
            use crate::registry::queue::Bulk;
            let how = match (keep, distinct, same) {
                (Some(n), _, _) => Bulk::Keep(n),
                (_, true, _) => Bulk::Distinct,
                (_, _, Some(n)) => Bulk::Same(n),
                _ => {
                    return Err(Failure::input("say how: --keep N, --distinct or --same N"));
                }
            };
            let done = reg.decide_all(&filter.filter(), how, now)?;
            say!("{} conflict(s) decided", done.decided.len());
            for (id, why) in &done.skipped {
                say!("  conflict {id} left open: {}", clean(why));
            }
            Ok(if done.skipped.is_empty() {
                Exit::Ok
            } else {
                Exit::Refused
            })
        }
        ConflictAction::Keep { id, member } => {
            let c = reg.keep(id, member, now)?;
            say!(
                "conflict {id} decided: kept member {member}; {} other(s) overruled and rejected",
                c.members.len().saturating_sub(1)
            );
            Ok(Exit::Ok)
        }
        ConflictAction::Distinct { id } => {
            reg.distinct(id, now)?;
            say!("conflict {id} decided: different families, all stay accepted");
            Ok(Exit::Ok)
        }
        ConflictAction::Same { id, member } => {
            let c = reg.same(id, member, now)?;
            if let Some(crate::registry::Decision::Same { kept, merged }) = &c.decision {
                say!(
                    "conflict {id} decided: family {merged} is family {kept}, merged into it as an update (one family)"
                );
            }
            Ok(Exit::Ok)
        }
    }
}

/// `registry init`: the options checked, the keys and the store made.
fn init_cmd(
    dir: &Path,
    name: Option<String>,
    demo: bool,
    passphrase_stdin: bool,
    level: &str,
    wilayah: Option<String>,
) -> Result<Exit, Failure> {
    let passphrase = passphrase_stdin.then(passphrase_from_stdin).transpose()?;
    let setup = crate::registry::keys::Setup {
        demo,
        passphrase: passphrase.as_ref(),
        level: if level == "kabupaten" {
            Level::Kabupaten
        } else {
            Level::Provinsi
        },
        wilayah,
    };
    let name = match (name, &setup.wilayah) {
        (Some(n), _) => n,
        (None, Some(w)) if setup.level == Level::Kabupaten => {
            crate::registry::scope::check_wilayah(Level::Kabupaten, w)
                .map(|region| format!("Dinas Sosial {region}"))
                .map_err(Failure::input)?
        }
        (None, _) => "Dinas Sosial Provinsi Kalimantan Timur".to_string(),
    };
    init(dir, &name, &setup)
}

/// `registry protect`: the secret keys under a new passphrase — a supervisor's decision once the
/// registry has operators, recorded in the audit log.
fn protect(dir: &Path, who: &Who) -> Result<Exit, Failure> {
    let new = passphrase_from_stdin()?;
    crate::registry::keys::check_passphrase(&new)?;
    // The current passphrase is asked once: it opens the registry (to sign in) and the key files.
    let current = key_passphrase(dir)?;
    let reg = sign_in(Registry::open_with(dir, current.as_ref())?, who)?;
    reg.check_allowed(crate::registry::Role::Supervisor)?;
    crate::registry::keys::protect(dir, current.as_ref(), &new)?;
    let action = if current.is_some() {
        "keys_passphrase_changed"
    } else {
        "keys_protected"
    };
    reg.record(
        crate::registry::Role::Supervisor,
        crate::app::now(),
        action,
        Vec::new(),
        None,
    )?;
    say!("{}", dir.join(crate::registry::KEY_DIR).display());
    eprintln!(
        "the registry's secret keys are now under the new passphrase / kunci rahasia registri kini dilindungi frasa sandi baru. Every command asks for it (or reads {PASSPHRASE_ENV}); keep it where the key backups are not"
    );
    Ok(Exit::Ok)
}

fn init(dir: &Path, name: &str, setup: &crate::registry::keys::Setup<'_>) -> Result<Exit, Failure> {
    let (demo, passphrase) = (setup.demo, setup.passphrase);
    let done = crate::registry::keys::init_as(dir, name, crate::app::now(), setup)?;
    // The store too, so that a fresh registry is complete (and a broken folder is noticed now).
    Registry::create_store(dir)?;
    // The office app (`pendata office`, the tablet app's start screen) offers it on this PC.
    crate::app::office::session::remember_registry(dir);
    say!("{}", done.public_file.display());
    eprintln!(
        "registry `{}` created.\n\
         Give {} to every tablet (`pendata registry-key set registry.pub`).\n\
         SECRET keys — back them up now, offline, in two places (e.g. two encrypted USB sticks in a safe):\n  {}\n  {}\n\
         Without the age key no bundle can be opened; without the signing key tablets reject receipts.\n\
         Check a backup with the standard tools: {}",
        done.public.name,
        done.public_file.display(),
        done.age_key_file.display(),
        done.signing_key_file.display(),
        if passphrase.is_some() {
            format!(
                "age -d '{}' | openssl pkey -noout && age -d '{}' | age-keygen -y\n\
                 The keys are under your passphrase: every command asks for it (or reads {PASSPHRASE_ENV}); without it they cannot be used",
                done.signing_key_file.display(),
                done.age_key_file.display()
            )
        } else {
            format!(
                "openssl pkey -in '{}' -noout && age-keygen -y '{}'",
                done.signing_key_file.display(),
                done.age_key_file.display()
            )
        }
    );
    if let Some(w) = &setup.wilayah {
        eprintln!(
            "level {} / tingkat {}, wilayah {w}: families of other regions are quarantined with the reason",
            setup.level.word(),
            setup.level.word()
        );
    }
    if demo {
        eprintln!(
            "a DEMO registry: it imports only bundles from demo tablets (`pendata init --demo`) / registri DEMO: hanya menerima bundel dari tablet demo"
        );
    }
    Ok(Exit::Ok)
}

fn describe(o: &FileOutcome) -> String {
    match o {
        FileOutcome::Merged(b) => {
            let m = &b.merged;
            let mut s = format!(
                "merged {}..{}: {} accepted, {} duplicate, {} quarantined, {} new conflict(s)",
                b.sequence.from,
                b.sequence.to,
                m.accepted,
                m.duplicates,
                m.quarantined,
                m.conflicts
            );
            if m.mismatched > 0 {
                s.push_str(&format!(
                    ", {} position(s) differ from the copy imported before (not stored)",
                    m.mismatched
                ));
            }
            s
        }
        FileOutcome::AlreadyImported { bundle } => format!(
            "already imported on {} — nothing changed",
            bundle.imported_at.format("%Y-%m-%d %H:%M")
        ),
        FileOutcome::Held {
            device,
            already_held,
        } => format!(
            "held{}: device {} ({}) is {} — approve it with `pendata registry devices DIR approve {}`",
            if *already_held { " (already)" } else { "" },
            short(device.id),
            clean(&device.name),
            device.state.as_str(),
            short(device.id)
        ),
        FileOutcome::Refused { reason } => format!("REFUSED: {}", clean(reason)),
    }
}

/// One imported file in the log: its name (device prefix, date, sequence), outcome, ids and counts.
fn log_outcome(file: &Path, outcome: &FileOutcome) {
    // `--verbose` copies the log to a terminal: the stick's names reach it cleaned.
    let file = file
        .file_name()
        .map(|n| clean(&n.to_string_lossy()).into_owned())
        .unwrap_or_default();
    match outcome {
        FileOutcome::Merged(b) => tracing::info!(
            file,
            bundle = %b.bundle_id,
            device = %b.device,
            from = b.sequence.from,
            to = b.sequence.to,
            accepted = b.merged.accepted,
            duplicates = b.merged.duplicates,
            quarantined = b.merged.quarantined,
            conflicts = b.merged.conflicts,
            mismatched = b.merged.mismatched,
            "bundle merged"
        ),
        FileOutcome::AlreadyImported { bundle } => {
            tracing::info!(file, bundle = %bundle.bundle_id, "bundle already imported");
        }
        FileOutcome::Held { device, .. } => {
            tracing::info!(file, device = %device.id, "bundle held: device not approved");
        }
        FileOutcome::Refused { reason } => {
            tracing::warn!(file, reason = %clean(reason), "bundle refused");
        }
    }
}

/// What the import summary says needs an operator: refused files first (the attention list does not
/// count them), then what waits in the registry.
fn print_needs(
    refused: u64,
    total: &MergeCounts,
    attention: &crate::registry::query::Attention,
) -> Result<(), Failure> {
    if refused == 0 && total.mismatched == 0 {
        return print_attention(attention);
    }
    say!(
        "needs an operator / perlu tindakan operator: {refused} file(s) refused{} — see the lines above",
        if total.mismatched > 0 {
            format!(
                ", {} position(s) differ from copies imported before",
                total.mismatched
            )
        } else {
            String::new()
        }
    );
    if !attention.is_empty() {
        print_attention(attention)?;
    }
    Ok(())
}

/// The bundle files given (files, or folders such as a stick); none is bad input.
fn bundle_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let files =
        // The paths are the operator's input, whatever went wrong reading them.
        crate::registry::import::bundle_files(paths)
            .map_err(|e| Failure::from(e).with_exit(Exit::BadInput))?;
    if files.is_empty() {
        return Err(Failure::input(format!(
            "no bundle files (*.{}) in {}: give the bundle files, or the folder (the stick) they are in",
            crate::bundle::EXTENSION,
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(files)
}

/// Imports the tablets' bundles, then the upward bundles (from kabupaten/kota registries), saying each
/// file's outcome as it is known; returns the files in that order with their outcomes.
fn import_each(
    reg: &Registry,
    files: Vec<PathBuf>,
    now: chrono::DateTime<chrono::FixedOffset>,
    quiet: bool,
) -> Result<(Vec<PathBuf>, Vec<FileOutcome>), Failure> {
    let n = files.len();
    // Upward bundles (from kabupaten/kota registries) beside the tablets' bundles: after them.
    let (upward, files): (Vec<PathBuf>, Vec<PathBuf>) = files.into_iter().partition(|f| {
        f.file_name()
            .is_some_and(|x| crate::bundle::upward::is_upward_name(&x.to_string_lossy()))
    });
    let say_one = |i: usize, f: &Path, outcome: &FileOutcome| {
        log_outcome(f, outcome);
        if !quiet {
            eprintln!(
                "[{}/{n}] {}: {}",
                i + 1,
                clean(&f.display().to_string()),
                describe(outcome)
            );
        }
    };
    let mut outcomes = if files.is_empty() {
        Vec::new()
    } else {
        reg.import_files(&files, now, say_one)?
    };
    for f in &upward {
        let outcome = reg.import_upward_path(f, now)?;
        say_one(outcomes.len(), f, &outcome);
        outcomes.push(outcome);
    }
    Ok((files.into_iter().chain(upward).collect(), outcomes))
}

fn import(reg: &Registry, paths: &[PathBuf], quiet: bool, json: bool) -> Result<Exit, Failure> {
    let files = bundle_files(paths)?;
    let started = Instant::now();
    let now = crate::app::now();
    let mut total = MergeCounts::default();
    let (mut merged, mut again, mut held, mut refused) = (0u64, 0u64, 0u64, 0u64);
    let mut results = Vec::new();
    let (files, outcomes) = import_each(reg, files, now, quiet)?;
    let n = files.len();
    for (f, outcome) in files.iter().zip(&outcomes) {
        match outcome {
            FileOutcome::Merged(b) => {
                merged += 1;
                total.add(&b.merged);
            }
            FileOutcome::AlreadyImported { .. } => again += 1,
            FileOutcome::Held { .. } => held += 1,
            FileOutcome::Refused { .. } => refused += 1,
        }
        results.push(json!({
            "file": clean(&f.display().to_string()),
            "outcome": match outcome {
                FileOutcome::Merged(_) => "merged",
                FileOutcome::AlreadyImported { .. } => "already_imported",
                FileOutcome::Held { .. } => "held",
                FileOutcome::Refused { .. } => "refused",
            },
            "detail": describe(outcome),
        }));
    }
    let attention = reg.attention()?;
    let snapshot = crate::registry::snapshot(reg)?;
    if merged > 0 {
        reg.log_import(now, merged, total, snapshot)?;
    }
    let needs = refused > 0 || total.mismatched > 0 || !attention.is_empty();
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "files": results,
                "merged": merged,
                "already_imported": again,
                "held": held,
                "refused": refused,
                "revisions": total,
                "needs_operator": needs,
                "open_quarantine": attention.open_quarantine,
                "open_conflicts": attention.open_conflicts,
                "pending_devices": attention.pending_devices,
                "gaps": attention.gaps.iter().map(|g| json!({"device": g.device, "from": g.from, "to": g.to})).collect::<Vec<_>>(),
                "seconds": started.elapsed().as_secs_f64(),
            }))
            .unwrap_or_default()
        );
    } else {
        say!(
            "{n} file(s): {merged} merged, {again} already imported, {held} held (device not approved), {refused} refused"
        );
        say!(
            "revisions: {} accepted, {} duplicates, {} quarantined, {} new conflict(s){}",
            total.accepted,
            total.duplicates,
            total.quarantined,
            total.conflicts,
            if total.mismatched > 0 {
                format!(", {} differing copies not stored", total.mismatched)
            } else {
                String::new()
            }
        );
        print_needs(refused, &total, &attention)?;
        if !quiet {
            eprintln!("{:.1} s", started.elapsed().as_secs_f64());
        }
    }
    Ok(if needs { Exit::Refused } else { Exit::Ok })
}

fn print_attention(a: &crate::registry::query::Attention) -> Result<(), Failure> {
    if a.is_empty() {
        say!("nothing needs an operator / semua beres");
        return Ok(());
    }
    say!("needs an operator / perlu tindakan operator:");
    if a.pending_devices > 0 || a.pending_bundles > 0 {
        say!(
            "  {} device(s) waiting for approval, {} bundle(s) held — `pendata registry devices DIR`",
            a.pending_devices,
            a.pending_bundles
        );
    }
    if a.open_quarantine > 0 {
        say!(
            "  {} revision(s) in quarantine — `pendata registry quarantine DIR`",
            a.open_quarantine
        );
    }
    if a.open_conflicts > 0 {
        say!(
            "  {} open conflict(s) — `pendata registry conflicts DIR`",
            a.open_conflicts
        );
    }
    for g in &a.gaps {
        if g.kabupaten {
            say!(
                "  gap: kabupaten/kota registry {} positions {}..{} never arrived — ask for `pendata registry forward DIR --to FOLDER --range {}..{}` there",
                short(g.device),
                g.from,
                g.to,
                g.from,
                g.to
            );
            continue;
        }
        say!(
            "  gap: device {} positions {}..{} never arrived — ask for `pendata export --range {}..{}` on that tablet",
            short(g.device),
            g.from,
            g.to,
            g.from,
            g.to
        );
    }
    Ok(())
}

fn status(reg: &Registry, json: bool) -> Result<Exit, Failure> {
    let a = reg.attention()?;
    let mut families = 0u64;
    let mut by_state = std::collections::BTreeMap::<&str, u64>::new();
    reg.family_entries(|f| {
        families += 1;
        *by_state.entry(f.family.state.as_str()).or_default() += 1;
    })?;
    let public = &reg.keys.public;
    let scope = match &public.wilayah {
        Some(w) => format!("{} {w}", public.level.word()),
        None => format!("{} (any region)", public.level.word()),
    };
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "registry": clean(&public.name),
                "level": public.level.word(),
                "wilayah": public.wilayah,
                "families": families,
                "by_state": by_state,
                "bundles": reg.bundles()?.len(),
                "devices": reg.devices()?.len(),
                "pending_devices": a.pending_devices,
                "pending_bundles": a.pending_bundles,
                "open_quarantine": a.open_quarantine,
                "open_conflicts": a.open_conflicts,
                "gaps": a.gaps.iter().map(|g| json!({"device": g.device, "from": g.from, "to": g.to})).collect::<Vec<_>>(),
            }))
            .unwrap_or_default()
        );
    } else {
        say!("registry {}: {scope}", clean(&public.name));
        say!(
            "{families} families ({})",
            by_state
                .iter()
                .map(|(k, v)| match *k {
                    "quarantined" => format!("{v} not accepted"),
                    k => format!("{v} {k}"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        print_attention(&a)?;
    }
    Ok(if a.is_empty() {
        Exit::Ok
    } else {
        Exit::Refused
    })
}

fn devices(reg: &Registry, json: bool) -> Result<Exit, Failure> {
    let ds = reg.devices()?;
    let bundles = reg.bundles()?;
    let pending = reg.pending_bundles()?;
    if json {
        let rows: Vec<_> = ds
            .iter()
            .map(|d| {
                json!({
                    "id": d.id,
                    "name": clean(&d.name),
                    "state": d.state,
                    "short_id": short(d.id),
                    "public_key": d.public_key,
                    "fingerprint": key_fingerprint(&d.public_key),
                    "wilayah": crate::registry::upward_import::region(d),
                    "first_seen": d.first_seen,
                    "changed_at": d.changed_at,
                    "bundles": bundles.iter().filter(|b| b.device == d.id).count(),
                    "held": pending.iter().filter(|p| p.device == d.id).count(),
                    "coverage": reg.coverage(d.id).unwrap_or_default(),
                })
            })
            .collect();
        say!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(Exit::Ok);
    }
    if ds.is_empty() {
        say!("no devices yet: they appear with their first bundle");
        return Ok(Exit::Ok);
    }
    say!(
        "{:<10} {:<9} {:>7} {:>5}  {:<20} {:<8} {:<50} name",
        "device",
        "state",
        "bundles",
        "held",
        "sequence",
        "wilayah",
        "key fingerprint"
    );
    for d in &ds {
        let cov = reg
            .coverage(d.id)?
            .iter()
            .map(|r| format!("{}..{}", r.from, r.to))
            .collect::<Vec<_>>()
            .join(",");
        say!(
            "{:<10} {:<9} {:>7} {:>5}  {:<20} {:<8} {:<50} {}",
            short(d.id),
            d.state.as_str(),
            bundles.iter().filter(|b| b.device == d.id).count(),
            pending.iter().filter(|p| p.device == d.id).count(),
            if cov.is_empty() { "-".into() } else { cov },
            crate::registry::upward_import::region(d).unwrap_or_else(|| "-".into()),
            key_fingerprint(&d.public_key),
            clean(&d.name)
        );
    }
    let waiting = ds
        .iter()
        .filter(|d| d.state == DeviceState::Pending)
        .count();
    if waiting > 0 {
        eprintln!(
            "{waiting} device(s) wait for approval: compare each key fingerprint with the tablet's Settings screen (or `pendata device` on it) before `approve` / cocokkan sidik kunci dengan layar Pengaturan tablet sebelum menyetujui"
        );
    }
    Ok(Exit::Ok)
}

fn device_show(reg: &Registry, device: &str, json: bool) -> Result<Exit, Failure> {
    let d = reg.find_device(device)?;
    let mine: Vec<_> = reg
        .bundles()?
        .into_iter()
        .filter(|b| b.device == d.id)
        .collect();
    let bundles = mine.len();
    let first = mine.iter().map(|b| b.created_at).min();
    let last = mine.iter().map(|b| b.created_at).max();
    let held = reg
        .pending_bundles()?
        .into_iter()
        .filter(|p| p.device == d.id)
        .count();
    let cov = reg.coverage(d.id)?;
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "id": d.id,
                "short_id": short(d.id),
                "name": clean(&d.name),
                "state": d.state,
                "public_key": d.public_key,
                "fingerprint": key_fingerprint(&d.public_key),
                "first_seen": d.first_seen,
                "changed_at": d.changed_at,
                "bundles": bundles,
                "first_bundle": first,
                "last_bundle": last,
                "held": held,
                "coverage": cov,
            }))
            .unwrap_or_default()
        );
        return Ok(Exit::Ok);
    }
    say!("device      {} ({})", d.id, short(d.id));
    say!("name        {}", clean(&d.name));
    say!("state       {}", d.state.as_str());
    say!("fingerprint {}", key_fingerprint(&d.public_key));
    say!("first seen  {}", d.first_seen.format("%Y-%m-%d %H:%M %:z"));
    say!("changed     {}", d.changed_at.format("%Y-%m-%d %H:%M %:z"));
    let when = |t: Option<chrono::DateTime<chrono::FixedOffset>>| {
        t.map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string())
    };
    say!(
        "bundles     {bundles} merged (first made {}, last {}), {held} held",
        when(first),
        when(last)
    );
    say!(
        "sequence    {}",
        cov.iter()
            .map(|r| format!("{}..{}", r.from, r.to))
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok(Exit::Ok)
}

/// Families none of whose revisions is accepted are not "in quarantine" unless a revision of theirs
/// waits there: said beside the quarantine list, so that it and the report's "Not accepted" agree.
fn not_accepted_note(reg: &Registry) -> Result<(), Failure> {
    let mut n = 0u64;
    reg.family_entries(|f| {
        if f.family.state == crate::registry::family::FamilyState::Quarantined {
            n += 1;
        }
    })?;
    if n > 0 {
        say!(
            "{n} family(ies) not accepted (the report's \"Tidak diterima\"): every revision waits here, was rejected or was overruled — `quarantine list --all` shows them all"
        );
    }
    Ok(())
}

fn print_quarantined(e: &QuarantineEntry) -> Result<(), Failure> {
    say!(
        "{}:{}  family {} revision {}  [{}]",
        short(e.device),
        e.seq,
        e.record,
        e.revision,
        match e.state {
            crate::registry::QuarantineState::Open => "open",
            crate::registry::QuarantineState::Released => "released",
            crate::registry::QuarantineState::Rejected => "rejected",
        }
    );
    for r in &e.reasons {
        let l = r.localized();
        say!("    {} — {} / {}", r.code, l.id, l.en);
    }
    Ok(())
}

fn print_conflict(reg: &Registry, v: &ConflictView) -> Result<(), Failure> {
    let c = &v.conflict;
    let what = match c.kind {
        ConflictKind::TwoDevices => format!("family {} revised on two devices", c.key),
        ConflictKind::SharedNik => format!("NIK {} in {} families", c.key, c.members.len()),
        ConflictKind::SharedKk => format!("KK number {} in {} families", c.key, c.members.len()),
        ConflictKind::Update => format!(
            "family {} visited from a version the registry no longer holds (update conflict): compare the versions",
            c.key
        ),
    };
    say!(
        "conflict {} [{}]: {what}{}",
        c.id,
        c.kind.as_str(),
        match &c.decision {
            None => String::new(),
            Some(d) => format!(
                "  [decided: {}]",
                serde_json::to_string(d).unwrap_or_default()
            ),
        }
    );
    for (i, f) in v.families.iter().enumerate() {
        let m = &f.member;
        let fam = reg.family(m.record)?;
        say!(
            "  {}. {} — desa {} {}, kab/kota {} {}",
            i + 1,
            f.name.as_deref().unwrap_or("(no name)"),
            f.desa.as_deref().unwrap_or("?"),
            f.desa_name.as_deref().map(clean).unwrap_or_default(),
            f.kabupaten.as_deref().unwrap_or("?"),
            f.kabupaten_name.as_deref().map(clean).unwrap_or_default(),
        );
        say!(
            "     family {} revision {} from device {} (position {}){}",
            m.record,
            m.revision,
            short(m.device),
            m.seq,
            fam.map(|f| format!(
                ", by {} at {}",
                clean(&f.family.petugas),
                f.family.at.format("%Y-%m-%d %H:%M")
            ))
            .unwrap_or_default()
        );
    }
    if c.is_open() {
        say!(
            "  decide: `pendata registry conflicts DIR keep {} N`{}",
            c.id,
            if c.kind.is_one_family() {
                String::new()
            } else {
                format!(
                    " or `… distinct {}`, or the same family: merge as an update `… same {} N`",
                    c.id, c.id
                )
            }
        );
    }
    Ok(())
}

/// What to do with a file already under the name asked for.
pub(super) fn existing(replace: bool) -> Existing {
    if replace {
        Existing::Replace
    } else {
        Existing::Refuse
    }
}

/// A file the operator named is already there: refused (exit 1), with the way to replace it.
pub(super) fn exists(path: &str) -> Failure {
    Failure::refused(format!(
        "{path} is already there; nothing was written: give another file name, or add --replace to replace it"
    ))
}

fn export(
    dir: &Path,
    format: ExportFormat,
    to: PathBuf,
    kabupaten: Option<&str>,
    replace: bool,
) -> Result<Exit, Failure> {
    use crate::registry::export;
    let failure = |e: ExportError| match e {
        ExportError::Kabupaten(_) | ExportError::NoFolder(_) => Failure::input(e.to_string()),
        ExportError::Exists(path) => exists(&path.display().to_string()),
        ExportError::Registry(e) => Failure::from(e),
        ExportError::Write(w) => match *w {
            WriteError::Exists(path) => exists(&path),
            w => Failure::refused(w.to_string()),
        },
        e => Failure::refused(e.to_string()),
    };
    let reg = open(dir)?;
    let kabupaten = kabupaten
        .map(export::kabupaten_code)
        .transpose()
        .map_err(failure)?;
    let request = export::Request {
        format,
        to,
        kabupaten,
        existing: existing(replace),
    };
    let done = export::export(&reg, &request).map_err(failure)?;
    for (path, rows) in &done.files {
        say!("{}\t{rows} rows", path.display());
    }
    eprintln!(
        "{} families exported{}",
        done.families,
        request
            .kabupaten
            .map(|k| format!(" (kabupaten/kota {k})"))
            .unwrap_or_default()
    );
    Ok(Exit::Ok)
}

fn report(
    reg: &Registry,
    format: ReportFormat,
    to: Option<&Path>,
    replace: bool,
) -> Result<Exit, Failure> {
    let report = crate::registry::report_now(reg, crate::app::now())?;
    print_or_save(report.render(format), to, existing(replace))?;
    Ok(Exit::Ok)
}

/// Prints a rendered report, or writes it to `to` (owner-only; a file already there refused or
/// replaced as `existing` says) and prints its path.
pub(super) fn print_or_save(
    text: Result<String, serde_json::Error>,
    to: Option<&Path>,
    existing: Existing,
) -> Result<(), Failure> {
    let text = text.map_err(|e| Failure::input(e.to_string()))?;
    match to {
        Some(path) => {
            crate::registry::report::save_text(&text, path, existing).map_err(|e| match e {
                ReportError::Write(WriteError::Exists(_)) => exists(&path.display().to_string()),
                ReportError::Json(e) => Failure::input(e.to_string()),
                e => Failure::refused(e.to_string()),
            })?;
            say!("{}", path.display());
        }
        None => say!("{}", text.trim_end()),
    }
    Ok(())
}
