//! `trustpin`: see [`trustpin::cli`].
fn main() -> std::process::ExitCode {
    trustpin::cli::main_with(std::env::args_os())
}
