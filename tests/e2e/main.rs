//! End-to-end tests: the real api (and the real binary) against the real Postgres, a fresh
//! database per test (`#[sqlx::test]`, DATABASE_URL names the server).

mod auth;
mod cli;
mod connectors;
mod db;
mod fleet;
mod helpers;
mod http;
mod keys;
mod mongo_checks;
mod openapi;
mod pipeline;
mod scheduler;
mod store;
mod sync_apply;
mod tenancy;
mod write_back;
