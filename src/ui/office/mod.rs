//! The office screens (`pendata office`): the registry's work for people who do not use a shell, in the
//! tablet app's look. They talk to `crate::app::office` only.

pub mod families;
pub mod queue;
