//! The HTML run report (`run --html`, `incidents --html`) rendered by a
//! real browser, headless Chromium:
//! - the DOM Chromium builds (`--dump-dom`) holds every chart, each an
//!   `<svg>` with its id and non-empty data marks (bars, bins, heat-map
//!   cells, timeline bands), so the markup parsed as intended;
//! - the page logs nothing to the console (the scan, and the screenshot
//!   check below, are proven on a control page that logs an error, throws
//!   and shows one word);
//! - a screenshot (1280x2000) decodes as a PNG of that size with real
//!   content (many colours, not one background), saved under
//!   `target/html-report-screens/` and its path printed, for CI to keep.
//!
//! Without Chromium the browser checks print a skip message and pass,
//! unless the environment variable `CI` is set (`.ci/run` installs
//! Chromium from the Debian packages): then they fail. The checks that
//! need no browser (same bytes for the same seed, bad paths refused)
//! always run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The browser binaries tried, in order (Debian: `chromium`).
const BROWSERS: &[&str] = &["chromium", "chromium-browser"];
/// The screenshot size.
const WINDOW: (u32, u32) = (1280, 2000);
/// A browser run that takes longer is stopped and the test fails.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

fn callsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(args)
        .env_remove("CALLSIM_SEED")
        .env_remove("CALLSIM_GIT_COMMIT")
        .output()
        .expect("the binary runs")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The browser to use; when there is none, a skip message outside CI and
/// a failure in CI.
fn browser(test: &str) -> Option<&'static str> {
    let found = BROWSERS.iter().copied().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: Chromium is not installed, and CI is set (.ci/run installs it)"
        );
        eprintln!("{test}: SKIPPED: Chromium is not installed (apt-get install chromium)");
    }
    found
}

/// What one headless Chromium run of a page gave.
struct Rendered {
    dom: String,
    /// Console lines from Chromium's log (`:CONSOLE` entries).
    console: Vec<String>,
    screenshot: PathBuf,
}

/// Loads `page` in headless Chromium once: dumps the DOM, takes a
/// screenshot to `screenshot`, and collects the console lines of its log.
fn render(browser: &str, page: &Path, screenshot: &Path, scratch: &Path) -> Rendered {
    let page = std::fs::canonicalize(page).expect("the page exists");
    let profile = scratch.join(format!(
        "profile-{}",
        screenshot.file_stem().expect("a name").to_string_lossy()
    ));
    let stderr_path = scratch.join(format!(
        "{}.stderr",
        screenshot.file_stem().expect("a name").to_string_lossy()
    ));
    let mut child = Command::new(browser)
        .args([
            "--headless=new",
            // Chromium's sandbox refuses to run as root (CI containers).
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--window-size={},{}", WINDOW.0, WINDOW.1),
            &format!("--screenshot={}", screenshot.display()),
            "--dump-dom",
            &format!("file://{}", page.display()),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).expect("a stderr file"))
        .spawn()
        .expect("the browser starts");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut dom).expect("the DOM is text");
        dom
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the browser can be waited on") {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{browser} did not finish {} within {BROWSER_TIMEOUT:?}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = reader.join().expect("the DOM reader ends");
    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        status.success(),
        "{browser} on {}: {status}\n{log}",
        page.display()
    );
    let console = log
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_string)
        .collect();
    Rendered {
        dom,
        console,
        screenshot: screenshot.to_path_buf(),
    }
}

/// Where screenshots are kept for CI: `target/html-report-screens/`.
fn screens_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("html-report-screens");
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    dir
}

/// The markup of `<svg id="{id}" ...>...</svg>` in a DOM dump.
fn svg<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("<svg id=\"{id}\""))
        .unwrap_or_else(|| panic!("no <svg id={id:?}> in the DOM"));
    let end = dom[start..].find("</svg>").expect("the svg is closed") + start;
    &dom[start..end]
}

/// How many marks of `class` an svg holds (the class as a whole word).
fn marks(svg: &str, class: &str) -> usize {
    svg.matches(&format!("class=\"{class}\"")).count()
        + svg.matches(&format!("class=\"{class} ")).count()
}

/// Checks a run's charts in the DOM: each present with data marks, and
/// the timeline with marks of `timeline_class` when given.
fn check_run_charts(dom: &str, prefix: &str, timeline_class: Option<&str>) {
    let id = |name: &str| format!("{prefix}{name}");
    assert!(
        marks(svg(dom, &id("outcomes")), "bar-seg") > 0,
        "{prefix}outcomes has bars"
    );
    assert!(
        marks(svg(dom, &id("setup-time")), "bin") > 0,
        "{prefix}setup-time has bins"
    );
    assert!(
        marks(svg(dom, &id("call-duration")), "bin") > 0,
        "{prefix}call-duration has bins"
    );
    assert!(
        marks(svg(dom, &id("host-rates")), "cell") > 0,
        "{prefix}host-rates has cells"
    );
    let timeline = svg(dom, &id("timeline"));
    if let Some(class) = timeline_class {
        assert!(
            marks(timeline, class) > 0,
            "{prefix}timeline has {class} marks"
        );
    }
}

/// A screenshot's size, its distinct colours (counted up to 1000) and
/// the share of its pixels that differ from the top-left one (the
/// background).
fn screenshot_content(path: &Path) -> ((u32, u32), usize, f64) {
    let file = std::fs::File::open(path).expect("a screenshot");
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a buffer size")];
    let info = reader.next_frame(&mut pixels).expect("a frame");
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let step = info.color_type.samples();
    let pixels = &pixels[..info.buffer_size()];
    let background = &pixels[..step];
    let mut colours = std::collections::BTreeSet::new();
    let mut other = 0usize;
    for px in pixels.chunks_exact(step) {
        if px != background {
            other += 1;
        }
        if colours.len() < 1000 {
            colours.insert(px.to_vec());
        }
    }
    let share = other as f64 / (pixels.len() / step) as f64;
    ((info.width, info.height), colours.len(), share)
}

/// Whether a screenshot has real content: at least 20 colours and 2% of
/// its pixels off the background.
fn has_content(colours: usize, share: f64) -> bool {
    colours >= 20 && share > 0.02
}

/// Checks the screenshot: a PNG of the window's size with content; prints
/// its path for CI.
fn check_screenshot(rendered: &Rendered) {
    let (size, colours, share) = screenshot_content(&rendered.screenshot);
    assert_eq!(size, WINDOW, "the window's size");
    assert!(
        has_content(colours, share),
        "{}: {colours} colours, {share:.3} of pixels off the background: an empty page",
        rendered.screenshot.display(),
    );
    eprintln!("screenshot: {}", rendered.screenshot.display());
}

#[test]
fn run_reports_render_in_chromium_with_their_charts() {
    let test = "run_reports_render_in_chromium_with_their_charts";
    let Some(browser) = browser(test) else { return };
    let scratch = crate::support::scratch_dir("html-run");
    for (scenario, timeline_class) in [
        ("fixtures/scenarios/outbound-sync.toml", None),
        ("fixtures/scenarios/inbound-sbc.toml", None),
        (
            "fixtures/scenarios/faults/platform-partition.toml",
            Some("fault"),
        ),
    ] {
        let name = Path::new(scenario)
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .to_string();
        let page = scratch.join(format!("{name}.html"));
        let out = callsim(&["run", scenario, "--html", path_str(&page)]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{scenario}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let started = Instant::now();
        let rendered = render(
            browser,
            &page,
            &screens_dir().join(format!("run-{name}.png")),
            &scratch,
        );
        eprintln!(
            "{scenario}: page {} bytes, rendered in {} ms",
            std::fs::metadata(&page).expect("the page").len(),
            started.elapsed().as_millis()
        );
        assert!(
            rendered.console.is_empty(),
            "{scenario}: console output: {:?}",
            rendered.console
        );
        check_run_charts(&rendered.dom, "", timeline_class);
        check_screenshot(&rendered);
    }
}

/// The catalogue's entry for `id`, as a catalogue of its own.
fn one_incident(id: &str, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string("fixtures/incidents.toml").expect("the catalogue");
    let entry = text
        .split("[[incident]]")
        .find(|block| block.contains(&format!("id = \"{id}\"")))
        .unwrap_or_else(|| panic!("{id} in the catalogue"));
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(&path, format!("[[incident]]{entry}")).expect("a catalogue file");
    path
}

#[test]
fn an_incident_report_renders_buggy_and_fixed_side_by_side() {
    let test = "an_incident_report_renders_buggy_and_fixed_side_by_side";
    let Some(browser) = browser(test) else { return };
    let scratch = crate::support::scratch_dir("html-incident");
    let id = "twilio-telemetry-overflow";
    let catalogue = one_incident(id, &scratch);
    let dir = scratch.join("pages");
    let out = callsim(&[
        "incidents",
        "--catalogue",
        path_str(&catalogue),
        "--seeds",
        "1",
        "--html",
        path_str(&dir),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = dir.join(format!("{id}.html"));
    let rendered = render(
        browser,
        &page,
        &screens_dir().join(format!("incident-{id}.png")),
        &scratch,
    );
    assert!(
        rendered.console.is_empty(),
        "console output: {:?}",
        rendered.console
    );
    // The buggy run's violations are on its timeline; the fixed run has
    // none.
    for (side, timeline_class) in [("buggy", Some("violation")), ("fixed", None)] {
        assert!(
            rendered.dom.contains(&format!("<section id=\"{side}\"")),
            "the {side} side"
        );
        check_run_charts(&rendered.dom, &format!("{side}-"), timeline_class);
    }
    let figures = svg(&rendered.dom, "figures");
    assert!(marks(figures, "bounds") > 0 && figures.matches("<circle").count() > 0);
    assert!(
        rendered.dom.contains("class=\"violation\""),
        "the buggy run's violations"
    );
    check_screenshot(&rendered);

    let index = render(
        browser,
        &dir.join("index.html"),
        &scratch.join("index.png"),
        &scratch,
    );
    assert!(
        index.dom.contains(&format!("href=\"{id}.html\"")),
        "the index links the page"
    );
}

#[test]
fn the_console_scan_catches_a_page_that_logs_an_error() {
    let test = "the_console_scan_catches_a_page_that_logs_an_error";
    let Some(browser) = browser(test) else { return };
    let scratch = crate::support::scratch_dir("html-control");
    let page = scratch.join("control.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p>control</p><script>console.error('boom'); notDefined();</script></body></html>",
    )
    .expect("a control page");
    let rendered = render(browser, &page, &scratch.join("control.png"), &scratch);
    assert!(
        rendered.console.iter().any(|l| l.contains("boom")),
        "{:?}",
        rendered.console
    );
    assert!(
        rendered.console.iter().any(|l| l.contains("Uncaught")),
        "{:?}",
        rendered.console
    );
    // A page with one word on it is no report: the screenshot check
    // fails it.
    let (size, colours, share) = screenshot_content(&rendered.screenshot);
    assert_eq!(size, WINDOW);
    assert!(
        !has_content(colours, share),
        "{colours} colours, {share:.4} off the background"
    );
}

#[test]
fn the_same_seed_writes_the_same_page() {
    let scratch = crate::support::scratch_dir("html-same");
    let (a, b) = (scratch.join("a.html"), scratch.join("b.html"));
    for page in [&a, &b] {
        let out = callsim(&[
            "run",
            "fixtures/scenarios/outbound-sync.toml",
            "--seed",
            "3",
            "--html",
            path_str(page),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (a, b) = (
        std::fs::read(&a).expect("a page"),
        std::fs::read(&b).expect("a page"),
    );
    assert!(a.len() > 10_000);
    assert!(a == b, "two runs of one seed wrote different pages");
}

#[test]
fn an_unwritable_report_path_is_bad_input_naming_it() {
    let scratch = crate::support::scratch_dir("html-bad");
    let missing = scratch.join("no-such-dir").join("r.html");
    let out = callsim(&[
        "run",
        "fixtures/scenarios/faults/partition.toml",
        "--html",
        path_str(&missing),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot write HTML report") && stderr.contains("no-such-dir"),
        "{stderr}"
    );

    let file = scratch.join("a-file");
    std::fs::write(&file, "x").expect("a file");
    let catalogue = one_incident("twilio-telemetry-overflow", &scratch);
    let out = callsim(&[
        "incidents",
        "--catalogue",
        path_str(&catalogue),
        "--seeds",
        "1",
        "--html",
        path_str(&file.join("pages")),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot create the HTML directory"));
}
