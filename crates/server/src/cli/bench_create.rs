//! `quorum bench create`: how long uploading a big dataset and creating tasks over it take, on a
//! fresh database and on one that already holds millions of labels, and how interactive the big
//! task's pages stay. The last line is machine-readable:
//! `upload_items_per_s=<x> create_empty_s=<y> create_loaded_s=<z> ratio=<r>`.

use crate::db::Db;
use crate::loadgen::{upload_ndjson, wait_for_job, Api, Body};
use anyhow::{bail, Context};
use clap::Args;
use quorum_testkit::{ScratchDatabase, ServerProcess};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Arguments of `quorum bench create`.
#[derive(Args, Debug)]
pub struct BenchCreateArgs {
    /// Database to run on. Default: a scratch SQLite file. For a postgres:// URL the benchmark
    /// creates (and afterwards drops) a scratch database on that server.
    #[arg(long)]
    database_url: Option<String>,
    /// Items uploaded and put in each task.
    #[arg(long, default_value_t = 1_000_000)]
    items: usize,
    /// Labels written into the database between the first and the second task.
    #[arg(long, default_value_t = 3_000_000)]
    labels: usize,
}

/// Runs the benchmark.
pub fn run(args: BenchCreateArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(bench(args))
}

async fn bench(args: BenchCreateArgs) -> anyhow::Result<()> {
    if args.items == 0 {
        bail!("--items must be at least 1");
    }
    let db = ScratchDatabase::create(args.database_url.as_deref()).await?;
    let server = ServerProcess::start(&std::env::current_exe()?, db.url()).await?;
    let api = Api::new(
        reqwest::Client::builder()
            .timeout(Duration::from_secs(3600))
            .build()?,
        &server.url,
        "demo-admin",
    );
    let result = measure(&api, db.url(), &args, server.child.id()).await;
    drop(server);
    db.drop_database().await?;
    result
}

async fn measure(
    api: &Api,
    url: &str,
    args: &BenchCreateArgs,
    server_pid: Option<u32>,
) -> anyhow::Result<()> {
    let project = post(api, "/projects", json!({ "name": "bench create" })).await?;
    let project_id = id(&project)?;
    let dataset = post(
        api,
        &format!("/projects/{project_id}/datasets"),
        json!({ "name": "bench items" }),
    )
    .await?;
    let dataset_id = id(&dataset)?;

    // One upload, as a manager would send a big NDJSON file: it runs as an import job.
    let body: String = (0..args.items)
        .map(|i| format!("{{\"external_id\":\"b{i}\",\"data\":\"bench item {i}\"}}\n"))
        .collect();
    println!(
        "uploading {} items ({:.1} MB of NDJSON)",
        args.items,
        body.len() as f64 / 1e6
    );
    let started = Instant::now();
    upload_ndjson(api, dataset_id, body).await?;
    let upload_s = started.elapsed().as_secs_f64();
    let upload_rate = args.items as f64 / upload_s;
    println!("upload: {upload_s:.2} s, {upload_rate:.0} items/s");

    let (first, create_empty) = create_task(api, project_id, dataset_id, "first").await?;
    println!(
        "task over {} items, 0 labels in the database: {create_empty:.2} s",
        args.items
    );

    let written = write_labels(url, first, args.labels).await?;
    println!("wrote {written} labels into the database");
    let (second, create_loaded) = create_task(api, project_id, dataset_id, "second").await?;
    println!(
        "task over {} items, {written} labels in the database: {create_loaded:.2} s",
        args.items
    );

    // An annotator of the project, whose home page lists both tasks (open to every annotator)
    // with what is left for them in each.
    let user = post(api, "/users", json!({ "name": "bench annotator" })).await?;
    let user_id = user["user"]["id"].as_i64().context("no user id")?;
    api.send(
        reqwest::Method::PUT,
        &format!("/projects/{project_id}/members/{user_id}"),
        Body::Json(json!({ "roles": ["annotator"] })),
    )
    .await?;
    let annotator = api.with_token(user["token"].as_str().context("no token")?);

    // What a manager (and an annotator) opens next on the big task: it must stay interactive.
    for (who, what, path) in [
        (api, "task page", format!("/tasks/{second}")),
        (api, "progress", format!("/tasks/{second}/progress")),
        (api, "task list", format!("/tasks?project_id={project_id}")),
        (
            api,
            "items page",
            format!("/projects/{project_id}/items?limit=50"),
        ),
        (
            api,
            "results page",
            format!("/tasks/{first}/results?limit=50"),
        ),
        (&annotator, "my tasks", "/me/tasks".to_owned()),
    ] {
        let started = Instant::now();
        let got = who.send(reqwest::Method::GET, &path, Body::None).await;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        match got {
            Ok(_) => println!("{what:>13}: {ms:.0} ms"),
            Err(e) => println!("{what:>13}: failed after {ms:.0} ms: {e}"),
        }
    }
    // The server's peak memory is reset first, so what is read after is the export's.
    let peak = server_pid.map(PeakMemory::reset);
    let started = Instant::now();
    let export = post(
        api,
        &format!("/tasks/{first}/exports"),
        json!({ "format": "json" }),
    )
    .await?;
    wait_for_job(api, &export).await?;
    println!(
        "{:>13}: {:.1} s (JSON, {} items with {written} labels); server's peak memory {}",
        "export job",
        started.elapsed().as_secs_f64(),
        args.items,
        peak.and_then(|p| p.read())
            .map_or("unknown".to_owned(), |kb| format!(
                "{:.0} MB",
                kb as f64 / 1024.0
            )),
    );
    let archive = archive_task(api, first, server_pid).await?;
    println!(
        "{:>13}: {:.1} s ({} items with {written} labels, ready: {}); server's peak memory {}; \
         {} writes meanwhile, the slowest {:.0} ms",
        "archive",
        archive.seconds,
        args.items,
        archive.ready,
        archive.peak_kb.map_or("unknown".to_owned(), |kb| format!(
            "{:.0} MB",
            kb as f64 / 1024.0
        )),
        archive.probes,
        archive.slowest_probe_ms,
    );
    let ratio = create_loaded / create_empty.max(1e-9);
    println!(
        "upload_items_per_s={upload_rate:.0} create_empty_s={create_empty:.2} \
         create_loaded_s={create_loaded:.2} ratio={ratio:.2}"
    );
    Ok(())
}

/// What archiving the big task cost.
struct Archived {
    seconds: f64,
    ready: bool,
    peak_kb: Option<u64>,
    /// Small writes made while the archive ran (a project's creation, one at a time).
    probes: usize,
    /// The slowest of them: how long other work waited for the archive.
    slowest_probe_ms: f64,
}

/// Archives `task` (the labeled one, last: it no longer changes after) while another client
/// keeps making small writes, one at a time, to see whether the archive holds them up.
async fn archive_task(api: &Api, task: i64, server_pid: Option<u32>) -> anyhow::Result<Archived> {
    let peak = server_pid.map(PeakMemory::reset);
    let started = Instant::now();
    let archiving = {
        let api = api.clone();
        tokio::spawn(async move { post(&api, "/tasks/archive", json!({ "ids": [task] })).await })
    };
    let (mut probes, mut slowest) = (0, 0.0_f64);
    while !archiving.is_finished() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let asked = Instant::now();
        post(
            api,
            "/projects",
            json!({ "name": format!("probe {probes}") }),
        )
        .await?;
        slowest = slowest.max(asked.elapsed().as_secs_f64() * 1e3);
        probes += 1;
    }
    let made = archiving.await??;
    Ok(Archived {
        seconds: started.elapsed().as_secs_f64(),
        ready: made["archives"][0]["ready"] == true,
        peak_kb: peak.and_then(|p| p.read()),
        probes,
        slowest_probe_ms: slowest,
    })
}

async fn post(api: &Api, path: &str, body: Value) -> anyhow::Result<Value> {
    api.send(reqwest::Method::POST, path, Body::Json(body))
        .await
}

fn id(v: &Value) -> anyhow::Result<i64> {
    v["id"].as_i64().with_context(|| format!("no id in {v}"))
}

/// Creates a pull task over the dataset and returns its id and the seconds the request took.
async fn create_task(
    api: &Api,
    project_id: i64,
    dataset_id: i64,
    name: &str,
) -> anyhow::Result<(i64, f64)> {
    let started = Instant::now();
    let task = post(
        api,
        &format!("/projects/{project_id}/tasks"),
        json!({
            "name": format!("bench create {name}"),
            "schema": { "annotation_type": "classification", "concepts": ["a", "b", "c"] },
            "input": { "type": "dataset", "dataset_id": dataset_id },
            "worker_strategy": { "type": "pull", "batch_size": 10, "workers_per_input": 3 },
            "seed": 7,
        }),
    )
    .await?;
    Ok((id(&task)?, started.elapsed().as_secs_f64()))
}

/// Writes `labels` annotations on the task straight into the database (three workers per item,
/// a third of the items approved), as months of labeling would have left them.
async fn write_labels(url: &str, task: i64, labels: usize) -> anyhow::Result<usize> {
    let db = Db::connect(url).await?;
    let per_item = 3;
    let items = labels.div_ceil(per_item) as i64;
    let started = Instant::now();
    let n = crate::store::bench::write_labels(&mut db.scan(), task, items).await?;
    println!(
        "(writing labels took {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(n as usize)
}

/// A process's peak resident memory since a point (Linux: `clear_refs` resets `VmHWM`).
struct PeakMemory(u32);

impl PeakMemory {
    fn reset(pid: u32) -> PeakMemory {
        // Where the kernel does not offer the reset, the peak read is the process's whole life's.
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        PeakMemory(pid)
    }

    /// The peak in kB, where the system says.
    fn read(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}
