//! `backup` and `restore`.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;
use outage_core::config::{Config, redact_url};

use crate::context::{open_store, sqlite_file};

/// `backup --out FILE`: a consistent copy of the store, written by the store itself.
pub async fn backup(cfg: &Config, out: &Path) -> Result<()> {
    if out.exists() {
        bail!("{} already exists; choose a new file", out.display());
    }
    let store = open_store(cfg).await?;
    store
        .backup(out)
        .await
        .with_context(|| format!("backup to {} failed", out.display()))?;
    println!("backup written to {}", out.display());
    Ok(())
}

/// `restore --from FILE`: replaces the SQLite database by a backup (refused while `serve`
/// runs), keeping the database it replaces.
pub async fn restore(cfg: &Config, from: &Path) -> Result<()> {
    let db = sqlite_file(cfg)?.ok_or_else(|| {
        anyhow!(
            "restore works on a SQLite database file; the store is `{}` \
             (for PostgreSQL use pg_dump / pg_restore)",
            redact_url(cfg.store.url.expose())
        )
    })?;
    let r = crate::plugins::restore_sqlite(&db, from, Utc::now())
        .await
        .with_context(|| format!("cannot restore {}", from.display()))?;
    println!(
        "restored {} ({} locations, schema version {}) into {}",
        from.display(),
        r.locations,
        r.backup_version,
        db.display()
    );
    if let Some(p) = r.previous {
        println!("the database it replaced was kept as {}", p.display());
    }
    Ok(())
}
