//! Forms as data: the file format (`schema`), the expression language (`expr`), checking a form
//! (`compile`), the engine that evaluates answers (`eval`), the forms built into the program (`catalog`)
//! and the household form's contract with the code (`household`). Pure: no I/O, no clock, nothing about
//! storage.

pub mod catalog;
pub mod compile;
pub mod eval;
pub mod expr;
pub mod household;
pub mod limits;
pub mod schema;
pub mod value;

pub use compile::{
    Choice, ChoiceList, DataFiles, Field, FieldId, Form, FormProblem, NoDataFiles, Page,
};
pub use eval::{Evaluation, Issue, Progress, Report, evaluate, unknown_answers};
pub use limits::DEFAULT_MAX_LENGTH;
pub use schema::{FieldKind, Severity};
pub use value::Value;
