//! Pieces shared by several screens.
pub mod shape_editor;
pub mod shell;
pub mod sync_status;
