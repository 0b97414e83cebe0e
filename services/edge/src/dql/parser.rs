//! Recursive-descent DQL parser. Errors name the position and what was expected.
//!
//! Keywords are contextual: a word is a keyword only where the grammar needs one there (`ORDER`
//! after a WHERE clause, `BY` after `ORDER`, ...). Wherever a name can stand, any word is a
//! name, so fields and collections called `id`, `order`, `limit` or `select` need no quoting.
//! Only `true`, `false` and `null` are literals wherever an expression starts; a field of that
//! name is written in backquotes, which also always work for any other name.

mod expr;
mod unsupported;
mod writes;

use super::ParseError;
use super::ast::*;
use super::lexer::{Tok, Token, tokenize};

/// Nesting deeper than this is refused (protects the stack from hostile input).
const MAX_DEPTH: usize = 64;
/// Longest chain of binary operators (`a + b + ...`, `x OR y OR ...`) one expression may hold,
/// counting the chains it sits in: the tree is as deep as the chain is long.
const MAX_CHAIN: usize = 256;

/// Words that are keywords somewhere in the grammar (for hints when one is read the other way).
const KEYWORDS: &[&str] = &[
    "select",
    "from",
    "where",
    "order",
    "by",
    "limit",
    "offset",
    "insert",
    "into",
    "documents",
    "on",
    "id",
    "conflict",
    "fail",
    "do",
    "nothing",
    "update",
    "set",
    "unset",
    "apply",
    "increment",
    "restart",
    "with",
    "delete",
    "and",
    "or",
    "not",
    "in",
    "like",
    "is",
    "null",
    "missing",
    "true",
    "false",
    "asc",
    "desc",
    "as",
    "count",
];

pub fn parse(src: &str) -> Result<Statement, ParseError> {
    let tokens = tokenize(src)?;
    let mut p = Parser {
        src,
        uses: vec![None; tokens.len()],
        tokens,
        pos: 0,
        depth: 0,
        chain: 0,
    };
    let statement = p.statement()?;
    p.eat_sym(";");
    p.expect_eof()?;
    Ok(statement)
}

/// How the parser read a word.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Use {
    Keyword,
    Name,
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    /// How each word token was read, for the hints in errors.
    uses: Vec<Option<Use>>,
    pos: usize,
    depth: usize,
    chain: usize,
}

fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word.to_ascii_lowercase().as_str())
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos.min(self.tokens.len() - 1)].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)].tok
    }

    fn here(&self) -> usize {
        self.tokens[self.pos.min(self.tokens.len() - 1)].at
    }

    fn advance(&mut self) -> Tok {
        let tok = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        tok
    }

    fn mark(&mut self, how: Use) {
        if let Some(slot) = self.uses.get_mut(self.pos) {
            *slot = Some(how);
        }
    }

    fn error(&self, expected: &[&str]) -> ParseError {
        let found = self.peek().describe();
        let message = format!(
            "expected {}, found {found}{}",
            expected.join(" or "),
            self.keyword_hint()
        );
        ParseError::at(self.src, self.here(), &message, expected)
    }

    /// When the word before the error is a keyword read as a name or the other way round, says
    /// so: that is most often the cause.
    fn keyword_hint(&self) -> String {
        let Some(before) = self.pos.checked_sub(1) else {
            return String::new();
        };
        let (Tok::Word(w), Some(how)) = (&self.tokens[before].tok, self.uses[before]) else {
            return String::new();
        };
        if !is_keyword(w) {
            return String::new();
        }
        let upper = w.to_ascii_uppercase();
        match how {
            Use::Keyword => format!(
                " (`{w}` was read as the keyword {upper}; to use it as a name, put it in backquotes: `{w}`)"
            ),
            Use::Name => format!(
                " (`{w}` was read as a name; if it is the keyword {upper}, something is missing before it, and a name that is also a keyword is clearest in backquotes: `{w}`)"
            ),
        }
    }

    fn unsupported(&self, message: &str) -> ParseError {
        ParseError::unsupported(self.src, self.here(), message)
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        matches!(self.peek_at(n), Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.mark(Use::Keyword);
            self.advance();
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), ParseError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.error(&[&kw.to_ascii_uppercase()]))
        }
    }

    fn is_sym(&self, sym: &str) -> bool {
        matches!(self.peek(), Tok::Sym(s) if *s == sym)
    }

    fn is_sym_at(&self, n: usize, sym: &str) -> bool {
        matches!(self.peek_at(n), Tok::Sym(s) if *s == sym)
    }

    fn eat_sym(&mut self, sym: &str) -> bool {
        if self.is_sym(sym) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, sym: &str) -> Result<(), ParseError> {
        if self.eat_sym(sym) {
            Ok(())
        } else {
            Err(self.error(&[&format!("`{sym}`")]))
        }
    }

    fn at_end(&self) -> bool {
        matches!(self.peek(), Tok::Eof) || self.is_sym(";")
    }

    fn expect_eof(&self) -> Result<(), ParseError> {
        if matches!(self.peek(), Tok::Eof) {
            Ok(())
        } else {
            Err(self.error(&["the end of the statement"]))
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::at(
                self.src,
                self.here(),
                &format!("the statement nests deeper than {MAX_DEPTH} levels"),
                &[],
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// A name: any unquoted word (keywords included) or a backquoted name.
    fn ident(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Word(w) => {
                self.mark(Use::Name);
                self.advance();
                Ok(w)
            }
            Tok::Quoted(w) => {
                self.advance();
                Ok(w)
            }
            _ => Err(self.error(&[what])),
        }
    }

    fn statement(&mut self) -> Result<Statement, ParseError> {
        if self.eat_kw("select") {
            self.select().map(Statement::Select)
        } else if self.eat_kw("insert") {
            self.insert().map(Statement::Insert)
        } else if self.eat_kw("update") {
            self.update().map(Statement::Update)
        } else if self.eat_kw("delete") {
            self.delete().map(Statement::Delete)
        } else if let Some(message) = self.unsupported_statement() {
            Err(self.unsupported(&message))
        } else {
            Err(self.error(&["SELECT", "INSERT", "UPDATE", "DELETE"]))
        }
    }

    fn select(&mut self) -> Result<Select, ParseError> {
        let projection = self.projection()?;
        if !self.is_kw("from")
            && let Some(message) = self.unsupported_in_projection()
        {
            return Err(self.unsupported(&message));
        }
        self.expect_kw("from")?;
        let from = self.source()?;
        let filter = if self.eat_kw("where") {
            Some(self.expr()?)
        } else {
            None
        };
        let mut order_by = Vec::new();
        if self.eat_kw("order") {
            self.expect_kw("by")?;
            loop {
                let path = self.path()?;
                let descending = if self.eat_kw("desc") {
                    true
                } else {
                    self.eat_kw("asc");
                    false
                };
                order_by.push(OrderBy { path, descending });
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        let limit = if self.eat_kw("limit") {
            Some(self.additive()?)
        } else {
            None
        };
        let offset = if self.eat_kw("offset") {
            Some(self.additive()?)
        } else {
            None
        };
        if self.at_end() {
            return Ok(Select {
                from,
                projection,
                filter,
                order_by,
                limit,
                offset,
            });
        }
        if let Some(message) = self.unsupported_clause() {
            return Err(self.unsupported(&message));
        }
        let mut expected = Vec::new();
        if filter.is_none() && order_by.is_empty() && limit.is_none() && offset.is_none() {
            expected.push("WHERE");
        }
        if order_by.is_empty() && limit.is_none() && offset.is_none() {
            expected.push("ORDER BY");
        }
        if limit.is_none() && offset.is_none() {
            expected.push("LIMIT");
        }
        if offset.is_none() {
            expected.push("OFFSET");
        }
        expected.push("the end of the statement");
        Err(self.error(&expected))
    }

    /// `*`, `COUNT(*) [AS name]`, or field paths.
    fn projection(&mut self) -> Result<Projection, ParseError> {
        if self.eat_sym("*") {
            if self.is_sym(",") {
                return Err(self.unsupported(
                    "`*` cannot be combined with other projections; select `*` or list the fields",
                ));
            }
            return Ok(Projection::All);
        }
        if self.is_function_call() {
            let count = self.count()?;
            if self.is_sym(",") {
                return Err(self.unsupported(
                    "COUNT(*) cannot be combined with other projections (GROUP BY is not supported)",
                ));
            }
            return Ok(count);
        }
        if let Some(message) = self.unsupported_projection_start() {
            return Err(self.unsupported(&message));
        }
        let mut paths = vec![self.path()?];
        while self.eat_sym(",") {
            if self.is_function_call() {
                let message = self.function_message(true);
                return Err(self.unsupported(&message));
            }
            paths.push(self.path()?);
        }
        Ok(Projection::Paths(paths))
    }

    /// `COUNT(*) [AS name]`; any other call is refused by name.
    fn count(&mut self) -> Result<Projection, ParseError> {
        if !(self.is_kw("count") && self.is_sym_at(2, "*") && self.is_sym_at(3, ")")) {
            let message = self.function_message(false);
            return Err(self.unsupported(&message));
        }
        self.eat_kw("count");
        self.advance();
        self.advance();
        self.advance();
        let name = if self.eat_kw("as") {
            self.ident("a name for the count")?
        } else {
            "count".to_owned()
        };
        Ok(Projection::Count { name })
    }

    /// A collection of the app, or `system:<name>`.
    fn source(&mut self) -> Result<Source, ParseError> {
        if self.is_sym("(") {
            return Err(
                self.unsupported("subqueries are not supported: FROM takes one collection by name")
            );
        }
        if self.is_kw("system")
            && let Tok::Arg(name) = self.peek_at(1).clone()
        {
            let Some((_, system)) = SystemCollection::ALL
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            else {
                self.advance();
                let known: Vec<String> = SystemCollection::ALL
                    .iter()
                    .map(|(_, s)| s.name().to_owned())
                    .collect();
                return Err(ParseError::at(
                    self.src,
                    self.here(),
                    &format!(
                        "there is no system collection `system:{name}`; there is {}",
                        known.join(", ")
                    ),
                    &known.iter().map(String::as_str).collect::<Vec<_>>(),
                ));
            };
            self.mark(Use::Keyword);
            self.advance();
            self.advance();
            return Ok(Source::System(*system));
        }
        Ok(Source::Collection(self.ident("a collection name")?))
    }

    fn path(&mut self) -> Result<Path, ParseError> {
        let mut segments = vec![PathSegment::Field(self.ident("a field name")?)];
        loop {
            if self.eat_sym(".") {
                segments.push(PathSegment::Field(self.ident("a field name")?));
            } else if self.is_sym("[") {
                self.advance();
                match self.advance() {
                    Tok::Number(n) if n.as_u64().is_some() => {
                        segments.push(PathSegment::Index(n.as_u64().unwrap_or(0) as usize))
                    }
                    _ => {
                        self.pos -= 1;
                        return Err(self.error(&["an array index (0, 1, ...)"]));
                    }
                }
                self.expect_sym("]")?;
            } else {
                break;
            }
        }
        Ok(Path(segments))
    }
}
