//! Where a webhook may post: an http(s) URL without credentials whose host resolves only to
//! addresses the outbound policy allows (the policy connection strings pass, see
//! `edgebridge_mongo::policy`). Checked when a webhook is saved and at every attempt; an attempt
//! connects to exactly the addresses it checked ([`PolicyResolver`] is the HTTP client's resolver),
//! so a name that resolves to a public address at the check and a private one a moment later
//! (DNS rebinding) gets nowhere.

use edgebridge_mongo::policy::TargetPolicy;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// Bound on resolving a webhook's host when it is saved.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an attempt did not go out: the target is not allowed (or does not resolve).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TargetRefused(pub String);

/// The URL's syntax: http or https, a host, no user name or password, bounded length.
pub fn parse_url(raw: &str) -> Result<Url, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    let url = Url::parse(raw.trim()).map_err(|e| {
        format!("is not a valid absolute URL ({e}); give e.g. https://hooks.example.com/edgebridge")
    })?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("must use https (or http), not `{}`", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not contain a user name or password: receivers authenticate Edgebridge by the webhook-signature header".to_owned(),
        );
    }
    if url.host().is_none() {
        return Err("must name a host".to_owned());
    }
    Ok(url)
}

/// `Err(why)` when the policy does not allow `ip`.
fn check_ip(policy: TargetPolicy, ip: IpAddr) -> Result<(), TargetRefused> {
    policy.check(ip).map_err(|why| {
        TargetRefused(format!(
            "the host resolves to {ip}, {why}, which this deployment does not send webhooks to"
        ))
    })
}

/// The URL's host when it is an IP address (then no resolver is asked).
fn literal_ip(url: &Url) -> Option<IpAddr> {
    // The parser normalizes every IPv4 spelling (`0x7f.1`, `2130706433`) to dotted decimal and
    // keeps IPv6 in brackets.
    let host = url.host_str()?;
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

/// Every address of `host`, each checked against the policy.
async fn resolve_checked(
    host: &str,
    policy: TargetPolicy,
) -> Result<Vec<SocketAddr>, TargetRefused> {
    let found = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, 0)))
        .await
        .map_err(|_| TargetRefused(format!("resolving the host `{host}` took too long")))?
        .map_err(|_| TargetRefused(format!("the host `{host}` does not resolve")))?;
    let addresses: Vec<SocketAddr> = found.collect();
    if addresses.is_empty() {
        return Err(TargetRefused(format!(
            "the host `{host}` resolved to no addresses"
        )));
    }
    for address in &addresses {
        check_ip(policy, address.ip())?;
    }
    Ok(addresses)
}

/// The check when a webhook is saved: the host (an address, or every address it resolves to)
/// is allowed. Under `AllowPrivate` any host is, and nothing is resolved.
pub async fn check_url(url: &Url, policy: TargetPolicy) -> Result<(), String> {
    if policy == TargetPolicy::AllowPrivate {
        return Ok(());
    }
    let refused = match (literal_ip(url), url.host_str()) {
        (Some(ip), _) => check_ip(policy, ip).err(),
        (None, Some(host)) => resolve_checked(host, policy).await.err(),
        (None, None) => Some(TargetRefused("must name a host".to_owned())),
    };
    match refused {
        None => Ok(()),
        Some(TargetRefused(why)) => Err(why),
    }
}

/// The check of an attempt for an address given literally in the URL (a name is checked by
/// [`PolicyResolver`] as the connection is made).
pub fn check_literal(url: &Url, policy: TargetPolicy) -> Result<(), TargetRefused> {
    match literal_ip(url) {
        Some(ip) => check_ip(policy, ip),
        None => Ok(()),
    }
}

/// The HTTP client's resolver: it answers only addresses the policy allows (all of a name's, or
/// an error), and the client connects to what it answered.
#[derive(Debug, Clone, Copy)]
pub struct PolicyResolver {
    pub policy: TargetPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let addresses = resolve_checked(name.as_str(), policy).await?;
            let addrs: Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}

/// The policy's refusal somewhere in an error's chain of causes.
pub fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a TargetRefused> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<TargetRefused>() {
            return Some(refused);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_syntax() {
        assert!(parse_url("https://hooks.example.com/x?y=1").is_ok());
        assert!(parse_url("http://127.0.0.1:9000/hook").is_ok());
        for (bad, says) in [
            ("ftp://example.com/", "https"),
            ("https://user:pw@example.com/", "user name or password"),
            ("https://user@example.com/", "user name or password"),
            ("not a url", "absolute URL"),
            ("file:///etc/passwd", "https"),
        ] {
            let why = parse_url(bad).unwrap_err();
            assert!(why.contains(says), "{bad}: {why}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(parse_url(&long).unwrap_err().contains("at most"));
    }

    #[tokio::test]
    async fn private_addresses_are_refused_under_public_only() {
        let public = TargetPolicy::PublicOnly;
        for bad in [
            "http://127.0.0.1:8080/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            // Spellings the URL parser turns into 127.0.0.1.
            "http://0x7f.1/",
            "http://2130706433/",
            "http://localhost:9/",
        ] {
            let url = parse_url(bad).unwrap();
            assert!(
                check_url(&url, public).await.is_err(),
                "{bad} must be refused"
            );
        }
        let url = parse_url("http://8.8.8.8/").unwrap();
        assert!(check_url(&url, public).await.is_ok());
        assert!(check_literal(&parse_url("http://10.0.0.1/").unwrap(), public).is_err());
        let local = parse_url("http://127.0.0.1:1/").unwrap();
        assert!(check_url(&local, TargetPolicy::AllowPrivate).await.is_ok());
        assert!(check_literal(&local, TargetPolicy::AllowPrivate).is_ok());
    }
}
