//! What survives a reload offline: the outbox, each user's leased queue per task and the saved
//! copies of their name and task list, kept in IndexedDB (rexie) as JSON under fixed keys, plus the device id and op counter in localStorage
//! (written synchronously, so an op id is never reused even if the tab dies mid-write). Every
//! queued op records its user, and queues are kept per user, so a second annotator on the same
//! browser never sends or sees the first one's work.

use crate::api::BatchItem;
use crate::stored_op::StoredOp;
use quorum_core::ids::{LeaseId, TaskId, WorkerId};
use quorum_core::sync::{self, Queued};
use quorum_core::time::Millis;
use rexie::{ObjectStore, Rexie, TransactionMode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsValue;

/// The outbox as the browser keeps it (ops as their JSON, see [`StoredOp`]).
pub type Outbox = sync::Outbox<StoredOp>;
/// A queued op as the browser keeps it.
pub type Pending = sync::Pending<StoredOp>;

const DB: &str = "quorum";
const STORE: &str = "kv";
const OUTBOX_KEY: &str = "outbox";

/// One leased item waiting to be labeled, with the lease it came under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seat {
    /// Fencing token to send with the label.
    pub lease_id: LeaseId,
    /// When the lease ends (labels after it are still kept, flagged late).
    pub expires_at: Millis,
    /// The item.
    pub item: BatchItem,
}

thread_local! {
    static DB_HANDLE: RefCell<Option<Rc<Rexie>>> = const { RefCell::new(None) };
}

async fn db() -> Result<Rc<Rexie>, String> {
    if let Some(db) = DB_HANDLE.with(|d| d.borrow().clone()) {
        return Ok(db);
    }
    let db = Rexie::builder(DB)
        .version(1)
        .add_object_store(ObjectStore::new(STORE))
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let db = Rc::new(db);
    DB_HANDLE.with(|d| *d.borrow_mut() = Some(db.clone()));
    Ok(db)
}

async fn put<T: Serialize>(key: &str, value: &T) -> Result<(), String> {
    let json = serde_json::to_string(value).map_err(|e| e.to_string())?;
    let db = db().await?;
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadWrite)
        .map_err(|e| e.to_string())?;
    let store = tx.store(STORE).map_err(|e| e.to_string())?;
    store
        .put(&JsValue::from_str(&json), Some(&JsValue::from_str(key)))
        .await
        .map_err(|e| e.to_string())?;
    tx.done().await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>, String> {
    let db = db().await?;
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadOnly)
        .map_err(|e| e.to_string())?;
    let store = tx.store(STORE).map_err(|e| e.to_string())?;
    let v = store
        .get(JsValue::from_str(key))
        .await
        .map_err(|e| e.to_string())?;
    match v.and_then(|v| v.as_string()) {
        Some(s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| e.to_string()),
        None => Ok(None),
    }
}

/// The saved outbox (empty on first use).
pub async fn load_outbox() -> Outbox {
    get(OUTBOX_KEY).await.ok().flatten().unwrap_or_default()
}

/// Saves the outbox whole; last write wins, and writes are issued in the order of changes.
pub async fn save_outbox(outbox: &Outbox) {
    if let Err(e) = put(OUTBOX_KEY, outbox).await {
        leptos::logging::error!("saving the outbox failed: {e}");
    }
}

fn queue_key(user: WorkerId, task: TaskId) -> String {
    format!("queue:{}:{}", user.0, task.0)
}

fn queues_key(user: WorkerId) -> String {
    format!("quorum.queues.{}", user.0)
}

/// The tasks in which `user` may have leased items stored (to give them back at sign-out).
pub fn queued_tasks(user: WorkerId) -> Vec<TaskId> {
    local_get(&queues_key(user))
        .and_then(|s| serde_json::from_str::<Vec<i64>>(&s).ok())
        .unwrap_or_default()
        .into_iter()
        .map(TaskId)
        .collect()
}

fn note_queue(user: WorkerId, task: TaskId, queue: &[Seat]) {
    let mut tasks: Vec<i64> = queued_tasks(user).into_iter().map(|t| t.0).collect();
    let known = tasks.contains(&task.0);
    match (queue.is_empty(), known) {
        (false, false) => tasks.push(task.0),
        (true, true) => tasks.retain(|&t| t != task.0),
        _ => return,
    }
    if let Ok(s) = serde_json::to_string(&tasks) {
        local_set(&queues_key(user), Some(&s));
    }
}

/// `user`'s saved queue of leased items for a task.
pub async fn load_queue(user: WorkerId, task: TaskId) -> Vec<Seat> {
    get(&queue_key(user, task))
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Saves `user`'s queue for a task.
pub async fn save_queue(user: WorkerId, task: TaskId, queue: &[Seat]) {
    note_queue(user, task, queue);
    if let Err(e) = put(&queue_key(user, task), &queue).await {
        leptos::logging::error!("saving the queue failed: {e}");
    }
}

/// Saves the outbox and a task's queue in one transaction, so a label is never both queued for
/// sync and still waiting in the queue (or neither) after the tab dies.
pub async fn save_label(outbox: &Outbox, user: WorkerId, task: TaskId, queue: &[Seat]) {
    note_queue(user, task, queue);
    let run = async {
        let o = serde_json::to_string(outbox).map_err(|e| e.to_string())?;
        let q = serde_json::to_string(queue).map_err(|e| e.to_string())?;
        let db = db().await?;
        let tx = db
            .transaction(&[STORE], TransactionMode::ReadWrite)
            .map_err(|e| e.to_string())?;
        let store = tx.store(STORE).map_err(|e| e.to_string())?;
        store
            .put(&JsValue::from_str(&o), Some(&JsValue::from_str(OUTBOX_KEY)))
            .await
            .map_err(|e| e.to_string())?;
        store
            .put(
                &JsValue::from_str(&q),
                Some(&JsValue::from_str(&queue_key(user, task))),
            )
            .await
            .map_err(|e| e.to_string())?;
        tx.done().await.map_err(|e| e.to_string())?;
        Ok::<(), String>(())
    };
    if let Err(e) = run.await {
        leptos::logging::error!("saving a label failed: {e}");
    }
}

/// Caches a task (its schema is needed to label offline).
pub async fn save_task(task: &crate::api::Task) {
    if let Err(e) = put(&format!("task:{}", task.id.0), task).await {
        leptos::logging::error!("caching the task failed: {e}");
    }
}

/// The cached task, if it was opened online before.
pub async fn load_task(id: TaskId) -> Option<crate::api::Task> {
    get(&format!("task:{}", id.0)).await.ok().flatten()
}

/// Keeps something shown to `user` (their name, their task list) to show again offline, as a
/// saved copy; kept per user, so another user of the browser never gets it.
pub async fn keep<T: Serialize>(user: WorkerId, what: &str, value: &T) {
    if let Err(e) = put(&format!("{what}:{}", user.0), value).await {
        leptos::logging::error!("keeping a saved copy failed: {e}");
    }
}

/// What [`keep`] kept for `user`, if anything.
pub async fn kept<T: DeserializeOwned>(user: WorkerId, what: &str) -> Option<T> {
    get(&format!("{what}:{}", user.0)).await.ok().flatten()
}

fn local() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// Reads a localStorage entry.
pub fn local_get(key: &str) -> Option<String> {
    local()?.get_item(key).ok()?
}

/// Writes (or with `None`, removes) a localStorage entry.
pub fn local_set(key: &str, value: Option<&str>) {
    if let Some(s) = local() {
        let _ = match value {
            Some(v) => s.set_item(key, v),
            None => s.remove_item(key),
        };
    }
}

/// A fresh op id: this browser's random device id plus a counter that only grows.
pub fn next_op_id() -> String {
    let device = local_get("quorum.device").unwrap_or_else(|| {
        let d = format!("w{:012x}", (js_sys::Math::random() * 2f64.powi(48)) as u64);
        local_set("quorum.device", Some(&d));
        d
    });
    let n = local_get("quorum.op_counter")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    local_set("quorum.op_counter", Some(&n.to_string()));
    sync::client_op_id(&device, n)
}

/// The browser clock as core's `Millis`.
pub fn now() -> Millis {
    Millis(js_sys::Date::now() as i64)
}

const JOURNAL_KEY: &str = "quorum.journal";

/// Ops (with their user) written synchronously to localStorage before their IndexedDB
/// transaction commits, so a reload in between cannot lose a label: the next start puts them
/// back into the outbox.
pub fn journal() -> Vec<Pending> {
    local_get(JOURNAL_KEY)
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

/// Adds an op to the journal.
pub fn journal_add(op: &Pending) {
    let mut ops = journal();
    ops.push(op.clone());
    if let Ok(s) = serde_json::to_string(&ops) {
        local_set(JOURNAL_KEY, Some(&s));
    }
}

/// Drops ops from the journal once IndexedDB holds them.
pub fn journal_remove(ids: &[String]) {
    let mut ops = journal();
    ops.retain(|p| !ids.iter().any(|id| id == p.op.op_id()));
    match serde_json::to_string(&ops) {
        Ok(s) if !ops.is_empty() => local_set(JOURNAL_KEY, Some(&s)),
        _ => local_set(JOURNAL_KEY, None),
    }
}
