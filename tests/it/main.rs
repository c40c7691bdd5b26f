//! Integration tests: one binary (faster to build than many), a module per area.

mod common;
mod graph;
mod prop;
mod validate;
