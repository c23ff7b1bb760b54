//! The chain from the shell: pengesahan at a kabupaten/kota registry (`pendata registry endorse`), the
//! province it forwards to (`registry upstream set`) and the upward bundle (`registry forward`). Thin
//! faces over `registry::endorse` and `registry::forward`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate};
use clap::{ArgGroup, Args, Subcommand};

use super::registry::{Who, signed};
use super::{Exit, Failure, parse_day};
use crate::registry::Endorsement;
use crate::registry::endorse::Selection;
use crate::registry::forward::Forward;
use crate::registry::report::ReportFormat;

/// `pendata registry endorse DIR …`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").args(["family", "desa", "all"]).required(true)))]
pub struct EndorseArgs {
    /// The kabupaten/kota registry's folder (made by `pendata registry init --level kabupaten`).
    pub dir: PathBuf,
    /// One family: its record id.
    #[arg(long, value_name = "ID")]
    pub family: Option<uuid::Uuid>,
    /// Every family of a desa/kelurahan (`64.72.01.1001`).
    #[arg(long, value_name = "CODE")]
    pub desa: Option<String>,
    /// Every family of the registry.
    #[arg(long)]
    pub all: bool,
    /// The reference of the musyawarah desa/kelurahan minutes (nomor berita acara); with --hold, of
    /// the meeting that held them back (optional).
    #[arg(long, value_name = "REF", required_unless_present = "hold")]
    pub minutes: Option<String>,
    /// The date of the musyawarah desa/kelurahan (with --hold: optional).
    #[arg(long, value_parser = parse_day, value_name = "YYYY-MM-DD", required_unless_present = "hold")]
    pub date: Option<NaiveDate>,
    /// Hold the families back instead (not forwarded), with the reason given in --reason. A family
    /// forwarded before is withdrawn at the province by the next `registry forward`.
    #[arg(long)]
    pub hold: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `registry endorse`: endorses (or holds back) the selected families.
pub fn endorse(a: &EndorseArgs, who: &Who, now: DateTime<FixedOffset>) -> Result<Exit, Failure> {
    let decision = match (&a.minutes, a.date, a.hold) {
        (minutes, date, true) => Endorsement::Held {
            reason: who.reason.clone().unwrap_or_default(),
            minutes: minutes.clone(),
            date,
        },
        (Some(minutes), Some(date), false) => Endorsement::Endorsed {
            minutes: minutes.clone(),
            date,
        },
        _ => {
            return Err(Failure::input(
                "give --minutes REF --date YYYY-MM-DD, or --hold --reason TEXT / berikan --minutes dan --date, atau --hold --reason",
            ));
        }
    };
    let selection = match (&a.family, &a.desa) {
        (Some(id), _) => Selection::Family(*id),
        (None, Some(d)) => Selection::Desa(d.clone()),
        (None, None) => Selection::All,
    };
    let reg = signed(&a.dir, who)?;
    let done = reg.endorse(&selection, decision.clone(), now)?;
    if a.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&done).unwrap_or_default()
        );
    } else {
        let verb = match decision {
            Endorsement::Endorsed { .. } => "endorsed for forwarding / disahkan untuk diteruskan",
            Endorsement::Held { .. } => "held back / ditahan",
        };
        say!(
            "{} families {verb}; {} already so",
            done.decided.len(),
            done.unchanged
        );
        if done.withdrawing > 0 {
            say!(
                "{} of them were forwarded before: the next `registry forward` withdraws them at the province / {} di antaranya sudah diteruskan: ditarik dari provinsi pada penerusan berikutnya",
                done.withdrawing,
                done.withdrawing
            );
        }
        if !done.not_accepted.is_empty() {
            say!(
                "{} families not endorsed: not accepted yet (quarantine or conflict: decide those first) / belum diterima",
                done.not_accepted.len()
            );
        }
    }
    Ok(
        if matches!(selection, Selection::Family(_)) && !done.not_accepted.is_empty() {
            Exit::Refused
        } else {
            Exit::Ok
        },
    )
}

/// `pendata registry forward DIR …`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").args(["since_last", "all", "range"])))]
pub struct ForwardArgs {
    /// The kabupaten/kota registry's folder.
    pub dir: PathBuf,
    /// The folder to write the upward bundle to (the stick for the province).
    #[arg(long, value_name = "FOLDER")]
    pub to: PathBuf,
    /// The families endorsed since the previous forward (the default).
    #[arg(long)]
    pub since_last: bool,
    /// Every family endorsed, again.
    #[arg(long)]
    pub all: bool,
    /// Positions A..B of the upward sequence again (a lost stick; the watermark stays).
    #[arg(long, value_parser = super::sync::parse_range, value_name = "A..B")]
    pub range: Option<(u64, u64)>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `pendata registry upstream …`.
#[derive(Debug, Subcommand)]
pub enum UpstreamAction {
    /// Set the province this kabupaten/kota forwards to, from the province's registry.pub (compare its
    /// fingerprint, printed, with the province's office).
    Set {
        /// The kabupaten/kota registry's folder.
        dir: PathBuf,
        /// The province's registry.pub.
        file: PathBuf,
    },
    /// Apply the province's receipt: its evaluations (accepted, returned with the reason) of what this
    /// registry forwarded; the next receipts to the tablets carry them.
    Receipt {
        /// The kabupaten/kota registry's folder.
        dir: PathBuf,
        /// The receipt file (pendata-kuitansi-provinsi-….json).
        file: PathBuf,
    },
}

/// `registry upstream set`.
pub fn upstream(
    a: &UpstreamAction,
    who: &Who,
    now: DateTime<FixedOffset>,
) -> Result<Exit, Failure> {
    match a {
        UpstreamAction::Set { dir, file } => {
            let bytes = std::fs::read(file)
                .map_err(|e| Failure::input(format!("cannot read {}: {e}", file.display())))?;
            let reg = signed(dir, who)?;
            let p = reg.set_upstream(&bytes, now)?;
            say!(
                "forwarding to {} (provinsi {}); key fingerprint {} — compare it with the province's office / bandingkan sidik kunci dengan kantor provinsi",
                p.name,
                p.wilayah.as_deref().unwrap_or("-"),
                p.fingerprint()
            );
            // What the province's `registry devices DIR list` will show for this registry once its
            // first upward bundle is imported: the province approves after comparing it.
            let own = &reg.keys.public.signing_key;
            say!(
                "registri ini di provinsi / this registry at the province: id {}, sidik kunci / fingerprint {} — provinsi menyetujuinya setelah membandingkan / the province approves it after comparing",
                crate::bundle::short(crate::registry::upward_import::kabupaten_id(own)),
                crate::bundle::keys::key_fingerprint(own)
            );
            Ok(Exit::Ok)
        }
        UpstreamAction::Receipt { dir, file } => {
            let bytes = std::fs::read(file)
                .map_err(|e| Failure::input(format!("cannot read {}: {e}", file.display())))?;
            let (accepted, returned) = signed(dir, who)?.apply_upward_receipt(&bytes, now)?;
            say!(
                "province's receipt applied: {accepted} accepted, {returned} returned / diterima {accepted}, dikembalikan {returned}; the next receipts to the tablets carry them"
            );
            Ok(Exit::Ok)
        }
    }
}

/// `registry forward`.
pub fn forward(a: &ForwardArgs, who: &Who, now: DateTime<FixedOffset>) -> Result<Exit, Failure> {
    let which = match (a.all, a.range) {
        (true, _) => Forward::All,
        (false, Some((from, to))) => Forward::Range(from, to),
        (false, None) => Forward::SinceLast,
    };
    let reg = signed(&a.dir, who)?;
    let done = reg.forward(which, &a.to, now)?;
    if a.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&done).unwrap_or_default()
        );
    } else {
        say!("{}", done.path.display());
        eprintln!(
            "upward bundle {}..{}: {} families / keluarga ({} revisions / revisi), {} withdrawn / ditarik",
            done.sequence.from, done.sequence.to, done.families, done.revisions, done.withdrawn
        );
    }
    if !done.without_custody.is_empty() {
        eprintln!(
            "{} endorsed families not forwarded: their revision came from a tablet bundle without line hashes (an older pendata): update the tablet and export again (`pendata export --all`) / {} keluarga tidak diteruskan",
            done.without_custody.len(),
            done.without_custody.len()
        );
    }
    Ok(Exit::Ok)
}

/// `pendata registry evaluate DIR …`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").args(["family", "desa", "kabupaten"]).required(true)))]
#[command(group(ArgGroup::new("verdict").args(["accept", "return_"]).required(true)))]
pub struct EvaluateArgs {
    /// The province's registry folder.
    pub dir: PathBuf,
    /// One family: its record id.
    #[arg(long, value_name = "ID")]
    pub family: Option<uuid::Uuid>,
    /// Every forwarded family of a desa/kelurahan (`64.72.01.1001`).
    #[arg(long, value_name = "CODE")]
    pub desa: Option<String>,
    /// Every forwarded family of a kabupaten/kota (`64.72`).
    #[arg(long, value_name = "CODE")]
    pub kabupaten: Option<String>,
    /// Accept them.
    #[arg(long)]
    pub accept: bool,
    /// Return them to the kabupaten/kota, with the reason given in --reason.
    #[arg(long = "return")]
    pub return_: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `registry evaluate`.
pub fn evaluate(a: &EvaluateArgs, who: &Who, now: DateTime<FixedOffset>) -> Result<Exit, Failure> {
    use crate::registry::Evaluation;
    let decision = if a.accept {
        Evaluation::Accepted
    } else {
        Evaluation::Returned {
            reason: who.reason.clone().unwrap_or_default(),
        }
    };
    let selection = match (&a.family, &a.desa, &a.kabupaten) {
        (Some(id), _, _) => Selection::Family(*id),
        (None, Some(d), _) => Selection::Desa(d.clone()),
        (None, None, Some(k)) if k.matches('.').count() == 1 => Selection::Desa(k.clone()),
        (None, None, Some(k)) => {
            return Err(Failure::input(format!(
                "`{k}` is not a kabupaten/kota code such as 64.72 / bukan kode kabupaten/kota"
            )));
        }
        (None, None, None) => Selection::All,
    };
    let done = signed(&a.dir, who)?.evaluate(&selection, decision, now)?;
    if a.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&done).unwrap_or_default()
        );
    } else {
        say!(
            "{} families {} / keluarga {}; {} already so; {} not forwarded by a kabupaten/kota; {} withdrawn by it / ditarik",
            done.decided.len(),
            if a.accept { "accepted" } else { "returned" },
            if a.accept { "diterima" } else { "dikembalikan" },
            done.unchanged,
            done.not_forwarded,
            done.withdrawn
        );
    }
    Ok(Exit::Ok)
}

/// `pendata registry proposals DIR …`.
#[derive(Debug, Args)]
pub struct ProposalsArgs {
    /// The province's registry folder.
    pub dir: PathBuf,
    /// Print JSON instead of text (the same as --format json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Text for a terminal, JSON for other programs, HTML for people (one self-contained page).
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Write to FILE (atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub to: Option<PathBuf>,
    /// Replace FILE if it is already there (without it, nothing is written).
    #[arg(long, requires = "to")]
    pub replace: bool,
}

/// `registry proposals`: the figures per kabupaten/kota, their course per month and the welfare
/// indicators, printed or written to a file.
pub fn proposals(
    a: &ProposalsArgs,
    existing: crate::durable::Existing,
    now: DateTime<FixedOffset>,
) -> Result<Exit, Failure> {
    let format = if a.json { ReportFormat::Json } else { a.format };
    let report = super::registry::open(&a.dir)?.proposals_report(now)?;
    super::registry::print_or_save(report.render(format), a.to.as_deref(), existing)?;
    Ok(Exit::Ok)
}

/// The registry folder of a chain command.
pub fn dir_of(a: &EndorseArgs) -> &Path {
    &a.dir
}
