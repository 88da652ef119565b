//! A small W3C WebDriver client over reqwest, for the console's browser tests: headless
//! Chromium through Debian's `chromedriver`. It is a handful of endpoints, so the tests keep
//! to the HTTP client they already use rather than a second HTTP stack.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// W3C's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    port: u16,
    session_id: String,
    driver: Child,
}

impl Drop for Browser {
    /// Ends the session first, which closes Chromium: killing chromedriver alone leaves its
    /// browser running. `Drop` cannot await, so this is one blocking HTTP/1.1 request.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session_id, self.port
            );
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium window of `width`×`height`.
    pub async fn start(chromedriver: &str, width: u32, height: u32) -> Self {
        let port = super::free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", format!("--window-size={width},{height}")]}
            }}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session_id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        Self {
            http,
            port,
            session_id,
            driver,
        }
    }

    /// One WebDriver command: its `value`, or the W3C error reply (`{error, message}`).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let url = format!(
            "http://127.0.0.1:{}/session/{}{path}",
            self.port, self.session_id
        );
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let ok = response.status().is_success();
        let reply: Value = response.json().await.unwrap();
        let value = reply["value"].clone();
        if ok && value.get("error").is_none() {
            Ok(value)
        } else {
            Err(value)
        }
    }

    /// A command that must succeed: a WebDriver error fails the test where it happened.
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let what = format!("WebDriver {method} {path}");
        self.call(method, path, body)
            .await
            .unwrap_or_else(|error| panic!("{what}: {error}"))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    pub async fn url(&self) -> String {
        let value = self.command(reqwest::Method::GET, "/url", None).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The page source, for failure messages: a WebDriver error is shown, not raised.
    pub async fn source(&self) -> String {
        let value = self
            .call(reqwest::Method::GET, "/source", None)
            .await
            .unwrap_or_else(|error| error);
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned)
    }

    /// The first element matching `css`, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .call(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            match &found {
                Ok(element) => {
                    if let Some(id) = element[ELEMENT].as_str() {
                        return id.to_owned();
                    }
                }
                Err(error) if error["error"] == "no such element" => {}
                Err(error) => panic!("WebDriver find `{css}`: {error}"),
            }
            assert!(
                Instant::now() < deadline,
                "no element `{css}` on {}: {found:?}\n{}",
                self.url().await,
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/clear"), json!({})).await;
        self.post(&format!("/element/{id}/value"), json!({"text": text}))
            .await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }

    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        let value = self
            .command(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    pub async fn property(&self, css: &str, name: &str) -> Value {
        let id = self.find(css).await;
        self.command(
            reqwest::Method::GET,
            &format!("/element/{id}/property/{name}"),
            None,
        )
        .await
    }

    /// Accepts the open `confirm()` dialog.
    pub async fn accept_dialog(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let reply = self
                .call(reqwest::Method::POST, "/alert/accept", Some(json!({})))
                .await;
            match reply {
                Ok(_) => return,
                Err(error) if error["error"] == "no such alert" => {}
                Err(error) => panic!("WebDriver accept dialog: {error}"),
            }
            assert!(Instant::now() < deadline, "no dialog to accept");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn execute(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .await;
    }

    /// Saves a PNG of the viewport.
    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine as _;
        let value = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().expect("a screenshot is base64 text"))
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Waits until the page's heading contains `text` (after a navigation).
    pub async fn wait_heading(&self, text: &str) {
        let script = format!(
            "return (document.querySelector('h1') || {{}}).textContent?.includes({}) === true",
            serde_json::to_string(text).unwrap()
        );
        self.wait_until(&script, &format!("the heading `{text}`"))
            .await;
    }

    /// Waits for the page's URL to end with `suffix`: a click that submits a form returns
    /// before the navigation it starts has always finished.
    pub async fn wait_for_url(&self, suffix: &str) {
        let script = format!(
            "return location.href.endsWith({})",
            serde_json::to_string(suffix).unwrap()
        );
        self.wait_until(&script, &format!("a URL ending in `{suffix}`"))
            .await;
    }

    /// Waits for the page's text to contain `text` (after a navigation a click started).
    pub async fn wait_text(&self, text: &str) {
        let script = format!(
            "return document.body !== null && document.body.textContent.includes({})",
            serde_json::to_string(text).unwrap()
        );
        self.wait_until(&script, &format!("the text `{text}`"))
            .await;
    }

    /// Waits until `script` returns true.
    pub async fn wait_until(&self, script: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        // A script may fail while a navigation replaces the page; that is "not yet".
        while self
            .call(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({"script": script, "args": []})),
            )
            .await
            != Ok(Value::Bool(true))
        {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} on {}:\n{}",
                self.url().await,
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
