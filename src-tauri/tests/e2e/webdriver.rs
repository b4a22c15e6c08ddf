//! A small W3C WebDriver client over plain HTTP/1.1: enough to drive the real
//! app through tauri-driver (find, click, type, run script, screenshot) without
//! pulling an async HTTP stack into the test build.

use base64::Engine as _;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
pub const ENTER: &str = "\u{E007}";
/// What `request` says when the server closed the connection without a reply.
const EMPTY_REPLY: &str = "empty reply (no HTTP header end)";

pub struct Session {
    port: u16,
    id: String,
}

fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(180)))
        .map_err(|e| e.to_string())?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body.as_bytes()))
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(EMPTY_REPLY)?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut payload = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        payload = dechunk(&payload)?;
    }
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no HTTP status")?;
    let v: Value = serde_json::from_slice(&payload)
        .map_err(|e| format!("bad JSON ({e}): {}", String::from_utf8_lossy(&payload)))?;
    if status != 200 {
        return Err(format!("{method} {path} -> {status}: {}", v["value"]));
    }
    Ok(v["value"].clone())
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("bad chunk size: {e}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Waits until the WebDriver server at `port` answers.
pub fn wait_ready(port: u16, timeout: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(format!("no WebDriver server on port {port}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Session {
    pub fn new(port: u16, application: &Path) -> Result<Session, String> {
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "wry",
                    "tauri:options": { "application": application.display().to_string() }
                }
            }
        });
        // The first session after a cold start of WebKitWebDriver sometimes gets an
        // empty reply; a retry succeeds.
        let mut attempt = 0;
        let v = loop {
            attempt += 1;
            match request(port, "POST", "/session", Some(&caps)) {
                Ok(v) => break v,
                Err(e) if attempt < 3 => {
                    eprintln!("new session failed ({e}); retrying");
                    std::thread::sleep(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        };
        let id = v["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {v}"))?
            .to_string();
        Ok(Session { port, id })
    }

    /// One command of the session. An empty reply is retried: tauri-driver proxies
    /// to WebKitWebDriver over pooled keep-alive connections, and when WebKitWebDriver
    /// has just closed the pooled one the proxy answers nothing; the command did not
    /// reach the browser, and a second try goes through a fresh connection.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let path = format!("/session/{}{path}", self.id);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match request(self.port, method, &path, body.as_ref()) {
                Err(e) if e == EMPTY_REPLY && attempt < 4 => {
                    eprintln!("{method} {path}: {e}; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    /// Runs JavaScript in the page and returns its result.
    pub fn script(&self, js: &str, args: Value) -> Result<Value, String> {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": js, "args": args })),
        )
    }

    /// Runs asynchronous JavaScript; it must call `arguments[arguments.length-1]`.
    pub fn script_async(&self, js: &str, args: Value) -> Result<Value, String> {
        self.call(
            "POST",
            "/execute/async",
            Some(json!({ "script": js, "args": args })),
        )
    }

    pub fn find(&self, css: &str) -> Result<String, String> {
        let v = self.call(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        )?;
        v[ELEMENT_KEY]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no element for {css}: {v}"))
    }

    /// Clicks the element through the DOM (`HTMLElement.click()`, which fires the
    /// same click event a mouse does). WebKitWebDriver's native element click
    /// sometimes dropped the connection under Xvfb.
    pub fn click(&self, css: &str) -> Result<(), String> {
        let found = self.script(
            "const el = document.querySelector(arguments[0]); if (!el) return false; el.click(); return true;",
            json!([css]),
        )?;
        if found == json!(true) {
            Ok(())
        } else {
            Err(format!("no element for {css}"))
        }
    }

    pub fn type_into(&self, css: &str, text: &str) -> Result<(), String> {
        let el = self.find(css)?;
        self.call(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        )
        .map(|_| ())
    }

    /// Polls `js` (an expression) until it is truthy; returns its value.
    pub fn wait_for(&self, what: &str, js: &str, timeout: Duration) -> Result<Value, String> {
        let start = Instant::now();
        let script = format!("return ({js});");
        loop {
            let v = self.script(&script, json!([]))?;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return Ok(v);
            }
            if start.elapsed() > timeout {
                return Err(format!("timed out after {timeout:?} waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn screenshot(&self, path: &Path) -> Result<(), String> {
        let v = self.call("GET", "/screenshot", None)?;
        let b64 = v.as_str().ok_or("screenshot is not a string")?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| e.to_string())?;
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn close(&self) {
        let _ = self.call("DELETE", "", None);
    }
}
