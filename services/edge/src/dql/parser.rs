//! Recursive-descent DQL parser. Errors name the position and what was expected.

use super::ParseError;
use super::ast::*;
use super::lexer::{Tok, Token, tokenize};
use serde_json::Value;

/// Nesting deeper than this is refused (protects the stack from hostile input).
const MAX_DEPTH: usize = 64;
/// Longest chain of binary operators (`a + b + ...`, `x OR y OR ...`) one expression may hold,
/// counting the chains it sits in: the tree is as deep as the chain is long.
const MAX_CHAIN: usize = 256;

/// Words that cannot be used as unquoted field or collection names.
const RESERVED: &[&str] = &[
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
];

pub fn parse(src: &str) -> Result<Statement, ParseError> {
    let tokens = tokenize(src)?;
    let mut p = Parser {
        src,
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

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    chain: usize,
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

    fn error(&self, expected: &[&str]) -> ParseError {
        let found = self.peek().describe();
        let message = format!("expected {}, found {found}", expected.join(" or "));
        ParseError::at(self.src, self.here(), &message, expected)
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        matches!(self.peek_at(n), Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
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

    /// An identifier: an unquoted non-reserved word or a backquoted name.
    fn ident(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Word(w) if !RESERVED.contains(&w.to_ascii_lowercase().as_str()) => {
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
        } else {
            Err(self.error(&["SELECT", "INSERT", "UPDATE", "DELETE"]))
        }
    }

    fn select(&mut self) -> Result<Select, ParseError> {
        let projection = if self.eat_sym("*") {
            Projection::All
        } else {
            let mut paths = vec![self.path()?];
            while self.eat_sym(",") {
                paths.push(self.path()?);
            }
            Projection::Paths(paths)
        };
        self.expect_kw("from")?;
        let collection = self.ident("a collection name")?;
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
        if matches!(self.peek(), Tok::Eof) || self.is_sym(";") {
            Ok(Select {
                collection,
                projection,
                filter,
                order_by,
                limit,
                offset,
            })
        } else {
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
    }

    fn insert(&mut self) -> Result<Insert, ParseError> {
        self.expect_kw("into")?;
        let collection = self.ident("a collection name")?;
        self.expect_kw("documents")?;
        let mut documents = Vec::new();
        loop {
            self.expect_sym("(")?;
            documents.push(self.expr()?);
            self.expect_sym(")")?;
            if !self.eat_sym(",") {
                break;
            }
        }
        let on_conflict = if self.eat_kw("on") {
            self.expect_kw("id")?;
            self.expect_kw("conflict")?;
            if self.eat_kw("fail") {
                OnConflict::Fail
            } else if self.eat_kw("do") {
                if self.eat_kw("nothing") {
                    OnConflict::DoNothing
                } else if self.eat_kw("update") {
                    OnConflict::DoUpdate
                } else {
                    return Err(self.error(&["NOTHING", "UPDATE"]));
                }
            } else {
                return Err(self.error(&["FAIL", "DO NOTHING", "DO UPDATE"]));
            }
        } else {
            OnConflict::Fail
        };
        Ok(Insert {
            collection,
            documents,
            on_conflict,
        })
    }

    fn update(&mut self) -> Result<Update, ParseError> {
        let collection = self.ident("a collection name")?;
        let mut actions = Vec::new();
        loop {
            if self.eat_kw("set") {
                loop {
                    let path = self.path()?;
                    self.expect_sym("=")?;
                    actions.push(UpdateAction::Set(path, self.expr()?));
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            } else if self.eat_kw("unset") {
                loop {
                    actions.push(UpdateAction::Unset(self.path()?));
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            } else if self.eat_kw("apply") {
                loop {
                    let path = self.path()?;
                    if self.eat_kw("increment") {
                        self.expect_kw("by")?;
                        actions.push(UpdateAction::Increment(path, self.expr()?));
                    } else if self.eat_kw("restart") {
                        let value = if self.eat_kw("with") {
                            Some(self.expr()?)
                        } else {
                            None
                        };
                        actions.push(UpdateAction::Restart(path, value));
                    } else {
                        return Err(self.error(&["INCREMENT BY", "RESTART"]));
                    }
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            } else if actions.is_empty() {
                return Err(self.error(&["SET", "UNSET", "APPLY"]));
            } else {
                break;
            }
        }
        if !self.eat_kw("where") {
            return Err(self.error(&[
                "SET",
                "UNSET",
                "APPLY",
                "WHERE (add `WHERE true` to change every document)",
            ]));
        }
        let filter = self.expr()?;
        Ok(Update {
            collection,
            actions,
            filter,
        })
    }

    fn delete(&mut self) -> Result<Delete, ParseError> {
        self.expect_kw("from")?;
        let collection = self.ident("a collection name")?;
        if !self.eat_kw("where") {
            return Err(self.error(&["WHERE (add `WHERE true` to delete every document)"]));
        }
        let filter = self.expr()?;
        Ok(Delete { collection, filter })
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

    pub fn expr(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let result = self.or();
        self.leave();
        result
    }

    /// Runs `f` once per chained operator with the depth raised by the chain so far: a chain
    /// `a + b + c + ...` builds a tree as deep as it is long, and everything that walks the tree
    /// recurses that deep.
    fn chain_depth(&mut self, links: &mut usize) -> Result<(), ParseError> {
        *links += 1;
        self.chain += 1;
        if self.chain > MAX_CHAIN {
            return Err(ParseError::at(
                self.src,
                self.here(),
                &format!(
                    "the statement nests deeper than {MAX_CHAIN} chained operators; use IN (...) for long lists"
                ),
                &[],
            ));
        }
        Ok(())
    }

    fn unwind(&mut self, links: usize) {
        self.chain -= links;
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        let mut links = 0;
        while self.eat_kw("or") {
            self.chain_depth(&mut links)?;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        self.unwind(links);
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.not()?;
        let mut links = 0;
        while self.eat_kw("and") {
            self.chain_depth(&mut links)?;
            let right = self.not()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        self.unwind(links);
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        if self.eat_kw("not") {
            self.enter()?;
            let inner = self.not();
            self.leave();
            return Ok(Expr::Not(Box::new(inner?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let left = self.additive()?;
        let op = match self.peek() {
            Tok::Sym("=") | Tok::Sym("==") => Some(CompareOp::Eq),
            Tok::Sym("!=") | Tok::Sym("<>") => Some(CompareOp::Ne),
            Tok::Sym("<") => Some(CompareOp::Lt),
            Tok::Sym("<=") => Some(CompareOp::Le),
            Tok::Sym(">") => Some(CompareOp::Gt),
            Tok::Sym(">=") => Some(CompareOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.advance();
            let right = self.additive()?;
            return Ok(Expr::Compare(op, Box::new(left), Box::new(right)));
        }
        if self.eat_kw("is") {
            let negated = self.eat_kw("not");
            if self.eat_kw("null") {
                return Ok(Expr::IsNull {
                    expr: Box::new(left),
                    negated,
                });
            }
            if self.eat_kw("missing") {
                return Ok(Expr::IsMissing {
                    expr: Box::new(left),
                    negated,
                });
            }
            return Err(self.error(&["NULL", "MISSING"]));
        }
        let negated = if self.is_kw("not") && (self.is_kw_at(1, "in") || self.is_kw_at(1, "like")) {
            self.advance();
            true
        } else {
            false
        };
        if self.eat_kw("in") {
            let list = if self.is_sym("(") && !self.paren_is_single_array() {
                self.advance();
                let mut items = Vec::new();
                if !self.is_sym(")") {
                    loop {
                        items.push(self.expr()?);
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                }
                self.expect_sym(")")?;
                InList::Items(items)
            } else {
                // `x IN :arg` or `x IN [..]`: one expression that evaluates to an array.
                InList::Array(Box::new(self.additive()?))
            };
            return Ok(Expr::In {
                expr: Box::new(left),
                list,
                negated,
            });
        }
        if self.eat_kw("like") {
            let pattern = self.additive()?;
            return Ok(Expr::Like {
                expr: Box::new(left),
                pattern: Box::new(pattern),
                negated,
            });
        }
        if negated {
            return Err(self.error(&["IN", "LIKE"]));
        }
        Ok(left)
    }

    /// `IN (:ids)` or `IN ([1, 2])`: a parenthesized single argument or array literal is the
    /// array form, as users write it both ways.
    fn paren_is_single_array(&self) -> bool {
        match self.peek_at(1) {
            Tok::Arg(_) => matches!(self.peek_at(2), Tok::Sym(")")),
            _ => false,
        }
    }

    fn additive(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.multiplicative()?;
        let mut links = 0;
        loop {
            let op = match self.peek() {
                Tok::Sym("+") => ArithOp::Add,
                Tok::Sym("-") => ArithOp::Sub,
                _ => break,
            };
            self.advance();
            self.chain_depth(&mut links)?;
            let right = self.multiplicative()?;
            left = Expr::Arith(op, Box::new(left), Box::new(right));
        }
        self.unwind(links);
        Ok(left)
    }

    fn multiplicative(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        let mut links = 0;
        loop {
            let op = match self.peek() {
                Tok::Sym("*") => ArithOp::Mul,
                Tok::Sym("/") => ArithOp::Div,
                Tok::Sym("%") => ArithOp::Mod,
                _ => break,
            };
            self.advance();
            self.chain_depth(&mut links)?;
            let right = self.unary()?;
            left = Expr::Arith(op, Box::new(left), Box::new(right));
        }
        self.unwind(links);
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.eat_sym("-") {
            self.enter()?;
            let inner = self.unary();
            self.leave();
            return Ok(match inner? {
                Expr::Literal(Value::Number(n)) => Expr::Literal(negate(&n)),
                other => Expr::Neg(Box::new(other)),
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        match self.peek().clone() {
            Tok::Number(n) => {
                self.advance();
                Ok(Expr::Literal(Value::Number(n)))
            }
            Tok::Str(s) => {
                self.advance();
                Ok(Expr::Literal(Value::String(s)))
            }
            Tok::Arg(a) => {
                self.advance();
                Ok(Expr::Arg(a))
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => {
                self.advance();
                Ok(Expr::Literal(Value::Bool(true)))
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => {
                self.advance();
                Ok(Expr::Literal(Value::Bool(false)))
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => {
                self.advance();
                Ok(Expr::Literal(Value::Null))
            }
            Tok::Sym("(") => {
                self.advance();
                let inner = self.expr()?;
                self.expect_sym(")")?;
                Ok(inner)
            }
            Tok::Sym("[") => {
                self.advance();
                self.enter()?;
                let mut items = Vec::new();
                if !self.is_sym("]") {
                    loop {
                        items.push(self.expr()?);
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                }
                self.leave();
                self.expect_sym("]")?;
                Ok(Expr::Array(items))
            }
            Tok::Sym("{") => {
                self.advance();
                self.enter()?;
                let mut members = Vec::new();
                if !self.is_sym("}") {
                    loop {
                        let key = match self.advance() {
                            Tok::Str(s) | Tok::Quoted(s) | Tok::Word(s) => s,
                            _ => {
                                self.pos -= 1;
                                return Err(self.error(&["a member name"]));
                            }
                        };
                        self.expect_sym(":")?;
                        members.push((key, self.expr()?));
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                }
                self.leave();
                self.expect_sym("}")?;
                Ok(Expr::Object(members))
            }
            Tok::Word(_) | Tok::Quoted(_) => Ok(Expr::Path(self.path()?)),
            _ => Err(self.error(&["an expression (a field, a literal, :arg or `(`)"])),
        }
    }
}

fn negate(n: &serde_json::Number) -> Value {
    if let Some(i) = n.as_i64()
        && let Some(neg) = i.checked_neg()
    {
        return Value::from(neg);
    }
    serde_json::Number::from_f64(-n.as_f64().unwrap_or(0.0)).map_or(Value::Null, Value::Number)
}
