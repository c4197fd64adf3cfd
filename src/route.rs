//! The app's screens as a typed route, parsed from and printed to the URL path, and navigation
//! through the History API (the server falls back to index.html for every non-API path).

use quorum_core::ids::TaskId;

/// A screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Token entry.
    SignIn,
    /// The caller's tasks with progress.
    MyTasks,
    /// Managers: every task, with filters, sort and pages.
    AllTasks,
    /// Labeling one task.
    Annotate(TaskId),
    /// Reviewing one task's results.
    Review(TaskId),
    /// Managers: the create-task form.
    NewTask,
    /// Managers: one task's progress, charts and controls.
    TaskPage(TaskId),
    /// Managers: live leases per user.
    Reservations,
    /// Managers: upload history.
    Uploads,
    /// Managers: long operations.
    Jobs,
    /// Managers: archived tasks.
    Archive,
    /// Managers: one item with every answer on it.
    Item(i64),
    /// Managers: two annotators (or an annotator and a model) side by side on one task.
    Compare(TaskId),

    /// Anything else.
    NotFound(String),
}

impl Route {
    /// The route for a URL path.
    pub fn parse(path: &str) -> Route {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            [""] | ["tasks"] => Route::MyTasks,
            ["signin"] => Route::SignIn,
            ["manage", "tasks"] => Route::AllTasks,
            ["manage", "tasks", "new"] => Route::NewTask,
            ["manage", "tasks", id] => match id.parse() {
                Ok(n) => Route::TaskPage(TaskId(n)),
                Err(_) => Route::NotFound(path.into()),
            },
            ["manage", "tasks", id, "compare"] => match id.parse() {
                Ok(n) => Route::Compare(TaskId(n)),
                Err(_) => Route::NotFound(path.into()),
            },
            ["manage", "items", id] => match id.parse() {
                Ok(n) => Route::Item(n),
                Err(_) => Route::NotFound(path.into()),
            },
            ["manage", "reservations"] => Route::Reservations,
            ["manage", "uploads"] => Route::Uploads,
            ["manage", "jobs"] => Route::Jobs,
            ["manage", "archive"] => Route::Archive,
            ["tasks", id, "annotate"] => match id.parse() {
                Ok(n) => Route::Annotate(TaskId(n)),
                Err(_) => Route::NotFound(path.into()),
            },
            ["tasks", id, "review"] => match id.parse() {
                Ok(n) => Route::Review(TaskId(n)),
                Err(_) => Route::NotFound(path.into()),
            },
            _ => Route::NotFound(path.into()),
        }
    }

    /// The URL path of this route.
    pub fn path(&self) -> String {
        match self {
            Route::SignIn => "/signin".into(),
            Route::MyTasks => "/tasks".into(),
            Route::AllTasks => "/manage/tasks".into(),
            Route::Annotate(t) => format!("/tasks/{}/annotate", t.0),
            Route::Review(t) => format!("/tasks/{}/review", t.0),
            Route::NewTask => "/manage/tasks/new".into(),
            Route::TaskPage(t) => format!("/manage/tasks/{}", t.0),
            Route::Reservations => "/manage/reservations".into(),
            Route::Uploads => "/manage/uploads".into(),
            Route::Jobs => "/manage/jobs".into(),
            Route::Archive => "/manage/archive".into(),
            Route::Item(i) => format!("/manage/items/{i}"),
            Route::Compare(t) => format!("/manage/tasks/{}/compare", t.0),
            Route::NotFound(p) => p.clone(),
        }
    }
}

/// The current location's route.
pub fn current() -> Route {
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_else(|| "/".into());
    Route::parse(&path)
}

/// Moves to `route`, adding a history entry.
pub fn push(route: &Route) {
    if let Some(h) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = h.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&route.path()));
    }
}
