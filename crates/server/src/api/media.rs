//! Media files: uploading images and videos into a dataset (each file becomes an item pointing
//! at Quorum's own URL for it), and serving them — with `Range` for video seeking — only to
//! people who may see the item: the project's managers and reviewers, and annotators who hold
//! or held an item made from the file. Browsers cannot put a bearer token on `<img>` or
//! `<video>`, nor on a link the browser downloads itself, so the app also sets a cookie that
//! only these GETs accept (media, live events, a job's or an archive's file).

use super::auth::{self, Caller, Role};
use super::error::{ApiError, ApiResult, ErrorCode, Path, ProjectRefusals, Query};
use super::error_code::ErrorBody;
use super::items::{store_upload, Destination, UploadSummary};
use super::AppState;
use crate::clock;
use crate::media::{self, MediaStore, RangeAsk};
use crate::store::media::{self as rows, MediaKind, NewMedia};
use crate::upload::{ItemRow, Parsed, RowError};
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use quorum_core::media::{probe, MediaInfo};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

/// The largest file one upload may carry.
pub const MAX_FILE_BYTES: usize = 1024 * 1024 * 1024;
/// The cookie the web app's `<img>`/`<video>` requests carry (HttpOnly, this path only).
const COOKIE: &str = "quorum_media";

/// The media routes (the store they read and write is the state's).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/datasets/{id}/media",
            post(upload).layer(DefaultBodyLimit::max(MAX_FILE_BYTES + 1024 * 1024)),
        )
        .route("/media/session", post(open_session).delete(close_session))
        .route("/media/{file}", get(serve))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MediaUploadQuery {
    /// The directory the files' items go in (`/` unless given).
    directory: Option<String>,
}

/// A file an upload stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoredFile {
    /// Its name in the upload.
    pub name: String,
    /// Its content's SHA-256, in hex.
    pub sha256: String,
    /// Where it is served.
    pub url: String,
    /// Its type.
    pub mime: &'static str,
    /// Its size.
    pub bytes: usize,
}

/// What a media upload did: the upload's outcome and the files stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MediaUploaded {
    /// As for an upload of items.
    #[serde(flatten)]
    pub summary: UploadSummary,
    /// The files stored, in upload order (refused ones are row errors).
    pub files: Vec<StoredFile>,
}

fn storage_error(e: anyhow::Error) -> ApiError {
    ApiError::new(ErrorCode::StorageUnavailable, format!("{e:#}"))
}

/// The URL a stored file is served at; the extension is for people and for players that look
/// at it, the server goes by the hash.
pub fn media_url(sha: &str, info: &MediaInfo) -> String {
    let ext = match info.mime() {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        _ => "mkv",
    };
    format!("/api/v1/media/{sha}.{ext}")
}

/// The item a file becomes: its data names the file's URL under `image` or `video`, its
/// metadata the picture size (which shape answers must fit) and a clip's duration and rate.
fn item_row(row: usize, sha: &str, info: &MediaInfo, directory: &str) -> ItemRow {
    let url = media_url(sha, info);
    let (width, height) = info.size();
    let mut metadata = Map::new();
    metadata.insert("width".into(), width.into());
    metadata.insert("height".into(), height.into());
    let data = match info {
        MediaInfo::Image(_) => json!({ "image": url }),
        MediaInfo::Video(v) => {
            metadata.insert("duration_ms".into(), v.duration_ms.into());
            if let Some(fps) = v.fps {
                metadata.insert("fps".into(), json!((fps * 1000.0).round() / 1000.0));
            }
            json!({ "video": url })
        }
    };
    ItemRow {
        row,
        external_id: Some(sha.to_owned()),
        data,
        metadata,
        directory: directory.to_owned(),
        priority: 0,
        gold: None,
        labels: Vec::new(),
    }
}

/// `POST /datasets/{id}/media` (managers, `multipart/form-data`): each file part becomes an
/// item. A file that is not an image or video Quorum can show is a per-row error in the upload
/// history; the others are stored. Uploading the same bytes again changes nothing.
///
/// Who may call: the managers of the dataset's project.
#[utoipa::path(
    post,
    path = "/datasets/{id}/media",
    operation_id = "upload_media",
    tag = "media",
    params(("id" = i64, Path, description = "The dataset"), MediaUploadQuery),
    request_body(content = String, description = "Files as parts with a filename; an optional `metadata` field maps file names to metadata to set", content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The files stored (with any refused as row errors)", body = MediaUploaded),
        (status = 400, description = "No file parts, or unreadable multipart", body = ErrorBody),
        ProjectRefusals,
        (status = 413, description = "A file over the size limit", body = ErrorBody),
        (status = 415, description = "Not multipart/form-data", body = ErrorBody),
        (status = 422, description = "A metadata field that cannot be used", body = ErrorBody),
    )
)]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(dataset_id): Path<i64>,
    Query(q): Query<MediaUploadQuery>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<MediaUploaded>)> {
    let project_id = crate::store::items::dataset_project(&mut state.db.reader().await, dataset_id)
        .await?
        .ok_or_else(|| ApiError::not_found("dataset"))?;
    auth::require_manager(&state, &caller, project_id).await?;
    let directory = crate::upload::normalize_directory(q.directory.as_deref().unwrap_or("/"))
        .map_err(ApiError::validation)?;
    let multipart = multipart.map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidMultipart,
            format!("send the files as multipart/form-data: {}", e.body_text()),
        )
        .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
    })?;
    let (parsed, files) = receive(multipart, state.media()?, &directory).await?;
    // Rows first, so that an item is never made from a file its project does not hold.
    let media_ids = record(&state, project_id, &files).await?;
    let to = Destination {
        project_id,
        dataset_id,
        user_id: caller.id,
        format: "files".to_owned(),
    };
    let summary = store_upload(&state.db, &to, parsed, None)
        .await
        .map_err(storage_error)?
        .ok_or_else(|| ApiError::internal("an upload without a job was canceled"))?;
    let mut tx = state.db.claim().await?;
    for (file, media_id) in files.iter().zip(&media_ids) {
        rows::link_item(&mut tx, dataset_id, &file.sha, *media_id).await?;
    }
    tx.commit().await?;
    let files = files.into_iter().map(Received::stored).collect();
    Ok((StatusCode::CREATED, Json(MediaUploaded { summary, files })))
}

/// A file of an upload, kept in the media store.
struct Received {
    name: String,
    sha: String,
    info: MediaInfo,
    bytes: usize,
}

impl Received {
    fn stored(self) -> StoredFile {
        StoredFile {
            url: media_url(&self.sha, &self.info),
            mime: self.info.mime(),
            name: self.name,
            sha256: self.sha,
            bytes: self.bytes,
        }
    }
}

/// Reads the upload's parts: each file probed and put in the media store, an item row for it
/// (with the `metadata` field's overrides), a row error for a file that is no medium.
async fn receive(
    mut multipart: Multipart,
    store: &MediaStore,
    directory: &str,
) -> ApiResult<(Parsed, Vec<Received>)> {
    let bad_part = |e: MultipartError| {
        ApiError::new(ErrorCode::InvalidMultipart, e.body_text()).with_status(e.status())
    };
    let (mut parsed, mut files) = (Parsed::default(), Vec::new());
    let (mut overrides, mut every_name) = (None, Vec::new());
    let mut row = 0;
    while let Some(field) = multipart.next_field().await.map_err(bad_part)? {
        let Some(name) = field.file_name().map(str::to_owned) else {
            if field.name() == Some("metadata") {
                overrides = Some(field.text().await.map_err(bad_part)?);
            }
            continue; // another plain form field: not ours
        };
        row += 1;
        every_name.push(name.clone());
        let bytes = field.bytes().await.map_err(bad_part)?;
        let info = match probe(&bytes) {
            Ok(info) => info,
            Err(e) => {
                parsed.errors.push(RowError {
                    row,
                    message: format!("{name}: {e}"),
                });
                continue;
            }
        };
        let sha = media::sha256_hex(&bytes);
        store
            .put(&sha, bytes.clone())
            .await
            .map_err(storage_error)?;
        parsed.rows.push(item_row(row, &sha, &info, directory));
        files.push(Received {
            name,
            sha,
            info,
            bytes: bytes.len(),
        });
    }
    if row == 0 {
        return Err(ApiError::invalid(
            "send the files as multipart/form-data parts with a filename",
        ));
    }
    if let Some(text) = overrides {
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        override_metadata(&mut parsed.rows, &names, &every_name, &text)?;
    }
    Ok((parsed, files))
}

/// Records the stored files as the project's media; their ids, in order.
async fn record(state: &AppState, project_id: i64, files: &[Received]) -> ApiResult<Vec<i64>> {
    let now = clock::now().0;
    let mut tx = state.db.claim().await?;
    let mut media_ids = Vec::with_capacity(files.len());
    for file in files {
        let kind = match file.info {
            MediaInfo::Image(_) => MediaKind::Image,
            MediaInfo::Video(_) => MediaKind::Video,
        };
        let new = NewMedia {
            project_id,
            sha256: &file.sha,
            kind,
            mime: file.info.mime(),
            bytes: file.bytes as i64,
            name: &file.name,
            now,
        };
        media_ids.push(rows::record(&mut tx, &new).await?);
    }
    tx.commit().await?;
    Ok(media_ids)
}

/// What the uploader knows better than the file: the form field `metadata`, a JSON object from
/// file name to the metadata keys to set on that file's item (a clip's true `duration_ms` or
/// `fps` when its container does not say, or anything of the team's own). `rows` are the stored
/// files' items, in the order of `names`; `every_name` includes the files refused.
fn override_metadata(
    rows: &mut [ItemRow],
    names: &[&str],
    every_name: &[String],
    text: &str,
) -> ApiResult<()> {
    let invalid = |message: String| ApiError::validation(format!("metadata: {message}"));
    let Ok(Value::Object(by_name)) = serde_json::from_str::<Value>(text) else {
        return Err(invalid(
            "send a JSON object from file name to the metadata to set, e.g. {\"clip.mp4\": {\"fps\": 25}}".into(),
        ));
    };
    for (name, given) in by_name {
        let Value::Object(given) = given else {
            return Err(invalid(format!("{name:?} must map to an object")));
        };
        for key in ["width", "height", "duration_ms", "fps"] {
            if given
                .get(key)
                .is_some_and(|v| !v.as_f64().is_some_and(|n| n > 0.0 && n.is_finite()))
            {
                return Err(invalid(format!(
                    "{name:?}: {key} must be a positive number"
                )));
            }
        }
        if given
            .get("duration_ms")
            .is_some_and(|v| v.as_u64().is_none())
        {
            return Err(invalid(format!(
                "{name:?}: duration_ms must be whole milliseconds"
            )));
        }
        if !every_name.contains(&name) {
            return Err(invalid(format!("no file named {name:?} in this upload")));
        }
        // A file that was refused has no item: its row error already says why.
        for (row, _) in rows.iter_mut().zip(names).filter(|(_, n)| **n == name) {
            row.metadata.extend(given.clone());
        }
    }
    Ok(())
}

/// The caller of a GET a browser makes without script (media, live events, a job's or an
/// archive's file downloaded through a link): the bearer token, else the app's cookie.
pub(super) async fn cookie_caller(state: &AppState, headers: &HeaderMap) -> ApiResult<Caller> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return auth::caller_for_header(state, auth).await;
    }
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthorized,
                "sign in: send Authorization: Bearer <token>",
            )
        })?;
    auth::caller_for_token(state, token).await
}

/// Whether the caller may see a project's copy of a file.
async fn may_read(state: &AppState, caller: &Caller, held: &rows::Held) -> ApiResult<bool> {
    let roles = auth::roles(state, caller, held.project_id).await?;
    if roles.contains(&Role::Manager) || roles.contains(&Role::Reviewer) {
        return Ok(true);
    }
    if !roles.contains(&Role::Annotator) {
        return Ok(false);
    }
    Ok(rows::worker_has_seat(&mut state.db.reader().await, held, caller.id).await?)
}

/// `GET /media/{sha256}.{ext}`: the file, whole or the one byte range asked for. Someone who
/// may not see it gets the same 404 as for a file that does not exist.
///
/// Who may call: the project's managers and reviewers, and annotators who hold or held an item made from the file (bearer token or the media cookie).
#[utoipa::path(
    get,
    path = "/media/{file}",
    tag = "media",
    security(("bearer" = []), ("session" = [])),
    params(
        ("file" = String, Path, description = "`{sha256}.{ext}`"),
        ("Range" = Option<String>, Header, description = "One byte range, `bytes=start-end`"),
    ),
    responses(
        (status = 200, description = "The file, in its own type (image/png, video/mp4 …)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The byte range asked for", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, description = "Neither a bearer token nor the media cookie", body = ErrorBody),
        (status = 404, description = "No such file, or one the caller may not see", body = ErrorBody),
        (status = 416, description = "A range past the file's end", body = ErrorBody),
    )
)]
pub async fn serve(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let caller = cookie_caller(&state, &headers).await?;
    let sha = file.split_once('.').map_or(file.as_str(), |(s, _)| s);
    if !media::is_sha256_hex(sha) {
        return Err(ApiError::not_found("media file"));
    }
    let holders = rows::holders(&mut state.db.reader().await, sha).await?;
    let mut readable = None;
    for held in holders {
        if may_read(&state, &caller, &held).await? {
            readable = Some(held);
            break;
        }
    }
    let held = readable.ok_or_else(|| ApiError::not_found("media file"))?;
    let etag = format!("\"{sha}\"");
    let mut head = HeaderMap::new();
    head.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
    head.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // The URL names the content, so a copy never goes stale; private: it needs a sign-in.
    head.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, head).into_response());
    }
    let content_type = HeaderValue::from_str(&held.mime)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let file_head = HeaderMap::from_iter([(header::CONTENT_TYPE, content_type)]);
    send_file(state.media()?, sha, &headers, head, file_head).await
}

/// Sends the stored file `sha` as a download (a job's result, an archive) of `content_type`
/// under `disposition`, in byte ranges: the file never changes, so its name is its `ETag`, for
/// `If-Range`.
pub(super) async fn send_download(
    store: &MediaStore,
    sha: &str,
    headers: &HeaderMap,
    content_type: &str,
    disposition: &str,
) -> ApiResult<Response> {
    let value = |text: &str| HeaderValue::try_from(text).map_err(ApiError::internal);
    let head = HeaderMap::from_iter([(header::ETAG, value(&format!("\"{sha}\""))?)]);
    let file_head = HeaderMap::from_iter([
        (header::CONTENT_TYPE, value(content_type)?),
        (header::CONTENT_DISPOSITION, value(disposition)?),
    ]);
    send_file(store, sha, headers, head, file_head).await
}

/// Sends the stored file `sha`: whole, or the byte range the request's `Range` header asks for
/// (206; 416, a JSON error, past its end) when its `If-Range`, if any, names `head`'s `ETag`. `head` goes on every answer, `file_head` (the
/// file's type, its download name) only on one that carries the file's bytes.
pub(super) async fn send_file(
    store: &MediaStore,
    sha: &str,
    headers: &HeaderMap,
    mut head: HeaderMap,
    file_head: HeaderMap,
) -> ApiResult<Response> {
    head.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let size = store
        .size(sha)
        .await
        .map_err(storage_error)?
        .ok_or_else(|| ApiError::not_found("media file"))?;
    // `If-Range` (RFC 9110 §13.1.5): the range only of the file the client has the start of;
    // any other tag (or a date: no `Last-Modified` is sent) gets the whole file.
    let etag = head.get(header::ETAG).and_then(|v| v.to_str().ok());
    let same_file = headers
        .get(header::IF_RANGE)
        .map(|v| v.to_str().ok().map(str::trim))
        .is_none_or(|tag| tag.is_some() && tag == etag);
    let asked = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| same_file);
    let (status, range) = match media::range_ask(asked, size) {
        RangeAsk::Whole => (StatusCode::OK, None),
        RangeAsk::Part(r) => (StatusCode::PARTIAL_CONTENT, Some(r)),
        RangeAsk::Unsatisfiable => {
            let range = HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii");
            head.insert(header::CONTENT_RANGE, range);
            let err = ApiError::new(
                ErrorCode::RangeNotSatisfiable,
                format!("the file has {size} bytes"),
            );
            return Ok((head, err).into_response());
        }
    };
    let served = store.get(sha, range).await.map_err(storage_error)?;
    head.extend(file_head);
    let length = served.range.end - served.range.start;
    head.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if status == StatusCode::PARTIAL_CONTENT {
        let (r, total) = (&served.range, served.size);
        let value = format!("bytes {}-{}/{total}", r.start, r.end - 1);
        head.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&value).expect("ascii"),
        );
    }
    let mut res = (status, head, served.body).into_response();
    res.extensions_mut().insert(Ranged);
    Ok(res)
}

/// Marks a response that sends a stored file in byte ranges: the compression layer leaves it
/// as it is (see `api::whole_files_only`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Ranged;

/// `POST /media/session`: sets the cookie that lets this browser's `<img>` and `<video>`
/// elements load media as the caller (the app calls it at sign-in).
///
/// Who may call: any signed-in user.
#[utoipa::path(
    post,
    path = "/media/session",
    tag = "media",
    responses(
        (status = 204, description = "The cookie is set (Set-Cookie)"),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
pub async fn open_session(headers: HeaderMap, _caller: Caller) -> ApiResult<Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    Ok(session_cookie(token, None))
}

/// `DELETE /media/session`: forgets the cookie (the app calls it at sign-out).
///
/// Who may call: anyone.
#[utoipa::path(
    delete,
    path = "/media/session",
    tag = "media",
    responses(
        (status = 204, description = "The cookie is cleared (Set-Cookie)"),
        (status = 500, description = "A fault of the server (quote the request id)", body = ErrorBody),
    )
)]
pub async fn close_session() -> Response {
    session_cookie("", Some(0))
}

fn session_cookie(token: &str, max_age: Option<u32>) -> Response {
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    // Only the media, live-event, job and archive paths see it (and of the last two, only the
    // files' GETs take it), scripts cannot read it, other sites cannot send it; every other
    // endpoint takes the bearer token alone.
    let mut res = StatusCode::NO_CONTENT.into_response();
    for path in [
        "/api/v1/media",
        "/api/v1/events",
        "/api/v1/jobs",
        "/api/v1/archives",
    ] {
        let cookie = format!("{COOKIE}={token}; Path={path}; HttpOnly; SameSite=Strict{age}");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(upload, serve, open_session, close_session),
    components(schemas(MediaUploaded))
)]
pub(crate) struct Doc;
