//! Quorum's browser app (Leptos, client-side rendering): sign-in, the annotator's offline-first
//! labeling screen and its sync indicator, review, and the managers' console, served by
//! `quorum serve` at `/`. Only the pure modules build natively (and are tested there); the rest
//! is gated to wasm32 so native workspace builds never compile leptos or web-sys.

pub mod stored_op;
pub mod task_form;
pub mod tracks;
pub mod upload_pick;
pub mod words;

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
mod components;
#[cfg(target_arch = "wasm32")]
pub mod offline;
#[cfg(target_arch = "wasm32")]
mod pages;
#[cfg(target_arch = "wasm32")]
pub mod route;
#[cfg(target_arch = "wasm32")]
mod state;
#[cfg(target_arch = "wasm32")]
mod sync_loop;

#[cfg(target_arch = "wasm32")]
pub use app::start;

#[cfg(target_arch = "wasm32")]
mod app;
