//! Fan-out of a session's frames to every socket on it, and one turn at a time per session
//! within this instance (across instances the version column decides).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedMutexGuard, broadcast};

use super::frames::Numbered;
use crate::domain::SessionId;

/// Frames buffered per session before a slow socket must catch up from storage.
const CHANNEL_CAPACITY: usize = 256;

#[derive(Default)]
pub struct Hub {
    sessions: Mutex<HashMap<SessionId, Entry>>,
}

#[derive(Clone)]
struct Entry {
    frames: broadcast::Sender<Arc<Numbered>>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl Entry {
    fn new() -> Self {
        Entry {
            frames: broadcast::channel(CHANNEL_CAPACITY).0,
            turn: Arc::default(),
        }
    }
}

impl Hub {
    fn entry(&self, id: SessionId) -> Entry {
        let mut sessions = self.sessions.lock().expect("hub lock");
        sessions.entry(id).or_insert_with(Entry::new).clone()
    }

    /// Frames published on `id` from now on.
    pub fn subscribe(&self, id: SessionId) -> broadcast::Receiver<Arc<Numbered>> {
        self.entry(id).frames.subscribe()
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

    /// Waits for this session's turn.
    pub async fn turn(&self, id: SessionId) -> OwnedMutexGuard<()> {
        self.entry(id).turn.lock_owned().await
    }

    /// Forgets a session nobody listens to and nobody is taking a turn on.
    pub fn release(&self, id: SessionId) {
        let mut sessions = self.sessions.lock().expect("hub lock");
        let idle = sessions
            .get(&id)
            .is_some_and(|e| e.frames.receiver_count() == 0 && Arc::strong_count(&e.turn) == 1);
        if idle {
            sessions.remove(&id);
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
