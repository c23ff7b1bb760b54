//! The report rendered in the format asked for and written to a file a person names, through the one
//! durable writer ([`crate::durable`]): complete under its final name or not at all, and never over a
//! file already there unless the caller says to replace it.

use std::path::Path;

use super::RegistryReport;
use crate::durable::{self, Existing, Options, WriteError, Written};

/// How the report is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// Aligned plain-text tables, for a terminal.
    Text,
    /// The serde form of [`RegistryReport`], for other programs.
    Json,
    /// One self-contained page, for people.
    Html,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl RegistryReport {
    pub fn render(&self, format: ReportFormat) -> Result<String, serde_json::Error> {
        Ok(match format {
            ReportFormat::Text => self.to_text(),
            ReportFormat::Json => self.to_json()?,
            ReportFormat::Html => self.to_html(),
        })
    }

    /// Writes the report to `path` (a bare file name is written in the working folder); a file already
    /// there is refused ([`Existing::Refuse`], nothing written) or replaced ([`Existing::Replace`]).
    pub fn save(
        &self,
        format: ReportFormat,
        path: &Path,
        existing: Existing,
    ) -> Result<Written, ReportError> {
        save_text(&self.render(format)?, path, existing)
    }
}

/// Writes a rendered report to `path` (a bare file name in the working folder): owner-only like every
/// file the registry writes (what is private in a report is for its owner to share, not for every
/// account of the office PC); a file already there is refused or replaced as `existing` says.
pub fn save_text(text: &str, path: &Path, existing: Existing) -> Result<Written, ReportError> {
    let options = Options {
        existing,
        ..Options::refuse().private()
    };
    Ok(durable::write_bytes(path, text.as_bytes(), &options)?)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{names, sample};
    use super::*;

    #[test]
    fn a_report_file_is_refused_when_there_and_replaced_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("laporan.html");
        let report = RegistryReport::build(sample(), None, &names());
        report
            .save(ReportFormat::Html, &path, Existing::Refuse)
            .unwrap();
        let page = std::fs::read_to_string(&path).unwrap();
        assert_eq!(page, report.to_html());
        let err = report
            .save(ReportFormat::Text, &path, Existing::Refuse)
            .unwrap_err();
        assert!(
            matches!(err, ReportError::Write(WriteError::Exists(_))),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), page);
        report
            .save(ReportFormat::Text, &path, Existing::Replace)
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), report.to_text());
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "no temporary file left");
    }
}
