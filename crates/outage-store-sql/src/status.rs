//! The [`StatusStore`] of a SQL store, written once: [`sql_status_store!`](crate::sql_status_store) implements the trait
//! for a store with every method whose statements are the same on all SQL stores delegated to
//! [`Shared`](crate::Shared), and the store's own methods taken as written. What truly
//! differs between the stores is in their [`SqlStore`](crate::SqlStore) hooks (connections,
//! heartbeat batch statements, row locks) and their [`Dialect`](crate::Dialect).
//!
//! [`StatusStore`]: outage_core::StatusStore

#[doc(hidden)]
pub use chrono::{DateTime, Utc};
#[doc(hidden)]
pub use outage_core::domain::{
    ApiToken, ApiTokenId, DiagramMessage, EventId, Heartbeat, Location, LocationId, LocationPatch,
    MessageRef, NewLocation, PowerEvent, Role, Session, StateInterval, User, UserId,
};
#[doc(hidden)]
pub use outage_core::keys::KeyHash;
#[doc(hidden)]
pub use outage_core::store::{
    EventFilter, LocationRecord, NotifierOutboxStats, OutboxId, OutboxItem, OutboxStats,
    PruneStats, RuntimeSnapshot, StoreError, Transition,
};

/// Implements [`StatusStore`](outage_core::StatusStore) for `$store` (a [`SqlStore`](crate::SqlStore)):
/// the shared methods go to [`Shared`](crate::Shared); the methods given in the braces are the
/// store's own, written as in an `#[async_trait]` impl (`backup`: SQLite copies its file,
/// PostgreSQL has tools of its own).
///
/// The calling crate depends on `async-trait`.
#[macro_export]
macro_rules! sql_status_store {
    ($store:ty { $($own:tt)* }) => {
        #[::async_trait::async_trait]
        impl ::outage_core::StatusStore for $store {
            $($own)*

            async fn create_location(
                &self,
                new: &$crate::status::NewLocation,
                key_hash: $crate::status::KeyHash,
                now: $crate::status::DateTime<$crate::status::Utc>,
            ) -> Result<$crate::status::Location, $crate::status::StoreError> {
                $crate::Shared(self).create_location(new, key_hash, now).await
            }

            async fn list_locations(&self) -> Result<Vec<$crate::status::LocationRecord>, $crate::status::StoreError> {
                $crate::Shared(self).list_locations().await
            }

            async fn locations_version(&self) -> Result<i64, $crate::status::StoreError> {
                $crate::Shared(self).locations_version().await
            }

            async fn get_location(&self, id: $crate::status::LocationId) -> Result<Option<$crate::status::LocationRecord>, $crate::status::StoreError> {
                $crate::Shared(self).get_location(id).await
            }

            async fn update_location(
                &self,
                id: $crate::status::LocationId,
                patch: &$crate::status::LocationPatch,
                now: $crate::status::DateTime<$crate::status::Utc>,
            ) -> Result<$crate::status::Location, $crate::status::StoreError> {
                $crate::Shared(self).update_location(id, patch, now).await
            }

            async fn set_key_hash(&self, id: $crate::status::LocationId, key_hash: $crate::status::KeyHash) -> Result<(), $crate::status::StoreError> {
                $crate::Shared(self).set_key_hash(id, key_hash).await
            }

            async fn delete_location(&self, id: $crate::status::LocationId) -> Result<bool, $crate::status::StoreError> {
                $crate::Shared(self).delete_location(id).await
            }

            async fn load_runtime(&self) -> Result<$crate::status::RuntimeSnapshot, $crate::status::StoreError> {
                $crate::Shared(self).load_runtime().await
            }

            async fn recent_heartbeats(
                &self,
                id: $crate::status::LocationId,
                limit: u32,
            ) -> Result<Vec<$crate::status::Heartbeat>, $crate::status::StoreError> {
                $crate::Shared(self).recent_heartbeats(id, limit).await
            }

            async fn apply_transition(&self, t: &$crate::status::Transition) -> Result<Option<$crate::status::EventId>, $crate::status::StoreError> {
                $crate::Shared(self).apply_transition(t).await
            }

            async fn apply_transitions(&self, ts: &[$crate::status::Transition]) -> Result<(), $crate::status::StoreError> {
                $crate::Shared(self).apply_transitions(ts).await
            }

            async fn list_events(&self, f: &$crate::status::EventFilter) -> Result<Vec<$crate::status::PowerEvent>, $crate::status::StoreError> {
                $crate::Shared(self).list_events(f).await
            }

            async fn get_event(&self, id: $crate::status::EventId) -> Result<Option<$crate::status::PowerEvent>, $crate::status::StoreError> {
                $crate::Shared(self).get_event(id).await
            }

            async fn list_intervals(
                &self,
                id: $crate::status::LocationId,
                from: $crate::status::DateTime<$crate::status::Utc>,
                to: $crate::status::DateTime<$crate::status::Utc>,
            ) -> Result<Vec<$crate::status::StateInterval>, $crate::status::StoreError> {
                $crate::Shared(self).list_intervals(id, from, to).await
            }

            async fn claim_notifications(
                &self,
                now: $crate::status::DateTime<$crate::status::Utc>,
                limit: u32,
            ) -> Result<Vec<$crate::status::OutboxItem>, $crate::status::StoreError> {
                $crate::Shared(self).claim_notifications(now, limit).await
            }

            async fn claim_queue(
                &self,
                notifier: &str,
                chat: &str,
                now: $crate::status::DateTime<$crate::status::Utc>,
                limit: u32,
            ) -> Result<Vec<$crate::status::OutboxItem>, $crate::status::StoreError> {
                $crate::Shared(self).claim_queue(notifier, chat, now, limit).await
            }

            async fn retry_notification(
                &self,
                id: $crate::status::OutboxId,
                next_attempt_at: $crate::status::DateTime<$crate::status::Utc>,
                error: &str,
            ) -> Result<(), $crate::status::StoreError> {
                $crate::Shared(self)
                    .retry_notification(id, next_attempt_at, error)
                    .await
            }

            async fn fail_notification(&self, id: $crate::status::OutboxId, error: &str) -> Result<(), $crate::status::StoreError> {
                $crate::Shared(self).fail_notification(id, error).await
            }

            async fn next_notification_due(&self) -> Result<Option<$crate::status::DateTime<$crate::status::Utc>>, $crate::status::StoreError> {
                $crate::Shared(self).next_notification_due().await
            }

            async fn outbox_stats(&self) -> Result<$crate::status::OutboxStats, $crate::status::StoreError> {
                $crate::Shared(self).outbox_stats().await
            }

            async fn outbox_by_notifier(&self) -> Result<Vec<$crate::status::NotifierOutboxStats>, $crate::status::StoreError> {
                $crate::Shared(self).outbox_by_notifier().await
            }

            async fn message_refs(&self, event_id: $crate::status::EventId) -> Result<Vec<$crate::status::MessageRef>, $crate::status::StoreError> {
                $crate::Shared(self).message_refs(event_id).await
            }

            async fn diagram_messages(&self) -> Result<Vec<$crate::status::DiagramMessage>, $crate::status::StoreError> {
                $crate::Shared(self).diagram_messages().await
            }

            async fn delete_diagram_message(
                &self,
                location: $crate::status::LocationId,
                notifier: &str,
                chat: &str,
            ) -> Result<bool, $crate::status::StoreError> {
                $crate::Shared(self)
                    .delete_diagram_message(location, notifier, chat)
                    .await
            }

            async fn create_api_token(
                &self,
                name: &str,
                hash: $crate::status::KeyHash,
                at: $crate::status::DateTime<$crate::status::Utc>,
            ) -> Result<$crate::status::ApiToken, $crate::status::StoreError> {
                $crate::Shared(self).create_api_token(name, hash, at).await
            }

            async fn list_api_tokens(&self) -> Result<Vec<$crate::status::ApiToken>, $crate::status::StoreError> {
                $crate::Shared(self).list_api_tokens().await
            }

            async fn find_api_token(&self, hash: &$crate::status::KeyHash) -> Result<Option<$crate::status::ApiToken>, $crate::status::StoreError> {
                $crate::Shared(self).find_api_token(hash).await
            }

            async fn revoke_api_token(&self, id: $crate::status::ApiTokenId) -> Result<bool, $crate::status::StoreError> {
                $crate::Shared(self).revoke_api_token(id).await
            }

            async fn create_user(
                &self,
                name: &str,
                role: $crate::status::Role,
                password_hash: &str,
                at: $crate::status::DateTime<$crate::status::Utc>,
            ) -> Result<$crate::status::User, $crate::status::StoreError> {
                $crate::Shared(self)
                    .create_user(name, role, password_hash, at)
                    .await
            }

            async fn list_users(&self) -> Result<Vec<$crate::status::User>, $crate::status::StoreError> {
                $crate::Shared(self).list_users().await
            }

            async fn find_user(&self, name: &str) -> Result<Option<$crate::status::User>, $crate::status::StoreError> {
                $crate::Shared(self).find_user(name).await
            }

            async fn update_user(
                &self,
                id: $crate::status::UserId,
                password_hash: Option<&str>,
                role: Option<$crate::status::Role>,
                at: $crate::status::DateTime<$crate::status::Utc>,
            ) -> Result<(), $crate::status::StoreError> {
                $crate::Shared(self).update_user(id, password_hash, role, at).await
            }

            async fn delete_user(&self, id: $crate::status::UserId) -> Result<bool, $crate::status::StoreError> {
                $crate::Shared(self).delete_user(id).await
            }

            async fn create_session(&self, session: &$crate::status::Session) -> Result<(), $crate::status::StoreError> {
                $crate::Shared(self).create_session(session).await
            }

            async fn find_session(
                &self,
                token_hash: &$crate::status::KeyHash,
                now: $crate::status::DateTime<$crate::status::Utc>,
            ) -> Result<Option<($crate::status::Session, $crate::status::User)>, $crate::status::StoreError> {
                $crate::Shared(self).find_session(token_hash, now).await
            }

            async fn delete_session(&self, token_hash: &$crate::status::KeyHash) -> Result<bool, $crate::status::StoreError> {
                $crate::Shared(self).delete_session(token_hash).await
            }

            async fn prune_sessions(&self, now: $crate::status::DateTime<$crate::status::Utc>) -> Result<u64, $crate::status::StoreError> {
                $crate::Shared(self).prune_sessions(now).await
            }
        async fn complete_notification(
            &self,
            id: $crate::status::OutboxId,
            delivered: Option<&$crate::status::MessageRef>,
            now: $crate::status::DateTime<$crate::status::Utc>,
        ) -> Result<(), $crate::status::StoreError> {
            $crate::Shared(self).complete_notification(id, delivered, now).await
        }

        async fn save_diagram_message(
            &self,
            m: &$crate::status::DiagramMessage,
        ) -> Result<(), $crate::status::StoreError> {
            $crate::Shared(self).save_diagram_message(m).await
        }
        async fn migrate(&self) -> Result<(), $crate::status::StoreError> {
            $crate::Shared(self).migrate().await
        }

        async fn ping(&self) -> Result<(), $crate::status::StoreError> {
            $crate::Shared(self).ping().await
        }

        async fn record_heartbeats(
            &self,
            beats: &[$crate::status::Heartbeat],
            alive_at: $crate::status::DateTime<$crate::status::Utc>,
        ) -> Result<(), $crate::status::StoreError> {
            $crate::Shared(self).record_heartbeats(beats, alive_at).await
        }

        async fn prune(
            &self,
            beats_before: $crate::status::DateTime<$crate::status::Utc>,
            outbox_before: $crate::status::DateTime<$crate::status::Utc>,
        ) -> Result<$crate::status::PruneStats, $crate::status::StoreError> {
            $crate::Shared(self).prune(beats_before, outbox_before).await
        }
        }
    };
}
