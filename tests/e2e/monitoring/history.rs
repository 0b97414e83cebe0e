//! The metrics history: per-minute points with lag and throughput both ways.

use super::{DB, get_json, streaming_catalog, until_connector};
use crate::fleet::{Fleet, Port};
use crate::helpers::{assert_problem, error_paths};
use bson::doc;
use reqwest::StatusCode;
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn the_history_has_throughput_lag_and_gaps_and_refuses_bad_ranges(pool: PgPool) {
    let fleet = Fleet::on(pool, Port::InProcess).await;
    let (id, mut w) = streaming_catalog(&fleet, 4).await;
    fleet
        .sim
        .insert(DB, "products", doc! {"_id": "p5"})
        .unwrap();
    until_connector(&fleet, &mut w, id, "p5 counted", |s| {
        s["totals"]["applied"] == 1
    })
    .await;
    let path = fleet.app.connector_path(fleet.app.app_id, id);
    let series = get_json(&fleet, &format!("{path}/metrics")).await;
    assert_eq!(series["stepSecs"], 60);
    let points = series["points"].as_array().unwrap();
    // An hour by default, one point a minute (gaps included).
    assert!((60..=61).contains(&points.len()), "{}", points.len());
    let sum = |field: &str| -> i64 { points.iter().map(|p| p[field].as_i64().unwrap()).sum() };
    assert_eq!(sum("copied"), 4, "{series:#}");
    assert_eq!(sum("applied"), 1);
    let last = points
        .iter()
        .rev()
        .find(|p| p["copied"].as_i64() > Some(0) || p["applied"].as_i64() > Some(0))
        .unwrap();
    assert!(last["mongoToEdgePerSec"].as_f64().unwrap() > 0.0, "{last}");
    assert!(last["lagMongoToEdgeMs"].is_number(), "{last}");
    let empty = &points[0];
    assert_eq!(empty["copied"], 0);
    assert!(empty["lagMongoToEdgeMs"].is_null());

    for (query, field) in [
        ("step=90", "/step"),
        (
            "step=60&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z",
            "/step",
        ),
        ("from=2026-03-01T00:00:00Z&to=2026-01-01T00:00:00Z", "/from"),
        ("step=2678460", "/step"),
        (
            "from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&step=2678400",
            "/from",
        ),
    ] {
        let res = fleet
            .app
            .get(&format!("{path}/metrics?{query}"), &fleet.app.owner_key)
            .await;
        let problem = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query_parameter").await;
        assert_eq!(error_paths(&problem), vec![field], "{query}");
    }
    let res = fleet
        .app
        .get(
            &format!("{path}/metrics?from=yesterday"),
            &fleet.app.owner_key,
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}
