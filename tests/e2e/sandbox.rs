//! `edgebridge all --dev` and its sandbox MongoDB, as a user meets them: the README's "Try it"
//! steps run against the URI the banner prints, with the Rust `mongodb` driver as the MongoDB
//! client and the HTTP API for the edge; a restart over the same database; and no sandbox port
//! outside `--dev` or with `--no-sandbox`.

mod harness;

use crate::helpers::{database_url, key_entry};
use bson::doc;
use harness::*;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::collections::BTreeSet;
use std::process::Command;

/// The README's "Try it", steps 2 to 6, against the sandbox `all --dev` started: the sample
/// documents on the edge, a change and an insert through the driver at the printed URI streamed
/// to the edge, an edge write found in the sandbox through the driver.
#[sqlx::test(migrations = false)]
async fn the_readme_steps_run_against_the_sandbox(_: PgPoolOptions, opts: PgConnectOptions) {
    let home = scratch_dir();
    let mut running = start({
        let mut cmd = edgebridge(&database_url(&opts), &home);
        cmd.args(["all", "--dev", "--sandbox-port", "0"]);
        cmd
    });
    let banner = running.banner().await;
    assert!(
        banner
            .text
            .contains("sandbox MongoDB (in memory, not persisted)"),
        "{}",
        banner.text
    );
    let uri = banner
        .mongo
        .clone()
        .expect("the banner prints the sandbox's URI");
    let api_port = port_of(&banner.api);
    assert_eq!(
        running.listening_ports(),
        BTreeSet::from([api_port, port_of(&uri)]),
        "the api and the sandbox listen"
    );
    let api = Api::new(
        banner.api.clone(),
        banner.key.clone().expect("a fresh database"),
    )
    .await;
    let products = products(&uri).await;

    // 2. The sample data (upserts: the sandbox has it already).
    for p in [
        doc! {"_id": "p01", "name": "mug", "category": "kitchen", "price": 7.5, "stock": 120},
        doc! {"_id": "p02", "name": "tee", "category": "apparel", "price": 19, "stock": 80},
    ] {
        let id = p.get_str("_id").unwrap().to_owned();
        products
            .replace_one(doc! {"_id": id}, p)
            .upsert(true)
            .await
            .unwrap();
    }
    assert_eq!(products.count_documents(doc! {}).await.unwrap(), 20);

    // 3. The connector: the demo one the banner named.
    let id = api
        .shop_connector()
        .await
        .expect("the demo connector `shop`");
    assert_eq!(Some(&id), banner.demo.as_ref(), "{}", banner.text);

    // 4. It runs.
    api.wait_until_streaming(&id).await;

    // 5. MongoDB -> edge: the copy, then a change and an insert made through the driver.
    eventually("the sample documents on the edge", async || {
        let ids = api.product_ids().await;
        if ids == sample_ids() {
            Ok(())
        } else {
            Err(format!("{ids:?}"))
        }
    })
    .await;
    let mug = api
        .execute(
            "SELECT * FROM products WHERE _id = :id",
            json!({"id": "p01"}),
        )
        .await;
    assert_eq!(
        mug,
        [json!({"_id": "p01", "name": "mug", "category": "kitchen", "price": 7.5, "stock": 120})]
    );
    products
        .update_one(doc! {"_id": "p01"}, doc! {"$set": {"price": 8}})
        .await
        .unwrap();
    products
        .insert_one(
            doc! {"_id": "p21", "name": "scarf", "category": "apparel", "price": 15, "stock": 5},
        )
        .await
        .unwrap();
    eventually("the change and the insert on the edge", async || {
        let items = api
            .execute(
                "SELECT _id, name, price FROM products WHERE _id IN :ids ORDER BY _id",
                json!({"ids": ["p01", "p21"]}),
            )
            .await;
        let want = [
            json!({"_id": "p01", "name": "mug", "price": 8}),
            json!({"_id": "p21", "name": "scarf", "price": 15}),
        ];
        if items == want {
            Ok(())
        } else {
            Err(format!("{items:?}"))
        }
    })
    .await;

    // 6. edge -> MongoDB.
    api.execute(
        "INSERT INTO products DOCUMENTS (:d)",
        json!({"d": {"_id": "p22", "name": "patch", "category": "accessories", "price": 4, "stock": 50}}),
    )
    .await;
    let patch = eventually("the edge write in the sandbox", async || {
        find(&products, "p22")
            .await
            .ok_or_else(|| "not there yet".to_owned())
    })
    .await;
    assert_eq!(patch.get_str("name").unwrap(), "patch");
    assert_eq!(patch.get_str("category").unwrap(), "accessories");

    let connector = api.get(&format!("/connectors/{id}")).await;
    assert_eq!(connector["status"], "running", "{connector}");
    assert_eq!(connector["lastError"], Value::Null, "{connector}");
    running.stop().await;
    let _ = std::fs::remove_dir_all(&home);
}

/// A restart over the same database: the sandbox is new (in memory), so the demo connector
/// copies it again instead of resuming from a position in the old one. No second demo
/// connector, nothing failed, the edge matches the new sandbox, and new changes stream.
#[sqlx::test(migrations = false)]
async fn a_restart_copies_the_new_sandbox_again(_: PgPoolOptions, opts: PgConnectOptions) {
    let url = database_url(&opts);
    let home = scratch_dir();
    let mut first = start({
        let mut cmd = edgebridge(&url, &home);
        cmd.args(["all", "--dev", "--sandbox-port", "0"]);
        cmd
    });
    let banner = first.banner().await;
    let uri = banner.mongo.clone().unwrap();
    let api = Api::new(banner.api.clone(), banner.key.clone().unwrap()).await;
    let id = banner.demo.clone().expect("the demo connector");
    let products1 = products(&uri).await;
    eventually("the sample documents on the edge", async || {
        let ids = api.product_ids().await;
        if ids == sample_ids() {
            Ok(())
        } else {
            Err(format!("{ids:?}"))
        }
    })
    .await;
    // Only in this run's sandbox: gone from both sides after the restart.
    products1
        .insert_one(doc! {"_id": "p21", "name": "scarf", "price": 15})
        .await
        .unwrap();
    eventually("p21 on the edge", async || {
        let ids = api.product_ids().await;
        if ids.contains(&"p21".to_owned()) {
            Ok(())
        } else {
            Err(format!("{ids:?}"))
        }
    })
    .await;
    // Written on the edge, so in this run's sandbox too: gone from both sides likewise.
    api.execute(
        "INSERT INTO products DOCUMENTS (:d)",
        json!({"d": {"_id": "p22", "name": "patch", "price": 4}}),
    )
    .await;
    eventually("p22 in the sandbox", async || {
        find(&products1, "p22")
            .await
            .map(|_| ())
            .ok_or_else(|| "not there yet".to_owned())
    })
    .await;
    first.stop().await;

    let sandbox_port = port_of(&uri).to_string();
    let mut second = start({
        let mut cmd = edgebridge(&url, &home);
        cmd.args(["all", "--dev", "--sandbox-port", &sandbox_port]);
        cmd
    });
    let banner = second.banner().await;
    assert_eq!(banner.mongo.as_deref(), Some(uri.as_str()), "the same URI");
    assert!(
        banner.demo.is_none(),
        "no second demo connector: {}",
        banner.text
    );
    assert!(
        banner.text.contains(&format!(
            "Connector `shop` ({id}) copies its collections again"
        )),
        "{}",
        banner.text
    );
    let api = Api {
        base: banner.api.clone(),
        ..api
    };
    let connectors = api.get("/connectors").await;
    assert_eq!(
        connectors["items"].as_array().unwrap().len(),
        1,
        "{connectors}"
    );
    api.wait_until_streaming(&id).await;
    let products2 = products(&uri).await;
    eventually("the edge matches the new sandbox", async || {
        let ids = api.product_ids().await;
        if ids == sample_ids() {
            Ok(())
        } else {
            Err(format!("{ids:?}"))
        }
    })
    .await;
    assert_eq!(find(&products2, "p21").await, None);
    assert_eq!(find(&products2, "p22").await, None);
    assert_eq!(products2.count_documents(doc! {}).await.unwrap(), 20);

    // The stream starts in the new sandbox: a change made now arrives.
    products2
        .update_one(doc! {"_id": "p05"}, doc! {"$set": {"stock": 999}})
        .await
        .unwrap();
    eventually("a change after the restart on the edge", async || {
        let items = api
            .execute(
                "SELECT stock FROM products WHERE _id = :id",
                json!({"id": "p05"}),
            )
            .await;
        if items == [json!({"stock": 999})] {
            Ok(())
        } else {
            Err(format!("{items:?}"))
        }
    })
    .await;
    let connector = api.get(&format!("/connectors/{id}")).await;
    assert_eq!(connector["status"], "running", "{connector}");
    second.stop().await;
    let _ = std::fs::remove_dir_all(&home);
}

/// Outside `--dev` the sandbox never starts: `all` listens on the api's port alone, and the
/// sandbox flags are refused; `--dev --no-sandbox` listens on the api's port alone too.
#[sqlx::test(migrations = false)]
async fn no_sandbox_port_without_dev_or_with_no_sandbox(_: PgPoolOptions, opts: PgConnectOptions) {
    let url = database_url(&opts);
    let home = scratch_dir();
    let production = |cmd: &mut Command| {
        cmd.env("EDGEBRIDGE_ENCRYPTION_KEYS", key_entry("k1", 1))
            .env("EDGEBRIDGE_JWT_KEYS", key_entry("j1", 2));
    };

    let mut cmd = edgebridge(&url, &home);
    production(&mut cmd);
    cmd.arg("all").env("RUST_LOG", "info");
    let running = start(cmd);
    let line = eventually("the api listening", async || {
        let lines = running.stderr.lock().unwrap().clone();
        lines
            .into_iter()
            .find(|l| l.contains("api listening"))
            .ok_or_else(|| "no line yet".to_owned())
    })
    .await;
    let address: Value = serde_json::from_str(&line).unwrap();
    let address = address["address"].as_str().unwrap().to_owned();
    let api_port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(running.listening_ports(), BTreeSet::from([api_port]));
    running.stop().await;

    let mut running = start({
        let mut cmd = edgebridge(&url, &home);
        cmd.args(["all", "--dev", "--no-sandbox"]);
        cmd
    });
    let banner = running.banner().await;
    assert!(
        banner
            .text
            .contains("Sandbox:    not started (--no-sandbox)"),
        "{}",
        banner.text
    );
    assert_eq!(banner.mongo, None);
    assert_eq!(
        running.listening_ports(),
        BTreeSet::from([port_of(&banner.api)])
    );
    running.stop().await;

    for (args, env) in [
        (&["all", "--no-sandbox"][..], None),
        (&["all", "--sandbox-port", "27018"][..], None),
        (&["all"][..], Some(("EDGEBRIDGE_SANDBOX_PORT", "27018"))),
    ] {
        let mut cmd = edgebridge(&url, &home);
        production(&mut cmd);
        cmd.args(args);
        if let Some((name, value)) = env {
            cmd.env(name, value);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{args:?} {env:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(
                "apply only with --dev: the sandbox MongoDB never runs outside development mode"
            ),
            "{args:?} {env:?}: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}
