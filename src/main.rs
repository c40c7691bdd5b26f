/// Counts what template rendering allocates (see `budget`).
#[global_allocator]
static ALLOC: dagrun::budget::Counting = dagrun::budget::Counting;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(dagrun::cli::main())
}
