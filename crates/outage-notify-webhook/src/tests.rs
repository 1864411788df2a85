use super::*;
use outage_core::config::Config;
use outage_core::domain::{Cause, EventId, LocationId};
use outage_core::errors::ErrorChain;
use outage_core::registry;
use outage_testkit::receiver::{Receiver, Reply};

fn config(toml: &str) -> Result<Vec<Arc<dyn Notifier>>, String> {
    let config = Config::from_toml_str(toml).map_err(|e| ErrorChain(&e).to_string())?;
    registry::build_notifiers(&config).map_err(|e| ErrorChain(&e).to_string())
}

fn hook(url: &str, extra: &str) -> WebhookNotifier {
    let toml = format!("[notifiers.hook]\nkind = \"webhook\"\nurl = \"{url}\"\n{extra}");
    let config = Config::from_toml_str(&toml).unwrap();
    let table = &config.notifiers["hook"];
    let mut table = table.clone();
    if let Some(t) = table.as_object_mut() {
        t.remove("kind");
    }
    let ctx = PluginContext {
        config: &config,
        table: &table,
        instance: "hook",
    };
    WebhookNotifier::from_context(&ctx).unwrap()
}

fn alert(kind: AlertKind) -> Alert {
    let t = |s: i64| chrono::DateTime::from_timestamp(1_795_435_200 + s, 0).unwrap_or_default();
    Alert {
        kind,
        location_id: LocationId(3),
        location_name: "Home".into(),
        event_id: Some(EventId(9)),
        started_at: Some(t(0)),
        detected_at: Some(t(60)),
        ended_at: None,
        cause: Cause::Unknown,
        at: t(60),
    }
}

fn ctx() -> DeliveryContext {
    DeliveryContext {
        chat: "default".into(),
        earlier: Vec::new(),
    }
}

#[test]
fn the_plugin_registers_and_its_example_builds() {
    let d = registry::find(PluginKind::Notifier, NAME).unwrap();
    assert_eq!(d.example_config, EXAMPLE_CONFIG);
    let built = config(EXAMPLE_CONFIG).unwrap();
    assert_eq!(built.len(), 1);
    assert_eq!(built[0].name(), "webhook");
    assert_eq!(built[0].chat_for(Some("-100123")), "default");
    assert!(built[0].check_chat("x").is_err());
    assert!(built[0].accepts(AlertKind::OutageUpdate));
}

#[test]
fn bad_tables_are_refused_naming_the_key_and_the_fix() {
    let err = config("[notifiers.hook]\nkind = \"webhook\"\n").unwrap_err();
    assert!(
        err.contains("notifiers.hook") && err.contains("set `url`"),
        "{err}"
    );
    let err = config("[notifiers.webhook]\nurl = \"ftp://x\"\n").unwrap_err();
    assert!(err.contains("not an http(s) URL"), "{err}");
    let err = config("[notifiers.webhook]\nurl = \"http://x\"\nevents = [\"outage.begun\"]\n")
        .unwrap_err();
    assert!(
        err.contains("outage.begun") && err.contains("outage.started, outage.updated"),
        "{err}"
    );
    let err = config("[notifiers.webhook]\nurl = \"http://x\"\nsecret_file = \"/nonexistent/s\"\n")
        .unwrap_err();
    assert!(
        err.contains("secret_file") && err.contains("/nonexistent/s"),
        "{err}"
    );
    let err = config("[notifiers.webhook]\nurl = \"http://x\"\nsecrte = \"a\"\n").unwrap_err();
    assert!(err.contains("secrte"), "{err}");
    let err = config("[notifiers.webhook]\nurl = \"http://x\"\nheaders = { \"a b\" = \"1\" }\n")
        .unwrap_err();
    assert!(err.contains("not a header name"), "{err}");
}

#[test]
fn events_filter_what_is_queued() {
    let n = hook(
        "http://127.0.0.1:1/",
        "events = [\"outage.started\", \"outage.ended\"]\n",
    );
    assert!(n.accepts(AlertKind::Outage));
    assert!(n.accepts(AlertKind::NetworkRestored));
    assert!(!n.accepts(AlertKind::OutageUpdate));
    assert!(!n.accepts(AlertKind::Test));
}

#[test]
fn secrets_and_the_url_path_stay_out_of_debug() {
    let n = hook(
        "https://hooks.example.org/services/T0/B0/tok3n?key=k3y",
        "secret = \"s3cret\"\nheaders = { Authorization = \"Bearer b3arer\" }\n",
    );
    let dbg = format!("{n:?}");
    for secret in ["s3cret", "b3arer", "tok3n", "k3y"] {
        assert!(!dbg.contains(secret), "{dbg}");
    }
    assert!(dbg.contains("https://hooks.example.org/…") && dbg.contains("authorization"));
}

#[tokio::test]
async fn a_delivery_is_a_signed_json_post() {
    let rx = Receiver::start().unwrap();
    let n = hook(
        &format!("{}/hook", rx.url()),
        "secret = \"s3cret\"\nlanguage = \"uk\"\nheaders = { Authorization = \"Bearer b\" }\n",
    );
    let r = n.deliver(&alert(AlertKind::Outage), &ctx()).await.unwrap();
    let got = rx.requests();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/hook");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("authorization"), Some("Bearer b"));
    assert_eq!(req.header("x-outage-event"), Some("outage.started"));
    let sig = req.header("x-outage-signature-256").unwrap();
    assert!(payload::verify(b"s3cret", &req.body, sig));
    let body: Payload = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body.version, 1);
    assert_eq!(body.event, Event::OutageStarted);
    assert_eq!(req.header("x-outage-delivery"), Some(body.id.as_str()));
    assert_eq!(body.title, "Home: світла немає");
    assert_eq!(r.map(|m| m.message_id), Some(body.id));
}

#[tokio::test]
async fn answers_map_to_retry_exactly_wait_or_give_up() {
    let rx = Receiver::start().unwrap();
    let n = hook(&rx.url(), "");
    let a = alert(AlertKind::Outage);
    rx.reply_next(1, Reply::status(500));
    rx.reply_next(1, Reply::status(429).header("Retry-After", "7"));
    rx.reply_next(1, Reply::status(404));
    let e = n.deliver(&a, &ctx()).await.unwrap_err();
    assert!(
        matches!(e, NotifyError::Transient(ref m) if m.contains("500")),
        "{e}"
    );
    let e = n.deliver(&a, &ctx()).await.unwrap_err();
    assert_eq!(
        e,
        NotifyError::RateLimited {
            retry_after: Duration::from_secs(7)
        }
    );
    let e = n.deliver(&a, &ctx()).await.unwrap_err();
    assert!(matches!(e, NotifyError::Permanent(_)), "{e}");
    assert!(n.deliver(&a, &ctx()).await.is_ok());
    // Every attempt carried the same delivery id.
    let ids: Vec<_> = rx
        .requests()
        .iter()
        .map(|r| {
            r.header("x-outage-delivery")
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 4);
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
}

#[tokio::test]
async fn an_unreachable_receiver_is_transient_and_the_error_hides_the_path() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let n = hook(&format!("http://127.0.0.1:{port}/secret-path-t0ken"), "");
    let e = n
        .deliver(&alert(AlertKind::Outage), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(e, NotifyError::Transient(_)), "{e}");
    assert!(!e.to_string().contains("t0ken"), "{e}");
}
