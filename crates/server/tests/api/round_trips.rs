//! Round trips to PostgreSQL per request. On PostgreSQL each statement is a round trip between
//! `quorum serve` and the database, and on a small machine their CPU on both sides (not the
//! database's work) bounds labels per second: the counts are a contract, measured here at the
//! wire by a proxy that reads the server's messages. A statement ends in `Sync` after `Execute`
//! (or is a simple `Query`); a `Sync` alone is sqlx's ping, which it sends on every connection
//! it takes back into its pool.

use crate::support::{item_ids, postgres_url, submit, Env};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Round trips the server started: statements, and pings of connections back in the pool.
#[derive(Default)]
struct Counts {
    statements: AtomicU64,
    pings: AtomicU64,
}

/// A TCP proxy in front of PostgreSQL counting the round trips its clients start.
struct Proxy {
    port: u16,
    upstream: String,
    counts: Arc<Counts>,
}

impl Proxy {
    /// Listens on a free port and forwards every connection to `upstream` (host:port).
    async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = Arc::new(Counts::default());
        let (to, count) = (upstream.to_owned(), counts.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&to).await.unwrap();
                tokio::spawn(forward(client, server, count.clone()));
            }
        });
        Proxy {
            port,
            upstream: upstream.to_owned(),
            counts,
        }
    }

    /// `url` pointed at the proxy, without TLS (the proxy reads the messages).
    fn route(&self, url: &str) -> String {
        let url = url.replacen(&self.upstream, &format!("127.0.0.1:{}", self.port), 1);
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}sslmode=disable")
    }

    /// (statements, pings) so far.
    fn counts(&self) -> (u64, u64) {
        (
            self.counts.statements.load(Ordering::SeqCst),
            self.counts.pings.load(Ordering::SeqCst),
        )
    }
}

/// Copies both ways, counting the client's round trips: a `Sync` ('S') or a simple `Query`
/// ('Q') each (the client waits for `ReadyForQuery`); a `Sync` right after an `Execute` ('E')
/// ends a statement, one without is a ping.
async fn forward(client: TcpStream, server: TcpStream, count: Arc<Counts>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    });
    let mut pending: Vec<u8> = Vec::new();
    // Until the startup message: untyped messages (an SSL request, then the startup).
    let mut startup = true;
    let mut executed = false;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match client_read.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if server_write.write_all(&chunk[..n]).await.is_err() {
            return;
        }
        pending.extend_from_slice(&chunk[..n]);
        loop {
            let header = if startup { 0 } else { 1 };
            if pending.len() < header + 4 {
                break;
            }
            let len = u32::from_be_bytes(pending[header..header + 4].try_into().unwrap()) as usize;
            if pending.len() < header + len {
                break;
            }
            if startup {
                // Protocol 3.0's startup message; anything else (the SSL request) comes before.
                startup = u32::from_be_bytes(pending[4..8].try_into().unwrap()) != 196_608;
            } else {
                let counter = match pending[0] {
                    b'Q' => Some(&count.statements),
                    b'S' if executed => Some(&count.statements),
                    b'S' => Some(&count.pings),
                    _ => None,
                };
                if let Some(c) = counter {
                    c.fetch_add(1, Ordering::SeqCst);
                }
                executed = match pending[0] {
                    b'E' => true,
                    b'S' | b'Q' => false,
                    _ => executed,
                };
            }
            pending.drain(..header + len);
        }
    }
}

/// The `host:port` of a PostgreSQL URL.
fn host_port(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap();
    let rest = rest.rsplit('@').next().unwrap();
    rest.split(['/', '?']).next().unwrap().to_owned()
}

/// A label through `/sync` costs nine statements: the token, one read of the op's stored answer
/// with the task and the caller's roles, and the claim (`BEGIN`, the seat and item read, one
/// statement for the label, its seat and the op's answer, the votes, the item, whether the task
/// is finished (the label finished its item: overlap 1), `COMMIT`); and three pings, one per
/// connection taken from the pool. It was thirteen statements and five pings: the stored
/// answer, the task and the roles were three reads on three connections, and the label, its
/// seat and the answer three writes.
#[tokio::test]
async fn a_label_makes_nine_statements_on_postgres() {
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run it");
        return;
    };
    let proxy = Proxy::start(&host_port(&pg)).await;
    let env = Env::start_routed(&pg, |url| proxy.route(url)).await;
    let (project, dataset) = env.project_with_items(40).await;
    let (worker, token) = env.user("counted", project, &["annotator"]).await;
    let task = env
        .pull_task(
            project,
            dataset,
            &[worker],
            1,
            json!({"worker_strategy": {"type": "pull", "batch_size": 10, "workers_per_input": 1}}),
        )
        .await;
    // The first rounds prepare the statements on the pool's connections; background sweeps may
    // add a statement to any round, so the cheapest round counts.
    let mut per_label = Vec::new();
    for round in 0..4 {
        let batch = env
            .ok(
                &token,
                "POST",
                &format!("/tasks/{task}/batches"),
                Some(json!({})),
            )
            .await;
        let lease = batch["lease_id"].as_i64().unwrap();
        let items = item_ids(&batch);
        assert_eq!(items.len(), 10, "{batch}");
        let before = proxy.counts();
        for item in &items {
            let op = submit(&format!("r{round}-{item}"), task, *item, lease, "cat");
            let answer = env
                .ok(&token, "POST", "/sync", Some(json!({"ops": [op]})))
                .await;
            assert_eq!(answer["results"][0]["status"], "applied", "{answer}");
        }
        let after = proxy.counts();
        let n = items.len() as f64;
        per_label.push((
            (after.0 - before.0) as f64 / n,
            (after.1 - before.1) as f64 / n,
        ));
    }
    eprintln!("(statements, pings) per label, by round: {per_label:?}");
    let best = |f: fn(&(f64, f64)) -> f64| per_label[1..].iter().map(f).fold(f64::MAX, f64::min);
    let (statements, pings) = (best(|c| c.0), best(|c| c.1));
    assert!(
        statements <= 9.0,
        "{statements} statements a label: {per_label:?}"
    );
    // A background sweep may return a connection during a round.
    assert!(pings < 4.0, "{pings} pings a label: {per_label:?}");
    env.stop().await;
}
