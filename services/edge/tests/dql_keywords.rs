//! DQL as users write it: keywords are keywords only where the grammar needs one, so common field
//! and collection names work unquoted; errors around a keyword read as a name (or the other way
//! round) suggest backquotes; constructs this DQL lacks are named in the error; COUNT(*) and
//! `system:collections` parse.

use edgebridge_edge::dql::ast::*;
use edgebridge_edge::dql::eval::{Scope, eval, is_true};
use edgebridge_edge::dql::{ParseError, parse};
use serde_json::{Map, Value, json};

mod common;
use common::WORDS;

fn p(src: &str) -> Statement {
    parse(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn err(src: &str) -> ParseError {
    parse(src).expect_err(src)
}

fn field(w: &str) -> Path {
    Path(vec![PathSegment::Field(w.to_owned())])
}

fn nested(a: &str, b: &str) -> Path {
    Path(vec![
        PathSegment::Field(a.to_owned()),
        PathSegment::Field(b.to_owned()),
    ])
}

fn holds(filter: &Expr, doc: Value) -> bool {
    let args = Map::new();
    is_true(
        &eval(
            filter,
            &Scope {
                doc: doc.as_object(),
                args: &args,
            },
        )
        .unwrap(),
    )
}

#[test]
fn keywords_work_as_names_everywhere_a_name_stands() {
    for w in WORDS {
        // Projections, WHERE paths, ORDER BY, LIMIT.
        let Statement::Select(s) = p(&format!(
            "SELECT {w}, a.{w} FROM t WHERE {w} = 7 AND a.{w} IS NOT MISSING ORDER BY {w} DESC, a.{w} LIMIT 5"
        )) else {
            panic!("{w}")
        };
        assert_eq!(
            s.projection,
            Projection::Paths(vec![field(w), nested("a", w)]),
            "{w}"
        );
        assert_eq!(s.order_by[0].path, field(w), "{w}");
        assert!(s.order_by[0].descending, "{w}");
        assert_eq!(s.order_by[1].path, nested("a", w), "{w}");
        let filter = s.filter.unwrap();
        assert!(
            holds(&filter, json!({ *w: 7, "a": { *w: 1 } })),
            "{w}: {filter:?}"
        );
        assert!(!holds(&filter, json!({ *w: 8, "a": { *w: 1 } })), "{w}");

        // Collection names.
        let Statement::Select(s) = p(&format!("SELECT * FROM {w} WHERE {w} IN (1, 2)")) else {
            panic!("{w}")
        };
        assert_eq!(s.from, Source::Collection((*w).to_owned()), "{w}");

        // SET targets and values, UNSET, APPLY paths.
        let Statement::Update(u) = p(&format!(
            "UPDATE {w} SET {w} = {w} + 1, b.{w} = 2 UNSET c.{w} APPLY {w}.qty INCREMENT BY 2 WHERE _id = :id"
        )) else {
            panic!("{w}")
        };
        assert_eq!(u.collection, *w);
        assert!(
            matches!(&u.actions[0], UpdateAction::Set(p, Expr::Arith(ArithOp::Add, a, _)) if *p == field(w) && **a == Expr::Path(field(w))),
            "{w}: {:?}",
            u.actions[0]
        );
        assert!(matches!(&u.actions[2], UpdateAction::Unset(p) if *p == nested("c", w)));
        assert!(matches!(&u.actions[3], UpdateAction::Increment(p, _) if *p == nested(w, "qty")));

        // INSERT targets and member names; DELETE.
        let Statement::Insert(i) = p(&format!(
            "INSERT INTO {w} DOCUMENTS ({{{w}: 1}}) ON ID CONFLICT DO NOTHING"
        )) else {
            panic!("{w}")
        };
        assert_eq!(i.collection, *w);
        let Statement::Delete(d) = p(&format!("DELETE FROM {w} WHERE {w} IS NULL")) else {
            panic!("{w}")
        };
        assert_eq!(d.collection, *w);

        // The backquoted form means the same.
        assert_eq!(
            p(&format!(
                "SELECT `{w}` FROM `{w}` WHERE `{w}` = 7 ORDER BY `{w}`"
            )),
            p(&format!("SELECT {w} FROM {w} WHERE {w} = 7 ORDER BY {w}")),
            "{w}"
        );
    }
}

#[test]
fn the_statements_from_the_issue_parse() {
    let Statement::Select(s) = p("SELECT * FROM users WHERE id = 7") else {
        panic!()
    };
    assert!(holds(&s.filter.unwrap(), json!({"id": 7})));
    let Statement::Update(u) = p("UPDATE inventory APPLY order.qty INCREMENT BY 2 WHERE _id = :id")
    else {
        panic!()
    };
    assert!(
        matches!(&u.actions[0], UpdateAction::Increment(p, Expr::Literal(v)) if *p == nested("order", "qty") && *v == json!(2))
    );
    // `NOT` is the operator when an operand follows, a name when an operator does.
    let Statement::Select(s) = p("SELECT * FROM t WHERE not = 1 AND NOT not = 2") else {
        panic!()
    };
    assert!(holds(&s.filter.unwrap(), json!({"not": 1})));
    // Literals stay literals; a field called `null` is backquoted.
    let Statement::Select(s) = p("SELECT * FROM t WHERE `null` = null") else {
        panic!()
    };
    assert!(
        matches!(s.filter.unwrap(), Expr::Compare(_, a, b) if *a == Expr::Path(field("null")) && *b == Expr::Literal(Value::Null))
    );
}

#[test]
fn errors_around_a_keyword_suggest_backquotes() {
    for src in [
        // `order` read as ORDER (the user meant a field).
        "SELECT * FROM t WHERE a = 1 order = 2",
        // `limit` read as LIMIT, then nothing.
        "SELECT * FROM t ORDER BY a limit",
        // `unset` read as UNSET.
        "UPDATE t SET a = 1 unset = 2 WHERE true",
        // `where` read as the collection's name.
        "SELECT * FROM where a = 1",
    ] {
        let e = err(src);
        assert!(e.message.contains("backquotes"), "{src}: {}", e.message);
        assert!(!e.unsupported, "{src}");
    }
    let e = err("SELECT * FROM where a = 1");
    assert!(
        e.message.contains("`where` was read as a name"),
        "{}",
        e.message
    );
    // An error with no keyword nearby has no hint.
    assert!(
        !err("SELECT * FROM t WHERE a = = 1")
            .message
            .contains("backquotes")
    );
}

#[test]
fn count_and_system_collections() {
    let Statement::Select(s) = p("SELECT COUNT(*) FROM tasks WHERE done = false") else {
        panic!()
    };
    assert_eq!(
        s.projection,
        Projection::Count {
            name: "count".into()
        }
    );
    let Statement::Select(s) = p("select count(*) as total from tasks") else {
        panic!()
    };
    assert_eq!(
        s.projection,
        Projection::Count {
            name: "total".into()
        }
    );
    let Statement::Select(s) =
        p("SELECT name, documents FROM system:collections WHERE documents > 0 ORDER BY name")
    else {
        panic!()
    };
    assert_eq!(s.from, Source::System(SystemCollection::Collections));
    assert!(matches!(
        p("SELECT COUNT(*) FROM system:collections"),
        Statement::Select(Select {
            from: Source::System(_),
            ..
        })
    ));
    // A field or collection named `count` or `system` is still a name.
    assert!(
        matches!(p("SELECT count FROM system"), Statement::Select(Select { from: Source::Collection(c), .. }) if c == "system")
    );
    let e = err("SELECT * FROM system:nope");
    assert!(e.message.contains("system:collections"), "{}", e.message);
    for src in [
        "INSERT INTO system:collections DOCUMENTS ({a: 1})",
        "UPDATE system:collections SET a = 1 WHERE true",
        "DELETE FROM system:collections WHERE true",
    ] {
        let e = err(src);
        assert!(
            e.unsupported && e.message.contains("read-only"),
            "{src}: {e:?}"
        );
    }
}

#[test]
fn unsupported_constructs_are_named() {
    for (src, says) in [
        (
            "SELECT SUM(x) FROM c",
            "aggregates other than COUNT are not supported",
        ),
        (
            "SELECT AVG(x) FROM c",
            "aggregates other than COUNT are not supported",
        ),
        (
            "SELECT max(x) FROM c",
            "aggregates other than COUNT are not supported",
        ),
        ("SELECT COUNT(x) FROM c", "only COUNT(*) is supported"),
        (
            "SELECT COUNT(DISTINCT x) FROM c",
            "only COUNT(*) is supported",
        ),
        ("SELECT COUNT(*), a FROM c", "GROUP BY is not supported"),
        ("SELECT a, COUNT(*) FROM c", "GROUP BY is not supported"),
        (
            "SELECT a, COUNT(*) FROM c GROUP BY a",
            "GROUP BY is not supported",
        ),
        (
            "SELECT * FROM c WHERE a = 1 GROUP BY a",
            "GROUP BY is not supported",
        ),
        ("SELECT * FROM c HAVING a > 1", "HAVING is not supported"),
        (
            "SELECT * FROM a JOIN b ON a.x = b.y",
            "JOIN is not supported",
        ),
        (
            "SELECT * FROM a LEFT JOIN b ON a.x = b.y",
            "JOIN is not supported",
        ),
        (
            "SELECT * FROM a INNER JOIN b ON a.x = b.y",
            "JOIN is not supported",
        ),
        ("SELECT * FROM a, b", "several collections"),
        ("SELECT * FROM a AS x", "aliases"),
        (
            "SELECT * FROM (SELECT * FROM b)",
            "subqueries are not supported",
        ),
        (
            "SELECT * FROM c WHERE x IN (SELECT y FROM d)",
            "subqueries are not supported",
        ),
        (
            "SELECT * FROM c WHERE x IN (SELECT * FROM d)",
            "subqueries are not supported",
        ),
        (
            "SELECT * FROM c WHERE x = (SELECT y FROM d)",
            "subqueries are not supported",
        ),
        (
            "SELECT * FROM c WHERE EXISTS (SELECT * FROM d)",
            "subqueries (EXISTS)",
        ),
        (
            "SELECT * FROM c UNION SELECT * FROM d",
            "UNION is not supported",
        ),
        ("SELECT DISTINCT a FROM c", "DISTINCT is not supported"),
        (
            "SELECT a + 1 FROM c",
            "computed projections are not supported",
        ),
        ("SELECT a AS b FROM c", "renaming a projected field"),
        ("SELECT 1 FROM c", "projections are field paths"),
        (
            "SELECT * FROM c WHERE lower(name) = 'x'",
            "functions are not supported (found `lower(`)",
        ),
        (
            "SELECT * FROM c WHERE a BETWEEN 1 AND 2",
            "BETWEEN is not supported",
        ),
        (
            "SELECT * FROM c WHERE a NOT BETWEEN 1 AND 2",
            "BETWEEN is not supported",
        ),
        (
            "SELECT * FROM c WHERE a ILIKE 'x%'",
            "ILIKE is not supported",
        ),
        (
            "SELECT * FROM c WHERE a IS VALUED",
            "IS VALUED is not supported",
        ),
        (
            "SELECT * FROM c WHERE a || 'x' = 'yx'",
            "concatenation `||` is not supported",
        ),
        ("SELECT * FROM c USE IDS 'a'", "USE IDS is not supported"),
        (
            "INSERT INTO c (a, b) VALUES (1, 2)",
            "VALUES are not supported",
        ),
        ("INSERT INTO c VALUES (1, 2)", "VALUES are not supported"),
        (
            "INSERT INTO c SELECT * FROM d",
            "INSERT ... SELECT is not supported",
        ),
        (
            "EVICT FROM c WHERE true",
            "EVICT statements are not supported",
        ),
        (
            "CREATE INDEX i ON c (a)",
            "CREATE statements are not supported",
        ),
        ("SELECT *, a FROM c", "`*` cannot be combined"),
    ] {
        let e = err(src);
        assert!(e.message.contains(says), "{src}: {}", e.message);
        assert!(e.unsupported, "{src}: {e:?}");
        assert!(e.position <= src.len());
    }
    // A typo is still a syntax error with what was expected.
    let e = err("SELEC * FROM t");
    assert!(!e.unsupported && e.expected.contains(&"SELECT".to_owned()));
}

#[test]
fn integer_literals_are_exact_or_refused() {
    let Statement::Select(s) =
        p("SELECT * FROM t WHERE a = 18446744073709551615 AND b = -9223372036854775808")
    else {
        panic!()
    };
    assert!(holds(
        &s.filter.unwrap(),
        json!({"a": 18446744073709551615u64, "b": i64::MIN})
    ));
    for src in [
        "SELECT * FROM t WHERE a = 18446744073709551616",
        "SELECT * FROM t WHERE a = -9223372036854775809",
        "SELECT * FROM t WHERE a = 1e400",
    ] {
        let e = err(src);
        assert!(e.message.contains("64"), "{src}: {}", e.message);
    }
}
