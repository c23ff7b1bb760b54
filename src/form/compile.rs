//! Turns a [`FormDef`] into a checked [`Form`]: names resolved to ids, expressions parsed and type-checked,
//! choice lists loaded, evaluation order fixed. Every problem is collected with its location.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::expr::{self, BinOp, Expr, ExprKind, Func};
use super::schema::{
    CheckDef, ChoiceListDef, ChoiceSourceDef, FieldDef, FieldKind, FormDef, Hierarchy, RequiredDef,
    Severity,
};
use super::value::{Value, parse_answer, parse_date};
use crate::model::Localized;

/// Index of a field in [`Form::fields`].
pub type FieldId = usize;

/// A map from field names or choice codes. Validation looks up every answer's name and every chosen
/// code, so the hash is FNV-1a (a few instructions for these short keys) instead of the default SipHash.
/// SipHash resists chosen keys; these maps need not: their keys come from the form file, and answers only
/// look up, which cannot lengthen a bucket's chain.
pub(crate) type NameMap<V> = HashMap<String, V, std::hash::BuildHasherDefault<Fnv>>;

/// FNV-1a, 64 bits.
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A problem found in a form file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FormProblem {
    /// Where: `field luas_lantai.relevant`, `choice_lists.lantai`, …
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for FormProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Reads the data files a form refers to (choice lists from CSV). The form layer does no I/O itself.
pub trait DataFiles {
    fn read(&self, name: &str) -> Result<String, String>;
}

/// No data files available.
pub struct NoDataFiles;

impl DataFiles for NoDataFiles {
    fn read(&self, name: &str) -> Result<String, String> {
        Err(format!("no data file `{name}` is available"))
    }
}

/// The static type of an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    Bool,
    Num,
    Str,
    Date,
    Multi,
    Gps,
    /// Unknown until run time (e.g. `if()` with mixed branches).
    Any,
    /// A repeat field seen from outside its repeat: the values of all instances.
    Set(Box<Ty>),
    /// The repeat group itself.
    Repeat,
}

impl Ty {
    fn name(&self) -> String {
        match self {
            Ty::Bool => "a boolean".into(),
            Ty::Num => "a number".into(),
            Ty::Str => "text".into(),
            Ty::Date => "a date".into(),
            Ty::Multi => "a multiple selection".into(),
            Ty::Gps => "a GPS point".into(),
            Ty::Any => "any value".into(),
            Ty::Set(t) => format!("the values of a repeat field ({})", t.name()),
            Ty::Repeat => "a repeat group".into(),
        }
    }

    fn is_collection(&self) -> bool {
        matches!(self, Ty::Set(_) | Ty::Repeat)
    }

    fn numeric(&self) -> bool {
        matches!(self, Ty::Num | Ty::Any | Ty::Bool)
    }

    fn of_kind(kind: FieldKind) -> Ty {
        match kind {
            FieldKind::Text
            | FieldKind::Nik
            | FieldKind::Kk
            | FieldKind::Phone
            | FieldKind::Photo
            | FieldKind::Note
            | FieldKind::SelectOne => Ty::Str,
            FieldKind::Integer | FieldKind::Decimal => Ty::Num,
            FieldKind::Date => Ty::Date,
            FieldKind::SelectMultiple => Ty::Multi,
            FieldKind::Gps => Ty::Gps,
            FieldKind::Calculated => Ty::Any,
            FieldKind::Repeat => Ty::Repeat,
        }
    }
}

/// A compiled expression: field references resolved to ids.
#[derive(Debug, Clone)]
pub enum CExpr {
    Lit(Value),
    /// A field in scope: top level, or a sibling in the same repeat instance.
    Field(FieldId),
    /// A repeat field seen from outside: its values over all instances.
    Set(FieldId),
    /// The repeat group itself (for `count()`).
    Repeat(FieldId),
    Current,
    Attr(String),
    Neg(Box<CExpr>),
    Bin(BinOp, Box<CExpr>, Box<CExpr>),
    Regex(Box<CExpr>, Box<regex::Regex>),
    Call(Func, Vec<CExpr>),
}

impl CExpr {
    fn refs(&self, out: &mut BTreeSet<FieldId>) {
        match self {
            CExpr::Field(id) | CExpr::Set(id) | CExpr::Repeat(id) => {
                out.insert(*id);
            }
            CExpr::Lit(_) | CExpr::Current | CExpr::Attr(_) => {}
            CExpr::Neg(e) | CExpr::Regex(e, _) => e.refs(out),
            CExpr::Bin(_, a, b) => {
                a.refs(out);
                b.refs(out);
            }
            CExpr::Call(_, args) => args.iter().for_each(|a| a.refs(out)),
        }
    }
}

/// When a field must be answered.
#[derive(Debug, Clone)]
pub enum Required {
    No,
    Yes,
    When(CExpr),
}

/// A compiled rule with its message.
#[derive(Debug, Clone)]
pub struct Check {
    pub rule: CExpr,
    pub severity: Severity,
    pub message: Localized,
    pub field: Option<FieldId>,
}

/// One choice of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub value: String,
    pub label: Localized,
    pub attrs: BTreeMap<String, String>,
}

/// A loaded choice list.
#[derive(Debug, Clone)]
pub struct ChoiceList {
    pub name: String,
    pub choices: Vec<Choice>,
    index: NameMap<usize>,
    attr_names: BTreeSet<String>,
}

impl ChoiceList {
    fn new(name: String, choices: Vec<Choice>) -> Self {
        let index = choices
            .iter()
            .enumerate()
            .map(|(i, c)| (c.value.clone(), i))
            .collect();
        let mut attr_names: BTreeSet<String> = ["value".to_string(), "name".to_string()].into();
        for c in &choices {
            attr_names.extend(c.attrs.keys().cloned());
        }
        ChoiceList {
            name,
            choices,
            index,
            attr_names,
        }
    }

    /// The choice with this code, if any.
    pub fn get(&self, value: &str) -> Option<&Choice> {
        self.index.get(value).and_then(|i| self.choices.get(*i))
    }
}

/// Where a field's value lives: at the top level, or inside the instances of a repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Top,
    /// The repeat group's field id.
    Repeat(FieldId),
}

/// A compiled field.
#[derive(Debug, Clone)]
pub struct Field {
    pub id: FieldId,
    pub name: String,
    pub kind: FieldKind,
    pub label: Localized,
    pub hint: Option<Localized>,
    pub page: usize,
    pub container: Container,
    /// Position of the value in its container's slots.
    pub slot: usize,
    /// For repeats: the fields of one instance.
    pub children: Vec<FieldId>,
    pub relevant: Option<CExpr>,
    pub required: Required,
    pub required_message: Option<Localized>,
    pub constraint: Option<(CExpr, Localized)>,
    pub checks: Vec<Check>,
    pub calculation: Option<CExpr>,
    pub choices: Option<usize>,
    pub choice_filter: Option<CExpr>,
    pub read_only: bool,
    pub default: Option<serde_json::Value>,
    pub appearance: Option<String>,
    pub unique: bool,
    pub sex_field: Option<FieldId>,
    pub female_code: Option<String>,
    pub birth_date_field: Option<FieldId>,
    pub region_field: Option<FieldId>,
    pub repeat_count: Option<CExpr>,
    pub min_count: Option<u32>,
    pub max_count: Option<u32>,
    /// Text fields: the most characters an answer may have ([`Field::max_chars`]).
    pub max_length: Option<u32>,
    pub ty: Ty,
}

/// A page (group) of the form.
#[derive(Debug, Clone)]
pub struct Page {
    pub name: String,
    pub label: Localized,
    pub relevant: Option<CExpr>,
    /// Top-level fields of the page, in order (repeats included, their children not).
    pub fields: Vec<FieldId>,
}

/// A checked, ready-to-evaluate form.
#[derive(Debug, Clone)]
pub struct Form {
    pub id: String,
    pub version: u64,
    pub title: Localized,
    pub description: Option<Localized>,
    pub pages: Vec<Page>,
    pub fields: Vec<Field>,
    pub choice_lists: Vec<ChoiceList>,
    pub checks: Vec<Check>,
    by_name: NameMap<FieldId>,
    /// Evaluation order of values and relevance: fields and pages (`Node`), dependencies first.
    pub(crate) order: Vec<Node>,
    /// Number of top-level value slots.
    pub(crate) top_slots: usize,
    /// Repeat field id → number of slots per instance.
    pub(crate) repeat_slots: HashMap<FieldId, usize>,
}

/// A node of the evaluation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    Page(usize),
    Field(FieldId),
}

impl Form {
    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.by_name.get(name).and_then(|id| self.fields.get(*id))
    }

    pub fn field_by_id(&self, id: FieldId) -> Option<&Field> {
        self.fields.get(id)
    }

    /// The choice list of a select field.
    pub fn choices_of(&self, field: &Field) -> Option<&ChoiceList> {
        field.choices.and_then(|i| self.choice_lists.get(i))
    }

    /// Parses and checks a form file. `data` supplies the CSV files choice lists refer to.
    pub fn from_json(text: &str, data: &dyn DataFiles) -> Result<Form, Vec<FormProblem>> {
        let def: FormDef = serde_json::from_str(text).map_err(|e| {
            vec![FormProblem {
                location: format!("line {} column {}", e.line(), e.column()),
                message: format!("not a valid form file: {e}"),
            }]
        })?;
        Form::compile(&def, data)
    }

    /// Checks a parsed form definition; the household form is also held to the fields the program reads
    /// by name (`form::household`).
    pub fn compile(def: &FormDef, data: &dyn DataFiles) -> Result<Form, Vec<FormProblem>> {
        let form = Compiler::new(data).run(def)?;
        let problems = super::household::problems(&form);
        if problems.is_empty() {
            Ok(form)
        } else {
            Err(problems)
        }
    }
}

struct Compiler<'a> {
    data: &'a dyn DataFiles,
    problems: Vec<FormProblem>,
    by_name: NameMap<FieldId>,
    list_index: HashMap<String, usize>,
    lists: Vec<ChoiceList>,
    fields: Vec<Field>,
}

/// What an expression may see.
#[derive(Clone, Copy)]
struct Scope<'s> {
    repeat: Option<FieldId>,
    current: Option<&'s Ty>,
    /// The field a `.` stands for (for `selected(., …)`).
    current_field: Option<FieldId>,
    attrs: Option<&'s BTreeSet<String>>,
}

const TOP: Scope<'static> = Scope {
    repeat: None,
    current: None,
    current_field: None,
    attrs: None,
};

type CResult = Result<(CExpr, Ty), (usize, String)>;

/// The fields a NIK or KK field is cross-checked against.
struct Links {
    sex: Option<FieldId>,
    birth_date: Option<FieldId>,
    region: Option<FieldId>,
}

/// A field definition with its page and, inside a repeat, the repeat's index.
type FlatField<'d> = (&'d FieldDef, usize, Option<usize>);

fn collect_defs<'d>(
    fields: &'d [FieldDef],
    out: &mut Vec<FlatField<'d>>,
    page: usize,
    parent: Option<usize>,
) {
    for f in fields {
        let idx = out.len();
        out.push((f, page, parent));
        if f.kind == FieldKind::Repeat {
            collect_defs(&f.fields, out, page, Some(idx));
        }
    }
}

impl<'a> Compiler<'a> {
    fn new(data: &'a dyn DataFiles) -> Self {
        Compiler {
            data,
            problems: Vec::new(),
            by_name: NameMap::default(),
            list_index: HashMap::new(),
            lists: Vec::new(),
            fields: Vec::new(),
        }
    }

    fn problem(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.problems.push(FormProblem {
            location: location.into(),
            message: message.into(),
        });
    }

    fn run(mut self, def: &FormDef) -> Result<Form, Vec<FormProblem>> {
        if !expr::is_name(&def.id) {
            self.problem(
                "id",
                format!("`{}` is not a valid form id: use [a-z][a-z0-9_]*", def.id),
            );
        }
        check_version(def.version).unwrap_or_else(|m| self.problem("version", m));
        self.check_text("title", &def.title);
        self.load_lists(def);
        if def.pages.is_empty() {
            self.problem("pages", "a form needs at least one page");
        }

        // Pass 1: register every field with its place.
        let mut flat = Vec::new();
        let mut page_names = BTreeSet::new();
        for (pi, page) in def.pages.iter().enumerate() {
            if !expr::is_name(&page.name) {
                self.problem(
                    format!("page {}", page.name),
                    "not a valid page name: use [a-z][a-z0-9_]*",
                );
            }
            if !page_names.insert(page.name.clone()) {
                self.problem(format!("page {}", page.name), "duplicate page name");
            }
            self.check_text(&format!("page {}.label", page.name), &page.label);
            collect_defs(&page.fields, &mut flat, pi, None);
        }
        let (slots_top, slots_rep) = self.register_fields(&flat);
        self.infer_calculations(&flat);

        // Pass 3: every expression and reference of every field.
        for (idx, (fd, _, parent)) in flat.iter().enumerate() {
            self.field_logic(idx, fd, *parent);
        }
        let mut pages = Vec::new();
        for (pi, page) in def.pages.iter().enumerate() {
            let relevant = page.relevant.as_ref().and_then(|src| {
                self.compile_bool(&format!("page {}.relevant", page.name), src, TOP)
            });
            let fields = flat
                .iter()
                .enumerate()
                .filter(|(_, (_, p, parent))| *p == pi && parent.is_none())
                .map(|(i, _)| i)
                .collect();
            pages.push(Page {
                name: page.name.clone(),
                label: page.label.clone(),
                relevant,
                fields,
            });
        }
        let checks = def
            .checks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| self.check(&format!("checks[{i}]"), c, TOP, None, true))
            .collect();

        let order = self.order(&pages);
        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        Ok(Form {
            id: def.id.clone(),
            version: def.version,
            title: def.title.clone(),
            description: def.description.clone(),
            pages,
            fields: self.fields,
            choice_lists: self.lists,
            checks,
            by_name: self.by_name,
            order,
            top_slots: slots_top,
            repeat_slots: slots_rep,
        })
    }

    /// Pass 1: every field registered by name with its place and value slot. Returns the number of
    /// top-level slots and the slots per instance of each repeat.
    fn register_fields(&mut self, flat: &[FlatField<'_>]) -> (usize, HashMap<FieldId, usize>) {
        let mut slots_top = 0usize;
        let mut slots_rep: HashMap<FieldId, usize> = HashMap::new();
        for (idx, (fd, page, parent)) in flat.iter().enumerate() {
            let loc = format!("field {}", fd.name);
            if !expr::is_name(&fd.name) {
                self.problem(&loc, "not a valid field name: use [a-z][a-z0-9_]*");
            }
            if self.by_name.insert(fd.name.clone(), idx).is_some() {
                self.problem(
                    &loc,
                    "duplicate field name: names must be unique in the whole form",
                );
            }
            let container = match parent {
                None => Container::Top,
                Some(p) => Container::Repeat(*p),
            };
            let slot = match container {
                Container::Top => {
                    slots_top += 1;
                    slots_top - 1
                }
                Container::Repeat(p) => {
                    let n = slots_rep.entry(p).or_insert(0);
                    *n += 1;
                    *n - 1
                }
            };
            if fd.kind == FieldKind::Repeat {
                slots_rep.entry(idx).or_insert(0);
                if parent.is_some() {
                    self.problem(&loc, "repeats cannot be nested");
                }
                if fd.fields.is_empty() {
                    self.problem(&loc, "a repeat needs at least one field");
                }
            }
            self.fields.push(Field {
                id: idx,
                name: fd.name.clone(),
                kind: fd.kind,
                label: fd.label.clone(),
                hint: fd.hint.clone(),
                page: *page,
                container,
                slot,
                children: Vec::new(),
                relevant: None,
                required: Required::No,
                required_message: fd.required_message.clone(),
                constraint: None,
                checks: Vec::new(),
                calculation: None,
                choices: None,
                choice_filter: None,
                read_only: fd.read_only,
                default: fd.default.clone(),
                appearance: fd.appearance.clone(),
                unique: fd.unique,
                sex_field: None,
                female_code: fd.female_code.clone(),
                birth_date_field: None,
                region_field: None,
                repeat_count: None,
                min_count: fd.min_count,
                max_count: fd.max_count,
                max_length: fd.max_length,
                ty: Ty::of_kind(fd.kind),
            });
        }
        for (idx, (_, _, parent)) in flat.iter().enumerate() {
            if let Some(p) = parent
                && let Some(pf) = self.fields.get_mut(*p)
            {
                pf.children.push(idx);
            }
        }
        (slots_top, slots_rep)
    }

    /// Pass 2: types of calculations, to a fixed point (cycles are reported by the ordering).
    fn infer_calculations(&mut self, flat: &[FlatField<'_>]) {
        for _ in 0..=flat.len().min(16) {
            let mut changed = false;
            for (idx, (fd, _, parent)) in flat.iter().enumerate() {
                if fd.kind != FieldKind::Calculated {
                    continue;
                }
                let Some(src) = &fd.calculation else { continue };
                let scope = Scope {
                    repeat: *parent,
                    ..TOP
                };
                if let Ok(e) = expr::parse(src)
                    && let Ok((_, ty)) = self.cexpr(&e, scope)
                    && let Some(f) = self.fields.get_mut(idx)
                    && f.ty != ty
                    && !ty.is_collection()
                {
                    f.ty = ty;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn check_text(&mut self, loc: &str, t: &Localized) {
        if t.id.trim().is_empty() || t.en.trim().is_empty() {
            self.problem(
                loc,
                "text needs both an Indonesian (id) and an English (en) version",
            );
        }
    }

    fn load_lists(&mut self, def: &FormDef) {
        for (name, list) in &def.choice_lists {
            let loc = format!("choice_lists.{name}");
            if !expr::is_name(name) {
                self.problem(&loc, "not a valid list name: use [a-z][a-z0-9_]*");
            }
            let choices = match list {
                ChoiceListDef::Inline { choices } => {
                    for c in choices {
                        self.check_text(&format!("{loc}.{}", c.value), &c.label);
                    }
                    choices
                        .iter()
                        .map(|c| Choice {
                            value: c.value.clone(),
                            label: c.label.clone(),
                            attrs: c.attrs.clone(),
                        })
                        .collect()
                }
                ChoiceListDef::File { source } => match self.data.read(&source.file) {
                    Ok(text) => match choices_from_csv(&text, source) {
                        Ok(c) => c,
                        Err(m) => {
                            self.problem(&loc, format!("{}: {m}", source.file));
                            Vec::new()
                        }
                    },
                    Err(m) => {
                        self.problem(&loc, format!("cannot read `{}`: {m}", source.file));
                        Vec::new()
                    }
                },
            };
            if choices.is_empty() {
                self.problem(&loc, "the list has no choices");
            }
            let mut seen = BTreeSet::new();
            for c in &choices {
                if c.value.is_empty() {
                    self.problem(&loc, "a choice has an empty value");
                }
                if !seen.insert(c.value.as_str()) {
                    self.problem(&loc, format!("duplicate choice value `{}`", c.value));
                }
            }
            self.list_index.insert(name.clone(), self.lists.len());
            self.lists.push(ChoiceList::new(name.clone(), choices));
        }
    }

    /// Resolves and type-checks everything a field refers to (pass 3), storing the compiled parts on it.
    fn field_logic(&mut self, idx: FieldId, fd: &FieldDef, parent: Option<FieldId>) {
        let loc = format!("field {}", fd.name);
        self.check_text(&format!("{loc}.label"), &fd.label);
        let scope = Scope {
            repeat: parent,
            ..TOP
        };
        // A repeat's own rules see the repeat from outside.
        let own_ty = self
            .fields
            .get(idx)
            .map(|f| f.ty.clone())
            .unwrap_or(Ty::Any);
        let value_ty = if fd.kind == FieldKind::Repeat {
            Ty::Num
        } else {
            own_ty
        };
        let current_scope = Scope {
            current: Some(&value_ty),
            current_field: Some(idx),
            ..scope
        };

        let relevant = fd
            .relevant
            .as_ref()
            .and_then(|s| self.compile_bool(&format!("{loc}.relevant"), s, scope));
        let required = self.field_required(&loc, fd, scope);
        let constraint = self.field_constraint(&loc, fd, current_scope);
        let checks = fd
            .checks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                self.check(
                    &format!("{loc}.checks[{i}]"),
                    c,
                    current_scope,
                    Some(idx),
                    false,
                )
            })
            .collect();
        let calculation = self.field_calculation(&loc, fd, scope);
        let (choices, choice_filter) = self.field_choices(&loc, fd, scope);
        self.field_default(&loc, fd);
        let links = self.field_links(&loc, fd, parent);
        if fd.unique && parent.is_none() {
            self.problem(&loc, "`unique` applies to fields inside a repeat");
        }
        let repeat_count = self.field_repeat(&loc, fd, scope);

        if let Some(f) = self.fields.get_mut(idx) {
            f.relevant = relevant;
            f.required = required;
            f.constraint = constraint;
            f.checks = checks;
            f.calculation = calculation;
            f.choices = choices;
            f.choice_filter = choice_filter;
            f.sex_field = links.sex;
            f.birth_date_field = links.birth_date;
            f.region_field = links.region;
            f.repeat_count = repeat_count;
        }
    }

    fn field_required(&mut self, loc: &str, fd: &FieldDef, scope: Scope<'_>) -> Required {
        let required = match &fd.required {
            None | Some(RequiredDef::Always(false)) => Required::No,
            Some(RequiredDef::Always(true)) => Required::Yes,
            Some(RequiredDef::When(s)) => self
                .compile_bool(&format!("{loc}.required"), s, scope)
                .map_or(Required::No, Required::When),
        };
        if !matches!(required, Required::No)
            && !fd.kind.is_answered()
            && fd.kind != FieldKind::Repeat
        {
            self.problem(
                loc,
                format!("a {} field cannot be required", fd.kind.as_str()),
            );
        }
        required
    }

    fn field_constraint(
        &mut self,
        loc: &str,
        fd: &FieldDef,
        current_scope: Scope<'_>,
    ) -> Option<(CExpr, Localized)> {
        match (&fd.constraint, &fd.constraint_message) {
            (Some(src), msg) => {
                if msg.is_none() {
                    self.problem(loc, "a constraint needs a constraint_message in id and en");
                }
                if let Some(m) = msg {
                    self.check_text(&format!("{loc}.constraint_message"), m);
                }
                self.compile_bool(&format!("{loc}.constraint"), src, current_scope)
                    .map(|e| (e, msg.clone().unwrap_or_else(|| Localized::new("", ""))))
            }
            (None, Some(_)) => {
                self.problem(loc, "constraint_message without a constraint");
                None
            }
            (None, None) => None,
        }
    }

    fn field_calculation(&mut self, loc: &str, fd: &FieldDef, scope: Scope<'_>) -> Option<CExpr> {
        match (fd.kind, &fd.calculation) {
            (FieldKind::Calculated, Some(src)) => self
                .compile_scalar(&format!("{loc}.calculation"), src, scope)
                .map(|(c, _)| c),
            (FieldKind::Calculated, None) => {
                self.problem(loc, "a calculated field needs a calculation");
                None
            }
            (_, Some(_)) => {
                self.problem(loc, "only calculated fields have a calculation");
                None
            }
            (_, None) => None,
        }
    }

    /// The field's choice list (by index) and its choice filter.
    fn field_choices(
        &mut self,
        loc: &str,
        fd: &FieldDef,
        scope: Scope<'_>,
    ) -> (Option<usize>, Option<CExpr>) {
        let choices = match (&fd.choices, fd.kind.is_select()) {
            (Some(list), true) => match self.list_index.get(list) {
                Some(i) => Some(*i),
                None => {
                    self.problem(loc, format!("unknown choice list `{list}`"));
                    None
                }
            },
            (None, true) => {
                self.problem(loc, "a select field needs `choices`");
                None
            }
            (Some(_), false) => {
                self.problem(loc, "only select fields have choices");
                None
            }
            (None, false) => None,
        };
        let choice_filter = match (&fd.choice_filter, choices) {
            (Some(src), Some(li)) => {
                let attrs = self
                    .lists
                    .get(li)
                    .map(|l| l.attr_names.clone())
                    .unwrap_or_default();
                let fscope = Scope {
                    attrs: Some(&attrs),
                    ..scope
                };
                self.compile_bool(&format!("{loc}.choice_filter"), src, fscope)
            }
            (Some(_), None) => {
                if !fd.kind.is_select() {
                    self.problem(loc, "only select fields have a choice_filter");
                }
                None
            }
            (None, _) => None,
        };
        (choices, choice_filter)
    }

    fn field_default(&mut self, loc: &str, fd: &FieldDef) {
        if let Some(default) = &fd.default {
            if !fd.kind.is_answered() {
                self.problem(
                    loc,
                    format!("a {} field cannot have a default", fd.kind.as_str()),
                );
            } else if let Err(b) = parse_answer(fd.kind, default) {
                self.problem(loc, format!("the default is not {}", b.expected_en));
            }
        }
    }

    /// The fields a NIK or KK field is cross-checked against.
    fn field_links(&mut self, loc: &str, fd: &FieldDef, parent: Option<FieldId>) -> Links {
        let sex = self.link(
            loc,
            fd,
            parent,
            "sex_field",
            &fd.sex_field,
            &[FieldKind::SelectOne],
        );
        let birth_date = self.link(
            loc,
            fd,
            parent,
            "birth_date_field",
            &fd.birth_date_field,
            &[FieldKind::Date],
        );
        let region = self.link(
            loc,
            fd,
            parent,
            "region_field",
            &fd.region_field,
            &[FieldKind::SelectOne, FieldKind::Text],
        );
        if sex.is_some() != fd.female_code.is_some() {
            self.problem(loc, "sex_field and female_code go together");
        }
        Links {
            sex,
            birth_date,
            region,
        }
    }

    /// One cross-check link (`key` names it in the form file): a field of a wanted kind, visible from here.
    fn link(
        &mut self,
        loc: &str,
        fd: &FieldDef,
        parent: Option<FieldId>,
        key: &str,
        name: &Option<String>,
        want: &[FieldKind],
    ) -> Option<FieldId> {
        let name = name.as_ref()?;
        if !matches!(fd.kind, FieldKind::Nik | FieldKind::Kk) {
            self.problem(loc, format!("`{key}` is only for nik and kk fields"));
            return None;
        }
        let Some(&id) = self.by_name.get(name) else {
            self.problem(loc, format!("{key}: unknown field `{name}`"));
            return None;
        };
        let target = self.fields.get(id)?;
        let visible = match target.container {
            Container::Top => true,
            Container::Repeat(r) => Some(r) == parent,
        };
        if !want.contains(&target.kind) || !visible {
            self.problem(
                loc,
                format!(
                    "{key}: `{name}` must be a {} field in the same repeat or at the top level",
                    want.iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            );
            return None;
        }
        Some(id)
    }

    /// A repeat's count expression; the repeat-only properties are refused on other fields.
    fn field_repeat(&mut self, loc: &str, fd: &FieldDef, scope: Scope<'_>) -> Option<CExpr> {
        let repeat_count = match (&fd.repeat_count, fd.kind) {
            (Some(src), FieldKind::Repeat) => {
                let loc = format!("{loc}.repeat_count");
                match self.compile_scalar(&loc, src, scope) {
                    Some((c, ty)) if ty.numeric() || ty == Ty::Str => Some(c),
                    Some((_, ty)) => {
                        self.problem(loc, format!("must be a number, not {}", ty.name()));
                        None
                    }
                    None => None,
                }
            }
            (Some(_), _) => {
                self.problem(loc, "only repeats have a repeat_count");
                None
            }
            (None, _) => None,
        };
        if fd.kind != FieldKind::Repeat
            && (fd.min_count.is_some() || fd.max_count.is_some() || !fd.fields.is_empty())
        {
            self.problem(loc, "min_count, max_count and fields belong to repeats");
        }
        if let (Some(a), Some(b)) = (fd.min_count, fd.max_count)
            && a > b
        {
            self.problem(loc, "min_count is larger than max_count");
        }
        match fd.max_length {
            Some(_) if fd.kind != FieldKind::Text => {
                self.problem(loc, "max_length belongs to text fields");
            }
            Some(0) => self.problem(loc, "max_length is at least 1"),
            _ => {}
        }
        repeat_count
    }

    fn check(
        &mut self,
        loc: &str,
        c: &CheckDef,
        scope: Scope<'_>,
        own: Option<FieldId>,
        form_level: bool,
    ) -> Option<Check> {
        self.check_text(&format!("{loc}.message"), &c.message);
        let field = match (&c.field, form_level) {
            (Some(name), true) => match self.by_name.get(name) {
                Some(id) => Some(*id),
                None => {
                    self.problem(loc, format!("unknown field `{name}`"));
                    None
                }
            },
            (Some(_), false) => {
                self.problem(loc, "`field` is only for form-level checks");
                None
            }
            (None, _) => own,
        };
        let rule = self.compile_bool(&format!("{loc}.rule"), &c.rule, scope)?;
        Some(Check {
            rule,
            severity: c.severity,
            message: c.message.clone(),
            field,
        })
    }

    fn expr_problem(&mut self, loc: &str, src: &str, pos: usize, message: &str) {
        self.problem(
            format!("{loc} (column {})", pos + 1),
            format!("{message} in `{src}`"),
        );
    }

    /// Parses and type-checks one expression that must yield a single value (not a repeat's values);
    /// reports a problem and yields nothing when it does not.
    fn compile_scalar(&mut self, loc: &str, src: &str, scope: Scope<'_>) -> Option<(CExpr, Ty)> {
        let parsed = expr::parse(src).map_err(|e| (e.pos, e.message));
        match parsed.and_then(|e| self.cexpr(&e, scope)) {
            Ok((c, ty)) if !ty.is_collection() => Some((c, ty)),
            Ok((_, ty)) => {
                let m = format!(
                    "the result is {}; use count(), sum(), min() or max()",
                    ty.name()
                );
                self.expr_problem(loc, src, 0, &m);
                None
            }
            Err((pos, m)) => {
                self.expr_problem(loc, src, pos, &m);
                None
            }
        }
    }

    fn compile_bool(&mut self, loc: &str, src: &str, scope: Scope<'_>) -> Option<CExpr> {
        self.compile_scalar(loc, src, scope).map(|(c, _)| c)
    }

    fn scalar(e: &Expr, ty: &Ty) -> Result<(), (usize, String)> {
        if ty.is_collection() {
            let hint = if *ty == Ty::Repeat {
                "use count()"
            } else {
                "it lies inside a repeat; use count(), sum(), min() or max()"
            };
            return Err((e.start, format!("`{e}` is {}: {hint}", ty.name())));
        }
        Ok(())
    }

    fn cexpr(&self, e: &Expr, scope: Scope<'_>) -> CResult {
        let at = e.start;
        Ok(match &e.kind {
            ExprKind::Field(name) => {
                let Some(&id) = self.by_name.get(name) else {
                    return Err((at, format!("unknown field ${{{name}}}")));
                };
                let Some(f) = self.fields.get(id) else {
                    return Err((at, format!("unknown field ${{{name}}}")));
                };
                if f.kind == FieldKind::Repeat {
                    (CExpr::Repeat(id), Ty::Repeat)
                } else {
                    match f.container {
                        Container::Top => (CExpr::Field(id), f.ty.clone()),
                        Container::Repeat(r) if Some(r) == scope.repeat => {
                            (CExpr::Field(id), f.ty.clone())
                        }
                        Container::Repeat(_) => (CExpr::Set(id), Ty::Set(Box::new(f.ty.clone()))),
                    }
                }
            }
            ExprKind::Current => match scope.current {
                Some(t) => (CExpr::Current, t.clone()),
                None => {
                    return Err((
                        at,
                        "`.` (this answer) is only allowed in constraints and checks".into(),
                    ));
                }
            },
            ExprKind::Attr(name) => match scope.attrs {
                Some(attrs) if attrs.contains(name) => (CExpr::Attr(name.clone()), Ty::Str),
                Some(attrs) => {
                    return Err((
                        at,
                        format!(
                            "the choices have no attribute `{name}` (they have: {})",
                            attrs.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                None => {
                    return Err((
                        at,
                        format!("unknown name `{name}`: write fields as ${{{name}}}"),
                    ));
                }
            },
            ExprKind::Str(s) => (CExpr::Lit(Value::Str(s.clone())), Ty::Str),
            ExprKind::Num(n) => (CExpr::Lit(Value::Num(*n)), Ty::Num),
            ExprKind::Neg(inner) => {
                let (c, ty) = self.cexpr(inner, scope)?;
                Self::scalar(inner, &ty)?;
                if !ty.numeric() {
                    return Err((inner.start, format!("cannot negate {}", ty.name())));
                }
                (CExpr::Neg(Box::new(c)), Ty::Num)
            }
            ExprKind::Binary(op, a, b) => {
                let (ca, ta) = self.cexpr(a, scope)?;
                let (cb, tb) = self.cexpr(b, scope)?;
                Self::scalar(a, &ta)?;
                Self::scalar(b, &tb)?;
                let ty = binary_type(*op, (a, &ta), (b, &tb))?;
                (CExpr::Bin(*op, Box::new(ca), Box::new(cb)), ty)
            }
            ExprKind::Call(func, args) => return self.call(e, *func, args, scope),
        })
    }

    fn call(&self, e: &Expr, func: Func, args: &[Expr], scope: Scope<'_>) -> CResult {
        let mut cs = Vec::with_capacity(args.len());
        let mut ts = Vec::with_capacity(args.len());
        for a in args {
            let (c, t) = self.cexpr(a, scope)?;
            cs.push(c);
            ts.push(t);
        }
        let arg = |i: usize| (args.get(i), ts.get(i).unwrap_or(&Ty::Any));
        let want_scalar = |from: usize| -> Result<(), (usize, String)> {
            for (a, t) in args.iter().zip(&ts).skip(from) {
                Self::scalar(a, t)?;
            }
            Ok(())
        };
        let fname = func.name();
        let ty = match func {
            Func::Selected | Func::CountSelected => {
                self.select_argument(e, func, args.first(), scope)?;
                want_scalar(0)?;
                if func == Func::Selected {
                    Ty::Bool
                } else {
                    Ty::Num
                }
            }
            Func::Count | Func::Sum | Func::Min | Func::Max => aggregate_type(e, func, arg(0).1)?,
            Func::Today => Ty::Date,
            Func::Date => {
                want_scalar(0)?;
                if let Some(Expr {
                    kind: ExprKind::Str(s),
                    start,
                    ..
                }) = args.first()
                    && parse_date(s).is_none()
                {
                    return Err((*start, format!("`{s}` is not a date YYYY-MM-DD")));
                }
                Ty::Date
            }
            Func::Age => {
                want_scalar(0)?;
                for i in 0..2 {
                    if let (Some(a), t) = arg(i)
                        && !matches!(t, Ty::Date | Ty::Any | Ty::Str)
                    {
                        return Err((a.start, format!("age() needs dates, not {}", t.name())));
                    }
                }
                Ty::Num
            }
            Func::Regex => {
                want_scalar(0)?;
                let subject = cs.into_iter().next().unwrap_or(CExpr::Lit(Value::Null));
                return Ok((regex_call(e, subject, args.get(1))?, Ty::Bool));
            }
            Func::If => {
                want_scalar(0)?;
                let (t1, t2) = (arg(1).1, arg(2).1);
                if t1 == t2 { t1.clone() } else { Ty::Any }
            }
            Func::Coalesce => {
                want_scalar(0)?;
                let (t1, t2) = (arg(0).1, arg(1).1);
                if t1 == t2 { t1.clone() } else { Ty::Any }
            }
            Func::Not | Func::StartsWith | Func::Contains | Func::True | Func::False => {
                want_scalar(0)?;
                Ty::Bool
            }
            Func::Int | Func::Round | Func::Number | Func::StringLength => {
                want_scalar(0)?;
                if matches!(func, Func::Int | Func::Round)
                    && let (Some(a), t) = arg(0)
                    && !t.numeric()
                    && *t != Ty::Str
                {
                    return Err((
                        a.start,
                        format!("{fname}() needs a number, not {}", t.name()),
                    ));
                }
                Ty::Num
            }
            Func::String | Func::Concat | Func::Substr => {
                want_scalar(0)?;
                Ty::Str
            }
        };
        Ok((CExpr::Call(func, cs), ty))
    }

    /// The first argument of `selected()` or `count-selected()`: a select field (select_multiple for
    /// `count-selected()`), by name or as `.`.
    fn select_argument(
        &self,
        e: &Expr,
        func: Func,
        first: Option<&Expr>,
        scope: Scope<'_>,
    ) -> Result<(), (usize, String)> {
        let ok = match first.map(|a| &a.kind) {
            Some(ExprKind::Field(name)) => self
                .by_name
                .get(name)
                .and_then(|id| self.fields.get(*id))
                .is_some_and(|f| {
                    if func == Func::CountSelected {
                        f.kind == FieldKind::SelectMultiple
                    } else {
                        f.kind.is_select()
                    }
                }),
            Some(ExprKind::Current) => scope
                .current_field
                .and_then(|id| self.fields.get(id))
                .is_some_and(|f| f.kind.is_select()),
            _ => false,
        };
        if ok {
            return Ok(());
        }
        let which = if func == Func::CountSelected {
            "select_multiple"
        } else {
            "select"
        };
        Err((
            e.start,
            format!(
                "the first argument of {}() must be a {which} field",
                func.name()
            ),
        ))
    }

    /// Evaluation order: a topological sort of pages and fields by the references in their relevance and
    /// calculations (a field also depends on its page and its repeat). Reports cycles.
    fn order(&mut self, pages: &[Page]) -> Vec<Node> {
        let n = self.fields.len();
        let node_of = |node: Node| match node {
            Node::Field(id) => id,
            Node::Page(p) => n + p,
        };
        let total = n + pages.len();
        let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); total];
        for f in &self.fields {
            let mut refs = BTreeSet::new();
            if let Some(r) = &f.relevant {
                r.refs(&mut refs);
            }
            if let Some(c) = &f.calculation {
                c.refs(&mut refs);
            }
            let d = deps.get_mut(f.id);
            if let Some(d) = d {
                d.extend(refs.into_iter().filter(|r| *r != f.id));
                d.insert(n + f.page);
                if let Container::Repeat(r) = f.container {
                    d.insert(r);
                }
            }
        }
        for (pi, p) in pages.iter().enumerate() {
            let mut refs = BTreeSet::new();
            if let Some(r) = &p.relevant {
                r.refs(&mut refs);
            }
            if let Some(d) = deps.get_mut(n + pi) {
                d.extend(refs);
            }
        }
        // Kahn's algorithm, preferring the written order (pages before their fields).
        let written: Vec<Node> = (0..pages.len())
            .flat_map(|pi| {
                std::iter::once(Node::Page(pi)).chain(
                    self.fields
                        .iter()
                        .filter(move |f| f.page == pi)
                        .map(|f| Node::Field(f.id)),
                )
            })
            .collect();
        let mut done = vec![false; total];
        let mut out = Vec::with_capacity(total);
        loop {
            let next = written.iter().copied().find(|node| {
                let i = node_of(*node);
                !done.get(i).copied().unwrap_or(true)
                    && deps
                        .get(i)
                        .is_some_and(|d| d.iter().all(|x| done.get(*x).copied().unwrap_or(false)))
            });
            match next {
                Some(node) => {
                    if let Some(d) = done.get_mut(node_of(node)) {
                        *d = true;
                    }
                    out.push(node);
                }
                None => break,
            }
        }
        if out.len() < total {
            let stuck: Vec<String> = written
                .iter()
                .filter(|node| !done.get(node_of(**node)).copied().unwrap_or(true))
                .map(|node| match node {
                    Node::Field(id) => self
                        .fields
                        .get(*id)
                        .map(|f| f.name.clone())
                        .unwrap_or_default(),
                    Node::Page(p) => format!(
                        "page {}",
                        pages.get(*p).map(|p| p.name.as_str()).unwrap_or("")
                    ),
                })
                .collect();
            self.problem(
                "form",
                format!(
                    "relevance and calculations depend on each other in a cycle among: {}",
                    stuck.join(", ")
                ),
            );
        }
        out
    }
}

/// The type of `count()`, `sum()`, `min()` and `max()` over their argument's type.
fn aggregate_type(e: &Expr, func: Func, arg: &Ty) -> Result<Ty, (usize, String)> {
    match (func, arg) {
        (Func::Count, Ty::Set(_) | Ty::Repeat) => Ok(Ty::Num),
        (Func::Count, t) => Err((
            e.start,
            format!(
                "count() needs a repeat or a field inside a repeat, not {}",
                t.name()
            ),
        )),
        (_, Ty::Set(inner)) if inner.numeric() => Ok(Ty::Num),
        (_, t) => Err((
            e.start,
            format!(
                "{}() needs a numeric field inside a repeat, not {}",
                func.name(),
                t.name()
            ),
        )),
    }
}

/// `regex(subject, 'pattern')`: the pattern must be a text literal, compiled once here.
fn regex_call(e: &Expr, subject: CExpr, pattern: Option<&Expr>) -> Result<CExpr, (usize, String)> {
    let Some(Expr {
        kind: ExprKind::Str(pat),
        start,
        ..
    }) = pattern
    else {
        return Err((
            e.start,
            "the pattern of regex() must be a text literal".into(),
        ));
    };
    let re =
        regex::Regex::new(pat).map_err(|err| (*start, format!("bad regular expression: {err}")))?;
    Ok(CExpr::Regex(Box::new(subject), Box::new(re)))
}

fn binary_type(
    op: BinOp,
    (a, ta): (&Expr, &Ty),
    (b, tb): (&Expr, &Ty),
) -> Result<Ty, (usize, String)> {
    let multi = |e: &Expr, t: &Ty| -> Result<(), (usize, String)> {
        if *t == Ty::Multi {
            Err((
                e.start,
                format!("`{e}` is a multiple selection: use selected() or count-selected()"),
            ))
        } else {
            Ok(())
        }
    };
    match op {
        BinOp::And | BinOp::Or => Ok(Ty::Bool),
        BinOp::Eq | BinOp::Ne => {
            multi(a, ta)?;
            multi(b, tb)?;
            for (e, t, other) in [(a, ta, tb), (b, tb, ta)] {
                if *t == Ty::Gps && !matches!(other, Ty::Str | Ty::Any) {
                    return Err((e.start, "a GPS point can only be compared with ''".into()));
                }
            }
            Ok(Ty::Bool)
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            for (e, t) in [(a, ta), (b, tb)] {
                multi(e, t)?;
                if *t == Ty::Gps {
                    return Err((e.start, "a GPS point cannot be ordered".into()));
                }
            }
            Ok(Ty::Bool)
        }
        BinOp::Add | BinOp::Sub => {
            for (e, t) in [(a, ta), (b, tb)] {
                if !(t.numeric() || *t == Ty::Date) {
                    return Err((
                        e.start,
                        format!(
                            "`{e}` is {}: arithmetic needs numbers or dates (use number())",
                            t.name()
                        ),
                    ));
                }
            }
            Ok(match (op, ta, tb) {
                (BinOp::Sub, Ty::Date, Ty::Date) => Ty::Num,
                (_, Ty::Date, Ty::Date) => {
                    return Err((a.start, "two dates cannot be added".into()));
                }
                (_, Ty::Date, _) | (BinOp::Add, _, Ty::Date) => Ty::Date,
                (BinOp::Sub, _, Ty::Date) => {
                    return Err((b.start, "a date cannot be subtracted from a number".into()));
                }
                (_, Ty::Any, _) | (_, _, Ty::Any) => Ty::Any,
                _ => Ty::Num,
            })
        }
        BinOp::Mul | BinOp::Div | BinOp::Mod => {
            for (e, t) in [(a, ta), (b, tb)] {
                if !t.numeric() {
                    return Err((
                        e.start,
                        format!("`{e}` is {}: `{}` needs numbers", t.name(), op.symbol()),
                    ));
                }
            }
            Ok(Ty::Num)
        }
    }
}

fn check_version(v: u64) -> Result<(), String> {
    let s = v.to_string();
    let ok = s.len() == 10
        && s.get(0..8)
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y%m%d").ok())
            .is_some();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{v}` is not a version yyyymmddrr (a date and a two-digit revision)"
        ))
    }
}

/// Splits one CSV line (RFC 4180 quoting, no embedded newlines).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn choices_from_csv(text: &str, src: &ChoiceSourceDef) -> Result<Vec<Choice>, String> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let header = csv_fields(lines.next().ok_or("the file is empty")?);
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .ok_or_else(|| format!("no column `{name}` (columns: {})", header.join(", ")))
    };
    let vc = col(&src.value_column)?;
    let lc = col(&src.label_column)?;
    let lec = src.label_en_column.as_deref().map(col).transpose()?;
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        if line.is_empty() {
            continue;
        }
        let row = csv_fields(line);
        let (Some(value), Some(label)) = (row.get(vc), row.get(lc)) else {
            return Err(format!("line {} has too few columns", n + 2));
        };
        if let Some(p) = &src.prefix
            && !(value == p
                || value.starts_with(&format!("{p}."))
                || (src.hierarchy.is_none() && value.starts_with(p.as_str())))
        {
            continue;
        }
        let mut attrs = BTreeMap::new();
        if src.hierarchy == Some(Hierarchy::Dotted) {
            let depth = value.split('.').count() as u32;
            if src.depth.is_some_and(|d| d != depth) {
                continue;
            }
            let parent = value.rsplit_once('.').map(|(p, _)| p).unwrap_or("");
            attrs.insert("parent".to_string(), parent.to_string());
            attrs.insert("depth".to_string(), depth.to_string());
        }
        let en = lec.and_then(|c| row.get(c)).unwrap_or(label);
        out.push(Choice {
            value: value.clone(),
            label: Localized::new(label.clone(), en.clone()),
            attrs,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes() {
        assert_eq!(
            csv_fields(r#"a,"b, c","d ""e""""#),
            vec!["a", "b, c", r#"d "e""#]
        );
    }

    #[test]
    fn versions() {
        assert!(check_version(2026112801).is_ok());
        assert!(check_version(2026133101).is_err());
        assert!(check_version(20261128).is_err());
    }
}
