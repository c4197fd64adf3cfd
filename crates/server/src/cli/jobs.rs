//! `quorum jobs`: list, inspect, cancel and wait for the server's long operations (imports,
//! exports) over HTTP.

use super::client::{block_on, ensure_complete, Client, ConnArgs, PollArgs};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

/// Arguments of `quorum jobs`.
#[derive(Args, Debug)]
pub struct JobsArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Subcommand, Debug)]
enum JobsCommand {
    /// Jobs of the projects you manage, newest first.
    List {
        /// Only jobs with this status.
        #[arg(long, value_parser = crate::store::jobs::JobStatus::ALL.map(|s| s.as_str()))]
        status: Option<String>,
    },
    /// One job as JSON (status, progress, errors).
    Get {
        /// The job's id.
        id: i64,
    },
    /// Asks a running job to stop; it ends `canceled` at its next checkpoint.
    Cancel {
        /// The job's id.
        id: i64,
    },
    /// Waits until the job ends; exits non-zero if it failed, was canceled, or --timeout passed.
    Wait {
        /// The job's id.
        id: i64,
        #[command(flatten)]
        poll: PollArgs,
    },
}

/// Runs `quorum jobs …`.
pub fn run(args: JobsArgs) -> anyhow::Result<()> {
    block_on(async move {
        let client = Client::new(&args.conn)?;
        match args.command {
            JobsCommand::List { status } => {
                // The server pages its answer; the command lists every job.
                let mut jobs = Vec::new();
                let mut cursor: Option<String> = None;
                loop {
                    let mut req = client
                        .request(Method::GET, "/jobs")
                        .query(&[("limit", "500")]);
                    if let Some(s) = &status {
                        req = req.query(&[("status", s)]);
                    }
                    if let Some(c) = &cursor {
                        req = req.query(&[("cursor", c)]);
                    }
                    let out = client.json(req).await?;
                    jobs.extend(out["jobs"].as_array().cloned().unwrap_or_default());
                    match out["next_cursor"].as_str() {
                        Some(next) => cursor = Some(next.to_owned()),
                        None => break,
                    }
                }
                print_table(&jobs);
            }
            JobsCommand::Get { id } => print_json(&client.job(id).await?),
            JobsCommand::Cancel { id } => {
                let job = client
                    .json(client.request(Method::POST, &format!("/jobs/{id}/cancel")))
                    .await?;
                println!("job {id}: {}", job["status"].as_str().unwrap_or_default());
            }
            JobsCommand::Wait { id, poll } => {
                let job = client.wait_job(id, poll).await?;
                print_json(&job);
                ensure_complete(&job)?;
            }
        }
        Ok(())
    })
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn print_table(jobs: &[Value]) {
    if jobs.is_empty() {
        eprintln!("no jobs");
        return;
    }
    println!(
        "{:>6}  {:<8}  {:<11}  {:>8}  {:>7}  {:>6}",
        "id", "kind", "status", "progress", "project", "errors"
    );
    for j in jobs {
        println!(
            "{:>6}  {:<8}  {:<11}  {:>7.0}%  {:>7}  {:>6}",
            j["id"].as_i64().unwrap_or_default(),
            j["kind"].as_str().unwrap_or_default(),
            j["status"].as_str().unwrap_or_default(),
            j["progress"].as_f64().unwrap_or(0.0) * 100.0,
            j["project_id"]
                .as_i64()
                .map_or_else(|| "-".to_owned(), |p| p.to_string()),
            j["errors"].as_array().map_or(0, Vec::len),
        );
    }
}
