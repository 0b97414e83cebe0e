//! Naming rules: our own resource names, and MongoDB's rules for database and collection names.

/// Prefix of the metadata collections a connector creates in the customer's database.
pub const METADATA_COLLECTION_PREFIX: &str = "__edgebridge_";
/// The collection recording the sessions of the connector's own writes (echo suppression).
pub const SESSIONS_COLLECTION: &str = "__edgebridge_sessions";
/// The collection recording documents MongoDB refused on write-back.
pub const UNSYNCED_DOCUMENTS_COLLECTION: &str = "__edgebridge_unsynced_documents";

const RESERVED_DATABASES: &[&str] = &["admin", "local", "config"];

/// Names of our own resources (apps, connectors, API keys): 1-64 characters, letters, digits,
/// `-`, `_` and `.`, starting with a letter or digit.
pub fn check_resource_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.chars().count() > 64 {
        return Err("must be at most 64 characters".into());
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !first_ok || !rest_ok {
        return Err(
            "may contain only letters, digits, '-', '_' and '.', and must start with a letter or digit"
                .into(),
        );
    }
    Ok(())
}

/// MongoDB database name rules (the strictest platform's, so a name valid here is valid anywhere).
pub fn check_database_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() >= 64 {
        return Err("must be shorter than 64 bytes (a MongoDB limit)".into());
    }
    if let Some(c) = name.chars().find(|c| {
        matches!(
            c,
            '/' | '\\' | '.' | ' ' | '"' | '$' | '*' | '<' | '>' | ':' | '|' | '?' | '\0'
        )
    }) {
        return Err(format!(
            "must not contain {c:?}; MongoDB database names cannot contain / \\ . space \" $ * < > : | ? or NUL"
        ));
    }
    if RESERVED_DATABASES.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "`{name}` is a MongoDB system database and cannot be synced; use your application's database"
        ));
    }
    Ok(())
}

/// MongoDB collection name rules, plus our own: no system collections, no metadata collections.
pub fn check_collection_name(database: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.contains('$') || name.contains('\0') {
        return Err("must not contain '$' or NUL (MongoDB rules)".into());
    }
    if name.starts_with("system.") {
        return Err("`system.*` collections are MongoDB's own and cannot be synced".into());
    }
    if name.starts_with(METADATA_COLLECTION_PREFIX) {
        return Err(format!(
            "names starting with `{METADATA_COLLECTION_PREFIX}` are reserved for the connector's metadata"
        ));
    }
    if name.starts_with('.') || name.ends_with('.') {
        return Err("must not start or end with '.'".into());
    }
    // The namespace `db.collection` is limited to 255 bytes.
    if database.len() + 1 + name.len() > 255 {
        return Err(
            "the namespace `database.collection` must be at most 255 bytes (a MongoDB limit)"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names() {
        assert!(check_resource_name("retail-app_1.v2").is_ok());
        assert!(check_resource_name("").is_err());
        assert!(check_resource_name("-x").is_err());
        assert!(check_resource_name("a b").is_err());
        assert!(check_resource_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn database_names() {
        assert!(check_database_name("retail-demo").is_ok());
        assert!(check_database_name("admin").is_err());
        assert!(check_database_name("a.b").is_err());
        assert!(check_database_name("a$").is_err());
        assert!(check_database_name(&"d".repeat(64)).is_err());
    }

    #[test]
    fn collection_names() {
        assert!(check_collection_name("db", "tasks").is_ok());
        assert!(check_collection_name("db", "orders.archive").is_ok());
        assert!(check_collection_name("db", "system.users").is_err());
        assert!(check_collection_name("db", "__edgebridge_sessions").is_err());
        assert!(check_collection_name("db", "a$b").is_err());
        assert!(check_collection_name("db", "").is_err());
        assert!(check_collection_name("db", &"c".repeat(260)).is_err());
    }
}
