//! Throw-away databases for tests and benchmarks: a fresh SQLite file, or a fresh database on a
//! PostgreSQL server, dropped afterwards so runs never see each other's rows.

use anyhow::Context;
use sqlx::Connection;
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A database that exists for one run.
#[derive(Debug)]
pub struct ScratchDatabase {
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    /// The caller's own database: left alone.
    Keep,
    /// A SQLite file (and its WAL/SHM companions) to delete.
    SqliteFile(std::path::PathBuf),
    /// A database to drop, through the server's admin URL.
    Postgres { admin_url: String, name: String },
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let scheme_end = base.find("://").context("a database URL has a scheme")? + 3;
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

impl ScratchDatabase {
    /// Makes a scratch database: `None` → a new SQLite file in the temp directory;
    /// `postgres://…` → a new database on that server; `sqlite:…` → that database, kept.
    pub async fn create(base: Option<&str>) -> anyhow::Result<Self> {
        match base {
            None => {
                let path = std::env::temp_dir().join(format!("quorum-{}.db", unique_suffix()));
                Ok(ScratchDatabase {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    cleanup: Cleanup::SqliteFile(path),
                })
            }
            Some(url) if url.starts_with("postgres") => {
                let name = format!("quorum_scratch_{}", unique_suffix());
                let mut conn = sqlx::postgres::PgConnection::connect(url)
                    .await
                    .with_context(|| format!("cannot connect to {url}"))?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("cannot create database {name}"))?;
                conn.close().await?;
                Ok(ScratchDatabase {
                    url: with_database(url, &name)?,
                    cleanup: Cleanup::Postgres {
                        admin_url: url.to_owned(),
                        name,
                    },
                })
            }
            Some(url) => Ok(ScratchDatabase {
                url: url.to_owned(),
                cleanup: Cleanup::Keep,
            }),
        }
    }

    /// The URL to hand to `quorum serve --database-url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Removes the database. Servers using it must have stopped.
    pub async fn drop_database(self) -> anyhow::Result<()> {
        match self.cleanup {
            Cleanup::Keep => {}
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let mut conn = sqlx::postgres::PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_swapped_in_urls() {
        let cases = [
            ("postgres://u@h:5432/test", "postgres://u@h:5432/x"),
            (
                "postgres://u@h/test?sslmode=disable",
                "postgres://u@h/x?sslmode=disable",
            ),
            ("postgres://h", "postgres://h/x"),
        ];
        for (input, want) in cases {
            assert_eq!(with_database(input, "x").unwrap(), want, "{input}");
        }
    }
}
