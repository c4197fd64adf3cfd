//! A `quorum serve` child process on a free port, for tests and benchmarks that talk to a real
//! server over HTTP (and crash it).

use anyhow::{bail, Context};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A `quorum serve` child process.
pub struct ServerProcess {
    /// The process; killing it (SIGKILL) is how the crash tests crash it.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl ServerProcess {
    /// Starts `exe serve --demo` on `database_url` at a free port and waits for it to listen.
    pub async fn start(exe: &std::path::Path, database_url: &str) -> anyhow::Result<Self> {
        Self::start_at(exe, database_url, "127.0.0.1:0").await
    }

    /// Like [`ServerProcess::start`] on a given address (a restart after a crash keeps its port).
    pub async fn start_at(
        exe: &std::path::Path,
        database_url: &str,
        addr: &str,
    ) -> anyhow::Result<Self> {
        Self::start_with(exe, database_url, addr, &[]).await
    }

    /// Like [`ServerProcess::start_at`] with more `serve` arguments (e.g. `--web-dir DIR`).
    pub async fn start_with(
        exe: &std::path::Path,
        database_url: &str,
        addr: &str,
        extra: &[&std::ffi::OsStr],
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(exe);
        command
            .args(["serve", "--demo", "--addr", addr, "--database-url"])
            .arg(database_url)
            .args(extra);
        if let Some(dir) = media_dir_for(database_url, extra) {
            command.arg("--media-dir").arg(dir);
        }
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return Ok(url.trim().to_owned());
                }
            }
            bail!("the server exited before it listened")
        })
        .await
        .context("the server did not start listening within 120 s")??;
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ServerProcess { child, url })
    }

    /// Kills the process at once (SIGKILL on Unix) and reaps it.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// Where a server on a PostgreSQL scratch database keeps media unless told: `quorum serve`'s
/// default for PostgreSQL is `quorum.media` in the working directory, which for tests is the
/// source tree. One directory per database, so servers on the same database (a restart, a
/// second replica) share it.
fn media_dir_for(database_url: &str, extra: &[&std::ffi::OsStr]) -> Option<std::path::PathBuf> {
    if !database_url.starts_with("postgres") || extra.iter().any(|a| *a == "--media-dir") {
        return None;
    }
    let name = database_url.rsplit('/').next()?.split('?').next()?;
    Some(std::env::temp_dir().join(format!("quorum-media-{name}")))
}
