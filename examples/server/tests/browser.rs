//! The demo's pages in a real browser: headless Chromium driven through
//! WebDriver (chromedriver) with fantoccini. Screenshots of every page are
//! written to `target/tmp/browser/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`apt-get install
//! chromium chromium-driver`; `.ci/run` installs them). Without them the
//! test says so and passes, unless `REQUIRE_BROWSER=1` (set by `.ci/run`),
//! which makes a missing browser a failure. `CHROMIUM` and `CHROMEDRIVER`
//! override the binaries' paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auth_core::http::sessions::cookie::Cookie;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use common::Server;

fn binary(var: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    path.exists().then_some(path)
}

struct Driver {
    child: Child,
    url: String,
    chromium: PathBuf,
    profiles: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profiles);
    }
}

impl Driver {
    fn start(chromium: PathBuf, chromedriver: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profiles = std::env::temp_dir().join(format!("auth-browser-{}", std::process::id()));
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
            profiles,
        }
    }

    /// A new browser (its own profile: no cookies shared with the others).
    async fn browser(&self, name: &str) -> Client {
        let profile = self.profiles.join(name);
        std::fs::create_dir_all(&profile).unwrap();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--no-first-run", "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=900,900",
                ],
            }
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a WebDriver session")
    }
}

struct Shots(PathBuf);

impl Shots {
    async fn take(&self, browser: &Client, name: &str) {
        let png = browser.screenshot().await.unwrap();
        std::fs::write(self.0.join(format!("{name}.png")), png).unwrap();
    }
}

async fn path_of(browser: &Client) -> String {
    browser.current_url().await.unwrap().path().to_owned()
}

/// Waits (up to 15 s) until the browser is at `path`: a click that submits
/// a form returns before the next page has always loaded.
async fn wait_path(browser: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let at = path_of(browser).await;
        if at == path {
            return;
        }
        assert!(Instant::now() < deadline, "still at {at}, expected {path}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (up to 15 s) for an element.
async fn wait_for(browser: &Client, search: Locator<'_>) -> fantoccini::elements::Element {
    browser
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(search)
        .await
        .unwrap()
}

async fn fill(browser: &Client, id: &str, text: &str) {
    let field = browser.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn submit(browser: &Client, form_action: &str) {
    browser
        .find(Locator::Css(&format!(
            "form[action=\"{form_action}\"] button[type=submit]"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn sign_in(browser: &Client, base: &str, remember: bool) {
    browser.goto(&format!("{base}/sign_in")).await.unwrap();
    fill(browser, "email", "ada@example.com").await;
    fill(browser, "password", "correct horse battery").await;
    if remember {
        browser
            .find(Locator::Id("remember_me"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    submit(browser, "/sign_in").await;
    wait_path(browser, "/account").await;
}

async fn cookie(browser: &Client, name: &str) -> Option<Cookie<'static>> {
    browser
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name() == name)
}

/// The id of the session the browser's account page marks as its own.
async fn own_session(browser: &Client) -> String {
    let rows = browser
        .find_all(Locator::Css("tr[data-session]"))
        .await
        .unwrap();
    for row in rows {
        if row.text().await.unwrap().contains("(this browser)") {
            return row.attr("data-session").await.unwrap().unwrap();
        }
    }
    panic!("no session marked as this browser's");
}

async fn scenario(driver: &Driver, base: &str, shots: &Shots) {
    let a = driver.browser("a").await;

    // Register: signed in at once.
    a.goto(&format!("{base}/register")).await.unwrap();
    shots.take(&a, "register").await;
    fill(&a, "email", "ada@example.com").await;
    fill(&a, "password", "correct horse battery").await;
    fill(&a, "password_confirmation", "correct horse battery").await;
    submit(&a, "/register").await;
    wait_path(&a, "/account").await;
    submit(&a, "/sign_out").await;
    wait_path(&a, "/sign_in").await;

    // A wrong password: the error next to the form.
    fill(&a, "email", "ada@example.com").await;
    fill(&a, "password", "wrong password!").await;
    submit(&a, "/sign_in").await;
    let error = wait_for(&a, Locator::Id("form-error")).await;
    assert!(
        error
            .text()
            .await
            .unwrap()
            .contains("Wrong email or password")
    );
    shots.take(&a, "sign-in-error").await;

    // Sign in with remember-me.
    a.goto(&format!("{base}/sign_in")).await.unwrap();
    shots.take(&a, "sign-in").await;
    sign_in(&a, base, true).await;
    let remember = cookie(&a, "remember_me")
        .await
        .expect("a remember-me cookie");
    assert_eq!(remember.http_only(), Some(true));
    assert_eq!(
        remember.same_site(),
        Some(auth_core::http::sessions::cookie::SameSite::Lax)
    );
    let first_remember = remember.value().to_owned();
    let a_session = own_session(&a).await;
    shots.take(&a, "account").await;

    // The device list names the browser, the raw User-Agent on hover, and
    // says when in words, on one line.
    let row = format!("tr[data-session=\"{a_session}\"]");
    let device = a
        .find(Locator::Css(&format!("{row} .device")))
        .await
        .unwrap();
    assert_eq!(device.text().await.unwrap(), "Chrome on Linux");
    let raw: String = a
        .execute("return navigator.userAgent", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        device.attr("title").await.unwrap().as_deref(),
        Some(raw.as_str())
    );
    let seen = a
        .find(Locator::Css(&format!("{row} td.when time")))
        .await
        .unwrap();
    let when = seen.text().await.unwrap();
    assert!(when == "just now" || when.ends_with("minute ago"), "{when}");
    let one_line = a
        .execute(
            "const c = document.querySelector(arguments[0]); \
             return c.getClientRects().length === 1 && getComputedStyle(c).whiteSpace === 'nowrap'",
            vec![json!(format!("{row} td.when"))],
        )
        .await
        .unwrap();
    assert_eq!(one_line, json!(true), "Last seen on one line");

    // A used or bad reset link says so and links to where a new one is
    // asked for; an unknown URL is a page.
    let c = driver.browser("links").await;
    c.goto(&format!("{base}/password/reset?token=not-a-token"))
        .await
        .unwrap();
    fill(&c, "password", "a new password here").await;
    fill(&c, "password_confirmation", "a new password here").await;
    submit(&c, "/password/reset").await;
    let ask = wait_for(&c, Locator::Id("ask-again")).await;
    assert_eq!(ask.text().await.unwrap(), "ask for a new one");
    ask.click().await.unwrap();
    wait_path(&c, "/password/forgot").await;
    c.goto(&format!("{base}/no/such/page")).await.unwrap();
    let heading = wait_for(&c, Locator::Css("h1")).await;
    assert_eq!(heading.text().await.unwrap(), "Page not found");
    shots.take(&c, "not-found").await;
    c.close().await.unwrap();

    // A second browser signs in and ends the first one's session.
    let b = driver.browser("b").await;
    sign_in(&b, base, false).await;
    b.set_window_size(360, 800).await.unwrap();
    shots.take(&b, "account-360px").await;
    b.find(Locator::Css(&format!(
        "tr[data-session=\"{a_session}\"] button"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_path(&b, "/account").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let gone = format!("tr[data-session=\"{a_session}\"]");
    while b.find(Locator::Css(&gone)).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the ended session is still listed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The first browser is signed out on its next page, and its
    // remember-me cookie does not sign it back in (it is deleted).
    a.goto(&format!("{base}/account")).await.unwrap();
    wait_path(&a, "/sign_in").await;
    assert!(cookie(&a, "remember_me").await.is_none());

    // A cross-site form POST (from another origin, without the token) is
    // refused; the second browser stays signed in.
    let attack = format!(
        "data:text/html,<form method=post action='{base}/log_out_everywhere'></form>\
         <script>document.forms[0].submit()</script>"
    );
    b.goto(&attack).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while path_of(&b).await != "/log_out_everywhere" {
        assert!(Instant::now() < deadline, "the forged form was not sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = b.source().await.unwrap();
    assert!(page.contains("came from another site"), "{page}");
    shots.take(&b, "forbidden").await;
    b.goto(&format!("{base}/account")).await.unwrap();
    wait_path(&b, "/account").await;

    // An API key: made on the account page, shown once, used by a script,
    // listed without its secret, revoked from the page.
    fill(&b, "key_name", "nightly report").await;
    b.find(Locator::Id("scope_reports_read"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    submit(&b, "/account/api_keys").await;
    wait_path(&b, "/account/api_keys").await;
    let key = wait_for(&b, Locator::Id("new-key"))
        .await
        .text()
        .await
        .unwrap();
    assert!(key.starts_with("demo_"), "{key}");
    shots.take(&b, "api-key-created").await;
    assert_eq!(
        reports_status(base, &key),
        200,
        "the key works for a script"
    );
    b.goto(&format!("{base}/account")).await.unwrap();
    wait_path(&b, "/account").await;
    let row = wait_for(&b, Locator::Css("tr[data-key]")).await;
    let listed = row.text().await.unwrap();
    assert!(
        listed.contains("nightly report") && listed.contains("reports:read"),
        "{listed}"
    );
    let page = b.source().await.unwrap();
    assert!(!page.contains(&key), "the account page never shows a key");
    shots.take(&b, "account-api-keys").await;
    row.find(Locator::Css("button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&b, "/account").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while b.find(Locator::Css("tr[data-key]")).await.is_ok() {
        assert!(Instant::now() < deadline, "the revoked key is still listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        reports_status(base, &key),
        401,
        "a revoked key works no more"
    );

    // Recent security activity, newest first: the key revoked and made,
    // the sign-ins from this browser, the failed one.
    let mut kinds = Vec::new();
    let mut signed_in_from = String::new();
    for item in b.find_all(Locator::Css("li[data-event]")).await.unwrap() {
        let kind = item.attr("data-event").await.unwrap().unwrap();
        if kind == "signed_in" && signed_in_from.is_empty() {
            signed_in_from = item.text().await.unwrap();
        }
        kinds.push(kind);
    }
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("api_key_revoked"),
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "api_key_created"), "{kinds:?}");
    assert!(
        signed_in_from.starts_with("Signed in from Chrome"),
        "{signed_in_from}"
    );
    shots.take(&b, "account-activity").await;

    // Sign in again (remembered), then sign out.
    sign_in(&a, base, true).await;
    let second_remember = cookie(&a, "remember_me").await.unwrap().value().to_owned();
    submit(&a, "/sign_out").await;
    wait_path(&a, "/sign_in").await;
    assert!(cookie(&a, "remember_me").await.is_none());

    // A fresh browser holding either old remember-me cookie is not signed in.
    let c = driver.browser("c").await;
    for old in [first_remember, second_remember] {
        c.goto(&format!("{base}/sign_in")).await.unwrap();
        // Planted by script (WebDriver's add-cookie refuses this one); the
        // server reads it the same.
        c.execute(
            "document.cookie = arguments[0]",
            vec![json!(format!("remember_me={old}; path=/"))],
        )
        .await
        .unwrap();
        assert!(cookie(&c, "remember_me").await.is_some(), "planted");
        c.goto(&format!("{base}/account")).await.unwrap();
        assert_eq!(
            path_of(&c).await,
            "/sign_in",
            "an old remember-me cookie signed in"
        );
    }

    for browser in [a, b, c] {
        browser.close().await.unwrap();
    }
}

/// The status of `GET /reports` with `key` in `x-api-key`, as a script
/// would send it.
fn reports_status(base: &str, key: &str) -> u16 {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /reports HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {key}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_pages_in_headless_chromium() {
    let required = std::env::var("REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let chromium = binary("CHROMIUM", "/usr/bin/chromium");
    let chromedriver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        assert!(
            !required,
            "REQUIRE_BROWSER=1 but chromium or chromedriver is missing"
        );
        eprintln!(
            "the browser test did not run: chromium and chromedriver are not installed. \
             Install them (`apt-get install chromium chromium-driver`) or run `bash .ci/run`, \
             then `cargo test -p server --test browser`."
        );
        return;
    };
    let shots = Shots(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser"));
    std::fs::create_dir_all(&shots.0).unwrap();
    let server = Server::start(None);
    let base = format!("http://{}", server.addr);
    let driver = Driver::start(chromium, &chromedriver);
    tokio::time::timeout(Duration::from_secs(180), scenario(&driver, &base, &shots))
        .await
        .expect("the browser scenario took over 3 minutes");
    eprintln!("screenshots in {}", shots.0.display());
}
