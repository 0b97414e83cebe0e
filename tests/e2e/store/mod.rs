//! The edge store through HTTP: every DQL form, the merge rules, limits, the change feed (also
//! under concurrent writers), the compatibility path and tenancy.

mod apps;
mod concurrency;
mod document_view;
mod documents;
mod feed;

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

impl TestApp {
    fn store_path(&self) -> String {
        format!("/v1/apps/{}/store/execute", self.app_id)
    }

    async fn dql_as(&self, key: &str, statement: &str, args: Value) -> reqwest::Response {
        self.post(
            &self.store_path(),
            key,
            &json!({"statement": statement, "args": args}),
        )
        .await
    }

    /// Runs a statement that must succeed and returns its answer.
    async fn dql(&self, statement: &str, args: Value) -> Value {
        let res = self.dql_as(&self.owner_key, statement, args).await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{statement}: {body}");
        body
    }

    async fn dql_with(&self, body: Value) -> Value {
        let res = self.post(&self.store_path(), &self.owner_key, &body).await;
        let status = res.status();
        let out: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}: {out}");
        out
    }

    /// Waits until the feed from the start shows `n` changes (a change becomes readable once
    /// every older transaction in the cluster has ended, and tests run side by side).
    async fn feed_settles_at(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let page = self.changes("limit=1000").await;
            if page["changes"].as_array().unwrap().len() >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the feed did not reach {n} changes: {page}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One page of the app's change feed, as the owner reads it (must answer 200).
    pub(crate) async fn changes(&self, query: &str) -> Value {
        let res = self
            .get(
                &format!("/v1/apps/{}/store/changes?{query}", self.app_id),
                &self.owner_key,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }
}

fn items(answer: &Value) -> Vec<Value> {
    answer["items"].as_array().unwrap().clone()
}
