//! Which WebSockets are open: at most `max_sockets` in all, at most `per_session` on one
//! session. A socket beyond the per-session cap is admitted and the session's oldest is told
//! to close, so a shopper who reconnects from a new network is never locked out by sockets
//! that died without a goodbye.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::domain::SessionId;

#[derive(Default)]
struct Open {
    /// Per session, oldest first: each socket's number and its "close now" signal.
    sessions: HashMap<SessionId, VecDeque<(u64, Arc<Notify>)>>,
}

pub struct Sockets {
    total: Arc<Semaphore>,
    per_session: usize,
    open: Arc<Mutex<Open>>,
    next: AtomicU64,
}

/// A socket's place; dropping it frees the place.
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
    open: Arc<Mutex<Open>>,
    session: SessionId,
    number: u64,
    /// Notified when a newer socket on the session takes this one's place.
    pub replaced: Arc<Notify>,
}

impl Sockets {
    pub fn new(max_sockets: usize, per_session: usize) -> Self {
        Sockets {
            total: Arc::new(Semaphore::new(max_sockets.max(1))),
            per_session: per_session.max(1),
            open: Arc::default(),
            next: AtomicU64::new(0),
        }
    }

    /// A place for one more socket on `session`, or `None` when the instance is full.
    pub fn admit(&self, session: SessionId) -> Option<Admitted> {
        let permit = self.total.clone().try_acquire_owned().ok()?;
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let replaced = Arc::new(Notify::new());
        let mut open = self.open.lock().expect("sockets lock");
        let queue = open.sessions.entry(session).or_default();
        while queue.len() >= self.per_session {
            if let Some((_, oldest)) = queue.pop_front() {
                oldest.notify_one();
            }
        }
        queue.push_back((number, replaced.clone()));
        Some(Admitted {
            _permit: permit,
            open: self.open.clone(),
            session,
            number,
            replaced,
        })
    }

    /// Sockets open now.
    pub fn open(&self) -> usize {
        let open = self.open.lock().expect("sockets lock");
        open.sessions.values().map(VecDeque::len).sum()
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("sockets lock");
        if let Some(queue) = open.sessions.get_mut(&self.session) {
            queue.retain(|(n, _)| *n != self.number);
            if queue.is_empty() {
                open.sessions.remove(&self.session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_newer_socket_replaces_the_oldest_and_the_total_is_capped() {
        let sockets = Sockets::new(3, 2);
        let (a, b) = (SessionId::new(), SessionId::new());
        let first = sockets.admit(a).unwrap();
        let second = sockets.admit(a).unwrap();
        let third = sockets.admit(a).unwrap();
        // The oldest was told to go; its notification waits for it.
        first.replaced.notified().await;
        assert!(sockets.admit(b).is_none(), "three places in all");
        drop(first);
        assert_eq!(sockets.open(), 2);
        let other = sockets.admit(b).unwrap();
        drop((second, third, other));
        assert_eq!(sockets.open(), 0);
        assert!(sockets.open.lock().unwrap().sessions.is_empty());
    }
}
