//! App-wide state shared through Leptos context: the session, the route, connectivity, the
//! outbox and the clock tick that drives lease countdowns and the sync loop.

use crate::api::{Client, Me};
use crate::offline;
use crate::route::{self, Route};
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::sync::Outbox;
use quorum_core::time::Millis;

const TOKEN_KEY: &str = "quorum.token";
const PROJECT_KEY: &str = "quorum.project";

/// Handles to the shared signals (cheap to copy into closures).
#[derive(Clone, Copy)]
pub struct App {
    /// The bearer token, kept in localStorage.
    pub token: RwSignal<Option<String>>,
    /// Who is signed in (known once `/me` answered, or never offline).
    pub me: RwSignal<Option<Me>>,
    /// The screen shown.
    pub route: RwSignal<Route>,
    /// The browser's view of connectivity.
    pub online: RwSignal<bool>,
    /// Ops waiting to sync and ops the server refused.
    pub outbox: RwSignal<Outbox>,
    /// Whether the outbox was read from IndexedDB (nothing syncs or labels before).
    pub outbox_loaded: RwSignal<bool>,
    /// The last sync report for people.
    pub sync_note: RwSignal<Option<String>>,
    /// Labels acknowledged by the server since the page loaded.
    pub synced: RwSignal<u64>,
    /// The clock, ticking every second.
    pub now: RwSignal<Millis>,
    /// The project the manager picked in the sidebar (kept in localStorage).
    pub chosen_project: RwSignal<Option<i64>>,
}

impl App {
    /// Fresh state from the browser (token from localStorage, route from the URL).
    pub fn new() -> Self {
        let online = web_sys::window()
            .map(|w| w.navigator().on_line())
            .unwrap_or(true);
        Self {
            token: RwSignal::new(offline::local_get(TOKEN_KEY)),
            me: RwSignal::new(None),
            route: RwSignal::new(route::current()),
            online: RwSignal::new(online),
            outbox: RwSignal::new(Outbox::default()),
            outbox_loaded: RwSignal::new(false),
            sync_note: RwSignal::new(None),
            synced: RwSignal::new(0),
            now: RwSignal::new(offline::now()),
            chosen_project: RwSignal::new(
                offline::local_get(PROJECT_KEY).and_then(|p| p.parse().ok()),
            ),
        }
    }

    /// The state from context.
    pub fn get() -> Self {
        expect_context::<App>()
    }

    /// A client for the signed-in user.
    pub fn client(&self) -> Option<Client> {
        self.token.get_untracked().map(Client::new)
    }

    /// Goes to another screen.
    pub fn go(&self, to: Route) {
        route::push(&to);
        self.route.set(to);
    }

    /// Keeps the token and goes to the tasks.
    pub fn sign_in(&self, token: String, me: Me) {
        offline::local_set(TOKEN_KEY, Some(&token));
        self.token.set(Some(token));
        self.me.set(Some(me));
        self.go(Route::MyTasks);
    }

    /// Forgets the token (queued ops stay; they sync after the next sign-in).
    pub fn sign_out(&self) {
        offline::local_set(TOKEN_KEY, None);
        self.token.set(None);
        self.me.set(None);
        self.go(Route::SignIn);
    }

    /// The projects the signed-in user manages (admins manage every project they see), as
    /// `(id, name)`; tracked.
    pub fn managed_projects(&self) -> Vec<(i64, String)> {
        self.me.with(|m| {
            m.as_ref()
                .map(|m| {
                    m.projects
                        .iter()
                        .filter(|p| m.is_admin || p.roles.iter().any(|r| r == "manager"))
                        .map(|p| (p.id, p.name.clone()))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// The project the manager screens show: the one picked, else the first managed; tracked.
    pub fn project(&self) -> Option<i64> {
        let managed = self.managed_projects();
        self.chosen_project
            .get()
            .filter(|p| managed.iter().any(|(id, _)| id == p))
            .or_else(|| managed.first().map(|(id, _)| *id))
    }

    /// Picks the project for the manager screens.
    pub fn choose_project(&self, id: i64) {
        offline::local_set(PROJECT_KEY, Some(&id.to_string()));
        self.chosen_project.set(Some(id));
    }

    /// Saves the current outbox to IndexedDB.
    pub fn persist_outbox(&self) {
        let snapshot = self.outbox.get_untracked();
        spawn_local(async move { offline::save_outbox(&snapshot).await });
    }
}

impl Default for App {
    fn default() -> Self {
        Self::new()
    }
}
