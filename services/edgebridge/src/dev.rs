//! Development mode (`--dev`): the keys it generates are kept in a private file so a restart can
//! still open the connection strings and verify the access tokens of the previous run, the
//! bootstrap of a fresh database, and the banner that says where everything is (the sandbox
//! MongoDB of `all --dev` included: see `sandbox.rs`).
//!
//! The file is read and written only with `--dev`; keys set in the environment always win over
//! it. Production deployments set EDGEBRIDGE_ENCRYPTION_KEYS and EDGEBRIDGE_JWT_KEYS instead.

use crate::sandbox::{Sandbox, SandboxSetting};
use anyhow::{Context, bail};
use secrecy::ExposeSecret;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Overrides where `--dev` keeps its keys.
pub const DEV_KEYS_FILE_ENV: &str = "EDGEBRIDGE_DEV_KEYS_FILE";

/// `$XDG_DATA_HOME/edgebridge/dev-keys`, else `$HOME/.local/share/edgebridge/dev-keys`: one
/// place whatever directory the service is started from, and never inside a source checkout
/// where it could be committed.
pub fn default_dev_keys_path() -> anyhow::Result<PathBuf> {
    let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(data) = non_empty("XDG_DATA_HOME").map(PathBuf::from)
        && data.is_absolute()
    {
        return Ok(data.join("edgebridge").join("dev-keys"));
    }
    match non_empty("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/edgebridge/dev-keys")),
        None => bail!(
            "--dev keeps its generated keys in a file, and neither XDG_DATA_HOME nor HOME says where: set {DEV_KEYS_FILE_ENV} to a file path"
        ),
    }
}

/// The development keys file, opened when the first key is needed from it.
pub struct DevKeys {
    /// EDGEBRIDGE_DEV_KEYS_FILE, when set.
    configured: Option<PathBuf>,
    file: Option<DevKeysFile>,
}

impl DevKeys {
    pub fn new(configured: Option<PathBuf>) -> Self {
        DevKeys {
            configured,
            file: None,
        }
    }

    /// The key kept for `name`, or a new one from `generate`, saved before it is used.
    pub fn entry(
        &mut self,
        name: &str,
        generate: impl FnOnce() -> String,
    ) -> anyhow::Result<String> {
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let path = match &self.configured {
                    Some(path) => path.clone(),
                    None => default_dev_keys_path()?,
                };
                self.file.insert(DevKeysFile::open(path)?)
            }
        };
        file.entry(name, generate)
    }

    /// The file's path, once a key came from it.
    pub fn path(&self) -> Option<PathBuf> {
        self.file.as_ref().map(|f| f.path().to_owned())
    }

    /// For errors about a key read from the file.
    pub fn describe(&self) -> String {
        match self.path() {
            Some(path) => format!(
                "the --dev keys in {} (delete the file to start over with new keys)",
                path.display()
            ),
            None => "the --dev keys".to_owned(),
        }
    }
}

/// The development keys file: `NAME=value` lines (the variables they stand in for), `#`
/// comments, mode 0600.
pub struct DevKeysFile {
    path: PathBuf,
    entries: Vec<(String, String)>,
}

impl DevKeysFile {
    /// Reads the file at `path`; a missing file is empty (it is written with the first key it
    /// has to keep). A file other users can read is refused.
    pub fn open(path: PathBuf) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => {
                refuse_shared(&path)?;
                text
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading the --dev keys in {}", path.display()));
            }
        };
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
            .collect();
        Ok(DevKeysFile { path, entries })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key kept for `name`, or a new one from `generate`, saved before it is used.
    pub fn entry(
        &mut self,
        name: &str,
        generate: impl FnOnce() -> String,
    ) -> anyhow::Result<String> {
        if let Some((_, value)) = self.entries.iter().find(|(n, _)| n == name) {
            tracing::warn!(
                file = %self.path.display(),
                "DEVELOPMENT MODE: {name} is not set; using the development key kept in the file"
            );
            return Ok(value.clone());
        }
        let value = generate();
        self.entries.push((name.to_owned(), value.clone()));
        self.save()?;
        tracing::warn!(
            file = %self.path.display(),
            "DEVELOPMENT MODE: {name} is not set; generated a development key and saved it in the file (kept across restarts)"
        );
        Ok(value)
    }

    /// Writes every entry to a private temporary file beside the target, then renames it over
    /// the target: a crash leaves the old file or the new one, never half of one.
    fn save(&self) -> anyhow::Result<()> {
        let context = || format!("saving the --dev keys in {}", self.path.display());
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).with_context(context)?;
        }
        let mut text = String::from(
            "# Keys generated by `edgebridge --dev`, kept so a restart can open what the last run\n\
             # encrypted. Development only: never used without --dev. Deleting this file makes the\n\
             # connection strings saved under these keys unreadable.\n",
        );
        for (name, value) in &self.entries {
            text.push_str(&format!("{name}={value}\n"));
        }
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "dev-keys".to_owned());
        let temporary = self
            .path
            .with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = private_file(&temporary)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.with_context(context)
    }
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Like ssh with a private key, refuses a keys file that others can read.
#[cfg(unix)]
fn refuse_shared(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("reading the --dev keys in {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "the --dev keys file {} can be read by other users (mode {:o}): make it private with `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_shared(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// What the development banner reports besides the address.
pub struct DevBanner {
    pub port: u16,
    /// Where the generated keys are kept, when any key came from there.
    pub keys_file: Option<PathBuf>,
    /// EDGEBRIDGE_OPERATOR_TOKEN is set: the operator routes are on.
    pub operator_routes: bool,
    /// The sandbox MongoDB's lines (`all --dev`), and what start-up did with the connectors
    /// pointing at a sandbox (filled in by [`start`]).
    pub sandbox: Vec<String>,
}

/// The demo connector a fresh database gets when the sandbox runs: made through the api at
/// `api_url` with the new owner key.
struct DemoRequest {
    api_url: String,
    /// The sandbox's connection string.
    uri: String,
}

/// The development bootstrap at start: a fresh database gets organization `default`, app
/// `default` and an owner key (and, with the sandbox, the demo connector); one from an earlier
/// run gets its sandbox connectors taken care of (see [`crate::sandbox::reconcile`]). The banner
/// is printed beside the server, which the demo connector is made through.
pub async fn start(
    pool: &sqlx::PgPool,
    mut banner: DevBanner,
    setting: Option<SandboxSetting>,
    sandbox: Option<&Sandbox>,
    api_url: &str,
) -> anyhow::Result<()> {
    let boot = edgebridge_api::admin::bootstrap_dev(pool).await?;
    banner.sandbox = match (sandbox, setting) {
        (Some(sandbox), _) => sandbox.banner_lines(),
        (None, Some(SandboxSetting::Off)) => {
            vec!["Sandbox:    not started (--no-sandbox)".to_owned()]
        }
        (None, _) => Vec::new(),
    };
    // A database from an earlier run: its sandbox connectors hold positions in a sandbox that
    // is gone (it lived in memory).
    if boot.is_none() && setting.is_some() {
        for connector in crate::sandbox::reconcile(pool, sandbox).await? {
            banner
                .sandbox
                .push(format!("            {}", connector.banner_line()));
        }
    }
    let demo = match (&boot, sandbox) {
        (Some(_), Some(sandbox)) => Some(DemoRequest {
            api_url: api_url.to_owned(),
            uri: sandbox.uri(),
        }),
        _ => None,
    };
    tokio::spawn(announce(banner, boot, demo));
    Ok(())
}

/// Prints how to reach the development server; on a fresh database (`boot`), the new
/// organization, app and owner key, after creating the demo connector when asked.
async fn announce(
    banner: DevBanner,
    boot: Option<edgebridge_api::admin::DevBootstrap>,
    demo: Option<DemoRequest>,
) {
    let mut sandbox = banner.sandbox;
    if let (Some(boot), Some(demo)) = (&boot, demo) {
        let (app, collection) = (
            boot.app_id,
            format!(
                "{}.{}",
                crate::sandbox::DATABASE,
                crate::sandbox::COLLECTION
            ),
        );
        match crate::sandbox::create_demo(&demo.api_url, &boot.api_key, app, &demo.uri).await {
            Ok(id) => sandbox.push(format!(
                "Demo:       connector `{}` ({id}) in app `default` copies {collection} to the edge, then syncs it both ways",
                crate::sandbox::DEMO_CONNECTOR
            )),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "creating the demo connector failed");
                sandbox.push(format!(
                    "Demo:       the demo connector could not be created ({e:#}); create one as the README's \"Try it\" shows"
                ));
            }
        }
    }
    let port = banner.port;
    eprintln!("\n  DEVELOPMENT MODE (--dev): not for production.");
    eprintln!("  API:        http://127.0.0.1:{port}/v1   (OpenAPI: /openapi.json)");
    if edgebridge_api::http::dashboard::built() {
        eprintln!("  Dashboard:  http://127.0.0.1:{port}/dashboard/   (sign in with an API key)");
    } else {
        eprintln!(
            "  Dashboard:  not built into this binary (needs Node.js >= 20.19: scripts/dev builds it)"
        );
    }
    if let Some(path) = &banner.keys_file {
        eprintln!(
            "  Dev keys:   {} (generated keys and passwords, kept across restarts; {DEV_KEYS_FILE_ENV} moves it)",
            path.display()
        );
    }
    if banner.operator_routes {
        eprintln!(
            "  Operator:   /v1/admin/* answers `Authorization: Bearer $EDGEBRIDGE_OPERATOR_TOKEN`."
        );
    } else {
        eprintln!(
            "  Operator:   /v1/admin/* is off. To turn it on, restart with a token set, e.g."
        );
        eprintln!(
            "                export EDGEBRIDGE_OPERATOR_TOKEN=\"$(openssl rand -base64 32)\""
        );
        eprintln!(
            "              and send it as `Authorization: Bearer $EDGEBRIDGE_OPERATOR_TOKEN`."
        );
    }
    for line in &sandbox {
        eprintln!("  {line}");
    }
    if let Some(boot) = boot {
        eprintln!(
            "  Created organization `default` ({}) and app `default` ({}).",
            boot.org_id, boot.app_id
        );
        eprintln!("  Owner API key (shown once, store it now):\n");
        println!("{}", boot.api_key.expose_secret());
        eprintln!();
    } else {
        eprintln!(
            "  The database already has organizations; create more with `edgebridge org create NAME`.\n"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        std::env::temp_dir()
            .join(format!("edgebridge-dev-{}-{nanos}", std::process::id()))
            .join(name)
    }

    #[test]
    fn a_generated_key_is_saved_privately_and_read_back() {
        let path = scratch("nested/dev-keys");
        let mut file = DevKeysFile::open(path.clone()).unwrap();
        let first = file
            .entry("EDGEBRIDGE_ENCRYPTION_KEYS", || "k:one".to_owned())
            .unwrap();
        assert_eq!(first, "k:one");
        let jwt = file
            .entry("EDGEBRIDGE_JWT_KEYS", || "j:two".to_owned())
            .unwrap();

        let mut again = DevKeysFile::open(path.clone()).unwrap();
        let kept = again
            .entry("EDGEBRIDGE_ENCRYPTION_KEYS", || {
                panic!("the kept key is used")
            })
            .unwrap();
        assert_eq!(kept, first);
        assert_eq!(
            again
                .entry("EDGEBRIDGE_JWT_KEYS", || panic!("kept"))
                .unwrap(),
            jwt
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
            let dir = std::fs::metadata(path.parent().unwrap()).unwrap();
            assert_eq!(dir.permissions().mode() & 0o777, 0o700);
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn a_keys_file_other_users_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let path = scratch("dev-keys");
        DevKeysFile::open(path.clone())
            .unwrap()
            .entry("EDGEBRIDGE_JWT_KEYS", || "j:x".to_owned())
            .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = DevKeysFile::open(path.clone())
            .err()
            .expect("refused")
            .to_string();
        assert!(refused.contains("chmod 600"), "{refused}");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
