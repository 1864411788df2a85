//! What only the SQLite store has to get right: files, locks, restarts, backups, migrations,
//! corrupt rows, and two processes sharing one database file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use outage_core::domain::{
    Cause, DeviceFacts, DiagramMessage, Heartbeat, IntervalKind, Location, LocationId, NewLocation,
    Role, Session, Status,
};
use outage_core::keys::KeyHash;
use outage_core::notify::{Alert, AlertKind};
use outage_core::registry::{self, PluginError, PluginKind};
use outage_core::store::{
    EventChange, IntervalSwitch, NewNotification, StatusStore, StoreError, StoreOptions, Transition,
};
use outage_store_sqlite::{SqliteConfig, SqliteStore, Target};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteLockingMode};

fn t(secs: i64) -> DateTime<Utc> {
    outage_testkit::t0() + TimeDelta::seconds(secs)
}

/// Helpers run outside `#[test]` functions, where clippy wants no `unwrap`: fail by name.
#[track_caller]
fn ok<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e:?}"),
    }
}

fn tempdir() -> tempfile::TempDir {
    ok(tempfile::tempdir(), "create a temporary directory")
}

async fn open(path: &Path) -> SqliteStore {
    ok(
        SqliteStore::open_and_migrate(&SqliteConfig::file(path)).await,
        "open the store",
    )
}

fn new_location(name: &str) -> NewLocation {
    NewLocation {
        routes: Vec::new(),
        name: name.into(),
        timeout: Duration::from_secs(30),
        chat_id: Some("-100".into()),
    }
}

fn beat(id: LocationId, at: DateTime<Utc>) -> Heartbeat {
    Heartbeat {
        location_id: id,
        received_at: at,
        facts: DeviceFacts {
            boot_id: Some("b".into()),
            uptime_s: Some(60),
            seq: Some(2),
            fw: Some("1.0".into()),
            rssi: Some(-60),
        },
    }
}

/// An outage of `id` from `at`, with one queued Telegram alert.
fn outage(id: LocationId, at: DateTime<Utc>) -> Transition {
    Transition {
        location_id: id,
        status: Status::Down,
        interval: Some(IntervalSwitch {
            at,
            kind: IntervalKind::Down,
            relabel_closed_as: None,
        }),
        event: EventChange::Open {
            started_at: Some(at),
            detected_at: at + TimeDelta::seconds(30),
            cause: Cause::Unknown,
        },
        notifications: vec![NewNotification {
            notifier: "telegram".into(),
            chat: "-100".into(),
            alert: Alert {
                kind: AlertKind::Outage,
                location_id: id,
                location_name: "Home".into(),
                event_id: None,
                started_at: Some(at),
                detected_at: Some(at + TimeDelta::seconds(30)),
                ended_at: None,
                cause: Cause::Unknown,
                at: at + TimeDelta::seconds(30),
            },
        }],
    }
}

/// A plain sqlx connection to the file, as another process would have.
async fn raw(path: &Path) -> SqliteConnection {
    ok(
        SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path)).await,
        "open a plain connection",
    )
}

#[tokio::test]
async fn a_database_in_a_missing_directory_is_unavailable_naming_the_path() {
    let dir = tempdir();
    let path = dir.path().join("no-such-dir").join("outage.db");
    match SqliteStore::open(&SqliteConfig::file(&path)).await {
        Err(StoreError::Unavailable(msg)) => {
            assert!(
                msg.contains(&path.display().to_string()),
                "names the file: {msg}"
            );
            assert!(msg.contains("does not exist"), "says what is wrong: {msg}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(!path.exists());

    // Through the registry, as the binary opens it.
    let url = format!("sqlite://{}", path.display());
    match registry::open_store(StoreOptions {
        url,
        pool: 2,
        busy_timeout: Duration::from_secs(1),
    })
    .await
    {
        Err(PluginError::Store(StoreError::Unavailable(msg))) => {
            assert!(msg.contains("no-such-dir"), "{msg}")
        }
        other => panic!("expected a store Unavailable error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_unavailable_naming_the_path() {
    let dir = tempdir();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "this is not a database, just some text ".repeat(200)).unwrap();
    let err = match SqliteStore::open_and_migrate(&SqliteConfig::file(&path)).await {
        Err(e) => e,
        Ok(_) => panic!("a text file must not open as a database"),
    };
    match err {
        StoreError::Unavailable(msg) => assert!(msg.contains("notes.txt"), "{msg}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_write_lock_held_by_another_process_fails_in_time_and_recovers() {
    let dir = tempdir();
    let path = dir.path().join("outage.db");
    let mut config = SqliteConfig::file(&path);
    config.busy_timeout = Duration::from_millis(300);
    let store = SqliteStore::open_and_migrate(&config).await.unwrap();
    let home = store
        .create_location(&new_location("Home"), KeyHash::of("k"), t(0))
        .await
        .unwrap();

    // Another process starts an exclusive transaction and keeps it open.
    let mut locker = raw(&path).await;
    sqlx::raw_sql("BEGIN EXCLUSIVE; INSERT INTO meta (key, value) VALUES ('locked', 1);")
        .execute(&mut locker)
        .await
        .unwrap();

    let started = Instant::now();
    match store
        .create_location(&new_location("Office"), KeyHash::of("k2"), t(1))
        .await
    {
        Err(StoreError::Unavailable(msg)) => {
            assert!(
                msg.contains(&path.display().to_string()),
                "names the database: {msg}"
            );
            assert!(msg.contains("locked"), "says it is locked: {msg}");
        }
        other => panic!("a write to a locked database must be Unavailable, got {other:?}"),
    }
    let beats = store.record_heartbeats(&[beat(home.id, t(2))], t(2)).await;
    assert!(
        matches!(beats, Err(StoreError::Unavailable(_))),
        "a heartbeat batch fails too: {beats:?}"
    );
    let transition = store.apply_transition(&outage(home.id, t(3))).await;
    assert!(
        matches!(transition, Err(StoreError::Unavailable(_))),
        "and a transition: {transition:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "busy_timeout bounds the wait: {:?}",
        started.elapsed()
    );
    // Readers are not blocked by a writer in WAL mode.
    assert_eq!(store.list_locations().await.unwrap().len(), 1);

    // The other process lets go: the same store works again, no restart needed.
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap();
    locker.close().await.unwrap();
    store
        .create_location(&new_location("Office"), KeyHash::of("k2"), t(4))
        .await
        .unwrap();
    store
        .record_heartbeats(&[beat(home.id, t(5))], t(5))
        .await
        .unwrap();
    assert_eq!(store.list_locations().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_database_held_exclusively_by_another_process_cannot_be_opened() {
    let dir = tempdir();
    let path = dir.path().join("outage.db");
    open(&path).await.close().await;

    // Another process opens the file in exclusive locking mode and writes: nobody else may
    // even read it until that connection closes.
    let mut locker = SqliteConnection::connect_with(
        &SqliteConnectOptions::new()
            .filename(&path)
            .locking_mode(SqliteLockingMode::Exclusive),
    )
    .await
    .unwrap();
    sqlx::raw_sql("INSERT INTO meta (key, value) VALUES ('locked', 1)")
        .execute(&mut locker)
        .await
        .unwrap();

    let mut config = SqliteConfig::file(&path);
    config.busy_timeout = Duration::from_millis(300);
    let started = Instant::now();
    match SqliteStore::open_and_migrate(&config).await {
        Err(StoreError::Unavailable(msg)) => {
            assert!(
                msg.contains(&path.display().to_string()),
                "names the database: {msg}"
            )
        }
        other => panic!("opening a database held exclusively must be Unavailable, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    locker.close().await.unwrap();
    let store = SqliteStore::open_and_migrate(&config).await.unwrap();
    store.ping().await.unwrap();
}

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempdir();
    let path = dir.path().join("outage.db");
    let (home, ev) = {
        let store = open(&path).await;
        let home = store
            .create_location(&new_location("Home"), KeyHash::of("key"), t(0))
            .await
            .unwrap();
        store
            .record_heartbeats(&[beat(home.id, t(10)), beat(home.id, t(20))], t(21))
            .await
            .unwrap();
        let ev = store
            .apply_transition(&outage(home.id, t(20)))
            .await
            .unwrap();
        store.close().await;
        (home, ev)
    };

    let store = open(&path).await;
    let snap = store.load_runtime().await.unwrap();
    assert_eq!(snap.monitor_alive_at, Some(t(21)));
    assert_eq!(snap.locations.len(), 1);
    let rec = &snap.locations[0];
    assert_eq!(rec.location, home);
    assert_eq!(rec.key_hash, KeyHash::of("key"));
    assert_eq!(rec.runtime.status, Some(Status::Down));
    assert_eq!(rec.runtime.last_seen, Some(t(20)));
    assert_eq!(rec.runtime.open_event.as_ref().map(|e| e.id), ev);
    let pending = store.claim_notifications(t(100), 10).await.unwrap();
    assert_eq!(pending.len(), 1, "the queued alert survived the restart");
    assert_eq!(pending[0].alert.event_id, ev);
    assert_eq!(store.recent_heartbeats(home.id, 10).await.unwrap().len(), 2);

    // A crash (no close): what was committed is still there.
    store
        .record_heartbeats(&[beat(home.id, t(30))], t(31))
        .await
        .unwrap();
    drop(store);
    let store = open(&path).await;
    assert_eq!(
        store
            .get_location(home.id)
            .await
            .unwrap()
            .unwrap()
            .runtime
            .last_seen,
        Some(t(30))
    );
}

#[tokio::test]
async fn two_processes_can_write_one_file_at_once() {
    // The server records heartbeats while the CLI adds locations and the engine writes
    // transitions through a second store: writers wait for each other (BEGIN IMMEDIATE +
    // busy_timeout) instead of failing with "database is locked".
    let dir = tempdir();
    let path = dir.path().join("outage.db");
    let server = Arc::new(open(&path).await);
    let cli = Arc::new(open(&path).await);
    let home = server
        .create_location(&new_location("Home"), KeyHash::of("k"), t(0))
        .await
        .unwrap();
    let beats = {
        let server = server.clone();
        tokio::spawn(async move {
            for i in 0..100 {
                let batch: Vec<_> = (0..50).map(|j| beat(home.id, t(i * 50 + j))).collect();
                server.record_heartbeats(&batch, t(i * 50 + 49)).await?;
            }
            Ok::<_, StoreError>(())
        })
    };
    let admin = {
        let cli = cli.clone();
        tokio::spawn(async move {
            for i in 0..50 {
                let loc = cli
                    .create_location(&new_location(&format!("Flat {i}")), KeyHash::of("x"), t(i))
                    .await?;
                cli.apply_transition(&outage(loc.id, t(i))).await?;
            }
            Ok::<_, StoreError>(())
        })
    };
    beats.await.unwrap().unwrap();
    admin.await.unwrap().unwrap();
    assert_eq!(server.list_locations().await.unwrap().len(), 51);
    assert_eq!(
        cli.recent_heartbeats(home.id, 10_000).await.unwrap().len(),
        5000,
        "each store sees the other's writes"
    );
    assert_eq!(server.outbox_stats().await.unwrap().pending, 50);
}

#[tokio::test]
async fn a_backup_is_a_complete_database() {
    let dir = tempdir();
    let store = open(&dir.path().join("outage.db")).await;
    for name in ["Home", "Office", "Dacha"] {
        let loc = store
            .create_location(&new_location(name), KeyHash::of(name), t(0))
            .await
            .unwrap();
        store.apply_transition(&outage(loc.id, t(5))).await.unwrap();
    }
    let olena = store
        .create_user(
            "olena",
            Role::Admin,
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            t(6),
        )
        .await
        .unwrap();
    let session = Session {
        token_hash: KeyHash::of("oms_laptop"),
        user_id: olena.id,
        created_at: t(7),
        expires_at: t(3600),
    };
    store.create_session(&session).await.unwrap();
    let copy = dir.path().join("backup.db");
    store.backup(&copy).await.unwrap();

    let restored = open(&copy).await;
    assert_eq!(
        restored.list_locations().await.unwrap(),
        store.list_locations().await.unwrap(),
        "the backup holds the locations with their runtime state"
    );
    assert_eq!(restored.outbox_stats().await.unwrap().pending, 3);
    assert_eq!(
        restored
            .find_session(&session.token_hash, t(8))
            .await
            .unwrap(),
        Some((session, olena)),
        "and the admin panel's users and sessions"
    );

    match store.backup(&copy).await {
        Err(StoreError::Invalid(msg)) => assert!(msg.contains("already exists"), "{msg}"),
        other => panic!("overwriting a backup must be refused, got {other:?}"),
    }
    let nowhere = dir.path().join("missing").join("b.db");
    match store.backup(&nowhere).await {
        Err(StoreError::Invalid(msg)) => assert!(msg.contains("missing"), "{msg}"),
        other => panic!("a backup into a missing directory must be refused, got {other:?}"),
    }

    // An in-memory database can be backed up to a file too.
    let mem = SqliteStore::open_and_migrate(&SqliteConfig::memory())
        .await
        .unwrap();
    mem.create_location(&new_location("Mem"), KeyHash::of("m"), t(0))
        .await
        .unwrap();
    let mem_copy = dir.path().join("mem.db");
    mem.backup(&mem_copy).await.unwrap();
    let names: Vec<_> = open(&mem_copy)
        .await
        .list_locations()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.location.name)
        .collect();
    assert_eq!(names, vec!["Mem"]);
}

async fn schema(path: &Path) -> Vec<(String, Option<String>)> {
    let mut c = raw(path).await;
    ok(
        sqlx::query_as("SELECT name, sql FROM sqlite_master ORDER BY name")
            .fetch_all(&mut c)
            .await,
        "read the schema",
    )
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let dir = tempdir();
    let path = dir.path().join("outage.db");
    let store = open(&path).await;
    store
        .create_location(&new_location("Home"), KeyHash::of("k"), t(0))
        .await
        .unwrap();
    let before = schema(&path).await;
    assert!(
        before.iter().any(|(n, _)| n == "locations") && before.iter().any(|(n, _)| n == "outbox"),
        "the schema is there: {before:?}"
    );
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    drop(store);
    let again = open(&path).await; // opening migrates once more
    assert_eq!(
        schema(&path).await,
        before,
        "migrating again changes no table or index"
    );
    assert_eq!(again.list_locations().await.unwrap().len(), 1);
    let mut c = raw(&path).await;
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut c)
        .await
        .unwrap();
    let files = std::fs::read_dir(migrations_dir()).unwrap().count() as i64;
    assert_eq!(applied, files, "each migration recorded once");
}

/// A database written before migration 0002 (only 0001 applied, with data in it) opens with the
/// current store: 0002 to 0004 are applied on top, nothing is lost, and the new tables work.
#[tokio::test]
async fn a_version_1_database_migrates_forward() {
    let dir = tempdir();
    let v1 = dir.path().join("migrations-v1");
    ok(
        std::fs::create_dir(&v1),
        "create the v1 migrations directory",
    );
    ok(
        std::fs::copy(
            migrations_dir().join("0001_initial.sql"),
            v1.join("0001_initial.sql"),
        ),
        "copy 0001_initial.sql",
    );
    let path = dir.path().join("outage.db");
    {
        let mut c = ok(
            SqliteConnection::connect_with(
                &SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true),
            )
            .await,
            "create the v1 database",
        );
        let v1_migrator = ok(
            sqlx::migrate::Migrator::new(v1.as_path()).await,
            "read the v1 migrations",
        );
        ok(v1_migrator.run(&mut c).await, "apply 0001 only");
        // The location as version 1 wrote it (today's store writes columns v1 lacks).
        let at = t(0).timestamp_micros();
        ok(
            sqlx::query(
                "INSERT INTO locations (name, key_hash, timeout_ms, chat_id, created_at, updated_at) \
                 VALUES ('Home', ?, 30000, '-100', ?, ?)",
            )
            .bind(KeyHash::of("key").to_hex())
            .bind(at)
            .bind(at)
            .execute(&mut c)
            .await,
            "insert a v1 location",
        );
        ok(c.close().await, "close the v1 connection");
    }
    let home = Location {
        id: LocationId(1),
        name: "Home".into(),
        timeout: Duration::from_secs(30),
        chat_id: Some("-100".into()),
        routes: Vec::new(),
        enabled: true,
        paused_until: None,
        created_at: t(0),
        updated_at: t(0),
    };
    // Data written by the v1 schema (`open` does not migrate).
    let ev = {
        let store = ok(
            SqliteStore::open(&SqliteConfig::file(&path)).await,
            "open the v1 database",
        );
        let ev = store
            .apply_transition(&outage(home.id, t(20)))
            .await
            .unwrap();
        store.close().await;
        ev
    };
    let before: Vec<String> = schema(&path).await.into_iter().map(|(n, _)| n).collect();
    assert!(
        !before
            .iter()
            .any(|n| n == "diagram_messages" || n == "api_tokens"),
        "the v1 database has no v2 tables: {before:?}"
    );

    let store = open(&path).await; // migrates
    let rec = store.get_location(home.id).await.unwrap().unwrap();
    assert_eq!(rec.location, home, "the location survived the migration");
    assert_eq!(rec.runtime.open_event.map(|e| e.id), ev, "and its outage");
    assert_eq!(
        store.claim_notifications(t(100), 10).await.unwrap().len(),
        1
    );
    let msg = DiagramMessage {
        location_id: home.id,
        notifier: "telegram".into(),
        chat: "-100".into(),
        message_id: "42".into(),
        posted_at: t(30),
        updated_at: t(30),
    };
    store.save_diagram_message(&msg).await.unwrap();
    assert_eq!(store.diagram_messages().await.unwrap(), vec![msg]);
    // 0003: the locations version exists for the old rows and moves with a change.
    let v = store.locations_version().await.unwrap();
    store
        .set_key_hash(home.id, KeyHash::of("new"))
        .await
        .unwrap();
    assert_ne!(store.locations_version().await.unwrap(), v);
    let token = store
        .create_api_token("grafana", KeyHash::of("omt_x"), t(40))
        .await
        .unwrap();
    assert_eq!(
        store.find_api_token(&KeyHash::of("omt_x")).await.unwrap(),
        Some(token)
    );
    // 0004: users and sessions.
    let user = store
        .create_user("olena", Role::Admin, "$argon2id$x", t(50))
        .await
        .unwrap();
    assert_eq!(store.find_user("olena").await.unwrap(), Some(user));
    let mut c = raw(&path).await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(
        versions,
        vec![1, 2, 3, 4, 5],
        "0001 kept, 0002 to 0005 applied once"
    );
}

fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/sqlite")
}

#[tokio::test]
async fn the_file_is_in_wal_mode_and_keeps_foreign_keys() {
    let dir = tempdir();
    let path = dir.path().join("outage.db");
    let store = open(&path).await;
    let loc = store
        .create_location(&new_location("Home"), KeyHash::of("k"), t(0))
        .await
        .unwrap();
    store
        .record_heartbeats(&[beat(loc.id, t(1))], t(1))
        .await
        .unwrap();
    let mut c = raw(&path).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // Deleting through the store cascades (foreign keys are on in its connections).
    store.delete_location(loc.id).await.unwrap();
    let beats: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM heartbeats")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(beats, 0);
    assert!(matches!(store.target(), Target::File(p) if p.is_absolute()));
}

#[tokio::test]
async fn corrupt_rows_are_errors_not_panics() {
    let dir = tempdir();
    let path = dir.path().join("outage.db");
    let store = open(&path).await;
    let loc = store
        .create_location(&new_location("Home"), KeyHash::of("k"), t(0))
        .await
        .unwrap();
    store.apply_transition(&outage(loc.id, t(5))).await.unwrap();
    let mut c = raw(&path).await;
    sqlx::raw_sql(
        "PRAGMA ignore_check_constraints = ON; \
         UPDATE locations SET status = 'sideways'; \
         UPDATE outbox SET alert = 'not json';",
    )
    .execute(&mut c)
    .await
    .unwrap();
    match store.list_locations().await {
        Err(StoreError::Other(msg)) => assert!(msg.contains("sideways"), "{msg}"),
        other => panic!("an unknown status must be an error, got {other:?}"),
    }
    assert!(matches!(
        store.load_runtime().await,
        Err(StoreError::Other(_))
    ));
    match store.claim_notifications(t(100), 10).await {
        Err(StoreError::Other(msg)) => assert!(msg.contains("outbox.alert"), "{msg}"),
        other => panic!("an unreadable alert must be an error, got {other:?}"),
    }
    let good = format!(
        "UPDATE locations SET status = 'up', key_hash = '{}', timeout_ms = 1, created_at = 0",
        KeyHash::of("k").to_hex()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(good.clone()))
        .execute(&mut c)
        .await
        .unwrap();
    store.get_location(loc.id).await.unwrap();
    for bad in [
        "UPDATE locations SET key_hash = 'zz'",
        "UPDATE locations SET key_hash = '00'",
        "UPDATE locations SET timeout_ms = -5",
        "UPDATE locations SET created_at = 'yesterday'",
        "UPDATE locations SET created_at = 9223372036854775807",
        "UPDATE locations SET last_rssi = 3000000000",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(bad))
            .execute(&mut c)
            .await
            .unwrap();
        let got = store.get_location(loc.id).await;
        assert!(
            matches!(got, Err(StoreError::Other(_))),
            "after `{bad}` reading must fail cleanly, got {got:?}"
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(good.clone()))
            .execute(&mut c)
            .await
            .unwrap();
    }
    sqlx::raw_sql("UPDATE events SET cause = 'aliens'")
        .execute(&mut c)
        .await
        .unwrap();
    assert!(matches!(
        store.list_events(&Default::default()).await,
        Err(StoreError::Other(_))
    ));
}

#[tokio::test]
async fn the_registry_opens_sqlite_urls_ready_to_use() {
    let d = registry::find(PluginKind::Store, "sqlite").unwrap();
    assert_eq!(d.name, "sqlite");
    // The example config parses and names a SQLite URL this store accepts.
    let cfg = outage_core::config::Config::from_toml_str(d.example_config).unwrap();
    let opts = cfg.store_options();
    assert_eq!(
        SqliteConfig::from_options(&opts).unwrap().target,
        Target::File("outage-monitor.db".into())
    );
    assert_eq!(opts.busy_timeout, Duration::from_secs(5));

    let dir = tempdir();
    for url in [
        format!("sqlite://{}", dir.path().join("a.db").display()),
        "sqlite::memory:".to_string(),
    ] {
        let store = registry::open_store(StoreOptions {
            url: url.clone(),
            pool: 2,
            busy_timeout: Duration::from_secs(1),
        })
        .await
        .unwrap();
        // Migrated by the factory: usable at once.
        store
            .create_location(&new_location("Home"), KeyHash::of("k"), t(0))
            .await
            .unwrap();
        assert_eq!(store.list_locations().await.unwrap().len(), 1, "{url}");
    }
    assert!(dir.path().join("a.db").exists());
    match registry::open_store(StoreOptions {
        url: "sqlite://x.db?mode=ro".into(),
        pool: 1,
        busy_timeout: Duration::from_secs(1),
    })
    .await
    {
        Err(PluginError::Store(StoreError::Invalid(msg))) => {
            assert!(msg.contains("query options"), "{msg}")
        }
        other => panic!("query options must be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn the_wal_is_checkpointed_in_the_background() {
    // The writer leaves checkpoints to a background connection (it only checkpoints by itself
    // past 64 MiB of WAL), so after a batch the main file soon holds the data on its own.
    let dir = tempdir();
    let path = dir.path().join("outage.db");
    let store = open(&path).await;
    let mut ids = Vec::new();
    for i in 0..200 {
        let loc = store
            .create_location(&new_location(&format!("L{i}")), KeyHash::of("k"), t(0))
            .await
            .unwrap();
        ids.push(loc.id);
    }
    let batch: Vec<_> = (0..2000)
        .map(|i| beat(ids[i % ids.len()], t(i as i64)))
        .collect();
    store.record_heartbeats(&batch, t(2000)).await.unwrap();

    // Read a copy of the main file alone (without its WAL) until it has everything.
    let copy = dir.path().join("main-only.db");
    let deadline = Instant::now() + Duration::from_secs(20);
    let beats_in_main_file = loop {
        let _ = std::fs::remove_file(&copy);
        std::fs::copy(&path, &copy).unwrap();
        let counted = async {
            let mut c = SqliteConnection::connect_with(
                &SqliteConnectOptions::new().filename(&copy).read_only(true),
            )
            .await?;
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM heartbeats")
                .fetch_one(&mut c)
                .await
        }
        .await
        .unwrap_or(0);
        if counted == 2000 || Instant::now() > deadline {
            break counted;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        beats_in_main_file, 2000,
        "the background checkpoint copied the batch"
    );
    // Closing stops the checkpointer too: the file can be reopened at once.
    store.close().await;
    let again = open(&path).await;
    assert_eq!(
        again.recent_heartbeats(ids[0], 100).await.unwrap().len(),
        10
    );
}
