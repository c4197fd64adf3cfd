//! Entry point of the browser app. Natively it is empty, so `cargo test --workspace` stays light.

fn main() {
    #[cfg(target_arch = "wasm32")]
    quorum_web::start();
}
