//! Frames committed by another instance (a webhook that landed there, a socket there)
//! reach this instance's sockets through the store's announcements (Postgres
//! LISTEN/NOTIFY). Sockets drop what they already sent, so an echo of our own is harmless.
//! The feed is opened before the instance accepts its first socket (`app::build`): a
//! socket's replay reads the store, and a frame committed after that read reaches it only
//! if the instance was listening already.

use futures_util::StreamExt;

use super::Workflow;
use super::frames::Numbered;
use crate::store::FrameFeed;

pub async fn run(flow: Workflow, mut feed: FrameFeed) {
    while let Some((id, first, last)) = feed.next().await {
        if !flow.hub.is_watched(id) {
            continue;
        }
        // Another instance moved the session: the copy kept here is behind.
        flow.hub.forget_latest(id);
        match flow
            .store
            .frames_after(id, first - 1, last - first + 1)
            .await
        {
            Ok(frames) => {
                let numbered = frames
                    .into_iter()
                    .map(|f| Numbered {
                        seq: f.seq,
                        frame: f.frame,
                    })
                    .collect();
                flow.hub.publish(id, numbered);
            }
            Err(e) => tracing::warn!(session_id = %id, error = %e, "could not relay frames"),
        }
    }
}
