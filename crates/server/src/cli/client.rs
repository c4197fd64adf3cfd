//! The HTTP side of the client subcommands (`import`, `export`, `jobs`): server address and
//! token flags, API error reporting, and Labelbox-style job waiting with a progress bar.

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::{header, Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Where the server is and who is calling.
#[derive(Args, Debug, Clone)]
pub struct ConnArgs {
    /// The server's base URL (without /api/v1).
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:8080",
        env = "QUORUM_URL"
    )]
    url: String,
    /// A bearer token (see `quorum user create` / `quorum user token`).
    #[arg(long, global = true, env = "QUORUM_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// How long and how often to poll a job.
#[derive(Args, Debug, Clone, Copy)]
pub struct PollArgs {
    /// Give up waiting after this many seconds (the job itself keeps running).
    #[arg(long, default_value_t = 300.0, value_parser = non_negative)]
    pub timeout: f64,
    /// Seconds between two looks at the job.
    #[arg(long, default_value_t = 2.0, value_parser = positive)]
    pub check_frequency: f64,
}

/// `--wait` and its polling options, for commands that start a job.
#[derive(Args, Debug, Clone, Copy)]
pub struct WaitArgs {
    /// Follow the job until it ends (or --timeout passes).
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub poll: PollArgs,
}

fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds >= 0")),
    }
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds > 0")),
    }
}

/// How many breaks in a row, with no byte between them, a download survives.
const RESUMES: u32 = 5;

/// How long a download may go without a byte before it counts as broken.
const QUIET: Duration = Duration::from_secs(60);

/// Whether `e` is the 416 of a resume: asked from a byte past the file's end. The resume names
/// the file it continues (`If-Range`), every byte written came from it, so the download had
/// the whole file already: the break came after its last byte.
fn is_past_the_end(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiFailure>()
        .is_some_and(|f| f.status == 416)
}

/// Whether a failed request is a break in the connection or the server's own failure (which a
/// later request may get past), rather than a refusal.
fn is_break(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<reqwest::Error>()
            .is_some_and(|e| e.is_connect() || e.is_timeout() || e.is_request())
            || cause
                .downcast_ref::<ApiFailure>()
                .is_some_and(|f| f.status >= 500)
    })
}

/// Whether `resp` carries the rest of a file from byte `from` on: a 206 whose range starts
/// there (a 200 is the whole file again: it changed since, and `If-Range` said so).
fn resumes_at(resp: &Response, from: u64) -> bool {
    resp.status() == StatusCode::PARTIAL_CONTENT
        && resp
            .headers()
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes "))
            .and_then(|v| v.split_once('-'))
            .and_then(|(start, _)| start.parse::<u64>().ok())
            == Some(from)
}

/// Runs a client command on a fresh single-threaded runtime (a CLI call does one thing at a time).
pub fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(fut: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(fut)
}

/// A thin client for `/api/v1` as one user.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// A client for the server and token in `conn`.
    pub fn new(conn: &ConnArgs) -> anyhow::Result<Client> {
        let base = conn.url.trim_end_matches('/');
        let base = base.strip_suffix("/api/v1").unwrap_or(base);
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("--url {:?} must start with http:// or https://", conn.url);
        }
        let token = conn.token.as_deref().map(str::trim).unwrap_or_default();
        if token.is_empty() {
            bail!("no token: pass --token or set QUORUM_TOKEN (`quorum user token --name N` makes one)");
        }
        Ok(Client {
            http: reqwest::Client::new(),
            base: format!("{base}/api/v1"),
            token: token.to_owned(),
        })
    }

    /// A request to `path` (under `/api/v1`) carrying the token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Sends `req` and returns the response when it is 2xx; otherwise fails with the server's
    /// error code and message.
    pub async fn send(&self, req: RequestBuilder) -> anyhow::Result<Response> {
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Err(api_error(status, &text))
    }

    /// Sends `req` and reads a 2xx JSON answer.
    pub async fn json(&self, req: RequestBuilder) -> anyhow::Result<Value> {
        let resp = self.send(req).await?;
        let text = resp.text().await.context("the answer was cut off")?;
        serde_json::from_str(&text)
            .with_context(|| format!("the server's answer is not JSON: {text}"))
    }

    /// `GET /jobs/{id}`.
    pub async fn job(&self, id: i64) -> anyhow::Result<Value> {
        self.json(self.request(Method::GET, &format!("/jobs/{id}")))
            .await
    }

    /// The body of `GET /jobs/{id}/result`.
    pub async fn job_result(&self, id: i64) -> anyhow::Result<String> {
        let resp = self
            .send(self.request(Method::GET, &format!("/jobs/{id}/result")))
            .await?;
        resp.text().await.context("the job's result was cut off")
    }

    /// Writes the file of job `id` (an export) to `out` as it arrives. A download that breaks
    /// off (the connection cut, quiet for [`QUIET`], or the server unreachable or failing for a
    /// moment) is picked up where it stopped with a `Range` request, tied by `If-Range` to the
    /// file first seen; it is given up after [`RESUMES`] breaks in a row with no byte between
    /// them, waiting longer after each. Returns the bytes written.
    pub async fn download_job_file(&self, id: i64, out: &mut impl Write) -> anyhow::Result<u64> {
        let path = format!("/jobs/{id}/result");
        let mut written: u64 = 0;
        let mut etag: Option<String> = None;
        let mut breaks: u32 = 0;
        for attempt in 0.. {
            let mut req = self.request(Method::GET, &path);
            if let (true, Some(tag)) = (written > 0, &etag) {
                req = req
                    .header(header::RANGE, format!("bytes={written}-"))
                    .header(header::IF_RANGE, tag);
            }
            let at_start = written;
            let broke = match self.send(req).await {
                // A resume that asks from the file's end: the break came after the last byte.
                Err(e) if written > 0 && is_past_the_end(&e) => {
                    out.flush().context("cannot write the file")?;
                    return Ok(written);
                }
                // Refusals (403, 404, 409 …) are answers, not breaks.
                Err(e) if attempt == 0 || !is_break(&e) => return Err(e),
                Err(e) => e,
                Ok(mut resp) => {
                    if written > 0 && !resumes_at(&resp, written) {
                        bail!(
                            "the file of job {id} changed on the server after {written} bytes \
                             were written: download it again"
                        );
                    }
                    if etag.is_none() {
                        etag = resp
                            .headers()
                            .get(header::ETAG)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                    }
                    let cut = loop {
                        match tokio::time::timeout(QUIET, resp.chunk()).await {
                            Ok(Ok(Some(bytes))) => {
                                out.write_all(&bytes).context("cannot write the file")?;
                                written += bytes.len() as u64;
                            }
                            Ok(Ok(None)) => break None,
                            Ok(Err(e)) => break Some(anyhow::Error::new(e)),
                            Err(_) => {
                                break Some(anyhow::anyhow!("no byte for {} s", QUIET.as_secs()))
                            }
                        }
                    };
                    let Some(e) = cut else {
                        out.flush().context("cannot write the file")?;
                        return Ok(written);
                    };
                    e
                }
            };
            if written > at_start {
                breaks = 0;
            }
            breaks += 1;
            if etag.is_none() || breaks > RESUMES {
                return Err(broke).context(format!(
                    "the download of job {id}'s file broke off after {written} bytes"
                ));
            }
            let wait = Duration::from_secs(1 << (breaks - 1));
            eprintln!(
                "download broke off after {written} bytes ({broke:#}); resuming there in {} s",
                wait.as_secs()
            );
            tokio::time::sleep(wait).await;
        }
        unreachable!("the attempts above only end by returning")
    }

    /// Polls a job until it leaves `in_progress`/`canceling` (Labelbox's `wait_till_done`): the
    /// status is read first, so a finished job returns at once whatever the timeout; then every
    /// `check_frequency` seconds until `timeout` seconds have passed, which is an error.
    pub async fn wait_job(&self, id: i64, poll: PollArgs) -> anyhow::Result<Value> {
        let started = Instant::now();
        let deadline = Duration::from_secs_f64(poll.timeout);
        let every = Duration::from_secs_f64(poll.check_frequency);
        let bar = progress_bar(id);
        loop {
            let job = self.job(id).await?;
            let status = job["status"].as_str().unwrap_or_default();
            bar.set_position(
                (job["progress"].as_f64().unwrap_or(0.0).clamp(0.0, 1.0) * 1000.0) as u64,
            );
            bar.set_message(status.to_owned());
            if !running(status) {
                bar.finish_and_clear();
                return Ok(job);
            }
            let elapsed = started.elapsed();
            if elapsed >= deadline {
                bar.finish_and_clear();
                bail!(
                    "job {id} is still {status} after {:.1} s (--timeout {}); it keeps running on \
                     the server: follow it with `quorum jobs wait {id}` or stop it with \
                     `quorum jobs cancel {id}`",
                    elapsed.as_secs_f64(),
                    poll.timeout
                );
            }
            // The last nap ends at the deadline, so a timeout is reported on time.
            tokio::time::sleep(every.min(deadline - elapsed)).await;
        }
    }
}

/// Whether a job status means the job may still change.
pub fn running(status: &str) -> bool {
    matches!(
        crate::store::jobs::JobStatus::parse(status),
        Some(crate::store::jobs::JobStatus::InProgress | crate::store::jobs::JobStatus::Canceling)
    )
}

/// Fails unless a job that ended is `complete`, quoting its errors.
pub fn ensure_complete(job: &Value) -> anyhow::Result<()> {
    let status = job["status"].as_str().unwrap_or_default();
    if status == "complete" {
        return Ok(());
    }
    let id = &job["id"];
    let errors = messages(&job["errors"]);
    if errors.is_empty() {
        bail!("job {id} ended {status}");
    }
    bail!("job {id} ended {status}: {}", errors.join("; "))
}

/// The `message` of each entry of a JSON error list (with its row when there is one).
pub fn messages(errors: &Value) -> Vec<String> {
    errors
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| {
                    match (
                        e["row"].as_u64(),
                        e["field"].as_str(),
                        e["message"].as_str(),
                    ) {
                        (Some(row), _, Some(m)) => format!("row {row}: {m}"),
                        (None, Some(field), Some(m)) => format!("{field}: {m}"),
                        (None, None, Some(m)) => m.to_owned(),
                        _ => e.to_string(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A progress bar for one job (0–1 shown as per mille), drawn only when stderr is a terminal so
/// logs and pipes get no control characters.
fn progress_bar(id: i64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "job {id} [{{elapsed_precise}}] {{bar:40}} {{percent:>3}}% {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Turns a non-2xx answer into an error naming the server's code and message.
pub fn api_error(status: u16, text: &str) -> anyhow::Error {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let message = match parsed.as_ref().map(|v| &v["error"]) {
        Some(err) if err["code"].is_string() => {
            let mut msg = format!(
                "{} (HTTP {}): {}",
                err["code"].as_str().unwrap_or_default(),
                status,
                err["message"].as_str().unwrap_or_default()
            );
            let details = messages(&err["details"]);
            if !details.is_empty() {
                msg.push_str(&format!("\n  {}", details.join("\n  ")));
            }
            msg
        }
        // A proxy or a different server answered: show what came back.
        _ => format!(
            "HTTP {} from the server: {}",
            status,
            text.chars().take(500).collect::<String>()
        ),
    };
    anyhow::Error::new(ApiFailure { status, message })
}

/// An answer of the server's that is not 2xx: its status, and what it said.
#[derive(Debug)]
pub struct ApiFailure {
    /// The HTTP status.
    pub status: u16,
    message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiFailure {}
