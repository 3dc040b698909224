//! `shoal ui` in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `scripts/chromium.sh` when missing) opens the timeline, a version, a record looked up by
//! key, its history and a diff; each rendered DOM is checked and each view screenshotted
//! under `$CARGO_TARGET_TMPDIR/explorer-browser/`. A title `<img src=x onerror=alert(1)>`
//! must render as text: no `<img>` element may come from data.
//!
//! Each view also prints the figures the page writes into `#timing` (first contentful paint,
//! and the lookup's round trip from `performance.now()` around its fetch). They are taken
//! under `--virtual-time-budget`, so read them as indications, and nothing asserts on them.
//!
//! Skips (saying so) only when Chromium cannot be installed.

mod explorer_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use explorer_common::{catalog, Server, XSS_IMG, XSS_SCRIPT};

/// Chromium's path, installed by the project's script when missing.
fn chromium() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/chromium.sh");
    let out = Command::new("bash").arg(script).output().ok()?;
    if !out.status.success() {
        eprintln!(
            "skipping the browser test: chromium cannot be installed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Some(PathBuf::from(path))
}

/// A headless Chromium run on one URL.
struct Browser {
    bin: PathBuf,
    profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    fn command(&self, url: &str) -> Command {
        let mut c = Command::new(&self.bin);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1200,900",
            // Waits for the page's fetches and rendering (virtual time) before dumping.
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--user-data-dir={}", self.profile.path().display()))
        .arg(url);
        c
    }

    /// The DOM after the page rendered `view`, and how long the browser took.
    fn dom(&self, url: &str, view: &str) -> (String, Duration) {
        let start = Instant::now();
        let out = self
            .command(url)
            .arg("--dump-dom")
            .output()
            .expect("chromium runs");
        let took = start.elapsed();
        let dom = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            dom.contains(&format!("data-view=\"{view}\"")),
            "{url}: the page did not render the {view} view\nstderr: {}\nDOM: {dom}",
            String::from_utf8_lossy(&out.stderr)
        );
        (dom, took)
    }

    fn screenshot(&self, url: &str, name: &str) -> PathBuf {
        let path = self.shots.join(format!("{name}.png"));
        let out = self
            .command(url)
            .arg(format!("--screenshot={}", path.display()))
            .output()
            .expect("chromium runs");
        assert!(
            path.is_file(),
            "no screenshot of {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }
}

#[test]
fn the_page_renders_every_view_and_data_as_text() {
    let Some(bin) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (store, v2, [img, script]) = catalog(dir.path());
    let server = Server::start(&store);
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("explorer-browser");
    std::fs::create_dir_all(&shots).unwrap();
    let browser = Browser {
        bin,
        profile: tempfile::tempdir().unwrap(),
        shots,
    };
    let base = format!("http://{}/", server.addr);
    let views = [
        ("timeline", format!("{base}#/"), "timeline"),
        ("version", format!("{base}#/v/3"), "version"),
        ("record", format!("{base}#/v/3/t/Movie/k/{img}"), "record"),
        (
            "record-script",
            format!("{base}#/v/3/t/Movie/k/{script}"),
            "record",
        ),
        ("history", format!("{base}#/h/Movie/{img}"), "history"),
        ("diff", format!("{base}#/diff/1/2"), "diff"),
        (
            "filter",
            format!("{base}#/v/1/t/Movie/0/f/year/{FILTER_YEAR}"),
            "records",
        ),
    ];
    for (name, url, view) in &views {
        let (dom, took) = browser.dom(url, view);
        eprintln!("{name}: rendered in {took:?} (browser start included)");
        eprintln!("{name}: {}", timings(&dom));
        // Nothing from data became markup: the page has no <img> or inline <script>.
        assert!(!dom.contains("<img"), "{name}: an <img> element in {dom}");
        assert_eq!(
            dom.matches("<script").count(),
            1,
            "{name}: only the page's own script"
        );
        check(name, &dom, &v2, img);
        let shot = browser.screenshot(url, name);
        eprintln!("{name}: screenshot {}", shot.display());
    }
}

/// The page's own figures from `#timing` (first contentful paint, the lookup's round
/// trip), as it wrote them; printed, never asserted on.
fn timings(dom: &str) -> String {
    let Some(at) = dom.find("id=\"timing\"") else {
        return "no #timing element".into();
    };
    let tag = &dom[at..at + dom[at..].find('>').unwrap_or(0)];
    let figure = |name: &str| {
        let needle = format!("data-{name}=\"");
        tag.find(&needle)
            .map(|i| &tag[i + needle.len()..])
            .and_then(|rest| rest.split('"').next())
            .map_or("-".to_string(), |ms| format!("{ms} ms"))
    };
    format!(
        "first contentful paint {}, lookup round trip {}",
        figure("fcp"),
        figure("lookup")
    )
}

/// A year of `examples/catalog/v1.jsonl`, for the filtered records view.
const FILTER_YEAR: i64 = 1935;

/// `text` as a DOM dump serializes a text node.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What each view must show.
fn check(name: &str, dom: &str, v2: &std::collections::BTreeMap<i64, serde_json::Value>, img: i64) {
    let escaped_img = escaped(XSS_IMG);
    match name {
        "timeline" => {
            assert!(dom.contains("id=\"timeline\""), "{dom}");
            assert!(dom.contains("announced"), "{dom}");
            assert!(dom.contains("href=\"#/v/3\""), "{dom}");
            assert!(dom.contains("id=\"counts-chart\""), "{dom}");
            assert!(dom.contains("chg-changed"), "{dom}");
        }
        "version" => {
            assert!(dom.contains("Version 3"), "{dom}");
            assert!(dom.contains(">Movie</a>"), "{dom}");
            assert!(dom.contains("id=\"types\""), "{dom}");
        }
        "record" => {
            assert!(dom.contains(&escaped_img), "the title as text: {dom}");
            assert!(dom.contains("id=\"history-link\""), "{dom}");
        }
        "record-script" => {
            assert!(dom.contains(&escaped(XSS_SCRIPT)), "{dom}");
        }
        "history" => {
            assert!(dom.contains("change-changed"), "{dom}");
            assert!(dom.contains(&escaped_img), "{dom}");
            let old = v2[&img]["title"].as_str().unwrap();
            assert!(dom.contains(old), "the old title {old:?}: {dom}");
        }
        "diff" => {
            assert!(dom.contains("Diff 1 → 2"), "{dom}");
            assert!(dom.contains("id=\"diff-summary\""), "{dom}");
            assert!(dom.contains("changed records"), "{dom}");
        }
        "filter" => {
            assert!(dom.contains("id=\"filter\""), "{dom}");
            let years: Vec<&str> = dom
                .split("\"year\": ")
                .skip(1)
                .map(|rest| rest.split(',').next().unwrap_or(""))
                .collect();
            assert!(!years.is_empty(), "some records of {FILTER_YEAR}: {dom}");
            assert!(
                years.iter().all(|y| *y == FILTER_YEAR.to_string()),
                "only {FILTER_YEAR}: {years:?}"
            );
        }
        _ => unreachable!(),
    }
}
