//! `shoal ui` in a real browser, driven as a person would: headless Chromium through its
//! WebDriver (Debian's `chromium` and `chromium-driver`, installed by `scripts/chromium.sh`
//! when missing) opens the timeline, clicks into a version, looks a record up with the form,
//! follows a reference, opens the record's history, filters a type and diffs two versions
//! with the diff form; each rendered DOM is checked and each view screenshotted under
//! `$CARGO_TARGET_TMPDIR/explorer-browser/`. A new version published meanwhile must appear
//! without a reload. Titles `<img src=x onerror=alert(1)>` and `<script>...` must render as
//! text: no element comes from data and no alert opens.
//!
//! The page's own figures (first contentful paint, the lookup's round trip) are printed,
//! never asserted on. Set `SHOAL_UI_FIGURES_STORE` to a store (e.g. the 1M catalog) to print
//! them for that store too: `figures_on_a_big_store` (ignored unless asked for).
//!
//! Skips (saying so) only when Chromium cannot be installed.

mod explorer_common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use explorer_common::{catalog, example, produce, Server, XSS_IMG, XSS_SCRIPT};
use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use serde_json::{json, Value as Json};

/// Chromium and chromedriver, installed by the project's script when missing.
fn browser_paths() -> Option<(String, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/chromium.sh");
    let out = Command::new("bash").arg(script).output().ok()?;
    if !out.status.success() {
        eprintln!(
            "skipping the browser test: chromium cannot be installed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines().map(str::to_string);
    Some((lines.next()?, lines.next()?))
}

/// A chromedriver process and a browser session in it; both end when dropped.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    async fn start(chromium: &str, chromedriver: &str, shots: &str) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let client = connect(port, chromium, profile.path()).await;
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(shots);
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            client,
            driver,
            _profile: profile,
            shots,
        }
    }

    /// Waits (at most 20 s) until an element matching `css` shows `text`; returns it.
    async fn wait_text(&self, css: &str, text: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                if e.text().await.is_ok_and(|t| t.contains(text)) {
                    return e;
                }
            }
            assert!(Instant::now() < deadline, "no {css} showing {text:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for view `view` (the page's `data-view`) and an element matching `css`.
    async fn view(&self, view: &str, css: &str) -> Element {
        self.wait_text(&format!("body[data-view=\"{view}\"] {css}"), "")
            .await
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("{name}: screenshot {}", path.display());
    }

    /// What the page wrote into `#timing` (ms), e.g. `fcp`, `lookup`.
    async fn timing(&self, name: &str) -> Option<String> {
        let e = self.client.find(Locator::Css("#timing")).await.ok()?;
        e.attr(&format!("data-{name}")).await.ok().flatten()
    }

    /// No element in the page came from data, and no alert opened.
    async fn nothing_ran(&self, step: &str) {
        let tags = self
            .client
            .execute(
                "return document.querySelectorAll('main img, main script, main iframe').length",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(tags, json!(0), "{step}: markup from data");
        assert!(
            self.client.get_alert_text().await.is_err(),
            "{step}: an alert opened"
        );
    }

    async fn end(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn connect(port: u16, chromium: &str, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    let args = [
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
    ];
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": chromium, "args": args }),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for chromedriver: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no WebDriver session: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_can_walk_every_view_and_data_stays_text() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (store, v2, [img, script]) = catalog(dir.path());
    let server = Server::start(&store);
    let b = Browser::start(&chromium, &driver, "explorer-browser").await;
    let base = format!("http://{}/", server.addr);

    timeline(&b, &base).await;
    version(&b).await;
    let country = lookup(&b, img).await;
    reference(&b, &country).await;
    history(&b, v2[&img]["title"].as_str().unwrap()).await;
    filter(&b).await;
    diff(&b).await;
    script_as_text(&b, &base, script).await;
    live(&b, &base, &store).await;
    b.end().await;
}

/// The timeline: versions drawn, the announced one marked, counts per version.
async fn timeline(b: &Browser, base: &str) {
    b.client.goto(base).await.unwrap();
    b.view("timeline", "#timeline").await;
    b.wait_text("#status", "announced: 3").await;
    b.view("timeline", "#counts-chart").await;
    let table = b.wait_text("#versions", "announced").await;
    assert!(table.text().await.unwrap().contains("yes"));
    eprintln!(
        "timeline: first contentful paint {:?} ms",
        b.timing("fcp").await
    );
    b.screenshot("timeline").await;
}

/// A click on version 3 in the table: its types and where the bytes go.
async fn version(b: &Browser) {
    b.click("#versions a[href=\"#/v/3\"]").await;
    b.wait_text("body[data-view=\"version\"] h2", "Version 3")
        .await;
    b.view("version", "#types").await;
    b.wait_text("main section h3 a", "Movie").await;
    b.screenshot("version").await;
}

/// The lookup form, by clicks and keys: the record whose title is markup shows it as text.
/// Returns the href of its country reference.
async fn lookup(b: &Browser, img: i64) -> String {
    b.click("nav a[href=\"#/lookup\"]").await;
    let form = b.view("lookup", "form#lookup").await;
    b.wait_text("form#lookup select[name=type]", "Movie").await;
    let versions = form.find(Locator::Css("select[name=v]")).await.unwrap();
    versions.select_by_value("3").await.unwrap();
    b.wait_text("form#lookup select[name=type]", "Movie").await;
    let key = form.find(Locator::Css("input[name=key]")).await.unwrap();
    key.send_keys(&img.to_string()).await.unwrap();
    b.click("form#lookup button[type=submit]").await;
    let record = b.view("record", "#record").await;
    let shown: Json = serde_json::from_str(&record.text().await.unwrap()).unwrap();
    assert_eq!(shown["title"], XSS_IMG, "the title, as text");
    b.nothing_ran("record").await;
    eprintln!(
        "record: lookup round trip {:?} ms",
        b.timing("lookup").await
    );
    b.screenshot("record").await;
    let link = b.wait_text("#refs a", "Country #").await;
    link.attr("href").await.unwrap().expect("a link")
}

/// A click on the country reference (a type without a key): the record by ordinal.
async fn reference(b: &Browser, href: &str) {
    b.click(&format!("#refs a[href=\"{href}\"]")).await;
    b.wait_text("body[data-view=\"record\"] h2", "Country #")
        .await;
    let record = b.view("record", "#record").await;
    // A one-field type renders as its value, as `shoal get` prints it: the code.
    let shown: Json = serde_json::from_str(&record.text().await.unwrap()).unwrap();
    assert!(shown.as_str().is_some_and(|c| c.len() == 2), "{shown}");
    b.client.back().await.unwrap();
    b.view("record", "#history-link").await;
}

/// The record's history: the title changed to markup in version 3, from the old title.
async fn history(b: &Browser, old_title: &str) {
    b.click("#history-link").await;
    let table = b.view("history", "#history").await;
    b.wait_text("#history .change-changed", "changed").await;
    let text = table.text().await.unwrap();
    assert!(text.contains(XSS_IMG), "{text}");
    assert!(
        text.contains(old_title),
        "the old title {old_title:?}: {text}"
    );
    assert!(text.contains("v3"), "{text}");
    b.nothing_ran("history").await;
    b.screenshot("history").await;
}

/// A year of `examples/catalog/v1.jsonl`, for the filter.
const FILTER_YEAR: &str = "1935";

/// The records of a type, filtered with the form: only that year, found by the index.
async fn filter(b: &Browser) {
    b.client
        .goto(&format!("{}#/v/1/t/Movie/0", base_of(b).await))
        .await
        .unwrap();
    let form = b.view("records", "form#filter").await;
    let field = form.find(Locator::Css("input[name=field]")).await.unwrap();
    field.send_keys("year").await.unwrap();
    let value = form.find(Locator::Css("input[name=value]")).await.unwrap();
    value.send_keys(FILTER_YEAR).await.unwrap();
    b.click("form#filter button[type=submit]").await;
    b.wait_text("form#filter", "clear").await;
    let rows = b.view("records", "#records").await;
    let text = rows.text().await.unwrap();
    let years: Vec<&str> = text
        .split("\"year\": ")
        .skip(1)
        .map(|rest| rest.split(',').next().unwrap_or(""))
        .collect();
    assert!(!years.is_empty(), "some records of {FILTER_YEAR}: {text}");
    assert!(years.iter().all(|y| *y == FILTER_YEAR), "{years:?}");
    b.screenshot("filter").await;
}

/// The diff form: 1 -> 2, summary first, then changed records.
async fn diff(b: &Browser) {
    b.click("nav a[href=\"#/diff\"]").await;
    let form = b.view("diffForm", "form#diff-form").await;
    let from = form.find(Locator::Css("select[name=from]")).await.unwrap();
    from.select_by_value("1").await.unwrap();
    let to = form.find(Locator::Css("select[name=to]")).await.unwrap();
    to.select_by_value("2").await.unwrap();
    b.click("form#diff-form button[type=submit]").await;
    b.wait_text("body[data-view=\"diff\"] h2", "Diff 1 → 2")
        .await;
    b.view("diff", "#diff-summary").await;
    b.wait_text(".pager", "changed records").await;
    b.wait_text("#diff-records", "changed").await;
    b.screenshot("diff").await;
}

/// The record whose title is a script element: text, and nothing ran.
async fn script_as_text(b: &Browser, base: &str, script: i64) {
    b.client
        .goto(&format!("{base}#/v/3/t/Movie/k/{script}"))
        .await
        .unwrap();
    let record = b.view("record", "#record").await;
    let shown: Json = serde_json::from_str(&record.text().await.unwrap()).unwrap();
    assert_eq!(shown["title"], XSS_SCRIPT);
    b.nothing_ran("record-script").await;
    b.screenshot("record-script").await;
}

/// A version published while the timeline is open appears without a reload.
async fn live(b: &Browser, base: &str, store: &Path) {
    b.client.goto(base).await.unwrap();
    b.view("timeline", "#timeline").await;
    b.client
        .execute("window.notReloaded = true", vec![])
        .await
        .unwrap();
    produce(store, &example("v1.jsonl"));
    b.wait_text("#status", "announced: 4").await;
    b.wait_text("#versions", "4").await;
    b.view("timeline", "#timeline a[href=\"#/v/4\"]").await;
    let same_page = b
        .client
        .execute("return window.notReloaded === true", vec![])
        .await
        .unwrap();
    assert_eq!(same_page, json!(true), "the page was reloaded");
    b.screenshot("timeline-live").await;
}

async fn base_of(b: &Browser) -> String {
    let url = b.client.current_url().await.unwrap();
    format!("{}://{}/", url.scheme(), url.authority())
}

/// The page's figures on a store of your choice (`SHOAL_UI_FIGURES_STORE`, e.g. the 1M
/// catalog): first contentful paint, and a key lookup's round trip, five times each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs SHOAL_UI_FIGURES_STORE and a release build for meaningful figures"]
async fn figures_on_a_big_store() {
    let (Some((chromium, driver)), Ok(store)) =
        (browser_paths(), std::env::var("SHOAL_UI_FIGURES_STORE"))
    else {
        panic!("set SHOAL_UI_FIGURES_STORE to a store");
    };
    let key = std::env::var("SHOAL_UI_FIGURES_KEY").unwrap_or_else(|_| "12345".into());
    let server = Server::start(Path::new(&store));
    let base = format!("http://{}/", server.addr);
    for run in 0..5 {
        let b = Browser::start(&chromium, &driver, "explorer-figures").await;
        b.client.goto(&base).await.unwrap();
        b.view("timeline", "#timeline").await;
        b.client
            .goto(&format!("{base}#/v/2/t/Movie/k/{key}"))
            .await
            .unwrap();
        b.view("record", "#record").await;
        eprintln!(
            "run {run}: first contentful paint {:?} ms, lookup round trip {:?} ms",
            b.timing("fcp").await,
            b.timing("lookup").await
        );
        b.end().await;
    }
}
