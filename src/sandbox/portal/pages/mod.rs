//! The portal's pages, one file per page: thin handlers that read through the store's and the
//! dialects' own operations (the same ones the JSON helpers use) and hand plain view structs to
//! the templates in `portal/templates/`.

pub mod deliveries;
pub mod events;
pub mod faults;
pub mod overview;
pub mod referee;
pub mod sign_in;
pub mod tpps;
pub mod triggers;

use super::page::{Nav, PortalError};
use super::session::Viewer;
use crate::sandbox::domain::{Client, ClientId, Timestamp};
use crate::sandbox::state::AppState;

/// What every page about one TPP starts from: the TPP (checked against the viewer), its
/// frame, and the moment the page is rendered at.
pub struct Ctx {
    pub id: ClientId,
    pub client: Client,
    pub nav: Nav,
    pub now: Timestamp,
}

/// The context of TPP `requested`'s page `tab`, if the viewer may see it.
pub async fn tpp_ctx(
    st: &AppState,
    viewer: &Viewer,
    requested: &str,
    tab: &'static str,
) -> Result<Ctx, PortalError> {
    let id = viewer.may_see(st, requested).await?;
    let client = st.store.client(&id).await?.ok_or(PortalError::NotFound)?;
    // Read before the page's data: the live stream starts from this mark, so a change made
    // while the page renders or loads is still announced (at worst one needless refresh).
    let mark = st.store.activity(&id).await?;
    let nav = Nav::new(viewer, st.cfg.personality.bank.name(), tab).for_tpp(
        &id,
        &client.client_name,
        &mark,
    );
    Ok(Ctx {
        id,
        client,
        nav,
        now: Timestamp::now(),
    })
}

/// The message of a notice code a redirect carries (`?notice=…`). Only these fixed texts are
/// ever shown, so a crafted link cannot put words on the page.
pub fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "tatra-saved" => "Webhook settings saved.",
        "tatra-activated" => "Webhooks are active from now.",
        "retried" => "The delivery is due now: the push worker sends its next attempt at once.",
        "retry-delivered" => {
            "That delivery was acknowledged already; nothing is sent again (as POST /sandbox/deliveries/{id}/retry answers 409)."
        }
        "retry-in-flight" => "An attempt of that delivery is in flight; retry once it is recorded.",
        "retry-unknown" => "There is no such delivery of this TPP.",
        "faults-saved" => "Faults saved: this TPP's traffic meets them from now on.",
        "faults-cleared" => "This TPP's own faults are cleared.",
        "faults-cleared-all" => "Every TPP's own faults are cleared.",
        "referee-forgotten" => "The published referee run is forgotten.",
        _ => return None,
    })
}
