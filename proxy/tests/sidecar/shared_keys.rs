//! API-made keys and subscriptions shared by two real sidecars through one real
//! `redis-server` (`[state] backend = "redis"`): what A's admin API does, B serves within
//! a second; and B keeps serving the keys it has while Redis is killed, refuses admin
//! changes with 503 meanwhile, and follows again once Redis is back.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hookguard_tests::{send, upstream, RedisServer, Sidecar, Upstream};
use http::Request;
use serde_json::{json, Value};

use super::admin_api::{self, api, keyed_with, CONFIG_KEY, TOKEN};
use super::{config, sidecar};

/// What the issue promises: a change on one replica holds on every other within this.
const PROPAGATION: Duration = Duration::from_secs(1);

/// admin_api's key route `hooks` with its state in `redis`; the replay guard fails open so
/// that only the keys decide while Redis is down.
fn keyed(app: &Upstream, redis: &RedisServer) -> String {
    keyed_with(
        app,
        &format!(
            "[state]\nbackend = \"redis\"\nurl = \"{}\"\nconnect_timeout = \"300ms\"\ncommand_timeout = \"300ms\"\non_failure = {{ replay = \"fail_open\" }}\n",
            redis.url()
        ),
    )
}

/// A signed delivery with `key`, a fresh delivery id each time; its status.
async fn deliver(proxy: &Sidecar, key: &str) -> u16 {
    static SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    admin_api::deliver(proxy, &format!("/hooks/{key}"), &format!("s-{n}")).await
}

/// Polls `key` on `proxy` until it answers `status`; fails past [`PROPAGATION`] after
/// `since` (when the change was answered on the other replica). How long it took.
async fn answers_within(proxy: &Sidecar, key: &str, status: u16, since: Instant) -> Duration {
    loop {
        let got = deliver(proxy, key).await;
        let took = since.elapsed();
        if got == status {
            return took;
        }
        assert!(
            took < PROPAGATION,
            "B still answers {got} (not {status}) {took:?} after the change on A"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn keys_made_and_changed_through_a_hold_on_b_within_a_second() {
    let redis = RedisServer::start();
    let app = upstream().record().start().await;
    let text = keyed(&app, &redis);
    let a = sidecar().config(text.clone()).start().await;
    let b = sidecar().config(text).start().await;

    let (status, made) = api(&a, "POST", "/keys", Some(r#"{"route":"hooks"}"#)).await;
    let since = Instant::now();
    assert_eq!(status, 201, "{made}");
    let key = made["key"].as_str().unwrap().to_owned();
    let id = made["id"].as_str().unwrap().to_owned();
    let took = answers_within(&b, &key, 200, since).await;
    println!("a key generated on A is accepted by B after {took:?}");

    let (status, _) = api(&a, "POST", &format!("/keys/{id}/disable"), None).await;
    let since = Instant::now();
    assert_eq!(status, 200);
    let took = answers_within(&b, &key, 403, since).await;
    println!("disabled on A, refused by B after {took:?}");
    // B's API shows A's change, and who made it.
    let (_, shown) = api(&b, "GET", &format!("/keys/{id}"), None).await;
    assert_eq!(
        (shown["enabled"].clone(), shown["changed_by"].clone()),
        (json!(false), json!("ops"))
    );

    let (status, _) = api(&a, "POST", &format!("/keys/{id}/enable"), None).await;
    assert_eq!(status, 200);
    answers_within(&b, &key, 200, Instant::now()).await;

    // Regenerated without grace: the old key stops on B too.
    let (status, fresh) = api(&a, "POST", &format!("/keys/{id}/regenerate"), None).await;
    let since = Instant::now();
    assert_eq!(status, 200, "{fresh}");
    let second = fresh["key"].as_str().unwrap().to_owned();
    assert_ne!(second, key);
    let took = answers_within(&b, &key, 404, since).await;
    println!("regenerated on A, old key refused by B after {took:?}");
    assert_eq!(deliver(&b, &second).await, 200);

    // With a grace period the old key keeps working on B, beside the new one.
    let (status, fresh) = api(
        &a,
        "POST",
        &format!("/keys/{id}/regenerate"),
        Some(r#"{"grace":"1h"}"#),
    )
    .await;
    let since = Instant::now();
    assert_eq!(status, 200, "{fresh}");
    let third = fresh["key"].as_str().unwrap().to_owned();
    answers_within(&b, &third, 200, since).await;
    assert_eq!(deliver(&b, &second).await, 200, "in its grace period on B");

    // A config key disabled through B is refused by A; deleted API keys stop everywhere.
    // The id of a config key: `cfg_` + the first 12 hex digits of its SHA-256.
    let config_id = format!(
        "cfg_{}",
        &hookguard_tests::sha256_hex(CONFIG_KEY.as_bytes())[..12]
    );
    assert_eq!(
        api(&b, "POST", &format!("/keys/{config_id}/disable"), None)
            .await
            .0,
        200
    );
    answers_within(&a, CONFIG_KEY, 403, Instant::now()).await;
    assert_eq!(api(&a, "DELETE", &format!("/keys/{id}"), None).await.0, 200);
    let since = Instant::now();
    answers_within(&b, &third, 404, since).await;
    assert_eq!(deliver(&b, &second).await, 404);

    // One audit log for both replicas: B lists what A did.
    let (_, audit) = api(&b, "GET", "/audit?limit=50", None).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "key.create",
        "key.disable",
        "key.enable",
        "key.regenerate",
        "key.delete",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    // Keys are bearer credentials: they are in Redis (the store), never in the logs.
    a.assert_no_secret_in_logs();
    b.assert_no_secret_in_logs();
}

#[tokio::test]
async fn b_keeps_serving_its_keys_while_redis_is_killed_and_follows_again_after() {
    let mut redis = RedisServer::builder().persistent().start();
    let app = upstream().record().start().await;
    let text = keyed(&app, &redis);
    let a = sidecar().config(text.clone()).start().await;
    let mut b = sidecar().config(text.clone()).start().await;
    let (status, made) = api(&a, "POST", "/keys", Some(r#"{"route":"hooks"}"#)).await;
    assert_eq!(status, 201, "{made}");
    let key = made["key"].as_str().unwrap().to_owned();
    let id = made["id"].as_str().unwrap().to_owned();
    answers_within(&b, &key, 200, Instant::now()).await;

    redis.kill9();
    // Longer than several version checks: B has noticed that Redis is gone.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..3 {
        assert_eq!(
            deliver(&b, &key).await,
            200,
            "a key that was valid stays valid"
        );
        assert_eq!(deliver(&b, CONFIG_KEY).await, 200);
    }
    assert_eq!(
        deliver(&b, "wh_NotAKeyAnyoneMade0123456789abcde").await,
        404
    );
    let (status, refused) = api(&b, "POST", &format!("/keys/{id}/disable"), None).await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["error"], "store_unavailable", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("redis") && message.contains("keep working"),
        "{message}"
    );
    let (status, _) = api(&a, "POST", "/keys", Some(r#"{"route":"hooks"}"#)).await;
    assert_eq!(status, 503, "nothing is made that B could not see");
    assert_eq!(
        deliver(&b, &key).await,
        200,
        "still served after the refusals"
    );
    // A new configuration while Redis is down: its keys apply, the API's stay.
    const SECOND: &str = "wh_SecondConfigKey0123456789abcdefg";
    b.rewrite_config(&text.replace(
        &format!("{{ key = \"{CONFIG_KEY}\" }}"),
        &format!("{{ key = \"{CONFIG_KEY}\" }}, {{ key = \"{SECOND}\" }}"),
    ));
    let reloaded = Instant::now();
    while deliver(&b, SECOND).await != 200 {
        assert!(
            reloaded.elapsed() < Duration::from_secs(10),
            "the new configuration was not applied without redis"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        deliver(&b, &key).await,
        200,
        "the API key survived the reload"
    );

    // Back (with its AOF): changes flow again.
    redis.restart();
    let back = Instant::now();
    let disabled = loop {
        let (status, _) = api(&a, "POST", &format!("/keys/{id}/disable"), None).await;
        if status == 200 {
            break Instant::now();
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "admin changes not accepted within 5 s of redis coming back ({status})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    answers_within(&b, &key, 403, disabled).await;
}

/// A sidecar with `[outbound]` on a free port, sharing `redis`; `queue_extra` goes in
/// `[queue]`. The sidecar and where the app posts its events.
async fn outbound_replica(
    redis: &RedisServer,
    app: &Upstream,
    queue_extra: &str,
) -> (Sidecar, std::net::SocketAddr) {
    let listen = hookguard_tests::free_port();
    let top = format!(
        r#"[state]
backend = "redis"
url = "{}"

[admin]
tokens = [{{ id = "ops", value = "{TOKEN}" }}]

[queue]
retry_schedule = ["100ms"]
{queue_extra}

[outbound]
listen = "{listen}"
allow_http = true
allow_networks = ["127.0.0.0/8"]
"#,
        redis.url()
    );
    (
        sidecar().config(config(app, &top, "")).start().await,
        listen,
    )
}

/// Posts event `n` to an outbound listener; the status and the answer.
async fn post_event(listen: std::net::SocketAddr, n: usize) -> (u16, Value) {
    let event = json!({ "type": "job.done", "id": format!("evt-{n}"), "payload": { "n": n } });
    let request = Request::post(format!("http://{listen}/v1/events"))
        .header("content-type", "application/json")
        .body(Bytes::from(event.to_string()))
        .unwrap();
    let answer = send(request).await;
    (
        answer.status,
        serde_json::from_str(&answer.text()).unwrap_or(Value::Null),
    )
}

/// Polls B's subscription list until `holds`; fails past [`PROPAGATION`] after `since`.
async fn listed_within(proxy: &Sidecar, since: Instant, holds: impl Fn(&[Value]) -> bool) {
    loop {
        let (_, list) = api(proxy, "GET", "/subscriptions", None).await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        if holds(&items) {
            return;
        }
        assert!(
            since.elapsed() < PROPAGATION,
            "B's subscriptions {items:?} {:?} after the change on A",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_subscription_made_through_a_is_listed_and_used_by_b_within_a_second() {
    let redis = RedisServer::start();
    let app = upstream().start().await;
    let endpoint = upstream().record().start().await;
    // Sealed with a key: an inline secret may then be kept in Redis.
    let key = "encryption_keys = [{ id = \"k1\", value = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\" }]";
    let (a, _) = outbound_replica(&redis, &app, key).await;
    let (b, b_events) = outbound_replica(&redis, &app, key).await;
    let made = json!({
        "id": "job-7",
        "url": format!("http://{}/hooks", endpoint.addr()),
        "events": ["job.*"],
        "secrets": [{ "id": "v1", "value": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }],
    });
    let (status, body) = api(&a, "POST", "/subscriptions", Some(&made.to_string())).await;
    let since = Instant::now();
    assert_eq!(status, 201, "{body}");
    listed_within(&b, since, |items| items.iter().any(|s| s["id"] == "job-7")).await;
    let (status, queued) = post_event(b_events, 1).await;
    assert_eq!(
        (status, queued["subscriptions"].clone()),
        (202, json!(["job-7"])),
        "{queued}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while endpoint.requests().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the event posted to B never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(endpoint
        .only_request()
        .header("webhook-signature")
        .is_some());
    // Sealed in Redis: the secret is not there in plain.
    let raw = redis.command("HGETALL {hookguard:records:subscriptions}");
    assert!(raw.contains("job-7"), "the record is there: {raw}");
    assert!(
        !raw.contains("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "{raw}"
    );

    let (status, _) = api(&a, "POST", "/subscriptions/job-7/disable", None).await;
    let since = Instant::now();
    assert_eq!(status, 200);
    listed_within(&b, since, |items| {
        items
            .iter()
            .any(|s| s["id"] == "job-7" && s["enabled"] == false)
    })
    .await;
    assert_eq!(post_event(b_events, 2).await.1["subscriptions"], json!([]));

    let (status, _) = api(&a, "DELETE", "/subscriptions/job-7", None).await;
    let since = Instant::now();
    assert_eq!(status, 200);
    listed_within(&b, since, |items| items.iter().all(|s| s["id"] != "job-7")).await;

    // Without Redis a change is refused and says why.
    let mut redis = redis;
    redis.kill9();
    let (status, body) = api(&a, "POST", "/subscriptions/job-7/enable", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "store_unavailable", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("redis"),
        "{body}"
    );
    a.assert_no_secret_in_logs();
    b.assert_no_secret_in_logs();
}

#[tokio::test]
async fn an_inline_secret_is_not_kept_in_redis_unencrypted() {
    let redis = RedisServer::start();
    let app = upstream().start().await;
    let (a, _) = outbound_replica(&redis, &app, "").await;
    let made = json!({
        "id": "plain", "url": "http://127.0.0.1:9/hooks", "events": ["job.*"],
        "secrets": [{ "id": "v1", "value": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }],
    });
    let (status, body) = api(&a, "POST", "/subscriptions", Some(&made.to_string())).await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("queue.encryption_keys") && message.contains("env"),
        "{message}"
    );
    assert_eq!(
        redis.command("EXISTS {hookguard:records:subscriptions}"),
        ":0\r\n"
    );
}
