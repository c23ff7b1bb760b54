//! The form engine: (form, answers, today) → relevance, computed values, errors and warnings.
//! Pure: no I/O and no clock; "today" is passed in.

use std::borrow::Cow;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::compile::{CExpr, Check, Choice, Container, Field, FieldId, Form, Node, Required};
use super::expr::{BinOp, Func};
use super::schema::{FieldKind, Severity};
use super::value::{Value, format_num, parse_answer};
use crate::model::Localized;
use crate::model::ids::{IdError, KkNumber, Nik, kecamatan_of};

/// A field's state in one evaluation.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub value: Value,
    pub relevant: bool,
}

/// An error or warning at a field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Issue {
    /// `luas_lantai`, `anggota[2].nik` (instances count from 0, as in the answers array); empty for the form.
    pub path: String,
    pub severity: Severity,
    /// Stable machine-readable code: `required`, `constraint`, `check`, `nik_length`, …
    pub code: &'static str,
    pub message: Localized,
    #[serde(skip)]
    pub field: Option<FieldId>,
    #[serde(skip)]
    pub instance: Option<usize>,
}

/// The result of evaluating a form over a set of answers.
#[derive(Debug, Clone)]
pub struct Evaluation<'f> {
    form: &'f Form,
    state: State,
    pub issues: Vec<Issue>,
}

#[derive(Debug, Clone)]
struct State {
    top: Vec<Cell>,
    /// Per repeat field: its instances, each a row of slots.
    repeats: Vec<(FieldId, Vec<Vec<Cell>>)>,
    pages: Vec<bool>,
}

const NULL: Value = Value::Null;

impl State {
    fn rows(&self, repeat: FieldId) -> &[Vec<Cell>] {
        self.repeats
            .iter()
            .find(|(r, _)| *r == repeat)
            .map_or(&[], |(_, rows)| rows.as_slice())
    }

    fn rows_mut(&mut self, repeat: FieldId) -> Option<&mut Vec<Vec<Cell>>> {
        self.repeats
            .iter_mut()
            .find(|(r, _)| *r == repeat)
            .map(|(_, rows)| rows)
    }

    fn cell(&self, f: &Field, instance: Option<usize>) -> Option<&Cell> {
        match f.container {
            Container::Top => self.top.get(f.slot),
            Container::Repeat(r) => self.rows(r).get(instance?)?.get(f.slot),
        }
    }

    fn cell_mut(&mut self, f: &Field, instance: Option<usize>) -> Option<&mut Cell> {
        match f.container {
            Container::Top => self.top.get_mut(f.slot),
            Container::Repeat(r) => self.rows_mut(r)?.get_mut(instance?)?.get_mut(f.slot),
        }
    }
}

/// What an expression sees while it is evaluated.
struct Ctx<'a> {
    form: &'a Form,
    state: &'a State,
    instance: Option<usize>,
    current: Option<&'a Value>,
    choice: Option<&'a Choice>,
    today: NaiveDate,
}

impl<'a> Ctx<'a> {
    fn new(form: &'a Form, state: &'a State, instance: Option<usize>, today: NaiveDate) -> Self {
        Ctx {
            form,
            state,
            instance,
            current: None,
            choice: None,
            today,
        }
    }

    fn field(&self, id: FieldId) -> &'a Value {
        self.form
            .field_by_id(id)
            .and_then(|f| self.state.cell(f, self.instance))
            .map_or(&NULL, |c| &c.value)
    }

    fn set(&self, id: FieldId) -> impl Iterator<Item = &Value> {
        let field = self.form.field_by_id(id);
        let rows = match field.map(|f| f.container) {
            Some(Container::Repeat(r)) => self.state.rows(r),
            _ => &[],
        };
        let slot = field.map_or(usize::MAX, |f| f.slot);
        rows.iter()
            .map(move |row| row.get(slot).map_or(&NULL, |c| &c.value))
    }

    /// Evaluates an expression. Literals, field values and the current value are borrowed, not copied:
    /// most rules compare a code with a literal, and copying both cost more than comparing them.
    fn eval(&self, e: &'a CExpr) -> Cow<'a, Value> {
        match e {
            CExpr::Lit(v) => Cow::Borrowed(v),
            CExpr::Field(id) => Cow::Borrowed(self.field(*id)),
            CExpr::Current => self.current.map_or(Cow::Owned(Value::Null), Cow::Borrowed),
            other => Cow::Owned(self.eval_owned(other)),
        }
    }

    fn eval_owned(&self, e: &'a CExpr) -> Value {
        match e {
            CExpr::Lit(v) => v.clone(),
            CExpr::Field(id) => self.field(*id).clone(),
            CExpr::Set(_) | CExpr::Repeat(_) => Value::Null,
            CExpr::Current => self.current.cloned().unwrap_or_default(),
            CExpr::Attr(name) => match self.choice {
                Some(c) if name == "value" || name == "name" => Value::Str(c.value.clone()),
                Some(c) => Value::Str(c.attrs.get(name).cloned().unwrap_or_default()),
                None => Value::Null,
            },
            CExpr::Neg(inner) => num(-self.eval(inner).to_num()),
            CExpr::Bin(op, a, b) => self.binary(*op, a, b),
            CExpr::Regex(subject, re) => Value::Bool(match &*self.eval(subject) {
                Value::Str(s) => re.is_match(s),
                v => re.is_match(&v.to_text()),
            }),
            CExpr::Call(func, args) => self.call(*func, args),
        }
    }

    /// Evaluates an expression only for its truth (relevance, requirements, constraints, checks): `and`,
    /// `or`, `not()` and comparisons answer with a bool instead of making a value on the way. Always
    /// `self.eval(e).truthy()`.
    fn truth(&self, e: &'a CExpr) -> bool {
        match e {
            CExpr::Bin(BinOp::And, a, b) => self.truth(a) && self.truth(b),
            CExpr::Bin(BinOp::Or, a, b) => self.truth(a) || self.truth(b),
            CExpr::Bin(
                op @ (BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge),
                a,
                b,
            ) => compare(*op, &self.eval(a), &self.eval(b)),
            CExpr::Call(Func::Not, args) => !args.first().is_some_and(|a| self.truth(a)),
            CExpr::Field(id) => self.field(*id).truthy(),
            other => self.eval(other).truthy(),
        }
    }

    fn binary(&self, op: BinOp, a: &'a CExpr, b: &'a CExpr) -> Value {
        match op {
            BinOp::And => return Value::Bool(self.truth(a) && self.truth(b)),
            BinOp::Or => return Value::Bool(self.truth(a) || self.truth(b)),
            _ => {}
        }
        let (x, y) = (self.eval(a), self.eval(b));
        let (x, y) = (x.as_ref(), y.as_ref());
        match op {
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                Value::Bool(compare(op, x, y))
            }
            BinOp::Add | BinOp::Sub => match (x, y, op) {
                (Value::Date(d1), Value::Date(d2), BinOp::Sub) => {
                    Value::Num((*d1 - *d2).num_days() as f64)
                }
                (Value::Date(d), n, _) | (n, Value::Date(d), BinOp::Add) => {
                    let days = n.to_num();
                    if !days.is_finite() || days.abs() > 1e6 {
                        return Value::Null;
                    }
                    let days = if op == BinOp::Sub { -days } else { days };
                    d.checked_add_signed(chrono::Duration::days(days.floor() as i64))
                        .map_or(Value::Null, Value::Date)
                }
                _ => {
                    let (p, q) = (x.to_num(), y.to_num());
                    num(if op == BinOp::Add { p + q } else { p - q })
                }
            },
            BinOp::Mul => num(x.to_num() * y.to_num()),
            BinOp::Div => num(x.to_num() / y.to_num()),
            BinOp::Mod => num(x.to_num() % y.to_num()),
            BinOp::And | BinOp::Or => Value::Null,
        }
    }

    fn call(&self, func: Func, args: &'a [CExpr]) -> Value {
        let arg = |i: usize| {
            args.get(i)
                .map_or(Cow::Owned(Value::Null), |a| self.eval(a))
        };
        match func {
            Func::Selected => {
                let code = arg(1);
                let code = match code.as_ref() {
                    Value::Str(s) => Cow::Borrowed(s.as_str()),
                    v => Cow::Owned(v.to_text()),
                };
                Value::Bool(match arg(0).as_ref() {
                    Value::Multi(m) => m.iter().any(|c| *c == *code),
                    Value::Str(s) => !s.is_empty() && *s == *code,
                    v => !v.is_empty() && v.to_text() == *code,
                })
            }
            Func::CountSelected => match arg(0).as_ref() {
                Value::Multi(m) => Value::Num(m.len() as f64),
                _ => Value::Num(0.0),
            },
            Func::Count => match args.first() {
                Some(CExpr::Repeat(r)) => Value::Num(self.state.rows(*r).len() as f64),
                Some(CExpr::Set(id)) => Value::Num(self.set(*id).count() as f64),
                _ => Value::Num(0.0),
            },
            Func::Sum | Func::Min | Func::Max => {
                let Some(CExpr::Set(id)) = args.first() else {
                    return Value::Null;
                };
                let nums = self.set(*id).map(Value::to_num).filter(|n| !n.is_nan());
                match func {
                    Func::Sum => Value::Num(nums.sum()),
                    Func::Min => nums.reduce(f64::min).map_or(Value::Null, Value::Num),
                    _ => nums.reduce(f64::max).map_or(Value::Null, Value::Num),
                }
            }
            Func::Today => Value::Date(self.today),
            Func::Date => arg(0).to_date().map_or(Value::Null, Value::Date),
            Func::Age => match (arg(0).to_date(), arg(1).to_date()) {
                (Some(born), Some(on)) => on
                    .years_since(born)
                    .map_or(Value::Null, |y| Value::Num(f64::from(y))),
                _ => Value::Null,
            },
            Func::StringLength => Value::Num(arg(0).to_text().chars().count() as f64),
            Func::Regex => Value::Null, // compiled to CExpr::Regex
            Func::If => {
                if args.first().is_some_and(|a| self.truth(a)) {
                    arg(1).into_owned()
                } else {
                    arg(2).into_owned()
                }
            }
            Func::Not => Value::Bool(!args.first().is_some_and(|a| self.truth(a))),
            Func::Int => num(arg(0).to_num().trunc()),
            Func::Round => round(
                arg(0).to_num(),
                if args.len() > 1 { arg(1).to_num() } else { 0.0 },
            ),
            Func::Number => num(arg(0).to_num()),
            Func::String => Value::Str(arg(0).to_text()),
            Func::Concat => Value::Str(args.iter().map(|a| self.eval(a).to_text()).collect()),
            Func::Substr => substr(
                &arg(0).to_text(),
                arg(1).to_num(),
                if args.len() > 2 {
                    arg(2).to_num()
                } else {
                    f64::INFINITY
                },
            ),
            Func::StartsWith => Value::Bool(arg(0).to_text().starts_with(&arg(1).to_text())),
            Func::Contains => Value::Bool(arg(0).to_text().contains(&arg(1).to_text())),
            Func::Coalesce => {
                let a = arg(0);
                if a.is_empty() {
                    arg(1).into_owned()
                } else {
                    a.into_owned()
                }
            }
            Func::True => Value::Bool(true),
            Func::False => Value::Bool(false),
        }
    }
}

/// `round(x, digits)`: nothing for a number of digits that is not finite or beyond ±15.
fn round(x: f64, digits: f64) -> Value {
    if !digits.is_finite() || digits.abs() > 15.0 {
        return Value::Null;
    }
    let f = 10f64.powi(digits as i32);
    num((x * f).round() / f)
}

/// `substr(s, start, end)`: characters `start..end` (from 0), clamped to the text.
fn substr(s: &str, start: f64, end: f64) -> Value {
    if start.is_nan() || end.is_nan() {
        return Value::Str(String::new());
    }
    let start = start.max(0.0) as usize;
    let end = end.max(0.0).min(usize::MAX as f64) as usize;
    Value::Str(
        s.chars()
            .skip(start)
            .take(end.saturating_sub(start))
            .collect(),
    )
}

/// A value as text, borrowed when it is text already.
fn text_of(v: &Value) -> Cow<'_, str> {
    match v {
        Value::Str(s) => Cow::Borrowed(s),
        v => Cow::Owned(v.to_text()),
    }
}

fn num(n: f64) -> Value {
    if n.is_nan() {
        Value::Null
    } else {
        Value::Num(n)
    }
}

fn equal(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Bool(_), _) | (_, Value::Bool(_)) => x.truthy() == y.truthy(),
        _ if x.is_empty() || y.is_empty() => x.is_empty() && y.is_empty(),
        // The common case (a code against a literal), without making copies of either.
        (Value::Str(a), Value::Str(b)) => a == b,
        (Value::Num(_), _) | (_, Value::Num(_)) => {
            let (p, q) = (x.to_num(), y.to_num());
            if p.is_nan() || q.is_nan() {
                x.to_text() == y.to_text()
            } else {
                p == q
            }
        }
        (Value::Date(_), _) | (_, Value::Date(_)) => match (x.to_date(), y.to_date()) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        _ => x.to_text() == y.to_text(),
    }
}

/// A comparison operator applied to two values.
fn compare(op: BinOp, x: &Value, y: &Value) -> bool {
    match op {
        BinOp::Eq => equal(x, y),
        BinOp::Ne => !equal(x, y),
        _ => order(x, y).is_some_and(|ord| match op {
            BinOp::Lt => ord.is_lt(),
            BinOp::Le => ord.is_le(),
            BinOp::Gt => ord.is_gt(),
            _ => ord.is_ge(),
        }),
    }
}

fn order(x: &Value, y: &Value) -> Option<std::cmp::Ordering> {
    if x.is_empty() || y.is_empty() {
        return None;
    }
    if matches!(x, Value::Date(_)) || matches!(y, Value::Date(_)) {
        return Some(x.to_date()?.cmp(&y.to_date()?));
    }
    let (p, q) = (x.to_num(), y.to_num());
    if p.is_nan() || q.is_nan() {
        if let (Value::Str(a), Value::Str(b)) = (x, y) {
            return Some(a.cmp(b));
        }
        return None;
    }
    p.partial_cmp(&q)
}

fn path_of(f: &Field, form: &Form, instance: Option<usize>) -> String {
    match (f.container, instance) {
        (Container::Repeat(r), Some(i)) => {
            let rname = form.field_by_id(r).map_or("", |r| r.name.as_str());
            format!("{rname}[{i}].{}", f.name)
        }
        _ => f.name.clone(),
    }
}

fn msg(id: &str, en: &str) -> Localized {
    Localized::new(id, en)
}

fn id_error_message(e: IdError, what: &str) -> Localized {
    match e {
        IdError::Length => msg(
            &format!("{what} harus 16 angka"),
            &format!("{what} must be exactly 16 digits"),
        ),
        IdError::Province => msg(
            &format!("{what} tidak valid: kode provinsi 00 tidak ada"),
            &format!("{what} is invalid: province code 00 does not exist"),
        ),
        IdError::Date => msg(
            &format!("{what} tidak valid: bagian tanggal (digit 7–12) bukan tanggal yang ada"),
            &format!("{what} is invalid: the date part (digits 7–12) is not a real date"),
        ),
        IdError::Serial => msg(
            &format!("{what} tidak valid: nomor urut 0000 tidak pernah diterbitkan"),
            &format!("{what} is invalid: serial number 0000 is never issued"),
        ),
    }
}

/// Evaluates `form` over `answers` (field name → JSON value, repeats as arrays of objects) on `today`.
pub fn evaluate<'f>(
    form: &'f Form,
    answers: &Map<String, Json>,
    today: NaiveDate,
) -> Evaluation<'f> {
    let mut ev = Evaluation {
        form,
        state: State {
            top: vec![Cell::default(); form.top_slots],
            repeats: form.repeat_slots.keys().map(|r| (*r, Vec::new())).collect(),
            pages: vec![true; form.pages.len()],
        },
        issues: Vec::new(),
    };
    let (sorted, unknown) = Sorted::of(form, answers);
    ev.fill(&sorted, today);
    ev.issues.extend(unknown);
    ev.check_all(today);
    ev
}

/// The answers sorted into the form's value slots in one pass over them (instead of a search of the
/// answer map for every field and instance).
struct Sorted<'j> {
    /// By top-level slot (a repeat's slot holds its array).
    top: Vec<Option<&'j Json>>,
    /// Per repeat field: its instances.
    repeats: Vec<(FieldId, Vec<SortedRow<'j>>)>,
}

/// One repeat instance's answers by slot; `None` when the instance is not an object.
type SortedRow<'j> = Option<Vec<Option<&'j Json>>>;

impl<'j> Sorted<'j> {
    /// Sorts the answers; answers to questions the form does not have come back as issues, in the
    /// answers' order.
    fn of(form: &Form, answers: &'j Map<String, Json>) -> (Sorted<'j>, Vec<Issue>) {
        let mut sorted = Sorted {
            top: vec![None; form.top_slots],
            repeats: Vec::new(),
        };
        let mut unknown = Vec::new();
        for (key, value) in answers {
            let f = match form.field(key) {
                Some(f) if f.container == Container::Top => f,
                _ => {
                    unknown.push(unknown_field(key.clone()));
                    continue;
                }
            };
            if let Some(slot) = sorted.top.get_mut(f.slot) {
                *slot = Some(value);
            }
            if f.kind != FieldKind::Repeat {
                continue;
            }
            let Json::Array(items) = value else { continue };
            let slots = form.repeat_slots.get(&f.id).copied().unwrap_or(0);
            let mut rows = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Some(o) = item.as_object() else {
                    rows.push(None);
                    continue;
                };
                let mut row = vec![None; slots];
                for (k, v) in o {
                    match form.field(k) {
                        Some(c) if c.container == Container::Repeat(f.id) => {
                            if let Some(slot) = row.get_mut(c.slot) {
                                *slot = Some(v);
                            }
                        }
                        _ => unknown.push(unknown_field(format!("{key}[{i}].{k}"))),
                    }
                }
                rows.push(Some(row));
            }
            sorted.repeats.push((f.id, rows));
        }
        (sorted, unknown)
    }

    fn top(&self, f: &Field) -> Option<&'j Json> {
        self.top.get(f.slot).copied().flatten()
    }

    fn instances(&self, repeat: FieldId) -> &[SortedRow<'j>] {
        self.repeats
            .iter()
            .find(|(r, _)| *r == repeat)
            .map_or(&[], |(_, rows)| rows.as_slice())
    }

    fn in_instance(&self, repeat: FieldId, i: usize, f: &Field) -> Option<&'j Json> {
        self.instances(repeat)
            .get(i)?
            .as_ref()?
            .get(f.slot)
            .copied()
            .flatten()
    }
}

/// An issue at a field (or at the form, for `None`).
fn issue_at(
    form: &Form,
    f: Option<&Field>,
    instance: Option<usize>,
    severity: Severity,
    code: &'static str,
    message: Localized,
) -> Issue {
    Issue {
        path: f.map_or_else(String::new, |f| path_of(f, form, instance)),
        severity,
        code,
        message,
        field: f.map(|f| f.id),
        instance,
    }
}

fn unknown_field(path: String) -> Issue {
    Issue {
        message: msg(
            &format!("Jawaban untuk pertanyaan yang tidak ada di formulir ini: {path}"),
            &format!("Answer for a question this form does not have: {path}"),
        ),
        path,
        severity: Severity::Error,
        code: "unknown_field",
        field: None,
        instance: None,
    }
}

impl<'f> Evaluation<'f> {
    pub fn form(&self) -> &'f Form {
        self.form
    }

    fn ctx<'a>(&'a self, instance: Option<usize>, today: NaiveDate) -> Ctx<'a> {
        Ctx::new(self.form, &self.state, instance, today)
    }

    fn push(
        &mut self,
        f: Option<&Field>,
        instance: Option<usize>,
        severity: Severity,
        code: &'static str,
        message: Localized,
    ) {
        self.issues
            .push(issue_at(self.form, f, instance, severity, code, message));
    }

    /// A relevant repeat's instances, as empty rows of cells; answers that are not a list of objects
    /// are `invalid_value` errors.
    fn repeat_rows(&mut self, f: &Field, answers: &Sorted<'_>) -> Vec<Vec<Cell>> {
        if let Some(v) = answers.top(f)
            && !v.is_null()
            && !v.is_array()
        {
            self.push(
                Some(f),
                None,
                Severity::Error,
                "invalid_value",
                msg(
                    "Jawaban tidak valid: harus daftar anggota (array)",
                    "Invalid answer: expected a list of instances (an array)",
                ),
            );
        }
        let slots = self.form.repeat_slots.get(&f.id).copied().unwrap_or(0);
        let inst = answers.instances(f.id);
        for (i, o) in inst.iter().enumerate() {
            if o.is_none() {
                self.issues.push(Issue {
                    path: format!("{}[{i}]", f.name),
                    severity: Severity::Error,
                    code: "invalid_value",
                    message: msg(
                        "Jawaban tidak valid: setiap anggota harus objek",
                        "Invalid answer: each instance must be an object",
                    ),
                    field: Some(f.id),
                    instance: Some(i),
                });
            }
        }
        vec![vec![Cell::default(); slots]; inst.len()]
    }

    /// Values and relevance, in dependency order.
    fn fill(&mut self, answers: &Sorted<'_>, today: NaiveDate) {
        let form = self.form;
        for node in &form.order {
            let id = match node {
                Node::Page(p) => {
                    let rel = form
                        .pages
                        .get(*p)
                        .and_then(|pg| pg.relevant.as_ref())
                        .is_none_or(|r| self.ctx(None, today).truth(r));
                    if let Some(slot) = self.state.pages.get_mut(*p) {
                        *slot = rel;
                    }
                    continue;
                }
                Node::Field(id) => *id,
            };
            let Some(f) = form.field_by_id(id) else {
                continue;
            };
            let page_rel = self.state.pages.get(f.page).copied().unwrap_or(true);
            match f.container {
                Container::Top => {
                    let rel = page_rel
                        && f.relevant
                            .as_ref()
                            .is_none_or(|r| self.ctx(None, today).truth(r));
                    if f.kind == FieldKind::Repeat {
                        let rows = if rel {
                            self.repeat_rows(f, answers)
                        } else {
                            Vec::new()
                        };
                        let n = rows.len();
                        if let Some(r) = self.state.rows_mut(id) {
                            *r = rows;
                        }
                        if let Some(c) = self.state.cell_mut(f, None) {
                            *c = Cell {
                                value: Value::Num(n as f64),
                                relevant: rel,
                            };
                        }
                        continue;
                    }
                    let value = if rel {
                        self.value_of(f, answers.top(f), None, today)
                    } else {
                        Value::Null
                    };
                    if let Some(c) = self.state.cell_mut(f, None) {
                        *c = Cell {
                            value,
                            relevant: rel,
                        };
                    }
                }
                Container::Repeat(r) => {
                    let Some(rf) = form.field_by_id(r) else {
                        continue;
                    };
                    let rep_rel = self.state.cell(rf, None).is_some_and(|c| c.relevant);
                    let n = self.state.rows(r).len();
                    for i in 0..n {
                        let rel = rep_rel
                            && f.relevant
                                .as_ref()
                                .is_none_or(|e| self.ctx(Some(i), today).truth(e));
                        let answer = answers.in_instance(r, i, f);
                        let value = if rel {
                            self.value_of(f, answer, Some(i), today)
                        } else {
                            Value::Null
                        };
                        if let Some(c) = self.state.cell_mut(f, Some(i)) {
                            *c = Cell {
                                value,
                                relevant: rel,
                            };
                        }
                    }
                }
            }
        }
    }

    fn value_of(
        &mut self,
        f: &Field,
        answer: Option<&Json>,
        instance: Option<usize>,
        today: NaiveDate,
    ) -> Value {
        if let Some(calc) = &f.calculation {
            return self.ctx(instance, today).eval(calc).into_owned();
        }
        if !f.kind.is_answered() {
            return Value::Null;
        }
        let Some(answer) = answer else {
            return Value::Null;
        };
        match parse_answer(f.kind, answer) {
            Ok(v) => {
                if let Some(s) = answer.as_str()
                    && s.len() > f.max_chars()
                    && s.chars().count() > f.max_chars()
                {
                    let message = super::limits::too_long_message(f.max_chars(), s.chars().count());
                    self.push(Some(f), instance, Severity::Error, "too_long", message);
                }
                v
            }
            Err(bad) => {
                self.push(
                    Some(f),
                    instance,
                    Severity::Error,
                    "invalid_value",
                    msg(
                        &format!("Jawaban tidak valid: harus {}", bad.expected_id),
                        &format!("Invalid answer: expected {}", bad.expected_en),
                    ),
                );
                Value::Null
            }
        }
    }

    fn check_all(&mut self, today: NaiveDate) {
        Checker {
            form: self.form,
            state: &self.state,
            issues: &mut self.issues,
        }
        .check_all(today);
    }
}

/// Checks the filled state: borrows the values while it writes the issues, so no value is copied to be
/// checked.
struct Checker<'e> {
    form: &'e Form,
    state: &'e State,
    issues: &'e mut Vec<Issue>,
}

impl<'e> Checker<'e> {
    fn ctx(&self, instance: Option<usize>, today: NaiveDate) -> Ctx<'e> {
        Ctx::new(self.form, self.state, instance, today)
    }

    fn push(
        &mut self,
        f: Option<&Field>,
        instance: Option<usize>,
        severity: Severity,
        code: &'static str,
        message: Localized,
    ) {
        self.issues
            .push(issue_at(self.form, f, instance, severity, code, message));
    }

    fn check_all(&mut self, today: NaiveDate) {
        let form = self.form;
        for page in &form.pages {
            for &id in &page.fields {
                let Some(f) = form.field_by_id(id) else {
                    continue;
                };
                self.check_field(f, None, today);
                if f.kind == FieldKind::Repeat {
                    let n = self.state.rows(id).len();
                    for i in 0..n {
                        for &child in &f.children {
                            if let Some(cf) = form.field_by_id(child) {
                                self.check_field(cf, Some(i), today);
                            }
                        }
                    }
                }
            }
        }
        for check in &form.checks {
            let target = check.field.and_then(|id| form.field_by_id(id));
            let relevant = target.is_none_or(|t| {
                t.container == Container::Top
                    && self.state.cell(t, None).is_some_and(|c| c.relevant)
            });
            if relevant {
                self.run_check(check, target, None, None, today);
            }
        }
    }

    fn run_check(
        &mut self,
        check: &Check,
        at: Option<&Field>,
        instance: Option<usize>,
        current: Option<&Value>,
        today: NaiveDate,
    ) {
        let ok = Ctx {
            current,
            ..self.ctx(instance, today)
        }
        .truth(&check.rule);
        if !ok {
            self.push(at, instance, check.severity, "check", check.message.clone());
        }
    }

    fn check_field(&mut self, f: &Field, instance: Option<usize>, today: NaiveDate) {
        let state = self.state;
        let Some(cell) = state.cell(f, instance) else {
            return;
        };
        if !cell.relevant {
            return;
        }
        let value = &cell.value;
        // An answer that could not be read (`invalid_value`) leaves the field empty: that error names
        // the path once; "required" (or a count of members) would say the same thing again.
        if value.is_empty()
            && self
                .issues
                .iter()
                .any(|i| i.field == Some(f.id) && i.instance == instance)
        {
            return;
        }
        let required = match &f.required {
            Required::No => false,
            Required::Yes => true,
            Required::When(e) => self.ctx(instance, today).truth(e),
        };
        let empty = if f.kind == FieldKind::Repeat {
            value.to_num() == 0.0
        } else {
            value.is_empty()
        };
        if required && empty {
            let message = f
                .required_message
                .clone()
                .unwrap_or_else(|| msg("Wajib diisi", "Required"));
            self.push(Some(f), instance, Severity::Error, "required", message);
            return;
        }
        if f.kind == FieldKind::Repeat {
            self.check_repeat(f, value, today);
        } else if empty {
            return;
        } else {
            self.check_kind(f, value, instance, today);
        }
        if let Some((rule, message)) = &f.constraint {
            let ok = Ctx {
                current: Some(value),
                ..self.ctx(instance, today)
            }
            .truth(rule);
            if !ok {
                self.push(
                    Some(f),
                    instance,
                    Severity::Error,
                    "constraint",
                    message.clone(),
                );
            }
        }
        for check in &f.checks {
            self.run_check(check, Some(f), instance, Some(value), today);
        }
        if f.unique
            && let (Container::Repeat(r), Some(i)) = (f.container, instance)
        {
            let first = self.state.rows(r).iter().take(i).position(|row| {
                row.get(f.slot)
                    .is_some_and(|c| c.relevant && !c.value.is_empty() && c.value == *value)
            });
            if let Some(j) = first {
                self.push(
                    Some(f),
                    instance,
                    Severity::Error,
                    "duplicate",
                    msg(
                        &format!(
                            "Sama dengan isian anggota ke-{} — harus berbeda untuk setiap anggota",
                            j + 1
                        ),
                        &format!("Same as instance {} — must differ for each instance", j + 1),
                    ),
                );
            }
        }
    }

    fn check_repeat(&mut self, f: &Field, value: &Value, today: NaiveDate) {
        let n = value.to_num() as u32;
        if let Some(min) = f.min_count
            && n < min
        {
            self.push(
                Some(f),
                None,
                Severity::Error,
                "repeat_min",
                msg(
                    &format!("Isi sedikitnya {min}"),
                    &format!("Enter at least {min}"),
                ),
            );
        }
        if let Some(max) = f.max_count
            && n > max
        {
            self.push(
                Some(f),
                None,
                Severity::Error,
                "repeat_max",
                msg(&format!("Paling banyak {max}"), &format!("At most {max}")),
            );
        }
        if let Some(expected) = &f.repeat_count {
            let want = self.ctx(None, today).eval(expected).to_num();
            if want.is_finite() && want != f64::from(n) {
                let want = format_num(want);
                self.push(
                    Some(f),
                    None,
                    Severity::Warning,
                    "repeat_count",
                    msg(
                        &format!("Terisi {n}, padahal jumlah yang disebutkan {want}"),
                        &format!("{n} entered, but the stated number is {want}"),
                    ),
                );
            }
        }
    }

    /// The value of a linked field (top level, or in the same instance).
    fn sibling(&self, id: Option<FieldId>, instance: Option<usize>) -> &'e Value {
        let state = self.state;
        id.and_then(|id| self.form.field_by_id(id))
            .and_then(|f| {
                let instance = if f.container == Container::Top {
                    None
                } else {
                    instance
                };
                state.cell(f, instance)
            })
            .filter(|c| c.relevant)
            .map_or(&NULL, |c| &c.value)
    }

    fn check_kind(&mut self, f: &Field, value: &Value, instance: Option<usize>, today: NaiveDate) {
        match f.kind {
            FieldKind::SelectOne | FieldKind::SelectMultiple => {
                self.check_choices(f, value, instance, today);
            }
            FieldKind::Nik => self.check_nik(f, value, instance),
            FieldKind::Kk => self.check_kk(f, value, instance),
            FieldKind::Phone => {
                let text = text_of(value);
                let digits: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
                let body = digits.strip_prefix('+').unwrap_or(&digits);
                if !(8..=15).contains(&body.len()) || !body.chars().all(|c| c.is_ascii_digit()) {
                    self.push(
                        Some(f),
                        instance,
                        Severity::Error,
                        "phone_invalid",
                        msg(
                            "Nomor telepon harus 8–15 angka (boleh diawali +)",
                            "A phone number has 8–15 digits (a leading + is allowed)",
                        ),
                    );
                }
            }
            FieldKind::Gps => {
                if let Value::Gps(g) = value {
                    if !(-11.5..=6.5).contains(&g.lat) || !(94.0..=141.5).contains(&g.lon) {
                        self.push(
                            Some(f),
                            instance,
                            Severity::Warning,
                            "gps_outside",
                            msg(
                                "Lokasi berada di luar Indonesia",
                                "The location lies outside Indonesia",
                            ),
                        );
                    }
                    if g.accuracy_m.is_some_and(|a| a > 100.0) {
                        self.push(
                            Some(f),
                            instance,
                            Severity::Warning,
                            "gps_accuracy",
                            msg(
                                "Akurasi lokasi lebih dari 100 m: ambil ulang di tempat terbuka",
                                "Location accuracy is worse than 100 m: take it again in the open",
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    /// Every chosen code is one of the field's choices and passes its choice filter.
    fn check_choices(
        &mut self,
        f: &Field,
        value: &Value,
        instance: Option<usize>,
        today: NaiveDate,
    ) {
        let Some(list) = self.form.choices_of(f) else {
            return;
        };
        let codes: &[String] = match value {
            Value::Multi(m) => m,
            Value::Str(s) => std::slice::from_ref(s),
            _ => &[],
        };
        for code in codes {
            match list.get(code) {
                None => self.push(
                    Some(f),
                    instance,
                    Severity::Error,
                    "unknown_choice",
                    msg(
                        &format!("Kode `{code}` tidak ada dalam daftar pilihan"),
                        &format!("Code `{code}` is not one of the choices"),
                    ),
                ),
                Some(choice) => {
                    let allowed = f.choice_filter.as_ref().is_none_or(|flt| {
                        Ctx {
                            choice: Some(choice),
                            ..self.ctx(instance, today)
                        }
                        .truth(flt)
                    });
                    if !allowed {
                        self.push(
                            Some(f),
                            instance,
                            Severity::Error,
                            "choice_filtered",
                            msg(
                                &format!("Pilihan `{code}` tidak sesuai dengan jawaban sebelumnya"),
                                &format!("Choice `{code}` does not fit the earlier answers"),
                            ),
                        );
                    }
                }
            }
        }
    }

    /// A KK number's hard rules, then its region against the form's region field.
    fn check_kk(&mut self, f: &Field, value: &Value, instance: Option<usize>) {
        let text = text_of(value);
        match KkNumber::parse(&text) {
            Err(e) => {
                let code = match e {
                    IdError::Length => "kk_length",
                    IdError::Province => "kk_province",
                    IdError::Date => "kk_date",
                    IdError::Serial => "kk_serial",
                };
                self.push(
                    Some(f),
                    instance,
                    Severity::Error,
                    code,
                    id_error_message(e, "Nomor KK"),
                );
            }
            Ok(kk) => self.check_region(
                f,
                &kk.kecamatan_code(),
                instance,
                "Nomor KK",
                "kk_region_mismatch",
            ),
        }
    }

    fn check_nik(&mut self, f: &Field, value: &Value, instance: Option<usize>) {
        let text = text_of(value);
        let nik = match Nik::parse(&text) {
            Ok(n) => n,
            Err(e) => {
                let code = match e {
                    IdError::Length => "nik_length",
                    IdError::Province => "nik_province",
                    IdError::Date => "nik_date",
                    IdError::Serial => "nik_serial",
                };
                self.push(
                    Some(f),
                    instance,
                    Severity::Error,
                    code,
                    id_error_message(e, "NIK"),
                );
                return;
            }
        };
        let sex = self.sibling(f.sex_field, instance);
        if let (false, Some(female_code)) = (sex.is_empty(), &f.female_code) {
            let answered_female = sex.to_text() == *female_code;
            if answered_female != nik.is_female() {
                self.push(
                    Some(f),
                    instance,
                    Severity::Warning,
                    "nik_sex_mismatch",
                    msg(
                        "Jenis kelamin menurut NIK (tanggal +40 untuk perempuan) berbeda dengan jawaban",
                        "The sex encoded in the NIK (day + 40 for women) differs from the answer",
                    ),
                );
            }
        }
        if let Value::Date(born) = self.sibling(f.birth_date_field, instance)
            && !nik.matches_birth_date(*born)
        {
            self.push(
                Some(f),
                instance,
                Severity::Warning,
                "nik_birth_date_mismatch",
                msg(
                    "Tanggal lahir dalam NIK berbeda dengan tanggal lahir yang diisi",
                    "The birth date in the NIK differs from the birth date entered",
                ),
            );
        }
        self.check_region(
            f,
            &nik.kecamatan_code(),
            instance,
            "NIK",
            "nik_region_mismatch",
        );
    }

    fn check_region(
        &mut self,
        f: &Field,
        kecamatan: &str,
        instance: Option<usize>,
        what: &str,
        code: &'static str,
    ) {
        let region = text_of(self.sibling(f.region_field, instance));
        if let Some(kec) = kecamatan_of(&region)
            && kec != kecamatan
        {
            self.push(
                Some(f),
                instance,
                Severity::Warning,
                code,
                msg(
                    &format!("Kode wilayah {what} ({kecamatan}) bukan kecamatan alamat sekarang ({kec})"),
                    &format!("The {what} region code ({kecamatan}) is not the kecamatan of the address ({kec})"),
                ),
            );
        }
    }
}

impl<'f> Evaluation<'f> {
    /// Whether a field (in an instance, for repeat fields) is relevant.
    pub fn is_relevant(&self, id: FieldId, instance: Option<usize>) -> bool {
        self.form
            .field_by_id(id)
            .and_then(|f| self.state.cell(f, instance))
            .is_some_and(|c| c.relevant)
    }

    /// Whether a page is relevant.
    pub fn page_relevant(&self, page: usize) -> bool {
        self.state.pages.get(page).copied().unwrap_or(false)
    }

    /// The value of a field (answered or computed); empty when not relevant.
    pub fn value(&self, id: FieldId, instance: Option<usize>) -> &Value {
        self.form
            .field_by_id(id)
            .and_then(|f| self.state.cell(f, instance))
            .map_or(&NULL, |c| &c.value)
    }

    /// Number of instances of a repeat.
    pub fn instances(&self, repeat: FieldId) -> usize {
        self.state.rows(repeat).len()
    }

    /// The choices of a select field that pass its filter for the current answers.
    pub fn choices_for(
        &self,
        id: FieldId,
        instance: Option<usize>,
        today: NaiveDate,
    ) -> Vec<&'f Choice> {
        let form = self.form;
        let Some(f) = form.field_by_id(id) else {
            return Vec::new();
        };
        let Some(list) = form.choices_of(f) else {
            return Vec::new();
        };
        match &f.choice_filter {
            None => list.choices.iter().collect(),
            Some(flt) => list
                .choices
                .iter()
                .filter(|c| {
                    Ctx {
                        choice: Some(c),
                        ..self.ctx(instance, today)
                    }
                    .truth(flt)
                })
                .collect(),
        }
    }

    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(|i| i.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| i.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Issue> {
        self.issues
            .iter()
            .filter(|i| i.severity == Severity::Warning)
    }

    /// How much of the form the petugas has answered: the relevant questions answered, out of those
    /// answered plus the required ones still empty. Computed values, notes and rosters do not count, nor
    /// optional questions left empty; so an empty family is at 0 and a complete one at its total.
    pub fn progress(&self, today: NaiveDate) -> Progress {
        let mut p = Progress::default();
        self.walk(|f, i, cell| {
            if !cell.relevant || !f.kind.is_answered() {
                return;
            }
            if !cell.value.is_empty() {
                p.answered += 1;
                p.total += 1;
            } else if match &f.required {
                Required::No => false,
                Required::Yes => true,
                Required::When(e) => Ctx::new(self.form, &self.state, i, today).truth(e),
            } {
                p.total += 1;
            }
        });
        p
    }

    /// The photos the answers name (relevant photo fields with an answer): each one's path, content
    /// hash, field and instance, in form order.
    pub fn photos(&self) -> Vec<(String, String, FieldId, Option<usize>)> {
        let mut out = Vec::new();
        self.walk(|f, i, cell| {
            if cell.relevant
                && f.kind == FieldKind::Photo
                && let Value::Str(hash) = &cell.value
            {
                out.push((path_of(f, self.form, i), hash.clone(), f.id, i));
            }
        });
        out
    }

    /// Paths of the fields a person sees now (relevant, not calculated), in form order.
    pub fn visible_paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(|f, i, cell| {
            if cell.relevant && f.kind != FieldKind::Calculated {
                out.push(path_of(f, self.form, i));
            }
        });
        out
    }

    /// Computed values of relevant calculated fields, by path.
    pub fn computed(&self) -> Map<String, Json> {
        let mut out = Map::new();
        self.walk(|f, i, cell| {
            if cell.relevant && f.kind == FieldKind::Calculated {
                out.insert(path_of(f, self.form, i), cell.value.to_json());
            }
        });
        out
    }

    fn walk(&self, mut visit: impl FnMut(&Field, Option<usize>, &Cell)) {
        let form = self.form;
        for page in &form.pages {
            for &id in &page.fields {
                let Some(f) = form.field_by_id(id) else {
                    continue;
                };
                if let Some(c) = self.state.cell(f, None) {
                    visit(f, None, c);
                }
                for i in 0..self.state.rows(id).len() {
                    for cf in f.children.iter().filter_map(|c| form.field_by_id(*c)) {
                        if let Some(c) = self.state.cell(cf, Some(i)) {
                            visit(cf, Some(i), c);
                        }
                    }
                }
            }
        }
    }

    /// A serializable summary for tools (`pendata validate --json`).
    pub fn report(&self) -> Report {
        Report {
            form: self.form.id.clone(),
            version: self.form.version,
            ok: !self.has_errors(),
            errors: self.errors().count(),
            warnings: self.warnings().count(),
            issues: self.issues.clone(),
            visible: self.visible_paths(),
            computed: self.computed(),
        }
    }
}

/// How far the answers are: see [`Evaluation::progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub answered: usize,
    pub total: usize,
}

impl Progress {
    /// The share answered, 0.0 to 1.0 (0 when there is nothing to answer yet).
    pub fn fraction(self) -> f32 {
        if self.total == 0 {
            0.0
        } else {
            self.answered as f32 / self.total as f32
        }
    }
}

/// Answers to questions the form does not have (`unknown_field` issues), in the answers' order: the
/// same ones `evaluate` reports, without evaluating.
pub fn unknown_answers(form: &Form, answers: &Map<String, Json>) -> Vec<Issue> {
    Sorted::of(form, answers).1
}

/// What `validate --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub form: String,
    pub version: u64,
    pub ok: bool,
    pub errors: usize,
    pub warnings: usize,
    pub issues: Vec<Issue>,
    pub visible: Vec<String>,
    pub computed: Map<String, Json>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::NoDataFiles;
    use proptest::prelude::*;

    fn mini(calc: &str) -> Option<Form> {
        let def = std::fs::read_to_string("tests/fixtures/mini.json").unwrap();
        let calc = serde_json::to_string(calc).unwrap();
        Form::from_json(&def.replace("\"CALC\"", &calc), &NoDataFiles).ok()
    }

    /// Well-formed expressions over the mini form's fields, nested a few levels.
    fn arb_expr() -> impl Strategy<Value = String> {
        let leaf = prop::sample::select(vec![
            "${n}",
            "${x}",
            "${s}",
            "${d}",
            "${one}",
            "${many}",
            "count(${rep})",
            "sum(${v})",
            "'1'",
            "'2'",
            "''",
            "'abc'",
            "0",
            "1",
            "2.5",
            "today()",
            "date('2026-01-31')",
            "true()",
            "false()",
        ])
        .prop_map(str::to_string);
        leaf.prop_recursive(4, 32, 3, |inner| {
            let ops = prop::sample::select(vec![
                " and ", " or ", " = ", " != ", " < ", " <= ", " > ", " >= ", " + ", " - ",
            ]);
            prop_oneof![
                (inner.clone(), ops, inner.clone()).prop_map(|(a, op, b)| format!("({a}{op}{b})")),
                inner.clone().prop_map(|a| format!("not({a})")),
                (inner.clone(), inner.clone(), inner.clone())
                    .prop_map(|(a, b, c)| format!("if({a}, {b}, {c})")),
                inner
                    .clone()
                    .prop_map(|a| format!("selected(${{many}}, {a})")),
                inner.prop_map(|a| format!("coalesce({a}, '1')")),
            ]
        })
    }

    fn arb_answers() -> impl Strategy<Value = Map<String, Json>> {
        use serde_json::json;
        let pick = |vs: Vec<Json>| prop::option::of(prop::sample::select(vs));
        (
            pick(vec![json!(0), json!(7), json!(-3), json!("7"), json!(null)]),
            pick(vec![json!(2.5), json!(0.0), json!(1)]),
            pick(vec![
                json!(""),
                json!("1"),
                json!("abc"),
                json!("2026-01-31"),
            ]),
            pick(vec![json!("2026-01-31"), json!("2020-02-29"), json!("bad")]),
            pick(vec![json!("1"), json!("2"), json!("")]),
            pick(vec![json!([]), json!(["1"]), json!(["1", "2"])]),
            pick(vec![json!([]), json!([{"v": 1}, {"v": 2, "w": "a"}])]),
        )
            .prop_map(|(n, x, s, d, one, many, rep)| {
                let mut m = Map::new();
                for (k, v) in [
                    ("n", n),
                    ("x", x),
                    ("s", s),
                    ("d", d),
                    ("one", one),
                    ("many", many),
                    ("rep", rep),
                ] {
                    if let Some(v) = v {
                        m.insert(k.to_string(), v);
                    }
                }
                m
            })
    }

    /// Every subexpression of `e`, `e` included.
    fn all<'e>(e: &'e CExpr, out: &mut Vec<&'e CExpr>) {
        out.push(e);
        match e {
            CExpr::Neg(a) | CExpr::Regex(a, _) => all(a, out),
            CExpr::Bin(_, a, b) => {
                all(a, out);
                all(b, out);
            }
            CExpr::Call(_, args) => args.iter().for_each(|a| all(a, out)),
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The short path for conditions gives what the value would: at every node of any expression.
        #[test]
        fn truth_is_the_truthiness_of_the_value(src in arb_expr(), answers in arb_answers()) {
            let Some(form) = mini(&src) else {
                return Err(TestCaseError::reject("does not type-check"));
            };
            let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
            let ev = evaluate(&form, &answers, today);
            let calc = form.field("r").unwrap().calculation.as_ref().unwrap();
            let mut nodes = Vec::new();
            all(calc, &mut nodes);
            let ctx = Ctx::new(&form, &ev.state, None, today);
            for e in nodes {
                prop_assert_eq!(ctx.truth(e), ctx.eval(e).truthy(), "at {:?} in `{}`", e, src);
            }
        }
    }
}
