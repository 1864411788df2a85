//! Read-API tokens and the diagram messages: the same statements and the
//! same Rust on every SQL store, written once over any sqlx driver.

use chrono::{DateTime, Utc};
use outage_core::domain::{ApiToken, ApiTokenId, DiagramMessage, LocationId};
use outage_core::keys::KeyHash;
use outage_core::store::StoreError;
use outage_core::store_support::{micros, not_found};

use crate::sql::{SAVE_DIAGRAM_SQL, key_share};
use crate::{DiagramRow, Dialect, TokenRow};

const CREATE_TOKEN_SQL: &str =
    "INSERT INTO api_tokens (name, hash, created_at) VALUES ($1, $2, $3) RETURNING id";

const LIST_TOKENS_SQL: &str = "SELECT id, name, hash, created_at FROM api_tokens ORDER BY id";

const FIND_TOKEN_SQL: &str = "SELECT id, name, hash, created_at FROM api_tokens WHERE hash = $1";

const REVOKE_TOKEN_SQL: &str = "DELETE FROM api_tokens WHERE id = $1";

const LIST_DIAGRAMS_SQL: &str = "SELECT location_id, notifier, chat, message_id, posted_at, \
     updated_at FROM diagram_messages ORDER BY location_id, notifier, chat";

const DELETE_DIAGRAM_SQL: &str =
    "DELETE FROM diagram_messages WHERE location_id = $1 AND notifier = $2 AND chat = $3";

shared_impl! {
    /// [`StatusStore::create_api_token`](outage_core::StatusStore::create_api_token).
    pub async fn create_api_token(
        &self,
        name: &str,
        hash: KeyHash,
        at: DateTime<Utc>,
    ) -> Result<ApiToken, StoreError> {
        let s = self.0;
        let created_at = micros(at);
        let (id,): (i64,) = sqlx::query_as(CREATE_TOKEN_SQL)
            .bind(name)
            .bind(hash.to_hex())
            .bind(created_at)
            .fetch_one(s.writer())
            .await
            .map_err(|e| S::Dialect::token_conflict(s.err(e), name))?;
        // Return what was stored (the time at the stored precision).
        Ok(ApiToken {
            id: ApiTokenId(id),
            name: name.to_string(),
            created_at: S::Dialect::time(created_at, "api_tokens.created_at")?,
        })
    }

    /// [`StatusStore::list_api_tokens`](outage_core::StatusStore::list_api_tokens).
    pub async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let s = self.0;
        let rows: Vec<TokenRow<S::Dialect>> = sqlx::query_as(LIST_TOKENS_SQL)
            .fetch_all(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        rows.into_iter()
            .map(|r| r.into_token().map(|(t, _)| t))
            .collect()
    }

    /// [`StatusStore::find_api_token`](outage_core::StatusStore::find_api_token): found by
    /// the index, confirmed by a constant-time comparison, as for location keys.
    pub async fn find_api_token(&self, hash: &KeyHash) -> Result<Option<ApiToken>, StoreError> {
        let s = self.0;
        let row: Option<TokenRow<S::Dialect>> = sqlx::query_as(FIND_TOKEN_SQL)
            .bind(hash.to_hex())
            .fetch_optional(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        let Some(row) = row else { return Ok(None) };
        let (token, stored) = row.into_token()?;
        Ok(stored.ct_eq(hash).then_some(token))
    }

    /// [`StatusStore::revoke_api_token`](outage_core::StatusStore::revoke_api_token).
    pub async fn revoke_api_token(&self, id: ApiTokenId) -> Result<bool, StoreError> {
        let s = self.0;
        let done = sqlx::query(REVOKE_TOKEN_SQL)
            .bind(id.0)
            .execute(s.writer())
            .await
            .map_err(|e| s.err(e))?;
        Ok(S::rows_affected(&done) > 0)
    }

    /// [`StatusStore::diagram_messages`](outage_core::StatusStore::diagram_messages).
    pub async fn diagram_messages(&self) -> Result<Vec<DiagramMessage>, StoreError> {
        let s = self.0;
        let rows: Vec<DiagramRow<S::Dialect>> = sqlx::query_as(LIST_DIAGRAMS_SQL)
            .fetch_all(s.reader())
            .await
            .map_err(|e| s.err(e))?;
        rows.into_iter().map(DiagramRow::into_message).collect()
    }

    /// [`StatusStore::save_diagram_message`](outage_core::StatusStore::save_diagram_message).
    pub async fn save_diagram_message(&self, m: &DiagramMessage) -> Result<(), StoreError> {
        let s = self.0;
        let done = sqlx::query(key_share::<S::Dialect>(SAVE_DIAGRAM_SQL))
            .bind(m.location_id.0)
            .bind(m.notifier.as_str())
            .bind(m.chat.as_str())
            .bind(m.message_id.as_str())
            .bind(micros(m.posted_at))
            .bind(micros(m.updated_at))
            .execute(s.writer())
            .await
            .map_err(s.e())?;
        if S::rows_affected(&done) == 0 {
            return Err(not_found(format!("location {}", m.location_id)));
        }
        Ok(())
    }

    /// [`StatusStore::delete_diagram_message`](outage_core::StatusStore::delete_diagram_message).
    pub async fn delete_diagram_message(
        &self,
        location: LocationId,
        notifier: &str,
        chat: &str,
    ) -> Result<bool, StoreError> {
        let s = self.0;
        let done = sqlx::query(DELETE_DIAGRAM_SQL)
            .bind(location.0)
            .bind(notifier)
            .bind(chat)
            .execute(s.writer())
            .await
            .map_err(|e| s.err(e))?;
        Ok(S::rows_affected(&done) > 0)
    }
}
