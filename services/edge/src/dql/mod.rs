//! DQL, the edge store's query language (a subset): SELECT, INSERT, UPDATE (SET, UNSET, APPLY
//! for counters) and DELETE, with named `:arguments`.

pub mod ast;
pub mod budget;
pub mod eval;
mod lexer;
pub mod like;
pub mod order;
mod parser;
pub mod values;

use serde::Serialize;
use std::fmt;

pub use ast::Statement;
pub use parser::parse;

use ast::{Expr, InList, UpdateAction};
use std::collections::BTreeSet;

/// The `:names` a statement uses.
pub fn arguments(statement: &Statement) -> BTreeSet<String> {
    fn walk(e: &Expr, out: &mut BTreeSet<String>) {
        match e {
            Expr::Arg(name) => {
                out.insert(name.clone());
            }
            Expr::Literal(_) | Expr::Path(_) => {}
            Expr::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Expr::Object(members) => members.iter().for_each(|(_, v)| walk(v, out)),
            Expr::Not(x) | Expr::Neg(x) => walk(x, out),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Compare(_, a, b) | Expr::Arith(_, a, b) => {
                walk(a, out);
                walk(b, out);
            }
            Expr::In { expr, list, .. } => {
                walk(expr, out);
                match list {
                    InList::Items(items) => items.iter().for_each(|i| walk(i, out)),
                    InList::Array(a) => walk(a, out),
                }
            }
            Expr::Like { expr, pattern, .. } => {
                walk(expr, out);
                walk(pattern, out);
            }
            Expr::IsNull { expr, .. } | Expr::IsMissing { expr, .. } => walk(expr, out),
        }
    }
    let mut out = BTreeSet::new();
    match statement {
        Statement::Select(s) => {
            for e in s.filter.iter().chain(s.limit.iter()).chain(s.offset.iter()) {
                walk(e, &mut out);
            }
        }
        Statement::Insert(s) => s.documents.iter().for_each(|d| walk(d, &mut out)),
        Statement::Update(s) => {
            walk(&s.filter, &mut out);
            for action in &s.actions {
                match action {
                    UpdateAction::Set(_, e) | UpdateAction::Increment(_, e) => walk(e, &mut out),
                    UpdateAction::Restart(_, Some(e)) => walk(e, &mut out),
                    UpdateAction::Restart(_, None) | UpdateAction::Unset(_) => {}
                }
            }
        }
        Statement::Delete(s) => walk(&s.filter, &mut out),
    }
    out
}

/// Why a statement does not parse: where (byte offset, line, column) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParseError {
    /// Byte offset into the statement.
    pub position: usize,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
    pub expected: Vec<String>,
    /// The statement uses a construct this DQL does not have (the message names it), rather
    /// than being malformed.
    #[serde(skip)]
    pub unsupported: bool,
}

impl ParseError {
    pub(crate) fn at(src: &str, position: usize, message: &str, expected: &[&str]) -> Self {
        let position = position.min(src.len());
        let before = src.get(..position).unwrap_or(src);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Self {
            position,
            line,
            column,
            message: message.to_owned(),
            expected: expected.iter().map(|s| (*s).to_owned()).collect(),
            unsupported: false,
        }
    }

    pub(crate) fn unsupported(src: &str, position: usize, message: &str) -> Self {
        Self {
            unsupported: true,
            ..Self::at(src, position, message, &[])
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

#[cfg(test)]
mod tests;
