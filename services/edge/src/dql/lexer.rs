//! DQL tokens, each with the byte offset where it starts.

use super::ParseError;
use serde_json::Number;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An unquoted identifier or keyword (keywords are matched case-insensitively).
    Word(String),
    /// A `backquoted` identifier: never a keyword.
    Quoted(String),
    Number(Number),
    Str(String),
    Arg(String),
    Sym(&'static str),
    Eof,
}

impl Tok {
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Quoted(w) => format!("`{w}`"),
            Tok::Number(n) => format!("number {n}"),
            Tok::Str(_) => "a string".to_owned(),
            Tok::Arg(a) => format!(":{a}"),
            Tok::Sym(s) => format!("`{s}`"),
            Tok::Eof => "the end of the statement".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub at: usize,
}

const SYMBOLS: &[&str] = &[
    "==", "!=", "<>", "<=", ">=", "*", ",", "(", ")", "[", "]", "{", "}", ".", ":", "=", "<", ">",
    "+", "-", "/", "%", ";",
];

pub fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$')
            {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Word(src[start..i].to_owned()),
                at: start,
            });
            continue;
        }
        if c.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let mut is_float = false;
            if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                is_float = true;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                let mut j = i + 1;
                if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j].is_ascii_digit() {
                    is_float = true;
                    i = j;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let text = &src[start..i];
            // Integers are exact (signed, or unsigned above i64::MAX): one that fits neither is
            // refused rather than rounded to a float.
            let number = if is_float {
                text.parse::<f64>().ok().and_then(Number::from_f64)
            } else {
                text.parse::<i64>()
                    .map(Number::from)
                    .ok()
                    .or_else(|| text.parse::<u64>().ok().map(Number::from))
            };
            let number = number.ok_or_else(|| {
                let message = if is_float {
                    "this number is beyond the range of a 64-bit float"
                } else {
                    "this integer does not fit in 64 bits; write it with a decimal point or an exponent (e.g. 1.5e20) for an approximate value"
                };
                ParseError::at(src, start, message, &[])
            })?;
            out.push(Token {
                tok: Tok::Number(number),
                at: start,
            });
            continue;
        }
        if c == b'\'' || c == b'"' {
            let (text, end) = lex_string(src, i, c)?;
            out.push(Token {
                tok: Tok::Str(text),
                at: start,
            });
            i = end;
            continue;
        }
        if c == b'`' {
            let Some(len) = src[i + 1..].find('`') else {
                return Err(ParseError::at(
                    src,
                    start,
                    "this backquoted identifier is not closed",
                    &["`"],
                ));
            };
            let name = &src[i + 1..i + 1 + len];
            if name.is_empty() {
                return Err(ParseError::at(
                    src,
                    start,
                    "an empty backquoted identifier",
                    &[],
                ));
            }
            out.push(Token {
                tok: Tok::Quoted(name.to_owned()),
                at: start,
            });
            i += len + 2;
            continue;
        }
        if c == b':'
            && bytes
                .get(i + 1)
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        {
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Arg(src[start + 1..i].to_owned()),
                at: start,
            });
            continue;
        }
        if let Some(sym) = SYMBOLS.iter().find(|s| src[i..].starts_with(**s)) {
            out.push(Token {
                tok: Tok::Sym(sym),
                at: start,
            });
            i += sym.len();
            continue;
        }
        if src[i..].starts_with("||") {
            return Err(ParseError::unsupported(
                src,
                start,
                "string concatenation `||` is not supported",
            ));
        }
        let ch = src[i..].chars().next().unwrap_or('?');
        return Err(ParseError::at(
            src,
            start,
            &format!("unexpected character {ch:?}"),
            &["an identifier", "a literal", "an operator"],
        ));
    }
    out.push(Token {
        tok: Tok::Eof,
        at: src.len(),
    });
    Ok(out)
}

/// A quoted string: the quote doubled or backslash escapes (\n \t \\ \' \" \uXXXX).
fn lex_string(src: &str, start: usize, quote: u8) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices().peekable();
    while let Some((offset, ch)) = chars.next() {
        let pos = start + 1 + offset;
        match ch {
            c if c as u32 == u32::from(quote) => {
                if chars
                    .peek()
                    .is_some_and(|(_, n)| *n as u32 == u32::from(quote))
                {
                    chars.next();
                    out.push(c);
                } else {
                    return Ok((out, pos + 1));
                }
            }
            '\\' => {
                let Some((_, esc)) = chars.next() else { break };
                match esc {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' | '\'' | '"' | '/' => out.push(esc),
                    'u' => {
                        let hex: String = (0..4)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        let ch = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| {
                                ParseError::at(
                                    src,
                                    pos,
                                    "an invalid \\u escape: write four hex digits, e.g. \\u00e9",
                                    &[],
                                )
                            })?;
                        out.push(ch);
                    }
                    _ => {
                        return Err(ParseError::at(
                            src,
                            pos,
                            "an unknown escape; use \\n \\t \\r \\\\ \\' \\\" or \\uXXXX",
                            &[],
                        ));
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err(ParseError::at(
        src,
        start,
        "this string is not closed",
        &["a closing quote"],
    ))
}
