//! The harness of the sandbox tests: the real binary with its banner and listening ports, the
//! README's API calls, and polling with a deadline.

use bson::{Document, doc};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_edgebridge");
/// How long the binary may take to come up, and a change to reach the other side.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The binary with a clean environment: `home` as HOME (where `--dev` keeps its keys), the api
/// on a free port, a worker name of its own.
pub fn edgebridge(database_url: &str, home: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("DATABASE_URL", database_url)
        .env("EDGEBRIDGE_LISTEN", "127.0.0.1:0")
        .env("EDGEBRIDGE_WORKER_NAME", uuid::Uuid::now_v7().to_string())
        .env("EDGEBRIDGE_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn");
    cmd
}

pub fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "edgebridge-e2e-sandbox-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running binary, killed if the test ends without stopping it.
pub struct Running {
    pub child: Child,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect_lines(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

pub fn start(mut cmd: Command) -> Running {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = collect_lines(child.stdout.take().unwrap());
    let stderr = collect_lines(child.stderr.take().unwrap());
    Running {
        child,
        stdout,
        stderr,
    }
}

/// What the `--dev` banner says.
pub struct Banner {
    pub text: String,
    pub api: String,
    /// The sandbox's URI (`MONGO='...'`).
    pub mongo: Option<String>,
    /// The demo connector's id.
    pub demo: Option<String>,
    /// The owner key (stdout), on a fresh database.
    pub key: Option<String>,
}

impl Running {
    /// Waits for the whole banner (its last line ends it).
    pub async fn banner(&mut self) -> Banner {
        let deadline = Instant::now() + DEADLINE;
        let text = loop {
            let text = self.stderr.lock().unwrap().join("\n");
            if text.contains("Owner API key") || text.contains("already has organizations") {
                break text;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("edgebridge exited with {status}: {text}");
            }
            assert!(Instant::now() < deadline, "no banner: {text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let after = |label: &str, end: &str| {
            let start = text.find(label)? + label.len();
            let rest = text[start..].trim_start();
            Some(rest[..rest.find(end)?].to_owned())
        };
        let key = if text.contains("Owner API key") {
            while self.stdout.lock().unwrap().is_empty() {
                assert!(Instant::now() < deadline, "no owner key on stdout");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Some(self.stdout.lock().unwrap()[0].trim().to_owned())
        } else {
            None
        };
        Banner {
            api: after("API:", "/v1").expect("the API line"),
            mongo: after("MONGO='", "'"),
            demo: after("Demo:       connector `shop` (", ")"),
            key,
            text,
        }
    }

    /// The TCP ports the process listens on (its sockets in the kernel's tables).
    pub fn listening_ports(&self) -> BTreeSet<u16> {
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).unwrap();
        let inodes: BTreeSet<String> = fds
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter_map(|link| {
                let link = link.to_string_lossy().into_owned();
                Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
            })
            .collect();
        let mut ports = BTreeSet::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = std::fs::read_to_string(table).unwrap_or_default();
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // local_address, state 0A = LISTEN, inode
                if fields.len() > 9 && fields[3] == "0A" && inodes.contains(fields[9]) {
                    let port = fields[1].rsplit(':').next().unwrap();
                    ports.insert(u16::from_str_radix(port, 16).unwrap());
                }
            }
        }
        ports
    }

    /// SIGTERM, then a clean exit.
    pub async fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + DEADLINE;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "did not stop after SIGTERM");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit status {status}");
    }
}

/// The port of `http://host:port` or `mongodb://user:password@host:port/?options`.
pub fn port_of(url: &str) -> u16 {
    let rest = url.split_once("://").unwrap().1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = rest.split('/').next().unwrap();
    host.rsplit(':').next().unwrap().parse().unwrap()
}

/// Polls `check` until it gives a value; the last state it saw names the failure.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if Instant::now() > deadline => panic!("{what}: {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The README's curl calls.
pub struct Api {
    pub base: String,
    pub key: String,
    pub app: String,
    pub client: reqwest::Client,
}

impl Api {
    pub async fn new(base: String, key: String) -> Api {
        let client = reqwest::Client::new();
        let apps: Value = client
            .get(format!("{base}/v1/apps"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let app = apps["items"][0]["id"].as_str().unwrap().to_owned();
        Api {
            base,
            key,
            app,
            client,
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        let url = format!("{}/v1/apps/{}{path}", self.base, self.app);
        let res = self
            .client
            .get(url)
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().await.unwrap()
    }

    /// `POST .../store/execute`; the answer's items.
    pub async fn execute(&self, statement: &str, args: Value) -> Vec<Value> {
        let url = format!("{}/v1/apps/{}/store/execute", self.base, self.app);
        let res = self
            .client
            .post(url)
            .bearer_auth(&self.key)
            .json(&json!({"statement": statement, "args": args}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{statement}: {}", res.status());
        let body: Value = res.json().await.unwrap();
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// The edge's `products` ids, in order.
    pub async fn product_ids(&self) -> Vec<String> {
        let items = self
            .execute("SELECT _id FROM products ORDER BY _id", json!({}))
            .await;
        items
            .iter()
            .map(|i| i["_id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Step 3: the connector named `shop`.
    pub async fn shop_connector(&self) -> Option<String> {
        let list = self.get("/connectors").await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "shop")
            .map(|c| c["id"].as_str().unwrap().to_owned())
    }

    /// Step 4: running, healthy, `products` streaming.
    pub async fn wait_until_streaming(&self, id: &str) {
        eventually("the connector streams products", async || {
            let c = self.get(&format!("/connectors/{id}")).await;
            let streaming = c["status"] == "running"
                && c["health"]["state"] == "green"
                && c["collectionStatus"]["products"]["phase"] == "streaming";
            if streaming {
                Ok(())
            } else {
                Err(c.to_string())
            }
        })
        .await
    }
}

pub fn sample_ids() -> Vec<String> {
    (1..=20).map(|i| format!("p{i:02}")).collect()
}

pub async fn products(uri: &str) -> mongodb::Collection<Document> {
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    client.database("shop").collection("products")
}

pub async fn find(products: &mongodb::Collection<Document>, id: &str) -> Option<Document> {
    products.find_one(doc! {"_id": id}).await.unwrap()
}
