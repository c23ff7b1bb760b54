//! The `pendata` binary: parse arguments, run, map errors to exit codes. The program lives in the library.

fn main() -> std::process::ExitCode {
    pendata::cli::main()
}
