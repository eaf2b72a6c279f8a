//! A small WebDriver client with two launchers: `tauri-driver`, to drive the
//! real app window (WebKitGTK under Xvfb), and `chromedriver`, to drive
//! Debian's Chromium through the registry's pages. Find, click, type, run a
//! script, take a screenshot. Plain HTTP/1.1 on loopback; no browser
//! automation crate needed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The W3C key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running `tauri-driver` (which starts WebKitWebDriver), stopped when dropped.
pub struct TauriDriver {
    child: Child,
    port: u16,
}

impl TauriDriver {
    /// Starts tauri-driver on free ports with `env` for the app (DISPLAY, HOME, ...);
    /// its output and the app's go to `log`.
    pub fn start(env: &[(&str, &str)], log: &Path) -> Self {
        let binary = which("tauri-driver").expect(
            "tauri-driver is needed for the window test; .ci/run installs it (cargo install tauri-driver --locked)",
        );
        let (port, native) = (free_tcp_port(), free_tcp_port());
        let child = Command::new(binary)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(log)
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .expect("tauri-driver starts");
        let driver = Self { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "tauri-driver did not open port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }

    /// Opens a session with the app `application` started with `args`.
    pub fn session(&self, application: &Path, args: &[&str]) -> Session {
        let capabilities = json!({
            "capabilities": {"alwaysMatch": {"tauri:options": {"application": application, "args": args}}}
        });
        // The native driver behind tauri-driver may still be starting: try again for a while.
        let mut reply = None;
        for _ in 0..50 {
            match try_request(self.port, "POST", "/session", Some(&capabilities)) {
                Ok(value) => {
                    reply = Some(value);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        let reply = reply.expect("tauri-driver answers a new session");
        let id = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {reply}"))
            .to_owned();
        Session {
            port: self.port,
            id,
        }
    }
}

impl Drop for TauriDriver {
    fn drop(&mut self) {
        // WebKitWebDriver and the app are the driver's children: stop them too.
        for pid in descendants(self.child.id()) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The processes below `pid`, children first (Linux /proc).
fn descendants(pid: u32) -> Vec<u32> {
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let mut all = Vec::new();
    for child in children
        .split_whitespace()
        .filter_map(|c| c.parse::<u32>().ok())
    {
        all.push(child);
        all.extend(descendants(child));
    }
    all
}

/// A running `chromedriver` with one headless Chromium session, stopped when dropped.
pub struct ChromeDriver {
    child: Child,
    /// The browser.
    pub session: Session,
    _profile: tempfile::TempDir,
}

impl ChromeDriver {
    /// Starts Debian's chromedriver and Chromium (headless, a fresh
    /// profile, nothing fetched from the internet; certificates of the
    /// school CA accepted, as an admin accepts the registry's once).
    pub fn start(log: &Path) -> Self {
        let binary = which("chromedriver")
            .expect("chromedriver is needed for the browser tests (Debian's chromium-driver; .ci/run installs it)");
        let port = free_tcp_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(log)
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .expect("chromedriver starts");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not open port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let reply = request(port, "POST", "/session", Some(&capabilities));
        let id = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no Chromium session: {reply}"))
            .to_owned();
        Self {
            child,
            session: Session { port, id },
            _profile: profile,
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = request(
            self.session.port,
            "DELETE",
            &format!("/session/{}", self.session.id),
            None,
        );
        for pid in descendants(self.child.id()) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver session with the app's window or a browser.
pub struct Session {
    port: u16,
    id: String,
}

/// A reference to an element of the page.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Session {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|error| panic!("WebDriver {method} {path}: {error}"))
    }

    fn try_call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Value> {
        let reply = request(
            self.port,
            method,
            &format!("/session/{}{path}", self.id),
            body,
        );
        match reply["value"].get("error") {
            Some(_) => Err(reply["value"].clone()),
            None => Ok(reply["value"].clone()),
        }
    }

    /// Every element matching the CSS `selector`.
    pub fn find_all(&self, selector: &str) -> Vec<Element> {
        let query = json!({"using": "css selector", "value": selector});
        // WebKitWebDriver finds elements with a script in the page; on a busy
        // machine that script's answer is now and then lost ("Could not parse
        // element info"). Asking again is what a person would do.
        let mut attempt = 0;
        let found = loop {
            attempt += 1;
            match self.try_call("POST", "/elements", Some(&query)) {
                Ok(found) => break found,
                Err(error) if attempt < 5 && error["error"] == "unknown error" => {
                    std::thread::sleep(Duration::from_millis(300));
                }
                Err(error) => panic!("WebDriver POST /elements {selector}: {error}"),
            }
        };
        found
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| e[ELEMENT].as_str())
                    .map(|id| Element(id.to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching `selector`.
    pub fn find(&self, selector: &str) -> Element {
        self.find_all(selector)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no element matches {selector}"))
    }

    /// Clicks `element` the way a pointer would.
    pub fn click(&self, element: &Element) {
        self.call(
            "POST",
            &format!("/element/{}/click", element.0),
            Some(&json!({})),
        );
    }

    /// Presses and releases keys one after the other, as a keyboard would,
    /// into whatever has the focus: characters, or WebDriver's key values
    /// ("\u{E007}" is Enter, "\u{E009}" Control). A key value followed by
    /// `+` is held until the end of `keys` ("\u{E009}+a" is Ctrl+A).
    pub fn keys(&self, keys: &str) {
        let mut actions = Vec::new();
        let mut held = Vec::new();
        let mut chars = keys.chars().peekable();
        while let Some(key) = chars.next() {
            let value = key.to_string();
            actions.push(json!({"type": "keyDown", "value": value}));
            if chars.peek() == Some(&'+') {
                chars.next();
                held.push(value);
            } else {
                actions.push(json!({"type": "keyUp", "value": value}));
            }
        }
        for value in held.into_iter().rev() {
            actions.push(json!({"type": "keyUp", "value": value}));
        }
        self.call(
            "POST",
            "/actions",
            Some(&json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    /// Runs `script` in the page; `arguments` are available to it. A run the
    /// driver fails (it happens to WebKitWebDriver under load) is tried again.
    pub fn execute(&self, script: &str, arguments: &[Value]) -> Value {
        let body = json!({"script": script, "args": arguments});
        let mut last = Value::Null;
        for _ in 0..5 {
            match self.try_call("POST", "/execute/sync", Some(&body)) {
                Ok(value) => return value,
                Err(error) => last = error,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("WebDriver could not run a script: {last}")
    }

    /// Opens `url`, as typing it into the address bar does.
    pub fn navigate(&self, url: &str) {
        self.call("POST", "/url", Some(&json!({ "url": url })));
    }

    /// The address of the page shown.
    pub fn url(&self) -> String {
        self.call("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Types `text` into `element` (a file input takes a file's path).
    pub fn type_into(&self, element: &Element, text: &str) {
        self.call(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(&json!({ "text": text })),
        );
    }

    /// The text the page shows.
    pub fn text(&self) -> String {
        self.execute("return document.body.innerText;", &[])
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Sets the window's size.
    pub fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            Some(&json!({"width": width, "height": height})),
        );
    }

    /// Waits (up to `limit`) until `script` returns true. A script the driver
    /// fails to run (it happens to WebKitWebDriver under load) counts as "not yet".
    pub fn wait_for(&self, what: &str, limit: Duration, script: &str) {
        let started = Instant::now();
        loop {
            let last = match self.try_call(
                "POST",
                "/execute/sync",
                Some(&json!({"script": script, "args": []})),
            ) {
                Ok(Value::Bool(true)) => return,
                Ok(value) | Err(value) => value,
            };
            assert!(
                started.elapsed() < limit,
                "{what}: not within {limit:?} (last: {last})"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A PNG screenshot of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        // WebKitWebDriver now and then answers a screenshot with "unknown
        // error" while the page is busy (seen in CI on two loaded cores);
        // the page is fine, and a moment later the screenshot comes.
        let mut tries = 0;
        let encoded = loop {
            match self.try_call("GET", "/screenshot", None) {
                Ok(encoded) => break encoded,
                Err(error) if tries < 10 && error["error"] == "unknown error" => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(300));
                }
                Err(error) => panic!("WebDriver GET /screenshot: {error}"),
            }
        };
        base64_decode(encoded.as_str().expect("screenshot data"))
    }

    /// Ends the session, which closes the app.
    pub fn end(self) {
        let _ = request(self.port, "DELETE", &format!("/session/{}", self.id), None);
    }
}

/// The element reference as a script argument.
pub fn element_argument(element: &Element) -> Value {
    json!({ ELEMENT: element.0 })
}

fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    // tauri-driver drops a request without an answer when its pooled connection
    // to the native driver went stale; such a request never arrived, so it is sent again.
    let mut last = String::new();
    for _ in 0..5 {
        match try_request(port, method, path, body) {
            Ok(value) => return value,
            Err(error) if error.starts_with(NO_ANSWER) => {
                last = error;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(error) => panic!("WebDriver {method} {path}: {error}"),
        }
    }
    panic!("WebDriver {method} {path}: {last}")
}

const NO_ANSWER: &str = "no answer";

fn try_request(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(120))).ok();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut length = None;
    let mut chunked = false;
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let read = reader.read_line(&mut line).map_err(|e| e.to_string())?;
        if read == 0 && head.is_empty() {
            return Err(NO_ANSWER.to_owned());
        }
        head.push_str(&line);
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse::<usize>().ok();
        }
        chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
    }
    let mut data = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).map_err(|e| e.to_string())?;
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).map_err(|e| e.to_string())?;
            data.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = length {
        data.resize(length, 0);
        reader.read_exact(&mut data).map_err(|e| e.to_string())?;
    }
    serde_json::from_slice(&data)
        .map_err(|e| format!("not JSON ({e}): {head}{}", String::from_utf8_lossy(&data)))
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn which(program: &str) -> Option<PathBuf> {
    let home_bin = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(home_bin)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, d)| acc | u32::from(*d) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64_decode("aGVsbG8="), b"hello");
        assert_eq!(base64_decode("aGVsbG8h"), b"hello!");
        assert_eq!(base64_decode("aA=="), b"h");
    }
}
