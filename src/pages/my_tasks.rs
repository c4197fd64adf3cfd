//! "My tasks": the tasks the caller annotates or reviews, with their own progress, and on a
//! task gated by qualifications the caller has not passed, which to take first.

use crate::api::Task;
use crate::components::fmt;
use crate::offline;
use crate::route::Route;
use crate::state::App;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

/// The gate of a task the caller may not label yet, as HTML (one element's worth of wasm): each
/// qualification not passed, with its counts and, while still open to them, a link to take it.
/// Empty when the caller may label.
fn gate(q: &Value) -> String {
    if q["qualified"].as_bool() != Some(false) {
        return String::new();
    }
    let mut h = String::from("Qualify first:<ul>");
    let quals = q["qualifications"].as_array().map(Vec::as_slice);
    for q in quals.unwrap_or_default() {
        let (id, right, answered) = (&q["task_id"], &q["correct"], &q["answered"]);
        let name = q["name"].as_str().unwrap_or_default();
        let name = crate::pages::compare::esc(name);
        h += &match q["standing"].as_str() {
            Some("passed") => continue,
            Some("pending") => format!(
                "<li data-testid=\"qualification\" data-task-id=\"{id}\">{name} (task {id}): {right} of {answered} gold answers right so far, {} needed <a href=\"/tasks/{id}/annotate\">Take it</a></li>",
                q["min_answers"]
            ),
            _ => format!(
                "<li data-testid=\"qualification\" data-task-id=\"{id}\">{name} (task {id}): not passed, {right} of {answered} right, pass mark {:.0}%</li>",
                q["pass_mark"].as_f64().unwrap_or(0.0) * 100.0
            ),
        };
    }
    h + "</ul>"
}

/// The task list screen.
#[component]
pub fn MyTasks() -> impl IntoView {
    let app = App::get();
    let tasks = RwSignal::new(None::<Result<Vec<Task>, String>>);
    // Offline (or the server unreachable): the list as last shown, marked as a saved copy.
    let saved = RwSignal::new(false);
    if let (Some(client), Some(user)) = (app.client(), app.user.get_untracked()) {
        spawn_local(async move {
            match client.my_tasks().await {
                Ok(list) => {
                    offline::keep(user, "my_tasks", &list).await;
                    tasks.set(Some(Ok(list)));
                }
                Err(e) => match offline::kept::<Vec<Task>>(user, "my_tasks").await {
                    Some(list) => {
                        saved.set(true);
                        tasks.set(Some(Ok(list)));
                    }
                    None => tasks.set(Some(Err(e.to_string()))),
                },
            }
        });
    }
    let row = move |t: Task| {
        let p = t.my_progress.unwrap_or_default();
        let total = p.done + p.leased + p.available;
        let pct = (p.done * 100).checked_div(total).unwrap_or(0);
        let id = t.id;
        // Offline the roles are unknown: offer both and let the server decide.
        let roles = app.me.with_untracked(|m| {
            m.as_ref().map(|m| {
                m.projects
                    .iter()
                    .filter(|p| Some(p.id) == t.project_id)
                    .flat_map(|p| p.roles.clone())
                    .collect::<Vec<_>>()
            })
        });
        let has = |r: &str| {
            roles
                .as_ref()
                .is_none_or(|rs| rs.is_empty() || rs.iter().any(|x| x == r || x == "manager"))
        };
        let gate = t.my_qualification.as_ref().map(gate).unwrap_or_default();
        // Workflow steps the caller decides in, with what waits there ("2 waiting in QA").
        let steps = t.my_review.as_ref().and_then(Value::as_array);
        let waiting = steps
            .into_iter()
            .flatten()
            .map(|s| {
                format!(
                    "{} waiting in {}",
                    s["waiting"],
                    s["name"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join(" · ");
        let in_steps = !waiting.is_empty();
        let to_review: i64 = steps
            .into_iter()
            .flatten()
            .filter_map(|s| s["waiting"].as_i64())
            .sum();
        let (label, review) = (has("annotator") && gate.is_empty(), has("reviewer"));
        view! {
            <tr data-testid="task-row">
                <td>{t.name.clone()}</td>
                <td>{fmt::annotation_type(t.schema.annotation_type)}</td>
                <td>{fmt::status(&t.status)}</td>
                <td>
                    <div class="bar"><div class="fill" style=format!("width:{pct}%")></div></div>
                    {format!("{} done · {} leased · {}{} available", p.done, p.leased, p.available, if p.available_at_least { "+" } else { "" })}
                    {in_steps.then(|| view! { <div data-testid="step-waiting">{waiting}</div> })}
                    <div class="gate" data-testid="qualification-gate" inner_html=gate></div>
                </td>
                <td>
                    <Show when=move || label>
                        <button on:click=move |_| app.go(Route::Annotate(id))>"Label"</button>
                    </Show>
                    <Show when=move || review>
                        <button on:click=move |_| app.go(Route::Review(id))>"Review"</button>
                        {(to_review > 0).then(|| view! { <span data-testid="to-review">{to_review}" to review"</span> })}
                    </Show>
                </td>
            </tr>
        }
    };
    view! {
        <section class="page">
            <h1>"My tasks"</h1>
            <Show when=move || saved.get()>
                <p class="note" data-testid="saved-copy">"Offline: a saved copy of your tasks, as last shown"</p>
            </Show>
            {move || match tasks.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p>"No tasks for you yet."</p> }.into_any()
                }
                Some(Ok(list)) => view! {
                    <table class="list">
                        <thead>
                            <tr><th>"Task"</th><th>"Type"</th><th>"Status"</th><th>"My progress"</th><th></th></tr>
                        </thead>
                        <tbody>{list.into_iter().map(row).collect_view()}</tbody>
                    </table>
                }
                .into_any(),
            }}
        </section>
    }
}
