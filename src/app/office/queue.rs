//! The office's work queue: quarantine, conflicts and update conflicts in one list, and their decisions.
