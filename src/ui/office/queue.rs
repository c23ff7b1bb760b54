//! The work queue screen.
