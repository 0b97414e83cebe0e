//! Parsing and evaluating DQL.

use super::ast::*;
use super::eval::{Scope, eval, is_true};
use super::like::like;
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
    assert_eq!(s.from, Source::Collection("orders".into()));
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
    let e = err("SELECT * FROM");
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

fn eval_error(filter: &str, doc: Value) -> super::eval::EvalError {
    let doc = doc.as_object().unwrap().clone();
    let args = Map::new();
    let expr = where_of(&format!("SELECT * FROM t WHERE {filter}"));
    eval(
        &expr,
        &Scope {
            doc: Some(&doc),
            args: &args,
        },
    )
    .expect_err(filter)
}

#[test]
fn arithmetic_is_exact_or_an_overflow_never_null_or_rounded() {
    use super::eval::EvalError;
    let doc = json!({"max": i64::MAX, "umax": u64::MAX, "big": 1.7e308, "n": 5});
    // Exact integers across the whole i64 and u64 range.
    assert!(matches(doc.clone(), "max + 1 = 9223372036854775808"));
    assert!(matches(doc.clone(), "umax - 1 = 18446744073709551614"));
    assert!(matches(doc.clone(), "-max - 1 = -9223372036854775808"));
    assert!(matches(doc.clone(), "9007199254740993 != 9007199254740992"));
    assert!(matches(
        doc.clone(),
        "n / 2 = 2.5 AND n % 0 IS NULL AND n / 0 IS NULL"
    ));
    for filter in [
        "umax + 1 = 0",
        "max * 3 = 0",
        "-umax = 0",
        "big * 10 = 0",
        "big + big = 0",
        "-big - big = 0",
        "big / 0.0000001 = 0",
    ] {
        let e = eval_error(filter, doc.clone());
        assert!(
            matches!(&e, EvalError::NumericOverflow(what) if what.contains("64-bit")),
            "{filter}: {e:?}"
        );
    }
    assert_eq!(
        eval_error("umax + 1 = 0", doc.clone()).to_string(),
        "18446744073709551615 + 1 does not fit in a 64-bit integer"
    );
}

#[test]
fn like_patterns_are_bounded() {
    use super::eval::EvalError;
    use super::like::MAX_PATTERN_CHARS;
    let doc = json!({"s": "abc"});
    let ok = "%".repeat(MAX_PATTERN_CHARS);
    assert!(is_true(&check(doc.clone(), "s LIKE :p", json!({"p": ok}))));
    let long = format!("{}é", "%".repeat(MAX_PATTERN_CHARS));
    let expr = where_of("SELECT * FROM t WHERE s LIKE :p");
    let args = json!({"p": long});
    let d = doc.as_object().unwrap().clone();
    assert_eq!(
        eval(
            &expr,
            &Scope {
                doc: Some(&d),
                args: args.as_object().unwrap()
            }
        ),
        Err(EvalError::PatternTooLong {
            chars: MAX_PATTERN_CHARS + 1,
            limit: MAX_PATTERN_CHARS
        })
    );
}

#[test]
fn every_evaluation_step_is_charged() {
    use super::budget::Budget;
    use super::eval::{EvalError, evaluate};
    let doc = json!({"tags": (0..10_000).collect::<Vec<_>>(), "s": "x".repeat(100_000)});
    let d = doc.as_object().unwrap().clone();
    let ids = json!({"ids": (0..100_000).collect::<Vec<_>>()});
    for (filter, args) in [
        // IN over a large argument array: each candidate compared.
        ("99999 IN :ids", ids.clone()),
        // Comparing large values.
        ("tags = tags", json!({})),
        // Building arrays from large values.
        ("[s, s, s, s, s, s, s, s] IS NOT NULL", json!({})),
        ("s LIKE '%y%'", json!({})),
    ] {
        let expr = where_of(&format!("SELECT * FROM t WHERE {filter}"));
        let scope = Scope {
            doc: Some(&d),
            args: args.as_object().unwrap(),
        };
        let mut budget = Budget::new(5_000);
        assert_eq!(
            evaluate(&expr, &scope, &mut budget),
            Err(EvalError::BudgetExceeded { limit: 5_000 }),
            "{filter}"
        );
        // With room, the same finishes.
        assert!(
            evaluate(&expr, &scope, &mut Budget::new(10_000_000)).is_ok(),
            "{filter}"
        );
    }
}
