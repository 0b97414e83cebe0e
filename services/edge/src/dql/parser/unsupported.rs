//! Recognizing what DQL elsewhere (or SQL) has and this DQL does not, so the error names the
//! construct ("GROUP BY is not supported") instead of the token the grammar stumbled on.

use super::Parser;
use crate::dql::lexer::Tok;

const AGGREGATES: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "array_agg",
    "group_concat",
    "string_agg",
    "median",
    "stddev",
    "variance",
];

const STATEMENTS: &[&str] = &[
    "upsert", "evict", "create", "drop", "alter", "explain", "with", "merge", "truncate", "begin",
    "commit", "rollback", "replace", "grant", "show", "describe",
];

impl Parser<'_> {
    fn word_at(&self, n: usize) -> Option<String> {
        match self.peek_at(n) {
            Tok::Word(w) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    /// A word directly followed by `(`: a function call (no path is ever followed by `(`).
    pub(super) fn is_function_call(&self) -> bool {
        matches!(self.peek(), Tok::Word(_)) && self.is_sym_at(1, "(")
    }

    /// What to say about the call `name(` at the current token.
    pub(super) fn function_message(&self, after_fields: bool) -> String {
        let name = self.word_at(0).unwrap_or_default();
        let upper = name.to_ascii_uppercase();
        if name == "count" {
            if after_fields {
                return "COUNT(*) cannot be combined with fields (GROUP BY is not supported)"
                    .to_owned();
            }
            return "only COUNT(*) is supported: COUNT(expression) and COUNT(DISTINCT ...) are not; count documents with COUNT(*) and a WHERE (e.g. WHERE x IS NOT MISSING)".to_owned();
        }
        if AGGREGATES.contains(&name.as_str()) {
            return format!("aggregates other than COUNT are not supported (found {upper})");
        }
        if name == "exists" {
            return "subqueries (EXISTS) are not supported".to_owned();
        }
        format!(
            "functions are not supported (found `{name}(`); compare or select fields as they are, and transform them in your application"
        )
    }

    /// `(SELECT ...` where an operand or an IN list starts.
    pub(super) fn is_subquery(&self) -> bool {
        if !(self.is_sym("(") && self.is_kw_at(1, "select")) {
            return false;
        }
        match self.peek_at(2) {
            // `(select * from ...`, and not `(select * 2)`.
            Tok::Sym("*") => self.is_kw_at(3, "from"),
            // Two operands in a row cannot be an expression: `(select a ...`.
            Tok::Word(w) => {
                !["and", "or", "is", "in", "like", "not"].contains(&w.to_ascii_lowercase().as_str())
            }
            Tok::Quoted(_) => true,
            _ => false,
        }
    }

    pub(super) fn unsupported_statement(&self) -> Option<String> {
        let word = self.word_at(0)?;
        STATEMENTS.contains(&word.as_str()).then(|| {
            format!(
                "{} statements are not supported; DQL here runs SELECT, INSERT, UPDATE and DELETE",
                word.to_ascii_uppercase()
            )
        })
    }

    /// At the first projection: DISTINCT, literals and other non-paths.
    pub(super) fn unsupported_projection_start(&self) -> Option<String> {
        if self.is_kw("distinct") && !self.is_kw_at(1, "from") && !self.is_sym_at(1, ",") {
            return Some("SELECT DISTINCT is not supported".to_owned());
        }
        match self.peek() {
            Tok::Number(_) | Tok::Str(_) | Tok::Arg(_) => Some(
                "projections are field paths (`SELECT a, b.c`), `*` or COUNT(*); computed values are not supported"
                    .to_owned(),
            ),
            Tok::Sym("(") if self.is_subquery() => Some("subqueries are not supported".to_owned()),
            _ => None,
        }
    }

    /// After a projection, where FROM was expected.
    pub(super) fn unsupported_in_projection(&self) -> Option<String> {
        if self.is_kw("as") {
            return Some(
                "renaming a projected field (AS) is not supported; only COUNT(*) takes AS"
                    .to_owned(),
            );
        }
        match self.peek() {
            Tok::Sym(s)
                if matches!(
                    *s,
                    "+" | "-" | "*" | "/" | "%" | "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
                ) =>
            {
                Some(
                    "computed projections are not supported; select fields by path (`SELECT a, b.c`)"
                        .to_owned(),
                )
            }
            Tok::Sym("(") => Some(
                "functions are not supported in projections; select fields by path".to_owned(),
            ),
            _ => None,
        }
    }

    /// Where a SELECT's next clause (or its end) was expected.
    pub(super) fn unsupported_clause(&self) -> Option<String> {
        if self.is_sym(",") {
            return Some(
                "reading several collections in one statement (FROM a, b) is not supported"
                    .to_owned(),
            );
        }
        let word = self.word_at(0)?;
        let next = self.word_at(1).unwrap_or_default();
        Some(match word.as_str() {
            "group" if next == "by" => {
                "GROUP BY is not supported; COUNT(*) counts the whole selection (one statement per group, with a WHERE)".to_owned()
            }
            "having" => "HAVING is not supported (there is no GROUP BY)".to_owned(),
            "join" => "JOIN is not supported: a statement reads one collection".to_owned(),
            "inner" | "left" | "right" | "full" | "cross" | "outer" | "natural"
                if next == "join" || next == "outer" =>
            {
                "JOIN is not supported: a statement reads one collection".to_owned()
            }
            "union" | "intersect" | "except" | "minus" => format!(
                "{} is not supported: run the statements one by one",
                word.to_ascii_uppercase()
            ),
            "as" => "collection aliases (AS) are not supported".to_owned(),
            "use" => "USE IDS is not supported; write WHERE _id IN (...)".to_owned(),
            "let" | "nest" | "unnest" => format!("{} is not supported", word.to_ascii_uppercase()),
            _ => return None,
        })
    }

    /// After `INSERT INTO c`, where DOCUMENTS was expected.
    pub(super) fn unsupported_insert(&self) -> Option<String> {
        if self.is_sym("(") || self.is_kw("values") {
            return Some(
                "column lists and VALUES are not supported; write INSERT INTO c DOCUMENTS ({field: value, ...})"
                    .to_owned(),
            );
        }
        if self.is_kw("select") {
            return Some("INSERT ... SELECT is not supported".to_owned());
        }
        None
    }

    /// After `IS [NOT]`, where NULL or MISSING was expected.
    pub(super) fn unsupported_after_is(&self) -> Option<String> {
        let word = self.word_at(0)?;
        matches!(
            word.as_str(),
            "valued" | "unknown" | "true" | "false" | "distinct" | "boolean" | "number" | "string"
        )
        .then(|| {
            format!(
                "IS {} is not supported; only IS [NOT] NULL and IS [NOT] MISSING are",
                word.to_ascii_uppercase()
            )
        })
    }

    /// Comparison operators other DQLs have.
    pub(super) fn unsupported_operator(&self) -> Option<String> {
        let word = self.word_at(0)?;
        Some(match word.as_str() {
            "between" => "BETWEEN is not supported; write x >= a AND x <= b".to_owned(),
            "ilike" => "ILIKE is not supported; LIKE matches case-sensitively".to_owned(),
            "similar" | "regexp" | "rlike" => {
                format!("{} is not supported; use LIKE", word.to_ascii_uppercase())
            }
            _ => return None,
        })
    }
}
