//! Request bodies as JSON: parsed into their type with problems that name the JSON pointer of
//! the offending value and say what it must be, in the same words whatever the resource
//! ("must be a string, not a number", "is required", "unknown field `x`; expected one of: ...").
//! A leading UTF-8 byte order mark is skipped (RFC 8259 allows parsers to ignore it), and a NUL
//! character anywhere answers 422 `invalid_character`: Postgres text cannot hold it.

use crate::error::{ApiError, Result};
use edgebridge_domain::Violation;
use serde::de::DeserializeOwned;
use serde_json::Value;

const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// Whether strings in the body may hold U+0000 (only worker batches carrying MongoDB data,
/// where it is a legal character stored as bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NulRule {
    Refuse,
    Allow,
}

/// Parses JSON bytes into `T`, mapping errors to problems.
///
/// The plain parse goes first: tracking the path of every value costs about a third of the
/// parse, and only a body that fails needs it, so a failure is parsed again for its path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    parse_json_with(bytes, NulRule::Refuse)
}

pub fn parse_json_with<T: DeserializeOwned>(bytes: &[u8], nul: NulRule) -> Result<T> {
    let bytes = bytes.strip_prefix(BYTE_ORDER_MARK).unwrap_or(bytes);
    if nul == NulRule::Refuse
        && may_hold_nul(bytes)
        && let Ok(value) = serde_json::from_slice::<Value>(bytes)
        && let Some(path) = nul_pointer(&value, &mut String::new())
    {
        return Err(nul_problem(path));
    }
    let fast = match serde_json::from_slice(bytes) {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Err(err) => Err(json_problem(err.inner(), serde_path_to_pointer(err.path()))),
        // Only what follows the document failed the plain parse (trailing characters).
        Ok(_) => Err(json_problem(&fast, String::new())),
    }
}

/// The 422 for a NUL at `path` (a JSON pointer; for a path or query parameter, its name).
pub fn nul_problem(path: String) -> ApiError {
    let shown = if path.is_empty() { "/" } else { &path };
    let detail = format!(
        "`{}` contains the NUL character (U+0000), which this API does not store; remove it.",
        shown.replace('\0', "\\u0000")
    );
    ApiError::invalid_field("invalid_character", &path, detail)
}

/// A NUL in JSON text is always escaped (`\u0000`); without that sequence there is none.
fn may_hold_nul(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|w| w == b"\\u0000")
}

fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The pointer of the first key or string holding a NUL.
fn nul_pointer(value: &Value, at: &mut String) -> Option<String> {
    match value {
        Value::String(s) if s.contains('\0') => Some(at.clone()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = at.len();
            at.push_str(&format!("/{i}"));
            let found = nul_pointer(item, at);
            at.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let len = at.len();
            at.push('/');
            at.push_str(&escape_segment(key));
            let found = if key.contains('\0') {
                Some(at.clone())
            } else {
                nul_pointer(item, at)
            };
            at.truncate(len);
            found
        }),
        _ => None,
    }
}

/// `a.b[2].c` (serde_path_to_error) as a JSON pointer `/a/b/2/c`.
fn serde_path_to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push('/');
                out.push_str(&escape_segment(key));
            }
            Segment::Unknown => out.push_str("/?"),
        }
    }
    out
}

fn json_problem(inner: &serde_json::Error, path: String) -> ApiError {
    if inner.is_syntax() || inner.is_eof() {
        ApiError::bad_request(
            "invalid_json",
            format!("The body is not valid JSON ({inner}). Send a JSON document."),
        )
    } else {
        let message = inner.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        ApiError::Validation(vec![friendly(&message, path)])
    }
}

/// The text between the first pair of backticks after `prefix`.
fn quoted<'m>(message: &'m str, prefix: &str) -> Option<(&'m str, &'m str)> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    let end = rest.find('`')?;
    Some((&rest[..end], &rest[end + 1..]))
}

/// `expected `a` or `b`` / `expected one of `a`, `b`, `c`` as `a, b, c`.
fn expected_list(tail: &str) -> String {
    let names: Vec<&str> = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.is_empty())
        .collect();
    names.join(", ")
}

/// serde's name of what it expected, in the words of the connector spec's messages.
fn expected_words(expected: &str) -> String {
    let integer = |min: &str, max: &str| format!("a whole number from {min} to {max}");
    match expected {
        "u8" => integer("0", "255"),
        "u16" => integer("0", "65535"),
        "u32" => integer("0", "4294967295"),
        "u64" | "usize" => "a whole number of at least 0".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a sequence" => "an array".into(),
        "a map" => "an object".into(),
        s if s.starts_with("struct ") => "an object".into(),
        s if s.starts_with("enum ") => "one of the documented values".into(),
        s => s.to_owned(),
    }
}

/// serde's description of the value it found.
fn found_words(found: &str) -> String {
    let kind = found.split(' ').next().unwrap_or(found);
    match kind {
        "integer" | "floating" => "a number".into(),
        "string" => "a string".into(),
        "boolean" => "a boolean".into(),
        "null" | "unit" => "null".into(),
        "sequence" => "an array".into(),
        "map" => "an object".into(),
        _ => found.to_owned(),
    }
}

/// A serde error message rewritten like the connector spec's violations, with the pointer of
/// the value it is about.
fn friendly(message: &str, path: String) -> Violation {
    let at = |member: &str| format!("{path}/{}", escape_segment(member));
    if let Some((field, _)) = quoted(message, "missing field ") {
        return Violation {
            path: at(field),
            message: "is required".into(),
        };
    }
    if let Some((field, tail)) = quoted(message, "unknown field ") {
        // serde_path_to_error points at the unknown member already in some versions.
        let path = if path.ends_with(&format!("/{}", escape_segment(field))) {
            path.clone()
        } else {
            at(field)
        };
        let expected = expected_list(tail);
        let message = if expected.is_empty() {
            format!("unknown field `{field}`; this object takes no fields")
        } else {
            format!("unknown field `{field}`; expected one of: {expected}")
        };
        return Violation { path, message };
    }
    if let Some((variant, tail)) = quoted(message, "unknown variant ") {
        return Violation {
            path,
            message: format!("must be one of: {} (not `{variant}`)", expected_list(tail)),
        };
    }
    if let Some(rest) = message.strip_prefix("invalid length ")
        && let Some((_, expected)) = rest.split_once(", expected ")
    {
        // serde takes an array for a struct (its members in order); an object is what we ask.
        let message = if expected.starts_with("struct ") {
            "must be an object, not an array".to_owned()
        } else {
            format!("must be {expected}")
        };
        return Violation { path, message };
    }
    for (prefix, show_value) in [("invalid type: ", false), ("invalid value: ", true)] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((found, expected)) = rest.split_once(", expected ")
        {
            let found = if show_value {
                found
                    .split_once(' ')
                    .map(|(_, v)| v.trim_matches('`').to_owned())
                    .unwrap_or_else(|| found_words(found))
            } else {
                found_words(found)
            };
            return Violation {
                path,
                message: format!("must be {}, not {found}", expected_words(expected)),
            };
        }
    }
    // A type's own refusal (a UUID, a timestamp, ...).
    Violation {
        path,
        message: format!("is not valid: {message}"),
    }
}

/// For an optional member that may be left out but not sent as `null` (the document says it is
/// not nullable): absent stays `None` (with `#[serde(default)]`), `null` is refused with the
/// member's usual type message.
pub fn present<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        limit: Option<u32>,
        #[serde(default)]
        flag: Option<bool>,
        #[serde(default)]
        items: Vec<Inner>,
        #[serde(default)]
        role: Option<Role>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Role {
        Viewer,
        Developer,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    fn violation(body: &str) -> Violation {
        match parse_json::<Body>(body.as_bytes()) {
            Err(ApiError::Validation(v)) => v[0].clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn shape_errors_carry_json_pointers_and_plain_words() {
        let v = violation(r#"{"name":"a","items":[{"n":1},{"n":"x"}]}"#);
        assert_eq!(v.path, "/items/1/n");
        assert_eq!(
            v.message,
            "must be a whole number from 0 to 4294967295, not a string"
        );
        let v = violation(r#"{"name": 5}"#);
        assert_eq!(
            (v.path.as_str(), v.message.as_str()),
            ("/name", "must be a string, not a number")
        );
        let v = violation(r#"{"name": "a", "flag": "yes"}"#);
        assert_eq!(v.message, "must be true or false, not a string");
        let v = violation(r#"{"name": "a", "limit": -1}"#);
        assert_eq!(
            v.message,
            "must be a whole number from 0 to 4294967295, not -1"
        );
        let v = violation(r#"{"limit": 1}"#);
        assert_eq!(
            (v.path.as_str(), v.message.as_str()),
            ("/name", "is required")
        );
        let v = violation(r#"{"name": "a", "nmae": 1}"#);
        assert_eq!(v.path, "/nmae");
        assert_eq!(
            v.message,
            "unknown field `nmae`; expected one of: name, limit, flag, items, role"
        );
        let v = violation(r#"{"name": "a", "role": "boss"}"#);
        assert_eq!(v.path, "/role");
        assert_eq!(v.message, "must be one of: viewer, developer (not `boss`)");
        let v = violation(r#"{"name": "a", "items": {}}"#);
        assert_eq!(v.message, "must be an array, not an object");
        let v = violation(r#"[]"#);
        assert_eq!(
            (v.path.as_str(), v.message.as_str()),
            ("", "must be an object, not an array")
        );
        assert!(matches!(
            parse_json::<Body>(b"{"),
            Err(ApiError::BadRequest {
                code: "invalid_json",
                ..
            })
        ));
    }

    #[test]
    fn nul_anywhere_is_refused_with_its_pointer() {
        let problem = |body: &str| match parse_json::<Value>(body.as_bytes()) {
            Err(e) => (e.code(), e.to_problem().errors.unwrap()[0].path.clone()),
            Ok(v) => panic!("accepted {v}"),
        };
        assert_eq!(
            problem(r#"{"a": "x\u0000"}"#),
            ("invalid_character", "/a".into())
        );
        assert_eq!(
            problem(r#"{"a": [1, {"b\u0000": 2}]}"#),
            ("invalid_character", "/a/1/b\0".into())
        );
        assert_eq!(
            problem(r#"{"a/b": {"c": "\u0000"}}"#),
            ("invalid_character", "/a~1b/c".into())
        );
        // An escaped backslash followed by `u0000` is no NUL.
        assert!(parse_json::<Value>(br#"{"a": "\\u0000"}"#).is_ok());
        // Worker batches keep MongoDB's NULs.
        assert!(parse_json_with::<Value>(br#"{"a": "\u0000"}"#, NulRule::Allow).is_ok());
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let body = b"\xEF\xBB\xBF{\"name\": \"a\"}";
        assert_eq!(parse_json::<Body>(body).unwrap().name, "a");
    }
}
