//! The report of `shoal bench`: each figure for shoal beside its baseline and their ratio,
//! as JSON or as one table.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::memory::Resident;
use super::shoal::MovieChange;
use super::{median, Measured, APPLY_REPS, CYCLE_REPS, LOOKUP_KEYS, LOOKUP_ROUNDS, STARTUP_REPS};
use crate::ui;

/// What `shoal bench` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Titles in version 1.
    pub records: u64,
    /// `--change-pct`.
    pub change_pct: f64,
    /// What version 2 changed.
    pub change: Change,
    /// How many times each figure was measured (figures are medians).
    pub repetitions: Repetitions,
    /// The figures, each shoal beside its baseline.
    pub figures: Figures,
    /// Shoal's resident memory split into private memory and mapped file pages.
    pub memory_split: Option<Resident>,
    /// Keys the lookups found, per side, of `repetitions.lookup_keys`.
    pub lookups_found: PerSide,
    /// Movies after applying the change, per side, and in version 2.
    pub records_after_apply: AfterApply,
    /// Wall time of the whole run, in seconds.
    pub seconds: f64,
    /// `--keep`: where the files stay.
    pub kept: Option<String>,
}

/// What version 2 changed.
#[derive(Debug, Serialize)]
pub struct Change {
    /// Titles in version 2.
    pub v2_records: u64,
    /// Titles the generator edited (a few edits draw the old value again).
    pub edited: u64,
    /// Titles removed.
    pub removed: u64,
    /// Titles added.
    pub added: u64,
    /// What the producer found.
    pub producer: MovieChange,
}

/// Repetitions per figure.
#[derive(Debug, Serialize)]
pub struct Repetitions {
    /// Producer cycles, and JSON serialisations.
    pub cycles: usize,
    /// Start-ups, and JSON loads.
    pub startup: usize,
    /// Delta applications, and HashMap changes.
    pub apply: usize,
    /// Rounds of lookups.
    pub lookup_rounds: usize,
    /// Keys per round.
    pub lookup_keys: usize,
}

/// The figures. Every ratio is shoal / baseline.
#[derive(Debug, Serialize)]
pub struct Figures {
    /// First producer cycle (snapshot) vs serialising version 1 to JSON lines, ms.
    pub cycle_v1: Figure,
    /// Next producer cycle (snapshot, delta, reverse delta) vs serialising version 2, ms.
    pub cycle_v2: Figure,
    /// Snapshot of version 1 vs version 1 as JSON lines, bytes.
    pub snapshot_v1: Figure,
    /// Delta v1 -> v2 vs the change as JSON (upserted lines and removed ids), bytes.
    pub delta: Figure,
    /// Reverse delta v2 -> v1 vs the reverse change as JSON, bytes.
    pub reverse_delta: Figure,
    /// Consumer start-up from cached blobs to the first key lookup vs reading and parsing
    /// the JSON lines into the HashMap, ms.
    pub startup: Figure,
    /// Resident memory taken by loading (shoal: and reading every record once): private
    /// memory grown plus resident pages of the mapped snapshot, vs the HashMap's private
    /// memory grown, bytes; `None` where `/proc` is missing.
    pub memory: Option<Figure>,
    /// Primary-key lookup and one field read vs a HashMap get and the field, ns.
    pub lookup: Figure,
    /// Applying the delta v1 -> v2 vs parsing the change and applying it to the HashMap in
    /// place, ms.
    pub apply: Figure,
}

/// One figure.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Figure {
    /// `ms`, `ns` or `bytes`.
    pub unit: &'static str,
    /// Shoal's.
    pub shoal: f64,
    /// The baseline's.
    pub baseline: f64,
    /// shoal / baseline.
    pub ratio: f64,
}

impl Figure {
    fn new(unit: &'static str, shoal: f64, baseline: f64) -> Self {
        Figure {
            unit,
            shoal,
            baseline,
            ratio: shoal / baseline,
        }
    }

    fn ms(shoal: &[Duration], baseline: &[Duration]) -> Self {
        let ms = |d: &[Duration]| median(d.iter().map(|d| d.as_secs_f64() * 1e3).collect());
        Figure::new("ms", ms(shoal), ms(baseline))
    }

    fn bytes(shoal: u64, baseline: u64) -> Self {
        Figure::new("bytes", shoal as f64, baseline as f64)
    }
}

/// A count per side.
#[derive(Debug, Serialize)]
pub struct PerSide {
    /// Shoal's.
    pub shoal: u64,
    /// The baseline's.
    pub baseline: u64,
}

/// Movies after applying the change.
#[derive(Debug, Serialize)]
pub struct AfterApply {
    /// In the dataset the delta made.
    pub shoal: u64,
    /// In the HashMap.
    pub baseline: u64,
    /// In version 2.
    pub expected: u64,
}

/// The report of what was measured, `elapsed` after the start.
pub fn build(m: &Measured, elapsed: Duration, kept: Option<&Path>) -> Report {
    let c = &m.catalog;
    let p = &m.published;
    let memory = match (m.memory_shoal, m.memory_map) {
        (Some(s), Some(b)) => Some(Figure::bytes(s.total(), b.total())),
        _ => None,
    };
    Report {
        records: c.v1.len() as u64,
        change_pct: m.change_pct,
        change: Change {
            v2_records: c.v2.len() as u64,
            edited: c.edited.len() as u64,
            removed: c.removed.len() as u64,
            added: c.added as u64,
            producer: p.movies,
        },
        repetitions: Repetitions {
            cycles: CYCLE_REPS,
            startup: STARTUP_REPS,
            apply: APPLY_REPS,
            lookup_rounds: LOOKUP_ROUNDS,
            lookup_keys: LOOKUP_KEYS,
        },
        figures: Figures {
            cycle_v1: Figure::ms(&p.cycle_v1, &m.json.serialise_v1),
            cycle_v2: Figure::ms(&p.cycle_v2, &m.json.serialise_v2),
            snapshot_v1: Figure::bytes(p.snapshot_v1, m.json.v1_bytes),
            delta: Figure::bytes(p.delta, m.json.forward.len()),
            reverse_delta: Figure::bytes(p.reverse, m.json.reverse_bytes),
            startup: Figure::ms(&m.startup_shoal, &m.startup_map),
            memory,
            lookup: Figure::new(
                "ns",
                median(m.lookups_shoal.ns.clone()),
                median(m.lookups_map.ns.clone()),
            ),
            apply: Figure::ms(&m.apply_shoal.0, &m.apply_map.0),
        },
        memory_split: m.memory_shoal,
        lookups_found: PerSide {
            shoal: m.lookups_shoal.found as u64,
            baseline: m.lookups_map.found as u64,
        },
        records_after_apply: AfterApply {
            shoal: m.apply_shoal.1,
            baseline: m.apply_map.1,
            expected: c.v2.len() as u64,
        },
        seconds: elapsed.as_secs_f64(),
        kept: kept.map(|p| p.display().to_string()),
    }
}

/// The report as a table for a person.
pub fn text(r: &Report) -> String {
    let f = &r.figures;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "shoal bench: {} titles; version 2 edits {} ({}%), removes {}, adds {}",
        r.records, r.change.edited, r.change_pct, r.change.removed, r.change.added
    );
    let _ = writeln!(
        s,
        "baseline: the same records as JSON lines, loaded with serde_json into a HashMap<u64, Movie>"
    );
    let _ = writeln!(
        s,
        "medians of {} cycles, {} start-ups, {} applies, {} rounds of {} random existing keys\n",
        r.repetitions.cycles,
        r.repetitions.startup,
        r.repetitions.apply,
        r.repetitions.lookup_rounds,
        r.repetitions.lookup_keys
    );
    let rows: [(&str, Option<&Figure>, &str); 9] = [
        (
            "producer cycle v1 (snapshot)",
            Some(&f.cycle_v1),
            "serialise v1 to JSON lines",
        ),
        (
            "producer cycle v2 (+ deltas)",
            Some(&f.cycle_v2),
            "serialise v2 to JSON lines",
        ),
        ("snapshot v1", Some(&f.snapshot_v1), "v1 as JSON lines"),
        (
            "delta v1 -> v2",
            Some(&f.delta),
            "changed lines + removed ids as JSON",
        ),
        (
            "reverse delta v2 -> v1",
            Some(&f.reverse_delta),
            "the same, backwards",
        ),
        (
            "start-up to first key lookup",
            Some(&f.startup),
            "read + parse JSON lines into HashMap",
        ),
        (
            "resident memory after load",
            f.memory.as_ref(),
            "the HashMap (RSS growth)",
        ),
        (
            "key lookup + one field read",
            Some(&f.lookup),
            "HashMap get + field",
        ),
        (
            "apply delta v1 -> v2",
            Some(&f.apply),
            "parse changes, insert/remove in HashMap",
        ),
    ];
    let _ = writeln!(
        s,
        "{:<30} {:>10} {:>10} {:>8}  baseline is",
        "figure", "shoal", "baseline", "ratio"
    );
    for (label, figure, what) in rows {
        let (shoal, baseline, ratio) = match figure {
            Some(f) => (
                value(f.unit, f.shoal),
                value(f.unit, f.baseline),
                ratio(f.ratio),
            ),
            None => ("n/a".into(), "n/a".into(), "".into()),
        };
        let _ = writeln!(
            s,
            "{label:<30} {shoal:>10} {baseline:>10} {ratio:>8}  {what}"
        );
    }
    let _ = writeln!(s);
    if let Some(m) = &r.memory_split {
        let _ = writeln!(
            s,
            "memory: RSS in a child process; shoal's is {} private (page tables, key index) + {} \
             of the mapped snapshot resident, after reading every record once",
            ui::bytes(m.private),
            ui::bytes(m.mapped)
        );
    }
    let p = &r.change.producer;
    let _ = writeln!(
        s,
        "producer: {} movies changed in place, {} added, {} removed; every lookup found its key: {}",
        p.changed,
        p.added,
        p.removed,
        r.lookups_found.shoal == r.repetitions.lookup_keys as u64
            && r.lookups_found.baseline == r.repetitions.lookup_keys as u64
    );
    let _ = write!(s, "total {:.1} s", r.seconds);
    if let Some(dir) = &r.kept {
        let _ = write!(s, "; files kept in {dir}");
    }
    s.push('\n');
    s
}

fn value(unit: &str, v: f64) -> String {
    match unit {
        "ms" => ui::duration(Duration::from_secs_f64(v / 1e3)),
        "ns" => format!("{v:.1} ns"),
        _ => ui::bytes(v as u64),
    }
}

fn ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}x")
    } else if r >= 0.1 {
        format!("{r:.2}x")
    } else {
        format!("{r:.3}x")
    }
}
