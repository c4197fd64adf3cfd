//! Consensus and quality: aggregation of labels into results, agreement metrics and annotator scores.
//
// NOTE TO THE CONSENSUS HELPER (delete this block when you write this file): the common rules
// that were meant to be in your prompt are below. They bind you.
// ## Common rules for every Quorum helper (read carefully)
// - Repo: /work/main (git, branch main). Shared material: /work/shared (notes/design.md = vocabulary,
//   invariants, public surface — read it first; notes/toolchain.md; notes/style.md; datasets/; images/).
//   Read the issue you work on with `issues show N`. Read ARCHITECTURE.md, README.md, docs/api.md and the
//   core crate (crates/core/src/*.rs) before writing code: reuse core types, never duplicate them.
// - Several helpers work in this same tree at once. Touch ONLY the paths you own (listed in your task).
//   If you need a change elsewhere, make the smallest possible one and say so in your report.
// - Machine: 2 cores shared by 3-4 helpers. Never run `cargo test --workspace` or `cargo build --workspace`;
//   build/test only your own package with `-p`. Prefer `cargo check`/`cargo clippy -p X` while iterating.
//   Cargo may print "Blocking waiting for file lock": that is another helper building; just wait.
// - Quality bar: real behaviour, no stubs/mocks/hard-coded answers. Every file starts with a `//!` line
//   saying what it is for. Comments say why, not what. Small modules named after what they do.
//   `cargo fmt` and `cargo clippy -p <your package> --all-targets -- -D warnings` must be clean.
//   Tests assert real behaviour (a test that cannot fail is a defect).
// - Commits: commit your own paths often: `git add <your paths> && git commit -m "<honest message>"`
//   (never `git add -A`, never commit other helpers' files; if git's index.lock exists, wait and retry).
//   Never rewrite history, never `git stash`, never `git checkout`/`reset` files you do not own.
// - Time: check `date`. HARD DEADLINE 03:10 UTC (today). By then: everything you own compiles, passes
//   fmt/clippy/tests, and is committed; anything unfinished is either finished, or removed/disabled so
//   the tree is green. Then stop and reply with your report. Do not start big new pieces after 02:50.
// - Your final reply (the report) must list: what you built (files, public API), how to run it, test
//   counts, measured figures, anything left undone or known-broken, and any change you made outside
//   your paths. Keep it under 60 lines.
