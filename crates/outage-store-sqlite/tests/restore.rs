//! `restore`: a backup goes back in place of the database, the replaced one is kept, a running
//! `serve` (its lock) blocks it, and files that are not our backups are refused untouched.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::Path;
use std::time::Duration;

use outage_core::domain::NewLocation;
use outage_core::keys::KeyHash;
use outage_core::store::{StatusStore, StoreError};
use outage_store_sqlite::{SqliteConfig, SqliteStore, lock_for_serve, restore};

fn loc(name: &str) -> NewLocation {
    NewLocation {
        routes: Vec::new(),
        name: name.into(),
        timeout: Duration::from_secs(30),
        chat_id: None,
    }
}

async fn names(db: &Path) -> Vec<String> {
    let s = SqliteStore::open_and_migrate(&SqliteConfig::file(db))
        .await
        .unwrap();
    let n = s
        .list_locations()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.location.name)
        .collect();
    s.close().await;
    n
}

/// A database with `Home` and a backup of it, then `Office` added after the backup.
async fn db_with_backup(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let db = dir.join("outage.db");
    let backup = dir.join("backup.db");
    let s = SqliteStore::open_and_migrate(&SqliteConfig::file(&db))
        .await
        .unwrap();
    let t = outage_testkit::t0();
    s.create_location(&loc("Home"), KeyHash::of("k1"), t)
        .await
        .unwrap();
    s.backup(&backup).await.unwrap();
    s.create_location(&loc("Office"), KeyHash::of("k2"), t)
        .await
        .unwrap();
    s.close().await;
    (db, backup)
}

#[tokio::test]
async fn a_backup_goes_back_in_place_and_the_replaced_database_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (db, backup) = db_with_backup(dir.path()).await;
    let r = restore(&db, &backup, outage_testkit::t0()).await.unwrap();
    assert_eq!(r.locations, 1);
    assert_eq!(names(&db).await, ["Home"]);
    let previous = r.previous.expect("the replaced database is kept");
    assert!(
        previous
            .to_string_lossy()
            .ends_with(".before-restore-20261123T120000Z")
    );
    assert_eq!(names(&previous).await, ["Home", "Office"]);
    assert_eq!(
        names(&backup).await,
        ["Home"],
        "the backup itself is unchanged"
    );
}

#[tokio::test]
async fn a_running_serve_blocks_restore_and_a_second_serve() {
    let dir = tempfile::tempdir().unwrap();
    let (db, backup) = db_with_backup(dir.path()).await;
    let held = lock_for_serve(&db).unwrap();
    let e = restore(&db, &backup, outage_testkit::t0())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains("serve")),
        "{e:?}"
    );
    assert!(matches!(lock_for_serve(&db), Err(StoreError::Conflict(_))));
    assert_eq!(names(&db).await, ["Home", "Office"], "untouched");
    drop(held);
    restore(&db, &backup, outage_testkit::t0()).await.unwrap();
    assert_eq!(names(&db).await, ["Home"]);
}

#[tokio::test]
async fn files_that_are_not_our_backups_are_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = db_with_backup(dir.path()).await;
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "not a database").unwrap();
    let missing = dir.path().join("missing.db");
    for (from, says) in [
        (&junk, "not an outage-monitor database"),
        (&missing, "does not exist"),
        (&db, "the database itself"),
    ] {
        let e = restore(&db, from, outage_testkit::t0()).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Invalid(m) if m.contains(says)),
            "{e:?}"
        );
    }
    // A database from a newer build.
    let newer = dir.path().join("newer.db");
    let s = SqliteStore::open_and_migrate(&SqliteConfig::file(&newer))
        .await
        .unwrap();
    s.close().await;
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        newer.display()
    ))
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (999, 'future', true, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let e = restore(&db, &newer, outage_testkit::t0())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Invalid(m) if m.contains("newer")),
        "{e:?}"
    );
    assert_eq!(names(&db).await, ["Home", "Office"], "untouched");
    // A backup whose migration history was edited cannot be migrated: refused, untouched.
    let xdir = dir.path().join("x");
    std::fs::create_dir(&xdir).unwrap();
    let (_, good) = db_with_backup(&xdir).await;
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        good.display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let e = restore(&db, &good, outage_testkit::t0()).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Invalid(m) if m.contains("nothing was changed")),
        "{e:?}"
    );
    assert_eq!(names(&db).await, ["Home", "Office"], "untouched");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("restore"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
