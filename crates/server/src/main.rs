//! The `quorum` command: a thin entry point that parses arguments and hands over to the library.

fn main() -> std::process::ExitCode {
    quorum_server::cli::main()
}
