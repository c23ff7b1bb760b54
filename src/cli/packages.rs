//! Work packages from the shell: `pendata registry package` / `registry packages` at the registry,
//! `pendata package apply` / `package list` on the tablet. Thin faces over `registry::package` and
//! `app::package`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate};
use clap::{Args, Subcommand};

use super::{Exit, Failure, parse_day};
use crate::bundle::short;
use crate::registry::Registry;
use crate::registry::package::PackageRequest;

/// `pendata registry package DIR …`.
#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The registry's folder (made by `pendata registry init`).
    pub dir: PathBuf,
    /// The device to visit the families: its id, or its 8 hex digits as `devices DIR list` shows them.
    #[arg(long, required_unless_present = "plan", conflicts_with = "plan")]
    pub device: Option<String>,
    /// Desa codes (`64.72.01.1001`), comma-separated: their accepted families go into the package.
    #[arg(
        long,
        value_delimiter = ',',
        required_unless_present = "plan",
        conflicts_with = "plan"
    )]
    pub desa: Vec<String>,
    /// A kabupaten's packages in one run: a text file with a line per package, the device then its
    /// desa codes comma-separated (`3f2a91c0 64.03.01.2001,64.03.01.2002`; `#` starts a comment).
    /// Every line is checked before anything is written; each package is written and recorded whole.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// The folder to write the package to (the tablet's stick).
    #[arg(long, value_name = "FOLDER")]
    pub to: PathBuf,
    /// When the visits should be done (the package stays valid 30 days after).
    #[arg(long, value_parser = parse_day, value_name = "YYYY-MM-DD")]
    pub due: Option<NaiveDate>,
    /// A note for the petugas, shown with the package.
    #[arg(long)]
    pub note: Option<String>,
    /// Move families that are in another open package into this one.
    #[arg(long)]
    pub reassign: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `pendata registry packages DIR …`.
#[derive(Debug, Subcommand)]
pub enum PackagesAction {
    /// The packages issued, with their progress (visited / total).
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One package: its desa, progress per desa, dates.
    Show {
        /// The package's id (as the list prints it), or its first or last 8 hex digits.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The visits per kabupaten/kota, kecamatan and desa: listed, visited, each outcome, new
    /// proposals, coverage; with the date and the data's cut-off.
    Report {
        /// Print JSON instead of text.
        #[arg(long, conflicts_with = "html")]
        json: bool,
        /// Print one self-contained HTML page instead of text.
        #[arg(long)]
        html: bool,
    },
    /// Withdraw an open package: its families may go into another one.
    Cancel {
        /// The package's id (as the list prints it), or its first or last 8 hex digits.
        id: String,
    },
}

/// `pendata package …` on the tablet.
#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Apply a work package from the registry: its families become visits to make (records). Refused,
    /// with nothing changed, when it is for another tablet, from another registry, altered, cut short,
    /// expired, or needs a form this program lacks. Applying it again changes nothing.
    Apply {
        /// The package file (`pendata-paket-….age`).
        file: PathBuf,
        /// The code of the petugas receiving the visits.
        #[arg(long)]
        petugas: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The packages applied on this tablet.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn package_name(command: &PackageCommand) -> &'static str {
    match command {
        PackageCommand::Apply { .. } => "package apply",
        PackageCommand::List { .. } => "package list",
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Failure::internal(format!("cannot write JSON: {e}")))?;
    say!("{text}");
    Ok(())
}

/// The petugas `package apply` acts as.
pub fn package_petugas(command: &PackageCommand) -> Option<&str> {
    match command {
        PackageCommand::Apply { petugas, .. } => Some(petugas),
        PackageCommand::List { .. } => None,
    }
}

/// One line of a `--plan` file: the device and its desa codes.
type PlanLine = (String, Vec<String>);

/// Reads a `--plan` file: a line per package, `DEVICE DESA[,DESA…]`; blank lines and `#` comments
/// skipped. A bad line is bad input, said with its number.
fn read_plan(file: &Path) -> Result<Vec<PlanLine>, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::input(format!("cannot read the plan {}: {e}", file.display())))?;
    let mut plan = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(device), Some(desa), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Failure::input(format!(
                "plan line {}: `{}` is not a device and its desa codes (DEVICE DESA[,DESA…]) / baris {} rencana: bukan perangkat dan kode desanya",
                n + 1,
                crate::model::printable::clean(line),
                n + 1
            )));
        };
        let desa = desa
            .split(',')
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect();
        plan.push((device.to_string(), desa));
    }
    if plan.is_empty() {
        return Err(Failure::input(format!(
            "the plan {} names no package / rencana tidak berisi paket",
            file.display()
        )));
    }
    Ok(plan)
}

/// `pendata registry package`: one package (`--device`, `--desa`) or a plan's (`--plan`).
pub fn write(reg: &Registry, a: &PackageArgs, now: DateTime<FixedOffset>) -> Result<Exit, Failure> {
    let plan = match (&a.plan, &a.device) {
        (Some(file), _) => read_plan(file)?,
        (None, Some(device)) => vec![(device.clone(), a.desa.clone())],
        (None, None) => return Err(Failure::input("give --device and --desa, or --plan")),
    };
    let requests: Vec<PackageRequest<'_>> = plan
        .iter()
        .map(|(device, desa)| PackageRequest {
            device,
            desa,
            to: &a.to,
            due: a.due,
            note: a.note.clone(),
            reassign: a.reassign,
        })
        .collect();
    let written = reg.write_packages(&requests, now)?;
    for w in &written {
        tracing::info!(
            package = %w.entry.package_id,
            device = %w.entry.device,
            families = w.entry.families.len(),
            "package written"
        );
    }
    if a.json {
        match (a.plan.is_some(), written.first()) {
            (false, Some(w)) => print_json(w)?,
            _ => print_json(&written)?,
        }
        return Ok(Exit::Ok);
    }
    for w in &written {
        say!("{}", w.path.display());
        eprintln!(
            "package {} for device {}: {} families of {} desa, valid until {}{}{}",
            w.entry.package_id,
            short(w.entry.device),
            w.entry.families.len(),
            w.entry.desa.len(),
            w.entry.expires,
            if w.reassigned > 0 {
                format!("; {} taken from another package", w.reassigned)
            } else {
                String::new()
            },
            if w.not_settled > 0 {
                format!(
                    "; {} left out (in a conflict or quarantined: decide them first)",
                    w.not_settled
                )
            } else {
                String::new()
            }
        );
    }
    Ok(Exit::Ok)
}

/// `pendata registry packages`.
pub fn packages(
    reg: &Registry,
    action: Option<PackagesAction>,
    now: DateTime<FixedOffset>,
) -> Result<Exit, Failure> {
    match action.unwrap_or(PackagesAction::List { json: false }) {
        PackagesAction::List { json } => {
            let mut rows = Vec::new();
            for p in reg.packages()? {
                let progress = reg.package_progress(&p)?;
                rows.push((p, progress));
            }
            if json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(p, g)| serde_json::json!({"package": p, "progress": g}))
                    .collect();
                print_json(&v)?;
            } else {
                for (p, g) in &rows {
                    say!(
                        "{}  {:<9}  device {}  {}  {}/{} visited  desa {}",
                        p.package_id,
                        format!("{:?}", p.state).to_lowercase(),
                        short(p.device),
                        p.created_at.format("%Y-%m-%d"),
                        g.visited,
                        g.total,
                        p.desa.join(",")
                    );
                }
            }
            Ok(Exit::Ok)
        }
        PackagesAction::Show { id, json } => {
            let p = reg.find_package(&id)?;
            let g = reg.package_progress(&p)?;
            if json {
                print_json(&serde_json::json!({"package": p, "progress": g}))?;
            } else {
                say!("package {} ({})", p.package_id, p.file_name);
                say!(
                    "  device {}, {:?}, written {}, due {}, valid until {}",
                    p.device,
                    p.state,
                    p.created_at.format("%Y-%m-%d %H:%M"),
                    p.due.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
                    p.expires
                );
                if let Some(n) = &p.note {
                    say!("  note: {n}");
                }
                say!("  visited {}/{}", g.visited, g.total);
                for (desa, (v, t)) in &g.desa {
                    say!("    desa {desa}: {v}/{t}");
                }
            }
            Ok(Exit::Ok)
        }
        PackagesAction::Report { json, html } => {
            let r = reg.visit_report(now)?;
            if json {
                print_json(&r)?;
            } else if html {
                say!("{}", r.to_html().trim_end());
            } else {
                say!("{}", r.to_text().trim_end());
            }
            Ok(Exit::Ok)
        }
        PackagesAction::Cancel { id } => {
            let p = reg.cancel_package(&id, now)?;
            say!(
                "cancelled package {}: its {} families may go into another package",
                p.package_id,
                p.families.len()
            );
            Ok(Exit::Ok)
        }
    }
}

/// `pendata package …` on the tablet.
pub fn run(dir: &Path, command: PackageCommand) -> Result<Exit, Failure> {
    let device = super::open_device(dir, crate::store::Access::Write)?;
    match command {
        PackageCommand::Apply {
            file,
            petugas,
            json,
        } => {
            let a = device.apply_package_file(&file, &petugas)?;
            if json {
                print_json(&a)?;
            } else if a.outcome.first_time {
                say!(
                    "paket {} dari {}: {} keluarga menjadi kunjungan ({} sudah ada di tablet) / package {} from {}: {} families to visit ({} already on this tablet)",
                    short(a.package_id),
                    a.registry,
                    a.outcome.created,
                    a.outcome.kept,
                    short(a.package_id),
                    a.registry,
                    a.outcome.created,
                    a.outcome.kept
                );
            } else {
                say!(
                    "paket {} sudah diterapkan sebelumnya: tidak ada yang berubah / package {} was applied before: nothing changed",
                    short(a.package_id),
                    short(a.package_id)
                );
            }
            Ok(Exit::Ok)
        }
        PackageCommand::List { json } => {
            let list = device.packages()?;
            if json {
                print_json(&list)?;
            } else {
                for p in &list {
                    say!(
                        "{}  {}  {} keluarga/families  desa {}  berlaku s.d./valid until {}",
                        short(p.package_id),
                        p.registry,
                        p.families.len(),
                        p.desa.join(","),
                        p.expires
                    );
                }
            }
            Ok(Exit::Ok)
        }
    }
}
