//! Starts the pieces an end-to-end test needs and tears them down: a virtual
//! display, tauri-driver (which starts WebKitWebDriver, which starts the app),
//! a fresh data folder, a copy of the fixture documents, and a screenshot folder.

use crate::webdriver::{self, Session};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Answered from guide.pdf, page 4: "glaciers carve fjords into granite".
pub const QUESTION: &str = "What do glaciers carve into granite?";
/// Loading the model and answering on a busy two-core machine.
pub const QUESTION_TIMEOUT: Duration = Duration::from_secs(300);

pub struct App {
    pub session: Session,
    shots: PathBuf,
    display: String,
    tmp: tempfile::TempDir,
    driver: Child,
    xvfb: Child,
}

pub fn tool(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cached = home.join(".cache/cairn/tools/bin").join(name);
    if cached.is_file() {
        return Some(cached);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Kills a process group started with `process_group(0)`.
///
/// The `--` matters: Debian 12's procps 4.0.2 `kill -KILL -PID` parses the
/// group as `-1` and signals every process the user may signal (found when
/// this took down the CI runner). `kill -s KILL -- -PID` sends to the group.
pub fn kill_group(child: &mut Child) {
    let pgid = child.id();
    assert!(pgid > 1, "refusing to signal process group {pgid}");
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// The GUI test tools `extra` plus Xvfb, each with its path; `None` (after
/// saying why) when one is missing and CAIRN_REQUIRE_GUI_TESTS is not 1.
pub fn gui_tools(test: &str, extra: &[&'static str]) -> Option<Vec<(&'static str, PathBuf)>> {
    let required = std::env::var("CAIRN_REQUIRE_GUI_TESTS").is_ok_and(|v| v == "1");
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for t in std::iter::once("Xvfb").chain(extra.iter().copied()) {
        match tool(t) {
            Some(p) => found.push((t, p)),
            None => missing.push(t),
        }
    }
    if missing.is_empty() {
        return Some(found);
    }
    let msg = format!(
        "GUI test tools missing ({}); run scripts/setup.sh",
        missing.join(", ")
    );
    assert!(!required, "{msg}");
    eprintln!("skipping {test}: {msg}");
    None
}

/// Starts a virtual X display on a number nobody uses; returns it with its name (":N").
pub fn start_xvfb(xvfb: &Path) -> (Child, String) {
    let n = (90..200)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .expect("no free X display number");
    let display = format!(":{n}");
    let mut child = Command::new(xvfb)
        .args([&display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("cannot start Xvfb");
    let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
    let start = std::time::Instant::now();
    while !socket.exists() {
        if start.elapsed() > Duration::from_secs(20) {
            kill_group(&mut child);
            panic!("Xvfb did not start on {display}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, display)
}

impl App {
    /// Starts the app for the test `name` and waits for its empty state, or returns `None` (after saying why)
    /// when the GUI test tools are missing and not required.
    pub fn start(name: &str) -> Option<App> {
        Self::start_with(name, None)
    }

    /// Starts the app on a copy of the index folder `seed` (an existing data
    /// folder) and waits for its window, not for the empty state.
    pub fn start_on_index(name: &str, seed: &Path) -> Option<App> {
        Self::start_with(name, Some(seed))
    }

    /// The data folder the app runs on.
    pub fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    fn start_with(name: &str, seed: Option<&Path>) -> Option<App> {
        let tools = gui_tools(
            name,
            &["tauri-driver", "WebKitWebDriver", "xdotool", "python3"],
        )?;
        let path = |t: &str| {
            tools
                .iter()
                .find(|(n, _)| *n == t)
                .map(|(_, p)| p.clone())
                .unwrap()
        };

        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("e2e-screenshots")
            .join(name);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        eprintln!("{name}: screenshots in {}", shots.display());

        let (mut xvfb, display) = start_xvfb(&path("Xvfb"));

        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        if let Some(seed) = seed {
            copy_dir(seed, &data);
        }
        let port = free_port();
        let native_port = free_port();
        let mut driver = Command::new(path("tauri-driver"))
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .arg("--native-driver")
            .arg(path("WebKitWebDriver"))
            .env("DISPLAY", &display)
            .env("CAIRN_DATA_DIR", &data)
            .env("NO_AT_BRIDGE", "1")
            .env("CAIRN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("cannot start tauri-driver");
        if let Err(e) = webdriver::wait_ready(port, Duration::from_secs(30)) {
            kill_group(&mut driver);
            kill_group(&mut xvfb);
            panic!("{e}");
        }
        let session = match Session::new(port, Path::new(env!("CARGO_BIN_EXE_cairn-desktop"))) {
            Ok(s) => s,
            Err(e) => {
                kill_group(&mut driver);
                kill_group(&mut xvfb);
                panic!("cannot start the app through WebDriver: {e}");
            }
        };
        let app = App {
            session,
            shots,
            display,
            tmp,
            driver,
            xvfb,
        };
        // A fresh data folder: the window opens on the empty state.
        let ready = if seed.is_some() {
            "document.querySelector('[data-testid=doc-count]')"
        } else {
            "document.querySelector('[data-testid=empty-state]')"
        };
        app.session
            .wait_for("the window", ready, Duration::from_secs(60))
            .unwrap();
        Some(app)
    }

    /// A fresh copy of tests/fixtures/docs.
    pub fn fixture_folder(&self) -> PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/docs");
        let dst = self.tmp.path().join("docs");
        if !dst.exists() {
            copy_dir(&src, &dst);
        }
        dst
    }

    pub fn shot(&self, step: &str) {
        let path = self.shots.join(format!("{step}.png"));
        if let Err(e) = self.session.screenshot(&path) {
            eprintln!("screenshot {step} failed: {e}");
        }
    }

    /// Drags `files` from a GTK window (a real X11 drag source offering
    /// text/uri-list) onto Cairn's window with the pointer, as a person would.
    pub fn drag_files_onto_window(&self, files: &[PathBuf]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/drag_source.py");
        // Debian's interpreter: python3-gi is installed for it, not for other Pythons on PATH.
        let python = if Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3"
        } else {
            "python3"
        };
        let mut source = Command::new(python)
            .arg(&script)
            .args(["--x", "1300", "--y", "200"])
            .args(files)
            .env("DISPLAY", &self.display)
            .env("NO_AT_BRIDGE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("cannot start the drag source");
        let mut line = String::new();
        BufReader::new(source.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "drag source said {line:?}");
        // Press on the source (centre of its 250x150 window), move past GTK's
        // drag threshold, travel to the middle of Cairn's window, release.
        let mut args: Vec<String> = "mousemove 1425 275 sleep 0.3 mousedown 1 sleep 0.2"
            .split(' ')
            .map(String::from)
            .collect();
        for (x, y) in [
            (1410, 275),
            (1390, 280),
            (1300, 300),
            (1100, 340),
            (800, 380),
            (620, 400),
            (600, 400),
        ] {
            args.extend([
                "mousemove".into(),
                x.to_string(),
                y.to_string(),
                "sleep".into(),
                "0.15".into(),
            ]);
        }
        args.extend([
            "sleep".into(),
            "0.5".into(),
            "mouseup".into(),
            "1".into(),
            "sleep".into(),
            "0.5".into(),
        ]);
        let status = Command::new("xdotool")
            .args(&args)
            .env("DISPLAY", &self.display)
            .status()
            .expect("cannot run xdotool");
        assert!(status.success(), "xdotool failed");
        kill_group(&mut source);
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.session.close();
        kill_group(&mut self.driver);
        kill_group(&mut self.xvfb);
    }
}
