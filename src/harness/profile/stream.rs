//! How the harness registers its callback receiver for real-time push: as the CallbackUrl of
//! the TPP's event subscription (OBIE, the default), or through a stream configuration call
//! (`[push] registration = "stream"`, OpenID Shared Signals §8.1.1: the receiver's URL is the
//! stream's `delivery.endpoint_url`). The stream actions have `[trigger]`'s shape and take
//! `{endpoint_url}`, `{events_requested}` (a JSON array of the requested event type URIs),
//! `{event_types}` (the same types as the profile names them) and `{stream_id}` (what the
//! create action's answer holds at `stream_id_pointer`).

use super::trigger::action_at;
use super::{BankSettings, ProfileError, PushFile, Trigger, err, one_of};

/// The stream configuration calls of a bank that registers receivers by stream.
#[derive(Debug, Clone)]
pub struct StreamActions {
    /// Creates the stream delivering to `{endpoint_url}`.
    pub create: Trigger,
    /// Points stream `{stream_id}` at another `{endpoint_url}`.
    pub update: Option<Trigger>,
    /// Deletes stream `{stream_id}`.
    pub delete: Option<Trigger>,
    /// JSON pointer to the stream id in the create action's answer.
    pub id_pointer: String,
}

/// How the receiver is registered.
#[derive(Debug, Clone)]
pub enum PushRegistration {
    /// The CallbackUrl of the TPP's event subscription.
    Subscription,
    /// A stream configuration call (boxed: the actions are large, and most profiles have none).
    Stream(Box<StreamActions>),
}

impl PushRegistration {
    pub fn stream(&self) -> Option<&StreamActions> {
        match self {
            PushRegistration::Stream(s) => Some(s),
            PushRegistration::Subscription => None,
        }
    }
}

/// Takes `[push] registration` and the stream actions out of `p` and validates them.
pub(super) fn registration(
    p: &mut PushFile,
    bank: &BankSettings,
) -> Result<PushRegistration, ProfileError> {
    let stream = one_of(
        "push.registration",
        p.registration.take().as_deref(),
        false,
        &[("subscription", false), ("stream", true)],
    )?;
    let (create, update, delete) = (
        p.stream.take(),
        p.stream_update.take(),
        p.stream_delete.take(),
    );
    let pointer = p.stream_id_pointer.take();
    if !stream {
        if create.is_some() || update.is_some() || delete.is_some() || pointer.is_some() {
            return err(
                "push.stream",
                "the stream actions are for push.registration = \"stream\"",
            );
        }
        return Ok(PushRegistration::Subscription);
    }
    let Some(create) = create else {
        return err(
            "push.stream",
            "is needed with push.registration = \"stream\" (the call that creates a stream)",
        );
    };
    Ok(PushRegistration::Stream(Box::new(StreamActions {
        create: action_at(create, "push.stream", bank)?,
        update: update
            .map(|f| action_at(f, "push.stream_update", bank))
            .transpose()?,
        delete: delete
            .map(|f| action_at(f, "push.stream_delete", bank))
            .transpose()?,
        id_pointer: pointer.unwrap_or_else(|| "/stream_id".into()),
    })))
}
