//! Connection strings at save time: options the MongoDB driver refuses are refused with 422 at
//! `/connectionString` (checked against the driver itself), and a user name without a password
//! never appears in an answer.

use crate::helpers::{TestApp, assert_problem, error_paths, id_of};
use edgebridge_api::config::MongoAccess;
use edgebridge_domain::MongoUri;
use edgebridge_mongo_sim::{CollectionOptions, SimUser, Simulator};
use mongodb::options::{ClientOptions, ConnectionString};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::Arc;

const HOST: &str = "cluster0.example.net";

fn spec(connection_string: &str) -> Value {
    json!({
        "name": "retail",
        "connectionString": connection_string,
        "database": "retail-demo",
        "collections": {"orders": {"fields": ["_id"]}},
    })
}

#[sqlx::test(migrations = false)]
async fn options_the_driver_refuses_are_refused_at_save_time(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let connectors = app.connectors_path(app.app_id);
    let base = "mongodb://appuser:s3cret@a.example.net:27017";
    for (options, expected) in [
        (
            "/?authMechanism=BOGUS",
            "`authMechanism` must be one of SCRAM-SHA-256",
        ),
        (
            "/?w=bogus",
            "`w` must be a whole number of members (0 or more) or `majority`",
        ),
        (
            "/?readPreference=anything",
            "`readPreference` must be primary, primaryPreferred",
        ),
        ("/?ssl=true&tls=false", "`tls=false` contradicts `ssl`"),
        (
            ",b.example.net/?directConnection=true",
            "`directConnection=true` connects to exactly one server",
        ),
        (
            "/?retryWrite=true",
            "`retryWrite` is not a MongoDB connection string option; did you mean `retryWrites`?",
        ),
        (
            "/?socketTimeoutMS=1000",
            "`socketTimeoutMS` is not available",
        ),
    ] {
        let uri = format!("{base}{options}");
        let problem = assert_problem(
            app.post(&connectors, &app.owner_key, &spec(&uri)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(error_paths(&problem), ["/connectionString"], "{uri}");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{uri}: {message}");
        assert!(!problem.to_string().contains("s3cret"), "{problem}");
    }
    // The same on an update.
    let created = app
        .create_connector(&spec(&format!("{base}/?w=majority&retryWrites=true")))
        .await;
    let path = app.connector_path(app.app_id, id_of(&created));
    let problem = assert_problem(
        app.patch(
            &path,
            &app.owner_key,
            &json!({"connectionString": format!("{base}/?w=majority&journal=maybe")}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_paths(&problem), ["/connectionString"]);
}

/// What the driver says of a string, without any DNS lookup: `ClientOptions::parse` for a host
/// list; for `mongodb+srv://`, `ConnectionString::parse` and then `ClientOptions::parse` of the
/// same string over one host (the checks the driver makes once the SRV lookup answered).
async fn driver(input: &str) -> Result<(), String> {
    let Some(rest) = input.strip_prefix("mongodb+srv://") else {
        return ClientOptions::parse(input)
            .await
            .map(drop)
            .map_err(|e| e.to_string());
    };
    ConnectionString::parse(input).map_err(|e| e.to_string())?;
    let (before, query) = rest.split_once('?').unwrap_or((rest, ""));
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default().to_lowercase();
            name != "srvmaxhosts" && name != "srvservicename"
        })
        .collect();
    ClientOptions::parse(format!("mongodb://{before}?{}", kept.join("&")))
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Ours must refuse whatever the driver refuses, and accept whatever it accepts except where
/// ours knowingly goes further (`UriError::is_beyond_driver`).
async fn assert_agrees(input: &str, context: &str) {
    let ours = MongoUri::parse_checked(input);
    match (&ours, driver(input).await) {
        (Ok(_), Ok(())) | (Err(_), Err(_)) => {}
        (Ok(_), Err(why)) => panic!("{context}: accepted {input}, the driver refuses: {why}"),
        (Err(e), Ok(())) => assert!(
            e.is_beyond_driver(),
            "{context}: refused {input} ({e}), the driver accepts it"
        ),
    }
}

#[tokio::test]
async fn the_option_rules_agree_with_the_driver_on_chosen_strings() {
    for input in [
        "mongodb://h/?authMechanism=BOGUS",
        "mongodb://h/?w=bogus",
        "mongodb://h/?readPreference=anything",
        "mongodb://h/?ssl=true&tls=false",
        "mongodb://a,b/?directConnection=true",
        "mongodb://h/?unknownOption=1",
        "mongodb://h/?retryWrites=true&w=majority&appName=x",
        "mongodb://u:p@h/?authMechanism=MONGODB-CR",
        "mongodb://h/?authMechanism=MONGODB-OIDC",
        "mongodb://h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:k8s",
        "mongodb://u:p@h/?authMechanism=MONGODB-X509",
        "mongodb://h/?tlsAllowInvalidHostnames=true",
        "mongodb://h/?tlsCertificateKeyFilePassword=x",
        "mongodb://h/?adaptiveRetries=true",
        "mongodb://h/?zlibCompressionLevel=3",
        "mongodb://h/?compressors=zlib",
        "mongodb://h/?proxyHost=p&proxyPort=1",
        "mongodb://h/?socketTimeoutMS=5",
        "mongodb://h/?a=1&&b=2",
        "mongodb://h/?appName=x&",
        "mongodb://h/?",
        "mongodb://[::1]:27017/?directConnection=true",
        "mongodb://[:::1]/",
        "mongodb+srv://c.example.net/?directConnection=true",
        "mongodb+srv://c.example.net/?srvMaxHosts=2&replicaSet=rs",
        "mongodb+srv://c.example.net/?srvMaxHosts=2&loadBalanced=true",
        "mongodb+srv://c.example.net/?loadBalanced=true",
        "mongodb://h/?srvServiceName=x",
        "mongodb://h/?tlsInsecure=true&tlsAllowInvalidCertificates=false",
        "mongodb://h/?tls=false&tlsInsecure=true",
        "mongodb://h/?readPreference=secondary&maxStalenessSeconds=89",
        "mongodb://h/?readPreference=secondary&maxStalenessSeconds=100&heartbeatFrequencyMS=95000",
        "mongodb://h/?w=0&journal=true",
        "mongodb://h/?w=2147483648",
        "mongodb://h/?connectTimeoutMS=+5",
    ] {
        assert_agrees(input, "chosen").await;
    }
}

/// Options and values to combine: valid, invalid and conflicting ones.
const POOL: &[(&str, &[&str])] = &[
    ("tls", &["true", "false", "yes"]),
    ("ssl", &["true", "false"]),
    ("TLS", &["true"]),
    ("tlsInsecure", &["true", "false", "1"]),
    ("tlsAllowInvalidCertificates", &["true"]),
    ("tlsCAFile", &["%2Fca.pem"]),
    ("tlsCertificateKeyFile", &["%2Fc.pem"]),
    ("directConnection", &["true", "false", "TRUE"]),
    ("loadBalanced", &["true", "false"]),
    ("replicaSet", &["rs0", ""]),
    ("w", &["0", "1", "majority", "-1"]),
    ("journal", &["true", "false"]),
    ("wTimeoutMS", &["100", "-1"]),
    (
        "readPreference",
        &["primary", "secondary", "Nearest", "anything"],
    ),
    ("readPreferenceTags", &["dc:east", "", "bad", "a:b,c"]),
    ("maxStalenessSeconds", &["-1", "0", "90", "120", "-2", "x"]),
    ("heartbeatFrequencyMS", &["100", "500", "200000"]),
    ("maxPoolSize", &["0", "10", "x"]),
    ("minPoolSize", &["5", "-1"]),
    ("maxConnecting", &["0", "2"]),
    (
        "authMechanism",
        &[
            "SCRAM-SHA-256",
            "SCRAM-SHA-1",
            "PLAIN",
            "MONGODB-X509",
            "MONGODB-OIDC",
            "BOGUS",
            "MONGODB-AWS",
            "GSSAPI",
            "plain",
        ],
    ),
    ("authSource", &["admin", "$external", ""]),
    (
        "authMechanismProperties",
        &[
            "ENVIRONMENT:k8s",
            "ENVIRONMENT:azure,TOKEN_RESOURCE:r",
            "ENVIRONMENT:aws",
            "TOKEN_RESOURCE:r",
            "CANONICALIZE_HOST_NAME:forward",
            "CANONICALIZE_HOST_NAME:maybe",
            "bad",
            "ALLOWED_HOSTS:x",
            "SERVICE_NAME:m",
        ],
    ),
    ("srvMaxHosts", &["0", "2"]),
    ("srvServiceName", &["mongo"]),
    ("serverMonitoringMode", &["poll", "STREAM", "push"]),
    ("uuidRepresentation", &["javaLegacy", "standard"]),
    ("retryWrites", &["true", "True"]),
    ("retryReads", &["false"]),
    ("appName", &["x"]),
    ("socketTimeoutMS", &["10"]),
    ("connectTimeoutMS", &["10", "+5", "1.5"]),
    ("compressors", &["zlib"]),
    ("zlibCompressionLevel", &["5", "10"]),
    ("proxyHost", &["p"]),
    ("adaptiveRetries", &["true"]),
    ("tlsAllowInvalidHostnames", &["true"]),
    ("enableOverloadRetargeting", &["true", "no"]),
    ("maxAdaptiveRetries", &["3"]),
    ("readConcernLevel", &["majority"]),
    ("waitQueueTimeoutMS", &["5"]),
    ("localThresholdMS", &["5"]),
    ("maxIdleTimeMS", &["5"]),
    ("serverSelectionTimeoutMS", &["5"]),
    ("bogusOption", &["1"]),
];

const PREFIXES: &[&str] = &[
    "mongodb://h.example.net",
    "mongodb://h.example.net:27017",
    "mongodb://a.example.net,b.example.net:27018",
    "mongodb://[::1]:27017",
    "mongodb+srv://c.example.net",
];

const USERS: &[&str] = &["", "u:p@", "u@", "u:@"];

/// xorshift64*: enough to spread choices, and a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let n = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        &items[usize::try_from(n >> 33).unwrap() % items.len()]
    }
}

#[tokio::test]
async fn the_option_rules_agree_with_the_driver_on_random_combinations() {
    for seed in 1..=3_000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let (scheme, hosts) = rng.pick(PREFIXES).split_once("://").unwrap();
        let user = rng.pick(USERS);
        let database = rng.pick(&["/", "/db", ""]);
        let count = *rng.pick(&[0usize, 1, 2, 3, 4]);
        let options: Vec<String> = (0..count)
            .map(|_| {
                let (name, values) = rng.pick(POOL);
                format!("{name}={}", rng.pick(values))
            })
            .collect();
        let input = if options.is_empty() {
            format!("{scheme}://{user}{hosts}{database}")
        } else {
            format!("{scheme}://{user}{hosts}{database}?{}", options.join("&"))
        };
        assert_agrees(&input, &format!("seed {seed}")).await;
    }
}

/// A simulated cluster at `HOST` with user `appuser`: `CANARY` is not a user there.
fn cluster() -> Simulator {
    let sim = Simulator::new(7);
    sim.add_host(HOST, &["52.10.20.30".parse().unwrap()]);
    sim.add_user(SimUser::read_write_admin("appuser", "pw", "retail-demo"));
    sim.create_collection("retail-demo", "orders", CollectionOptions::ready());
    sim
}

#[sqlx::test(migrations = false)]
async fn a_user_name_without_a_password_is_never_shown(pool: PgPool) {
    let sim = cluster();
    let connector = sim.connector();
    let app = TestApp::spawn_with(pool, move |config| {
        config.mongo = MongoAccess(Arc::new(connector));
    })
    .await;
    let uri = format!("mongodb+srv://CANARY@{HOST}/?appName=x");
    let connectors = app.connectors_path(app.app_id);
    let created = app.create_connector(&spec(&uri)).await;
    assert_eq!(
        created["connectionString"],
        format!("mongodb+srv://****@{HOST}/?appName=x")
    );
    let path = app.connector_path(app.app_id, id_of(&created));

    let mut answers = vec![created.to_string()];
    for read in [path.clone(), connectors.clone(), format!("{path}/events")] {
        let res = app.get(&read, &app.owner_key).await;
        assert_eq!(res.status(), StatusCode::OK, "{read}");
        answers.push(res.text().await.unwrap());
    }
    for (method, target, body) in [
        (
            "PATCH",
            format!("{path}?dryRun=true"),
            json!({"connectionString": format!("mongodb+srv://CANARY@{HOST}/?appName=y")}),
        ),
        ("POST", format!("{connectors}/validate"), spec(&uri)),
        ("POST", format!("{path}/test"), json!({})),
        ("POST", format!("{connectors}/test"), spec(&uri)),
    ] {
        let res = match method {
            "PATCH" => app.patch(&target, &app.owner_key, &body).await,
            _ => app.post(&target, &app.owner_key, &body).await,
        };
        assert!(
            res.status().is_success(),
            "{method} {target}: {}",
            res.status()
        );
        answers.push(res.text().await.unwrap());
    }
    // The connection test got as far as logging in, and says who failed without the name.
    assert!(
        answers[6].contains("authentication_failed") && answers[6].contains("****"),
        "{}",
        answers[6]
    );
    for answer in &answers {
        assert!(
            !answer.contains("CANARY"),
            "the user name leaked in {answer}"
        );
    }
    let stored: (String,) =
        sqlx::query_as("select connection_redacted from connectors where connector_id = $1")
            .bind(id_of(&created))
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(!stored.0.contains("CANARY"), "{}", stored.0);
}

#[sqlx::test(migrations = false)]
async fn connectors_saved_before_show_their_lone_user_name_masked(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let lone = app
        .create_connector(&spec("mongodb://appuser@a.example.net/?appName=x@y"))
        .await;
    let paired = app
        .create_connector(&json!({
            "name": "paired",
            "connectionString": "mongodb://appuser:pw@a.example.net/",
            "database": "retail-demo",
            "collections": {"tasks": {"fields": ["_id"]}},
        }))
        .await;
    // As the api stored them before user names were masked.
    sqlx::query(
        "update connectors set connection_redacted = 'mongodb://CANARY@a.example.net/?appName=x@y'
         where connector_id = $1",
    )
    .bind(id_of(&lone))
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::raw_sql(include_str!(
        "../../migrations/20261122000013_redact_lone_user_names.sql"
    ))
    .execute(&app.pool)
    .await
    .unwrap();
    let shown: Value = app
        .get(
            &app.connector_path(app.app_id, id_of(&lone)),
            &app.owner_key,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        shown["connectionString"],
        "mongodb://****@a.example.net/?appName=x@y"
    );
    let shown: Value = app
        .get(
            &app.connector_path(app.app_id, id_of(&paired)),
            &app.owner_key,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        shown["connectionString"],
        "mongodb://appuser:****@a.example.net/"
    );
}
