//! Opening a registry for the office screens and signing in: the registry's passphrase when its secret
//! keys are kept under one, then an operator's name and passphrase once the registry has operators
//! (until then, decisions are recorded under the computer's account, as the CLI does).

use std::path::{Path, PathBuf};

use age::secrecy::SecretString;

use super::Office;
use crate::model::Localized;
use crate::model::printable::clean;
use crate::registry::{Actor, Registry, RegistryError};

/// Why the office could not open a registry or sign someone in, said in both languages.
#[derive(Debug, thiserror::Error)]
pub enum OfficeError {
    #[error("{0} is not a registry folder")]
    NotARegistry(PathBuf),
    #[error("the registry's passphrase is needed")]
    Locked,
    #[error("wrong passphrase for the registry's keys")]
    WrongRegistryPassphrase,
    #[error("wrong operator name or passphrase")]
    WrongOperator,
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("the work stopped before it ended")]
    Stopped,
    /// A file the office was asked to write (a report, an export) was not written.
    #[error("{0}")]
    Output(String),
}

impl OfficeError {
    /// What a person reads.
    pub fn text(&self) -> Localized {
        match self {
            OfficeError::NotARegistry(p) => Localized::new(
                format!(
                    "{} bukan folder registri (tidak ada registry.pub)",
                    p.display()
                ),
                format!("{} is not a registry folder (no registry.pub)", p.display()),
            ),
            OfficeError::Locked => Localized::new(
                "Kata sandi registri diperlukan untuk membuka kuncinya.",
                "The registry's passphrase is needed to open its keys.",
            ),
            OfficeError::WrongRegistryPassphrase => Localized::new(
                "Kata sandi registri salah. Coba lagi.",
                "Wrong registry passphrase. Try again.",
            ),
            OfficeError::WrongOperator => Localized::new(
                "Nama operator atau kata sandi salah. Coba lagi.",
                "Wrong operator name or passphrase. Try again.",
            ),
            OfficeError::Registry(e) => registry_text(e),
            OfficeError::Output(s) => Localized::new(
                format!("Berkas tidak ditulis: {s}"),
                format!("The file was not written: {s}"),
            ),
            OfficeError::Stopped => Localized::new(
                "Pekerjaan berhenti sebelum selesai; lihat log.",
                "The work stopped before it ended; see the log.",
            ),
        }
    }
}

/// A registry error in both languages: the registry's own two-language texts ("English / Indonesia")
/// split, others given as they are after a translated lead.
pub fn registry_text(e: &RegistryError) -> Localized {
    let s = e.to_string();
    if let Some((en, id)) = s.rsplit_once(" / ") {
        return Localized::new(id.trim(), en.trim());
    }
    Localized::new(
        format!("Kesalahan registri: {s}"),
        format!("Registry error: {s}"),
    )
}

pub type Result<T, E = OfficeError> = std::result::Result<T, E>;

/// Whether `dir` holds a registry.
pub fn is_registry(dir: &Path) -> bool {
    dir.join(crate::registry::PUB_FILE).is_file()
}

/// Whether the registry's secret keys are under a passphrase (asked before anything else).
pub fn needs_passphrase(dir: &Path) -> bool {
    crate::registry::is_protected(dir)
}

/// Opens the registry in `dir`, with its passphrase when its keys are kept under one.
pub fn open(dir: &Path, passphrase: Option<&str>) -> Result<Office> {
    if !is_registry(dir) {
        return Err(OfficeError::NotARegistry(dir.to_path_buf()));
    }
    let secret = passphrase
        .filter(|p| !p.is_empty())
        .map(|p| SecretString::from(p.to_string()));
    match Registry::open_with(dir, secret.as_ref()) {
        Ok(reg) => Ok(Office::new(reg)),
        Err(RegistryError::Locked(_)) => Err(OfficeError::Locked),
        Err(RegistryError::WrongPassphrase(_)) => Err(OfficeError::WrongRegistryPassphrase),
        Err(e) => Err(e.into()),
    }
}

/// Whether signing in needs an operator (the registry has at least one).
pub fn has_operators(office: &Office) -> Result<bool> {
    Ok(!office.read().operators()?.is_empty())
}

/// Who is signed in, as shown in the top bar.
pub fn signed_in(office: &Office) -> Option<String> {
    office.read().session.actor.as_ref().map(|a| match a {
        Actor::Operator { name, .. } | Actor::Account { name } => name.clone(),
    })
}

/// Signs an operator in (or, while the registry has no operators, the computer's account): the name
/// recorded with every decision made on the screens from now on.
pub fn sign_in(office: &Office, name: &str, passphrase: &str) -> Result<String> {
    let mut reg = office.write();
    let actor = if reg.operators()?.is_empty() {
        Actor::Account { name: os_account() }
    } else {
        reg.sign_in(name, passphrase)
            .map_err(|_| OfficeError::WrongOperator)?
    };
    let shown = match &actor {
        Actor::Operator { name, .. } | Actor::Account { name } => name.clone(),
    };
    reg.session.actor = Some(actor);
    reg.session.reason = None;
    Ok(shown)
}

/// Signs out: nothing is decided until someone signs in again.
pub fn sign_out(office: &Office) {
    let mut reg = office.write();
    reg.session.actor = None;
    reg.session.reason = None;
}

/// The computer's account (recorded while the registry has no operators).
fn os_account() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .map(|s| clean(s.trim()).into_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// The registries set up on this PC (by `registry init` or opened in the office before), newest first;
/// kept in the user's config folder.
pub fn known_registries() -> Vec<PathBuf> {
    let Some(file) = known_file() else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .map(PathBuf::from)
        .filter(|p| is_registry(p))
        .collect()
}

/// Remembers a registry folder on this PC (first in the list). A failure only means the folder is not
/// offered next time; it is logged, never fatal.
pub fn remember_registry(dir: &Path) {
    let Some(file) = known_file() else { return };
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut all = vec![dir.clone()];
    all.extend(known_registries().into_iter().filter(|p| *p != dir).take(9));
    let text: String = all.iter().map(|p| format!("{}\n", p.display())).collect();
    if let Some(parent) = file.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let options = crate::durable::Options::replace().private();
    if let Err(e) = crate::durable::write_bytes(&file, text.as_bytes(), &options) {
        tracing::warn!(error = %e, "the list of registries on this PC was not saved");
    }
}

fn known_file() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PENDATA_OFFICE_REGISTRIES") {
        return Some(PathBuf::from(p));
    }
    directories::ProjectDirs::from("id.go.kaltimprov", "Dinas Sosial", "Pendata")
        .map(|d| d.config_dir().join("registries.txt"))
}
