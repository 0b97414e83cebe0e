//! Where and how the process serves Prometheus `/metrics`.

use clap::Args;
use std::net::SocketAddr;

/// Prometheus `/metrics`, on every role.
#[derive(Args, Clone)]
pub struct MetricsArgs {
    /// Also serve `/metrics` without credentials on this address, for the scraper (keep it off
    /// the public network). The worker role's only listener. On the api's own listener
    /// `/metrics` needs the operator token.
    #[arg(long, env = "EDGEBRIDGE_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Per-connector and per-collection series (10 per collection and 1 per connector); `false`
    /// leaves them out.
    #[arg(long, env = "EDGEBRIDGE_METRICS_PER_CONNECTOR", default_value_t = true, action = clap::ArgAction::Set)]
    metrics_per_connector: bool,
}

impl MetricsArgs {
    /// The api's metrics settings, registering into `registry`.
    pub fn config(
        &self,
        registry: &edgebridge_api::metrics::MetricsRegistry,
    ) -> edgebridge_api::metrics::MetricsConfig {
        edgebridge_api::metrics::MetricsConfig {
            registry: registry.clone(),
            per_connector: self.metrics_per_connector,
        }
    }

    /// Serves `registry` on EDGEBRIDGE_METRICS_ADDR, when set, until `stop`.
    pub async fn serve(
        &self,
        registry: &edgebridge_api::metrics::MetricsRegistry,
        stop: tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<()> {
        if let Some(address) = self.metrics_addr {
            let listener =
                edgebridge_api::metrics::MetricsListener::bind(address, registry.clone()).await?;
            tokio::spawn(listener.run(stop));
        }
        Ok(())
    }
}
