//! Why a cluster could not be reached, in words a user can act on: "connection refused at
//! db.example.com:27017" instead of the driver's "server selection timeout" with its topology
//! dump, and a DNS failure's cause instead of the resolver's record dump.
//!
//! The driver reports every failed server check (`ServerHeartbeatFailed`); [`Reachability`]
//! keeps the last failure of each server so a later server-selection timeout can say what it
//! was. Only servers the connection string names are shown by address: a tenant must not learn
//! from our messages which addresses the members its cluster advertises reach.

use std::io;
use std::sync::{Mutex, PoisonError};

use mongodb::error::{Error as DriverError, ErrorKind as DriverErrorKind};

/// The last failed check of each server a client monitors, in the order they first failed.
#[derive(Debug, Default)]
pub(crate) struct Reachability {
    failures: Mutex<Vec<Failure>>,
}

#[derive(Debug)]
struct Failure {
    /// `host:port` as the connection string spells it (normalized).
    address: String,
    /// The connection string names this server.
    seed: bool,
    cause: String,
}

impl Reachability {
    pub(crate) fn failed(&self, address: String, seed: bool, error: &DriverError) {
        let cause = connect_cause(error);
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        match failures.iter_mut().find(|f| f.address == address) {
            Some(known) => known.cause = cause,
            None => failures.push(Failure {
                address,
                seed,
                cause,
            }),
        }
    }

    pub(crate) fn answered(&self, address: &str) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|f| f.address != address);
    }

    /// The sentence for a server-selection failure, when a server check saw why.
    pub(crate) fn explain(&self) -> Option<String> {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let named: Vec<(&str, &str)> = failures
            .iter()
            .filter(|f| f.seed)
            .map(|f| (f.cause.as_str(), f.address.as_str()))
            .collect();
        let hidden = failures.iter().any(|f| !f.seed);
        explain(&named, hidden)
    }
}

/// "connection refused at a:1, b:2; no answer within the connect timeout at c:3", from
/// `(cause, address)` pairs of the servers the connection string names, grouped by cause in
/// the order they came; `hidden`: a server it does not name failed too.
pub fn explain(named: &[(&str, &str)], hidden: bool) -> Option<String> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (cause, address) in named {
        match groups.iter_mut().find(|(c, _)| c == cause) {
            Some((_, addresses)) => addresses.push(address),
            None => groups.push((cause, vec![address])),
        }
    }
    let mut parts: Vec<String> = groups
        .into_iter()
        .map(|(cause, addresses)| format!("{cause} at {}", addresses.join(", ")))
        .collect();
    if hidden {
        parts.push(
            "a server the cluster advertises (not in the connection string) could not be reached"
                .to_owned(),
        );
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Why one connection attempt failed, in a few words.
pub fn connect_cause(error: &DriverError) -> String {
    match error.kind.as_ref() {
        DriverErrorKind::Io(e) => io_cause(e),
        DriverErrorKind::DnsResolve { message, .. } => {
            format!("the DNS lookup failed ({})", dns_cause(message))
        }
        DriverErrorKind::Authentication { .. } => "authentication failed".to_owned(),
        other => {
            tracing::debug!(error = %error, "a MongoDB server check failed");
            match other {
                DriverErrorKind::Command(e) => format!("the server answered error {}", e.code),
                _ => "the server could not be reached".to_owned(),
            }
        }
    }
}

/// An I/O failure of a connection, in a few words.
pub fn io_cause(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        io::ErrorKind::TimedOut => "no answer within the connect timeout".to_owned(),
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::BrokenPipe => {
            "the server closed the connection (if it does so at every attempt, check that the connection string's `tls` setting matches the server's)".to_owned()
        }
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            "no route to the host".to_owned()
        }
        io::ErrorKind::InvalidData => format!("the TLS handshake failed: {e}"),
        _ if e.to_string().contains("failed to lookup address") => {
            "the host name does not resolve".to_owned()
        }
        _ => e.to_string(),
    }
}

/// A DNS failure in a few words, from the resolver's text (the driver hands its errors over as
/// text). The resolver's own text can quote whole queries and records; that stays out.
pub fn dns_cause(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    if lower.contains("no records found") || lower.contains("nxdomain") {
        "no such DNS record".to_owned()
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "the DNS server did not answer in time".to_owned()
    } else if lower.contains("no connections available") || lower.contains("io error") {
        "no DNS server could be reached".to_owned()
    } else if message.len() <= 200 && !message.contains('{') && !message.contains("Name(") {
        // The driver's own sentences ("SRV lookup for x returned no records").
        message.to_owned()
    } else {
        "the DNS lookup failed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn io(kind: io::ErrorKind) -> DriverError {
        DriverError::from(DriverErrorKind::Io(Arc::new(io::Error::from(kind))))
    }

    #[test]
    fn a_refused_seed_is_named_with_its_cause() {
        let reach = Reachability::default();
        reach.failed(
            "127.0.0.1:1".into(),
            true,
            &io(io::ErrorKind::ConnectionRefused),
        );
        assert_eq!(
            reach.explain().as_deref(),
            Some("connection refused at 127.0.0.1:1")
        );
        reach.answered("127.0.0.1:1");
        assert_eq!(reach.explain(), None);
    }

    #[test]
    fn seeds_are_grouped_by_cause_and_advertised_members_stay_anonymous() {
        let reach = Reachability::default();
        reach.failed(
            "a.example.com:27017".into(),
            true,
            &io(io::ErrorKind::ConnectionRefused),
        );
        reach.failed(
            "b.example.com:27017".into(),
            true,
            &io(io::ErrorKind::TimedOut),
        );
        reach.failed(
            "c.example.com:27017".into(),
            true,
            &io(io::ErrorKind::ConnectionRefused),
        );
        reach.failed(
            "10.0.0.7:27017".into(),
            false,
            &io(io::ErrorKind::ConnectionRefused),
        );
        let message = reach.explain().expect("a cause");
        assert_eq!(
            message,
            "connection refused at a.example.com:27017, c.example.com:27017; \
             no answer within the connect timeout at b.example.com:27017; \
             a server the cluster advertises (not in the connection string) could not be reached"
        );
        assert!(!message.contains("10.0.0.7"));
    }

    #[test]
    fn dns_failures_are_short() {
        let dump = r#"no records found for Query { name: Name("_mongodb._tcp.nope.example.com."), query_type: SRV, query_class: IN }"#;
        assert_eq!(dns_cause(dump), "no such DNS record");
        assert_eq!(
            dns_cause("request timed out"),
            "the DNS server did not answer in time"
        );
        assert_eq!(
            dns_cause("SRV lookup for nope.example.com returned no records"),
            "SRV lookup for nope.example.com returned no records"
        );
        let other = r#"proto error: Record { name_labels: Name("x."), rr_type: SRV }"#;
        assert_eq!(dns_cause(other), "the DNS lookup failed");
    }

    #[test]
    fn io_failures_say_what_happened() {
        assert_eq!(
            connect_cause(&io(io::ErrorKind::ConnectionRefused)),
            "connection refused"
        );
        let lookup =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(io_cause(&lookup), "the host name does not resolve");
        assert!(io_cause(&io::Error::from(io::ErrorKind::ConnectionReset)).contains("`tls`"));
    }
}
