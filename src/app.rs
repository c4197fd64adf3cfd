//! The root component: session restore, outbox recovery, the sync loop, global listeners and
//! the screen for the current route.

use crate::components::shell::Shell;
use crate::route::Route;
use crate::state::App;
use crate::{api, offline, pages, route, sync_loop};
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::sync::Queued;

/// Mounts the app on the page.
pub fn start() {
    // A panic's message on the console (the wasm aborts after it); leptos's logger is linked
    // anyway, where console_error_panic_hook would add its own stack-capturing glue.
    std::panic::set_hook(Box::new(|info| leptos::logging::error!("{info}")));
    leptos::mount::mount_to_body(Root);
}

/// Caches the app shell so a reload works offline; failure only costs that, so it is logged.
fn register_service_worker() {
    let Some(w) = web_sys::window() else { return };
    let sw = w.navigator().service_worker();
    let promise = sw.register("/sw.js");
    spawn_local(async move {
        if let Err(e) = wasm_bindgen_futures::JsFuture::from(promise).await {
            leptos::logging::warn!("service worker not registered: {e:?}");
        }
    });
}

#[component]
fn Root() -> impl IntoView {
    let app = App::new();
    provide_context(app);
    // Here rather than before mounting: spawning needs the executor that mounting sets up.
    register_service_worker();

    spawn_local(async move {
        let mut saved = offline::load_outbox().await;
        // Ops whose save had not committed when the page went away come back from the journal.
        let journal = offline::journal();
        let known = |id: &str| {
            saved.pending.iter().any(|p| p.op.op_id() == id)
                || saved.refused.iter().any(|r| r.op.op_id() == id)
        };
        let recovered: Vec<_> = journal
            .into_iter()
            .filter(|p| !known(p.op.op_id()))
            .collect();
        saved.pending.extend(recovered);
        app.outbox.set(saved);
        app.outbox_loaded.set(true);
        let snapshot = app.outbox.get_untracked();
        offline::save_outbox(&snapshot).await;
        let ids: Vec<String> = offline::journal()
            .into_iter()
            .map(|p| p.op.op_id().to_string())
            .collect();
        offline::journal_remove(&ids);
    });
    sync_loop::start(app);

    let _ = window_event_listener(leptos::ev::online, move |_| {
        app.online.set(true);
        app.outbox.update(|o| o.retry_now(offline::now()));
    });
    let _ = window_event_listener(leptos::ev::offline, move |_| app.online.set(false));
    let _ = window_event_listener(leptos::ev::popstate, move |_| {
        app.route.set(route::current())
    });

    // Learn who the token belongs to; offline the token is trusted until the server says otherwise.
    Effect::new(move |_| {
        let Some(client) = app.token.get().map(api::Client::new) else {
            return;
        };
        spawn_local(async move {
            match client.me().await {
                Ok(me) => {
                    app.set_me(me);
                    // <img> and <video> cannot send the token: a media-only cookie does.
                    let _ = client.media_session(true).await;
                }
                Err(api::Error::Api { status: 401, .. }) => app.sign_out(),
                Err(_) => {}
            }
        });
    });

    // A window title per screen (pages with a task put its name in once they know it).
    Effect::new(move |_| {
        let screen = match app.route.get() {
            _ if app.token.get().is_none() => "Sign in".to_string(),
            Route::SignIn => "Sign in".into(),
            Route::MyTasks => "My tasks".into(),
            Route::Annotate(t) => format!("Label · task {}", t.0),
            Route::AllTasks => "All tasks".into(),
            Route::Review(t) => format!("Review · task {}", t.0),
            Route::NewTask => "New task".into(),
            Route::TaskPage(t) => format!("Task {}", t.0),
            Route::Reservations => "Reservations".into(),
            Route::Uploads => "Uploads".into(),
            Route::Jobs => "Jobs".into(),
            Route::Archive => "Archive".into(),
            Route::Item(id) => format!("Item {id}"),
            Route::Compare(t) => format!("Compare · task {}", t.0),
            Route::NotFound(_) => "Not found".into(),
        };
        crate::components::fmt::title(&screen);
    });

    // Known (from `/me`) to manage no project: the console screens say so instead of offering
    // what the server would refuse. A memo, so pages mount again only when this flips.
    let not_manager =
        Memo::new(move |_| app.me.with(Option::is_some) && app.managed_projects().is_empty());

    view! {
        {move || {
            let route = app.route.get();
            if app.token.get().is_none() || route == Route::SignIn {
                return pages::signin::SignIn().into_any();
            }
            // Read only on console routes, so a change of `/me` never mounts other pages again
            // (their loads in flight would touch a disposed page).
            if route.path().starts_with("/manage/") && not_manager.get() {
                let page = view! {
                    <section class="page" data-testid="managers-only" inner_html="<h1>For managers</h1><p>This screen is for the project's managers. <a href=\"/tasks\" data-go>Your tasks</a> are in My tasks.</p>"></section>
                };
                return view! { <Shell>{page}</Shell> }.into_any();
            }
            let page = match route {
                Route::MyTasks | Route::SignIn => pages::my_tasks::MyTasks().into_any(),
                Route::Annotate(task) => view! { <pages::annotate::Annotate task=task /> }.into_any(),
                Route::AllTasks => pages::all_tasks::AllTasks().into_any(),
                Route::Review(task) => view! { <pages::review::Review task=task /> }.into_any(),
                Route::NewTask => pages::new_task::NewTask().into_any(),
                Route::TaskPage(task) => view! { <pages::task_page::TaskPage task=task /> }.into_any(),
                Route::Reservations => pages::reservations::Reservations().into_any(),
                Route::Uploads => pages::uploads::Uploads().into_any(),
                Route::Jobs => pages::jobs::Jobs().into_any(),
                Route::Archive => pages::archive::Archive().into_any(),
                Route::Item(id) => view! { <pages::item::Item id=id /> }.into_any(),
                Route::Compare(task) => view! { <pages::compare::Compare task=task /> }.into_any(),
                Route::NotFound(path) => view! {
                    <section class="page"><h1>"Not found"</h1><p>"No screen at " {path}</p></section>
                }
                .into_any(),
            };
            view! { <Shell>{page}</Shell> }.into_any()
        }}
    }
}
