//! SQL LIKE without backtracking: `%` matches any run of characters, `_` exactly one, `\` escapes
//! the next character.
//!
//! The pattern is cut at its `%` into segments of fixed length. The first segment must match at
//! the start of the text (unless the pattern starts with `%`), the last one at its end (unless the
//! pattern ends with `%`), and each one between is taken at its leftmost place after the one
//! before (taking it further right never helps the rest). Each text character is read once by one
//! segment search: a segment of plain characters is found with Knuth-Morris-Pratt (constant work
//! per character), one with `_` by bit-parallel shift-and (one machine word of work per 64 pattern
//! characters, per text character). The whole match is O(text + pattern) for patterns without
//! `_`, and O(text × ⌈pattern / 64⌉ + pattern) with them; [`MAX_PATTERN_CHARS`] bounds the factor.

use super::budget::Budget;
use super::eval::EvalError;
use std::collections::HashMap;

/// The longest LIKE pattern a statement may use, in characters.
pub const MAX_PATTERN_CHARS: usize = 4096;

/// Text characters scanned between two charges to the budget.
const CHARGE_EVERY: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Piece {
    Char(char),
    One,
}

/// A pattern cut at its `%`.
struct Pattern {
    /// The non-empty segments between `%`s, in order.
    segments: Vec<Vec<Piece>>,
    /// Whether the pattern has any `%` at all.
    has_any: bool,
    starts_with_any: bool,
    ends_with_any: bool,
}

fn compile(pattern: &str) -> Pattern {
    let mut raw: Vec<Vec<Piece>> = vec![Vec::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let piece = match c {
            '%' => {
                raw.push(Vec::new());
                continue;
            }
            '_' => Piece::One,
            '\\' => Piece::Char(chars.next().unwrap_or('\\')),
            c => Piece::Char(c),
        };
        if let Some(last) = raw.last_mut() {
            last.push(piece);
        }
    }
    Pattern {
        has_any: raw.len() > 1,
        starts_with_any: raw.len() > 1 && raw[0].is_empty(),
        ends_with_any: raw.len() > 1 && raw.last().is_some_and(Vec::is_empty),
        segments: raw.into_iter().filter(|s| !s.is_empty()).collect(),
    }
}

fn piece_matches(piece: Piece, c: char) -> bool {
    match piece {
        Piece::One => true,
        Piece::Char(p) => p == c,
    }
}

/// Whether `segment` matches `text` at `at` (and fits).
fn matches_at(
    text: &[char],
    at: usize,
    segment: &[Piece],
    budget: &mut Budget,
) -> Result<bool, EvalError> {
    budget.charge(segment.len() as u64)?;
    Ok(text.len() >= at + segment.len()
        && segment
            .iter()
            .zip(&text[at..])
            .all(|(p, c)| piece_matches(*p, *c)))
}

/// The leftmost place in `text[from..to]` where `segment` matches whole.
fn find(
    text: &[char],
    from: usize,
    to: usize,
    segment: &[Piece],
    budget: &mut Budget,
) -> Result<Option<usize>, EvalError> {
    if to < from || to - from < segment.len() {
        return Ok(None);
    }
    if segment.contains(&Piece::One) {
        find_with_wildcards(&text[from..to], segment, budget).map(|at| at.map(|i| from + i))
    } else {
        let needle: Vec<char> = segment
            .iter()
            .map(|p| match p {
                Piece::Char(c) => *c,
                Piece::One => '\0',
            })
            .collect();
        find_plain(&text[from..to], &needle, budget).map(|at| at.map(|i| from + i))
    }
}

/// Knuth-Morris-Pratt: the first occurrence of `needle` in `haystack`.
fn find_plain(
    haystack: &[char],
    needle: &[char],
    budget: &mut Budget,
) -> Result<Option<usize>, EvalError> {
    budget.charge(needle.len() as u64)?;
    // fail[i]: the length of the longest proper border of needle[..=i].
    let mut fail = vec![0usize; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        while k > 0 && needle[i] != needle[k] {
            k = fail[k - 1];
        }
        if needle[i] == needle[k] {
            k += 1;
        }
        fail[i] = k;
    }
    let mut matched = 0;
    for (i, c) in haystack.iter().enumerate() {
        if i % CHARGE_EVERY == 0 {
            // Each character costs at most two steps (one advance, amortized one fallback).
            budget.charge(2 * CHARGE_EVERY as u64)?;
        }
        while matched > 0 && *c != needle[matched] {
            matched = fail[matched - 1];
        }
        if *c == needle[matched] {
            matched += 1;
            if matched == needle.len() {
                return Ok(Some(i + 1 - needle.len()));
            }
        }
    }
    Ok(None)
}

/// Shift-and over as many 64-bit words as the segment needs: bit j of the state is set when the
/// segment's first j + 1 pieces match the text ending here.
fn find_with_wildcards(
    haystack: &[char],
    segment: &[Piece],
    budget: &mut Budget,
) -> Result<Option<usize>, EvalError> {
    let m = segment.len();
    let words = m.div_ceil(64);
    budget.charge((m + words) as u64)?;
    // The mask of a character not in the segment: the `_` positions.
    let mut wildcard = vec![0u64; words];
    for (j, p) in segment.iter().enumerate() {
        if *p == Piece::One {
            wildcard[j / 64] |= 1 << (j % 64);
        }
    }
    let mut masks: Vec<Vec<u64>> = Vec::new();
    let mut index: HashMap<char, usize> = HashMap::new();
    for (j, p) in segment.iter().enumerate() {
        if let Piece::Char(c) = p {
            let at = *index.entry(*c).or_insert_with(|| {
                masks.push(wildcard.clone());
                masks.len() - 1
            });
            masks[at][j / 64] |= 1 << (j % 64);
        }
    }
    budget.charge((masks.len() * words) as u64)?;
    let last_bit = 1u64 << ((m - 1) % 64);
    let mut state = vec![0u64; words];
    for (i, c) in haystack.iter().enumerate() {
        if i % CHARGE_EVERY == 0 {
            budget.charge((CHARGE_EVERY * words) as u64)?;
        }
        let mask = index.get(c).map_or(&wildcard, |&at| &masks[at]);
        let mut carry = 1u64;
        for (word, mask) in state.iter_mut().zip(mask) {
            let next_carry = *word >> 63;
            *word = ((*word << 1) | carry) & mask;
            carry = next_carry;
        }
        if state[words - 1] & last_bit != 0 {
            return Ok(Some(i + 1 - m));
        }
    }
    Ok(None)
}

/// SQL LIKE with no limit on the work (tools and tests).
pub fn like(text: &str, pattern: &str) -> bool {
    like_within(text, pattern, &mut Budget::unlimited()).unwrap_or(false)
}

/// SQL LIKE, charging its work to `budget`.
pub fn like_within(text: &str, pattern: &str, budget: &mut Budget) -> Result<bool, EvalError> {
    budget.charge((text.len() + pattern.len()) as u64 / 8 + 1)?;
    let pattern = compile(pattern);
    let text: Vec<char> = text.chars().collect();
    if !pattern.has_any {
        let segment = pattern.segments.first().map_or(&[][..], Vec::as_slice);
        return Ok(text.len() == segment.len() && matches_at(&text, 0, segment, budget)?);
    }
    let mut segments = pattern.segments.as_slice();
    let mut start = 0;
    let mut end = text.len();
    if !pattern.starts_with_any
        && let Some((first, rest)) = segments.split_first()
    {
        if !matches_at(&text, 0, first, budget)? {
            return Ok(false);
        }
        start = first.len();
        segments = rest;
    }
    if !pattern.ends_with_any
        && let Some((last, rest)) = segments.split_last()
    {
        if end < start + last.len() || !matches_at(&text, end - last.len(), last, budget)? {
            return Ok(false);
        }
        end -= last.len();
        segments = rest;
    }
    for segment in segments {
        match find(&text, start, end, segment, budget)? {
            Some(at) => start = at + segment.len(),
            None => return Ok(false),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The textbook matcher, exponential at worst: the reference for small inputs.
    fn reference(text: &[char], pattern: &[Piece], any: &[bool]) -> bool {
        match (pattern.split_first(), any.split_first()) {
            (None, _) | (_, None) => text.is_empty(),
            (Some((_, rest)), Some((true, any_rest))) => {
                (0..=text.len()).any(|k| reference(&text[k..], rest, any_rest))
            }
            (Some((p, rest)), Some((false, any_rest))) => {
                !text.is_empty()
                    && piece_matches(*p, text[0])
                    && reference(&text[1..], rest, any_rest)
            }
        }
    }

    fn reference_like(text: &str, pattern: &str) -> bool {
        let mut pieces = Vec::new();
        let mut any = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let (piece, is_any) = match c {
                '%' => (Piece::One, true),
                '_' => (Piece::One, false),
                '\\' => (Piece::Char(chars.next().unwrap_or('\\')), false),
                c => (Piece::Char(c), false),
            };
            pieces.push(piece);
            any.push(is_any);
        }
        let text: Vec<char> = text.chars().collect();
        reference(&text, &pieces, &any)
    }

    #[test]
    fn the_forms() {
        assert!(like("", "%"));
        assert!(like("", ""));
        assert!(!like("a", ""));
        assert!(like("abc", "a%c"));
        assert!(like("abc", "abc"));
        assert!(!like("abc", "ab"));
        assert!(like("a%c", "a\\%c"));
        assert!(!like("abc", "a\\%c"));
        assert!(like("aaa", "%a%a%a%"));
        assert!(!like("aa", "%a%a%a%"));
        assert!(like("x_y", "x\\_y"));
        assert!(like("hello world", "%o w_rld"));
        assert!(!like("a", "a%a"));
        assert!(like("aa", "a%a"));
        assert!(like("ab\\", "ab\\"));
        assert!(like("héllo wörld", "h_llo%w_rld"));
        assert!(like(&"a".repeat(1000), &"%a".repeat(50)));
        // Wildcard segments longer than one machine word.
        let long = format!("{}b{}", "a".repeat(100), "c".repeat(100));
        assert!(like(&long, &format!("%{}b%", "_".repeat(100))));
        assert!(like(&long, &format!("%a{}c", "_".repeat(150))));
        assert!(!like(&long, &format!("%b{}b%", "_".repeat(70))));
    }

    #[test]
    fn the_hostile_pattern_is_linear() {
        // Backtracking needs ~125,000 × 125,000 steps here (tens of seconds); this needs ~400,000.
        let text = "a".repeat(250_000);
        let pattern = format!("%{}b", "a".repeat(125_000));
        let mut budget = Budget::new(5_000_000);
        assert_eq!(like_within(&text, &pattern, &mut budget), Ok(false));
        let pattern = format!("%{}", "a".repeat(125_000));
        assert_eq!(like_within(&text, &pattern, &mut budget), Ok(true));
        let pattern = format!("%{}b%", "a".repeat(125_000));
        assert_eq!(like_within(&text, &pattern, &mut budget), Ok(false));
    }

    #[test]
    fn wildcard_segments_cost_one_word_per_64_characters() {
        let text = "a".repeat(250_000);
        // (Ending in `%`, the segment is searched for; anchored at the end it is only compared.)
        let pattern = format!("%{}b%", "a_".repeat(2_000));
        // 63 words per character: about 16 million units, so a budget of one million stops it.
        let mut budget = Budget::new(1_000_000);
        assert_eq!(
            like_within(&text, &pattern, &mut budget),
            Err(EvalError::BudgetExceeded { limit: 1_000_000 })
        );
        let mut budget = Budget::new(100_000_000);
        assert_eq!(like_within(&text, &pattern, &mut budget), Ok(false));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn agrees_with_the_reference(text in "[ab]{0,12}", pattern in "[ab%_\\\\]{0,8}") {
            prop_assert_eq!(like(&text, &pattern), reference_like(&text, &pattern), "{:?} LIKE {:?}", text, pattern);
        }
    }
}
