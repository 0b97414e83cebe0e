//! MongoDB connection strings: parsing (enough to reject what no driver would accept), the
//! driver's option rules for strings users submit ([`MongoUri::parse_checked`], in [`options`]),
//! and redaction (what responses and logs show instead of the secret).
//!
//! Error messages never quote the input: a connection string carries a password.

mod options;

use percent_encoding::percent_decode_str;
use std::fmt;
use std::net::Ipv6Addr;

const MASK: &str = "****";

/// `mongodb://` (a host list) or `mongodb+srv://` (one DNS seed name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Standard,
    Srv,
}

impl Scheme {
    pub fn prefix(self) -> &'static str {
        match self {
            Scheme::Standard => "mongodb://",
            Scheme::Srv => "mongodb+srv://",
        }
    }
}

/// A parsed connection string. Holds the password, so `Debug` prints the redacted form only.
#[derive(Clone, PartialEq, Eq)]
pub struct MongoUri {
    raw: String,
    scheme: Scheme,
    username: Option<String>,
    has_password: bool,
    hosts: Vec<String>,
    auth_database: Option<String>,
    options: Vec<(String, String)>,
}

impl fmt::Debug for MongoUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MongoUri").field(&self.redacted()).finish()
    }
}

/// Why a connection string was refused. The text is safe to show: it never quotes a value of
/// the input (option names may appear).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError {
    message: String,
    beyond_driver: bool,
}

impl UriError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            beyond_driver: false,
        }
    }

    /// A string the MongoDB driver would parse, refused because it can only fail later here
    /// (see [`MongoUri::parse_checked`]).
    fn beyond_driver(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            beyond_driver: true,
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when the driver's own parser accepts the string and only an Edgebridge rule refuses
    /// it (a setting that would fail at the first write or login).
    pub fn is_beyond_driver(&self) -> bool {
        self.beyond_driver
    }
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn err<T>(message: impl Into<String>) -> Result<T, UriError> {
    Err(UriError::new(message))
}

/// Option names whose values are secret (compared lowercase).
fn is_secret_option(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("password")
        || name.contains("secret")
        || name.contains("token")
        || name == "authmechanismproperties"
}

fn decode_component(value: &str, what: &str) -> Result<String, UriError> {
    // Every '%' must start a two-hex-digit escape.
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return err(format!(
                    "the {what} contains a '%' that does not start a percent-escape (%XX); percent-encode special characters"
                ));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    percent_decode_str(value)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            UriError::new(format!(
                "the {what} is not valid UTF-8 once percent-decoded"
            ))
        })
}

fn validate_host(host: &str, scheme: Scheme) -> Result<(), UriError> {
    if host.is_empty() {
        return err("a host is empty; write hosts as host[:port], separated by commas");
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        // IPv6 literal: [addr]:port
        let Some(end) = rest.find(']') else {
            return err("an IPv6 host is missing its closing ']'");
        };
        let addr = &rest[..end];
        if addr.parse::<Ipv6Addr>().is_err() {
            return err("an IPv6 host is not a valid address");
        }
        let after = &rest[end + 1..];
        match after {
            "" => (addr, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (addr, Some(port)),
                None => return err("an IPv6 host must be followed by ':port' or nothing"),
            },
        }
    } else if host.ends_with(".sock") || host.contains("%2F") || host.contains("%2f") {
        // A percent-encoded Unix domain socket path.
        if scheme == Scheme::Srv {
            return err("mongodb+srv:// takes a DNS name, not a Unix socket path");
        }
        return Ok(());
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if name.is_empty() {
        return err("a host name is empty");
    }
    if !host.starts_with('[')
        && !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return err(
            "a host name may contain only letters, digits, '-', '_' and '.'; percent-encode special characters in the user name and password",
        );
    }
    if let Some(port) = port {
        if scheme == Scheme::Srv {
            return err("mongodb+srv:// must not name a port: the port comes from DNS");
        }
        match port.parse::<u32>() {
            Ok(p) if (1..=65535).contains(&p) => {}
            _ => return err("a port must be a number from 1 to 65535"),
        }
    }
    Ok(())
}

impl MongoUri {
    /// Parses a connection string. Accepts what MongoDB drivers accept in the common forms:
    /// `mongodb://[user[:password]@]host[:port][,host...][/[authDb]][?options]` and
    /// `mongodb+srv://[user[:password]@]seed.name[/[authDb]][?options]`.
    pub fn parse(input: &str) -> Result<Self, UriError> {
        if input.trim() != input {
            return err("must not start or end with white space");
        }
        let (scheme, rest) = if let Some(rest) = input.strip_prefix("mongodb://") {
            (Scheme::Standard, rest)
        } else if let Some(rest) = input.strip_prefix("mongodb+srv://") {
            (Scheme::Srv, rest)
        } else {
            return err("must start with mongodb:// or mongodb+srv://");
        };
        let (before_query, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        // userinfo ends at the last '@' before the path.
        let (userinfo, after_userinfo) = match before_query.rfind('@') {
            Some(at) => (Some(&before_query[..at]), &before_query[at + 1..]),
            None => (None, before_query),
        };
        let (host_list, path) = match after_userinfo.split_once('/') {
            Some((h, p)) => (h, Some(p)),
            None => (after_userinfo, None),
        };

        let mut username = None;
        let mut has_password = false;
        if let Some(userinfo) = userinfo {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if user.is_empty() {
                return err("the user name before '@' is empty");
            }
            for (part, what) in [(Some(user), "user name"), (password, "password")] {
                let Some(part) = part else { continue };
                if part.contains(['@', '/', ':', '?', '#', '[', ']']) {
                    return err(format!(
                        "the {what} contains a reserved character (@ / : ? # [ ]); percent-encode it"
                    ));
                }
            }
            username = Some(decode_component(user, "user name")?);
            if let Some(password) = password {
                decode_component(password, "password")?;
                has_password = true;
            }
        }

        if host_list.is_empty() {
            return err("names no host; write at least one host after the scheme");
        }
        let hosts: Vec<String> = host_list.split(',').map(str::to_owned).collect();
        for host in &hosts {
            validate_host(host, scheme)?;
        }
        if scheme == Scheme::Srv {
            if hosts.len() != 1 {
                return err("mongodb+srv:// takes exactly one host name");
            }
            if !hosts[0].contains('.') {
                return err(
                    "mongodb+srv:// needs a fully qualified DNS name such as cluster0.example.net",
                );
            }
        }

        let auth_database = match path {
            None | Some("") => None,
            Some(db) => {
                let db = decode_component(db, "database in the path")?;
                if db.contains(['/', '\\', '.', ' ', '"', '$', '\0']) {
                    return err(
                        "the database in the path contains a character MongoDB does not allow",
                    );
                }
                Some(db)
            }
        };

        let mut options = Vec::new();
        if let Some(query) = query {
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let Some((key, value)) = pair.split_once('=') else {
                    return err("every option must be written as name=value");
                };
                if key.is_empty() {
                    return err("an option has an empty name");
                }
                decode_component(value, "option value")?;
                options.push((key.to_owned(), value.to_owned()));
            }
        }

        Ok(Self {
            raw: input.to_owned(),
            scheme,
            username,
            has_password,
            hosts,
            auth_database,
            options,
        })
    }

    /// Parses a string a user submits: [`MongoUri::parse`], then every rule the MongoDB driver
    /// applies to the options and their combinations (names, values, `tls`/`ssl` agreement,
    /// `directConnection` with several hosts, `loadBalanced`, credentials per `authMechanism`...),
    /// without any DNS lookup. On top of the driver, it refuses what the driver parses but what
    /// can only fail at the first login or write: a custom `w` mode, `MONGODB-CR`, and
    /// `MONGODB-OIDC` without an `ENVIRONMENT` ([`UriError::is_beyond_driver`]). Strings saved
    /// before these rules keep opening with [`MongoUri::parse`].
    pub fn parse_checked(input: &str) -> Result<Self, UriError> {
        let uri = Self::parse(input)?;
        options::check(&uri)?;
        Ok(uri)
    }

    /// The full string, password included. Only for encryption and for the driver.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The decoded user name, for whatever authenticates with it. For messages use
    /// [`MongoUri::shown_username`].
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The user name as responses and logs may show it: masked when the string has no password,
    /// since a lone user name is often the secret itself (a token or API key).
    pub fn shown_username(&self) -> Option<&str> {
        match &self.username {
            Some(_) if !self.has_password => Some(MASK),
            user => user.as_deref(),
        }
    }

    pub fn has_password(&self) -> bool {
        self.has_password
    }

    /// The decoded password, for whatever authenticates with it (never for display).
    pub fn password(&self) -> Option<String> {
        if !self.has_password {
            return None;
        }
        let rest = self.raw.split_once("://")?.1;
        let before_query = rest.split_once('?').map_or(rest, |(a, _)| a);
        let userinfo = &before_query[..before_query.rfind('@')?];
        let password = userinfo.split_once(':')?.1;
        decode_component(password, "password").ok()
    }

    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// The options (`?name=value&...`) as given, names in their original case.
    pub fn options(&self) -> &[(String, String)] {
        &self.options
    }

    pub fn auth_database(&self) -> Option<&str> {
        self.auth_database.as_deref()
    }

    /// What may be shown: the password, a user name that has no password, and secret option
    /// values replaced by `****`.
    pub fn redacted(&self) -> String {
        let mut out = String::from(self.scheme.prefix());
        if let Some(user) = self.raw_user() {
            if self.has_password {
                out.push_str(user);
                out.push(':');
            }
            out.push_str(MASK);
            out.push('@');
        }
        out.push_str(&self.hosts.join(","));
        out.push('/');
        if let Some(path) = self.raw_path() {
            out.push_str(path);
        }
        if !self.options.is_empty() {
            out.push('?');
            let parts: Vec<String> = self
                .options
                .iter()
                .map(|(k, v)| {
                    if is_secret_option(k) {
                        format!("{k}={MASK}")
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect();
            out.push_str(&parts.join("&"));
        }
        out
    }

    /// True when both point at the same hosts (credentials and options may differ).
    pub fn same_hosts(&self, other: &MongoUri) -> bool {
        self.scheme == other.scheme && self.normalized_hosts() == other.normalized_hosts()
    }

    /// Host names lowercased, with the default port made explicit, sorted.
    fn normalized_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|h| {
                let h = h.to_ascii_lowercase();
                let has_port = if h.starts_with('[') {
                    h.contains("]:")
                } else {
                    h.contains(':')
                };
                if has_port || self.scheme == Scheme::Srv || h.ends_with(".sock") {
                    h
                } else {
                    format!("{h}:27017")
                }
            })
            .collect();
        hosts.sort();
        hosts
    }

    /// The text after `?`, as given (`None` without a `?`).
    fn raw_query(&self) -> Option<&str> {
        self.after_scheme().split_once('?').map(|(_, q)| q)
    }

    fn after_scheme(&self) -> &str {
        &self.raw[self.scheme.prefix().len()..]
    }

    fn before_query(&self) -> &str {
        let rest = self.after_scheme();
        rest.split_once('?').map_or(rest, |(a, _)| a)
    }

    fn raw_user(&self) -> Option<&str> {
        let before_query = self.before_query();
        let at = before_query.rfind('@')?;
        let userinfo = &before_query[..at];
        Some(userinfo.split_once(':').map_or(userinfo, |(u, _)| u))
    }

    fn raw_path(&self) -> Option<&str> {
        let before_query = self.before_query();
        let after_user = before_query
            .rfind('@')
            .map_or(before_query, |at| &before_query[at + 1..]);
        after_user.split_once('/').map(|(_, p)| p)
    }
}

/// Redacts any string that may be a connection string, valid or not. Valid ones keep their user
/// name (when it has a password), hosts and database; for anything unparseable only the scheme
/// survives.
pub fn redact(input: &str) -> String {
    match MongoUri::parse(input) {
        Ok(uri) => uri.redacted(),
        Err(_) => {
            let scheme = if input.starts_with("mongodb+srv://") {
                "mongodb+srv://"
            } else if input.starts_with("mongodb://") {
                "mongodb://"
            } else {
                ""
            };
            format!("{scheme}{MASK}")
        }
    }
}

#[cfg(test)]
mod tests;
