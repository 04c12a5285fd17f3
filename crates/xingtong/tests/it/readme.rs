//! The README's tour, run as written: every shell block marked `<!-- tour -->` in README.md, in
//! order, by bash, in a fresh directory holding the example files the tour names, with this
//! build's `xingtong` first on the PATH. Only the environment differs from a newcomer's terminal:
//! the listeners take free ports (`XINGTONG_HTTP`, `XINGTONG_ISO8583`, which the tour reads back
//! from what the server prints), so that the test never collides with anything on the machine.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

/// The tour's shell blocks, in order.
fn tour_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "<!-- tour -->" {
            continue;
        }
        let Some(fence) = lines.next() else { break };
        assert_eq!(fence.trim(), "```sh", "a tour marker must be followed by a sh block");
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks.push(block.join("\n"));
    }
    blocks
}

/// True when `tool` runs here.
fn available(tool: &str) -> bool {
    Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

#[test]
fn the_readme_tour_works_as_written() -> anyhow::Result<()> {
    // The tour needs curl and python3, as the README says; CI installs them and always runs it.
    let missing: Vec<&str> = ["bash", "curl", "python3"].into_iter().filter(|t| !available(t)).collect();
    if !missing.is_empty() {
        ensure!(std::env::var_os("CI").is_none(), "CI must run the README's tour, but {missing:?} are missing");
        eprintln!("the README's tour was skipped: {missing:?} not installed");
        return Ok(());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md"))?;
    let blocks = tour_blocks(&readme);
    ensure!(blocks.len() >= 3, "the README's tour has {} blocks", blocks.len());

    let dir = tempfile::tempdir()?;
    let examples = dir.path().join("docs/examples");
    std::fs::create_dir_all(&examples)?;
    for entry in std::fs::read_dir(root.join("docs/examples"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), examples.join(entry.file_name()))?;
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_xingtong")).parent().context("bin dir")?.to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    // Stop the server however the script ends; fail on the first failing command.
    let script = format!("set -euo pipefail\ntrap 'kill $SERVER 2>/dev/null || true' EXIT\n{}\n", blocks.join("\n"));
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("XINGTONG_HTTP", "127.0.0.1:0")
        .env("XINGTONG_ISO8583", "127.0.0.1:0")
        .env_remove("XINGTONG_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            child.kill()?;
            anyhow::bail!("the tour did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.success(), "the tour failed: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}", output.status);
    // What a newcomer would look for on the screen, in order.
    for expected in [
        "\"status\":\"ok\"",
        "\"status\":\"submitted\"",
        "\"status\":\"held\"",
        "\"status\":\"shipped\"",
        "\"tmk_check_value\"",
        "\"kind\":\"sale\"",
        "\"approved\":true",
        "\"kind\":\"void\"",
        "\"method\":\"alipay\"",
        "\"mode\":\"dynamic\"",
        "the order is approved",
        "balanced:",
    ] {
        ensure!(stdout.contains(expected), "the tour's output lacks {expected}:\n{stdout}\n--- stderr\n{stderr}");
    }
    Ok(())
}
