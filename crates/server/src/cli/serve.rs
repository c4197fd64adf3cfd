//! `quorum serve`: opens (and migrates) the database, seeds demo data or bootstraps an admin,
//! and serves the API and the web app until interrupted.

use crate::{api, db::Db, demo};
use anyhow::Context;
use clap::builder::TypedValueParser;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `quorum serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8080", env = "QUORUM_ADDR")]
    addr: String,
    /// sqlite://FILE (created on first start) or postgres://USER@HOST/DB.
    #[arg(
        long,
        default_value = "sqlite://quorum.db",
        env = "QUORUM_DATABASE_URL"
    )]
    database_url: String,
    /// Seed a demo project, users and tasks into an empty database.
    #[arg(long)]
    demo: bool,
    /// Seconds between auto-archive sweeps (projects with `auto_archive_days`).
    #[arg(long, default_value_t = 300, env = "QUORUM_AUTO_ARCHIVE_INTERVAL")]
    auto_archive_interval: u64,
    /// Seconds between aggregation sweeps (the default method over tasks with new labels); 0: off.
    #[arg(long, default_value_t = 600, env = "QUORUM_AGGREGATE_INTERVAL")]
    aggregate_interval: u64,
    /// Where uploaded images and videos (and export files) are kept: a directory, or
    /// s3://bucket/prefix (with the usual AWS_* variables) so that several replicas share them.
    /// Default: a directory next to the SQLite file (`quorum.db` → `quorum.media`), or
    /// `quorum.media` here for PostgreSQL.
    #[arg(long, env = "QUORUM_MEDIA_DIR")]
    media_dir: Option<String>,
    /// The built web app to serve at / (Trunk's dist/); omitted: API only.
    #[arg(long, env = "QUORUM_WEB_DIR")]
    web_dir: Option<PathBuf>,
    /// Milliseconds a group of labels (PostgreSQL) waits for a row another transaction holds
    /// before its labels go one at a time, each waiting on its own.
    #[arg(long, default_value_t = 100, env = "QUORUM_LABEL_LOCK_WAIT_MS")]
    label_lock_wait_ms: u32,
    /// PostgreSQL connections this process keeps for labels, leases and point reads (other
    /// work has six more). Replicas on one database share its cores: keep replicas × this
    /// near a few times the database's cores.
    #[arg(long, default_value_t = crate::db::PG_CONNECTIONS, env = "QUORUM_PG_CONNECTIONS",
          value_parser = clap::value_parser!(u16).range(1..).map(usize::from))]
    pg_connections: usize,
}

/// Runs the server.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Logs go to stderr: stdout carries the lines people and tests read (tokens, the address).
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,quorum_server=info".into()),
        )
        .try_init();
    let db = Db::connect_with(&args.database_url, args.pg_connections).await?;
    let media_dir = args
        .media_dir
        .clone()
        .unwrap_or_else(|| default_media_dir(&args.database_url));
    let media = crate::media::MediaStore::open(&media_dir)?;
    if args.demo {
        if demo::seed(&db, &media).await? {
            println!("demo data seeded: sign in with the token demo-manager, demo-annotator-1 or demo-reviewer");
        }
    } else if let Some(token) = bootstrap_admin(&db).await? {
        println!("created the admin user \"admin\"; its token (shown once): {token}");
    }
    // Jobs not touched for ten minutes belonged to a process that died (replicas report often).
    let orphans = api::fail_orphans(&db, 600_000).await?;
    if orphans > 0 {
        println!("marked {orphans} interrupted job(s) failed");
    }
    spawn_sweep("auto-archive", args.auto_archive_interval, {
        let (db, media) = (db.clone(), media.clone());
        move || {
            let (db, media) = (db.clone(), media.clone());
            async move { api::auto_archive(&db, &media).await }
        }
    });
    // Always on, even with auto-archive off: an archive whose writer died must not stay
    // unreadable, its tasks undeletable.
    let every = match args.auto_archive_interval {
        0 => ARCHIVE_FILES_INTERVAL,
        n => n.min(ARCHIVE_FILES_INTERVAL),
    };
    spawn_sweep("archive files", every, {
        let (db, media) = (db.clone(), media.clone());
        move || {
            let (db, media) = (db.clone(), media.clone());
            async move { api::write_archive_files(&db, &media).await }
        }
    });
    spawn_sweep("aggregation", args.aggregate_interval, {
        let db = db.clone();
        move || {
            let db = db.clone();
            async move { api::aggregation_sweep(&db).await }
        }
    });
    spawn_sweep("item counts", COUNTS_INTERVAL, {
        let db = db.clone();
        move || {
            let db = db.clone();
            async move { api::fold_counts(&db).await }
        }
    });
    let web_dir = args.web_dir.or_else(default_web_dir);
    if let Some(dir) = &web_dir {
        println!("web app: {}", dir.display());
    }
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    // Tests and scripts read this line to find the port.
    println!("listening on http://{}", listener.local_addr()?);
    // Small JSON answers go out at once rather than wait to be coalesced (Nagle).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {e}");
        }
    });
    let state = api::AppState::new(db).with_label_lock_wait(args.label_lock_wait_ms);
    axum::serve(listener, api::router(state, media, web_dir))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The media directory beside a SQLite file (`data/quorum.db` → `data/quorum.media`); for
/// other databases, `quorum.media` in the working directory.
fn default_media_dir(database_url: &str) -> String {
    match crate::db::sqlite_path(database_url) {
        Some(file) => {
            let path = std::path::Path::new(file).with_extension("media");
            path.to_string_lossy().into_owned()
        }
        None => "quorum.media".to_owned(),
    }
}

/// Most seconds between looks for archive files whose writer died.
const ARCHIVE_FILES_INTERVAL: u64 = 60;

/// Seconds between folds of tasks' kept item counts: as seldom as the archive files' sweep, so
/// that the busiest sweep adds no statement to most minutes of a server's work.
const COUNTS_INTERVAL: u64 = 60;

/// Runs `sweep` every `every_secs` seconds (0: never). With several replicas each sweeps;
/// the sweeps claim their work in the database (or, as the fold of counts, are safe to run
/// twice), so none is done twice.
fn spawn_sweep<F, Fut>(name: &'static str, every_secs: u64, sweep: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<u64>> + Send,
{
    if every_secs == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(every_secs));
        loop {
            tick.tick().await;
            match sweep().await {
                Ok(0) => {}
                Ok(n) => tracing::info!("{name}: {n} task(s)"),
                Err(e) => tracing::warn!("{name} failed: {e:#}"),
            }
        }
    });
}

/// The first start of an empty database makes an admin so someone can sign in at all.
async fn bootstrap_admin(db: &Db) -> anyhow::Result<Option<String>> {
    let users = crate::store::users::count(&mut db.scan()).await?;
    if users > 0 {
        return Ok(None);
    }
    let (_, token) = api::create_user(db, "admin", true, None)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    Ok(Some(token))
}

/// `dist/` next to the working directory, when the web app was built there.
fn default_web_dir() -> Option<PathBuf> {
    let dist = PathBuf::from("dist");
    dist.join("index.html").exists().then_some(dist)
}
