//! The row of concept buttons (key 1–9 shown on each), shared by the labeling screen (label a
//! class, or pick the class to draw with) and the reviewer's corrections: one view for all, so
//! the bundle holds it once.

use leptos::prelude::*;

/// One button per concept; `chosen` highlights the one picked (drawing), `pick` gets a click.
pub fn concept_buttons(
    concepts: Vec<String>,
    chosen: Option<RwSignal<String>>,
    pick: Callback<String>,
) -> impl IntoView {
    concepts
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let key = if i < 9 {
                (i + 1).to_string()
            } else {
                String::new()
            };
            let (mine, on) = (c.clone(), c.clone());
            view! {
                <button
                    class="concept"
                    data-testid="concept"
                    class:chosen=move || chosen.is_some_and(|s| s.with(|s| *s == on))
                    on:click=move |_| pick.run(mine.clone())
                >
                    <kbd>{key}</kbd>
                    {c}
                </button>
            }
        })
        .collect_view()
}
