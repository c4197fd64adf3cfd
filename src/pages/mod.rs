//! One module per screen.
pub mod all_tasks;
pub mod annotate;
pub mod archive;
pub mod compare;
pub mod item;
pub mod jobs;
pub mod my_tasks;
pub mod new_task;
pub mod reservations;
pub mod review;
pub mod signin;
pub mod task_page;
pub mod uploads;
