//! The DQL parser never panics: random token soups, and valid statements with bytes cut out or
//! swapped, either parse or fail with a position inside the input. Keywords used as names parse
//! as their backquoted forms do, and whatever parses evaluates within a budget of work. (The
//! cargo-fuzz target in `fuzz/` explores further; this runs in every test run.)

use edgebridge_edge::dql::ast::Statement;
use edgebridge_edge::dql::budget::Budget;
use edgebridge_edge::dql::eval::{EvalError, Scope, evaluate};
use edgebridge_edge::dql::{arguments, parse};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const TOKENS: &[&str] = &[
    "SELECT",
    "*",
    "FROM",
    "t",
    "WHERE",
    "a",
    ".",
    "b",
    "[",
    "0",
    "]",
    "=",
    "!=",
    "<",
    ">=",
    "AND",
    "OR",
    "NOT",
    "IN",
    "(",
    ")",
    ",",
    "LIKE",
    "'x%'",
    "IS",
    "NULL",
    "MISSING",
    ":arg",
    "ORDER",
    "BY",
    "DESC",
    "LIMIT",
    "OFFSET",
    "INSERT",
    "INTO",
    "DOCUMENTS",
    "{",
    "}",
    ":",
    "ON",
    "ID",
    "CONFLICT",
    "DO",
    "UPDATE",
    "NOTHING",
    "SET",
    "UNSET",
    "APPLY",
    "INCREMENT",
    "RESTART",
    "WITH",
    "DELETE",
    "-",
    "+",
    "1.5e3",
    "\"s\"",
    "`q`",
    "true",
    "--c\n",
    ";",
    "'unclosed",
    "`",
    "\\u12",
    "id",
    "count",
    "COUNT(*)",
    "AS",
    "system:collections",
    "system",
    "GROUP",
    "JOIN",
    "SUM(",
    "||",
    "BETWEEN",
    "(SELECT",
    "DISTINCT",
];

mod common;
use common::WORDS;

/// Statements with `{}` where a name goes.
const TEMPLATES: &[&str] = &[
    "SELECT {}, a.{} FROM {} WHERE {} = 1 ORDER BY {} DESC LIMIT 3",
    "SELECT * FROM t WHERE a.{} IN (1, 2) AND {} LIKE 'x%' OR {} IS NOT MISSING",
    "UPDATE {} SET {} = {} * 2, b.{} = 'x' UNSET {} APPLY {}.n INCREMENT BY 1 WHERE _id = 1",
    "INSERT INTO {} DOCUMENTS ({{{}: [1, {}]}})",
    "DELETE FROM {} WHERE NOT {} = 1",
];

const VALID: &[&str] = &[
    "SELECT a.b, c FROM t WHERE a IN (1, 2) AND NOT b LIKE 'x%' ORDER BY a DESC LIMIT 5 OFFSET 2",
    "INSERT INTO t DOCUMENTS (:d), ({_id: 'a', n: -1.5e3, o: {k: [true, null]}}) ON ID CONFLICT DO UPDATE",
    "UPDATE inventory SET a = a + 1 UNSET b APPLY q INCREMENT BY -5, r RESTART WITH 2 WHERE _id IN :ids",
    "DELETE FROM t WHERE x IS NOT MISSING OR y IS NULL -- comment",
];

fn check(src: &str) -> Result<(), TestCaseError> {
    if let Err(e) = parse(src) {
        prop_assert!(e.position <= src.len());
        prop_assert!(e.line >= 1 && e.column >= 1);
        prop_assert!(!e.message.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..40)) {
        check(&tokens.join(" "))?;
    }

    #[test]
    fn damaged_statements_never_panic(
        which in 0..VALID.len(),
        cut in any::<prop::sample::Index>(),
        len in 0usize..12,
        junk in "\\PC{0,4}",
    ) {
        let src = VALID[which];
        let at = cut.index(src.len());
        let at = (0..=at).rev().find(|i| src.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + len).min(src.len());
        let end = (end..=src.len()).find(|i| src.is_char_boundary(*i)).unwrap_or(src.len());
        let damaged = format!("{}{}{}", &src[..at], junk, &src[end..]);
        check(&damaged)?;
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        check(&src)?;
    }

    #[test]
    fn keywords_as_names_parse_as_their_backquoted_forms(
        which in 0..TEMPLATES.len(),
        word in prop::sample::select(WORDS),
        upper in prop::collection::vec(any::<bool>(), 16),
    ) {
        // Any mix of cases.
        let word: String = word
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
            .collect();
        let fill = |name: &str| TEMPLATES[which].replace("{{", "\u{1}").replace("}}", "\u{2}")
            .replace("{}", name).replace('\u{1}', "{").replace('\u{2}', "}");
        let plain = parse(&fill(&word));
        let quoted = parse(&fill(&format!("`{word}`")));
        prop_assert!(plain.is_ok(), "{}: {:?}", fill(&word), plain);
        prop_assert_eq!(plain.ok(), quoted.ok());
    }

    #[test]
    fn whatever_parses_evaluates_within_its_budget(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..40)) {
        let src = tokens.join(" ");
        if let Ok(statement) = parse(&src) {
            let doc = json!({"_id": "d", "a": 1, "b": "xxxxxxxxxxxxxxxx", "t": [1, {"d": null}]});
            let mut args = Map::new();
            for name in arguments(&statement) {
                args.insert(name, Value::from("x%x%x%_"));
            }
            let scope = Scope { doc: doc.as_object(), args: &args };
            let exprs = match &statement {
                Statement::Select(s) => s.filter.iter().chain(s.limit.iter()).chain(s.offset.iter()).collect::<Vec<_>>(),
                Statement::Insert(s) => s.documents.iter().collect(),
                Statement::Update(s) => vec![&s.filter],
                Statement::Delete(s) => vec![&s.filter],
            };
            let mut budget = Budget::new(10_000);
            for e in exprs {
                match evaluate(e, &scope, &mut budget) {
                    Ok(_) | Err(EvalError::BudgetExceeded { .. } | EvalError::NumericOverflow(_)) => {}
                    Err(other) => prop_assert!(false, "{src}: {other}"),
                }
            }
        }
    }
}

#[test]
fn a_hostile_like_stops_at_the_budget() {
    // 250,000 characters and a pattern with 4,000 `_`-separated pieces searched for: about
    // 16 million units of work a document; a budget of a million stops it early.
    let statement = parse("SELECT _id FROM c WHERE s LIKE :p").unwrap();
    let Statement::Select(s) = statement else {
        panic!()
    };
    let doc = json!({"s": "a".repeat(250_000)});
    let mut args = Map::new();
    args.insert("p".into(), json!(format!("%{}b%", "a_".repeat(2_000))));
    let scope = Scope {
        doc: doc.as_object(),
        args: &args,
    };
    let mut budget = Budget::new(1_000_000);
    assert_eq!(
        evaluate(s.filter.as_ref().unwrap(), &scope, &mut budget),
        Err(EvalError::BudgetExceeded { limit: 1_000_000 })
    );
    // The pattern is refused for its length.
    args.insert("p".into(), json!(format!("%{}b", "a".repeat(125_000))));
    let scope = Scope {
        doc: doc.as_object(),
        args: &args,
    };
    assert_eq!(
        evaluate(s.filter.as_ref().unwrap(), &scope, &mut Budget::unlimited()),
        Err(EvalError::PatternTooLong {
            chars: 125_002,
            limit: 4096
        })
    );
}

#[test]
fn long_operator_chains_are_refused_not_overflowed() {
    for op in [" + 1", " * 1", " - 1", " / 1", " AND a = 1", " OR a = 1"] {
        let src = format!("SELECT * FROM t WHERE _id = 1{}", op.repeat(30_000));
        let e = parse(&src).expect_err("too long a chain");
        assert!(e.message.contains("nests deeper"), "{}", e.message);
    }
    // A reasonable chain still parses.
    assert!(
        parse(&format!(
            "SELECT * FROM t WHERE a = 0{}",
            " OR a = 1".repeat(100)
        ))
        .is_ok()
    );
}

#[test]
fn very_deep_nesting_is_refused_not_overflowed() {
    for open in ["(", "[", "{a:", "NOT ", "-"] {
        let src = format!("SELECT * FROM t WHERE {}", open.repeat(100_000));
        let e = parse(&src).expect_err("too deep");
        assert!(e.position <= src.len());
    }
}

/// The deepest nesting of `open` (closed by `close`) around `a = 2` the parser accepts.
fn deepest(open: &str, close: &str) -> String {
    (1..200)
        .rev()
        .map(|n| {
            format!(
                "SELECT * FROM t WHERE {}a = 2{}",
                open.repeat(n),
                close.repeat(n)
            )
        })
        .find(|s| parse(s).is_ok())
        .unwrap()
}

#[test]
fn the_largest_statements_evaluate_on_a_small_stack() {
    // The longest chains the parser allows (evaluated along, not down), and the deepest
    // nesting (each level a small frame), on a thread with a quarter of the usual stack.
    let statements = [
        format!("SELECT * FROM t WHERE {}a = 2", "a = 1 OR ".repeat(250)),
        format!("SELECT * FROM t WHERE {}a = 2", "a = 2 AND ".repeat(250)),
        format!("SELECT * FROM t WHERE {}a = 252", "1 + ".repeat(250)),
        deepest("NOT NOT (", ")"),
        deepest("(", ")"),
        deepest("[", "] IS NOT NULL"),
        deepest("(a = 2 AND (", "))"),
    ];
    let parsed: Vec<_> = statements
        .iter()
        .map(|s| match parse(s) {
            Ok(Statement::Select(select)) => select.filter.unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    let results = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let doc = json!({"a": 2});
            let args = Map::new();
            let scope = Scope {
                doc: doc.as_object(),
                args: &args,
            };
            parsed
                .iter()
                .map(|e| {
                    evaluate(e, &scope, &mut Budget::unlimited())
                        .map(|v| v.is_some_and(|v| *v == json!(true)))
                })
                .collect::<Vec<_>>()
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(results, vec![Ok(true); statements.len()]);
}
