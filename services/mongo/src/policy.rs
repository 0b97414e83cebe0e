//! Which addresses a tenant's connection string may reach. A managed deployment runs inside the
//! operator's network: without this check a tenant could point a connector at `127.0.0.1`, a
//! private range or the cloud metadata service and learn from the preflight answers what lives
//! there. Checked on every resolved address before connecting.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use percent_encoding::percent_decode_str;
use serde::Deserialize;

/// The operator's outbound policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetPolicy {
    /// Public addresses only (the default).
    #[default]
    PublicOnly,
    /// Anything, including loopback and private ranges: self-hosted deployments whose MongoDB
    /// lives next to them.
    AllowPrivate,
}

impl TargetPolicy {
    /// `Err(why)` when `ip` may not be reached under this policy.
    pub fn check(self, ip: IpAddr) -> Result<(), &'static str> {
        match self {
            TargetPolicy::AllowPrivate => Ok(()),
            TargetPolicy::PublicOnly => match forbidden(ip) {
                Some(why) => Err(why),
                None => Ok(()),
            },
        }
    }
}

impl std::str::FromStr for TargetPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public-only" => Ok(TargetPolicy::PublicOnly),
            "allow-private" => Ok(TargetPolicy::AllowPrivate),
            other => Err(format!(
                "unknown target policy `{other}`: use public-only or allow-private"
            )),
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_unspecified() || a == 0 => "an unspecified address",
        (169, 254, _) => "a link-local address (cloud metadata services live here)",
        _ if ip.is_private() => "a private address",
        (100, b, _) if (64..128).contains(&b) => "a carrier-grade NAT address",
        (192, 0, 0) => "an IETF protocol address",
        (198, b, _) if b == 18 || b == 19 => "a benchmarking address",
        _ if ip.is_multicast() => "a multicast address",
        _ if ip.is_broadcast() || a >= 240 => "a reserved address",
        _ if ip.is_documentation() => "a documentation address",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address that is where traffic goes.
    if segments[0] == 0x64 && segments[1] == 0xff9b && segments[2..6] == [0, 0, 0, 0] {
        let v4 = Ipv4Addr::new(
            (segments[6] >> 8) as u8,
            segments[6] as u8,
            (segments[7] >> 8) as u8,
            segments[7] as u8,
        );
        return forbidden_v4(v4);
    }
    if segments[0] == 0x2002 {
        let v4 = Ipv4Addr::new(
            (segments[1] >> 8) as u8,
            segments[1] as u8,
            (segments[2] >> 8) as u8,
            segments[2] as u8,
        );
        return forbidden_v4(v4);
    }
    Some(match segments[0] {
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_unspecified() => "an unspecified address",
        // IPv4-compatible (deprecated) ::a.b.c.d
        0 if segments[1..6] == [0, 0, 0, 0, 0] => "a deprecated IPv4-compatible address",
        s if s & 0xffc0 == 0xfe80 => "a link-local address",
        // fc00::/7 holds fd00:ec2::254, the AWS metadata service over IPv6.
        s if s & 0xfe00 == 0xfc00 => "a unique local (private) address",
        s if s & 0xff00 == 0xff00 => "a multicast address",
        // fec0::/10, deprecated site-local: still routed internally on some networks.
        s if s & 0xffc0 == 0xfec0 => "a site-local (private) address",
        0x2001 if segments[1] == 0x0db8 => "a documentation address",
        // Teredo (2001::/32) tunnels to an IPv4 address that this check cannot see.
        0x2001 if segments[1] == 0 => "a Teredo tunnel address",
        _ => return None,
    })
}

/// Connection-string options that make the driver use *this* machine's identity or files:
/// reading a certificate, key or CA file by path, or authenticating with ambient credentials
/// (Kubernetes/Azure/GCP workload tokens for MONGODB-OIDC, the AWS environment for MONGODB-AWS,
/// Kerberos tickets for GSSAPI). A tenant's string could otherwise send the service's own token
/// to a server the tenant controls, or probe its file system.
const FILE_OPTIONS: &[&str] = &[
    "tlscafile",
    "tlscertificatekeyfile",
    "tlscertificatekeyfilepassword",
    "tlscrlfile",
    "sslcafile",
    "sslpemkeyfile",
    "sslpemkeypassword",
    "sslcertificatekeyfile",
    "sslcrlfile",
];

/// Authentication mechanisms a tenant may choose: ones that use only what the string carries.
const TENANT_MECHANISMS: &[&str] = &["scram-sha-1", "scram-sha-256", "plain"];

impl TargetPolicy {
    /// `Err(why)` when the connection string asks for something this policy does not allow.
    /// Self-hosted (`AllowPrivate`) deployments may use every option: the operator is the tenant.
    pub fn check_options(self, options: &[(String, String)]) -> Result<(), String> {
        if self == TargetPolicy::AllowPrivate {
            return Ok(());
        }
        for (raw_name, raw_value) in options {
            let name = percent_decode_str(raw_name).decode_utf8_lossy();
            let value = percent_decode_str(raw_value).decode_utf8_lossy();
            // The driver lowercases option names with Unicode rules (the Kelvin sign becomes
            // `k`): no option it knows has a non-ASCII name, so refuse those outright.
            if !name.is_ascii() {
                return Err(format!(
                    "the option name `{}` is not plain ASCII",
                    name.escape_default()
                ));
            }
            let lower = name.to_lowercase();
            if FILE_OPTIONS.contains(&lower.as_str()) {
                return Err(format!(
                    "the option `{name}` reads a file on this service's machines, which a managed deployment does not allow; the cluster's certificate must be signed by a public CA"
                ));
            }
            if lower == "authmechanism"
                && !TENANT_MECHANISMS.contains(&value.to_lowercase().as_str())
            {
                return Err(format!(
                    "the authentication mechanism `{value}` uses this service's own credentials, which a managed deployment does not allow; use a database user with a password (SCRAM)"
                ));
            }
        }
        Ok(())
    }
}

/// Why an address is off limits for a managed deployment, or `None` if it is public.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn managed_deployments_refuse_ambient_credentials_and_local_files() {
        let managed = TargetPolicy::PublicOnly;
        for bad in [
            options(&[
                ("authMechanism", "MONGODB-OIDC"),
                ("authMechanismProperties", "ENVIRONMENT:k8s"),
            ]),
            options(&[("authMechanism", "MONGODB-AWS")]),
            options(&[("authmechanism", "GSSAPI")]),
            options(&[("tlsCAFile", "/etc/passwd")]),
            options(&[
                ("tls", "true"),
                ("TLSCertificateKeyFile", "/var/run/secrets/key.pem"),
            ]),
        ] {
            assert!(managed.check_options(&bad).is_err(), "{bad:?}");
        }
        let fine = options(&[
            ("retryWrites", "true"),
            ("authMechanism", "SCRAM-SHA-256"),
            ("tls", "true"),
        ]);
        assert!(managed.check_options(&fine).is_ok());
        let message = managed
            .check_options(&options(&[("tlsCAFile", "/x")]))
            .unwrap_err();
        assert!(message.contains("tlsCAFile") && !message.contains("/x"));
        assert!(
            TargetPolicy::AllowPrivate
                .check_options(&options(&[("tlsCAFile", "/x")]))
                .is_ok()
        );
    }

    fn denied(ip: &str) -> bool {
        TargetPolicy::PublicOnly.check(ip.parse().unwrap()).is_err()
    }

    #[test]
    fn public_only_refuses_internal_and_metadata_addresses() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:0a00:0001::1",
        ] {
            assert!(denied(ip), "{ip} must be refused");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "52.1.2.3",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!denied(ip), "{ip} is public");
        }
        assert!(
            TargetPolicy::AllowPrivate
                .check("127.0.0.1".parse().unwrap())
                .is_ok()
        );
        assert_eq!(
            TargetPolicy::PublicOnly.check("169.254.169.254".parse().unwrap()),
            Err("a link-local address (cloud metadata services live here)")
        );
    }
}
