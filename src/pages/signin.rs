//! Sign-in with an API token; the token is checked against `GET /me` before it is kept.

use crate::api::Client;
use crate::state::App;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// The sign-in screen.
#[component]
pub fn SignIn() -> impl IntoView {
    let app = App::get();
    let token = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move || {
        let t = token.get_untracked().trim().to_string();
        if t.is_empty() {
            error.set(Some("enter your token".into()));
            return;
        }
        busy.set(true);
        spawn_local(async move {
            match Client::new(t.clone()).me().await {
                Ok(me) => app.sign_in(t, me),
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <div class="signin">
            <form on:submit=move |e| {
                e.prevent_default();
                submit();
            }>
                <h1>"Quorum"</h1>
                <label for="token">"API token"</label>
                <input
                    id="token"
                    name="token"
                    type="password"
                    autocomplete="current-password"
                    prop:value=move || token.get()
                    on:input=move |e| token.set(event_target_value(&e))
                />
                <button type="submit" disabled=move || busy.get()>"Sign in"</button>
                <p class="error" data-testid="signin-error">{move || error.get()}</p>
            </form>
        </div>
    }
}
