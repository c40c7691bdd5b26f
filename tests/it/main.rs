//! Integration tests: one binary (faster to build than many), a module per area.

mod attacks;
mod common;
mod direct;
mod display;
mod env_file;
mod files;
mod fuzz_corpus;
mod generators;
mod graph;
mod history;
mod hostile;
mod logs;
mod order;
mod output;
mod prop;
mod resume;
mod run;
mod signals;
mod slurm;
mod slurmd;
mod ssh;
mod ssh_harness;
mod sshd;
mod state;
mod test_script;
mod validate;
