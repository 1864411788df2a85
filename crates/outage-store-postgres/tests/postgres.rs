//! What only the PostgreSQL store has to get right: connecting (and failing to, without leaking
//! the password), migrations, the registry, leader election with an advisory lock, and several
//! stores writing one database at once.
//!
//! Tests that need a server use `OUTAGE_TEST_POSTGRES_URL` (see `common`): without it they print
//! SKIPPED once and pass, except under CI, where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use common::TestDb;
use outage_core::domain::{DeviceFacts, Heartbeat, LocationId, NewLocation, Status};
use outage_core::keys::KeyHash;
use outage_core::registry::{self, PluginError, PluginKind};
use outage_core::store::{StatusStore, StoreError, StoreOptions};
use outage_store_postgres::{PostgresConfig, PostgresStore};
use sqlx::postgres::PgConnection;

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_763_899_200, 0).unwrap() + TimeDelta::seconds(secs)
}

fn new_location(name: &str) -> NewLocation {
    NewLocation {
        routes: Vec::new(),
        name: name.into(),
        timeout: Duration::from_secs(30),
        chat_id: None,
    }
}

fn beat(id: LocationId, at: DateTime<Utc>) -> Heartbeat {
    Heartbeat {
        location_id: id,
        received_at: at,
        facts: DeviceFacts {
            boot_id: Some("b".into()),
            uptime_s: Some(1),
            seq: Some(1),
            fw: None,
            rssi: Some(-60),
        },
    }
}

async fn open(url: &str) -> PostgresStore {
    PostgresStore::open_and_migrate(&PostgresConfig::from_url(url).unwrap())
        .await
        .unwrap()
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn migrations_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../migrations/postgres")
}

/// Tables, columns and indexes of the public schema, sorted.
async fn schema(c: &mut PgConnection) -> Vec<String> {
    let mut cols: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text \
         FROM information_schema.columns WHERE table_schema = 'public' \
         ORDER BY table_name, column_name",
    )
    .fetch_all(&mut *c)
    .await
    .unwrap();
    let idx: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = 'public' \
         ORDER BY indexname",
    )
    .fetch_all(&mut *c)
    .await
    .unwrap();
    cols.sort();
    cols.into_iter()
        .map(|(t, c, ty, n)| format!("{t}.{c} {ty} {n}"))
        .chain(idx.into_iter().map(|(n, d)| format!("{n}: {d}")))
        .collect()
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_without_the_password() {
    let port = closed_port();
    for scheme in ["postgres", "postgresql"] {
        let url = format!("{scheme}://outage:hunter2@127.0.0.1:{port}/outage");
        let config = PostgresConfig::from_url(&url).unwrap();
        let started = Instant::now();
        match PostgresStore::open(&config).await {
            Err(StoreError::Unavailable(msg)) => {
                assert!(!msg.contains("hunter2"), "the password leaked: {msg}");
                assert!(
                    msg.contains(&format!("{scheme}://outage:***@127.0.0.1:{port}/outage")),
                    "the message names the redacted URL: {msg}"
                );
                assert!(msg.contains("refused"), "and the real reason: {msg}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "a refused connection fails at once, not after the pool's timeout"
        );
        // Through the registry, as `serve` opens it.
        match registry::open_store(StoreOptions {
            url: url.clone(),
            pool: 2,
            busy_timeout: Duration::from_secs(1),
        })
        .await
        {
            Err(PluginError::Store(StoreError::Unavailable(msg))) => {
                assert!(!msg.contains("hunter2"), "the password leaked: {msg}");
            }
            other => panic!("{url}: expected Unavailable, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_malformed_url_is_invalid_without_the_password() {
    match registry::open_store(StoreOptions {
        url: "postgres://outage:hunter2@127.0.0.1:notaport/outage".into(),
        pool: 1,
        busy_timeout: Duration::from_secs(1),
    })
    .await
    {
        Err(PluginError::Store(StoreError::Invalid(msg))) => {
            assert!(!msg.contains("hunter2"), "{msg}");
            assert!(msg.contains("outage:***@"), "{msg}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn the_plugin_is_registered_with_a_usable_example() {
    let d = registry::find(PluginKind::Store, "postgres").unwrap();
    assert_eq!(d.name, "postgres");
    let cfg = outage_core::config::Config::from_toml_str(d.example_config).unwrap();
    let opts = cfg.store_options();
    let config = PostgresConfig::from_options(&opts).unwrap();
    assert_eq!(config.database(), Some("outage"));
    assert_eq!(config.max_connections, 8);
}

#[tokio::test]
async fn a_missing_database_is_unavailable_without_the_password() {
    let Some(admin) = common::admin_url() else {
        return;
    };
    let url = common::with_database(&admin, "om_test_missing_database");
    // Put a password in (the test server may use trust auth; it is not checked then).
    let url = url.replacen("://postgres@", "://postgres:hunter2@", 1);
    let config = PostgresConfig::from_url(&url).unwrap();
    match PostgresStore::open(&config).await {
        Err(StoreError::Unavailable(msg)) => {
            assert!(!msg.contains("hunter2"), "the password leaked: {msg}");
            assert!(msg.contains("om_test_missing_database"), "{msg}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn the_registry_opens_postgres_urls_migrated_and_ready() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    for url in [
        db.url.clone(),
        db.url.replacen("postgres://", "postgresql://", 1),
    ] {
        let store = registry::open_store(StoreOptions {
            url: url.clone(),
            pool: 2,
            busy_timeout: Duration::from_secs(5),
        })
        .await
        .unwrap();
        let name = format!("Home {}", store.list_locations().await.unwrap().len());
        store
            .create_location(&new_location(&name), KeyHash::of("k"), t(0))
            .await
            .unwrap();
        assert!(!format!("{store:?}").is_empty());
    }
    let again = open(&db.url).await;
    assert_eq!(again.list_locations().await.unwrap().len(), 2);
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = open(&db.url).await;
    store
        .create_location(&new_location("Home"), KeyHash::of("k"), t(0))
        .await
        .unwrap();
    let mut c = db.connect().await;
    let before = schema(&mut c).await;
    assert!(
        before.iter().any(|l| l.starts_with("locations.name "))
            && before
                .iter()
                .any(|l| l.starts_with("outbox_pending_queue:")),
        "the schema is there: {before:#?}"
    );
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    let again = open(&db.url).await; // opening migrates once more
    assert_eq!(
        schema(&mut c).await,
        before,
        "migrating again changes no table or index"
    );
    assert_eq!(again.list_locations().await.unwrap().len(), 1);
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut c)
        .await
        .unwrap();
    let files = std::fs::read_dir(migrations_dir()).unwrap().count() as i64;
    assert_eq!(applied, files, "each migration recorded once");
    // Two stores starting at once on a fresh database both come up (sqlx serializes them).
    let Some(fresh) = TestDb::create().await else {
        return;
    };
    let (a, b) = tokio::join!(open(&fresh.url), open(&fresh.url));
    a.create_location(&new_location("A"), KeyHash::of("a"), t(0))
        .await
        .unwrap();
    assert_eq!(b.list_locations().await.unwrap().len(), 1);
}

#[tokio::test]
async fn neither_debug_nor_errors_show_the_password() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let url = db.url.replacen("://postgres@", "://postgres:hunter2@", 1);
    let config = PostgresConfig::from_url(&url).unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
    let store = PostgresStore::open_and_migrate(&config).await.unwrap();
    assert!(!format!("{store:?}").contains("hunter2"), "{store:?}");
    store.close().await;
    match store.ping().await {
        Err(StoreError::Unavailable(msg)) => assert!(!msg.contains("hunter2"), "{msg}"),
        other => panic!("a closed store is unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn backup_points_to_pg_dump() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = open(&db.url).await;
    match store.backup(std::path::Path::new("/tmp/x.db")).await {
        Err(e @ StoreError::Unsupported(_)) => {
            assert!(e.to_string().contains("pg_dump"), "{e}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[tokio::test]
async fn corrupt_rows_are_errors_not_panics() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = open(&db.url).await;
    store
        .create_location(&new_location("Home"), KeyHash::of("k"), t(0))
        .await
        .unwrap();
    let mut c = db.connect().await;
    sqlx::query("UPDATE locations SET key_hash = 'not hex'")
        .execute(&mut c)
        .await
        .unwrap();
    match store.list_locations().await {
        Err(StoreError::Other(msg)) => assert!(msg.contains("key_hash"), "{msg}"),
        other => panic!("expected an error naming the column, got {other:?}"),
    }
}

/// Two stores on one database: exactly one leads; the other takes over when the leader's
/// store is dropped, closed or resigns, or when its connection is killed.
#[tokio::test]
async fn exactly_one_store_leads_and_another_takes_over() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = open(&db.url).await;
    let b = open(&db.url).await;
    assert!(a.try_lead().await.unwrap(), "the first to ask leads");
    assert!(!b.try_lead().await.unwrap(), "the second does not");
    assert!(a.try_lead().await.unwrap(), "the leader stays the leader");
    assert!(!b.try_lead().await.unwrap(), "and the other keeps waiting");

    // A store on another database of the same server does not compete.
    let Some(other_db) = TestDb::create().await else {
        return;
    };
    let other = open(&other_db.url).await;
    assert!(
        other.try_lead().await.unwrap(),
        "advisory locks are per database"
    );

    // The leader's store is dropped: its session ends and the other takes over.
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if b.try_lead().await.unwrap() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lock of a dropped store is freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Resigning hands over at once.
    let c = open(&db.url).await;
    assert!(!c.try_lead().await.unwrap());
    b.resign().await.unwrap();
    assert!(c.try_lead().await.unwrap(), "after a resignation");
    assert!(
        !b.try_lead().await.unwrap(),
        "the one that resigned follows"
    );

    // Closing the store frees the lock at once too.
    c.close().await;
    assert!(
        b.try_lead().await.unwrap(),
        "after the leader closed its store"
    );

    // The leader's session is killed (e.g. the server restarted it): it notices on its next
    // call and does not lead while another holds the lock.
    let mut admin = db.connect().await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks \
         WHERE locktype = 'advisory' AND granted AND database = \
           (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND classid = $1 AND objid = $2 AND objsubid = 1",
    )
    .bind(sqlx::postgres::types::Oid(0x6f75_7461))
    .bind(sqlx::postgres::types::Oid(0x6765_2d6d))
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(killed, vec![true], "one session held the leader lock");
    let d = open(&db.url).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !d.try_lead().await.unwrap() {
        assert!(
            Instant::now() < deadline,
            "the killed session's lock is freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !b.try_lead().await.unwrap(),
        "the old leader finds out it lost the lock"
    );
    drop(d);
}

/// Heartbeat batches of two stores (two monitor instances) over the same locations in opposite
/// orders, with transitions and a delete in between, neither deadlock nor fail.
#[tokio::test]
async fn two_stores_write_the_same_locations_at_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = Arc::new(open(&db.url).await);
    let b = Arc::new(open(&db.url).await);
    let mut ids = Vec::new();
    for i in 0..40 {
        let loc = a
            .create_location(
                &new_location(&format!("L{i}")),
                KeyHash::of(&format!("k{i}")),
                t(0),
            )
            .await
            .unwrap();
        ids.push(loc.id);
    }
    let mut tasks = Vec::new();
    for (n, store) in [a.clone(), b.clone()].into_iter().enumerate() {
        let mut order = ids.clone();
        if n == 1 {
            order.reverse();
        }
        tasks.push(tokio::spawn(async move {
            for round in 0..25 {
                let beats: Vec<Heartbeat> = order
                    .iter()
                    .map(|id| beat(*id, t(round * 10 + n as i64)))
                    .collect();
                store.record_heartbeats(&beats, t(round * 10)).await?;
                let transitions: Vec<_> = order
                    .iter()
                    .take(5)
                    .map(|id| outage_core::store::Transition {
                        location_id: *id,
                        status: Status::Up,
                        interval: None,
                        event: outage_core::store::EventChange::None,
                        notifications: vec![],
                    })
                    .collect();
                store.apply_transitions(&transitions).await?;
            }
            Ok::<(), StoreError>(())
        }));
    }
    assert!(a.delete_location(ids[20]).await.unwrap());
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let snap = b.load_runtime().await.unwrap();
    assert_eq!(snap.locations.len(), 39);
    assert!(
        snap.locations
            .iter()
            .all(|r| r.runtime.last_seen == Some(t(241))),
        "every location ends at the newest beat"
    );
    assert_eq!(snap.monitor_alive_at, Some(t(240)));
}
