//! The OpenAPI 3.1 document at `/api/v1/openapi.json`, built from one table of endpoints.
//! An integration test calls every listed endpoint to prove the table and the router agree.

use axum::Json;
use serde_json::{json, Map, Value};

/// Every endpoint: method, path (relative to `/api/v1`), who may call it, and what it does.
pub const ENDPOINTS: &[(&str, &str, &str, &str)] = &[
    ("get", "/openapi.json", "anyone", "This document"),
    (
        "get",
        "/me",
        "any user",
        "The caller, with projects and roles",
    ),
    (
        "get",
        "/me/tasks",
        "any user",
        "Tasks the caller labels or reviews, with own progress",
    ),
    (
        "post",
        "/users",
        "admin",
        "Create a user; the token is shown once",
    ),
    ("get", "/users", "admin", "List users"),
    (
        "post",
        "/users/{id}/tokens",
        "admin or self",
        "Issue another token",
    ),
    (
        "delete",
        "/tokens/current",
        "any user",
        "Revoke the caller's token",
    ),
    (
        "get",
        "/projects",
        "any user",
        "Projects the caller belongs to",
    ),
    ("post", "/projects", "admin", "Create a project"),
    ("get", "/projects/{id}", "member", "One project"),
    (
        "get",
        "/projects/{id}/members",
        "manager",
        "Members and roles",
    ),
    (
        "put",
        "/projects/{id}/members/{user_id}",
        "manager",
        "Set a member's roles",
    ),
    (
        "delete",
        "/projects/{id}/members/{user_id}",
        "manager",
        "Remove a member",
    ),
    (
        "get",
        "/projects/{id}/datasets",
        "manager",
        "Datasets with item counts",
    ),
    (
        "post",
        "/projects/{id}/datasets",
        "manager",
        "Create a dataset",
    ),
    (
        "get",
        "/projects/{id}/uploads",
        "manager",
        "Upload history with per-row errors",
    ),
    (
        "get",
        "/projects/{id}/items",
        "manager",
        "Items, filtered, one page at a time",
    ),
    (
        "get",
        "/projects/{id}/saved-searches",
        "manager",
        "Saved item filters",
    ),
    (
        "post",
        "/projects/{id}/saved-searches",
        "manager",
        "Save an item filter",
    ),
    (
        "post",
        "/projects/{id}/tasks",
        "manager",
        "Create a task (any strategy)",
    ),
    (
        "get",
        "/projects/{id}/reservations",
        "manager",
        "Live leases per user",
    ),
    (
        "post",
        "/datasets/{id}/items",
        "manager",
        "Upload items: JSON, NDJSON, CSV or Label Studio",
    ),
    (
        "post",
        "/datasets/{id}/media",
        "manager",
        "Upload image and video files (multipart); each becomes an item",
    ),
    (
        "get",
        "/media/{file}",
        "manager or reviewer of the project, or an annotator who holds or held the item",
        "A stored media file, whole or one byte range (Range)",
    ),
    (
        "post",
        "/media/session",
        "any user",
        "Set the cookie that lets the browser load media",
    ),
    (
        "delete",
        "/media/session",
        "anyone",
        "Forget the media cookie",
    ),
    (
        "get",
        "/items/{id}",
        "manager, or an annotator holding it",
        "One item",
    ),
    (
        "get",
        "/tasks",
        "member",
        "Tasks with filters, sort and cursor",
    ),
    (
        "delete",
        "/tasks",
        "manager",
        "Delete several tasks (?ids=1,2)",
    ),
    (
        "get",
        "/tasks/{id}",
        "manager, assignee or reviewer",
        "One task with counts",
    ),
    ("put", "/tasks/{id}", "manager", "Replace a task's spec"),
    (
        "patch",
        "/tasks/{id}",
        "manager",
        "Change some fields of a task",
    ),
    ("delete", "/tasks/{id}", "manager", "Delete a task"),
    (
        "post",
        "/tasks/{id}/status",
        "manager",
        "Move a task along its lifecycle",
    ),
    (
        "post",
        "/tasks/{id}/items",
        "manager",
        "Add items (optionally to given assignees)",
    ),
    ("delete", "/tasks/{id}/items", "manager", "Remove items"),
    (
        "post",
        "/tasks/{id}/items/reassign",
        "manager",
        "Move unfinished items between workers",
    ),
    (
        "post",
        "/tasks/{id}/items/priority",
        "manager",
        "Set the priority of items",
    ),
    (
        "post",
        "/tasks/{id}/steps/{step}/priority",
        "manager",
        "Set the priority of items waiting in one workflow step",
    ),
    (
        "post",
        "/tasks/{id}/batches",
        "assignee",
        "Lease the next batch",
    ),
    (
        "post",
        "/leases/{id}/renew",
        "lease holder",
        "Extend a live lease",
    ),
    (
        "post",
        "/leases/{id}/release",
        "lease holder or manager",
        "Give a lease's items back",
    ),
    (
        "post",
        "/sync",
        "any user",
        "Apply offline ops in order, each exactly once",
    ),
    (
        "get",
        "/tasks/{id}/review-queue",
        "reviewer or manager",
        "Items waiting for review",
    ),
    (
        "post",
        "/tasks/{id}/items/{item_id}/review",
        "reviewer or manager",
        "Approve or reject",
    ),
    (
        "get",
        "/tasks/{id}/results",
        "manager",
        "Each item's result",
    ),
    (
        "get",
        "/tasks/{id}/progress",
        "manager",
        "Progress per task, per annotator and per assignee (planned vs done)",
    ),
    (
        "post",
        "/users/{id}/leases/release",
        "manager",
        "Release a user's live leases",
    ),
    (
        "post",
        "/tasks/{id}/aggregate",
        "manager",
        "Start an aggregation job (Dawid-Skene by default) that revises unreviewed results",
    ),
    (
        "post",
        "/tasks/{id}/predictions",
        "manager",
        "Import model predictions; those in the auto-accept range become the model's annotations",
    ),
    (
        "post",
        "/tasks/{id}/predictions/label-studio",
        "manager",
        "Import a Label Studio export's labels as predictions (?model=NAME); video tracks land on the sampled frames",
    ),
    (
        "get",
        "/tasks/{id}/compare",
        "manager",
        "Compare two annotators, or an annotator and a model (a=worker:ID&b=model:NAME)",
    ),
    (
        "post",
        "/tasks/{id}/exports",
        "manager",
        "Start an export job (json, csv, coco, label_studio)",
    ),
    (
        "post",
        "/tasks/archive",
        "manager",
        "Archive tasks in bulk (ids)",
    ),
    (
        "get",
        "/projects/{id}/archives",
        "manager",
        "Archive history: when, by whom, how many",
    ),
    (
        "get",
        "/archives/{id}/download",
        "manager",
        "An archive's tasks, specs and labels as JSON",
    ),
    (
        "get",
        "/events",
        "manager",
        "Live task page: server-sent events (ready, then change whenever labels, reviews, leases, the task or its jobs move; ?task_id=ID; bearer or the session cookie)",
    ),
    (
        "get",
        "/jobs",
        "manager",
        "Jobs, newest first (status and project filters, cursor pages)",
    ),
    (
        "get",
        "/jobs/{id}",
        "manager",
        "One job: status, progress, errors",
    ),
    (
        "post",
        "/jobs/{id}/cancel",
        "manager",
        "Ask a running job to stop",
    ),
    (
        "get",
        "/jobs/{id}/result",
        "manager",
        "Download a complete job's file",
    ),
];

/// The part of the document generated from the handlers' own request and response types: each
/// module's `Doc`. An operation found here replaces the table's entry for it.
fn generated() -> Value {
    use utoipa::OpenApi as _;
    let mut doc = super::items::Doc::openapi();
    doc.merge(super::exports::Doc::openapi());
    doc.merge(super::predictions::Doc::openapi());
    doc.merge(super::label_studio::Doc::openapi());
    doc.merge(super::aggregation::Doc::openapi());
    doc.merge(super::jobs::Doc::openapi());
    doc.merge(super::media::Doc::openapi());
    serde_json::to_value(doc).unwrap_or_default()
}

/// `GET /openapi.json`.
pub async fn document() -> Json<Value> {
    let mut paths = Map::new();
    for (method, path, who, summary) in ENDPOINTS {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "integer"}}))
            .collect();
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[*method] = json!({
            "summary": summary,
            "description": format!("Who may call: {who}."),
            "parameters": params,
            "responses": {
                "200": {"description": "Success (201 on creation, 204 when there is no body)"},
                "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
    }
    let generated = generated();
    if let Some(typed) = generated["paths"].as_object() {
        for (path, methods) in typed {
            let entry = paths.entry(path.clone()).or_insert_with(|| json!({}));
            for (method, operation) in methods.as_object().into_iter().flatten() {
                entry[method] = operation.clone();
            }
        }
    }
    let mut schemas = json!({"Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}},
    }}}});
    if let Some(typed) = generated["components"]["schemas"].as_object() {
        for (name, schema) in typed {
            schemas[name] = schema.clone();
        }
    }
    Json(json!({
        "openapi": "3.1.0",
        "info": {"title": "Quorum API", "version": env!("CARGO_PKG_VERSION")},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::ENDPOINTS;
    use std::collections::BTreeSet;

    /// Every `.route("path", get(..).post(..))` in the router (and the media routes merged into
    /// it), read from their source, because
    /// axum cannot list its routes; the integration tests check the other direction.
    fn routed() -> BTreeSet<(String, String)> {
        let src = [include_str!("mod.rs"), include_str!("media.rs")].concat();
        let mut out = BTreeSet::new();
        for chunk in src.split(".route(").skip(1) {
            // The route call ends where its parentheses balance.
            let mut depth = 1;
            let end = chunk
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(chunk.len(), |(i, _)| i);
            let call = &chunk[..end];
            let path = call.split('"').nth(1).expect("a path literal");
            let code = call.split_once(',').map_or("", |(_, rest)| rest);
            for method in ["get", "post", "put", "patch", "delete"] {
                let routed_here = code.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0
                        || !code.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && code.as_bytes()[i - 1] != b'_'
                });
                if routed_here {
                    out.insert((method.to_owned(), path.to_owned()));
                }
            }
        }
        out
    }

    #[test]
    fn the_document_lists_every_route() {
        let routes = routed();
        assert!(
            routes.len() > 40,
            "the parser found too few routes: {routes:?}"
        );
        let documented: BTreeSet<(String, String)> = ENDPOINTS
            .iter()
            .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
            .collect();
        let missing: Vec<_> = routes.difference(&documented).collect();
        assert!(missing.is_empty(), "routed but not documented: {missing:?}");
        let stale: Vec<_> = documented.difference(&routes).collect();
        assert!(stale.is_empty(), "documented but not routed: {stale:?}");
    }
}
