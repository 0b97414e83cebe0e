//! Reaching the cluster: the connection string parses, every address and option it uses is
//! allowed, and MongoDB answers and accepts the credentials.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use edgebridge_domain::connection_string::MongoUri;
use percent_encoding::percent_decode_str;

use super::checks::cause;
use super::members::refused_member;
use super::recorder::Run;
use super::remedy::{
    REMEDY_AUTH, REMEDY_OPTION, REMEDY_POLICY, REMEDY_PROXY, REMEDY_REACH, REMEDY_RESOLVE,
    REMEDY_STRING,
};
use super::{PreflightOptions, PreflightRequest, bounded};
use crate::error::{ErrorKind, PortError};
use crate::policy::TargetPolicy;
use crate::port::{ConnectOptions, MongoConnector, MongoPort};

/// The driver's proxy options, lowercase.
const PROXY_OPTIONS: [&str; 4] = ["proxyhost", "proxyport", "proxyusername", "proxypassword"];

/// Checks 1-3. The parsed connection string and a connected port when they pass; `None` when
/// one failed (and every later check was skipped).
pub(super) async fn reach(
    connector: &dyn MongoConnector,
    request: &PreflightRequest,
    options: &PreflightOptions,
    run: &mut Run,
) -> Option<(MongoUri, Arc<dyn MongoPort>)> {
    let uri = connection_string(request, run)?;
    if !target_allowed(connector, &uri, request, options, run).await {
        return None;
    }
    let port = cluster_reachable(connector, &uri, request, options, run).await?;
    Some((uri, port))
}

/// 1. The string parses.
fn connection_string(request: &PreflightRequest, run: &mut Run) -> Option<MongoUri> {
    let t = Instant::now();
    let uri = match MongoUri::parse(&request.connection_string) {
        Ok(uri) => uri,
        Err(e) => {
            run.fail(
                "connection_string",
                None,
                "connection_string_invalid",
                format!("The connection string is invalid: it {}.", e.message()),
                REMEDY_STRING,
                t,
            );
            run.skip_rest(
                "connection_string",
                &request.collections,
                "the connection string is invalid",
            );
            return None;
        }
    };
    run.pass(
        "connection_string",
        None,
        format!("The connection string parses ({}).", uri.redacted()),
        t,
    );
    Some(uri)
}

/// 2. Every address it reaches, and every option it uses, is allowed.
async fn target_allowed(
    connector: &dyn MongoConnector,
    uri: &MongoUri,
    request: &PreflightRequest,
    options: &PreflightOptions,
    run: &mut Run,
) -> bool {
    let t = Instant::now();
    let refuse = |run: &mut Run, code, message, remedy, because: &str| {
        run.fail("target_allowed", None, code, message, remedy, t);
        run.skip_rest("target_allowed", &request.collections, because);
        false
    };
    if let Some(name) = own_proxy_option(uri, options.policy) {
        return refuse(
            run,
            "option_not_allowed",
            format!(
                "The connection string is not allowed here: its option `{name}` routes connections through a proxy of its own, around this deployment's egress guard."
            ),
            REMEDY_PROXY,
            "the connection string uses an option this deployment does not allow",
        );
    }
    if let Err(why) = options.policy.check_options(uri.options()) {
        return refuse(
            run,
            "option_not_allowed",
            format!("The connection string is not allowed here: {why}."),
            REMEDY_OPTION,
            "the connection string uses an option this deployment does not allow",
        );
    }
    let addresses: Vec<IpAddr> =
        match bounded(options.step_timeout, "DNS", connector.resolve(uri)).await {
            Ok(addresses) => addresses,
            Err(e) => {
                let code = if e.kind == ErrorKind::Unsupported {
                    "target_not_allowed"
                } else {
                    "host_unresolvable"
                };
                return refuse(
                    run,
                    code,
                    format!("Could not resolve the cluster's hosts: {}.", e.message),
                    REMEDY_RESOLVE,
                    "the cluster's hosts could not be resolved",
                );
            }
        };
    if let Some((ip, why)) = addresses
        .iter()
        .find_map(|ip| options.policy.check(*ip).err().map(|why| (ip, why)))
    {
        return refuse(
            run,
            "target_not_allowed",
            format!(
                "The cluster's hosts resolve to {ip}, {why}, which this deployment does not connect to."
            ),
            REMEDY_POLICY,
            "the cluster's address is not allowed",
        );
    }
    let shown: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    run.pass(
        "target_allowed",
        None,
        format!(
            "The cluster's hosts resolve to allowed addresses ({}).",
            shown.join(", ")
        ),
        t,
    );
    true
}

/// The first of the connection string's own proxy options, as written, when the policy routes
/// every connection through this service's egress guard (public only): the driver adapter
/// refuses such a string when it connects, and preflight says so where options are checked,
/// with what to remove. A self-hosted deployment (allow-private) may use a proxy.
fn own_proxy_option(uri: &MongoUri, policy: TargetPolicy) -> Option<String> {
    if policy == TargetPolicy::AllowPrivate {
        return None;
    }
    uri.options()
        .iter()
        .map(|(name, _)| percent_decode_str(name).decode_utf8_lossy().into_owned())
        .find(|name| PROXY_OPTIONS.contains(&name.to_ascii_lowercase().as_str()))
}

/// 3. Reachable, credentials accepted, and no member the cluster advertises is refused.
async fn cluster_reachable(
    connector: &dyn MongoConnector,
    uri: &MongoUri,
    request: &PreflightRequest,
    options: &PreflightOptions,
    run: &mut Run,
) -> Option<Arc<dyn MongoPort>> {
    let t = Instant::now();
    let limit = options.connect.server_selection_timeout + options.connect.connect_timeout;
    let connect_options = ConnectOptions {
        policy: options.policy,
        ..options.connect.clone()
    };
    let connected: Result<Arc<dyn MongoPort>, PortError> = async {
        // Connecting resolves SRV records in the driver: bounded too.
        let port = bounded(limit, "DNS", connector.connect(uri, &connect_options)).await?;
        bounded(limit, "The cluster", port.ping()).await?;
        Ok(port)
    }
    .await;
    let port = match connected {
        Ok(port) => port,
        Err(e) => {
            let (code, message, remedy) = connect_failure(uri, &e);
            run.fail("cluster_reachable", None, code, message, remedy, t);
            run.skip_rest(
                "cluster_reachable",
                &request.collections,
                "MongoDB could not be reached",
            );
            return None;
        }
    };
    // The cluster may name members of its own (replica-set discovery): they must be allowed too.
    if let Some((server, why)) = refused_member(connector, &*port, uri, options).await {
        run.fail(
            "cluster_reachable",
            None,
            "target_not_allowed",
            format!("The cluster advertises the member {server}, {why}, which this deployment does not connect to."),
            REMEDY_POLICY,
            t,
        );
        run.skip_rest(
            "cluster_reachable",
            &request.collections,
            "the cluster advertises a member that is not allowed",
        );
        return None;
    }
    run.pass(
        "cluster_reachable",
        None,
        "Connected to MongoDB and authenticated.".to_owned(),
        t,
    );
    Some(port)
}

/// The code, message and remedy of a failure to connect.
fn connect_failure(uri: &MongoUri, e: &PortError) -> (&'static str, String, &'static str) {
    let hosts = uri.hosts().join(",");
    match e.kind {
        ErrorKind::TargetNotAllowed => (
            "target_not_allowed",
            format!("MongoDB at {hosts} is not allowed here: {}.", e.message),
            REMEDY_POLICY,
        ),
        ErrorKind::Authentication => (
            "authentication_failed",
            format!(
                "MongoDB at {hosts} refused the credentials of user `{}`: {}.",
                uri.shown_username().unwrap_or("(none)"),
                cause(e)
            ),
            REMEDY_AUTH,
        ),
        ErrorKind::InvalidConnectionString => (
            "connection_string_invalid",
            format!(
                "The MongoDB driver refused the connection string for {hosts}: {}.",
                cause(e)
            ),
            REMEDY_STRING,
        ),
        _ => (
            "cluster_unreachable",
            format!("Failed to connect to MongoDB at {hosts}: {}.", cause(e)),
            REMEDY_REACH,
        ),
    }
}
