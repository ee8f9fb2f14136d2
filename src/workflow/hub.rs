//! Fan-out of a session's frames to every socket on it, one turn at a time per session
//! within this instance (across instances the version column decides), and the session as
//! this instance last stored or read it, kept while a socket or a turn holds it here, so
//! that a socket's turns do not read it again. A copy another instance has moved on from
//! fails its next commit's version guard and is read afresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedMutexGuard, broadcast};

use super::frames::Numbered;
use crate::domain::SessionId;
use crate::store::Session;

type Sessions = Arc<Mutex<HashMap<SessionId, Entry>>>;

/// Frames buffered per session before a slow socket must catch up from storage. The
/// buffer is allocated whole for every watched session (about 32 bytes a slot), and a turn
/// sends a handful of frames, or a few dozen pieces when a model streams.
const CHANNEL_CAPACITY: usize = 64;

#[derive(Default)]
pub struct Hub {
    sessions: Sessions,
}

/// This instance's turn on a session; when it ends and nobody listens, the session is
/// forgotten here.
pub struct TurnLock {
    guard: Option<OwnedMutexGuard<()>>,
    sessions: Sessions,
    id: SessionId,
}

impl Drop for TurnLock {
    fn drop(&mut self) {
        drop(self.guard.take());
        forget_if_idle(&self.sessions, self.id, 0);
    }
}

/// Forgets `id` when nobody listens (but `leaving` listeners about to go) and nobody is
/// taking a turn.
fn forget_if_idle(sessions: &Mutex<HashMap<SessionId, Entry>>, id: SessionId, leaving: usize) {
    let mut sessions = sessions.lock().expect("hub lock");
    let idle = sessions
        .get(&id)
        .is_some_and(|e| e.frames.receiver_count() <= leaving && Arc::strong_count(&e.turn) == 1);
    if idle {
        sessions.remove(&id);
    }
}

/// One listener's frames of one session; when the last listener and turn are gone, the
/// session is forgotten here.
pub struct Subscription {
    frames: broadcast::Receiver<Arc<Numbered>>,
    sessions: Sessions,
    id: SessionId,
}

impl Subscription {
    pub async fn recv(&mut self) -> Result<Arc<Numbered>, broadcast::error::RecvError> {
        self.frames.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // This receiver is dropped after this function: it is the one listener leaving.
        forget_if_idle(&self.sessions, self.id, 1);
    }
}

struct Entry {
    frames: broadcast::Sender<Arc<Numbered>>,
    turn: Arc<tokio::sync::Mutex<()>>,
    /// The session as last stored or read here; boxed, so that sessions nobody keeps a
    /// copy of cost the map no more than a pointer.
    latest: Option<Box<Session>>,
}

impl Entry {
    fn new() -> Self {
        Entry {
            frames: broadcast::channel(CHANNEL_CAPACITY).0,
            turn: Arc::default(),
            latest: None,
        }
    }
}

impl Hub {
    fn with_entry<T>(&self, id: SessionId, f: impl FnOnce(&mut Entry) -> T) -> T {
        let mut sessions = self.sessions.lock().expect("hub lock");
        f(sessions.entry(id).or_insert_with(Entry::new))
    }

    /// Frames published on `id` from now on, until the subscription is dropped.
    pub fn subscribe(&self, id: SessionId) -> Subscription {
        Subscription {
            frames: self.with_entry(id, |e| e.frames.subscribe()),
            sessions: Arc::clone(&self.sessions),
            id,
        }
    }

    pub fn publish(&self, id: SessionId, frames: Vec<Numbered>) {
        let sender = self
            .sessions
            .lock()
            .expect("hub lock")
            .get(&id)
            .map(|e| e.frames.clone());
        if let Some(sender) = sender {
            for f in frames {
                let _ = sender.send(Arc::new(f));
            }
        }
    }

    /// Waits for this session's turn: one step at a time per session on this instance.
    pub async fn lock(&self, id: SessionId) -> TurnLock {
        let turn = self.with_entry(id, |e| Arc::clone(&e.turn));
        let guard = turn.lock_owned().await;
        TurnLock {
            guard: Some(guard),
            sessions: Arc::clone(&self.sessions),
            id,
        }
    }

    /// Keeps `session` as the latest, while a socket or turn holds it here and it is newer
    /// than the copy kept.
    pub fn remember(&self, session: &Session) {
        let mut sessions = self.sessions.lock().expect("hub lock");
        if let Some(e) = sessions.get_mut(&session.id) {
            let older = e
                .latest
                .as_ref()
                .is_none_or(|l| l.version <= session.version);
            if older {
                e.latest = Some(Box::new(session.clone()));
            }
        }
    }

    /// The session as last stored or read here, if kept.
    pub fn latest(&self, id: SessionId) -> Option<Session> {
        let sessions = self.sessions.lock().expect("hub lock");
        sessions.get(&id).and_then(|e| e.latest.as_deref().cloned())
    }

    /// Whether a copy of `id` is kept here.
    pub fn keeps(&self, id: SessionId) -> bool {
        let sessions = self.sessions.lock().expect("hub lock");
        sessions.get(&id).is_some_and(|e| e.latest.is_some())
    }

    /// Frames up to `last` were stored without a state change.
    pub fn framed(&self, id: SessionId, last: i64) {
        let mut sessions = self.sessions.lock().expect("hub lock");
        if let Some(s) = sessions.get_mut(&id).and_then(|e| e.latest.as_mut()) {
            s.frame_seq = s.frame_seq.max(last);
        }
    }

    /// Drops the kept copy: another writer moved the session.
    pub fn forget_latest(&self, id: SessionId) {
        let mut sessions = self.sessions.lock().expect("hub lock");
        if let Some(e) = sessions.get_mut(&id) {
            e.latest = None;
        }
    }

    /// Whether any socket here listens to `id`.
    pub fn is_watched(&self, id: SessionId) -> bool {
        let sessions = self.sessions.lock().expect("hub lock");
        sessions
            .get(&id)
            .is_some_and(|e| e.frames.receiver_count() > 0)
    }

    /// Sessions currently known here (sockets or turns in progress).
    pub fn len(&self) -> usize {
        self.sessions.lock().expect("hub lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_is_forgotten_once_its_turn_ends_and_nobody_listens() {
        let hub = Hub::default();
        let (quiet, watched) = (SessionId::new(), SessionId::new());
        drop(hub.lock(quiet).await);
        assert!(
            hub.is_empty(),
            "nothing is kept for a session nobody watches"
        );

        let socket = hub.subscribe(watched);
        drop(hub.lock(watched).await);
        assert_eq!(hub.len(), 1, "a socket keeps its session");
        let waiting = hub.lock(watched).await;
        drop(socket);
        assert_eq!(hub.len(), 1, "a turn in progress keeps it too");
        drop(waiting);
        assert!(hub.is_empty());
    }
}
