//! README.md, word for word: the main job and the walk-through after it are run as written
//! (with `shoal` and `cargo run --release -p shoal-tools --` standing for this build's
//! binary), in a fresh folder holding a copy of `examples/`, so the README cannot drift from
//! what the tool does.

use std::path::Path;
use std::process::Command;

#[test]
fn the_readme_main_job_and_walk_through_run_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .split("## The main job")
        .nth(1)
        .expect("README has a main job section");
    let section = section.split("\n## ").next().unwrap();
    let mut lines = Vec::new();
    let mut in_block = false;
    for line in section.lines() {
        if line.starts_with("```") {
            in_block = line == "```sh";
            continue;
        }
        if in_block && !line.trim().is_empty() && !line.starts_with("alias ") {
            lines.push(line.trim().to_string());
        }
    }
    assert!(lines.len() >= 8, "{lines:?}");
    assert!(lines[0].starts_with("cargo run --release -p shoal-tools -- produce"));

    let dir = tempfile::tempdir().unwrap();
    let examples = dir.path().join("examples/catalog");
    std::fs::create_dir_all(&examples).unwrap();
    for entry in std::fs::read_dir(root.join("examples/catalog")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), examples.join(entry.file_name())).unwrap();
    }
    let mut outputs = Vec::new();
    for line in &lines {
        let args = line
            .strip_prefix("cargo run --release -p shoal-tools -- ")
            .or_else(|| line.strip_prefix("shoal "))
            .unwrap_or_else(|| panic!("a README line this test cannot run: {line}"));
        assert!(
            !args.contains(['"', '\'', '|', '>']),
            "keep README lines plain: {line}"
        );
        let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args(args.split_whitespace())
            .current_dir(dir.path())
            .env_remove("SHOAL_STORE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README line failed: {line}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(String::from_utf8(out.stdout).unwrap());
    }
    assert!(dir.path().join("shoal-data/announced").exists());
    let all = outputs.join("\n");
    assert!(all.contains("published version 2 (from 1)"), "{all}");
    assert!(all.contains("\"title\": \"White Better\""), "{all}");
    assert!(
        all.contains("\"title\": \"Do Another Head Very Is\""),
        "{all}"
    );
    assert!(all.contains("ok: no faults"), "{all}");
}
