//! Validation results: every problem found in a user's input, each with the JSON pointer of the
//! offending value and a message that says what to do.

use serde::Serialize;
use utoipa::ToSchema;

/// One problem in a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Violation {
    /// JSON pointer (RFC 6901) to the offending value, e.g. `/collections/tasks/dqlStrictMode`.
    #[schema(example = "/collections/tasks/dqlStrictMode")]
    pub path: String,
    /// What is wrong and how to fix it.
    #[schema(
        example = "must be false when `mode` is `ejson`; set it to false or use `mode: json`"
    )]
    pub message: String,
}

/// A JSON pointer under construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pointer(String);

impl Pointer {
    pub fn root() -> Self {
        Self(String::new())
    }

    /// The pointer to a child member or element, escaping `~` and `/` as RFC 6901 requires.
    pub fn push(&self, segment: impl AsRef<str>) -> Self {
        let escaped = segment.as_ref().replace('~', "~0").replace('/', "~1");
        Self(format!("{}/{}", self.0, escaped))
    }

    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}/{}", self.0, index))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Collects violations so that a caller sees all of them at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<Violation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, at: &Pointer, message: impl Into<String>) {
        self.0.push(Violation {
            path: at.as_str().to_owned(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn into_vec(self) -> Vec<Violation> {
        self.0
    }

    /// `Ok(value)` when nothing was found, else every violation.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<Violation>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_escapes_tilde_and_slash() {
        let p = Pointer::root().push("collections").push("a/b~c").index(2);
        assert_eq!(p.as_str(), "/collections/a~1b~0c/2");
    }
}
