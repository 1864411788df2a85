//! [`MemoryStore`]: a complete [`StatusStore`] kept in memory.
//!
//! It is the reference for the semantics every database store must match (the conformance
//! suite in `outage-testkit` runs against it too), and it backs engine tests and embedders that
//! do not need persistence.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::*;
use crate::keys::KeyHash;
use crate::store::*;
use crate::store_support::{location_name_taken, new_event, not_found};

#[derive(Debug, Clone)]
struct OutboxRow {
    item: OutboxItem,
    state: RowState,
    next_attempt_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowState {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug, Default, Clone)]
struct Inner {
    next_id: i64,
    locations: BTreeMap<LocationId, LocationRecord>,
    beats: Vec<Heartbeat>,
    events: BTreeMap<EventId, PowerEvent>,
    intervals: Vec<StateInterval>,
    outbox: BTreeMap<OutboxId, OutboxRow>,
    refs: Vec<(EventId, MessageRef)>,
    alive_at: Option<DateTime<Utc>>,
    diagrams: BTreeMap<(LocationId, String, String), DiagramMessage>,
    tokens: BTreeMap<ApiTokenId, (ApiToken, KeyHash)>,
    users: BTreeMap<UserId, User>,
    sessions: BTreeMap<[u8; 32], Session>,
    /// Bumped by every change of a location's settings ([`StatusStore::locations_version`]).
    locations_version: i64,
}

impl Inner {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }
}

/// A [`StatusStore`] in memory; cloning shares nothing (create one and wrap it in an `Arc`).
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every method mutates after
        // validating), so recovering from poisoning is safe.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl StatusStore for MemoryStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn create_location(
        &self,
        new: &NewLocation,
        key_hash: KeyHash,
        now: DateTime<Utc>,
    ) -> Result<Location, StoreError> {
        let mut g = self.lock();
        if g.locations.values().any(|r| r.location.name == new.name) {
            return Err(location_name_taken(&new.name));
        }
        let id = LocationId(g.id());
        let location = Location {
            id,
            name: new.name.clone(),
            timeout: new.timeout,
            chat_id: new.chat_id.clone(),
            routes: new.routes.clone(),
            enabled: true,
            paused_until: None,
            created_at: now,
            updated_at: now,
        };
        g.locations.insert(
            id,
            LocationRecord {
                location: location.clone(),
                key_hash,
                runtime: LocationRuntime::default(),
            },
        );
        g.locations_version += 1;
        Ok(location)
    }

    async fn list_locations(&self) -> Result<Vec<LocationRecord>, StoreError> {
        Ok(self.lock().locations.values().cloned().collect())
    }

    async fn locations_version(&self) -> Result<i64, StoreError> {
        Ok(self.lock().locations_version)
    }

    async fn get_location(&self, id: LocationId) -> Result<Option<LocationRecord>, StoreError> {
        Ok(self.lock().locations.get(&id).cloned())
    }

    async fn update_location(
        &self,
        id: LocationId,
        patch: &LocationPatch,
        now: DateTime<Utc>,
    ) -> Result<Location, StoreError> {
        let mut g = self.lock();
        if let Some(name) = &patch.name
            && g.locations
                .values()
                .any(|r| r.location.name == *name && r.location.id != id)
        {
            return Err(location_name_taken(name));
        }
        let rec = g
            .locations
            .get_mut(&id)
            .ok_or_else(|| not_found(format!("location {id}")))?;
        let l = &mut rec.location;
        if let Some(v) = &patch.name {
            l.name = v.clone();
        }
        if let Some(v) = patch.timeout {
            l.timeout = v;
        }
        if let Some(v) = &patch.chat_id {
            l.chat_id = v.clone();
        }
        if let Some(v) = &patch.routes {
            l.routes = v.clone();
        }
        if let Some(v) = patch.enabled {
            l.enabled = v;
        }
        if let Some(v) = patch.paused_until {
            l.paused_until = v;
        }
        l.updated_at = now;
        let updated = l.clone();
        g.locations_version += 1;
        Ok(updated)
    }

    async fn set_key_hash(&self, id: LocationId, key_hash: KeyHash) -> Result<(), StoreError> {
        let mut g = self.lock();
        let rec = g
            .locations
            .get_mut(&id)
            .ok_or_else(|| not_found(format!("location {id}")))?;
        rec.key_hash = key_hash;
        g.locations_version += 1;
        Ok(())
    }

    async fn delete_location(&self, id: LocationId) -> Result<bool, StoreError> {
        let mut g = self.lock();
        let existed = g.locations.remove(&id).is_some();
        if existed {
            g.locations_version += 1;
        }
        g.beats.retain(|b| b.location_id != id);
        g.intervals.retain(|i| i.location_id != id);
        let gone: Vec<EventId> = g
            .events
            .values()
            .filter(|e| e.location_id == id)
            .map(|e| e.id)
            .collect();
        g.events.retain(|_, e| e.location_id != id);
        g.refs.retain(|(e, _)| !gone.contains(e));
        g.outbox.retain(|_, r| r.item.alert.location_id != id);
        g.diagrams.retain(|(l, _, _), _| *l != id);
        Ok(existed)
    }

    async fn diagram_messages(&self) -> Result<Vec<DiagramMessage>, StoreError> {
        Ok(self.lock().diagrams.values().cloned().collect())
    }

    async fn save_diagram_message(&self, m: &DiagramMessage) -> Result<(), StoreError> {
        let mut g = self.lock();
        if !g.locations.contains_key(&m.location_id) {
            return Err(not_found(format!("location {}", m.location_id)));
        }
        let key = (m.location_id, m.notifier.clone(), m.chat.clone());
        g.diagrams.insert(key, m.clone());
        Ok(())
    }

    async fn delete_diagram_message(
        &self,
        location: LocationId,
        notifier: &str,
        chat: &str,
    ) -> Result<bool, StoreError> {
        let key = (location, notifier.to_string(), chat.to_string());
        Ok(self.lock().diagrams.remove(&key).is_some())
    }

    async fn create_api_token(
        &self,
        name: &str,
        hash: KeyHash,
        at: DateTime<Utc>,
    ) -> Result<ApiToken, StoreError> {
        let mut g = self.lock();
        if g.tokens.values().any(|(t, _)| t.name == name) {
            return Err(StoreError::Conflict(format!(
                "an API token named {name:?} already exists"
            )));
        }
        let token = ApiToken {
            id: ApiTokenId(g.id()),
            name: name.to_string(),
            created_at: at,
        };
        g.tokens.insert(token.id, (token.clone(), hash));
        Ok(token)
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        Ok(self
            .lock()
            .tokens
            .values()
            .map(|(t, _)| t.clone())
            .collect())
    }

    async fn find_api_token(&self, hash: &KeyHash) -> Result<Option<ApiToken>, StoreError> {
        Ok(self
            .lock()
            .tokens
            .values()
            .find(|(_, h)| h.ct_eq(hash))
            .map(|(t, _)| t.clone()))
    }

    async fn revoke_api_token(&self, id: ApiTokenId) -> Result<bool, StoreError> {
        Ok(self.lock().tokens.remove(&id).is_some())
    }

    async fn create_user(
        &self,
        name: &str,
        role: Role,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let mut g = self.lock();
        if g.users.values().any(|u| u.name == name) {
            return Err(StoreError::Conflict(format!(
                "a user named {name:?} already exists"
            )));
        }
        let user = User {
            id: UserId(g.id()),
            name: name.to_string(),
            role,
            password_hash: password_hash.to_string(),
            created_at: at,
            updated_at: at,
        };
        g.users.insert(user.id, user.clone());
        Ok(user)
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let mut users: Vec<User> = self.lock().users.values().cloned().collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(users)
    }

    async fn find_user(&self, name: &str) -> Result<Option<User>, StoreError> {
        Ok(self.lock().users.values().find(|u| u.name == name).cloned())
    }

    async fn update_user(
        &self,
        id: UserId,
        password_hash: Option<&str>,
        role: Option<Role>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        let user = g
            .users
            .get_mut(&id)
            .ok_or_else(|| not_found(format!("user {id}")))?;
        if let Some(h) = password_hash {
            user.password_hash = h.to_string();
        }
        if let Some(r) = role {
            user.role = r;
        }
        user.updated_at = at;
        if password_hash.is_some() {
            g.sessions.retain(|_, s| s.user_id != id);
        }
        Ok(())
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        let mut g = self.lock();
        g.sessions.retain(|_, s| s.user_id != id);
        Ok(g.users.remove(&id).is_some())
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut g = self.lock();
        if !g.users.contains_key(&session.user_id) {
            return Err(not_found(format!("user {}", session.user_id)));
        }
        g.sessions.insert(session.token_hash.0, session.clone());
        Ok(())
    }

    async fn find_session(
        &self,
        token_hash: &KeyHash,
        now: DateTime<Utc>,
    ) -> Result<Option<(Session, User)>, StoreError> {
        let g = self.lock();
        let Some(s) = g.sessions.get(&token_hash.0) else {
            return Ok(None);
        };
        if s.expires_at <= now {
            return Ok(None);
        }
        Ok(g.users.get(&s.user_id).map(|u| (s.clone(), u.clone())))
    }

    async fn delete_session(&self, token_hash: &KeyHash) -> Result<bool, StoreError> {
        Ok(self.lock().sessions.remove(&token_hash.0).is_some())
    }

    async fn prune_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut g = self.lock();
        let before = g.sessions.len();
        g.sessions.retain(|_, s| s.expires_at > now);
        Ok((before - g.sessions.len()) as u64)
    }

    async fn load_runtime(&self) -> Result<RuntimeSnapshot, StoreError> {
        let g = self.lock();
        Ok(RuntimeSnapshot {
            locations: g.locations.values().cloned().collect(),
            monitor_alive_at: g.alive_at,
        })
    }

    async fn record_heartbeats(
        &self,
        beats: &[Heartbeat],
        alive_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        for b in beats {
            // Beats of a location deleted meanwhile are dropped, as a foreign key would.
            let Some(rec) = g.locations.get_mut(&b.location_id) else {
                continue;
            };
            if rec.runtime.last_seen.is_none_or(|t| t <= b.received_at) {
                rec.runtime.last_seen = Some(b.received_at);
                rec.runtime.last_facts = b.facts.clone();
            }
            g.beats.push(b.clone());
        }
        g.alive_at = Some(g.alive_at.map_or(alive_at, |a| a.max(alive_at)));
        Ok(())
    }

    async fn recent_heartbeats(
        &self,
        id: LocationId,
        limit: u32,
    ) -> Result<Vec<Heartbeat>, StoreError> {
        let g = self.lock();
        let mut v: Vec<_> = g
            .beats
            .iter()
            .filter(|b| b.location_id == id)
            .cloned()
            .collect();
        v.sort_by_key(|b| std::cmp::Reverse(b.received_at));
        v.truncate(limit as usize);
        Ok(v)
    }

    async fn apply_transition(&self, t: &Transition) -> Result<Option<EventId>, StoreError> {
        apply(&mut self.lock(), t)
    }

    async fn apply_transitions(&self, ts: &[Transition]) -> Result<(), StoreError> {
        // All or nothing, like one database transaction: apply to a copy, keep it on success.
        let mut g = self.lock();
        let mut copy = g.clone();
        for t in ts {
            apply(&mut copy, t)?;
        }
        *g = copy;
        Ok(())
    }

    async fn list_events(&self, f: &EventFilter) -> Result<Vec<PowerEvent>, StoreError> {
        let g = self.lock();
        let mut v: Vec<_> = g
            .events
            .values()
            .filter(|e| f.location_id.is_none_or(|l| e.location_id == l))
            .filter(|e| {
                f.to.is_none_or(|to| e.started_at.unwrap_or(e.detected_at) < to)
            })
            .filter(|e| {
                f.from
                    .is_none_or(|from| e.ended_at.is_none_or(|end| end >= from))
            })
            .cloned()
            .collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.id));
        if let Some(n) = f.limit {
            v.truncate(n as usize);
        }
        Ok(v)
    }

    async fn get_event(&self, id: EventId) -> Result<Option<PowerEvent>, StoreError> {
        Ok(self.lock().events.get(&id).cloned())
    }

    async fn list_intervals(
        &self,
        id: LocationId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StateInterval>, StoreError> {
        let g = self.lock();
        let mut v: Vec<_> = g
            .intervals
            .iter()
            .filter(|i| i.location_id == id && i.start < to && i.end.is_none_or(|e| e > from))
            .cloned()
            .collect();
        v.sort_by_key(|i| i.start);
        Ok(v)
    }

    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let g = self.lock();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for row in g.outbox.values().filter(|r| r.state == RowState::Pending) {
            let queue = (row.item.notifier.clone(), row.item.chat.clone());
            // Only the head of each queue may go, so a retry never lets a later message overtake.
            if !seen.insert(queue) {
                continue;
            }
            if row.next_attempt_at <= now {
                out.push(row.item.clone());
                if out.len() >= limit as usize {
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn claim_queue(
        &self,
        notifier: &str,
        chat: &str,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let g = self.lock();
        Ok(g.outbox
            .values()
            .filter(|r| {
                r.state == RowState::Pending && r.item.notifier == notifier && r.item.chat == chat
            })
            .take_while(|r| r.next_attempt_at <= now)
            .take(limit as usize)
            .map(|r| r.item.clone())
            .collect())
    }

    async fn complete_notification(
        &self,
        id: OutboxId,
        delivered: Option<&MessageRef>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        let row = g
            .outbox
            .get_mut(&id)
            .ok_or_else(|| not_found(format!("notification {}", id.0)))?;
        row.state = RowState::Delivered;
        row.finished_at = Some(now);
        let event = row.item.alert.event_id;
        if let (Some(ev), Some(r)) = (event, delivered)
            && !g.refs.iter().any(|(e, x)| *e == ev && x == r)
        {
            g.refs.push((ev, r.clone()));
        }
        Ok(())
    }

    async fn retry_notification(
        &self,
        id: OutboxId,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        let row = g
            .outbox
            .get_mut(&id)
            .ok_or_else(|| not_found(format!("notification {}", id.0)))?;
        row.item.attempts += 1;
        row.next_attempt_at = next_attempt_at;
        row.last_error = Some(error.to_string());
        Ok(())
    }

    async fn fail_notification(&self, id: OutboxId, error: &str) -> Result<(), StoreError> {
        let mut g = self.lock();
        let row = g
            .outbox
            .get_mut(&id)
            .ok_or_else(|| not_found(format!("notification {}", id.0)))?;
        row.item.attempts += 1;
        row.state = RowState::Failed;
        row.finished_at = Some(row.next_attempt_at);
        row.last_error = Some(error.to_string());
        Ok(())
    }

    async fn next_notification_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        // Only queue heads count: a later row cannot go before its head, so waking for it
        // would make the delivery worker spin until the head is due.
        let g = self.lock();
        let mut seen = std::collections::HashSet::new();
        Ok(g.outbox
            .values()
            .filter(|r| r.state == RowState::Pending)
            .filter(|r| seen.insert((r.item.notifier.as_str(), r.item.chat.as_str())))
            .map(|r| r.next_attempt_at)
            .min())
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let g = self.lock();
        let mut s = OutboxStats::default();
        for r in g.outbox.values() {
            match r.state {
                RowState::Pending => s.pending += 1,
                RowState::Delivered => s.delivered += 1,
                RowState::Failed => s.failed += 1,
            }
        }
        Ok(s)
    }

    async fn outbox_by_notifier(&self) -> Result<Vec<NotifierOutboxStats>, StoreError> {
        let g = self.lock();
        // BTreeMap: by name in byte order. The key of the last error is (due time, row id).
        let mut by: BTreeMap<&str, (NotifierOutboxStats, Option<(DateTime<Utc>, OutboxId)>)> =
            BTreeMap::new();
        for r in g.outbox.values() {
            let (s, newest) = by.entry(r.item.notifier.as_str()).or_insert_with(|| {
                let s = NotifierOutboxStats {
                    notifier: r.item.notifier.clone(),
                    pending: 0,
                    delivered: 0,
                    failed: 0,
                    last_error: None,
                    last_error_at: None,
                };
                (s, None)
            });
            match r.state {
                RowState::Pending => s.pending += 1,
                RowState::Delivered => s.delivered += 1,
                RowState::Failed => s.failed += 1,
            }
            if let Some(e) = &r.last_error {
                let key = (r.next_attempt_at, r.item.id);
                if newest.is_none_or(|n| key > n) {
                    *newest = Some(key);
                    s.last_error = Some(e.clone());
                    s.last_error_at = Some(r.next_attempt_at);
                }
            }
        }
        Ok(by.into_values().map(|(s, _)| s).collect())
    }

    async fn message_refs(&self, event_id: EventId) -> Result<Vec<MessageRef>, StoreError> {
        Ok(self
            .lock()
            .refs
            .iter()
            .filter(|(e, _)| *e == event_id)
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn prune(
        &self,
        beats_before: DateTime<Utc>,
        outbox_before: DateTime<Utc>,
    ) -> Result<PruneStats, StoreError> {
        let mut g = self.lock();
        let (b0, o0) = (g.beats.len(), g.outbox.len());
        g.beats.retain(|b| b.received_at >= beats_before);
        g.outbox.retain(|_, r| {
            r.state == RowState::Pending || r.finished_at.is_none_or(|f| f >= outbox_before)
        });
        Ok(PruneStats {
            heartbeats: (b0 - g.beats.len()) as u64,
            outbox: (o0 - g.outbox.len()) as u64,
        })
    }
}

/// Applies one transition to `g`, validating before mutating so a failure changes nothing.
fn apply(g: &mut Inner, t: &Transition) -> Result<Option<EventId>, StoreError> {
    if !g.locations.contains_key(&t.location_id) {
        return Err(not_found(format!("location {}", t.location_id)));
    }
    // Validate before mutating, so a failed transition changes nothing.
    if let EventChange::Close { event_id, .. } = &t.event {
        match g.events.get(event_id) {
            Some(e) if e.location_id == t.location_id => {}
            _ => return Err(not_found(format!("event {event_id}"))),
        }
    }
    if let EventChange::Close {
        event_id,
        ended_at,
        cause,
    } = &t.event
        && let Some(e) = g.events.get_mut(event_id)
    {
        e.ended_at = Some(*ended_at);
        e.cause = *cause;
    }
    let new_event = match new_event(&t.event) {
        Some(n) => {
            let id = EventId(g.id());
            g.events.insert(
                id,
                PowerEvent {
                    id,
                    location_id: t.location_id,
                    started_at: n.started_at,
                    detected_at: n.detected_at,
                    ended_at: n.ended_at,
                    cause: n.cause,
                },
            );
            Some(id)
        }
        None => None,
    };
    if let Some(sw) = &t.interval {
        let mut at = sw.at;
        if let Some(open) = g
            .intervals
            .iter_mut()
            .find(|i| i.location_id == t.location_id && i.end.is_none())
        {
            at = sw.at.max(open.start);
            open.end = Some(at);
            if let Some(k) = sw.relabel_closed_as {
                open.kind = k;
            }
        }
        g.intervals.push(StateInterval {
            location_id: t.location_id,
            kind: sw.kind,
            start: at,
            end: None,
        });
        // Drop intervals that ended up empty (a switch at the same instant).
        g.intervals
            .retain(|i| i.location_id != t.location_id || i.end.is_none_or(|e| e > i.start));
    }
    let open_event = {
        let open: Vec<_> = g
            .events
            .values()
            .filter(|e| e.location_id == t.location_id && e.ended_at.is_none())
            .cloned()
            .collect();
        open.into_iter().max_by_key(|e| e.id)
    };
    if let Some(rec) = g.locations.get_mut(&t.location_id) {
        rec.runtime.status = Some(t.status);
        rec.runtime.open_event = open_event;
    }
    for n in &t.notifications {
        let id = OutboxId(g.id());
        let mut alert = n.alert.clone();
        if alert.event_id.is_none() {
            alert.event_id = new_event;
        }
        g.outbox.insert(
            id,
            OutboxRow {
                item: OutboxItem {
                    id,
                    notifier: n.notifier.clone(),
                    chat: n.chat.clone(),
                    alert: alert.clone(),
                    attempts: 0,
                    created_at: alert.at,
                },
                state: RowState::Pending,
                next_attempt_at: alert.at,
                finished_at: None,
                last_error: None,
            },
        );
    }
    Ok(new_event)
}
