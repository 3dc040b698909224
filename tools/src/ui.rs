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

/// A time as `2026-11-23 11:30:12Z` (UTC).
pub fn utc(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn figures_read_well() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(31_200_000), "31.2 MB");
        assert_eq!(duration(Duration::from_millis(35)), "35.0 ms");
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00Z");
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(1_795_434_612)),
            "2026-11-23 11:50:12Z"
        );
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00Z"
        );
    }
}
