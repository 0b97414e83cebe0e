//! Expressions: OR < AND < NOT < comparisons (`=`, `IN`, `LIKE`, `IS`) < `+ -` < `* / %` < unary
//! minus < operands. An operator word (`AND`, `IN`, `IS`, ...) is one only after an operand; where
//! an operand starts, a word is a field name (`NOT` is the operator when an operand follows it).

use super::{Parser, Use};
use crate::dql::ParseError;
use crate::dql::ast::*;
use crate::dql::lexer::Tok;
use serde_json::Value;

/// Words that continue an expression after an operand, so never start one.
const INFIX_WORDS: &[&str] = &["and", "or", "is", "in", "like", "between", "ilike"];

impl Parser<'_> {
    pub(super) fn expr(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let result = self.or();
        self.leave();
        result
    }

    /// Raises the depth by one chained operator: a chain `a + b + c + ...` builds a tree as deep
    /// as it is long, and everything that walks the tree recurses that deep.
    fn chain_depth(&mut self, links: &mut usize) -> Result<(), ParseError> {
        *links += 1;
        self.chain += 1;
        if self.chain > super::MAX_CHAIN {
            return Err(ParseError::at(
                self.src,
                self.here(),
                &format!(
                    "the statement nests deeper than {} chained operators; use IN (...) for long lists",
                    super::MAX_CHAIN
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

    /// Whether the token `n` ahead can start an operand, operator words aside.
    fn plainly_starts_operand_at(&self, n: usize) -> bool {
        match self.peek_at(n) {
            Tok::Number(_) | Tok::Str(_) | Tok::Arg(_) | Tok::Quoted(_) => true,
            Tok::Sym(s) => matches!(*s, "(" | "[" | "{" | "-"),
            Tok::Word(w) => !INFIX_WORDS.contains(&w.to_ascii_lowercase().as_str()),
            Tok::Eof => false,
        }
    }

    /// Whether the token `n` ahead starts an operand: an operator word does when what follows
    /// it cannot (`NOT and = 1` negates a comparison of the field `and`).
    fn starts_operand_at(&self, n: usize) -> bool {
        match self.peek_at(n) {
            Tok::Word(w) if INFIX_WORDS.contains(&w.to_ascii_lowercase().as_str()) => {
                !self.plainly_starts_operand_at(n + 1)
            }
            _ => self.plainly_starts_operand_at(n),
        }
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        // `NOT x` is the operator; `not = 1` compares a field named `not`.
        if self.is_kw("not") && self.starts_operand_at(1) {
            self.eat_kw("not");
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
            if let Some(message) = self.unsupported_after_is() {
                return Err(self.unsupported(&message));
            }
            return Err(self.error(&["NULL", "MISSING"]));
        }
        let negated = self.is_kw("not") && matches!(self.peek_at(1), Tok::Word(_));
        if negated {
            self.eat_kw("not");
        }
        if let Some(message) = self.unsupported_operator() {
            return Err(self.unsupported(&message));
        }
        if self.eat_kw("in") {
            return Ok(Expr::In {
                expr: Box::new(left),
                list: self.in_list()?,
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

    fn in_list(&mut self) -> Result<InList, ParseError> {
        if self.is_subquery() {
            return Err(self.unsupported(
                "subqueries are not supported; pass the values as an argument: IN :values",
            ));
        }
        if self.is_sym("(") && !self.paren_is_single_array() {
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
            Ok(InList::Items(items))
        } else {
            // `x IN :arg` or `x IN [..]`: one expression that evaluates to an array.
            Ok(InList::Array(Box::new(self.additive()?)))
        }
    }

    /// `IN (:ids)` or `IN ([1, 2])`: a parenthesized single argument or array literal is the
    /// array form, as users write it both ways.
    fn paren_is_single_array(&self) -> bool {
        match self.peek_at(1) {
            Tok::Arg(_) => matches!(self.peek_at(2), Tok::Sym(")")),
            _ => false,
        }
    }

    pub(super) fn additive(&mut self) -> Result<Expr, ParseError> {
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
            return match inner? {
                Expr::Literal(Value::Number(n)) => negate(&n).map(Expr::Literal).ok_or_else(|| {
                    ParseError::at(
                        self.src,
                        self.here(),
                        &format!("-{n} does not fit in a 64-bit integer"),
                        &[],
                    )
                }),
                other => Ok(Expr::Neg(Box::new(other))),
            };
        }
        self.primary()
    }

    fn literal_word(&mut self) -> Option<Value> {
        let Tok::Word(w) = self.peek() else {
            return None;
        };
        let value = match w.to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            _ => return None,
        };
        self.mark(Use::Keyword);
        self.advance();
        Some(value)
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        if let Some(value) = self.literal_word() {
            return Ok(Expr::Literal(value));
        }
        if self.is_function_call() {
            let message = self.function_message(false);
            return Err(self.unsupported(&message));
        }
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
            Tok::Sym("(") => {
                if self.is_subquery() {
                    return Err(self.unsupported("subqueries are not supported"));
                }
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
            Tok::Sym("{") => self.object(),
            Tok::Word(_) | Tok::Quoted(_) => Ok(Expr::Path(self.path()?)),
            _ => Err(self.error(&["an expression (a field, a literal, :arg or `(`)"])),
        }
    }

    fn object(&mut self) -> Result<Expr, ParseError> {
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
}

fn negate(n: &serde_json::Number) -> Option<Value> {
    if let Some(i) = n.as_i64() {
        return i.checked_neg().map(Value::from);
    }
    // -9223372036854775808 is read as 9223372036854775808 (unsigned), then negated.
    if let Some(u) = n.as_u64() {
        return (u == 1 << 63).then_some(Value::from(i64::MIN));
    }
    serde_json::Number::from_f64(-n.as_f64().unwrap_or(0.0)).map(Value::Number)
}
