//! `trustpin`: see [`trustpin::app`].

// Verification allocates many small strings and map nodes; mimalloc halves that cost (see
// BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    trustpin::app::main_with(std::env::args_os())
}
