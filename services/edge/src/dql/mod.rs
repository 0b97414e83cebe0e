//! DQL, the edge store's query language (a subset): SELECT, INSERT, UPDATE (SET, UNSET, APPLY
//! for counters) and DELETE, with named `:arguments`.

pub mod ast;
pub mod eval;
mod lexer;
mod parser;

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
mod tests {
    use super::ast::*;
    use super::eval::{Scope, eval, is_true, like};
    use super::*;
    use serde_json::{Map, Value, json};

    fn p(src: &str) -> Statement {
        parse(src).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn err(src: &str) -> ParseError {
        parse(src).expect_err(src)
    }

    fn path(s: &str) -> Path {
        Path(
            s.split('.')
                .map(|f| PathSegment::Field(f.to_owned()))
                .collect(),
        )
    }

    fn where_of(src: &str) -> Expr {
        match p(src) {
            Statement::Select(s) => s.filter.unwrap(),
            other => panic!("{other:?}"),
        }
    }

    fn check(doc: Value, filter: &str, args: Value) -> Option<Value> {
        let doc = doc.as_object().unwrap().clone();
        let args = args.as_object().cloned().unwrap_or_default();
        let expr = where_of(&format!("SELECT * FROM t WHERE {filter}"));
        eval(
            &expr,
            &Scope {
                doc: Some(&doc),
                args: &args,
            },
        )
        .unwrap()
    }

    fn matches(doc: Value, filter: &str) -> bool {
        is_true(&check(doc, filter, json!({})))
    }

    #[test]
    fn select_with_everything() {
        let Statement::Select(s) = p(
            "select _id, address.city from `orders` where a = 1 order by x.y desc, z asc limit 10 offset :skip;",
        ) else {
            panic!()
        };
        assert_eq!(s.collection, "orders");
        assert_eq!(
            s.projection,
            Projection::Paths(vec![path("_id"), path("address.city")])
        );
        assert_eq!(
            s.order_by,
            vec![
                OrderBy {
                    path: path("x.y"),
                    descending: true
                },
                OrderBy {
                    path: path("z"),
                    descending: false
                }
            ]
        );
        assert_eq!(s.limit, Some(Expr::Literal(json!(10))));
        assert_eq!(s.offset, Some(Expr::Arg("skip".into())));
        assert!(matches!(
            p("SELECT * FROM tasks"),
            Statement::Select(Select {
                projection: Projection::All,
                filter: None,
                ..
            })
        ));
    }

    #[test]
    fn insert_forms() {
        let Statement::Insert(i) = p(
            "INSERT INTO tasks DOCUMENTS (:doc), ({'_id': 'a', done: false, n: -1.5, tags: ['x'], o: {k: null}})",
        ) else {
            panic!()
        };
        assert_eq!(i.documents.len(), 2);
        assert_eq!(i.on_conflict, OnConflict::Fail);
        for (src, expected) in [
            (
                "INSERT INTO t DOCUMENTS (:d) ON ID CONFLICT FAIL",
                OnConflict::Fail,
            ),
            (
                "INSERT INTO t DOCUMENTS (:d) ON ID CONFLICT DO NOTHING",
                OnConflict::DoNothing,
            ),
            (
                "insert into t documents (:d) on id conflict do update",
                OnConflict::DoUpdate,
            ),
        ] {
            let Statement::Insert(i) = p(src) else {
                panic!()
            };
            assert_eq!(i.on_conflict, expected, "{src}");
        }
    }

    #[test]
    fn update_forms() {
        let Statement::Update(u) = p(
            "UPDATE inventory SET name = 'x', qty2 = qty * 2 UNSET old APPLY quantity INCREMENT BY -5, stock RESTART WITH 25, other RESTART WHERE _id = :id",
        ) else {
            panic!()
        };
        assert_eq!(u.actions.len(), 6);
        assert!(matches!(&u.actions[2], UpdateAction::Unset(p) if *p == path("old")));
        assert!(
            matches!(&u.actions[3], UpdateAction::Increment(p, Expr::Literal(v)) if *p == path("quantity") && *v == json!(-5))
        );
        assert!(matches!(&u.actions[4], UpdateAction::Restart(_, Some(_))));
        assert!(matches!(&u.actions[5], UpdateAction::Restart(_, None)));
        assert!(matches!(
            p("UPDATE c APPLY q RESTART WHERE true"),
            Statement::Update(_)
        ));
    }

    #[test]
    fn delete_form() {
        let Statement::Delete(d) = p("DELETE FROM tasks WHERE done = true") else {
            panic!()
        };
        assert_eq!(d.collection, "tasks");
    }

    #[test]
    fn errors_name_the_position_and_what_was_expected() {
        let e = err("SELEC * FROM t");
        assert_eq!((e.line, e.column, e.position), (1, 1, 0));
        assert!(e.expected.contains(&"SELECT".to_owned()));
        let e = err("SELECT * FROM t WHERE");
        assert_eq!(e.position, 21);
        assert!(
            e.message.contains("found the end of the statement"),
            "{}",
            e.message
        );
        let e = err("SELECT * FROM t\nWHERE a = = 1");
        assert_eq!((e.line, e.column), (2, 11));
        let e = err("UPDATE t SET a = 1");
        assert!(e.message.contains("WHERE"), "{}", e.message);
        let e = err("DELETE FROM t");
        assert!(e.message.contains("WHERE true"), "{}", e.message);
        let e = err("SELECT * FROM select");
        assert!(e.message.contains("collection name"));
        let e = err("SELECT * FROM t WHERE a = 'open");
        assert!(e.message.contains("not closed"));
        let e = err("SELECT * FROM t LIMIT 1 WHERE a = 1");
        assert!(e.expected.contains(&"OFFSET".to_owned()));
        let e = err("INSERT INTO t DOCUMENTS (:d) ON ID CONFLICT DO SOMETHING");
        assert_eq!(e.expected, ["NOTHING", "UPDATE"]);
        assert!(
            err("SELECT * FROM t WHERE a # 1")
                .message
                .contains("unexpected character")
        );
        let deep = format!(
            "SELECT * FROM t WHERE {}1{}",
            "(".repeat(200),
            ")".repeat(200)
        );
        assert!(err(&deep).message.contains("nests deeper"));
    }

    #[test]
    fn comparisons_and_logic_with_missing_and_null() {
        let doc = json!({"_id": "a", "n": 5, "s": "abc", "z": null, "o": {"x": [1, 2]}});
        assert!(matches(doc.clone(), "n = 5 AND s = 'abc'"));
        assert!(matches(doc.clone(), "n == 5.0"));
        assert!(matches(doc.clone(), "n != 4 AND n <> 4"));
        assert!(matches(
            doc.clone(),
            "n > 4 AND n >= 5 AND n < 6 AND n <= 5"
        ));
        assert!(matches(doc.clone(), "s > 'abb'"));
        assert!(!matches(doc.clone(), "s > 4"), "no ordering across types");
        assert!(matches(doc.clone(), "o.x[1] = 2"));
        assert!(matches(doc.clone(), "n = 1 OR s = 'abc'"));
        assert!(matches(doc.clone(), "NOT (n = 1)"));
        assert!(!matches(doc.clone(), "missing_field = 1"));
        assert!(
            !matches(doc.clone(), "NOT (missing_field = 1)"),
            "NOT MISSING is MISSING"
        );
        assert!(
            !matches(doc.clone(), "z = null"),
            "comparisons with NULL are NULL"
        );
        assert!(matches(doc.clone(), "z IS NULL AND n IS NOT NULL"));
        assert!(matches(doc.clone(), "nope IS MISSING AND z IS NOT MISSING"));
        assert!(!matches(doc.clone(), "nope IS NULL"));
        assert_eq!(
            check(doc.clone(), "nope = 1 OR n = 5", json!({})),
            Some(json!(true))
        );
        assert_eq!(
            check(doc.clone(), "nope = 1 AND n = 4", json!({})),
            Some(json!(false))
        );
    }

    #[test]
    fn in_like_arithmetic_and_args() {
        let doc = json!({"_id": "a", "n": 5, "s": "hello world", "tags": ["x"]});
        assert!(matches(doc.clone(), "n IN (1, 5, 9)"));
        assert!(matches(doc.clone(), "n NOT IN (1, 2)"));
        assert!(matches(doc.clone(), "n IN [4, 5]"));
        assert!(is_true(&check(
            doc.clone(),
            "n IN :ids",
            json!({"ids": [5]})
        )));
        assert!(is_true(&check(
            doc.clone(),
            "n IN (:ids)",
            json!({"ids": [5]})
        )));
        assert!(matches(doc.clone(), "s LIKE 'hello%'"));
        assert!(matches(doc.clone(), "s LIKE '%o w_rld'"));
        assert!(matches(doc.clone(), "s NOT LIKE 'bye%'"));
        assert!(matches(
            doc.clone(),
            "n + 1 = 6 AND n * 2 = 10 AND n - 6 = -1 AND n / 2 = 2.5 AND n % 2 = 1"
        ));
        assert!(matches(doc.clone(), "-n = -5"));
        assert!(is_true(&check(
            doc.clone(),
            "s = :greeting",
            json!({"greeting": "hello world"})
        )));
        assert!(matches(doc.clone(), "tags = ['x']"));
        let expr = where_of("SELECT * FROM t WHERE n = :absent");
        let args = Map::new();
        let d = doc.as_object().unwrap().clone();
        assert!(
            eval(
                &expr,
                &Scope {
                    doc: Some(&d),
                    args: &args
                }
            )
            .is_err()
        );
    }

    #[test]
    fn arguments_are_collected_from_every_clause() {
        let s = p(
            "UPDATE t SET a = :x + 1 APPLY q INCREMENT BY :by, r RESTART WITH :r WHERE _id IN (:ids) AND b LIKE :p",
        );
        assert_eq!(
            arguments(&s).into_iter().collect::<Vec<_>>(),
            ["by", "ids", "p", "r", "x"]
        );
        let s = p("SELECT * FROM t WHERE a = 1 LIMIT :n OFFSET :o");
        assert_eq!(arguments(&s).len(), 2);
    }

    #[test]
    fn like_edge_cases() {
        assert!(like("", "%"));
        assert!(like("abc", "a%c"));
        assert!(like("a%c", "a\\%c"));
        assert!(!like("abc", "a\\%c"));
        assert!(like("aaa", "%a%a%a%"));
        assert!(!like("aa", "%a%a%a%"));
        assert!(like("x_y", "x\\_y"));
        assert!(!like("abc", "ab"));
        assert!(like(&"a".repeat(1000), &"%a".repeat(50)));
    }

    #[test]
    fn comments_quotes_and_escapes() {
        let expr = where_of(
            "SELECT * FROM t -- trailing comment\nWHERE s = 'it''s' AND d = \"tab\\there\" AND u = '\\u00e9'",
        );
        let doc = json!({"s": "it's", "d": "tab\there", "u": "é"});
        let args = Map::new();
        assert!(is_true(
            &eval(
                &expr,
                &Scope {
                    doc: doc.as_object(),
                    args: &args
                }
            )
            .unwrap()
        ));
        assert!(matches!(
            p("SELECT `select` FROM `from`"),
            Statement::Select(_)
        ));
    }
}
