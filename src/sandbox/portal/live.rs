//! Live updates: `GET /portal/tpps/{ClientId}/live?mark=…`, a server-sent-events stream that
//! says `change` whenever the TPP's events, deliveries or attempts change, so the open page
//! fetches itself again and swaps its live region in place (no reload; `assets/portal.js`).
//!
//! What wakes it: the TPP's long-poll [`Notify`](tokio::sync::Notify) (an event stored for it,
//! also from another replica through PostgreSQL's LISTEN/NOTIFY) or a short tick, after which
//! it compares the TPP's activity mark (`Store::activity`, one query) with the last one. It
//! starts from the mark the page was rendered at (`mark`), so a change between rendering and
//! connecting is announced too. The tick is what catches push attempts, which wake no poll,
//! and changes made on another replica's worker; it keeps the page at most [`TICK`] behind. Bounded: at most [`MAX_STREAMS`] streams per replica (one
//! more is a 503 and the page simply does not update live), each ends with its session, after
//! [`MAX_LIFE`] (the browser reconnects by itself) or when the sandbox stops. A stream only
//! ever carries the viewer's own TPP (checked as for every page) and no data beyond "changed".

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::OwnedSemaphorePermit;

use super::page::{PortalError, PortalPath, PortalQuery, secure};
use super::session::Viewer;
use crate::sandbox::domain::{ClientId, Timestamp};
use crate::sandbox::state::AppState;

/// Live streams one replica serves at once.
pub const MAX_STREAMS: usize = 64;
/// How often a stream re-reads the activity mark without being woken.
pub const TICK: Duration = Duration::from_millis(500);
/// A stream's longest life; the browser's EventSource reconnects after it.
pub const MAX_LIFE: Duration = Duration::from_secs(300);

struct Live {
    st: AppState,
    client: ClientId,
    mark: String,
    ends: Timestamp,
    _permit: OwnedSemaphorePermit,
}

#[derive(serde::Deserialize)]
pub struct Since {
    /// The activity mark the page was rendered at: a change since then is announced at once.
    mark: Option<String>,
}

/// `GET /portal/tpps/{ClientId}/live?mark=…`.
pub async fn stream(
    State(st): State<AppState>,
    viewer: Viewer,
    PortalPath(id): PortalPath<String>,
    PortalQuery(since): PortalQuery<Since>,
) -> Result<Response, PortalError> {
    let client = viewer.may_see(&st, &id).await?;
    let permit = st
        .live_streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| PortalError::Busy)?;
    let mark = match since.mark {
        Some(m) => m,
        None => st.store.activity(&client).await?,
    };
    let ends = viewer
        .expires
        .min(Timestamp::now().saturating_add(MAX_LIFE));
    let live = Live {
        st,
        client,
        mark,
        ends,
        _permit: permit,
    };
    let hello = Event::default()
        .event("hello")
        .data("watching")
        .retry(Duration::from_secs(3));
    let first = futures::stream::once(async move { Ok::<_, Infallible>(hello) });
    let changes = futures::stream::unfold(live, next_change);
    let mut resp = Sse::new(futures::StreamExt::chain(first, changes))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    secure(resp.headers_mut());
    Ok(resp)
}

/// Waits for the next change of the TPP's activity mark; `None` ends the stream.
async fn next_change(mut live: Live) -> Option<(Result<Event, Infallible>, Live)> {
    let notify = live.st.notifier.of(live.client.as_str());
    loop {
        if Timestamp::now() >= live.ends {
            return None;
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
            _ = live.st.shutdown.cancelled() => return None,
        }
        let mark = match live.st.store.activity(&live.client).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "portal live update: reading the activity mark failed");
                return None;
            }
        };
        if mark != live.mark {
            live.mark = mark;
            let event = Event::default().event("change").data("changed");
            return Some((Ok(event), live));
        }
    }
}
