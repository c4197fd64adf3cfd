//! Pieces shared by several screens.
pub mod ask;
pub mod charts;
pub mod concepts;
pub mod fmt;
pub mod item_view;
pub mod keys;
pub mod live;
pub mod shape_editor;
pub mod shell;
pub mod sync_status;
