//! The desktop app offline: `cairn-desktop` runs inside a network namespace
//! with nothing but loopback (`unshare -n`), under `strace -f -e
//! trace=network`, with an empty `HOME`. It starts, indexes a watched folder
//! and loads the default answer model while every process it starts (WebKit's
//! included) is traced. No socket may be of an internet family and no call
//! may address an internet peer; `NETLINK_ROUTE` sockets, with which GLib's
//! network monitor reads the local route table, are the one exception.
//!
//! Needs root, `strace`, `unshare` and Xvfb. Without them the test says why
//! and passes, unless CAIRN_REQUIRE_SANDBOX=1 or CAIRN_REQUIRE_GUI_TESTS=1
//! (both set by `.ci/run`).

use crate::harness::{copy_dir, gui_tools, kill_group, start_xvfb};
use crate::sandbox::{sandbox_missing, violations, Allow};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Documents of tests/fixtures/docs that index (one of the 13 files is skipped).
const FIXTURE_DOCUMENTS: usize = 12;

fn indexed_documents(data: &Path) -> usize {
    std::fs::read_to_string(data.join("catalogue.json"))
        .unwrap_or_default()
        .matches("\"status\":\"indexed\"")
        .count()
}

#[test]
fn desktop_app_indexes_and_loads_its_model_without_network() {
    let _serial = crate::SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(tools) = gui_tools("offline", &[]) else {
        return;
    };
    if let Some(why) = sandbox_missing() {
        let required = std::env::var("CAIRN_REQUIRE_SANDBOX").is_ok_and(|v| v == "1");
        assert!(!required, "offline sandbox unavailable: {why}");
        eprintln!("skipping the desktop offline test: {why}");
        return;
    }
    let models = cairn_engine::models::default_models_dir();
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("home");
    let data = tmp.path().join("data");
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::create_dir_all(data.join("desktop")).expect("data");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/docs"),
        &docs,
    );
    // A watched folder is indexed when the app starts: the whole ingest path
    // runs without anyone driving the window.
    std::fs::write(
        data.join("desktop/watched.json"),
        serde_json::to_vec(&[docs.display().to_string()]).expect("json"),
    )
    .expect("watched.json");

    let (mut xvfb, display) = start_xvfb(&tools[0].1);
    let trace = tmp.path().join("desktop.strace");
    let log = tmp.path().join("desktop.log");
    let mut app = Command::new("unshare")
        .arg("-n")
        .args(["strace", "-f", "-qq", "-e", "trace=network", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_cairn-desktop"))
        .env("DISPLAY", &display)
        .env("NO_AT_BRIDGE", "1")
        .env("HOME", &home)
        .env("CAIRN_DATA_DIR", &data)
        .env("CAIRN_MODELS_DIR", &models)
        .env("CAIRN_LOG", "info")
        // Load the answer model at start, so its loading is traced too.
        .env("CAIRN_PRELOAD_MODEL", "1")
        .env_remove("ORT_DISABLE_TELEMETRY")
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .process_group(0)
        .spawn()
        .expect("run unshare");

    let start = Instant::now();
    let done = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let ready = text.contains("window ready") && text.contains("model ready");
        if ready && indexed_documents(&data) == FIXTURE_DOCUMENTS {
            break Ok(());
        }
        if let Ok(Some(status)) = app.try_wait() {
            break Err(format!("the app exited early ({status})"));
        }
        if start.elapsed() > Duration::from_secs(300) {
            break Err("timed out".to_string());
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    // Idle a little with everything loaded, still traced.
    std::thread::sleep(Duration::from_secs(2));
    kill_group(&mut app);
    kill_group(&mut xvfb);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    if let Err(why) = done {
        panic!(
            "{why}: {} of {FIXTURE_DOCUMENTS} documents indexed; app log tail:\n{}",
            indexed_documents(&data),
            text.lines().rev().take(20).collect::<Vec<_>>().join("\n")
        );
    }

    let traced = std::fs::read_to_string(&trace).expect("strace wrote its log");
    assert!(
        traced.contains("socket(AF_UNIX"),
        "the trace must show the app's own sockets (X11, IPC); is strace following it?"
    );
    let bad = violations(&traced, Allow::UnixAndRouteNetlink);
    assert!(
        bad.is_empty(),
        "the desktop app used the network:\n{}",
        bad.join("\n")
    );
}
