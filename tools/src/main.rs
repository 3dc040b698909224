//! The `shoal` binary: see `shoal --help`.

fn main() -> std::process::ExitCode {
    shoal_tools::cli::main()
}
