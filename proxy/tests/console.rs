//! The web console in a real headless Chromium (Debian's `chromium` + `chromium-driver`,
//! over WebDriver): sign in; disable a key in the UI → a signed request with it gets 403;
//! regenerate it → the old key gets 404, the new one 200; a refused request shows in the
//! event log with its reason; a dead letter retried from the UI reaches the app; the audit
//! log shows each of those actions. Each page is photographed; with
//! `HOOKGUARD_SCREENSHOTS=DIR` the pictures are saved there (`docs/console/` holds the
//! README's).

use bytes::Bytes;
use hookguard_tests::fantoccini::Locator;
use hookguard_tests::{assert_eventually, send, upstream, Browser, Sidecar, Signer};
use http::Request;
use serde_json::Value;

const TOKEN: &str = "console-token-5e1f0b2a";
const SECRET: &str = "gh-console-secret-77aa";

fn config(app: &str) -> String {
    format!(
        r#"
[admin]
tokens = [{{ id = "ops", value = "{TOKEN}" }}]

[queue]
retry_schedule = ["100ms"]

[upstream]
address = "{app}"

[[routes]]
id = "partner"
match = {{ key_prefix = "/hooks/" }}
scheme = "github"
secrets = [{{ id = "primary", value = "{SECRET}" }}]

[[routes]]
id = "github"
match.path = "/webhooks/github"
scheme = "github"
secrets = [{{ id = "primary", value = "{SECRET}" }}]

[[routes]]
id = "orders"
match.path = "/webhooks/orders"
scheme = "github"
secrets = [{{ id = "primary", value = "{SECRET}" }}]
delivery = "queue"
"#
    )
}

async fn deliver(proxy: &Sidecar, path: &str, id: &str) -> u16 {
    send(Signer::new("github", SECRET).post(&proxy.url(path), b"{\"n\":1}", id))
        .await
        .status
}

async fn api(proxy: &Sidecar, method: &str, path: &str, body: &str) -> Value {
    let request = Request::builder()
        .method(method)
        .uri(proxy.admin_url(&format!("/api/v1{path}")))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_owned()))
        .unwrap();
    serde_json::from_str(&send(request).await.text()).unwrap_or(Value::Null)
}

/// Photographs the page (always: a broken page fails here too), saved when asked.
async fn photograph(browser: &Browser, name: &str) {
    let png = browser.client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    if let Ok(dir) = std::env::var("HOOKGUARD_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

/// Waits until the page's script has drawn it.
async fn ready(browser: &Browser) {
    browser.wait_for("body[data-ready='true']").await;
}

/// An attribute of the element matching `css`, found again if the script redrew it.
async fn attr(browser: &Browser, css: &str, name: &str) -> String {
    let deadline = std::time::Instant::now() + hookguard_tests::browser::PAGE_WAIT;
    loop {
        match browser.wait_for(css).await.attr(name).await {
            Ok(Some(value)) => return value,
            Ok(None) => panic!("{css} has no {name}"),
            Err(e) if std::time::Instant::now() > deadline => panic!("{css}: {e}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test]
async fn operators_manage_keys_events_and_dead_letters_in_the_browser() {
    let app = upstream().record().start().await;
    let proxy = hookguard_tests::sidecar(env!("CARGO_BIN_EXE_hookguard"))
        .config(config(&app.addr().to_string()))
        .start()
        .await;
    let key_id = api(&proxy, "POST", "/keys", r#"{"route":"partner"}"#).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let browser = Browser::start(1280, 860).await;
    let ui = |path: &str| proxy.admin_url(&format!("/ui/{path}"));

    // Signing in: the console sends to the login page, the token goes in sessionStorage.
    browser.client.goto(&ui("")).await.unwrap();
    let token_field = browser.wait_for("#token").await;
    photograph(&browser, "login").await;
    token_field.send_keys("wrong-token").await.unwrap();
    browser.click("#login-form button[type=submit]").await;
    let error = browser.wait_for("#login-error").await;
    assert_eventually!(error.text().await.unwrap().contains("valid admin token"));
    let token_field = browser.wait_for("#token").await;
    token_field.clear().await.unwrap();
    token_field.send_keys(TOKEN).await.unwrap();
    browser.click("#login-form button[type=submit]").await;
    browser.wait_for("#routes tr[data-route='orders']").await;
    ready(&browser).await;
    let url = browser.client.current_url().await.unwrap();
    assert!(!url.as_str().contains(TOKEN), "never in a URL");
    photograph(&browser, "routes").await;

    // A key works, is disabled in the UI, and then gets 403.
    let key_row = format!("#keys tr[data-key='{key_id}']");
    browser.client.goto(&ui("routes/partner")).await.unwrap();
    ready(&browser).await;
    let path = attr(&browser, &key_row, "data-url").await;
    assert_eq!(deliver(&proxy, &path, "k-1").await, 200);
    browser
        .click(&format!(
            "button[data-action='disable'][data-key='{key_id}']"
        ))
        .await;
    browser
        .wait_for(&format!(
            "button[data-action='enable'][data-key='{key_id}']"
        ))
        .await;
    assert_eq!(deliver(&proxy, &path, "k-2").await, 403);
    photograph(&browser, "keys").await;

    // Enabled again, then regenerated with the confirmation: old 404, new 200.
    browser
        .click(&format!(
            "button[data-action='enable'][data-key='{key_id}']"
        ))
        .await;
    browser
        .wait_for(&format!(
            "button[data-action='disable'][data-key='{key_id}']"
        ))
        .await;
    browser
        .click(&format!(
            "button[data-action='regenerate'][data-key='{key_id}']"
        ))
        .await;
    browser.wait_for("#regenerate-dialog[open]").await;
    photograph(&browser, "regenerate").await;
    browser.click("#regenerate-confirm").await;
    assert_eventually!(attr(&browser, &key_row, "data-url").await != path);
    let new_path = attr(&browser, &key_row, "data-url").await;
    assert_eq!(deliver(&proxy, &path, "k-3").await, 404);
    assert_eq!(deliver(&proxy, &new_path, "k-4").await, 200);

    // A forged request shows in the event log with its reason, and its details open.
    let forged = Request::post(proxy.url("/webhooks/github"))
        .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
        .header("x-github-delivery", "forged-1")
        .body(Bytes::from_static(b"{}"))
        .unwrap();
    assert_eq!(send(forged).await.status, 401);
    browser.client.goto(&ui("events")).await.unwrap();
    ready(&browser).await;
    browser
        .wait_for("#f-outcome")
        .await
        .select_by_value("rejected")
        .await
        .unwrap();
    browser.click("#event-filters button[type=submit]").await;
    assert_eventually!(browser
        .client
        .find(Locator::Css("#events tr[data-reason='signature_mismatch']"))
        .await
        .is_ok());
    browser
        .click("#events tr[data-reason='signature_mismatch'] button[data-action='show-event']")
        .await;
    let detail = browser.wait_for("#event-detail:not([hidden])").await;
    let text = detail.text().await.unwrap();
    assert!(
        text.contains("signature_mismatch") && text.contains("/webhooks/github"),
        "{text}"
    );
    photograph(&browser, "events").await;

    // A dead letter (the app refused it with 400) is retried from the UI and reaches it.
    app.set_status(400);
    assert_eq!(deliver(&proxy, "/webhooks/orders", "order-1").await, 202);
    assert_eventually!(api(&proxy, "GET", "/dlq", "").await["items"]
        .as_array()
        .is_some_and(|i| i.len() == 1));
    app.set_status(200);
    let delivered = |app: &hookguard_tests::Upstream| {
        app.requests()
            .iter()
            .filter(|r| r.header("x-github-delivery") == Some("order-1"))
            .count()
    };
    assert_eq!(delivered(&app), 1);
    browser.client.goto(&ui("dlq")).await.unwrap();
    ready(&browser).await;
    browser
        .click("#dead-letters button[data-action='inspect']")
        .await;
    browser.wait_for("#dead-letter-detail:not([hidden])").await;
    photograph(&browser, "dead-letters").await;
    browser
        .click("#dead-letters button[data-action='retry']")
        .await;
    assert_eventually!(
        delivered(&app) == 2,
        "the retried dead letter reaches the app"
    );
    assert_eventually!(api(&proxy, "GET", "/dlq", "").await["items"] == Value::Array(vec![]));

    // The test tool: a signed sample through the sidecar, stage by stage.
    browser.client.goto(&ui("test")).await.unwrap();
    ready(&browser).await;
    browser
        .wait_for("#t-route")
        .await
        .select_by_value("github")
        .await
        .unwrap();
    browser.click("#test-form button[type=submit]").await;
    let delivery = browser
        .wait_for("#test-stages li[data-stage='delivery']")
        .await;
    assert_eq!(
        delivery.text().await.unwrap(),
        "delivery: the app answered 200"
    );
    photograph(&browser, "test-delivery").await;

    // Secrets, and the audit log with each action above.
    browser.client.goto(&ui("secrets")).await.unwrap();
    ready(&browser).await;
    browser
        .wait_for("section[aria-label='Secrets of github']")
        .await;
    photograph(&browser, "secrets").await;
    browser.client.goto(&ui("audit")).await.unwrap();
    ready(&browser).await;
    for action in [
        "key.create",
        "key.disable",
        "key.enable",
        "key.regenerate",
        "dlq.retry",
    ] {
        browser
            .wait_for(&format!("#audit tr[data-action='{action}']"))
            .await;
    }
    photograph(&browser, "audit").await;
    let page = browser.client.source().await.unwrap();
    assert!(
        !page.contains(TOKEN),
        "the token is never written into a page"
    );
    browser.close().await;
    proxy.finish();
}
