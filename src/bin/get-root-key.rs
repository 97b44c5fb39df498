//! `get-root-key -i IMAGE [-s SERVER]`: the same as `trustpin get-root-key`.
fn main() -> std::process::ExitCode {
    trustpin::cli::get_root_key_main()
}
