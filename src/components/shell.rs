//! The frame around every signed-in screen: the sidebar with navigation, who is signed in and
//! the sync indicator.

use crate::components::sync_status::SyncStatus;
use crate::route::Route;
use crate::state::App;
use leptos::prelude::*;

/// Sidebar + main area.
#[component]
pub fn Shell(children: Children) -> impl IntoView {
    let app = App::get();
    let who = move || {
        app.me
            .get()
            .map(|m| m.name)
            .unwrap_or_else(|| "(not checked yet)".into())
    };
    let is_manager = move || {
        app.me.with(|m| {
            m.as_ref().is_some_and(|m| {
                m.is_admin
                    || m.projects
                        .iter()
                        .any(|p| p.roles.iter().any(|r| r == "manager"))
            })
        })
    };
    let link = move |to: Route, label: &'static str| {
        let href = to.path();
        let active_to = to.clone();
        view! {
            <a
                href=href
                class:active=move || app.route.get() == active_to
                on:click=move |e| {
                    e.prevent_default();
                    app.go(to.clone());
                }
            >
                {label}
            </a>
        }
    };
    view! {
        <div class="shell">
            <nav class="sidebar">
                <div class="brand">"Quorum"</div>
                {link(Route::MyTasks, "My tasks")}
                <Show when=is_manager>
                    <div class="section">"Manage"</div>
                    {link(Route::AllTasks, "All tasks")}
                </Show>
                <div class="spacer"></div>
                <SyncStatus />
                <div class="who">
                    <span data-testid="who">{who}</span>
                    <button class="link" on:click=move |_| app.sign_out()>"Sign out"</button>
                </div>
            </nav>
            <main class="main">{children()}</main>
        </div>
    }
}
