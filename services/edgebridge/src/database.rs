//! Reaching Postgres: the pool every role uses, and what to tell the operator when it cannot be
//! reached (which server, and why: nothing listening, a refused user, a missing database).

use anyhow::{Context, bail};
use clap::Args;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use std::str::FromStr;
use std::time::Duration;
use tokio::time::Instant;

pub const DEV_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/edgebridge";

#[derive(Args, Clone)]
pub struct DbArgs {
    /// Postgres connection URL. With --dev it defaults to a local `edgebridge` database, created
    /// when missing.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Most connections the pool opens.
    #[arg(long, env = "EDGEBRIDGE_DB_MAX_CONNECTIONS", default_value_t = 20)]
    db_max_connections: u32,
    /// How long to wait for Postgres at start (it may still be starting) and for a pooled
    /// connection later, in seconds.
    #[arg(long, env = "EDGEBRIDGE_DB_CONNECT_TIMEOUT_SECS", default_value_t = 5)]
    db_connect_timeout_secs: u64,
}

impl DbArgs {
    pub async fn connect(&self, dev: bool) -> anyhow::Result<PgPool> {
        let url = match (&self.database_url, dev) {
            (Some(url), _) => url.clone(),
            (None, true) => {
                tracing::warn!("DATABASE_URL is not set; --dev uses {DEV_DATABASE_URL}");
                DEV_DATABASE_URL.to_owned()
            }
            (None, false) => bail!(
                "DATABASE_URL is not set: give the Postgres URL, e.g. postgres://user:password@localhost:5432/edgebridge"
            ),
        };
        if self.db_connect_timeout_secs == 0 {
            bail!("EDGEBRIDGE_DB_CONNECT_TIMEOUT_SECS must be above 0");
        }
        // The URL's own text is left out of the message: it may hold a password.
        let options = PgConnectOptions::from_str(&url)
            .map_err(|e| anyhow::anyhow!("DATABASE_URL is not a valid Postgres URL: {e}"))?
            // Notices ("relation ... already exists, skipping" from the migrations' bookkeeping
            // at every start) are not worth a log line; warnings and errors still are.
            .options([("client_min_messages", "warning")]);
        if dev && !sqlx::Postgres::database_exists(&url).await.unwrap_or(true) {
            sqlx::Postgres::create_database(&url)
                .await
                .context("creating the development database")?;
            tracing::warn!("created the development database");
        }
        let timeout = Duration::from_secs(self.db_connect_timeout_secs);
        // One connection first, to name the cause when there is none: the pool only says
        // "pool timed out" when nothing listens.
        first_connection(&options, timeout, dev).await?;
        PgPoolOptions::new()
            // No ping before each use (a round trip per query); a dead connection fails its
            // query and is dropped from the pool.
            .test_before_acquire(false)
            .max_connections(self.db_max_connections)
            .acquire_timeout(timeout)
            .connect_with(options.clone())
            .await
            .map_err(|e| anyhow::anyhow!(unreachable(&Target::of(&options), &e, timeout, dev)))
    }
}

/// Opens and closes one connection, retrying while the server refuses connections or is still
/// starting up (a database container that comes up beside the service), until `timeout`.
async fn first_connection(
    options: &PgConnectOptions,
    timeout: Duration,
    dev: bool,
) -> anyhow::Result<()> {
    let target = Target::of(options);
    let deadline = Instant::now() + timeout;
    let mut backoff = Duration::from_millis(50);
    loop {
        let attempt = tokio::time::timeout_at(deadline, options.connect()).await;
        let error = match attempt {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                return Ok(());
            }
            Ok(Err(e)) => e,
            Err(_) => sqlx::Error::PoolTimedOut,
        };
        let again = match &error {
            sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::ConnectionRefused,
            sqlx::Error::Database(db) => {
                matches!(db.code().as_deref(), Some("57P03" | "53300"))
            }
            _ => false,
        };
        if !again || Instant::now() + backoff >= deadline {
            bail!(unreachable(&target, &error, timeout, dev));
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// Which server DATABASE_URL names, for messages.
pub struct Target {
    /// `host:port`, or the socket path.
    pub server: String,
    pub user: String,
    pub database: String,
}

impl Target {
    pub fn of(options: &PgConnectOptions) -> Self {
        let server = match options.get_socket() {
            Some(socket) => format!("the socket {}", socket.display()),
            None if options.get_host().contains(':') && !options.get_host().starts_with('[') => {
                format!("[{}]:{}", options.get_host(), options.get_port())
            }
            None => format!("{}:{}", options.get_host(), options.get_port()),
        };
        Target {
            server,
            user: options.get_username().to_owned(),
            database: options
                .get_database()
                .unwrap_or(options.get_username())
                .to_owned(),
        }
    }
}

/// What went wrong reaching Postgres, from the operator's side: the server, the cause, and
/// what to change. Never the URL itself (it may hold a password).
pub fn unreachable(target: &Target, error: &sqlx::Error, timeout: Duration, dev: bool) -> String {
    let Target {
        server,
        user,
        database,
    } = target;
    let secs = timeout.as_secs();
    match error {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
            "cannot connect to Postgres at {server}: connection refused (nothing listens there; tried for {secs} s). Start Postgres, or set DATABASE_URL to where it runs"
        ),
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => no_answer(server, secs),
        sqlx::Error::PoolTimedOut => no_answer(server, secs),
        sqlx::Error::Io(io) => format!(
            "cannot connect to Postgres at {server}: {io}. Check the host and port in DATABASE_URL"
        ),
        sqlx::Error::Tls(tls) => format!(
            "cannot connect to Postgres at {server}: the TLS handshake failed ({tls}). Check `sslmode` in DATABASE_URL"
        ),
        sqlx::Error::Database(db) => {
            let said = db.message();
            match db.code().as_deref() {
                Some("28P01") => format!(
                    "Postgres at {server} refused user `{user}`: authentication failed ({said}). Check the user name and password in DATABASE_URL"
                ),
                Some("28000") => format!(
                    "Postgres at {server} refused user `{user}`: authentication failed ({said}). Check the user name in DATABASE_URL, and that the server's pg_hba.conf admits it"
                ),
                Some("3D000") if dev => format!(
                    "Postgres at {server} has no database `{database}` and it could not be created; create it (`createdb {database}`) or set DATABASE_URL to an existing one"
                ),
                Some("3D000") => format!(
                    "Postgres at {server} has no database `{database}`: create it (`createdb {database}`, or `CREATE DATABASE \"{database}\"` in psql), or set DATABASE_URL to an existing one"
                ),
                Some("53300") => format!(
                    "Postgres at {server} has no free connection slot ({said}); raise its max_connections or lower EDGEBRIDGE_DB_MAX_CONNECTIONS on the services sharing it"
                ),
                Some("57P03") => format!(
                    "Postgres at {server} is not accepting connections yet ({said}; waited {secs} s). Try again when it has started"
                ),
                Some(code) => {
                    format!("Postgres at {server} refused the connection: {said} (SQLSTATE {code})")
                }
                None => format!("Postgres at {server} refused the connection: {said}"),
            }
        }
        other => format!("cannot connect to Postgres at {server}: {other}"),
    }
}

fn no_answer(server: &str, secs: u64) -> String {
    format!(
        "cannot connect to Postgres at {server}: no answer within {secs} s. Check the host and port in DATABASE_URL and that no firewall drops the connection (EDGEBRIDGE_DB_CONNECT_TIMEOUT_SECS sets the wait)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::of(
            &PgConnectOptions::from_str("postgres://app:secret@db.internal:6543/shop").unwrap(),
        )
    }

    #[test]
    fn refused_and_silent_servers_are_named_with_what_to_do() {
        let refused = sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        let message = unreachable(&target(), &refused, Duration::from_secs(5), false);
        assert!(
            message.contains("Postgres at db.internal:6543"),
            "{message}"
        );
        assert!(message.contains("connection refused"), "{message}");
        assert!(message.contains("Start Postgres"), "{message}");
        assert!(!message.contains("secret"), "{message}");

        let silent = unreachable(
            &target(),
            &sqlx::Error::PoolTimedOut,
            Duration::from_secs(2),
            false,
        );
        assert!(
            silent.contains("db.internal:6543: no answer within 2 s"),
            "{silent}"
        );
        assert!(!silent.contains("pool timed out"), "{silent}");
    }

    #[test]
    fn a_socket_and_an_ipv6_host_are_shown_as_written() {
        let v6 = Target::of(&PgConnectOptions::from_str("postgres://u@[::1]:5433/d").unwrap());
        assert_eq!(v6.server, "[::1]:5433");
        let socket = PgConnectOptions::new().socket("/run/postgresql");
        assert_eq!(Target::of(&socket).server, "the socket /run/postgresql");
    }
}
