//! Text from outside (a device's name, a petugas's name, a file name, a family's answers) made safe to
//! show: control characters (C0, DEL, C1, so ESC and NUL too) and the invisible direction marks and
//! overrides (U+202E and its kin) that make a terminal, a spreadsheet or a screen show something else
//! than what is there become U+FFFD (�), visible. The one definition of what is unsafe, used wherever such
//! text is printed, written to CSV, XLSX or HTML, or drawn.

use std::borrow::Cow;

/// What replaces each unsafe character: visible, so the damage shows.
pub const REPLACEMENT: char = '\u{FFFD}';

/// Whether `c` must not reach a terminal or a document as is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// A name for one line (a device, a petugas, a file): every unsafe character replaced, line breaks
/// included.
pub fn clean(s: &str) -> Cow<'_, str> {
    replace(s, |_| false)
}

/// A text that may span lines (a cell of a CSV or XLSX file, a note): line breaks and tabs stay, every
/// other unsafe character is replaced.
pub fn clean_text(s: &str) -> Cow<'_, str> {
    replace(s, |c| matches!(c, '\n' | '\r' | '\t'))
}

fn replace(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if is_unsafe(c) && !keep(c) {
                    REPLACEMENT
                } else {
                    c
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_line_breaks_nul_and_direction_overrides_are_replaced() {
        let hostile = "Tablet\u{1b}[2J\u{1b}]0;X\u{7}\nfake line";
        let got = clean(hostile);
        assert!(!got.chars().any(is_unsafe), "{got:?}");
        assert_eq!(got, "Tablet�[2J�]0;X��fake line");
        assert_eq!(clean("a\u{0}b\u{202E}c\u{85}d\u{2066}"), "a�b�c�d�");
        assert_eq!(
            clean_text("baris 1\nbaris 2\t\u{1b}[31m"),
            "baris 1\nbaris 2\t�[31m"
        );
        assert!(matches!(clean("Siti Aminah — RT 03"), Cow::Borrowed(_)));
    }
}
