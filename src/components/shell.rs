//! The frame around every signed-in screen: the sidebar with navigation, who is signed in and
//! the sync indicator.

use crate::components::sync_status::SyncStatus;
use crate::route::Route;
use crate::state::App;
use leptos::prelude::*;

/// The element a click landed on.
pub fn clicked(e: &leptos::ev::MouseEvent) -> Option<web_sys::Element> {
    use wasm_bindgen::JsCast;
    e.target().and_then(|t| t.dyn_into().ok())
}

/// Sidebar + main area.
#[component]
pub fn Shell(children: Children) -> impl IntoView {
    let app = App::get();
    // Offline, `/me` cannot answer: the name kept at the last sign-in stands in, marked saved.
    let saved_name = RwSignal::new(None::<String>);
    if let Some(user) = app.user.get_untracked() {
        leptos::task::spawn_local(async move {
            saved_name.set(crate::offline::kept(user, "name").await);
        });
    }
    let who = move || match app.me.get() {
        Some(m) => m.name,
        None => saved_name
            .get()
            .unwrap_or_else(|| "(not checked yet)".into()),
    };
    let saved_mark = move || {
        (app.me.with(Option::is_none) && saved_name.with(Option::is_some))
            .then(|| view! { <small data-testid="who-saved">" · saved copy"</small> })
    };
    let is_manager = move || !app.managed_projects().is_empty();
    // Links written as HTML (`<a href=… data-go>`) move inside the app: one handler here is
    // smaller in the wasm than a closure per link.
    let go_links = move |e: leptos::ev::MouseEvent| {
        let Some(t) = clicked(&e) else { return };
        if let (true, Some(to)) = (t.has_attribute("data-go"), t.get_attribute("href")) {
            e.prevent_default();
            app.go(Route::parse(&to));
        }
    };
    // Signing out with work still queued asks first: send it now, or keep it on this browser
    // for this user's next sign-in (it is never sent with anyone else's token).
    let confirm = RwSignal::new(false);
    let sign_out = move |_| {
        if app.waiting() > 0 {
            confirm.set(true);
        } else {
            app.sign_out_after_sync(5_000);
        }
    };
    let confirm_box = move || {
        confirm.get().then(|| {
            let n = app.waiting();
            view! {
                <div class="confirm" role="alertdialog" data-testid="signout-confirm">
                    <p>{format!("{} not synced yet.", crate::words::plural(n, "change"))}</p>
                    <button
                        data-testid="signout-sync"
                        disabled=move || !app.online.get()
                        on:click=move |_| {
                            confirm.set(false);
                            app.sign_out_after_sync(30_000);
                        }
                    >
                        {move || if app.online.get() { "Sync now, then sign out" } else { "Sync now (offline)" }}
                    </button>
                    <button
                        data-testid="signout-keep"
                        on:click=move |_| {
                            confirm.set(false);
                            app.sign_out_after_sync(0);
                        }
                    >
                        "Keep them for when I sign in again"
                    </button>
                    <button class="link" on:click=move |_| confirm.set(false)>"Cancel"</button>
                </div>
            }
        })
    };
    // Several managed projects: the manager screens show the one picked here.
    let project_pick = move || {
        let projects = app.managed_projects();
        (projects.len() > 1).then(|| {
            view! {
                <select
                    class="project-pick"
                    aria-label="Project"
                    data-testid="project-pick"
                    prop:value=move || app.project().map(|p| p.to_string()).unwrap_or_default()
                    on:change=move |e| {
                        if let Ok(id) = event_target_value(&e).parse() {
                            app.choose_project(id);
                        }
                    }
                >
                    {projects
                        .into_iter()
                        .map(|(id, name)| view! { <option value=id.to_string()>{name}</option> })
                        .collect_view()}
                </select>
            }
        })
    };
    let link = move |to: Route, label: &'static str| {
        let href = to.path();
        view! {
            <a
                href=href
                data-nav=label
                data-go
                class:active=move || app.route.get() == to
            >
                {label}
            </a>
        }
    };
    view! {
        <div class="shell" on:click=go_links>
            <nav class="sidebar">
                <div class="brand">"Quorum"</div>
                {link(Route::MyTasks, "My tasks")}
                <Show when=is_manager>
                    <div class="section">"Manage"</div>
                    {project_pick}
                    {link(Route::AllTasks, "All tasks")}
                    {link(Route::NewTask, "New task")}
                    {link(Route::Reservations, "Reservations")}
                    {link(Route::Uploads, "Uploads")}
                    {link(Route::Jobs, "Jobs")}
                    {link(Route::Archive, "Archive")}
                </Show>
                <div class="spacer"></div>
                <SyncStatus />
                <div class="who">
                    <span data-testid="who">{who}</span>
                    {saved_mark}
                    <button class="link" data-testid="signout" on:click=sign_out>
                        {move || if app.leaving.get().is_some() { "Signing out…" } else { "Sign out" }}
                    </button>
                </div>
                {confirm_box}
            </nav>
            <main class="main">{children()}</main>
        </div>
    }
}
