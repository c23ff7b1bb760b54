//! Exit codes, in one place: what each code means, which errors map to which, and the one function that
//! prints a failure. README.md ("Exit codes") states the same table.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::process::ExitCode;

use crate::app::AppError;
use crate::bundle::BundleError;
use crate::registry::RegistryError;
use crate::registry::db::DbError;
use crate::store::StoreError;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: done (warnings allowed).
    Ok = 0,
    /// 1: refused (validation errors, a rule of the workflow, an existing file or store), or something
    /// needs an operator (a device to approve, a full stick, a store open in another program).
    Refused = 1,
    /// 2: bad input or usage: a wrong argument, an unreadable or invalid input file, an unknown id.
    BadInput = 2,
    /// 3: an internal failure: an I/O error on the program's own store or keys, a damaged store, a bug.
    /// Not the input's fault; the log (`pendata.log`) has the details for support.
    Internal = 3,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// Something that ends a command with a code other than 0.
pub trait Classify {
    fn exit(&self) -> Exit;
}

impl Classify for StoreError {
    fn exit(&self) -> Exit {
        match self {
            StoreError::IllegalTransition { .. }
            | StoreError::ReasonRequired(_)
            | StoreError::Stale { .. }
            | StoreError::WrongPin(_)
            | StoreError::WrongSecret
            | StoreError::WrongRecoveryCode
            | StoreError::TooManyTries { .. }
            | StoreError::AlreadyInitialized(_)
            | StoreError::PetugasExists(_)
            | StoreError::TooNew { .. }
            | StoreError::ReadOnlyFile(_)
            | StoreError::NoPermission(_)
            | StoreError::Busy => Exit::Refused,
            StoreError::NotInitialized(_)
            | StoreError::PinNeeded
            | StoreError::UnknownRecord(_)
            | StoreError::UnknownPetugas(_)
            | StoreError::Invalid(_) => Exit::BadInput,
            StoreError::Corrupt { .. } | StoreError::Storage(_) => Exit::Internal,
        }
    }
}

impl Classify for AppError {
    fn exit(&self) -> Exit {
        match self {
            AppError::Store(e) => e.exit(),
            AppError::NotReady { .. }
            | AppError::UnknownFields { .. }
            | AppError::NotDemo
            | AppError::DemoMismatch { .. }
            | AppError::RegistryKeyPinned { .. }
            | AppError::NoRegistryKey
            | AppError::Write(_)
            | AppError::PackageRefused(_) => Exit::Refused,
            AppError::UnknownForm(_)
            | AppError::UnknownFormVersion(..)
            | AppError::Photo { .. }
            | AppError::NotAPhotoField { .. }
            | AppError::Bundle(_)
            | AppError::NoFolder(_)
            | AppError::UnknownWilayah(_)
            | AppError::Unreadable(_)
            | AppError::BadRange { .. }
            | AppError::TooLong { .. }
            | AppError::WrongDevice { .. } => Exit::BadInput,
            AppError::Forms(_) | AppError::Stopped(_) => Exit::Internal,
        }
    }
}

impl Classify for DbError {
    fn exit(&self) -> Exit {
        match self {
            DbError::Busy | DbError::TooNew { .. } => Exit::Refused,
            DbError::Corrupt { .. }
            | DbError::Redb(_)
            | DbError::Unreadable { .. }
            | DbError::Json(_)
            | DbError::Io(_)
            | DbError::Storage(_) => Exit::Internal,
        }
    }
}

impl Classify for RegistryError {
    fn exit(&self) -> Exit {
        match self {
            // A folder without a registry has always exited 1 (the tests hold it): an operator has to
            // run `registry init` or point at the right folder.
            RegistryError::AlreadyInitialized(_)
            | RegistryError::NotInitialized(_)
            | RegistryError::Write(_)
            | RegistryError::Locked(_)
            | RegistryError::WrongPassphrase(_)
            | RegistryError::Operator(_) => Exit::Refused,
            RegistryError::Invalid(_) => Exit::BadInput,
            RegistryError::Db(e) => e.exit(),
            RegistryError::Unsaved { source, .. } => source.exit(),
            RegistryError::Key { .. } | RegistryError::Io { .. } => Exit::Internal,
        }
    }
}

impl Classify for BundleError {
    /// A bundle that fails its checks, or cannot be read to the end, is refused (`bundle inspect`).
    fn exit(&self) -> Exit {
        Exit::Refused
    }
}

/// A failure that ends a command: its exit code, what to print, and the error it came from (kept for
/// the log, which shows the whole chain).
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub source: Option<Box<dyn StdError + Send + Sync>>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
            source: None,
        }
    }

    /// Bad input or usage: exit 2.
    pub fn input(message: impl Into<String>) -> Self {
        Failure::new(Exit::BadInput, message)
    }

    /// Refused, or needs an operator: exit 1.
    pub fn refused(message: impl Into<String>) -> Self {
        Failure::new(Exit::Refused, message)
    }

    /// An internal failure: exit 3.
    pub fn internal(message: impl Into<String>) -> Self {
        Failure::new(Exit::Internal, message)
    }

    /// A typed error, with the code it maps to and its text.
    pub fn of<E: Classify + StdError + Send + Sync + 'static>(e: E) -> Self {
        Failure {
            exit: e.exit(),
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }

    /// The same failure, its message prefixed with what it concerns (a file name).
    pub fn about(mut self, what: impl std::fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The same failure with another exit code (an error of a file the user named, for instance, is
    /// bad input whatever its kind).
    pub fn with_exit(mut self, exit: Exit) -> Self {
        self.exit = exit;
        self
    }

    /// Standard output failed: a closed pipe ends quietly, anything else is reported.
    pub fn output(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure::new(Exit::Ok, "")
        } else {
            Failure {
                exit: Exit::Internal,
                message: format!("cannot write the output: {e}"),
                source: Some(Box::new(e)),
            }
        }
    }
}

impl From<AppError> for Failure {
    /// A petugas may read these (the device commands): in both languages, Indonesian first, as the
    /// app shows them (`AppError::text`).
    fn from(e: AppError) -> Self {
        let message = match &e {
            AppError::NotReady { errors, warnings } => not_ready(errors, warnings),
            _ => {
                let text = e.text();
                if text.id == text.en {
                    text.en
                } else {
                    format!("{} / {}", text.id, text.en)
                }
            }
        };
        Failure {
            message,
            ..Failure::of(e)
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::of(e)
    }
}

impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Self {
        Failure::of(e)
    }
}

impl From<BundleError> for Failure {
    fn from(e: BundleError) -> Self {
        Failure::of(e)
    }
}

fn not_ready(errors: &[crate::form::Issue], warnings: &[crate::form::Issue]) -> String {
    let mut m = format!(
        "belum bisa difinalisasi / cannot finalize yet: {} kesalahan/error(s), {} peringatan/warning(s) not acknowledged",
        errors.len(),
        warnings.len()
    );
    for i in errors.iter().chain(warnings) {
        let _ = write!(m, "\n  {}", super::issue_line(i));
    }
    if errors.is_empty() {
        m.push_str("\nacknowledge the warnings with --ack-warnings once they are checked");
    }
    m
}

/// The error and its sources, `a: b: c`, for the log.
pub fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut s = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        // `#[error(transparent)]` and `{source}` in a message repeat the cause: say it once.
        if !s.contains(&text) {
            let _ = write!(s, ": {text}");
        }
        next = cause.source();
    }
    s
}

/// Prints a failure once, on standard error, logs it, and returns its exit code. An internal failure
/// says what to do: it is not the input's fault, and the log has the details for support.
pub fn report(f: &Failure) -> Exit {
    if !f.message.is_empty() {
        eprintln!("pendata: {}", f.message);
    }
    let detail = f
        .source
        .as_deref()
        .map_or_else(|| f.message.clone(), |e| chain(e));
    match f.exit {
        Exit::Ok => {}
        Exit::Refused | Exit::BadInput => {
            tracing::warn!(exit = f.exit.code(), error = %detail, "command failed");
        }
        Exit::Internal => {
            tracing::error!(exit = f.exit.code(), error = %detail, "internal failure");
            let log = crate::log::path()
                .map_or_else(|| crate::log::FILE.to_string(), |p| p.display().to_string());
            eprintln!(
                "pendata: this is an internal failure, not a problem with what you typed: if it happens \
                 again, give the log {log} to support / kegagalan internal, bukan kesalahan isian: bila \
                 terulang, serahkan log {log} kepada petugas dukungan"
            );
        }
    }
    f.exit
}
