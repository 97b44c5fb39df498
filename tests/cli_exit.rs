//! Exit codes at the edge of the CLI: a reader that stops early (`trustpin ... | head -1`) is not
//! bad input.

use std::process::{Command, Stdio};

fn testdata() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

#[test]
fn a_closed_stdout_ends_quietly_with_exit_0_never_2() {
    let data = testdata();
    // Many references, so there is output to write after the reader is gone.
    let images: Vec<String> = (0..200)
        .map(|_| "example.com/trustpin/delegated:v1".to_owned())
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trustpin"))
        .args(["resolve", "--metadata-dir"])
        .arg(&data)
        .arg("--root-key")
        .arg(data.join("keys/delegated.pub"))
        .args(["--at", "2026-11-22T03:06:24Z", "--output", "json"])
        .args(&images)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run trustpin");
    // The reader goes away before trustpin has written anything.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for trustpin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("Broken pipe"), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}
