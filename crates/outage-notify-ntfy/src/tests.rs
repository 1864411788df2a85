use super::*;
use outage_core::config::Config;
use outage_core::domain::{Cause, EventId, LocationId};
use outage_core::errors::ErrorChain;
use outage_core::registry;
use outage_testkit::receiver::{Receiver, Reply};

fn build(toml: &str) -> Result<Vec<Arc<dyn Notifier>>, String> {
    let config = Config::from_toml_str(toml).map_err(|e| ErrorChain(&e).to_string())?;
    registry::build_notifiers(&config).map_err(|e| ErrorChain(&e).to_string())
}

fn ntfy(server: &str, extra: &str) -> Arc<dyn Notifier> {
    let toml = format!("[notifiers.phone]\nkind = \"ntfy\"\nserver = \"{server}\"\n{extra}");
    let mut built = build(&toml).unwrap();
    built.remove(0)
}

fn alert(kind: AlertKind) -> Alert {
    let t = |s: i64| chrono::DateTime::from_timestamp(1_795_435_200 + s, 0).unwrap_or_default();
    Alert {
        kind,
        location_id: LocationId(3),
        location_name: "Дача".into(),
        event_id: Some(EventId(9)),
        started_at: Some(t(0)),
        detected_at: Some(t(60)),
        ended_at: (kind == AlertKind::Restored).then(|| t(3600)),
        cause: Cause::Power,
        at: t(3600),
    }
}

fn ctx(topic: &str) -> DeliveryContext {
    DeliveryContext {
        chat: topic.into(),
        earlier: Vec::new(),
    }
}

#[test]
fn the_plugin_registers_and_its_example_builds() {
    let d = registry::find(PluginKind::Notifier, NAME).unwrap();
    assert_eq!(d.example_config, EXAMPLE_CONFIG);
    let built = build(EXAMPLE_CONFIG).unwrap();
    assert_eq!(built.len(), 1);
    assert_eq!(built[0].name(), "ntfy");
    // A location's Telegram chat override does not become a topic.
    assert_eq!(
        built[0].chats_for(Some("-100123")),
        ["home-power-replace-me"]
    );
    assert!(!built[0].accepts(AlertKind::OutageUpdate));
    assert!(built[0].check_chat("cottage_power").is_ok());
    assert!(built[0].check_chat("no spaces").is_err());
}

#[test]
fn bad_tables_are_refused_naming_the_key_and_the_fix() {
    let err = build("[notifiers.ntfy]\n").unwrap_err();
    assert!(
        err.contains("notifiers.ntfy") && err.contains("set `topic`"),
        "{err}"
    );
    let err = build("[notifiers.ntfy]\ntopic = \"a/b\"\n").unwrap_err();
    assert!(err.contains("`a/b` is not an ntfy topic"), "{err}");
    let err = build("[notifiers.ntfy]\ntopic = \"t\"\nserver = \"ntfy.sh\"\n").unwrap_err();
    assert!(
        err.contains("`server`") && err.contains("https://ntfy.sh"),
        "{err}"
    );
    let err =
        build("[notifiers.ntfy]\ntopic = \"t\"\npriority = { outage = \"loud\" }\n").unwrap_err();
    assert!(err.contains("loud") && err.contains("urgent"), "{err}");
    let err =
        build("[notifiers.ntfy]\ntopic = \"t\"\npriority = { outgae = \"high\" }\n").unwrap_err();
    assert!(err.contains("outgae"), "{err}");
    let err =
        build("[notifiers.ntfy]\ntopic = \"t\"\ntoken_file = \"/nonexistent/t\"\n").unwrap_err();
    assert!(
        err.contains("token_file") && err.contains("/nonexistent/t"),
        "{err}"
    );
}

#[test]
fn the_token_stays_out_of_debug() {
    let n = ntfy(
        "https://ntfy.example.org",
        "topic = \"t\"\ntoken = \"tk_s3cret\"\n",
    );
    let dbg = format!("{n:?}");
    assert!(
        !dbg.contains("tk_s3cret") && dbg.contains("<redacted>"),
        "{dbg}"
    );
}

#[tokio::test]
async fn an_outage_is_published_with_title_priority_tags_and_token() {
    let rx = Receiver::start().unwrap();
    rx.reply_next(
        1,
        Reply {
            status: 200,
            headers: Vec::new(),
            body: "{\"id\":\"hwQ2YpKdmg\",\"event\":\"message\"}".into(),
        },
    );
    let n = ntfy(
        &rx.url(),
        "topic = [\"home\", \"sister\"]\ntoken = \"tk_abc\"\nlanguage = \"uk\"\ntags = [\"house\"]\n",
    );
    assert_eq!(n.chats_for(None), ["home", "sister"]);
    let r = n
        .deliver(&alert(AlertKind::Outage), &ctx("sister"))
        .await
        .unwrap();
    assert_eq!(r.map(|m| m.message_id), Some("hwQ2YpKdmg".into()));
    let got = rx.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/");
    assert_eq!(got[0].header("authorization"), Some("Bearer tk_abc"));
    let body = got[0].json();
    assert_eq!(body["topic"], "sister");
    assert_eq!(body["title"], "Дача: світла немає");
    assert_eq!(body["priority"], 4);
    assert_eq!(body["tags"], serde_json::json!(["red_circle", "house"]));
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("світла немає")),
        "{body}"
    );
}

#[tokio::test]
async fn priorities_follow_the_config_and_failures_map_to_retries() {
    let rx = Receiver::start().unwrap();
    let n = ntfy(
        &rx.url(),
        "topic = \"t\"\npriority = { restored = \"urgent\", network_restored = 1 }\n",
    );
    n.deliver(&alert(AlertKind::Restored), &ctx("t"))
        .await
        .unwrap();
    n.deliver(&alert(AlertKind::NetworkRestored), &ctx("t"))
        .await
        .unwrap();
    let got = rx.requests();
    assert_eq!(got[0].json()["priority"], 5);
    assert_eq!(got[0].json()["tags"][0], "green_circle");
    assert_eq!(got[1].json()["priority"], 1);
    rx.reply_next(1, Reply::status(502));
    rx.reply_next(1, Reply::status(403));
    let e = n
        .deliver(&alert(AlertKind::Outage), &ctx("t"))
        .await
        .unwrap_err();
    assert!(matches!(e, NotifyError::Transient(_)), "{e}");
    let e = n
        .deliver(&alert(AlertKind::Outage), &ctx("t"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, NotifyError::Permanent(ref m) if m.contains("403")),
        "{e}"
    );
}

#[tokio::test]
async fn check_online_asks_the_health_endpoint() {
    let rx = Receiver::start().unwrap();
    let n = ntfy(&rx.url(), "topic = \"t\"\n");
    let ok = n.check_online().await.unwrap();
    assert!(ok.contains("is up"), "{ok}");
    assert_eq!(rx.requests()[0].path, "/v1/health");
}
