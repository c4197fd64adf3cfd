//! `quorum import`: uploads a file of items to a dataset over HTTP and reports what happened to
//! each row; big uploads become a server job, which `--wait` follows to its summary.

use super::client::{api_error, block_on, ensure_complete, messages, Client, ConnArgs, WaitArgs};
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use reqwest::Method;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Arguments of `quorum import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The dataset to add the items to.
    #[arg(long, required_unless_present = "task")]
    dataset: Option<i64>,
    /// Send a Label Studio export's labels to this task as predictions instead (first upload
    /// the export to a dataset with --format label_studio, then create the task over it; video
    /// tracks land on the task's sampled frames).
    #[arg(long, conflicts_with_all = ["dataset", "files"])]
    task: Option<i64>,
    /// The name the task keeps those labels under (with --task; `label-studio` by default).
    #[arg(long, requires = "task")]
    model: Option<String>,
    /// The file to upload (`-` reads standard input).
    #[arg(required_unless_present = "files")]
    file: Option<PathBuf>,
    /// Upload every image and video file under this directory instead (each becomes an item;
    /// sub-directories become item directories).
    #[arg(long, conflicts_with_all = ["file", "format"])]
    files: Option<PathBuf>,
    /// The file's format; by default from its extension (.json, .ndjson/.jsonl, .csv).
    #[arg(long, value_enum)]
    format: Option<UploadFormat>,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    conn: ConnArgs,
}

/// The upload formats the server accepts.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
#[value(rename_all = "snake_case")]
enum UploadFormat {
    Json,
    Ndjson,
    Csv,
    LabelStudio,
}

impl UploadFormat {
    /// The `?format=` name and the matching content type.
    fn wire(self) -> (&'static str, &'static str) {
        match self {
            UploadFormat::Json => ("json", "application/json"),
            UploadFormat::Ndjson => ("ndjson", "application/x-ndjson"),
            UploadFormat::Csv => ("csv", "text/csv"),
            UploadFormat::LabelStudio => ("label_studio", "application/vnd.label-studio+json"),
        }
    }

    /// Guesses from the extension; Label Studio exports are `.json` too, so they need --format.
    fn from_path(path: &Path) -> Option<UploadFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(UploadFormat::Json),
            "ndjson" | "jsonl" => Some(UploadFormat::Ndjson),
            "csv" => Some(UploadFormat::Csv),
            _ => None,
        }
    }
}

/// Runs `quorum import`.
pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let file = args.file.clone();
    if let (Some(task), Some(file)) = (args.task, &file) {
        if args.format.is_some_and(|f| f != UploadFormat::LabelStudio) {
            bail!("--task takes a Label Studio export (--format label_studio)");
        }
        return send_predictions(task, args.model.as_deref(), file, &args.conn);
    }
    let dataset = args.dataset.context("name the dataset: --dataset ID")?;
    if let Some(dir) = &args.files {
        return super::import_files::run(dataset, dir, &args.conn);
    }
    let file = file.context("name the file to upload, or --files DIR")?;
    let format = match args.format {
        Some(f) => f,
        None => UploadFormat::from_path(&file).with_context(|| {
            format!(
                "cannot tell the format of {}: pass --format json|ndjson|csv|label_studio",
                file.display()
            )
        })?,
    };
    let body = read_input(&file)?;
    block_on(async move {
        let client = Client::new(&args.conn)?;
        let (name, content_type) = format.wire();
        let req = client
            .request(Method::POST, &format!("/datasets/{dataset}/items"))
            .query(&[("format", name)])
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        let (status, summary) = send_upload(req).await?;
        let job_id = summary["job_id"].as_i64();
        let summary = match job_id {
            Some(job) if status == 202 => {
                if !args.wait.wait {
                    println!(
                        "the upload runs as job {job}; follow it with `quorum jobs wait {job}`"
                    );
                    return Ok(());
                }
                let done = client.wait_job(job, args.wait.poll).await?;
                ensure_complete(&done)?;
                let result = client.job_result(job).await?;
                serde_json::from_str(&result)
                    .with_context(|| format!("job {job}'s result is not JSON: {result}"))?
            }
            _ => summary,
        };
        report(&summary)
    })
}

/// `quorum import --task ID FILE`: a Label Studio export's labels as the task's predictions;
/// prints the counts and each row the server could not use, and fails when none was stored.
fn send_predictions(
    task: i64,
    model: Option<&str>,
    file: &Path,
    conn: &ConnArgs,
) -> anyhow::Result<()> {
    let body = read_input(file)?;
    block_on(async move {
        let client = Client::new(conn)?;
        let mut req = client
            .request(
                Method::POST,
                &format!("/tasks/{task}/predictions/label-studio"),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(model) = model {
            req = req.query(&[("model", model)]);
        }
        let answer = client.json(req).await?;
        let counts = &answer["counts"];
        let count = |k: &str| counts[k].as_u64().unwrap_or(0);
        println!(
            "model {}: accepted {}, to people {}, unchanged {}, failed {}",
            answer["model"].as_str().unwrap_or("?"),
            count("accepted"),
            count("to_people"),
            count("unchanged"),
            count("failed")
        );
        for row in answer["rows"].as_array().into_iter().flatten() {
            if let Some(message) = row["message"].as_str() {
                println!("row {}: {message}", row["row"]);
            }
        }
        if count("accepted") + count("to_people") + count("unchanged") == 0 {
            bail!("no label could be imported");
        }
        Ok(())
    })
}

/// Sends an upload and reads its summary (status and counts); anything else is the server's
/// error. A 422 with counts is an upload whose every row failed: still a summary to show.
pub(super) async fn send_upload(req: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
    let resp = req
        .send()
        .await
        .context("cannot reach the server (check --url)")?;
    let status = resp.status().as_u16();
    let text = resp.text().await.context("the answer was cut off")?;
    match serde_json::from_str::<Value>(&text) {
        Ok(v) if v.get("inserted").is_some() && (status < 300 || status == 422) => Ok((status, v)),
        _ => Err(api_error(status, &text)),
    }
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        return Ok(buf);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Prints the counts and every row error; fails when no row could be stored at all.
pub(super) fn report(summary: &Value) -> anyhow::Result<()> {
    let count = |k: &str| summary[k].as_i64().unwrap_or(0);
    println!(
        "inserted {}, updated {}, unchanged {}, failed {}",
        count("inserted"),
        count("updated"),
        count("unchanged"),
        count("failed")
    );
    for e in messages(&summary["errors"]) {
        println!("error: {e}");
    }
    for w in messages(&summary["warnings"]) {
        println!("warning: {w}");
    }
    let stored = count("inserted") + count("updated") + count("unchanged");
    if stored == 0 && count("failed") > 0 {
        bail!("no row could be stored");
    }
    Ok(())
}
