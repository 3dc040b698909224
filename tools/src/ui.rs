//! Output: a report printed as text for a person or as JSON (`--json`) for a machine, and
//! progress bars on stderr only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Where a command's report goes.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// `--json`: one JSON document instead of text.
    pub json: bool,
}

impl Out {
    /// Prints `report` as pretty JSON when `--json` was given, else `text(report)`.
    pub fn report<T: Serialize>(&self, report: &T, text: impl FnOnce(&T) -> String) {
        let mut stdout = std::io::stdout().lock();
        let s = if self.json {
            serde_json::to_string_pretty(report).expect("reports serialise") + "\n"
        } else {
            text(report)
        };
        // A closed pipe (`shoal versions | head`) is not an error worth a panic.
        let _ = stdout.write_all(s.as_bytes());
    }
}

/// A progress bar of `len` steps (or a spinner when `len` is `None`), drawn on stderr only
/// when stderr is a terminal; otherwise hidden, and free.
pub fn progress(len: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{msg:12} [{bar:30}] {human_pos}/{human_len} {eta}")
                .expect("template")
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {human_pos} {per_sec}")
                .expect("template"),
        ),
    };
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Bytes for a person: `31.2 MB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A duration for a person: `1.24 s`, `35.0 ms`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 0.001 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} us", s * 1e6)
    }
}
