//! dagrun: run DAG workflows of shell tasks described in YAML or TOML files.
//!
//! The library holds everything; `main.rs` only calls `cli::main` and exits with its code.

pub mod budget;
pub mod cli;
pub mod commands;
pub mod diag;
pub mod error;
pub mod exec;
pub mod files;
pub mod model;
pub mod par;
pub mod pipeline;
pub mod plan;
pub mod report;
pub mod scheduler;
pub mod state;
pub mod task;
pub mod workflow;
