//! One module per screen.
pub mod all_tasks;
pub mod annotate;
pub mod my_tasks;
pub mod review;
pub mod signin;
