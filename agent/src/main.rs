//! `pult-agent`: the student agent.

fn main() -> std::process::ExitCode {
    pult_agent::cli::main(std::env::args_os())
}
