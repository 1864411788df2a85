//! Stories of the diagram scheduler on a controllable clock (tokio's paused time drives both
//! the timers and `TokioClock`): daily posts, hourly edits, a restart in the middle, a schedule
//! missed while the monitor was down, a message deleted in the chat, failures and retries.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use outage_core::availability::IsoWeek;
use outage_core::config::DiagramConfig;
use outage_core::diagrams::DiagramScheduler;
use outage_core::keys::KeyHash;
use outage_core::memory_store::MemoryStore;
use outage_core::notify::{
    Alert, DaySummary, DeliveryContext, DiagramImage, Notifier, NotifyError,
};
use outage_core::render::{DiagramRenderer, ImageFormat, Language, RenderError, WeekDiagram};
use outage_core::source::CancellationToken;
use outage_core::store::{EventChange, IntervalSwitch, StatusStore, Transition};
use outage_core::*;

const TZ: chrono_tz::Tz = chrono_tz::Europe::Kyiv;

fn kyiv(d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    TZ.with_ymd_and_hms(2026, 11, d, h, mi, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

/// Draws a "picture" naming the location, the week and how many intervals it saw.
#[derive(Debug)]
struct TextRenderer;

impl DiagramRenderer for TextRenderer {
    fn render(&self, w: &WeekDiagram, _f: ImageFormat) -> Result<Vec<u8>, RenderError> {
        Ok(format!("{}|{}|{}", w.location_name, w.monday, w.intervals.len()).into_bytes())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Post {
        chat: String,
        id: String,
        week: IsoWeek,
        at: DateTime<Utc>,
    },
    Edit {
        id: String,
        week: IsoWeek,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Default)]
struct BoardState {
    next_id: u32,
    ops: Vec<Op>,
    gone: HashSet<String>,
    faults: VecDeque<NotifyError>,
    attempts: Vec<DateTime<Utc>>,
    /// The day-before summary of every image posted.
    yesterdays: Vec<Option<DaySummary>>,
}

/// A chat that shows diagram posts and edits, and can lose messages or fail.
#[derive(Debug, Clone)]
struct Board {
    state: Arc<Mutex<BoardState>>,
    clock: TokioClock,
}

impl Board {
    fn new(clock: TokioClock) -> Self {
        Self {
            state: Arc::default(),
            clock,
        }
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, BoardState> {
        self.state.lock().unwrap()
    }
    fn ops(&self) -> Vec<Op> {
        self.lock().ops.clone()
    }
    fn posts(&self) -> Vec<Op> {
        self.ops()
            .into_iter()
            .filter(|o| matches!(o, Op::Post { .. }))
            .collect()
    }
    fn edits(&self) -> Vec<Op> {
        self.ops()
            .into_iter()
            .filter(|o| matches!(o, Op::Edit { .. }))
            .collect()
    }
    fn attempts(&self) -> Vec<DateTime<Utc>> {
        self.lock().attempts.clone()
    }
}

#[async_trait]
impl Notifier for Board {
    fn name(&self) -> &str {
        "board"
    }
    async fn deliver(
        &self,
        _a: &Alert,
        _c: &DeliveryContext,
    ) -> Result<Option<MessageRef>, NotifyError> {
        Ok(None)
    }
    fn posts_diagrams(&self) -> bool {
        true
    }
    async fn post_diagram(
        &self,
        chat: &str,
        img: &DiagramImage,
    ) -> Result<MessageRef, NotifyError> {
        let at = self.clock.now();
        let mut s = self.lock();
        s.attempts.push(at);
        if let Some(e) = s.faults.pop_front() {
            return Err(e);
        }
        s.next_id += 1;
        s.yesterdays.push(img.yesterday);
        let id = format!("m{}", s.next_id);
        s.ops.push(Op::Post {
            chat: chat.into(),
            id: id.clone(),
            week: img.week,
            at,
        });
        Ok(MessageRef {
            notifier: "board".into(),
            chat: chat.into(),
            message_id: id,
        })
    }
    async fn update_diagram(&self, m: &MessageRef, img: &DiagramImage) -> Result<(), NotifyError> {
        let at = self.clock.now();
        let mut s = self.lock();
        s.attempts.push(at);
        if let Some(e) = s.faults.pop_front() {
            return Err(e);
        }
        if s.gone.contains(&m.message_id) {
            return Err(NotifyError::MessageGone("message to edit not found".into()));
        }
        s.ops.push(Op::Edit {
            id: m.message_id.clone(),
            week: img.week,
            at,
        });
        Ok(())
    }
}

struct World {
    store: Arc<MemoryStore>,
    clock: TokioClock,
    board: Board,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl World {
    /// A world whose clock reads `start`, with one location created at `created`.
    async fn new(start: DateTime<Utc>, created: DateTime<Utc>) -> World {
        let store = Arc::new(MemoryStore::new());
        store
            .create_location(
                &NewLocation {
                    routes: Vec::new(),
                    name: "Home".into(),
                    timeout: Duration::from_secs(30),
                    chat_id: None,
                },
                KeyHash::of("om_test"),
                created,
            )
            .await
            .unwrap();
        let clock = TokioClock::starting_at(start);
        let board = Board::new(clock);
        World {
            store,
            clock,
            board,
            stop: CancellationToken::new(),
            task: None,
        }
    }

    /// Records a diagram message posted by an earlier run of the monitor.
    async fn already_posted(&self, id: &str, posted_at: DateTime<Utc>, updated_at: DateTime<Utc>) {
        self.store
            .save_diagram_message(&DiagramMessage {
                location_id: LocationId(1),
                notifier: "board".into(),
                chat: "default".into(),
                message_id: id.into(),
                posted_at,
                updated_at,
            })
            .await
            .unwrap();
    }

    fn scheduler(&self) -> DiagramScheduler {
        DiagramScheduler::new(
            &DiagramConfig::default(),
            TZ,
            Language::En,
            self.store.clone(),
            Arc::new(TextRenderer),
            vec![Arc::new(self.board.clone())],
            Arc::new(self.clock),
        )
        .unwrap()
    }

    /// Starts the scheduler (a monitor start).
    async fn start(&mut self) {
        self.stop = CancellationToken::new();
        let s = self.scheduler();
        self.task = Some(tokio::spawn(s.run(self.stop.clone())));
        settle().await;
    }

    /// Stops it (a monitor stop).
    async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }

    /// Lets time pass until `t` (plus a second, so whatever was due at `t` has run).
    async fn until(&self, t: DateTime<Utc>) {
        let d = (t - self.clock.now()).to_std().unwrap_or_default();
        tokio::time::sleep(d + Duration::from_secs(1)).await;
        settle().await;
    }

    async fn stored_id(&self) -> Option<String> {
        let ms = self.store.diagram_messages().await.unwrap();
        assert!(ms.len() <= 1, "one message per location and chat: {ms:?}");
        ms.into_iter().next().map(|m| m.message_id)
    }
}

/// Gives spawned tasks (and the renderer's blocking threads) a chance to finish.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}

fn week_of(t: DateTime<Utc>) -> IsoWeek {
    IsoWeek::of_instant(t, TZ)
}

#[tokio::test(start_paused = true)]
async fn posts_daily_at_eight_and_edits_every_hour() {
    let mut w = World::new(kyiv(23, 7, 30), kyiv(23, 7, 0)).await;
    w.start().await;
    assert!(w.board.ops().is_empty(), "nothing is due at 07:30");

    w.until(kyiv(23, 8, 0)).await;
    assert_eq!(
        w.board.ops(),
        vec![Op::Post {
            chat: "default".into(),
            id: "m1".into(),
            week: week_of(kyiv(23, 8, 0)),
            at: kyiv(23, 8, 0)
        }]
    );

    w.until(kyiv(23, 11, 0)).await;
    let edits = w.board.edits();
    assert_eq!(edits.len(), 3, "09:00, 10:00, 11:00: {edits:?}");
    for (op, h) in edits.iter().zip([9, 10, 11]) {
        assert_eq!(
            op,
            &Op::Edit {
                id: "m1".into(),
                week: week_of(kyiv(23, 8, 0)),
                at: kyiv(23, h, 0)
            }
        );
    }

    // The next morning: a new message, which the hourly edits then follow.
    w.until(kyiv(24, 9, 0)).await;
    let posts = w.board.posts();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert!(matches!(&posts[1], Op::Post { id, at, .. } if id == "m2" && *at == kyiv(24, 8, 0)));
    assert!(
        matches!(w.board.edits().last(), Some(Op::Edit { id, at, .. }) if id == "m2" && *at == kyiv(24, 9, 0))
    );
    assert_eq!(w.stored_id().await.as_deref(), Some("m2"));
    // 08:00 is a post, not also an edit: 09..=23 on the 23rd, 00..=07 and 09 on the 24th.
    assert_eq!(w.board.edits().len(), 15 + 8 + 1);
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_in_the_middle_edits_the_same_message() {
    let mut w = World::new(kyiv(23, 7, 59), kyiv(20, 12, 0)).await;
    // Posted yesterday, so the first start does not count as missing today's post.
    w.already_posted("old", kyiv(22, 8, 0), kyiv(23, 7, 0))
        .await;
    w.start().await;
    w.until(kyiv(23, 9, 0)).await;
    w.stop().await;
    assert_eq!(w.board.posts().len(), 1);

    w.until(kyiv(23, 9, 30)).await;
    w.start().await;
    assert_eq!(w.board.posts().len(), 1, "no second post after the restart");
    w.until(kyiv(23, 10, 0)).await;
    assert_eq!(
        w.board.edits().last(),
        Some(&Op::Edit {
            id: "m1".into(),
            week: week_of(kyiv(23, 8, 0)),
            at: kyiv(23, 10, 0)
        })
    );
    assert_eq!(w.board.edits().len(), 2, "09:00 and 10:00 only");
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_post_missed_while_down_happens_once_at_start() {
    let mut w = World::new(kyiv(24, 10, 30), kyiv(20, 12, 0)).await;
    w.already_posted("yesterday", kyiv(23, 8, 0), kyiv(23, 23, 0))
        .await;
    w.start().await;
    assert_eq!(
        w.board.ops(),
        vec![Op::Post {
            chat: "default".into(),
            id: "m1".into(),
            week: week_of(kyiv(24, 10, 30)),
            at: kyiv(24, 10, 30)
        }],
        "one catch-up post, and yesterday's message is not edited"
    );
    w.until(kyiv(24, 11, 0)).await;
    assert_eq!(w.board.posts().len(), 1);
    assert!(matches!(w.board.edits().as_slice(), [Op::Edit { id, .. }] if id == "m1"));
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_update_missed_while_down_happens_once_at_start() {
    let mut w = World::new(kyiv(24, 10, 30), kyiv(20, 12, 0)).await;
    w.already_posted("today", kyiv(24, 8, 0), kyiv(24, 8, 0))
        .await;
    w.start().await;
    assert_eq!(
        w.board.ops(),
        vec![Op::Edit {
            id: "today".into(),
            week: week_of(kyiv(24, 8, 0)),
            at: kyiv(24, 10, 30)
        }]
    );
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_new_location_waits_for_the_next_post_time() {
    let mut w = World::new(kyiv(24, 10, 30), kyiv(24, 10, 0)).await;
    w.start().await;
    w.until(kyiv(25, 7, 59)).await;
    assert!(w.board.ops().is_empty(), "{:?}", w.board.ops());
    w.until(kyiv(25, 8, 0)).await;
    assert_eq!(w.board.posts().len(), 1);
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_deleted_message_is_posted_again() {
    let mut w = World::new(kyiv(23, 7, 59), kyiv(20, 12, 0)).await;
    w.already_posted("old", kyiv(22, 8, 0), kyiv(23, 7, 0))
        .await;
    w.start().await;
    w.until(kyiv(23, 8, 0)).await;
    w.board.lock().gone.insert("m1".into());
    w.until(kyiv(23, 9, 0)).await;
    let posts = w.board.posts();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert!(matches!(&posts[1], Op::Post { id, at, .. } if id == "m2" && *at == kyiv(23, 9, 0)));
    assert_eq!(w.stored_id().await.as_deref(), Some("m2"));
    w.until(kyiv(23, 10, 0)).await;
    assert!(matches!(w.board.edits().as_slice(), [Op::Edit { id, .. }] if id == "m2"));
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn failures_are_retried_a_minute_later_and_rate_limits_honoured() {
    let mut w = World::new(kyiv(23, 7, 59), kyiv(20, 12, 0)).await;
    w.already_posted("old", kyiv(22, 8, 0), kyiv(23, 7, 0))
        .await;
    {
        let mut s = w.board.lock();
        s.faults
            .push_back(NotifyError::Transient("HTTP 502".into()));
        s.faults.push_back(NotifyError::RateLimited {
            retry_after: Duration::from_secs(300),
        });
    }
    w.start().await;
    w.until(kyiv(23, 8, 10)).await;
    let t = |s: i64| kyiv(23, 8, 0) + chrono::TimeDelta::seconds(s);
    assert_eq!(w.board.attempts(), vec![t(0), t(60), t(360)]);
    assert_eq!(w.board.posts().len(), 1, "exactly one message in the end");
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_waits_for_the_next_schedule() {
    let mut w = World::new(kyiv(23, 7, 59), kyiv(20, 12, 0)).await;
    w.already_posted("old", kyiv(22, 8, 0), kyiv(23, 7, 0))
        .await;
    w.board
        .lock()
        .faults
        .push_back(NotifyError::Permanent("chat not found".into()));
    w.start().await;
    w.until(kyiv(23, 8, 59)).await;
    assert_eq!(w.board.attempts(), vec![kyiv(23, 8, 0)]);
    // The hourly tick finds the post still due (yesterday's message is older than 08:00).
    w.until(kyiv(23, 9, 0)).await;
    assert_eq!(w.board.attempts().len(), 2);
    assert!(matches!(w.board.posts().as_slice(), [Op::Post { at, .. }] if *at == kyiv(23, 9, 0)));
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn disabled_locations_and_non_posting_notifiers_get_nothing() {
    let mut w = World::new(kyiv(23, 7, 59), kyiv(20, 12, 0)).await;
    w.store
        .update_location(
            LocationId(1),
            &LocationPatch {
                enabled: Some(false),
                ..LocationPatch::default()
            },
            kyiv(20, 12, 0),
        )
        .await
        .unwrap();
    w.start().await;
    w.until(kyiv(23, 9, 0)).await;
    assert!(w.board.ops().is_empty());
    w.stop().await;

    let console: Arc<dyn Notifier> = Arc::new(outage_core::notify::ConsoleNotifier::new(TZ));
    let s = DiagramScheduler::new(
        &DiagramConfig::default(),
        TZ,
        Language::En,
        w.store.clone(),
        Arc::new(TextRenderer),
        vec![console],
        Arc::new(w.clock),
    )
    .unwrap();
    assert!(!s.has_targets());
}

#[tokio::test(start_paused = true)]
async fn a_message_of_a_finished_week_is_no_longer_edited() {
    // Sunday 29 Nov 2026 is the last day of ISO week 48.
    let mut w = World::new(kyiv(29, 22, 59), kyiv(20, 12, 0)).await;
    w.already_posted("sunday", kyiv(29, 8, 0), kyiv(29, 22, 0))
        .await;
    w.start().await;
    w.until(kyiv(30, 3, 0)).await;
    let edits = w.board.edits();
    // 23:00 on Sunday, then 00:00 Monday draws the finished week once more; then it stops.
    assert_eq!(edits.len(), 2, "{edits:?}");
    assert!(
        edits
            .iter()
            .all(|e| matches!(e, Op::Edit { week, .. } if week.week() == 48))
    );
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_chat_gets_nothing_more_until_retry_after() {
    let mut w = World::new(kyiv(23, 7, 59), kyiv(20, 12, 0)).await;
    for name in ["Office", "Dacha"] {
        w.store
            .create_location(
                &NewLocation {
                    routes: Vec::new(),
                    name: name.into(),
                    timeout: Duration::from_secs(30),
                    chat_id: None,
                },
                KeyHash::of(name),
                kyiv(20, 12, 0),
            )
            .await
            .unwrap();
    }
    w.board.lock().faults.push_back(NotifyError::RateLimited {
        retry_after: Duration::from_secs(120),
    });
    // All three missed yesterday's post; the first try at start is refused with
    // retry_after = 120 s; the 08:00 schedule comes and goes without a request to that chat.
    w.start().await;
    let start = kyiv(23, 7, 59);
    w.until(kyiv(23, 8, 0)).await;
    assert_eq!(
        w.board.attempts(),
        vec![start],
        "nothing more before retry_after"
    );
    w.until(start + chrono::TimeDelta::seconds(120)).await;
    let t = start + chrono::TimeDelta::seconds(120);
    assert_eq!(w.board.attempts(), vec![start, t, t, t]);
    assert_eq!(w.board.posts().len(), 3);
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn each_caption_carries_the_day_before() {
    let mut w = World::new(kyiv(23, 7, 30), kyiv(23, 7, 0)).await;
    let id = w.store.list_locations().await.unwrap()[0].location.id;
    for (at, kind) in [
        (kyiv(23, 7, 0), IntervalKind::Up),
        (kyiv(23, 10, 0), IntervalKind::Down),
        (kyiv(23, 12, 0), IntervalKind::Up),
        (kyiv(23, 20, 0), IntervalKind::Down),
        (kyiv(23, 20, 30), IntervalKind::Up),
    ] {
        let status = match kind {
            IntervalKind::Down => Status::Down,
            _ => Status::Up,
        };
        w.store
            .apply_transition(&Transition {
                location_id: id,
                status,
                interval: Some(IntervalSwitch {
                    at,
                    kind,
                    relabel_closed_as: None,
                }),
                event: EventChange::None,
                notifications: Vec::new(),
            })
            .await
            .unwrap();
    }
    w.start().await;
    w.until(kyiv(23, 8, 0)).await;
    w.until(kyiv(24, 8, 0)).await;
    let y = w.board.lock().yesterdays.clone();
    assert_eq!(y.len(), 2, "{y:?}");
    assert_eq!(
        y[0], None,
        "the location did not exist the day before its first post"
    );
    assert_eq!(
        y[1],
        Some(DaySummary {
            down: chrono::TimeDelta::minutes(150),
            outages: 2
        })
    );
    w.stop().await;
}
