//! The members a cluster advertises beyond the connection string's hosts, checked against the policy.

use std::net::IpAddr;

use edgebridge_domain::connection_string::MongoUri;

use super::{PreflightOptions, bounded};
use crate::policy::TargetPolicy;
use crate::port::{MongoConnector, MongoPort};

/// The first server the client discovered beyond the connection string's own hosts that the
/// policy refuses (or that does not resolve), with why.
pub(super) async fn refused_member(
    connector: &dyn MongoConnector,
    port: &dyn MongoPort,
    uri: &MongoUri,
    options: &PreflightOptions,
) -> Option<(String, String)> {
    if options.policy == TargetPolicy::AllowPrivate {
        return None;
    }
    let seeds: Vec<String> = uri.hosts().iter().map(|h| normalize_host(h)).collect();
    for server in port.servers() {
        let server = normalize_host(&server);
        if seeds.contains(&server) {
            continue;
        }
        let Ok(member) = MongoUri::parse(&format!("mongodb://{server}/")) else {
            // Not expected after normalizing; refusing is the safe answer.
            return Some((server, "an address that cannot be checked".to_owned()));
        };
        match bounded(options.step_timeout, "DNS", connector.resolve(&member)).await {
            Ok(addresses) => {
                for ip in addresses {
                    if let Err(why) = options.policy.check(ip) {
                        return Some((server, format!("which resolves to {ip}, {why}")));
                    }
                }
            }
            Err(_) => return Some((server, "an address that does not resolve".to_owned())),
        }
    }
    None
}

/// `host:port` in one spelling: lowercase, the default port written out, IPv6 in brackets.
pub(super) fn normalize_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once("]:") {
            Some(_) => host,
            None => format!("[{}]:27017", rest.trim_end_matches(']')),
        };
    }
    match host.matches(':').count() {
        0 => format!("{host}:27017"),
        1 => host,
        // A bare IPv6 address, perhaps with a port after its last colon: the driver prints
        // members this way. Eight groups means there is no port.
        _ => match host.rsplit_once(':') {
            Some((addr, port)) if addr.parse::<IpAddr>().is_ok() && port.parse::<u16>().is_ok() => {
                format!("[{addr}]:{port}")
            }
            _ => format!("[{host}]:27017"),
        },
    }
}
