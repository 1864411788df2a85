//! Putting a backup (made by `outage-monitor backup`, i.e. `VACUUM INTO`) back in place of the
//! database file, and the lock that keeps a running `serve` from having its database pulled
//! away underneath it.
//!
//! - `serve` holds [`ServeLock`] (an exclusive lock on `<db>.serve-lock`) while it runs, so a
//!   second `serve` on the same file and a `restore` both refuse to start.
//! - [`restore`] checks that the file is an outage-monitor database no newer than this build,
//!   keeps the current database as `<db>.before-restore-<time>` (a consistent copy, WAL
//!   included), puts the backup in place with a rename, and migrates it to the current schema.
//!   If anything fails before the rename, the current database is untouched.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use outage_core::store::StoreError;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::config::SqliteConfig;
use crate::store::SqliteStore;

/// Held by a running `serve`; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
    path: PathBuf,
}

impl ServeLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file of the database at `db`.
pub fn serve_lock_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".serve-lock");
    PathBuf::from(s)
}

/// Takes the serve lock of `db`; `Conflict` when another process holds it.
pub fn lock_for_serve(db: &Path) -> Result<ServeLock, StoreError> {
    let path = serve_lock_path(db);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot open the lock file `{}`: {e}",
                path.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(ServeLock { _file: file, path }),
        Err(TryLockError::WouldBlock) => Err(StoreError::Conflict(format!(
            "another `outage-monitor serve` is running on `{}` (it holds `{}`); stop it first",
            db.display(),
            path.display()
        ))),
        Err(TryLockError::Error(e)) => Err(StoreError::Unavailable(format!(
            "cannot lock `{}`: {e}",
            path.display()
        ))),
    }
}

/// What [`restore`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Locations in the restored database.
    pub locations: i64,
    /// Schema version of the backup before it was migrated.
    pub backup_version: i64,
    /// Where the database that was replaced now is (`None` if there was none).
    pub previous: Option<PathBuf>,
}

fn invalid(msg: String) -> StoreError {
    StoreError::Invalid(msg)
}

/// Reads the backup read-only: its schema version and number of locations.
async fn inspect(from: &Path) -> Result<(i64, i64), StoreError> {
    let shown = from.display();
    let not_ours = |e: sqlx::Error| {
        invalid(format!(
            "`{shown}` is not an outage-monitor database (or is damaged): {e}"
        ))
    };
    let mut conn = SqliteConnectOptions::new()
        .filename(from)
        .read_only(true)
        .connect()
        .await
        .map_err(not_ours)?;
    let version: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut conn)
            .await
            .map_err(not_ours)?;
    let locations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM locations")
        .fetch_one(&mut conn)
        .await
        .map_err(not_ours)?;
    let _ = conn.close().await;
    let version = version.ok_or_else(|| invalid(format!("`{shown}` has no schema version")))?;
    let newest = crate::store::schema_version();
    if version > newest {
        return Err(invalid(format!(
            "`{shown}` has schema version {version}, made by a newer outage-monitor (this one \
             knows up to {newest}); upgrade first"
        )));
    }
    Ok((version, locations))
}

fn sidecars(db: &Path) -> [PathBuf; 2] {
    ["-wal", "-shm"].map(|suffix| {
        let mut s = db.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    })
}

/// Deletes the `-wal` and `-shm` files of the database at `path`, if any.
fn remove_sidecars(path: &Path) {
    for side in sidecars(path) {
        let _ = std::fs::remove_file(side);
    }
}

fn remove_with_sidecars(path: &Path) {
    let _ = std::fs::remove_file(path);
    remove_sidecars(path);
}

/// `<db><suffix>`, or `<db><suffix>-2`, `-3`… if that exists (two restores in one second).
fn free_name(db: &Path, suffix: &str) -> PathBuf {
    let mut n = 1;
    loop {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        if n > 1 {
            name.push(format!("-{n}"));
        }
        let p = PathBuf::from(name);
        if !p.exists() {
            return p;
        }
        n += 1;
    }
}

/// Replaces the database at `db` by the backup `from` (see the module docs). `now` names the
/// copy of the replaced database.
pub async fn restore(db: &Path, from: &Path, now: DateTime<Utc>) -> Result<Restored, StoreError> {
    if !from.is_file() {
        return Err(invalid(format!(
            "backup `{}` does not exist or is not a file",
            from.display()
        )));
    }
    if db.exists()
        && let (Ok(a), Ok(b)) = (db.canonicalize(), from.canonicalize())
        && a == b
    {
        return Err(invalid(format!(
            "`{}` is the database itself, not a backup of it",
            from.display()
        )));
    }
    // Held until the restored database is in place: no `serve` can start meanwhile.
    let _lock = lock_for_serve(db)?;
    let (backup_version, _) = inspect(from).await?;

    let mut tmp = db.as_os_str().to_owned();
    tmp.push(".restore-tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::copy(from, &tmp).map_err(|e| {
        StoreError::Other(format!(
            "cannot copy `{}` to `{}`: {e}",
            from.display(),
            tmp.display()
        ))
    })?;
    // Migrate the copy before it replaces anything: a backup this build cannot bring up to
    // date (a damaged or edited migration history) is refused with the database untouched.
    let migrated = match SqliteStore::open_and_migrate(&SqliteConfig::file(&tmp)).await {
        Ok(store) => {
            store.close().await;
            Ok(())
        }
        Err(e) => Err(e),
    };
    if let Err(e) = migrated {
        remove_with_sidecars(&tmp);
        return Err(invalid(format!(
            "`{}` cannot be brought up to this version's schema, so nothing was changed: {e}",
            from.display()
        )));
    }
    remove_sidecars(&tmp);

    let previous = if db.exists() {
        let aside = free_name(
            db,
            &format!(".before-restore-{}", now.format("%Y%m%dT%H%M%SZ")),
        );
        // A consistent copy of the current database, whatever is still in its WAL.
        let mut conn = SqliteConnectOptions::new()
            .filename(db)
            .connect()
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open `{}`: {e}", db.display())))?;
        let copied = sqlx::query("VACUUM INTO ?")
            .bind(aside.to_string_lossy().into_owned())
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
        if let Err(e) = copied {
            remove_with_sidecars(&tmp);
            return Err(StoreError::Other(format!(
                "cannot keep a copy of the current database as `{}`: {e}",
                aside.display()
            )));
        }
        remove_sidecars(db);
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&tmp, db).map_err(|e| {
        StoreError::Other(format!(
            "cannot move `{}` to `{}`: {e}",
            tmp.display(),
            db.display()
        ))
    })?;

    // Bring an older backup up to the current schema.
    let store = SqliteStore::open_and_migrate(&SqliteConfig::file(db)).await?;
    let locations = outage_core::store::StatusStore::list_locations(&store)
        .await?
        .len() as i64;
    store.close().await;
    Ok(Restored {
        locations,
        backup_version,
        previous,
    })
}
