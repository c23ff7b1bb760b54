//! Pendata: an offline field data collector for household social-welfare assessments (DTSEN), with
//! signed and encrypted USB sync bundles and the provincial registry tools. See ARCHITECTURE.md.

pub mod app;
pub mod bundle;
pub mod cli;
pub mod durable;
pub mod form;
pub mod log;
pub mod model;
pub mod registry;
pub mod store;
pub mod ui;

/// mimalloc instead of the C library's allocator, for every program and test built on this library:
/// reading answers, validating and merging are dominated by small allocations (names, codes, JSON
/// maps), and the registry import spent about a seventh of its time in glibc's malloc and free (see
/// BENCHMARKS.md, "Registry import").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
