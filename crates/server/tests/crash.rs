//! Invariant 3 under SIGKILL: annotators keep labeling while the server is killed and restarted
//! on the same database; afterwards every acknowledged submission is in the database, overlap
//! was never exceeded and no worker holds an item twice — on SQLite and on PostgreSQL.

use quorum_server::invariants;
use quorum_server::loadgen::{self, Api, TaskShape};
use quorum_testkit::{ScratchDatabase, ServerProcess};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const EXE: &str = env!("CARGO_BIN_EXE_quorum");

async fn crash_round(base: Option<&str>, kill_after_ms: u64) {
    let db = ScratchDatabase::create(base).await.unwrap();
    let server = ServerProcess::start(Path::new(EXE), db.url())
        .await
        .unwrap();
    let addr = server.url.trim_start_matches("http://").to_owned();
    let http = reqwest::Client::new();
    let admin = Api::new(http, &server.url, "demo-admin");
    let shape = TaskShape {
        items: 3000,
        annotators: 8,
        overlap: 2,
        batch_size: 5,
        lease_seconds: 30,
    };
    let setup = loadgen::setup(&admin, &shape, "crash").await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let run = {
        let (admin, setup, stop) = (admin.clone(), setup.clone(), stop.clone());
        tokio::spawn(async move {
            loadgen::run_annotators(&admin, &setup, Duration::from_secs(8), stop).await
        })
    };
    tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
    let url = db.url().to_owned();
    let acked_before = invariants::check(&url, setup.task_id, &[]).await.unwrap();
    server.kill().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarted = ServerProcess::start_at(Path::new(EXE), &url, &addr)
        .await
        .unwrap();
    let stats = run.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    eprintln!(
        "kill at {kill_after_ms} ms: {} acked, {} failed requests",
        stats.acked.len(),
        stats.failed_requests
    );
    assert!(
        stats.failed_requests > 0,
        "the kill interrupted work in flight"
    );
    assert!(!stats.acked.is_empty());
    let v = invariants::check(&url, setup.task_id, &stats.acked)
        .await
        .unwrap();
    assert_eq!(
        v.total(),
        0,
        "after a kill at {kill_after_ms} ms: {v:?} (before: {acked_before:?})"
    );
    restarted.kill().await.ok();
    db.drop_database().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_acknowledged() {
    // Kill points vary between rounds so the crash lands in different phases of requests.
    for kill_after_ms in [300, 1100] {
        crash_round(None, kill_after_ms).await;
        if let Ok(pg) = std::env::var("QUORUM_TEST_DATABASE_URL") {
            crash_round(Some(&pg), kill_after_ms).await;
        }
    }
}
