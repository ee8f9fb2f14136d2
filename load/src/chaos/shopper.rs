//! One shopper under chaos: takes a refund to its end over sockets that die under it. When
//! its socket dies it connects to the next live instance and sends `resume` with the last
//! seq it holds without a hole. It counts frames the store held that a live socket never
//! delivered (gaps) and frames it never received at all, even after resuming (lost).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sqlx::PgPool;

use super::audit;
use super::seen::{Seen, Want, want};
use crate::client::{Opened, Socket};
use crate::cluster::Live;

/// How long a socket may stay quiet before the shopper compares what it holds with the store.
const QUIET: Duration = Duration::from_secs(3);
/// How long frames already in the store may take to reach a live socket.
const GRACE: Duration = Duration::from_secs(3);
/// Pause before the next try when no instance took the socket.
const RETRY: Duration = Duration::from_millis(25);
/// Messages and confirmations a shopper sends before it gives up.
const MAX_ACTIONS: usize = 12;

/// What every shopper of a run shares.
pub struct Stage<'a> {
    pub live: &'a Live,
    pub db: &'a PgPool,
    /// Longest pause before a message or a confirmation.
    pub think_ms: u64,
    /// How long one flow may take.
    pub patience: Duration,
}

/// How one flow went, as its shopper saw it.
#[derive(Debug, Default)]
pub struct Flow {
    pub session_id: String,
    /// The terminal state the shopper saw, or why it gave up.
    pub ended: String,
    pub reconnects: usize,
    pub gaps: usize,
    pub lost: usize,
}

/// Why talking on one socket stopped short of the end.
enum Stop {
    /// The socket died: another instance takes over.
    Dropped,
    GaveUp(String),
}

impl From<anyhow::Error> for Stop {
    fn from(_: anyhow::Error) -> Stop {
        Stop::Dropped
    }
}

struct Shopper<'a> {
    stage: &'a Stage<'a>,
    opened: Opened,
    text: String,
    rng: StdRng,
    deadline: Instant,
    /// When each message or confirmation last went out.
    sent: HashMap<Want, Instant>,
    actions: usize,
    /// The last error frame the server answered with, for the report.
    refused: Option<String>,
}

/// Takes `opened` from its first message to its end, starting on instance `home`.
pub async fn shop(stage: &Stage<'_>, opened: Opened, text: String, home: usize, seed: u64) -> Flow {
    let mut shopper = Shopper {
        stage,
        opened,
        text,
        rng: StdRng::seed_from_u64(seed),
        deadline: Instant::now() + stage.patience,
        sent: HashMap::new(),
        actions: 0,
        refused: None,
    };
    let mut flow = Flow {
        session_id: shopper.opened.id.clone(),
        ..Flow::default()
    };
    flow.ended = shopper.run(home, &mut flow).await;
    flow
}

impl Shopper<'_> {
    /// Connects, talks until the socket dies, and moves on round the ring until the end.
    async fn run(&mut self, home: usize, flow: &mut Flow) -> String {
        let (mut seen, mut next, mut connected) = (Seen::default(), home, false);
        while Instant::now() < self.deadline {
            let live = self.stage.live;
            let Some(i) = live.next_up(next) else {
                tokio::time::sleep(RETRY).await;
                continue;
            };
            next = i + 1;
            let Ok(mut socket) = Socket::connect(live.base(i), &self.opened).await else {
                tokio::time::sleep(RETRY).await;
                continue;
            };
            flow.reconnects += usize::from(connected);
            let resume = std::mem::replace(&mut connected, true);
            match self.talk(&mut socket, &mut seen, flow, resume).await {
                Ok(()) => {
                    socket.close().await;
                    return seen.state().0.to_owned();
                }
                Err(Stop::Dropped) => continue,
                Err(Stop::GaveUp(why)) => return why,
            }
        }
        format!("gave up: still {} when its time ran out", seen.state().0)
    }

    async fn talk(
        &mut self,
        socket: &mut Socket,
        seen: &mut Seen,
        flow: &mut Flow,
        resume: bool,
    ) -> Result<(), Stop> {
        if resume {
            resync(socket, seen).await?;
        }
        loop {
            let now = want(seen);
            match now {
                Want::Done => return self.finish(socket, seen, flow).await,
                Want::Wait => {}
                _ if self.due(now) => self.act(socket, seen, now).await?,
                _ => {}
            }
            self.await_change(socket, seen, flow, now).await?;
        }
    }

    /// Whether to send `now`: not when it went out less than `QUIET` ago. Its answer may
    /// still be on the way (a message sent on a socket that died may have been taken, and a
    /// correction's card follows its `collecting` in a second commit).
    fn due(&self, now: Want) -> bool {
        self.sent.get(&now).is_none_or(|at| at.elapsed() >= QUIET)
    }

    /// Pauses as a shopper would, then says the refund or countersigns the card.
    async fn act(&mut self, socket: &mut Socket, seen: &Seen, now: Want) -> Result<(), Stop> {
        self.actions += 1;
        if self.actions > MAX_ACTIONS {
            let (state, refused) = (seen.state().0, self.refused.as_deref().unwrap_or("-"));
            return Err(Stop::GaveUp(format!(
                "gave up: {MAX_ACTIONS} tries, still {state}, last refused: {refused}"
            )));
        }
        let pause = self.rng.random_range(0..=self.stage.think_ms);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let frame = match (now, seen.card()) {
            (Want::Confirm(_), Some((_, card))) => {
                json!({"type": "confirm", "token": card["token"]})
            }
            _ => json!({"type": "user_message", "text": self.text}),
        };
        socket.send(frame).await?;
        self.sent.insert(now, Instant::now());
        Ok(())
    }

    /// Reads until what the shopper wants changes, an error frame answers, or the socket has
    /// been quiet for `QUIET` (then it checks the store for frames the socket skipped).
    async fn await_change(
        &mut self,
        socket: &mut Socket,
        seen: &mut Seen,
        flow: &mut Flow,
        now: Want,
    ) -> Result<(), Stop> {
        if Instant::now() >= self.deadline {
            let state = seen.state().0;
            return Err(Stop::GaveUp(format!(
                "gave up: still {state} when its time ran out"
            )));
        }
        loop {
            match socket.next_within(QUIET).await? {
                Some(frame) if frame["type"] == "error" => {
                    self.refused = Some(format!("{} ({})", frame["code"], frame["message"]));
                    return Ok(());
                }
                Some(frame) => seen.record(frame),
                None => {
                    self.catch_up(socket, seen, flow).await?;
                    return Ok(());
                }
            }
            if want(seen) != now {
                return Ok(());
            }
        }
    }

    /// Compares what it holds with the store, giving frames on their way `GRACE` to arrive;
    /// frames a live socket skipped are gaps, fetched with `resume`. The store's last seq.
    async fn catch_up(
        &self,
        socket: &mut Socket,
        seen: &mut Seen,
        flow: &mut Flow,
    ) -> Result<i64, Stop> {
        let stored = self.stored_seq().await?;
        if !self.read_until_held(socket, seen, stored).await? {
            flow.gaps += seen.missing(stored);
            resync(socket, seen).await?;
        }
        Ok(stored)
    }

    /// The flow ended: every frame up to the session's last must be here.
    async fn finish(
        &self,
        socket: &mut Socket,
        seen: &mut Seen,
        flow: &mut Flow,
    ) -> Result<(), Stop> {
        let stored = self.catch_up(socket, seen, flow).await?;
        flow.lost = seen.missing(stored);
        Ok(())
    }

    /// Reads for up to `GRACE` until every frame up to `stored` is held; whether they are.
    async fn read_until_held(
        &self,
        socket: &mut Socket,
        seen: &mut Seen,
        stored: i64,
    ) -> Result<bool, Stop> {
        let until = Instant::now() + GRACE;
        while seen.missing(stored) > 0 {
            let left = until.saturating_duration_since(Instant::now());
            match socket.next_within(left).await? {
                Some(frame) => seen.record(frame),
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    async fn stored_seq(&self) -> Result<i64, Stop> {
        audit::frame_seq(self.stage.db, &self.opened.id)
            .await
            .map_err(|e| Stop::GaveUp(format!("gave up: the store did not answer: {e:#}")))
    }
}

/// Sends `resume` from the last frame held without a hole, then a ping: the server answers
/// the ping after it has replayed, so at the pong the shopper holds all the store had.
async fn resync(socket: &mut Socket, seen: &mut Seen) -> Result<(), Stop> {
    let last_seq = seen.contiguous();
    socket
        .send(json!({"type": "resume", "last_seq": last_seq}))
        .await?;
    socket.send(json!({"type": "ping"})).await?;
    loop {
        let frame = socket.next().await?;
        if frame["type"] == "pong" {
            return Ok(());
        }
        seen.record(frame);
    }
}
