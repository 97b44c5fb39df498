//! `trustpin`: see [`trustpin::app`].
fn main() -> std::process::ExitCode {
    trustpin::app::main_with(std::env::args_os())
}
