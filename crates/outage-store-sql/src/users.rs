//! Admin-panel users and sessions: the same statements and the same Rust on every SQL store,
//! written once over any sqlx driver.

use chrono::{DateTime, Utc};
use outage_core::domain::{Role, Session, User, UserId};
use outage_core::keys::KeyHash;
use outage_core::store::StoreError;
use outage_core::store_support::{micros, not_found};

use crate::{SessionRow, UserRow};

const CREATE_USER_SQL: &str = "INSERT INTO users (name, role, password_hash, created_at, \
     updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id";

const LIST_USERS_SQL: &str =
    "SELECT id, name, role, password_hash, created_at, updated_at FROM users ORDER BY id";

const FIND_USER_SQL: &str =
    "SELECT id, name, role, password_hash, created_at, updated_at FROM users WHERE name = $1";

const UPDATE_USER_SQL: &str = "UPDATE users SET password_hash = COALESCE($2, password_hash), \
     role = COALESCE($3, role), updated_at = $4 WHERE id = $1";

const END_SESSIONS_OF_USER_SQL: &str = "DELETE FROM sessions WHERE user_id = $1";

/// Sessions go with their user (`ON DELETE CASCADE`).
const DELETE_USER_SQL: &str = "DELETE FROM users WHERE id = $1";

const CREATE_SESSION_SQL: &str = "INSERT INTO sessions (token_hash, user_id, created_at, \
     expires_at) VALUES ($1, $2, $3, $4)";

const FIND_SESSION_SQL: &str = concat!(
    "SELECT s.token_hash, s.created_at AS session_created_at, s.expires_at, ",
    "u.id, u.name, u.role, u.password_hash, u.created_at, u.updated_at ",
    "FROM sessions s JOIN users u ON u.id = s.user_id ",
    "WHERE s.token_hash = $1 AND s.expires_at > $2"
);

const DELETE_SESSION_SQL: &str = "DELETE FROM sessions WHERE token_hash = $1";

/// A session is over at its expiry time, so `find_session` and this agree.
const PRUNE_SESSIONS_SQL: &str = "DELETE FROM sessions WHERE expires_at <= $1";

/// The `Conflict` for a user name another user already has.
fn user_name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!("a user named {name:?} already exists"))
}

/// The `NotFound` for a user id.
fn no_user(id: UserId) -> StoreError {
    not_found(format!("user {id}"))
}

shared_impl! {
    /// [`StatusStore::create_user`](outage_core::StatusStore::create_user).
    pub async fn create_user(
        &self,
        name: &str,
        role: Role,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let s = self.0;
        let at = micros(at);
        let (id,): (i64,) = sqlx::query_as(CREATE_USER_SQL)
            .bind(name)
            .bind(role.as_str())
            .bind(password_hash)
            .bind(at)
            .fetch_one(s.writer())
            .await
            .map_err(|e| match s.err(e) {
                // The id is generated: a unique violation can only be the name.
                StoreError::Conflict(_) => user_name_taken(name),
                other => other,
            })?;
        // Return what was stored (the times at the stored precision).
        UserRow::<S::Dialect> {
            id,
            name: name.to_string(),
            role: role.as_str().to_string(),
            password_hash: password_hash.to_string(),
            created_at: at,
            updated_at: at,
            dialect: std::marker::PhantomData,
        }
        .into_user()
    }

    /// [`StatusStore::list_users`](outage_core::StatusStore::list_users): by name, in the
    /// byte order of the names whatever the database's collation.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let s = self.0;
        let rows: Vec<UserRow<S::Dialect>> = sqlx::query_as(LIST_USERS_SQL)
            .fetch_all(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        let mut users = rows
            .into_iter()
            .map(UserRow::into_user)
            .collect::<Result<Vec<_>, _>>()?;
        users.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(users)
    }

    /// [`StatusStore::find_user`](outage_core::StatusStore::find_user).
    pub async fn find_user(&self, name: &str) -> Result<Option<User>, StoreError> {
        let s = self.0;
        let row: Option<UserRow<S::Dialect>> = sqlx::query_as(FIND_USER_SQL)
            .bind(name)
            .fetch_optional(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        row.map(UserRow::into_user).transpose()
    }

    /// [`StatusStore::update_user`](outage_core::StatusStore::update_user): one write
    /// transaction, so a new password and the end of the old sessions go together.
    pub async fn update_user(
        &self,
        id: UserId,
        password_hash: Option<&str>,
        role: Option<Role>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let s = self.0;
        let mut tx = s.begin_write().await?;
        let done = sqlx::query(UPDATE_USER_SQL)
            .bind(id.0)
            .bind(password_hash)
            .bind(role.map(Role::as_str))
            .bind(micros(at))
            .execute(&mut *tx)
            .await
            .map_err(|e| s.err(e))?;
        if S::rows_affected(&done) == 0 {
            return Err(no_user(id));
        }
        if password_hash.is_some() {
            sqlx::query(END_SESSIONS_OF_USER_SQL)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(|e| s.err(e))?;
        }
        tx.commit().await.map_err(|e| s.err(e))
    }

    /// [`StatusStore::delete_user`](outage_core::StatusStore::delete_user).
    pub async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        let s = self.0;
        let done = sqlx::query(DELETE_USER_SQL)
            .bind(id.0)
            .execute(s.writer())
            .await
            .map_err(|e| s.err(e))?;
        Ok(S::rows_affected(&done) > 0)
    }

    /// [`StatusStore::create_session`](outage_core::StatusStore::create_session): the
    /// foreign key answers whether the user exists, in the same statement.
    pub async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let s = self.0;
        sqlx::query(CREATE_SESSION_SQL)
            .bind(session.token_hash.to_hex())
            .bind(session.user_id.0)
            .bind(micros(session.created_at))
            .bind(micros(session.expires_at))
            .execute(s.writer())
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                    no_user(session.user_id)
                }
                e => s.err(e),
            })?;
        Ok(())
    }

    /// [`StatusStore::find_session`](outage_core::StatusStore::find_session).
    pub async fn find_session(
        &self,
        token_hash: &KeyHash,
        now: DateTime<Utc>,
    ) -> Result<Option<(Session, User)>, StoreError> {
        let s = self.0;
        let row: Option<SessionRow<S::Dialect>> = sqlx::query_as(FIND_SESSION_SQL)
            .bind(token_hash.to_hex())
            .bind(micros(now))
            .fetch_optional(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        let Some(row) = row else { return Ok(None) };
        let (session, user) = row.into_session()?;
        // The index found it; the final comparison is constant-time, as for API tokens.
        Ok(session
            .token_hash
            .ct_eq(token_hash)
            .then_some((session, user)))
    }

    /// [`StatusStore::delete_session`](outage_core::StatusStore::delete_session).
    pub async fn delete_session(&self, token_hash: &KeyHash) -> Result<bool, StoreError> {
        let s = self.0;
        let done = sqlx::query(DELETE_SESSION_SQL)
            .bind(token_hash.to_hex())
            .execute(s.writer())
            .await
            .map_err(|e| s.err(e))?;
        Ok(S::rows_affected(&done) > 0)
    }

    /// [`StatusStore::prune_sessions`](outage_core::StatusStore::prune_sessions).
    pub async fn prune_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let s = self.0;
        let done = sqlx::query(PRUNE_SESSIONS_SQL)
            .bind(micros(now))
            .execute(s.writer())
            .await
            .map_err(|e| s.err(e))?;
        Ok(S::rows_affected(&done))
    }
}
