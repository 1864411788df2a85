//! [`EngineQuery`]: what chat bots may ask ([`MonitorQuery`]), answered from the running engine
//! (live states, the targets of each location) and the store (history, diagrams).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::availability::{Availability, IsoWeek, Period, Timeline, local_date};
use crate::clock::SharedClock;
use crate::diagrams::draw_week;
use crate::domain::{Location, LocationId, PowerEvent};
use crate::errors::ErrorChain;
use crate::notify::{DiagramImage, LocationState, MonitorQuery, QueryError, targets};
use crate::render::{DiagramRenderer, Language};
use crate::store::{EventFilter, StatusStore};

use super::Engine;

/// [`MonitorQuery`] over a running [`Engine`], its store and a renderer.
#[derive(Clone)]
pub struct EngineQuery {
    engine: Engine,
    store: Arc<dyn StatusStore>,
    renderer: Arc<dyn DiagramRenderer>,
    clock: SharedClock,
    tz: chrono_tz::Tz,
}

impl std::fmt::Debug for EngineQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineQuery")
            .field("tz", &self.tz)
            .finish_non_exhaustive()
    }
}

impl EngineQuery {
    /// Answers from `engine` and `store`, drawing with `renderer`, days in `tz`.
    pub fn new(
        engine: Engine,
        store: Arc<dyn StatusStore>,
        renderer: Arc<dyn DiagramRenderer>,
        clock: SharedClock,
        tz: chrono_tz::Tz,
    ) -> Self {
        Self {
            engine,
            store,
            renderer,
            clock,
            tz,
        }
    }
}

fn failed(e: &(dyn std::error::Error + 'static)) -> QueryError {
    QueryError(ErrorChain(e).to_string())
}

#[async_trait]
impl MonitorQuery for EngineQuery {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn timezone(&self) -> chrono_tz::Tz {
        self.tz
    }

    fn locations_for(&self, instance: &str, chat: &str) -> Vec<LocationState> {
        let notifiers = &self.engine.inner.notifiers;
        self.engine
            .locations()
            .into_iter()
            .filter(|l| {
                targets(notifiers, &l.location)
                    .iter()
                    .any(|(n, c)| n.name() == instance && c == chat)
            })
            .map(|l| LocationState {
                location: l.location,
                status: l.status,
                last_seen: l.last_seen,
            })
            .collect()
    }

    async fn today(&self, id: LocationId) -> Result<Availability, QueryError> {
        let now = self.clock.now();
        let period = Period::day(self.tz, local_date(self.tz, now));
        let intervals = self
            .store
            .list_intervals(id, period.start, period.end)
            .await
            .map_err(|e| failed(&e))?;
        Ok(Timeline::new(&intervals, now).availability(&period))
    }

    async fn last_outages(&self, id: LocationId, n: u32) -> Result<Vec<PowerEvent>, QueryError> {
        let filter = EventFilter {
            location_id: Some(id),
            limit: Some(n),
            ..EventFilter::default()
        };
        self.store
            .list_events(&filter)
            .await
            .map_err(|e| failed(&e))
    }

    async fn week_diagram(
        &self,
        location: &Location,
        language: Language,
    ) -> Result<DiagramImage, QueryError> {
        let now = self.clock.now();
        draw_week(
            &*self.store,
            self.renderer.clone(),
            location,
            IsoWeek::of_instant(now, self.tz),
            (self.tz, language),
            now,
            true,
        )
        .await
        .map_err(|e| failed(&e))
    }
}
