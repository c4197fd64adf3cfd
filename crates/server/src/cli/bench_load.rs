//! `quorum bench load`: simulated annotators against a real server, then the invariants checked
//! in the database. The last line is machine-readable:
//! `annotations_per_s=<x> lease_p99_ms=<y> submit_p99_ms=<z> violations=<n>`.

use crate::loadgen::{self, percentile_ms, Api, TaskShape};
use anyhow::{bail, Context};
use clap::Args;
use quorum_testkit::{ScratchDatabase, ServerProcess};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `quorum bench load`.
#[derive(Args, Debug)]
pub struct BenchLoadArgs {
    /// Target a running server instead of starting one (needs --token and --database-url to
    /// check the invariants).
    #[arg(long)]
    url: Option<String>,
    /// Admin token for --url.
    #[arg(long, env = "QUORUM_TOKEN")]
    token: Option<String>,
    /// Database to run on. Default: a scratch SQLite file. For a postgres:// URL the benchmark
    /// creates (and afterwards drops) a scratch database on that server, unless --url is given.
    #[arg(long)]
    database_url: Option<String>,
    /// Items in the task.
    #[arg(long, default_value_t = 100_000)]
    items: usize,
    /// Simulated annotators.
    #[arg(long, default_value_t = 20)]
    annotators: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Server processes on one database (more than one needs PostgreSQL).
    #[arg(long, default_value_t = 1)]
    servers: usize,
    /// Distinct annotators per item.
    #[arg(long, default_value_t = 3)]
    overlap: u32,
    /// Items per leased batch.
    #[arg(long, default_value_t = 10)]
    batch_size: u32,
    /// `serve --pg-connections` for each server started (default: serve's own).
    #[arg(long)]
    pg_connections: Option<u16>,
}

/// Runs the benchmark.
pub fn run(args: BenchLoadArgs) -> anyhow::Result<()> {
    // One client thread: the server under test gets the machine's other core(s).
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(bench(args))
}

async fn bench(args: BenchLoadArgs) -> anyhow::Result<()> {
    if args.servers == 0 || args.annotators == 0 || args.items == 0 {
        bail!("--servers, --annotators and --items must be at least 1");
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.annotators)
        .build()?;
    let mut servers = Vec::new();
    let mut scratch = None;
    let (urls, token, database_url) = match &args.url {
        Some(url) => (
            vec![url.clone()],
            args.token.clone().context("--url needs --token")?,
            args.database_url.clone(),
        ),
        None => {
            let db = ScratchDatabase::create(args.database_url.as_deref()).await?;
            if args.servers > 1 && !db.url().starts_with("postgres") {
                bail!("--servers > 1 needs a postgres:// --database-url");
            }
            let exe = std::env::current_exe()?;
            let extra: Vec<std::ffi::OsString> = match args.pg_connections {
                Some(n) => vec!["--pg-connections".into(), n.to_string().into()],
                None => Vec::new(),
            };
            let extra: Vec<&std::ffi::OsStr> = extra.iter().map(|a| a.as_os_str()).collect();
            for _ in 0..args.servers {
                servers
                    .push(ServerProcess::start_with(&exe, db.url(), "127.0.0.1:0", &extra).await?);
            }
            let url = db.url().to_owned();
            scratch = Some(db);
            (
                servers.iter().map(|s| s.url.clone()).collect(),
                "demo-admin".to_owned(),
                Some(url),
            )
        }
    };
    println!(
        "setting up: {} items, {} annotators, overlap {}, {} server(s)",
        args.items,
        args.annotators,
        args.overlap,
        urls.len()
    );
    let admin = Api::new(http.clone(), &urls[0], &token);
    let shape = TaskShape {
        items: args.items,
        annotators: args.annotators,
        overlap: args.overlap,
        batch_size: args.batch_size,
        lease_seconds: 600,
    };
    let label = format!("{}", std::process::id());
    let setup = loadgen::setup(&admin, &shape, &label).await?;
    // Annotators are spread over the servers round-robin.
    let mut runs = Vec::new();
    for (i, server_url) in urls.iter().enumerate() {
        let part = loadgen::Setup {
            task_id: setup.task_id,
            annotators: setup
                .annotators
                .iter()
                .skip(i)
                .step_by(urls.len())
                .cloned()
                .collect(),
        };
        let api = Api::new(http.clone(), server_url, &token);
        let duration = Duration::from_secs(args.duration);
        runs.push(tokio::spawn(async move {
            loadgen::run_annotators(&api, &part, duration, Arc::new(AtomicBool::new(false))).await
        }));
    }
    println!("running for {} s", args.duration);
    let mut stats = loadgen::RunStats::default();
    for run in runs {
        let run = run.await?;
        stats.acked.extend(run.acked);
        stats.lease_latency.extend(run.lease_latency);
        stats.submit_latency.extend(run.submit_latency);
        stats.rejected.extend(run.rejected);
        stats.failed_requests += run.failed_requests;
        stats.elapsed = stats.elapsed.max(run.elapsed);
    }
    let per_s = stats.acked.len() as f64 / stats.elapsed.as_secs_f64();
    let lease = |q| percentile_ms(&mut stats.lease_latency.clone(), q);
    let (l50, l95, l99) = (lease(0.5), lease(0.95), lease(0.99));
    let submit = |q| percentile_ms(&mut stats.submit_latency.clone(), q);
    let (s50, s95, s99) = (submit(0.5), submit(0.95), submit(0.99));
    println!(
        "annotations acknowledged: {} in {:.1} s; rejected ops: {}; failed requests: {}",
        stats.acked.len(),
        stats.elapsed.as_secs_f64(),
        stats.rejected.len(),
        stats.failed_requests
    );
    println!("lease latency ms:  p50={l50:.2} p95={l95:.2} p99={l99:.2}");
    println!("submit latency ms: p50={s50:.2} p95={s95:.2} p99={s99:.2}");
    for server in servers {
        server.kill().await?;
    }
    let violations = match &database_url {
        Some(url) => {
            let found = crate::invariants::check(url, setup.task_id, &stats.acked).await?;
            println!("items over overlap: {}", found.over_overlap);
            println!("items given twice to one worker: {}", found.duplicate_seats);
            println!("acknowledged submissions missing: {}", found.missing_acked);
            println!("item counts off: {}", found.miscounted);
            found.total()
        }
        None => {
            println!("invariants not checked: give --database-url with --url");
            0
        }
    };
    if let Some(db) = scratch {
        db.drop_database().await?;
    }
    println!(
        "annotations_per_s={per_s:.0} lease_p99_ms={l99:.2} submit_p99_ms={s99:.2} violations={violations}"
    );
    if violations > 0 {
        bail!("{violations} invariant violation(s)");
    }
    Ok(())
}
