//! Managers' "new task" form: every worker strategy (pull, distribution, partitioned evenly or
//! weighted, full), every review strategy, honeypots, qualification, due date, priority. The
//! form is checked by core's `TaskSpec` rules as it is typed (after the first submit), and the
//! server's 422 field messages land next to the same inputs.

use crate::api::{field_errors, Dataset, Member};
use crate::components::ask::ask;
use crate::route::Route;
use crate::state::App;
use crate::task_form::{messages_for, TaskForm};
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::ids::TaskId;
use quorum_core::task::FieldError;

type Getter = fn(&TaskForm) -> String;
type Setter = fn(&mut TaskForm, String);
type Shown = fn(&TaskForm) -> bool;

fn tz_offset() -> i64 {
    js_sys::Date::new_0().get_timezone_offset() as i64
}

/// The create-task screen.
#[component]
pub fn NewTask() -> impl IntoView {
    let app = App::get();
    let form = RwSignal::new(TaskForm::default());
    let submitted = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let server_errors = RwSignal::new(Vec::<FieldError>::new());
    let general = RwSignal::new(None::<String>);
    let members = RwSignal::new(Vec::<Member>::new());
    let datasets = RwSignal::new(Vec::<Dataset>::new());

    Effect::new(move |_| {
        let Some(project) = app.project() else { return };
        let Some(client) = app.client() else { return };
        spawn_local(async move {
            match client.members(project).await {
                Ok(m) => members.set(m),
                Err(e) => general.set(Some(format!("could not load the members: {e}"))),
            }
            match client.datasets(project).await {
                Ok(d) => {
                    // Preselect the first dataset so the common case needs no click.
                    if let Some(first) = d.first() {
                        let id = first.id.to_string();
                        form.update(|f| {
                            if f.dataset_id.is_empty() {
                                f.dataset_id = id;
                            }
                        });
                    }
                    datasets.set(d);
                }
                Err(e) => general.set(Some(format!("could not load the datasets: {e}"))),
            }
        });
    });

    // Client-side messages appear once the manager tried to submit, then follow every keystroke.
    let errors = move || {
        let mut all = if submitted.get() {
            form.with(|f| f.to_spec(tz_offset()).err().unwrap_or_default())
        } else {
            Vec::new()
        };
        for e in server_errors.get() {
            if !all.contains(&e) {
                all.push(e);
            }
        }
        all
    };
    // A field's messages in one paragraph that its input points at (`aria-describedby`).
    let error_for = move |field: &'static str| {
        move || {
            let m = messages_for(&errors(), field);
            (!m.is_empty()).then(|| {
                view! { <p class="field-error" id=format!("err-{field}") data-field=field>{m.join("; ")}</p> }
            })
        }
    };
    let invalid = move |field: &'static str| {
        move || (!messages_for(&errors(), field).is_empty()).then_some("true")
    };
    let described = move |field: &'static str| {
        move || (!messages_for(&errors(), field).is_empty()).then(|| format!("err-{field}"))
    };
    let edit = move |f: &dyn Fn(&mut TaskForm)| {
        form.update(|x| f(x));
        server_errors.set(Vec::new());
    };
    // Fields that do not apply are hidden rather than removed: one reactive class per field
    // costs far less wasm than a reactive view per group, and typed values survive a switch.
    let text = move |label: &'static str,
                     name: &'static str,
                     get: Getter,
                     set: Setter,
                     field: &'static str,
                     when: Shown| {
        view! {
            <label class="field" class:hidden=move || !form.with(when)>
                <span>{label}</span>
                <input
                    name=name
                    aria-invalid=invalid(field)
                    aria-describedby=described(field)
                    prop:value=move || form.with(get)
                    on:input=move |e| {
                        let v = event_target_value(&e);
                        edit(&|f| set(f, v.clone()));
                    }
                />
                {error_for(field)}
            </label>
        }
    };
    let select = move |label: &'static str,
                       name: &'static str,
                       options: &'static [(&'static str, &'static str)],
                       get: Getter,
                       set: Setter,
                       when: Shown| {
        view! {
            <label class="field" class:hidden=move || !form.with(when)>
                <span>{label}</span>
                <select
                    name=name
                    prop:value=move || form.with(get)
                    on:change=move |e| {
                        let v = event_target_value(&e);
                        edit(&|f| set(f, v.clone()));
                    }
                >
                    {options.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                </select>
            </label>
        }
    };
    let people = move |role: &'static str, reviewers: bool| {
        move || {
            members
                .get()
                .into_iter()
                .filter(|m| m.roles.iter().any(|r| r == role))
                .map(|m| {
                    let id = m.user_id;
                    let chosen = move || {
                        form.with(|f| if reviewers { &f.reviewers } else { &f.assignees }.contains(&id))
                    };
                    view! {
                        <label class="check">
                            <input
                                type="checkbox"
                                name=if reviewers { "reviewer" } else { "assignee" }
                                data-user=id.to_string()
                                prop:checked=chosen
                                on:change=move |_| {
                                    edit(&|f| {
                                        let list = if reviewers { &mut f.reviewers } else { &mut f.assignees };
                                        if list.contains(&id) {
                                            list.retain(|x| *x != id);
                                        } else {
                                            list.push(id);
                                        }
                                    })
                                }
                            />
                            {format!(" {}", m.name)}
                        </label>
                    }
                })
                .collect_view()
        }
    };
    let weights = move || {
        let names = members.get();
        form.with(|f| f.assignees.clone())
            .into_iter()
            .map(|id| {
                let name = names
                    .iter()
                    .find(|m| m.user_id == id)
                    .map(|m| m.name.clone())
                    .unwrap_or_else(|| format!("user {id}"));
                view! {
                    <label class="field weight">
                        <span>{name}</span>
                        <input
                            name="weight"
                            data-user=id.to_string()
                            inputmode="numeric"
                            prop:value=move || form.with(|f| f.weights.get(&id).cloned().unwrap_or_else(|| "1".into()))
                            on:input=move |e| {
                                let v = event_target_value(&e);
                                edit(&|f| {
                                    f.weights.insert(id, v.clone());
                                })
                            }
                        />
                    </label>
                }
            })
            .collect_view()
    };

    let submit = move || {
        submitted.set(true);
        general.set(None);
        let Some(project) = app.project() else {
            general.set(Some("pick a project you manage first".into()));
            return;
        };
        let spec = match form.with_untracked(|f| f.to_spec(tz_offset())) {
            Ok(s) => s,
            Err(_) => {
                general.set(Some("some fields need attention".into()));
                return;
            }
        };
        let Some(client) = app.client() else { return };
        busy.set(true);
        let f = form.get_untracked();
        let known = datasets.get_untracked();
        spawn_local(async move {
            // How many items the input matches, where the screen can tell.
            let items = match f.input.as_str() {
                "dataset" => known
                    .iter()
                    .find(|d| d.id.to_string() == f.dataset_id)
                    .map(|d| d.items),
                "all_items" => Some(known.iter().map(|d| d.items).sum()),
                "directory" => client
                    .any_item_in(project, f.directory.trim())
                    .await
                    .ok()
                    .map(u64::from),
                _ => None,
            };
            let who = members.get_untracked();
            let name = |id: i64| {
                who.iter()
                    .find(|m| m.user_id == id)
                    .map_or_else(|| format!("user {id}"), |m| m.name.clone())
            };
            let warnings = f.warnings(crate::offline::now(), tz_offset(), items, name);
            if !warnings.is_empty()
                && !ask(&format!(
                    "{}\n\nCreate the task anyway?",
                    warnings.join("\n")
                ))
            {
                busy.set(false);
                return;
            }
            match client.create_task(project, &spec).await {
                Ok(task) => app.go(Route::TaskPage(TaskId(task.id.0))),
                Err(e) => {
                    let fields = field_errors(&e);
                    if fields.is_empty() {
                        general.set(Some(e.to_string()));
                    } else {
                        general.set(Some("the server refused some fields".into()));
                        server_errors.set(fields);
                    }
                }
            }
            busy.set(false);
        });
    };

    view! {
        <section class="page">
            <h1>"New task"</h1>
            <form class="task-form" on:submit=move |e| { e.prevent_default(); submit(); }>
                <fieldset>
                    <legend>"What"</legend>
                    {text("Name", "name", |f| f.name.clone(), |f, v| f.name = v, "name", |_| true)}
                    {select("Kind", "kind", &[("labeling", "labeling"), ("consensus", "consensus"), ("review", "review"), ("honeypot", "honeypot"), ("qualification", "qualification"), ("auto_annotation", "auto annotation")], |f| f.kind.clone(), |f, v| f.kind = v, |_| true)}
                    {error_for("kind")}
                    {select("Annotation type", "annotation_type", &[("classification", "classification"), ("bounding_box", "bounding boxes"), ("polygon", "polygons")], |f| f.annotation_type.clone(), |f, v| f.annotation_type = v, |_| true)}
                    <label class="field">
                        <span>"Concepts (comma or one per line)"</span>
                        <textarea
                            name="concepts"
                            aria-invalid=invalid("schema")
                            aria-describedby=described("schema")
                            prop:value=move || form.with(|f| f.concepts.clone())
                            on:input=move |e| {
                                let v = event_target_value(&e);
                                edit(&|f| f.concepts = v.clone());
                            }
                        ></textarea>
                        {error_for("schema")}
                    </label>
                </fieldset>
                <fieldset>
                    <legend>"Items"</legend>
                    {select("Source", "input", &[("dataset", "a dataset"), ("all_items", "every item of the project"), ("directory", "a directory"), ("item_ids", "these item ids")], |f| f.input.clone(), |f, v| f.input = v, |_| true)}
                    <label class="field" class:hidden=move || form.with(|f| f.input != "dataset")>
                        <span>"Dataset"</span>
                        <select
                            name="dataset_id"
                            aria-invalid=invalid("input.dataset_id")
                            aria-describedby=described("input.dataset_id")
                            prop:value=move || form.with(|f| f.dataset_id.clone())
                            on:change=move |e| {
                                let v = event_target_value(&e);
                                edit(&|f| f.dataset_id = v.clone());
                            }
                        >
                            {move || datasets.get().into_iter().map(|d| view! {
                                <option value=d.id.to_string()>{format!("{} ({} items)", d.name, d.items)}</option>
                            }).collect_view()}
                        </select>
                        {error_for("input.dataset_id")}
                    </label>
                    {text("Directory", "directory", |f| f.directory.clone(), |f, v| f.directory = v, "input.directory", |f| f.input == "directory")}
                    {text("Item ids (e.g. 1, 4, 10-20)", "item_ids", |f| f.item_ids.clone(), |f, v| f.item_ids = v, "input.item_ids", |f| f.input == "item_ids")}
                    {select("Order", "order", &[("sequential", "item order"), ("random", "seeded random")], |f| f.order.clone(), |f, v| f.order = v, |_| true)}
                    {text("Seed", "seed", |f| f.seed.clone(), |f, v| f.seed = v, "seed", |_| true)}
                </fieldset>
                <fieldset>
                    <legend>"Who labels"</legend>
                    <span class="caption">{move || if form.with(|f| f.strategy == "pull") {
                        "Annotators (none ticked: anyone with the annotator role)"
                    } else {
                        "Annotators (tick at least one: the items are dealt among them up front)"
                    }}</span>
                    <div class="people" data-testid="assignees">{people("annotator", false)}</div>
                    {error_for("assignees")}
                    {select("Worker strategy", "strategy", &[("pull", "pull: workers take batches"), ("distribution", "distribution: spread evenly up front"), ("partitioned", "partitioned: shares up front"), ("full", "full: everyone labels everything")], |f| f.strategy.clone(), |f, v| f.strategy = v, |_| true)}
                    {text("Batch size", "batch_size", |f| f.batch_size.clone(), |f, v| f.batch_size = v, "worker_strategy.batch_size", |f| f.strategy == "pull")}
                    {text("Most items held at once (empty: no limit)", "max_workload", |f| f.max_workload.clone(), |f, v| f.max_workload = v, "worker_strategy.max_batch_workload", |f| f.strategy == "pull")}
                    {select("Partition", "partition", &[("evenly", "evenly"), ("weighted", "weighted")], |f| f.partition.clone(), |f, v| f.partition = v, |f| f.strategy == "partitioned")}
                    {text("Workers per item", "overlap", |f| f.overlap.clone(), |f, v| f.overlap = v, "worker_strategy.workers_per_input", |f| f.strategy == "pull" || f.strategy == "partitioned")}
                    <div class="weights" data-testid="weights" class:hidden=move || form.with(|f| f.strategy != "partitioned" || f.partition != "weighted")>
                        {weights}
                    </div>
                    {error_for("worker_strategy.partition")}
                    {text("Lease (seconds)", "lease_seconds", |f| f.lease_seconds.clone(), |f, v| f.lease_seconds = v, "lease_seconds", |_| true)}
                </fieldset>
                <fieldset>
                    <legend>"Quality"</legend>
                    {select("Review", "review", &[("none", "none: approve when labeled"), ("manual", "manual: a reviewer checks a sample"), ("consensus", "consensus: identical labels approve")], |f| f.review.clone(), |f, v| f.review = v, |_| true)}
                    {text("Sample (%)", "sample_percentage", |f| f.sample_percentage.clone(), |f, v| f.sample_percentage = v, "review_strategy.sample_percentage", |f| f.review == "manual")}
                    {text("Identical labels that approve", "approval_threshold", |f| f.approval_threshold.clone(), |f, v| f.approval_threshold = v, "review_strategy.approval_threshold", |f| f.review == "consensus")}
                    <span class="caption">"Reviewers (none ticked: anyone with the reviewer role)"</span>
                    <div class="people" data-testid="reviewers">{people("reviewer", true)}</div>
                    {error_for("reviewers")}
                    {text("Honeypot rate (% of a batch)", "honeypot_percent", |f| f.honeypot_percent.clone(), |f, v| f.honeypot_percent = v, "honeypot_rate", |_| true)}
                    {text("Qualification tasks required first (ids)", "qualifications", |f| f.qualifications.clone(), |f, v| f.qualifications = v, "qualifications", |_| true)}
                    {text("Pass mark (%)", "pass_mark_percent", |f| f.pass_mark_percent.clone(), |f, v| f.pass_mark_percent = v, "pass_gate", |f| f.kind == "qualification")}
                    {text("Gold answers before a verdict", "min_answers", |f| f.min_answers.clone(), |f, v| f.min_answers = v, "pass_gate.min_answers", |f| f.kind == "qualification")}
                </fieldset>
                <fieldset>
                    <legend>"When"</legend>
                    <label class="field">
                        <span>"Due"</span>
                        <input
                            type="datetime-local"
                            name="due_date"
                            aria-invalid=invalid("due_date")
                            aria-describedby=described("due_date")
                            prop:value=move || form.with(|f| f.due_date.clone())
                            on:input=move |e| {
                                let v = event_target_value(&e);
                                edit(&|f| f.due_date = v.clone());
                            }
                        />
                        {error_for("due_date")}
                    </label>
                    {text("Priority of its items (empty: keep the items' own)", "priority", |f| f.priority.clone(), |f, v| f.priority = v, "priority", |_| true)}
                </fieldset>
                <p class="error" data-testid="form-error">{move || general.get()}</p>
                <div class="actions">
                    <button type="submit" data-testid="create" disabled=move || busy.get()>"Create task"</button>
                </div>
            </form>
        </section>
    }
}
