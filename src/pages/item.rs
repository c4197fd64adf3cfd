//! Managers' item viewer: an item read-only with every answer on it (annotators' and models',
//! active or rejected, late or not, from every task), the gold answer when there is one, all
//! answers overlaid in one picture, and each answer on its own, side by side, to compare them.

use crate::components::item_view::{colour, frame_at, image_url, item_body, label, summary};
use crate::state::App;
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::label::LabelValue;
use serde_json::Value;

/// One answer: who, its value and how it stands.
struct Answer {
    who: String,
    value: LabelValue,
    active: bool,
}

fn answers(v: &Value) -> Vec<Answer> {
    v["answers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|a| {
                    let name = a["worker_name"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("user {}", a["worker_id"]));
                    let active = a["active"].as_bool().unwrap_or(true);
                    Some(Answer {
                        who: format!(
                            "{name} · task {}{}{}",
                            a["task_id"],
                            if a["late"].as_bool() == Some(true) {
                                " · late"
                            } else {
                                ""
                            },
                            if active { "" } else { " · rejected" }
                        ),
                        value: label(&a["value"])?,
                        active,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The item screen.
#[component]
pub fn Item(id: i64) -> impl IntoView {
    let app = App::get();
    let item = RwSignal::new(None::<Result<Value, String>>);
    if let Some(client) = app.client() {
        spawn_local(async move {
            item.set(Some(client.item(id).await.map_err(|e| e.to_string())));
        });
    }
    let body = move |d: Value| {
        let data = d["data"].clone();
        let list = answers(&d);
        let all = item_body(&data, list.iter().map(|a| a.value.clone()).collect());
        let n = list.len();
        // Text needs no copy per answer; pictures do, each with only that answer's shapes.
        let picture = image_url(&data).is_some();
        let sides = list
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                view! {
                    <div class="side" style=format!("border-top: 6px solid {}", colour(i)) data-testid="item-answer" class:inactive=!a.active>
                        <b>{a.who}</b>
                        <div>{summary(&a.value)}</div>
                        {picture.then(|| item_body(&data, vec![a.value]))}
                    </div>
                }
            })
            .collect_view();
        let gold = label(&d["gold"]).map(|g| format!("Gold: {}", summary(&g)));
        view! {
            <p class="meta-line">
                {format!(
                    "dataset {} · {} · priority {} · external id {}",
                    d["dataset_id"],
                    d["directory"].as_str().unwrap_or_default(),
                    d["priority"],
                    d["external_id"].as_str().unwrap_or("none")
                )}
            </p>
            {frame_at(&data, &d["metadata"]).map(|f| {
                let video = d["metadata"]["video_item_id"].as_i64();
                view! {
                    <p class="meta-line">
                        {f}
                        {video.map(|v| view! { " · " <a href=format!("/items/{v}")>"the video item"</a> })}
                    </p>
                }
            })}
            <div class="item">{all}</div>
            <p data-testid="gold">{gold}</p>
            <h2>{format!("{}, side by side", crate::words::plural(n, "answer"))}</h2>
            <div class="compare" data-testid="compare">{sides}</div>
        }
    };
    view! {
        <section class="page">
            <h1>{format!("Item {id}")}</h1>
            {move || match item.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(d)) => body(d).into_any(),
            }}
        </section>
    }
}
