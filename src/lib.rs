//! Pendata: an offline field data collector for household social-welfare assessments (DTSEN), with
//! signed and encrypted USB sync bundles and the provincial registry tools. See ARCHITECTURE.md.

pub mod app;
pub mod bundle;
pub mod cli;
pub mod form;
pub mod model;
pub mod registry;
pub mod store;
pub mod ui;
