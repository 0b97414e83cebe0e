//! MongoDB connection strings: parsing (enough to reject what no driver would accept) and
//! redaction (what responses and logs show instead of the secret).
//!
//! Error messages never quote the input: a connection string carries a password.

use percent_encoding::percent_decode_str;
use std::fmt;

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

/// Why a connection string was refused. The text is safe to show: it never contains the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError(pub String);

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(message: impl Into<String>) -> Result<T, UriError> {
    Err(UriError(message.into()))
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
            UriError(format!(
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
        if addr.is_empty()
            || !addr
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
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

    /// The full string, password included. Only for encryption and for the driver.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
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

    /// What may be shown: the password and secret option values replaced by `****`.
    pub fn redacted(&self) -> String {
        let mut out = String::from(self.scheme.prefix());
        if let Some(user) = self.raw_user() {
            out.push_str(user);
            if self.has_password {
                out.push(':');
                out.push_str(MASK);
            }
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
/// name, hosts and database; for anything unparseable only the scheme survives.
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
mod tests {
    use super::*;

    #[test]
    fn parses_srv_with_credentials_and_redacts_password() {
        let uri = MongoUri::parse("mongodb+srv://user:s3cr%40t@cluster0.example.net/").unwrap();
        assert_eq!(uri.scheme(), Scheme::Srv);
        assert_eq!(uri.username(), Some("user"));
        assert_eq!(uri.hosts(), ["cluster0.example.net"]);
        assert_eq!(
            uri.redacted(),
            "mongodb+srv://user:****@cluster0.example.net/"
        );
        assert!(!format!("{uri:?}").contains("s3cr"));
        assert_eq!(uri.password().as_deref(), Some("s3cr@t"));
        assert_eq!(
            MongoUri::parse("mongodb://user@h").unwrap().password(),
            None
        );
    }

    #[test]
    fn parses_host_list_with_ports_db_and_options() {
        let uri = MongoUri::parse(
            "mongodb://app:pw@a.example:27017,b.example:27018,[::1]:27019/admin?replicaSet=rs0&tlsCertificateKeyFilePassword=hunter2",
        )
        .unwrap();
        assert_eq!(uri.hosts().len(), 3);
        assert_eq!(uri.auth_database(), Some("admin"));
        let red = uri.redacted();
        assert_eq!(
            red,
            "mongodb://app:****@a.example:27017,b.example:27018,[::1]:27019/admin?replicaSet=rs0&tlsCertificateKeyFilePassword=****"
        );
        assert!(!red.contains("pw@") && !red.contains("hunter2"));
    }

    #[test]
    fn accepts_no_credentials_and_no_slash() {
        let uri = MongoUri::parse("mongodb://localhost").unwrap();
        assert_eq!(uri.redacted(), "mongodb://localhost/");
        assert_eq!(uri.username(), None);
    }

    #[test]
    fn rejects_malformed_strings_without_quoting_them() {
        let cases = [
            "postgres://user:pw@host/",
            "mongodb://",
            "mongodb://user:pw@/",
            "mongodb://:pw@host/",
            "mongodb://user:p@ss:word@host/",
            "mongodb://host:0/",
            "mongodb://host:99999/",
            "mongodb://host:abc/",
            "mongodb+srv://a.example.net:27017/",
            "mongodb+srv://a.example.net,b.example.net/",
            "mongodb+srv://localhost/",
            "mongodb://user:pw%zz@host/",
            "mongodb://ho st/",
            "mongodb://host/?replicaSet",
            " mongodb://host/",
        ];
        for case in cases {
            let e = MongoUri::parse(case).expect_err(case);
            assert!(!e.0.contains("pw"), "{case}: {e}");
        }
    }

    #[test]
    fn redact_never_leaks_for_invalid_input() {
        assert_eq!(redact("mongodb://user:p@ss:word@host/"), "mongodb://****");
        assert_eq!(redact("garbage secret"), "****");
        assert_eq!(
            redact("mongodb+srv://u:pw@c.example.net/?appName=x"),
            "mongodb+srv://u:****@c.example.net/?appName=x"
        );
    }

    #[test]
    fn same_hosts_ignores_order_and_credentials() {
        let a = MongoUri::parse("mongodb://u:a@h1,h2/").unwrap();
        let b = MongoUri::parse("mongodb://v:b@h2,h1/").unwrap();
        let c = MongoUri::parse("mongodb://v:b@h3/").unwrap();
        assert!(a.same_hosts(&b));
        assert!(!a.same_hosts(&c));
        let d = MongoUri::parse("mongodb://v:b@H2:27017,h1/").unwrap();
        assert!(a.same_hosts(&d));
    }
}
