//! The options of a submitted connection string, checked with the rules of the MongoDB Rust driver
//! this workspace builds: `mongodb` 3.9 with `compat-3-3-0`, `bson-3`, `rustls-tls` and
//! `dns-resolver` and `socks5-proxy` (the egress guard's; a string's own proxy options are refused
//! beyond the driver), so no compression, no `cert-key-password`, no
//! `aws-auth`, no `gssapi-auth`, no `openssl-tls`. Mirrored from its `ConnectionString::parse`,
//! `parse_options` and `parse_option_pair` (`src/client/options.rs`), `ClientOptions::parse`
//! (`src/client/options/parse.rs`), `ClientOptions::validate`, `AuthMechanism::from_str` and
//! `validate_credential` (`src/client/auth.rs`, `src/client/auth/oidc.rs`), with no DNS lookup:
//! for `mongodb+srv://` the rules that count hosts are left to the lookup. The e2e test
//! `connection_strings` runs the driver itself over the same strings, so a driver upgrade that
//! changes a rule fails there.
//!
//! Beyond the driver (marked [`UriError::is_beyond_driver`]): a custom `w` mode (only a number or
//! `majority`), `MONGODB-CR` (the driver refuses it at login) and `MONGODB-OIDC` without an
//! `ENVIRONMENT` (it would need a callback, which a string cannot give).
//!
//! Messages name the option and what it accepts; they never quote a value.

mod auth;

use super::{MongoUri, Scheme, UriError, err};
use auth::Mechanism;
use percent_encoding::percent_decode_str;
use std::collections::{HashMap, HashSet};

/// Every option name the driver knows, as the documentation spells it.
const NAMES: &[&str] = &[
    "appName",
    "authMechanism",
    "authMechanismProperties",
    "authSource",
    "compressors",
    "connectTimeoutMS",
    "directConnection",
    "enableOverloadRetargeting",
    "heartbeatFrequencyMS",
    "journal",
    "loadBalanced",
    "localThresholdMS",
    "maxAdaptiveRetries",
    "maxConnecting",
    "maxIdleTimeMS",
    "maxPoolSize",
    "maxStalenessSeconds",
    "minPoolSize",
    "proxyHost",
    "proxyPassword",
    "proxyPort",
    "proxyUsername",
    "readConcernLevel",
    "readPreference",
    "readPreferenceTags",
    "replicaSet",
    "retryReads",
    "retryWrites",
    "serverMonitoringMode",
    "serverSelectionTimeoutMS",
    "socketTimeoutMS",
    "srvMaxHosts",
    "srvServiceName",
    "ssl",
    "tls",
    "tlsAllowInvalidCertificates",
    "tlsAllowInvalidHostnames",
    "tlsCAFile",
    "tlsCertificateKeyFile",
    "tlsCertificateKeyFilePassword",
    "tlsInsecure",
    "uuidRepresentation",
    "w",
    "waitQueueTimeoutMS",
    "wTimeoutMS",
    "zlibCompressionLevel",
    "adaptiveRetries",
];

fn canonical(lower: &str) -> Option<&'static str> {
    NAMES.iter().copied().find(|n| n.to_lowercase() == lower)
}

/// What the options set, as far as the later rules need it.
#[derive(Default)]
struct Seen {
    names: HashSet<String>,
    /// TLS on or off, and the option that decided it.
    tls: Option<(bool, &'static str)>,
    direct_connection: Option<bool>,
    load_balanced: Option<bool>,
    replica_set: bool,
    /// `Some(true)` for `primary`.
    read_preference_primary: Option<bool>,
    read_preference_tags: bool,
    max_staleness_secs: Option<u64>,
    heartbeat_ms: Option<u64>,
    w_zero: bool,
    journal: Option<bool>,
    max_pool_size: Option<u32>,
    max_connecting: Option<u32>,
    srv_max_hosts: Option<u32>,
    srv_service_name: bool,
    mechanism: Option<Mechanism>,
    auth_source: Option<String>,
    mechanism_properties: HashMap<String, String>,
    socket_timeout: bool,
    zlib_level: bool,
}

fn boolean(name: &str, value: &str) -> Result<bool, UriError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => err(format!(
            "the option `{name}` must be `true` or `false` (in lowercase)"
        )),
    }
}

fn millis(name: &str, value: &str) -> Result<u64, UriError> {
    value.parse::<u64>().or_else(|_| {
        err(format!(
            "the option `{name}` must be a whole number of milliseconds, 0 or more"
        ))
    })
}

fn count(name: &str, value: &str) -> Result<u32, UriError> {
    value.parse::<u32>().or_else(|_| {
        err(format!(
            "the option `{name}` must be a whole number from 0 to 4294967295"
        ))
    })
}

fn not_in_this_driver(name: &str, why: &str) -> UriError {
    UriError::new(format!(
        "the option `{name}` is not available in this service's MongoDB driver ({why}); remove it"
    ))
}

/// An option name as given, shortened for a message.
fn shown(given: &str) -> String {
    let short: String = given.chars().take(40).collect();
    let short = short.escape_default().to_string();
    if given.chars().count() > 40 {
        format!("{short}…")
    } else {
        short
    }
}

/// Edit distance, for "did you mean" on short option names.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn unknown(given: &str, lower: &str) -> UriError {
    let closest = NAMES
        .iter()
        .map(|n| (distance(&n.to_lowercase(), lower), *n))
        .min();
    let hint = match closest {
        Some((d, name)) if d <= 2 && lower.len() > 3 => format!("; did you mean `{name}`?"),
        _ => String::new(),
    };
    UriError::new(format!(
        "the option `{}` is not a MongoDB connection string option{hint} (see https://www.mongodb.com/docs/manual/reference/connection-string-options/)",
        shown(given)
    ))
}

impl Seen {
    /// One `name=value` pair, as the driver's `parse_option_pair`.
    fn option(&mut self, lower: &str, given: &str, value: &str) -> Result<(), UriError> {
        let Some(name) = canonical(lower) else {
            return Err(unknown(given, lower));
        };
        match lower {
            "appname" | "readconcernlevel" => {}
            "replicaset" => self.replica_set = true,
            "srvservicename" => self.srv_service_name = true,
            "authmechanism" => self.mechanism = Some(Mechanism::parse(value)?),
            "authsource" => self.auth_source = Some(value.to_owned()),
            "authmechanismproperties" => self.mechanism_properties(value)?,
            "connecttimeoutms"
            | "localthresholdms"
            | "maxidletimems"
            | "serverselectiontimeoutms"
            | "waitqueuetimeoutms"
            | "wtimeoutms" => {
                millis(name, value)?;
            }
            "heartbeatfrequencyms" => self.heartbeat_ms = Some(millis(name, value)?),
            "sockettimeoutms" => {
                millis(name, value)?;
                self.socket_timeout = true;
            }
            "directconnection" => self.direct_connection = Some(boolean(name, value)?),
            "journal" => self.journal = Some(boolean(name, value)?),
            "loadbalanced" => self.load_balanced = Some(boolean(name, value)?),
            "retrywrites" | "retryreads" | "enableoverloadretargeting" => {
                boolean(name, value)?;
            }
            "maxstalenessseconds" => self.max_staleness(value)?,
            "maxpoolsize" => self.max_pool_size = Some(count(name, value)?),
            "maxconnecting" => self.max_connecting = Some(count(name, value)?),
            "srvmaxhosts" => self.srv_max_hosts = Some(count(name, value)?),
            "minpoolsize" | "maxadaptiveretries" => {
                count(name, value)?;
            }
            "readpreference" => {
                self.read_preference_primary = Some(match value.to_lowercase().as_str() {
                    "primary" => true,
                    "secondary" | "primarypreferred" | "secondarypreferred" | "nearest" => false,
                    _ => {
                        return err(
                            "the option `readPreference` must be primary, primaryPreferred, secondary, secondaryPreferred or nearest",
                        );
                    }
                });
            }
            "readpreferencetags" => {
                let well_formed = value.is_empty()
                    || value.split(',').all(|tag| {
                        let mut parts = tag.split(':');
                        parts.next().is_some() && parts.next().is_some()
                    });
                if !well_formed {
                    return err(
                        "the option `readPreferenceTags` must be a comma-separated list of name:value tags (or empty)",
                    );
                }
                self.read_preference_tags = true;
            }
            "servermonitoringmode" => {
                if !matches!(value.to_lowercase().as_str(), "stream" | "poll" | "auto") {
                    return err("the option `serverMonitoringMode` must be stream, poll or auto");
                }
            }
            "tls" | "ssl" => self.tls_switch(name, boolean(name, value)?)?,
            "tlsinsecure" | "tlsallowinvalidcertificates" => {
                boolean(name, value)?;
                self.needs_tls(name)?;
            }
            "tlscafile" | "tlscertificatekeyfile" => self.needs_tls(name)?,
            "uuidrepresentation" => {
                if !matches!(
                    value.to_lowercase().as_str(),
                    "csharplegacy" | "javalegacy" | "pythonlegacy"
                ) {
                    return err(
                        "the option `uuidRepresentation` must be csharpLegacy, javaLegacy or pythonLegacy (the standard representation is the default: leave the option out)",
                    );
                }
            }
            "w" => self.write_concern(value)?,
            "zlibcompressionlevel" => {
                match value.parse::<i32>() {
                    Ok(-1..=9) => {}
                    _ => {
                        return err(
                            "the option `zlibCompressionLevel` must be a whole number from -1 to 9",
                        );
                    }
                }
                self.zlib_level = true;
            }
            "compressors" => {
                return Err(not_in_this_driver(name, "it is built without compression"));
            }
            "tlscertificatekeyfilepassword" => {
                return Err(not_in_this_driver(
                    name,
                    "it cannot read encrypted private keys",
                ));
            }
            "tlsallowinvalidhostnames" => {
                return Err(not_in_this_driver(
                    name,
                    "with its TLS library it exists only as part of tlsInsecure",
                ));
            }
            // The driver has SOCKS5 proxies, for the egress guard this service puts between it
            // and every cluster: a tenant's own proxy would go around that guard.
            "proxyhost" | "proxyport" | "proxyusername" | "proxypassword" => {
                return Err(UriError::beyond_driver(format!(
                    "the option `{name}` is not allowed: this service makes its MongoDB connections through its own egress guard; remove it"
                )));
            }
            _ => {
                return Err(not_in_this_driver(
                    name,
                    "this driver version does not read it",
                ));
            }
        }
        Ok(())
    }

    fn max_staleness(&mut self, value: &str) -> Result<(), UriError> {
        match value.parse::<i64>() {
            // -1 means "no maximum", the default.
            Ok(-1) => Ok(()),
            Ok(secs) if secs >= 0 => {
                self.max_staleness_secs = u64::try_from(secs).ok();
                Ok(())
            }
            _ => err(
                "the option `maxStalenessSeconds` must be -1 (no maximum) or a whole number of seconds, 90 or more",
            ),
        }
    }

    fn write_concern(&mut self, value: &str) -> Result<(), UriError> {
        match value.parse::<i32>() {
            Ok(n) if n >= 0 => {
                self.w_zero = n == 0;
                Ok(())
            }
            Ok(_) => err(
                "the option `w` must be a whole number of members (0 or more) or `majority`, not negative",
            ),
            Err(_) if value == "majority" => Ok(()),
            // The driver passes any other word to the server as a custom write-concern mode,
            // which fails at the first write unless the replica set defines it.
            Err(_) => Err(UriError::beyond_driver(
                "the option `w` must be a whole number of members (0 or more) or `majority`; custom write-concern modes are not supported here",
            )),
        }
    }

    /// `tls=` or `ssl=`: they name one setting, so every TLS option must agree.
    fn tls_switch(&mut self, name: &'static str, on: bool) -> Result<(), UriError> {
        match self.tls {
            None => self.tls = Some((on, name)),
            Some((was, by)) if was != on => {
                let earlier = if was {
                    "turned TLS on"
                } else {
                    "turned TLS off"
                };
                return err(format!(
                    "the option `{name}={on}` contradicts `{by}`, which {earlier} earlier in the string (`ssl` is the old name of `tls`); give TLS one value"
                ));
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Options that only make sense with TLS, and turn it on.
    fn needs_tls(&mut self, name: &'static str) -> Result<(), UriError> {
        match self.tls {
            None => self.tls = Some((true, name)),
            Some((false, by)) => {
                return err(format!(
                    "the option `{name}` needs TLS, but `{by}=false` turned it off; remove one of them"
                ));
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// What `parse_options` checks once every pair is read.
    fn after_options(&self, srv: bool) -> Result<(), UriError> {
        if self.names.contains("tlsinsecure") && self.names.contains("tlsallowinvalidcertificates")
        {
            return err(
                "the options `tlsInsecure` and `tlsAllowInvalidCertificates` cannot both be given: tlsInsecure includes the other",
            );
        }
        for (set, name) in [
            (self.read_preference_tags, "readPreferenceTags"),
            (self.max_staleness_secs.is_some(), "maxStalenessSeconds"),
        ] {
            if set && self.read_preference_primary != Some(false) {
                return err(format!(
                    "the option `{name}` needs `readPreference` set to a mode other than primary (secondary, primaryPreferred, secondaryPreferred or nearest)"
                ));
            }
        }
        if srv && self.direct_connection == Some(true) {
            return err(
                "the option `directConnection=true` cannot be used with mongodb+srv://, which names a cluster; use mongodb://host:port/ to connect to one server",
            );
        }
        if self.zlib_level {
            return Err(not_in_this_driver(
                "zlibCompressionLevel",
                "it is built without compression",
            ));
        }
        Ok(())
    }

    /// What `ConnectionString::parse` checks after the options: SRV-only options and
    /// credentials.
    fn after_parse(&self, uri: &MongoUri, srv: bool) -> Result<(), UriError> {
        if self.srv_service_name && !srv {
            return err("the option `srvServiceName` needs a mongodb+srv:// string");
        }
        if let Some(max) = self.srv_max_hosts {
            if !srv {
                return err("the option `srvMaxHosts` needs a mongodb+srv:// string");
            }
            if max > 0 && (self.replica_set || self.load_balanced == Some(true)) {
                return err(
                    "the option `srvMaxHosts` (above 0) cannot be combined with `replicaSet` or `loadBalanced=true`",
                );
            }
        }
        if self.auth_source.as_deref() == Some("") {
            return err(
                "the option `authSource` must not be empty: name the database that holds the user, or leave the option out",
            );
        }
        if let Some(mechanism) = self.mechanism {
            if let Some(value) = self.mechanism_properties.get("CANONICALIZE_HOST_NAME")
                && !matches!(
                    value.to_lowercase().as_str(),
                    "true" | "false" | "none" | "forward" | "forwardandreverse"
                )
            {
                return err(
                    "the option `authMechanismProperties`: CANONICALIZE_HOST_NAME must be none, forward, forwardAndReverse, true or false",
                );
            }
            self.credential(mechanism, uri)?;
        }
        Ok(())
    }

    /// `ClientOptions::parse` and `ClientOptions::validate`, on the hosts the string names.
    fn validate(&self, uri: &MongoUri, srv: bool) -> Result<(), UriError> {
        if self.socket_timeout {
            return Err(not_in_this_driver(
                "socketTimeoutMS",
                "the Rust driver does not support it; operations here have their own time limits",
            ));
        }
        // With mongodb+srv:// the hosts come from DNS, when connecting.
        let hosts = if srv { 1 } else { uri.hosts().len() };
        if self.direct_connection == Some(true) && hosts > 1 {
            return err(format!(
                "the option `directConnection=true` connects to exactly one server, but the string names {hosts} hosts; remove directConnection (to discover the replica set) or keep one host"
            ));
        }
        if self.w_zero && self.journal == Some(true) {
            return err(
                "the options `w=0` and `journal=true` contradict each other: an unacknowledged write cannot wait for the journal",
            );
        }
        if self.load_balanced == Some(true) {
            let clash = if hosts > 1 {
                Some("more than one host")
            } else if self.replica_set {
                Some("`replicaSet`")
            } else if self.direct_connection == Some(true) {
                Some("`directConnection=true`")
            } else {
                None
            };
            if let Some(clash) = clash {
                return err(format!(
                    "the option `loadBalanced=true` cannot be combined with {clash}: a load balancer is one address in front of the cluster"
                ));
            }
        }
        for (value, name) in [
            (self.max_pool_size, "maxPoolSize"),
            (self.max_connecting, "maxConnecting"),
        ] {
            if value == Some(0) {
                return err(format!("the option `{name}` must be 1 or more"));
            }
        }
        let heartbeat_ms = self.heartbeat_ms.unwrap_or(10_000);
        if let Some(staleness) = self.max_staleness_secs {
            let smallest_ms = u128::from(heartbeat_ms + 10_000).max(90_000);
            if u128::from(staleness) * 1000 < smallest_ms {
                return err(format!(
                    "the option `maxStalenessSeconds` must be at least {} (90, and heartbeatFrequencyMS plus 10 s)",
                    smallest_ms.div_ceil(1000)
                ));
            }
        }
        if heartbeat_ms < 500 {
            return err("the option `heartbeatFrequencyMS` must be at least 500");
        }
        Ok(())
    }
}

/// Every option rule of the driver, plus the few of [`MongoUri::parse_checked`], for a string
/// [`MongoUri::parse`] accepted.
pub(super) fn check(uri: &MongoUri) -> Result<(), UriError> {
    let srv = uri.scheme() == Scheme::Srv;
    let mut seen = Seen::default();
    if let Some(query) = uri.raw_query().filter(|q| !q.is_empty()) {
        for pair in query.split('&') {
            let Some((given, raw_value)) = pair.split_once('=') else {
                return err(
                    "every option must be written as name=value, with one '&' between options (no empty option, no trailing '&')",
                );
            };
            // The driver lowercases names (Unicode rules) and percent-decodes values only.
            let lower = given.to_lowercase();
            if !seen.names.insert(lower.clone()) && lower != "readpreferencetags" {
                let name = canonical(&lower).map_or_else(|| shown(given), str::to_owned);
                return err(format!(
                    "the option `{name}` is given twice (names are case-insensitive); give it once"
                ));
            }
            let value = percent_decode_str(raw_value).decode_utf8_lossy();
            seen.option(&lower, given, &value)?;
        }
        seen.after_options(srv)?;
    }
    seen.after_parse(uri, srv)?;
    seen.validate(uri, srv)
}

#[cfg(test)]
mod tests;
