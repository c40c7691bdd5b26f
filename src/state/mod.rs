//! The state file: its model, how it is stored (snapshot + journal + lock), the recorder
//! that keeps it true during a run, and resume reconciliation.

pub mod history;
pub mod model;
pub mod recorder;
pub mod resume;
pub mod store;
pub mod trace;
