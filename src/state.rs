//! App-wide state shared through Leptos context: the session, the route, connectivity, the
//! outbox and the clock tick that drives lease countdowns and the sync loop.

use crate::api::{Client, Me};
use crate::offline;
use crate::offline::{Outbox, Pending};
use crate::route::{self, Route};
use crate::stored_op::StoredOp;
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::ids::{LeaseId, WorkerId};
use quorum_core::sync::{Action, Op, Queued};
use quorum_core::time::Millis;

const TOKEN_KEY: &str = "quorum.token";
const PROJECT_KEY: &str = "quorum.project";
/// The signed-in user's id, kept with the token: every queued op records it, offline too.
const USER_KEY: &str = "quorum.user";

/// Handles to the shared signals (cheap to copy into closures).
#[derive(Clone, Copy)]
pub struct App {
    /// The bearer token, kept in localStorage.
    pub token: RwSignal<Option<String>>,
    /// Who is signed in (known once `/me` answered, or never offline).
    pub me: RwSignal<Option<Me>>,
    /// The signed-in user's id (from sign-in, kept in localStorage, so known offline too).
    pub user: RwSignal<Option<WorkerId>>,
    /// Signing out once this user's queued ops are sent, or at this time at the latest.
    pub leaving: RwSignal<Option<Millis>>,
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
            user: RwSignal::new(
                offline::local_get(USER_KEY)
                    .and_then(|u| u.parse().ok())
                    .map(WorkerId),
            ),
            leaving: RwSignal::new(None),
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
        self.set_me(me);
        self.token.set(Some(token));
        self.go(Route::MyTasks);
    }

    /// Records who the token belongs to.
    pub fn set_me(&self, me: Me) {
        offline::local_set(USER_KEY, Some(&me.id.to_string()));
        if self.user.get_untracked() != Some(WorkerId(me.id)) {
            self.user.set(Some(WorkerId(me.id)));
        }
        let (id, name) = (WorkerId(me.id), me.name.clone());
        leptos::task::spawn_local(async move {
            offline::keep(id, "name", &name).await;
        });
        self.me.set(Some(me));
    }

    /// How many of the signed-in user's ops wait to be sent; tracked.
    pub fn waiting(&self) -> usize {
        match self.user.get() {
            Some(u) => self.outbox.with(|o| o.waiting(u)),
            None => 0,
        }
    }

    /// Gives back what the user holds (release ops through the outbox, queued after their
    /// labels), then signs out once those ops are sent, or after `wait_ms` (whatever is left
    /// stays queued for this user's next sign-in; nobody else sends it).
    pub fn sign_out_after_sync(&self, wait_ms: i64) {
        let app = *self;
        let Some(user) = self.user.get_untracked() else {
            self.sign_out();
            return;
        };
        spawn_local(async move {
            for task in offline::queued_tasks(user) {
                let queue = offline::load_queue(user, task).await;
                app.release_held(user, &queue);
                offline::save_queue(user, task, &[]).await;
            }
            offline::save_outbox(&app.outbox.get_untracked()).await;
            if app.online.get_untracked() {
                app.outbox.update(|o| o.retry_now(offline::now()));
                app.leaving.set(Some(Millis(offline::now().0 + wait_ms)));
            } else {
                app.sign_out();
            }
        });
    }

    /// Queues an op as the signed-in user's: journaled synchronously, then in the outbox (the
    /// caller saves it). Returns its id, or `None` when nobody is known to be signed in.
    pub fn queue_op(&self, op: Op) -> Option<String> {
        let user = self.user.get_untracked()?;
        let now = offline::now();
        let pending = Pending {
            op: StoredOp::new(&op),
            user: Some(user),
            attempts: 0,
            not_before: now,
        };
        offline::journal_add(&pending);
        let id = pending.op.op_id().to_string();
        self.outbox.update(|o| o.pending.push(pending));
        Some(id)
    }

    /// Queues a release op for each lease of `queue` (items `user` holds but leaves unlabeled),
    /// so the server hands them to others now rather than at expiry. Queued after the labels
    /// already waiting, so those are applied first; a replay frees nothing twice.
    pub fn release_held(&self, user: WorkerId, queue: &[offline::Seat]) {
        let mut leases: Vec<LeaseId> = queue.iter().map(|s| s.lease_id).collect();
        leases.sort();
        leases.dedup();
        let now = offline::now();
        for lease_id in leases.into_iter().filter(|l| l.0 > 0) {
            let op = Op {
                client_op_id: offline::next_op_id(),
                created_at: Some(now),
                action: Action::Release { lease_id },
            };
            self.outbox
                .update(|o| o.push(StoredOp::new(&op), user, now));
        }
    }

    /// Forgets the token now. Queued ops stay, marked with their user: they are sent only
    /// after that same user signs in again.
    pub fn sign_out(&self) {
        spawn_local(async move {
            let _ = Client::new("").media_session(false).await;
        });
        offline::local_set(TOKEN_KEY, None);
        offline::local_set(USER_KEY, None);
        self.leaving.set(None);
        self.token.set(None);
        self.me.set(None);
        self.user.set(None);
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
