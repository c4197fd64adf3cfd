//! One task for its managers: progress, the plan's share per assignee (planned strategies),
//! throughput, gold accuracy and agreement per annotator as inline SVG charts, status moves,
//! bulk priority, export, archive, and each item's result with a link to the item viewer.

use crate::api::{Member, Progress, TaskDetail};
use crate::components::ask::ask;
use crate::components::charts::{bar_chart, percent, Bar};
use crate::components::{fmt, live};
use crate::route::Route;
use crate::state::App;
use crate::task_form::{parse_id_list, planned_shares};
use crate::words::{move_label, move_question, parse_priority, plural};
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::ids::TaskId;
use quorum_core::lifecycle::TaskStatus;
use serde_json::Value;

/// Loaded together so the charts never mix two moments.
#[derive(Clone)]
struct Loaded {
    detail: TaskDetail,
    progress: Progress,
    items: Vec<i64>,
    members: Vec<Member>,
}

/// `(worker, weight)` of a planned task's seats (weight 1 each unless partitioned by weight), or
/// `None` for pull tasks, which have no plan.
fn plan_weights(raw: &Value) -> Option<Vec<(i64, u32)>> {
    let ws = &raw["worker_strategy"];
    if ws["type"].as_str()? == "pull" {
        return None;
    }
    if ws["partition"]["type"].as_str() == Some("weighted") {
        let weights = ws["partition"]["weights"].as_array()?;
        Some(
            weights
                .iter()
                .filter_map(|w| Some((w["worker"].as_i64()?, w["weight"].as_u64()? as u32)))
                .collect(),
        )
    } else {
        let people = raw["assignees"].as_array()?;
        Some(
            people
                .iter()
                .filter_map(|a| Some((a.as_i64()?, 1)))
                .collect(),
        )
    }
}

fn strategy_text(raw: &Value) -> String {
    let ws = &raw["worker_strategy"];
    let per_item = raw["overlap"].as_u64().unwrap_or(1);
    let worker = match ws["type"].as_str().unwrap_or("") {
        "pull" => format!(
            "pull, batches of {}{}, {per_item} per item",
            ws["batch_size"].as_u64().unwrap_or(10),
            ws["max_batch_workload"]
                .as_u64()
                .map(|m| format!(", at most {m} held"))
                .unwrap_or_default()
        ),
        "partitioned" => match plan_weights(raw) {
            Some(w) if ws["partition"]["type"].as_str() == Some("weighted") => format!(
                "partitioned by weight ({}), {per_item} per item",
                w.iter()
                    .map(|(_, w)| w.to_string())
                    .collect::<Vec<_>>()
                    .join(":")
            ),
            _ => format!("partitioned evenly, {per_item} per item"),
        },
        other => other.to_string(),
    };
    let rs = &raw["review_strategy"];
    let review = match rs["type"].as_str().unwrap_or("none") {
        "manual" => format!(
            "manual review of {}%",
            rs["sample_percentage"].as_f64().unwrap_or(0.0)
        ),
        "consensus" => format!(
            "consensus at {} identical labels",
            rs["approval_threshold"].as_u64().unwrap_or(0)
        ),
        _ => "no review".to_string(),
    };
    format!("{worker} · {review}")
}

/// The task screen.
#[component]
pub fn TaskPage(task: TaskId) -> impl IntoView {
    let app = App::get();
    // `Err(None)`: there is no such task (never made, or deleted).
    let data = RwSignal::new(None::<Result<Loaded, Option<String>>>);
    let note = RwSignal::new(None::<String>);
    let reload = RwSignal::new(0u32);
    let priority_items = RwSignal::new(String::new());
    let priority_value = RwSignal::new(String::from("10"));
    let export_format = RwSignal::new(String::from("json"));
    let open_item = RwSignal::new(String::new());

    Effect::new(move |_| {
        reload.get();
        let Some(client) = app.client() else { return };
        spawn_local(async move {
            let got = async {
                let detail = client.task_detail(task).await?;
                let members = match detail.task.project_id {
                    Some(p) => client.members(p).await?,
                    None => Vec::new(),
                };
                Ok::<_, crate::api::Error>(Loaded {
                    detail,
                    progress: client.progress(task).await?,
                    items: client.task_items(task).await?,
                    members,
                })
            }
            .await;
            data.set(Some(got.map_err(|e| match e {
                crate::api::Error::Api { status: 404, .. } => None,
                e => Some(e.to_string()),
            })));
        });
    });
    // Progress moves while people work: the server says when (live events), so nothing is
    // fetched while nothing happens. `ready` comes again after a reconnect: what changed during
    // the gap is read then.
    live::follow(task, move || reload.update(|r| *r += 1));
    on_cleanup(live::stop);
    Effect::new(move |_| {
        if app.now.get().0 / 1000 % 10 == 0 && !live::is_live() {
            reload.update(|r| *r += 1);
        }
    });

    let act = move |what: &'static str,
                    run: std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<String, crate::api::Error>>>,
    >| {
        spawn_local(async move {
            match run.await {
                Ok(m) => note.set(Some(m)),
                Err(e) => note.set(Some(format!("{what} failed: {e}"))),
            }
            reload.update(|r| *r += 1);
        });
    };
    // The task's name for questions, as loaded.
    let name = move || {
        data.with_untracked(|d| match d {
            Some(Ok(l)) => l.detail.task.name.clone(),
            _ => format!("task {}", task.0),
        })
    };
    let set_status = move |to: TaskStatus| {
        let Some(client) = app.client() else { return };
        if !ask(&move_question(to, &name())) {
            return;
        }
        act(
            "status change",
            Box::pin(async move {
                client.set_status(task, &to.to_string()).await?;
                Ok(format!(
                    "status set to {}",
                    to.to_string().replace('_', " ")
                ))
            }),
        );
    };
    let bulk_priority = move || {
        let Some(client) = app.client() else { return };
        let p = match parse_priority(&priority_value.get_untracked()) {
            Ok(p) => p,
            Err(m) => return note.set(Some(m.into())),
        };
        let typed = priority_items.get_untracked();
        let items = if typed.trim().is_empty() {
            // No list means every item of the task.
            data.with_untracked(|d| match d {
                Some(Ok(l)) => l.items.clone(),
                _ => Vec::new(),
            })
        } else {
            match parse_id_list(&typed) {
                Ok(ids) => ids,
                Err(m) => {
                    note.set(Some(m));
                    return;
                }
            }
        };
        let scope = if typed.trim().is_empty() { "all " } else { "" };
        if !ask(&format!(
            "Set priority {p} on {scope}{} of \u{201c}{}\u{201d}?",
            plural(items.len(), "item"),
            name()
        )) {
            return;
        }
        act(
            "priority change",
            Box::pin(async move {
                let n = client.set_priority(task, &items, p).await?;
                Ok(format!(
                    "priority {p} set on {}",
                    plural(n as usize, "item")
                ))
            }),
        );
    };
    let export = move || {
        let Some(client) = app.client() else { return };
        let format = export_format.get_untracked();
        act(
            "export",
            Box::pin(async move {
                let job = client.export(task, &format).await?;
                Ok(format!("export started as job {job} (see Jobs)"))
            }),
        );
    };
    let archive = move || {
        let Some(client) = app.client() else { return };
        if !ask(&format!(
            "Archive \u{201c}{}\u{201d}? This cannot be undone.",
            name()
        )) {
            return;
        }
        act(
            "archive",
            Box::pin(async move {
                client.archive_tasks(&[task.0]).await?;
                Ok("archived (see Archive)".into())
            }),
        );
    };

    // Changes are offered only for a task that is loaded and not archived.
    let archived =
        move || !data.with(|d| matches!(d, Some(Ok(l)) if l.detail.task.status != "archived"));

    let body = move |l: Loaded| {
        let Loaded {
            detail,
            progress,
            members,
            ..
        } = l;
        let status: Option<TaskStatus> = detail.task.status.parse().ok();
        let moves = [
            TaskStatus::Open,
            TaskStatus::InProgress,
            TaskStatus::Completed,
        ]
        .into_iter()
        .filter(|to| status.is_some_and(|s| s != *to && s.can_move_to(*to)))
        .map(|to| {
            view! {
                <button data-testid="status-move" data-to=to.to_string() on:click=move |_| set_status(to)>
                    {move_label(to)}
                </button>
            }
        })
        .collect_view();
        let items = progress.items.max(1) as f64;
        let overview = bar_chart(
            "Progress",
            "progress-chart",
            vec![
                Bar {
                    label: "labeled".into(),
                    value: progress.labeled as f64,
                    max: items,
                    text: format!("{} / {}", progress.labeled, progress.items),
                },
                Bar {
                    label: "approved".into(),
                    value: progress.approved as f64,
                    max: items,
                    text: format!("{} / {}", progress.approved, progress.items),
                },
                Bar {
                    label: "to review".into(),
                    value: progress.needs_review as f64,
                    max: items,
                    text: progress.needs_review.to_string(),
                },
            ],
        );
        let name_of = |id: i64| {
            members
                .iter()
                .find(|m| m.user_id == id)
                .map(|m| m.name.clone())
                .unwrap_or_else(|| format!("user {id}"))
        };
        let overlap = detail.raw["overlap"].as_u64().unwrap_or(1) as u16;
        let seed = detail.raw["seed"].as_u64().unwrap_or(0);
        let plan = plan_weights(&detail.raw).map(|weights| {
            let bars = planned_shares(&weights, overlap, progress.items, seed)
                .into_iter()
                .map(|(w, seats)| {
                    let done = progress
                        .per_annotator
                        .iter()
                        .find(|a| a.worker_id == w)
                        .map_or(0, |a| a.annotations);
                    Bar {
                        label: name_of(w),
                        value: done as f64,
                        max: seats.max(1) as f64,
                        text: format!("{done} / {seats} planned"),
                    }
                })
                .collect();
            bar_chart("The plan: labels done of each share", "plan-chart", bars)
        });
        let per = &progress.per_annotator;
        let most = per.iter().filter_map(|a| a.per_hour).fold(0.0f64, f64::max);
        let throughput = bar_chart(
            "Throughput (labels per hour)",
            "throughput-chart",
            per.iter()
                .map(|a| Bar {
                    label: a
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("user {}", a.worker_id)),
                    value: a.per_hour.unwrap_or(0.0),
                    max: most,
                    text: match a.per_hour {
                        Some(h) => format!("{h:.0}/h · {} labels", a.annotations),
                        None => format!("{} labels", a.annotations),
                    },
                })
                .collect(),
        );
        let ratio_chart =
            |title: &str,
             testid: &'static str,
             get: fn(&crate::api::AnnotatorStats) -> Option<f64>| {
                bar_chart(
                    title,
                    testid,
                    per.iter()
                        .map(|a| Bar {
                            label: a
                                .name
                                .clone()
                                .unwrap_or_else(|| format!("user {}", a.worker_id)),
                            value: get(a).unwrap_or(0.0),
                            max: 1.0,
                            text: percent(get(a)),
                        })
                        .collect(),
                )
            };
        let gold = ratio_chart("Gold accuracy", "gold-chart", |a| a.gold_accuracy);
        let agreement = ratio_chart("Agreement with the results", "agreement-chart", |a| {
            a.agreement
        });
        let t = detail.task.clone();
        fmt::title(&t.name);
        let strategy = strategy_text(&detail.raw);
        view! {
            <header class="bar-head">
                <h1>{t.name.clone()}</h1>
                <span data-testid="task-status">{fmt::status(&t.status)}</span>
                <button on:click=move |_| app.go(Route::Review(task))>"Review queue"</button>
                <a href=Route::Compare(task).path() data-testid="compare-link" data-go>"Compare"</a>
            </header>
            <p class="meta-line">
                {format!("{} · {} · ", fmt::status(&t.kind.clone().unwrap_or_default()), fmt::annotation_type(t.schema.annotation_type))}
                <span data-testid="strategy">{strategy}</span>
            </p>
            <div class="charts">
                {overview}
                {plan}
                {throughput}
                {gold}
                {agreement}
            </div>
            <div class="actions">{moves}</div>
        }
    };

    view! {
        <section class="page task-page">
            <p class="note" data-testid="task-note">{move || note.get()}</p>
            {move || match data.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Err(Some(e))) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Err(None)) => view! {
                    <p data-testid="no-task" inner_html=format!("There is no task {} (or it was deleted). <a href=\"/manage/tasks\" data-go>All tasks</a>", task.0)></p>
                }.into_any(),
                Some(Ok(l)) => body(l).into_any(),
            }}
            // Only a task that loaded takes actions.
            <div class="controls" hidden=move || !data.with(|d| matches!(d, Some(Ok(_))))>
                // A missing or archived task takes no changes: nothing is offered that the
                // server would refuse.
                <div class="actions" hidden=archived>
                    <label>"Items "<input placeholder="ids, empty: all" data-testid="priority-items" prop:value=move || priority_items.get() on:input=move |e| priority_items.set(event_target_value(&e)) /></label>
                    <label>"Priority "<input class="short" data-testid="priority-value" prop:value=move || priority_value.get() on:input=move |e| priority_value.set(event_target_value(&e)) /></label>
                    <button data-testid="set-priority" on:click=move |_| bulk_priority()>"Set priority"</button>
                </div>
                <div class="actions">
                    <label>"Format "<select prop:value=move || export_format.get() on:change=move |e| export_format.set(event_target_value(&e))>
                        <option value="json">"JSON"</option>
                        <option value="csv">"CSV"</option>
                        <option value="coco">"COCO"</option>
                        <option value="label_studio">"Label Studio"</option>
                    </select></label>
                    <button data-testid="export" on:click=move |_| export()>"Export"</button>
                    <button data-testid="archive" hidden=archived on:click=move |_| archive()>"Archive"</button>
                </div>
                <form class="actions" on:submit=move |e| {
                    e.prevent_default();
                    match open_item.get_untracked().trim().parse() {
                        Ok(id) => app.go(Route::Item(id)),
                        Err(_) => note.set(Some("an item id is a number".into())),
                    }
                }>
                    <input placeholder="item id" aria-label="Item id" data-testid="open-item" class="short" prop:value=move || open_item.get() on:input=move |e| open_item.set(event_target_value(&e)) />
                    <button type="submit">"View item"</button>
                </form>
            </div>
        </section>
    }
}
