//! The DQL parser never panics: random token soups, and valid statements with bytes cut out or
//! swapped, either parse or fail with a position inside the input. (The cargo-fuzz target in
//! `fuzz/` explores further; this runs in every test run.)

use edgebridge_edge::dql::parse;
use proptest::prelude::*;

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
