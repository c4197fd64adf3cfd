//! `quorum export`: starts a task's export job over HTTP, follows it, and downloads the file.

use super::client::{block_on, ensure_complete, messages, Client, ConnArgs, WaitArgs};
use anyhow::Context;
use clap::{Args, ValueEnum};
use reqwest::Method;
use serde_json::json;
use std::path::PathBuf;

/// Arguments of `quorum export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The task to export.
    #[arg(long)]
    task: i64,
    /// The file format.
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// Write the file here (implies --wait); without it the file goes to standard output when
    /// waiting, else only the job id is printed.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    conn: ConnArgs,
}

/// The export formats the server renders.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
#[value(rename_all = "snake_case")]
enum ExportFormat {
    Json,
    Csv,
    Coco,
    LabelStudio,
}

impl ExportFormat {
    fn wire(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Csv => "csv",
            ExportFormat::Coco => "coco",
            ExportFormat::LabelStudio => "label_studio",
        }
    }
}

/// Runs `quorum export`.
pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    block_on(async move {
        let client = Client::new(&args.conn)?;
        let started = client
            .json(
                client
                    .request(Method::POST, &format!("/tasks/{}/exports", args.task))
                    .json(&json!({ "format": args.format.wire() })),
            )
            .await?;
        let job = started["job_id"]
            .as_i64()
            .with_context(|| format!("the server started no job: {started}"))?;
        if !args.wait.wait && args.out.is_none() {
            // Only the id on stdout, so `job=$(quorum export …)` works.
            println!("{job}");
            eprintln!("export job {job} started; `quorum jobs wait {job}` follows it");
            return Ok(());
        }
        let done = client.wait_job(job, args.wait.poll).await?;
        ensure_complete(&done)?;
        // Items a format cannot hold (e.g. a classification in COCO) are reported, not fatal.
        for e in messages(&done["errors"]) {
            eprintln!("warning: {e}");
        }
        match &args.out {
            Some(path) if !is_plain_file_or_new(path) => {
                // A device or a pipe (`/dev/stdout`): written straight through.
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                client.download_job_file(job, &mut out).await?;
            }
            Some(path) => {
                // Written beside the file, which it replaces only once whole: a download that
                // fails leaves an earlier file of that name as it was.
                let mut part = path.clone().into_os_string();
                part.push(".part");
                let part = PathBuf::from(part);
                let file = std::fs::File::create(&part)
                    .with_context(|| format!("cannot write {}", part.display()))?;
                let mut out = std::io::BufWriter::new(file);
                let got = client.download_job_file(job, &mut out).await;
                drop(out);
                let n = got.inspect_err(|_| {
                    let _ = std::fs::remove_file(&part);
                })?;
                std::fs::rename(&part, path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("export job {job}: wrote {n} bytes to {}", path.display());
            }
            None => {
                client
                    .download_job_file(job, &mut std::io::stdout().lock())
                    .await?;
            }
        }
        Ok(())
    })
}

/// Whether `path` names a regular file or nothing yet (what a `.part` file can replace).
fn is_plain_file_or_new(path: &std::path::Path) -> bool {
    std::fs::metadata(path).map_or(true, |m| m.is_file())
}
