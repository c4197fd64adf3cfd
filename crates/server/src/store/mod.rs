//! The storage layer: every statement about one aggregate lives in that aggregate's module, with
//! typed rows in and out, on the one query API (`sql`) that runs on both backends. Handlers call
//! these functions and hold no SQL. (The older handlers still carry their own statements; they
//! move here one aggregate at a time.)

pub mod activity;
pub mod frames;
pub mod items;
pub mod media;
