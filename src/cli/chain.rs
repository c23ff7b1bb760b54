//! The chain from the shell: pengesahan at a kabupaten/kota registry (`pendata registry endorse`). A thin
//! face over `registry::endorse`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate};
use clap::{ArgGroup, Args};

use super::registry::{Who, signed};
use super::{Exit, Failure, parse_day};
use crate::registry::Endorsement;
use crate::registry::endorse::Selection;

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
    /// The reference of the musyawarah desa/kelurahan minutes (nomor berita acara).
    #[arg(
        long,
        value_name = "REF",
        required_unless_present = "hold",
        conflicts_with = "hold"
    )]
    pub minutes: Option<String>,
    /// The date of the musyawarah desa/kelurahan.
    #[arg(long, value_parser = parse_day, value_name = "YYYY-MM-DD", required_unless_present = "hold", conflicts_with = "hold")]
    pub date: Option<NaiveDate>,
    /// Hold the families back instead (not forwarded), with the reason given in --reason.
    #[arg(long)]
    pub hold: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `registry endorse`: endorses (or holds back) the selected families.
pub fn endorse(a: &EndorseArgs, who: &Who, now: DateTime<FixedOffset>) -> Result<Exit, Failure> {
    let decision = match (&a.minutes, a.date, a.hold) {
        (_, _, true) => Endorsement::Held {
            reason: who.reason.clone().unwrap_or_default(),
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

/// The registry folder of a chain command.
pub fn dir_of(a: &EndorseArgs) -> &Path {
    &a.dir
}
