//! The HTTP JSON API under `/api/v1` and the web app's static files, as one axum router.
//!
//! One module per concept; each handler checks the caller's role before it reads or writes.

mod aggregation;
mod archives;
pub mod auth;
#[cfg(test)]
mod client_keys;
pub mod error;
pub mod error_code;
mod events;
mod exports;
pub mod headers;
mod items;
mod jobs;
mod label_groups;
mod label_studio;
mod labeling;
mod labeling_types;
mod manage;
mod media;
mod openapi;
mod predictions;
mod projects;
pub mod request_id;
mod review;
mod tasks;
mod users;
mod workflow;

pub use aggregation::sweep as aggregation_sweep;
pub use archives::{auto_archive, write_archive_files};
pub use jobs::fail_orphans;
pub use manage::fold_counts;
pub use projects::{ensure_project, set_member_roles};
pub use users::{create_user, issue_token, list_users, revoke_tokens, user_id_by_name};

/// Creates a task as `creator` (the demo seeds its tasks through here, like the API does).
pub async fn create_task(
    db: &Db,
    project_id: i64,
    creator: i64,
    spec: &quorum_core::task::TaskSpec,
) -> Result<i64, error::ApiError> {
    let made = tasks::create_task(&AppState::new(db.clone()), project_id, creator, spec).await?;
    Ok(made.id)
}

use crate::db::Db;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tower_http::services::{ServeDir, ServeFile};

/// The largest request body (uploads included); bigger sets are split by the client.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub db: Db,
    label_groups: Arc<OnceLock<label_groups::LabelGroups>>,
    /// How long a label group waits for a row lock, in milliseconds (see `label_groups`).
    label_lock_wait_ms: u32,
    /// Where uploaded media and export files live (the router sets it; commands that only
    /// write through the API's functions have none).
    media: Option<crate::media::MediaStore>,
}

impl AppState {
    /// The state of a server (or a command) on `db`.
    pub fn new(db: Db) -> Self {
        Self {
            db,
            label_groups: Arc::default(),
            label_lock_wait_ms: label_groups::LOCK_WAIT_MS,
            media: None,
        }
    }

    /// The media store (a 500 for a state without one).
    pub fn media(&self) -> error::ApiResult<&crate::media::MediaStore> {
        self.media
            .as_ref()
            .ok_or_else(|| error::ApiError::internal("this server has no media store"))
    }

    /// This state with label groups that wait `ms` for a row lock before their labels go one
    /// at a time.
    pub fn with_label_lock_wait(self, ms: u32) -> Self {
        Self {
            label_lock_wait_ms: ms,
            ..self
        }
    }

    /// The lanes that write labels in groups, on PostgreSQL (started on first use); none on
    /// SQLite, whose one writer groups commits itself (`lite_writer`).
    pub fn label_groups(&self) -> Option<&label_groups::LabelGroups> {
        if self.db.backend() != crate::db::Backend::Postgres {
            return None;
        }
        Some(
            self.label_groups.get_or_init(|| {
                label_groups::LabelGroups::start(&self.db, self.label_lock_wait_ms)
            }),
        )
    }
}

/// The API routes (every one is in the OpenAPI document, which `openapi`'s tests check).
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/me", get(users::me))
        .route("/me/tasks", get(tasks::my_tasks))
        .route("/users", post(users::create).get(users::list))
        .route("/users/{id}/tokens", post(users::new_token))
        .route("/tokens/current", delete(users::revoke_current))
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/{id}", get(projects::get_one))
        .route("/projects/{id}/members", get(projects::members))
        .route(
            "/projects/{id}/members/{user_id}",
            put(projects::set_member).delete(projects::remove_member),
        )
        .route(
            "/projects/{id}/datasets",
            get(projects::datasets).post(projects::create_dataset),
        )
        .route("/projects/{id}/uploads", get(items::uploads))
        .route("/projects/{id}/items", get(items::list))
        .route(
            "/projects/{id}/saved-searches",
            get(items::saved_searches).post(items::create_saved_search),
        )
        .route("/projects/{id}/tasks", post(tasks::create))
        .route("/projects/{id}/reservations", get(manage::reservations))
        .route("/datasets/{id}/items", post(items::upload))
        .route("/items/{id}", get(items::get_one))
        .route("/tasks", get(tasks::list).delete(tasks::delete_many))
        .route(
            "/tasks/{id}",
            get(tasks::get_one)
                .put(tasks::replace)
                .patch(tasks::update)
                .delete(tasks::delete_one),
        )
        .route("/tasks/{id}/status", post(tasks::set_status))
        .route(
            "/tasks/{id}/items",
            post(tasks::add_items).delete(tasks::remove_items),
        )
        .route("/tasks/{id}/items/reassign", post(tasks::reassign))
        .route("/tasks/{id}/items/priority", post(tasks::set_priority))
        .route(
            "/tasks/{id}/steps/{step}/priority",
            post(workflow::set_priority),
        )
        .route("/tasks/{id}/batches", post(labeling::lease_batch))
        .route("/leases/{id}/renew", post(labeling::renew))
        .route("/leases/{id}/release", post(labeling::release))
        .route("/sync", post(labeling::sync))
        .route("/tasks/{id}/review-queue", get(review::queue))
        .route(
            "/tasks/{id}/items/{item_id}/review",
            post(review::decide_endpoint),
        )
        .route("/tasks/{id}/results", get(review::results))
        .route("/tasks/{id}/progress", get(manage::progress))
        .route("/users/{id}/leases/release", post(manage::release_user))
        .route("/tasks/{id}/aggregate", post(aggregation::create))
        .route("/tasks/{id}/predictions", post(predictions::import))
        .route(
            "/tasks/{id}/predictions/label-studio",
            post(label_studio::import),
        )
        .route("/tasks/{id}/compare", get(predictions::compare))
        .route("/tasks/{id}/exports", post(exports::create))
        .route("/tasks/archive", post(archives::archive))
        .route("/projects/{id}/archives", get(archives::history))
        .route("/archives/{id}/download", get(archives::download))
        .route("/events", get(events::task_events))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::get_one))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/jobs/{id}/result", get(jobs::result))
        .fallback(error::no_route)
}

/// The whole application: the API, and the web app (with `index.html` for client routes).
pub fn router(
    state: AppState,
    media_store: crate::media::MediaStore,
    web_dir: Option<PathBuf>,
) -> Router {
    let state = AppState {
        media: Some(media_store),
        ..state
    };
    let api = api_routes()
        .merge(media::routes())
        .method_not_allowed_fallback(error::wrong_method);
    let mut app = Router::new().nest("/api/v1", api.with_state(state.clone()));
    let mut inline_scripts = Vec::new();
    if let Some(dir) = web_dir {
        inline_scripts = headers::inline_script_hashes(&dir);
        let index = dir.join("index.html");
        app = app.fallback_service(ServeDir::new(&dir).fallback(ServeFile::new(index)));
    } else {
        app = app.fallback(error::no_route);
    }
    let csp = axum::http::HeaderValue::from_str(&headers::content_security_policy(&inline_scripts))
        .expect("the policy is plain ASCII");
    app.layer(axum::middleware::map_response(
        move |res: axum::response::Response| {
            let csp = csp.clone();
            async move { headers::add(&csp, res) }
        },
    ))
    .layer(axum::middleware::from_fn(request_id::assign))
    .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
    .layer(tower_http::compression::CompressionLayer::new().compress_when(whole_files_only()))
    .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// What the compression layer compresses: what its defaults do, except the stored files sent
/// in byte ranges (media, export files; marked [`media::Ranged`]). Compressed, such a file
/// would lose its ranges (a broken download could not resume) and carry a strong `ETag` that
/// no longer names its bytes. The web app's own files stay compressed.
fn whole_files_only() -> impl tower_http::compression::Predicate {
    use tower_http::compression::predicate::{DefaultPredicate, Predicate};
    DefaultPredicate::new().and(
        |_: axum::http::StatusCode,
         _: axum::http::Version,
         _: &axum::http::HeaderMap,
         extensions: &axum::http::Extensions| {
            extensions.get::<media::Ranged>().is_none()
        },
    )
}
