//! End-to-end tests: the real api (and the real binary) against the real Postgres, a fresh
//! database per test (`#[sqlx::test]`, DATABASE_URL names the server).

mod auth;
mod auth_limits;
mod bounds;
mod cli;
mod conformance;
mod connection_strings;
mod connector_lifecycle;
mod connectors;
mod dashboard;
mod db;
mod dql;
mod fleet;
mod helpers;
mod http;
mod input_hygiene;
mod key_revocation;
mod keys;
mod mongo_checks;
mod monitoring;
mod one_build;
mod openapi;
mod pipeline;
mod point_reads;
mod prometheus;
mod sandbox;
mod scheduler;
mod startup;
mod store;
mod sync_apply;
mod tenancy;
mod webhooks;
mod write_back;
