//! Managers' "All tasks": every task with status and kind filters, sort, order and cursor pages,
//! and actions over the tasks ticked on the page (status, priority of their items, export,
//! archive), each asked first with the tasks it touches named.

use crate::api::{Task, TaskPage, TaskQuery};
use crate::components::ask::{ask, names};
use crate::components::fmt::{self, plural};
use crate::route::Route;
use crate::state::App;
use crate::words::{format_name, move_label, parse_priority};
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::ids::TaskId;
use quorum_core::lifecycle::TaskStatus;

const PAGE: u32 = 20;

/// What the bulk bar does to the ticked tasks.
enum Bulk {
    Status(TaskStatus),
    Priority(i32),
    Export(String),
    Archive,
}

impl Bulk {
    fn name(&self) -> &'static str {
        match self {
            Bulk::Status(_) => "status",
            Bulk::Priority(_) => "priority",
            Bulk::Export(_) => "export",
            Bulk::Archive => "archive",
        }
    }
}

/// The task list screen.
#[component]
pub fn AllTasks() -> impl IntoView {
    let app = App::get();
    let status = RwSignal::new(String::new());
    let kind = RwSignal::new(String::new());
    let sort = RwSignal::new("created".to_string());
    let order = RwSignal::new("desc".to_string());
    // The cursors of the pages seen so far, so "previous" needs no server support.
    let cursors = RwSignal::new(vec![None::<String>]);
    let page = RwSignal::new(None::<Result<TaskPage, String>>);
    // Ticked tasks on this page (id, name, items, status); archived ones cannot be ticked.
    let picked = RwSignal::new(Vec::<(TaskId, String, u64, TaskStatus)>::new());
    let note = RwSignal::new(None::<String>);
    // The last action started export jobs: the note points to Jobs.
    let to_jobs = RwSignal::new(false);
    let reload = RwSignal::new(0u32);

    Effect::new(move |_| {
        reload.track();
        picked.set(Vec::new());
        let q = TaskQuery {
            status: status.get(),
            kind: kind.get(),
            sort: sort.get(),
            order: order.get(),
            cursor: cursors.with(|c| c.last().cloned().flatten()),
            limit: PAGE,
        };
        let Some(client) = app.client() else { return };
        spawn_local(async move {
            page.set(Some(client.tasks(&q).await.map_err(|e| e.to_string())));
        });
    });
    // A new filter or order starts again at the first page.
    let reset = move || cursors.set(vec![None]);

    let select = move |label: &'static str,
                       sig: RwSignal<String>,
                       options: &'static [(&'static str, &'static str)]| {
        view! {
            <select
                aria-label=label
                prop:value=move || sig.get()
                on:change=move |e| {
                    sig.set(event_target_value(&e));
                    reset();
                }
            >
                {options
                    .iter()
                    .map(|(v, l)| view! { <option value=*v>{*l}</option> })
                    .collect_view()}
            </select>
        }
    };
    let bulk_format = RwSignal::new("json".to_string());
    let bulk_priority = RwSignal::new(String::new());
    // One action over every ticked task, asked first with the tasks named; the note says how
    // many it did and names every task that failed.
    let run = move |action: Bulk| {
        let Some(client) = app.client() else { return };
        let tasks = picked.get_untracked();
        let all: Vec<String> = tasks.iter().map(|(_, n, ..)| n.clone()).collect();
        let scope = format!("{} ({})", plural(all.len(), "task"), names(&all));
        let question = match &action {
            Bulk::Status(to) => format!("Mark {scope} as {}?", to.to_string().replace('_', " ")),
            Bulk::Priority(p) => format!(
                "Set priority {p} on all {} of {scope}?",
                plural(tasks.iter().map(|t| t.2 as usize).sum(), "item")
            ),
            Bulk::Export(f) => format!("Export {scope} as {}?", format_name(f)),
            Bulk::Archive => format!("Archive {scope}? This cannot be undone."),
        };
        if !ask(&question) {
            return;
        }
        spawn_local(async move {
            let (mut done, mut failed, mut items) = (0, Vec::new(), 0);
            // Archive is one request for all the tasks (one archive per project); the other
            // actions go task by task below, which archive leaves at once.
            if matches!(action, Bulk::Archive) {
                let ids: Vec<i64> = tasks.iter().map(|(id, ..)| id.0).collect();
                match client.archive_tasks(&ids).await {
                    Ok(_) => done = ids.len(),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            for (id, name, ..) in &tasks {
                let r = match &action {
                    Bulk::Status(to) => client.set_status(*id, &to.to_string()).await.map(|_| 0),
                    Bulk::Priority(p) => match client.task_items(*id).await {
                        Ok(ids) => client.set_priority(*id, &ids, *p).await,
                        Err(e) => Err(e),
                    },
                    Bulk::Export(format) => client.export(*id, format).await.map(|_| 0),
                    Bulk::Archive => break,
                };
                match r {
                    Ok(n) => {
                        done += 1;
                        items += n as usize;
                    }
                    Err(e) => failed.push(format!("\u{201c}{name}\u{201d}: {e}")),
                }
            }
            // An export only starts jobs: say so, and where to follow them.
            let mut m = match action {
                Bulk::Export(_) => format!("{} started \u{2014} see ", plural(done, "export job")),
                _ => format!("{}: {done} done", action.name()),
            };
            if matches!(action, Bulk::Priority(_)) {
                m += &format!(", {} changed", plural(items, "item"));
            }
            if !failed.is_empty() {
                m += &format!("; {} failed: {}", failed.len(), failed.join("; "));
            }
            to_jobs.set(matches!(action, Bulk::Export(_)) && done > 0);
            note.set(Some(m));
            reload.update(|r| *r += 1);
        });
    };

    let row = move |t: Task| {
        let c = t.counts.unwrap_or_default();
        let id = t.id;
        let pct = (c.labeled * 100).checked_div(c.items).unwrap_or(0);
        let name = t.name.clone();
        let items = c.items;
        let status = t.status.parse().unwrap_or(TaskStatus::Open);
        let tick = (t.status != "archived").then(|| {
            let label = format!("Select {name}");
            view! {
                <input type="checkbox" data-testid="pick-task" aria-label=label
                    prop:checked=move || picked.with(|p| p.iter().any(|(i, ..)| *i == id))
                    on:change=move |e| {
                        let on = event_target_checked(&e);
                        let name = name.clone();
                        picked.update(|p| {
                            p.retain(|(i, ..)| *i != id);
                            if on { p.push((id, name, items, status)); }
                        });
                    } />
            }
        });
        view! {
            <tr data-testid="all-task-row" data-task=id.0.to_string()>
                <td>{tick}</td>
                <td>{t.id.0}</td>
                <td>
                    <a href=Route::TaskPage(id).path() data-go>{t.name}</a>
                </td>
                <td>{fmt::status(&t.kind.unwrap_or_default())}</td>
                <td>{fmt::annotation_type(t.schema.annotation_type)}</td>
                <td>{fmt::status(&t.status)}</td>
                <td>
                    <div class="bar"><div class="fill" style=format!("width:{pct}%")></div></div>
                    {format!("{}/{} labeled · {} approved · {} to review", c.labeled, c.items, c.approved, c.needs_review)}
                </td>
            </tr>
        }
    };
    view! {
        <section class="page">
            <header class="bar-head">
                <h1>"All tasks"</h1>
                <button data-testid="new-task" on:click=move |_| app.go(Route::NewTask)>"New task"</button>
            </header>
            <div class="filters">
                {select("Status", status, &[("", "any status"), ("open", "open"), ("in_progress", "in progress"), ("completed", "completed"), ("archived", "archived")])}
                {select("Kind", kind, &[("", "any kind"), ("labeling", "labeling"), ("review", "review"), ("consensus", "consensus"), ("honeypot", "honeypot"), ("qualification", "qualification"), ("auto_annotation", "auto annotation")])}
                {select("Sort by", sort, &[("created", "created"), ("last_submitted", "last submitted"), ("priority", "priority")])}
                {select("Order", order, &[("desc", "descending"), ("asc", "ascending")])}
            </div>
            <p class="note" data-testid="bulk-note" aria-live="polite">
                {move || note.get()}
                <a href="/manage/jobs" data-go hidden=move || !to_jobs.get()>"Jobs"</a>
            </p>
            <div class="actions" data-testid="bulk-bar" hidden=move || picked.with(Vec::is_empty)>
                <span>{move || format!("{} selected", picked.with(Vec::len))}</span>
                // Only the moves the server accepts for every ticked task.
                {move || {
                    [TaskStatus::InProgress, TaskStatus::Completed]
                        .into_iter()
                        .filter(|&to| picked.with(|p| TaskStatus::all_can_move_to(p.iter().map(|t| t.3), to)))
                        .map(|to| view! {
                            <button data-testid="bulk-move" data-to=to.to_string() on:click=move |_| run(Bulk::Status(to))>{move_label(to)}</button>
                        })
                        .collect_view()
                }}
                <label>"Priority "<input type="number" step="1" data-testid="bulk-priority" prop:value=move || bulk_priority.get() on:input=move |e| bulk_priority.set(event_target_value(&e))/></label>
                <button data-testid="bulk-set-priority" on:click=move |_| match parse_priority(&bulk_priority.get_untracked()) {
                    Ok(p) => run(Bulk::Priority(p)),
                    Err(m) => note.set(Some(m.into())),
                }>"Set priority of their items"</button>
                <label>"Format "<select data-testid="bulk-format" prop:value=move || bulk_format.get() on:change=move |e| bulk_format.set(event_target_value(&e))>
                    <option value="json">"JSON"</option>
                    <option value="csv">"CSV"</option>
                    <option value="coco">"COCO"</option>
                    <option value="label_studio">"Label Studio"</option>
                </select></label>
                <button data-testid="bulk-export" on:click=move |_| run(Bulk::Export(bulk_format.get_untracked()))>"Export"</button>
                <button data-testid="bulk-archive" on:click=move |_| run(Bulk::Archive)>"Archive"</button>
            </div>
            {move || match page.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(p)) => {
                    let next = p.next_cursor.clone();
                    let none = p.tasks.is_empty().then(|| view! {
                        <p data-testid="empty">"No tasks here: change the filters, or make one with New task."</p>
                    });
                    view! {
                        {none}
                        <table class="list">
                            <thead>
                                <tr><th></th><th>"Id"</th><th>"Name"</th><th>"Kind"</th><th>"Type"</th><th>"Status"</th><th>"Progress"</th></tr>
                            </thead>
                            <tbody>{p.tasks.into_iter().map(row).collect_view()}</tbody>
                        </table>
                        <div class="actions">
                            <button
                                disabled=move || cursors.with(|c| c.len() <= 1)
                                on:click=move |_| cursors.update(|c| { c.pop(); })
                            >"Previous"</button>
                            <span>{move || format!("page {}", cursors.with(|c| c.len()))}</span>
                            <button
                                disabled=next.is_none()
                                on:click=move |_| {
                                    let n = next.clone();
                                    cursors.update(|c| c.push(n));
                                }
                            >"Next"</button>
                        </div>
                    }
                    .into_any()
                }
            }}
        </section>
    }
}
