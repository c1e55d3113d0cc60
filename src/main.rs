use std::process::ExitCode;

fn main() -> ExitCode {
    rescue_inspect::cli::main()
}
