//! Live task pages. `GET /events?task_id=ID` is a server-sent event stream that says `change`
//! when something a task page shows has changed — labels, reviews, leases, the task itself, its
//! project's jobs — so the page refreshes then instead of polling every endpoint on a timer.
//!
//! The server reads the task's mark (one statement answered from the tops of index ranges)
//! twice a second while a stream is open and does nothing for tasks nobody watches. The mark is
//! read from the database, not from this process's memory, so with several replicas on one
//! database every watcher sees every change wherever it was made. Browsers' `EventSource`
//! cannot send a bearer token, so the app's session cookie is accepted here, as for media.

use super::error::{ApiError, ApiResult, Query};
use super::{media, tasks, AppState};
use crate::store::activity::{self, Mark};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::{Duration, Instant};
use utoipa::IntoParams;

type ErrorBody = super::error_code::ErrorBody;

/// How often an open stream looks for a change: a label shows on the page within this.
const LOOK_EVERY: Duration = Duration::from_millis(400);
/// A stream ends after this and the browser reconnects, so a revoked token or a lost role stops
/// being served within it.
const LIFETIME: Duration = Duration::from_secs(600);
/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The task to follow.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    task_id: i64,
}

/// Live task page: server-sent events.
///
/// Who may call: the task's managers and reviewers, with a bearer token or the media session
/// cookie (`EventSource` cannot send a token). `ready` with the current mark first (`change`
/// when a reconnect's `Last-Event-ID` is older), then `change` with the new mark whenever
/// labels, reviews, leases, the task or its project's jobs move. The stream ends after ten
/// minutes or when the database cannot be read; `EventSource` reconnects by itself.
#[utoipa::path(get, path = "/events", tag = "events",
    params(EventsQuery),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "An event stream: `ready`/`change` events whose data and id are the task's mark",
            content_type = "text/event-stream", body = String),
        (status = 400, description = "No or a bad task_id", body = ErrorBody),
        (status = 401, description = "No valid token or cookie", body = ErrorBody),
        (status = 403, description = "Not a manager or reviewer of the task", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
    ))]
pub async fn task_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let caller = media::cookie_caller(&state, &headers).await?;
    let access = tasks::access(&state, &caller, q.task_id).await?;
    if !(access.manager || access.reviewer) {
        return Err(ApiError::forbidden(
            "only the task's managers and reviewers follow it live",
        ));
    }
    let (task_id, project_id) = (q.task_id, access.task.project_id);
    let first = activity::mark(&mut state.db.reader().await, task_id, project_id).await?;
    // Each event carries the mark as its id, and a reconnecting browser sends the last one back:
    // if the task moved while it was away, the stream opens with `change` rather than `ready`.
    let missed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|seen| seen != first.text());
    let watch = Watch {
        state,
        task_id,
        project_id,
        last: first,
        opened: Instant::now(),
        started: false,
        missed,
    };
    let stream = futures_util::stream::unfold(watch, |mut w| async move {
        let event = w.next().await?;
        Some((Ok(event), w))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(task_events))]
pub(crate) struct Doc;

/// One open stream's state.
struct Watch {
    state: AppState,
    task_id: i64,
    project_id: i64,
    last: Mark,
    opened: Instant,
    started: bool,
    /// The browser reconnected with an older mark than the task's.
    missed: bool,
}

impl Watch {
    /// The next event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        if !self.started {
            self.started = true;
            let name = if self.missed { "change" } else { "ready" };
            return Some(self.event(name));
        }
        while self.opened.elapsed() < LIFETIME {
            tokio::time::sleep(LOOK_EVERY).await;
            let mut reader = self.state.db.reader().await;
            let now = match activity::mark(&mut reader, self.task_id, self.project_id).await {
                Ok(now) => now,
                Err(e) => {
                    tracing::warn!(task = self.task_id, "live events stop: {e}");
                    return None;
                }
            };
            if now != self.last {
                self.last = now;
                return Some(self.event("change"));
            }
        }
        None
    }

    fn event(&self, name: &str) -> Event {
        let mark = self.last.text();
        Event::default().event(name).id(mark.clone()).data(mark)
    }
}
