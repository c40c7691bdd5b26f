fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(dagrun::cli::main())
}
