//! `quorum import --files DIR`: uploads the image and video files under a directory as items,
//! a few at a time (multipart), each sub-directory becoming the items' directory. What the
//! server refuses (not an image or video) is reported per file, like a row of a data upload.

use super::client::{block_on, Client, ConnArgs};
use anyhow::Context;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Files per request, and bytes per request: small enough to retry, big enough to be quick.
const FILES_PER_REQUEST: usize = 100;
const BYTES_PER_REQUEST: u64 = 256 * 1024 * 1024;

/// Every regular file under `dir` with its item directory (`/` for `dir` itself), sorted.
fn walk(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf, u64)>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && !entry.file_name().to_string_lossy().starts_with('.') {
                let rel = d.strip_prefix(dir).unwrap_or(Path::new(""));
                let item_dir = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
                out.push((item_dir, path, entry.metadata()?.len()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs the upload and prints the merged summary.
pub fn run(dataset: i64, dir: &Path, conn: &ConnArgs) -> anyhow::Result<()> {
    let files = walk(dir)?;
    anyhow::ensure!(!files.is_empty(), "no files under {}", dir.display());
    let client = Client::new(conn)?;
    block_on(async move {
        let mut total =
            json!({"inserted": 0, "updated": 0, "unchanged": 0, "failed": 0, "errors": []});
        let mut batch: Vec<&(String, PathBuf, u64)> = Vec::new();
        let mut bytes = 0;
        for (i, file) in files.iter().enumerate() {
            let next_differs = files.get(i + 1).is_none_or(|n| n.0 != file.0);
            batch.push(file);
            bytes += file.2;
            if next_differs || batch.len() == FILES_PER_REQUEST || bytes >= BYTES_PER_REQUEST {
                let summary = send(&client, dataset, &batch).await?;
                merge(&mut total, &summary);
                batch.clear();
                bytes = 0;
            }
        }
        super::import::report(&total)
    })
}

async fn send(
    client: &Client,
    dataset: i64,
    batch: &[&(String, PathBuf, u64)],
) -> anyhow::Result<Value> {
    let mut form = reqwest::multipart::Form::new();
    for (_, path, _) in batch {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name),
        );
    }
    let req = client
        .request(Method::POST, &format!("/datasets/{dataset}/media"))
        .query(&[("directory", batch[0].0.as_str())])
        .multipart(form);
    Ok(super::import::send_upload(req).await?.1)
}

/// Adds one request's counts and errors to the running total.
fn merge(total: &mut Value, summary: &Value) {
    for k in ["inserted", "updated", "unchanged", "failed"] {
        total[k] = json!(total[k].as_i64().unwrap_or(0) + summary[k].as_i64().unwrap_or(0));
    }
    if let (Some(all), Some(more)) = (total["errors"].as_array_mut(), summary["errors"].as_array())
    {
        all.extend(more.iter().cloned());
    }
}
