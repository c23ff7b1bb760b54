//! The expression language of forms (an XLSForm subset): lexer and precedence-climbing parser producing a
//! syntax tree with byte positions. Meaning (field references, types) is given by `compile`.

use std::fmt;

/// A parse failure with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at column {}: {message}", .pos + 1)]
pub struct ParseError {
    pub pos: usize,
    pub message: String,
}

fn err<T>(pos: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        pos,
        message: message.into(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinOp {
    fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::Ne => 3,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 4,
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 6,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "=",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "div",
            BinOp::Mod => "mod",
        }
    }
}

/// The functions of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Selected,
    CountSelected,
    Count,
    Sum,
    Min,
    Max,
    Today,
    Date,
    Age,
    StringLength,
    Regex,
    If,
    Not,
    Int,
    Round,
    Number,
    String,
    Concat,
    Substr,
    StartsWith,
    Contains,
    Coalesce,
    True,
    False,
}

impl Func {
    const ALL: [Func; 24] = [
        Func::Selected,
        Func::CountSelected,
        Func::Count,
        Func::Sum,
        Func::Min,
        Func::Max,
        Func::Today,
        Func::Date,
        Func::Age,
        Func::StringLength,
        Func::Regex,
        Func::If,
        Func::Not,
        Func::Int,
        Func::Round,
        Func::Number,
        Func::String,
        Func::Concat,
        Func::Substr,
        Func::StartsWith,
        Func::Contains,
        Func::Coalesce,
        Func::True,
        Func::False,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Func::Selected => "selected",
            Func::CountSelected => "count-selected",
            Func::Count => "count",
            Func::Sum => "sum",
            Func::Min => "min",
            Func::Max => "max",
            Func::Today => "today",
            Func::Date => "date",
            Func::Age => "age",
            Func::StringLength => "string-length",
            Func::Regex => "regex",
            Func::If => "if",
            Func::Not => "not",
            Func::Int => "int",
            Func::Round => "round",
            Func::Number => "number",
            Func::String => "string",
            Func::Concat => "concat",
            Func::Substr => "substr",
            Func::StartsWith => "starts-with",
            Func::Contains => "contains",
            Func::Coalesce => "coalesce",
            Func::True => "true",
            Func::False => "false",
        }
    }

    /// Minimum and maximum number of arguments (`usize::MAX`: any).
    pub fn arity(self) -> (usize, usize) {
        match self {
            Func::Today | Func::True | Func::False => (0, 0),
            Func::CountSelected
            | Func::Count
            | Func::Sum
            | Func::Min
            | Func::Max
            | Func::Date
            | Func::StringLength
            | Func::Not
            | Func::Int
            | Func::Number
            | Func::String => (1, 1),
            Func::Selected
            | Func::Age
            | Func::Regex
            | Func::StartsWith
            | Func::Contains
            | Func::Coalesce => (2, 2),
            Func::Round => (1, 2),
            Func::Substr => (2, 3),
            Func::If => (3, 3),
            Func::Concat => (1, usize::MAX),
        }
    }

    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A syntax tree node with the byte range it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `${name}`
    Field(String),
    /// `.`: the answer being checked.
    Current,
    /// A bare name: an attribute of a choice, in a `choice_filter`.
    Attr(String),
    Str(String),
    Num(f64),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Field(n) => write!(f, "${{{n}}}"),
            ExprKind::Current => write!(f, "."),
            ExprKind::Attr(n) => write!(f, "{n}"),
            ExprKind::Str(s) => write!(f, "'{s}'"),
            ExprKind::Num(n) => write!(f, "{n}"),
            ExprKind::Neg(e) => write!(f, "-({e})"),
            ExprKind::Binary(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            ExprKind::Call(func, args) => {
                write!(f, "{}(", func.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{a}")?;
                }
                write!(f, ")")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(String),
    Dot,
    Name(String),
    Str(String),
    Num(f64),
    Op(BinOp),
    Minus,
    LParen,
    RParen,
    Comma,
    End,
}

fn lex(src: &str) -> Result<Vec<(Tok, usize, usize)>, ParseError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'$' => {
                if bytes.get(i + 1) != Some(&b'{') {
                    return err(i, "expected `{` after `$` (write a field as ${name})");
                }
                let Some(close) = src.get(i + 2..).and_then(|rest| rest.find('}')) else {
                    return err(i, "unclosed `${`: missing `}`");
                };
                let name = src.get(i + 2..i + 2 + close).unwrap_or_default().trim();
                if !is_name(name) {
                    return err(i + 2, format!("`{name}` is not a valid field name"));
                }
                i += close + 3;
                out.push((Tok::Field(name.to_string()), start, i));
                continue;
            }
            b'\'' | b'"' => {
                let Some(close) = src.get(i + 1..).and_then(|rest| rest.find(c as char)) else {
                    return err(i, "unclosed text literal: missing closing quote");
                };
                let text = src.get(i + 1..i + 1 + close).unwrap_or_default();
                i += close + 2;
                out.push((Tok::Str(text.to_string()), start, i));
                continue;
            }
            b'0'..=b'9' => {
                while bytes.get(i).is_some_and(|b| b.is_ascii_digit()) {
                    i += 1;
                }
                if bytes.get(i) == Some(&b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                    while bytes.get(i).is_some_and(|b| b.is_ascii_digit()) {
                        i += 1;
                    }
                }
                let text = src.get(start..i).unwrap_or_default();
                let Ok(n) = text.parse::<f64>() else {
                    return err(start, format!("`{text}` is not a number"));
                };
                out.push((Tok::Num(n), start, i));
                continue;
            }
            b'.' => {
                if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    return err(i, "write decimals with a leading digit, e.g. 0.5");
                }
                i += 1;
                out.push((Tok::Dot, start, i));
                continue;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while bytes
                    .get(i)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
                {
                    i += 1;
                }
                // A trailing `-` belongs to a following subtraction, not to the name.
                while i > start + 1 && bytes.get(i - 1) == Some(&b'-') {
                    i -= 1;
                }
                let word = src.get(start..i).unwrap_or_default();
                let tok = match word {
                    "and" => Tok::Op(BinOp::And),
                    "or" => Tok::Op(BinOp::Or),
                    "div" => Tok::Op(BinOp::Div),
                    "mod" => Tok::Op(BinOp::Mod),
                    _ => Tok::Name(word.to_string()),
                };
                out.push((tok, start, i));
                continue;
            }
            _ => {}
        }
        let Some((tok, len)) = operator(c, src.get(i..i + 2)) else {
            let ch = src.get(i..).and_then(|s| s.chars().next()).unwrap_or('?');
            return err(i, format!("unexpected character `{ch}`"));
        };
        i += len;
        out.push((tok, start, i));
    }
    out.push((Tok::End, src.len(), src.len()));
    Ok(out)
}

/// The operator or punctuation starting with byte `c` (`two`: the two bytes from there), and its length.
fn operator(c: u8, two: Option<&str>) -> Option<(Tok, usize)> {
    Some(match (c, two) {
        (_, Some("!=")) => (Tok::Op(BinOp::Ne), 2),
        (_, Some("<=")) => (Tok::Op(BinOp::Le), 2),
        (_, Some(">=")) => (Tok::Op(BinOp::Ge), 2),
        (b'=', _) => (Tok::Op(BinOp::Eq), 1),
        (b'<', _) => (Tok::Op(BinOp::Lt), 1),
        (b'>', _) => (Tok::Op(BinOp::Gt), 1),
        (b'+', _) => (Tok::Op(BinOp::Add), 1),
        (b'-', _) => (Tok::Minus, 1),
        (b'*', _) => (Tok::Op(BinOp::Mul), 1),
        (b'(', _) => (Tok::LParen, 1),
        (b')', _) => (Tok::RParen, 1),
        (b',', _) => (Tok::Comma, 1),
        _ => return None,
    })
}

/// Whether `s` is a valid field or form name: `[a-z][a-z0-9_]*`.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Deepest nesting accepted; keeps a hostile form from overflowing the stack.
const MAX_DEPTH: usize = 64;

struct Parser {
    toks: Vec<(Tok, usize, usize)>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &(Tok, usize, usize) {
        // The token list always ends with `End`, and `at` never moves past it.
        self.toks
            .get(self.at)
            .or_else(|| self.toks.last())
            .unwrap_or(&(Tok::End, 0, 0))
    }

    fn bump(&mut self) -> (Tok, usize, usize) {
        let t = self.peek().clone();
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
        t
    }

    fn binop(&self) -> Option<BinOp> {
        match &self.peek().0 {
            Tok::Op(op) => Some(*op),
            Tok::Minus => Some(BinOp::Sub),
            _ => None,
        }
    }

    fn expr(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(self.peek().1, "expression is nested too deeply");
        }
        let mut lhs = self.unary()?;
        while let Some(op) = self.binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.bump();
            let rhs = self.expr(prec + 1)?;
            let (start, end) = (lhs.start, rhs.end);
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                start,
                end,
            };
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.peek().0 == Tok::Minus {
            let (_, start, _) = self.bump();
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return err(start, "expression is nested too deeply");
            }
            let inner = self.unary()?;
            self.depth -= 1;
            let end = inner.end;
            return Ok(Expr {
                kind: ExprKind::Neg(Box::new(inner)),
                start,
                end,
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let (tok, start, end) = self.bump();
        let kind = match tok {
            Tok::Field(name) => ExprKind::Field(name),
            Tok::Dot => ExprKind::Current,
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Num(n) => ExprKind::Num(n),
            Tok::LParen => {
                let inner = self.expr(0)?;
                let (close, pos, end) = self.bump();
                if close != Tok::RParen {
                    return err(pos, "expected `)`");
                }
                return Ok(Expr {
                    kind: inner.kind,
                    start,
                    end,
                });
            }
            Tok::Name(name) => {
                if self.peek().0 != Tok::LParen {
                    return Ok(Expr {
                        kind: ExprKind::Attr(name),
                        start,
                        end,
                    });
                }
                let Some(func) = Func::from_name(&name) else {
                    return err(start, format!("unknown function `{name}()`"));
                };
                self.bump();
                let mut args = Vec::new();
                if self.peek().0 != Tok::RParen {
                    loop {
                        args.push(self.expr(0)?);
                        match self.bump() {
                            (Tok::Comma, _, _) => continue,
                            (Tok::RParen, _, end) => return self.call(func, args, start, end),
                            (_, pos, _) => return err(pos, "expected `,` or `)` in argument list"),
                        }
                    }
                }
                let (_, _, end) = self.bump();
                return self.call(func, args, start, end);
            }
            Tok::End => return err(start, "expression ends too early"),
            Tok::RParen => return err(start, "unexpected `)`"),
            Tok::Comma => return err(start, "unexpected `,`"),
            Tok::Op(op) => return err(start, format!("unexpected `{}`", op.symbol())),
            Tok::Minus => return err(start, "unexpected `-`"),
        };
        Ok(Expr { kind, start, end })
    }

    fn call(
        &self,
        func: Func,
        args: Vec<Expr>,
        start: usize,
        end: usize,
    ) -> Result<Expr, ParseError> {
        let (min, max) = func.arity();
        if args.len() < min || args.len() > max {
            let expected = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return err(
                start,
                format!(
                    "{}() takes {expected} argument(s), got {}",
                    func.name(),
                    args.len()
                ),
            );
        }
        Ok(Expr {
            kind: ExprKind::Call(func, args),
            start,
            end,
        })
    }
}

/// Parses one expression.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        at: 0,
        depth: 0,
    };
    let e = p.expr(0)?;
    let (tok, pos, _) = p.peek().clone();
    if tok != Tok::End {
        return err(pos, "unexpected text after the end of the expression");
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(src: &str, expected: &str) {
        match parse(src) {
            Ok(e) => assert_eq!(e.to_string(), expected, "{src}"),
            Err(e) => assert_eq!(format!("error {e}"), expected, "{src}"),
        }
    }

    #[test]
    fn parses_with_precedence_and_positions() {
        let cases = [
            ("1 + 2 * 3", "(1 + (2 * 3))"),
            ("1 - 2 - 3", "((1 - 2) - 3)"),
            (
                "${a} = '1' or ${b} > 2 and not(${c})",
                "((${a} = '1') or ((${b} > 2) and not(${c})))",
            ),
            ("-${x} + 1", "(-(${x}) + 1)"),
            ("${a}-1", "(${a} - 1)"),
            ("count-selected(${m}) >= 2", "(count-selected(${m}) >= 2)"),
            ("parent = ${kab}", "(parent = ${kab})"),
            (". > 0 and . <= 1000", "((. > 0) and (. <= 1000))"),
            ("10 div 3 mod 2", "((10 div 3) mod 2)"),
            ("if(${a} = '1', 'x', \"y\")", "if((${a} = '1'), 'x', 'y')"),
            ("today() - ${d}", "(today() - ${d})"),
            ("1 +", "error at column 4: expression ends too early"),
            ("foo(1)", "error at column 1: unknown function `foo()`"),
            (
                "selected(${a})",
                "error at column 1: selected() takes 2 argument(s), got 1",
            ),
            (
                "${a} = 'x",
                "error at column 8: unclosed text literal: missing closing quote",
            ),
            ("${A}", "error at column 3: `A` is not a valid field name"),
            ("(1 + 2", "error at column 7: expected `)`"),
            (
                "1 2",
                "error at column 3: unexpected text after the end of the expression",
            ),
            ("1 # 2", "error at column 3: unexpected character `#`"),
            (
                "$a",
                "error at column 1: expected `{` after `$` (write a field as ${name})",
            ),
        ];
        for (src, expected) in cases {
            check(src, expected);
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert!(parse(&src).is_err());
        let src = format!("{}1", "-".repeat(500));
        assert!(parse(&src).is_err());
    }
}
