//! The report as aligned plain-text tables, Indonesian headings over English ones.

use std::fmt::Write as _;

use super::RegistryReport;
use super::sections::{TITLE, Table};

impl RegistryReport {
    /// Aligned plain-text tables, Indonesian headings over English ones.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let title = format!("{} — {}", TITLE.id, TITLE.en);
        let _ = writeln!(out, "{title}\n{}", "=".repeat(title.chars().count()));
        if let Some(a) = &self.about {
            let _ = writeln!(out, "{}", a.line());
        }
        for s in self.sections() {
            let heading = format!("{} — {}", s.title.id, s.title.en);
            let _ = writeln!(out, "\n{heading}\n{}", "-".repeat(heading.chars().count()));
            out.push_str(&s.table.to_text());
            for (a, b) in &s.legend {
                let _ = writeln!(out, "  {a}: {} — {}", b.id, b.en);
            }
        }
        out
    }
}

impl Table {
    pub(super) fn to_text(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self
            .head
            .iter()
            .map(|l| width(&l.id).max(width(&l.en)))
            .collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut l = String::new();
            for (i, (cell, w)) in cells.zip(&widths).enumerate() {
                let pad = w.saturating_sub(width(cell));
                if i > 0 {
                    l.push_str("  ");
                }
                if i < 2 {
                    l.push_str(cell);
                    l.extend(std::iter::repeat_n(' ', pad));
                } else {
                    l.extend(std::iter::repeat_n(' ', pad));
                    l.push_str(cell);
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        line(&mut self.head.iter().map(|l| l.id.as_ref()));
        line(&mut self.head.iter().map(|l| l.en.as_ref()));
        let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&mut rules.iter().map(String::as_str));
        for row in &self.rows {
            line(&mut row.iter().map(String::as_str));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{names, sample};
    use super::*;

    #[test]
    fn text_tables_are_aligned() {
        let text = RegistryReport::build(sample(), None, &names()).to_text();
        let lines: Vec<&str> = text.lines().collect();
        let head = lines
            .iter()
            .position(|l| l.starts_with("Kode") && l.contains("Keluarga"))
            .unwrap();
        assert!(lines[head + 1].starts_with("Code") && lines[head + 1].contains("Families"));
        let end = |l: &str, word: &str| l.find(word).map(|i| i + word.len());
        let paser = lines[head..]
            .iter()
            .find(|l| l.starts_with("64.01  Kabupaten Paser"))
            .unwrap();
        // Right-aligned figures end under the end of their heading.
        let families_end = end(lines[head], "Keluarga").unwrap();
        assert_eq!(&paser[families_end - 1..families_end], "3", "{text}");
        let total = lines[head..]
            .iter()
            .find(|l| l.contains("Provinsi"))
            .unwrap();
        assert_eq!(&total[families_end - 1..families_end], "6", "{text}");
        assert!(text.contains("50.0% (2/4)"), "{text}");
        assert!(text.contains("(9): (kode tidak ada di daftar)"), "{text}");
        assert!(text.contains("Kecamatan di Kabupaten Paser — Districts of Kabupaten Paser"));
    }
}
