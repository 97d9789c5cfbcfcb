//! Real-time push registered through a stream configuration call (`[push] registration =
//! "stream"`, OpenID Shared Signals §8.1.1) instead of a subscription's CallbackUrl: creating
//! the TPP's stream with a mailbox as its endpoint, moving it, deleting it, and deleting what
//! earlier scenarios left (a stream API need not list streams, so the run remembers them).

use serde_json::{Value, json};

use super::{HarnessWorld, StepResult, fail};
use crate::harness::profile::{BankEventType, StreamActions, Trigger};

/// What the run remembers streams under (see `RunContext::note_created`).
const KIND: &str = "stream";

impl HarnessWorld {
    /// The profile's stream actions, if it registers receivers by stream.
    pub fn stream_actions(&self) -> Option<StreamActions> {
        let ctx = self.ctx.as_ref()?;
        ctx.profile.push_registration.stream().cloned()
    }

    /// Runs stream `action` for TPP `name` with the stream placeholders `extra`; returns the
    /// answer's JSON. An accepted call is the moment pushes are judged from
    /// ([`changed_at`](HarnessWorld::changed_at)), as an accepted change of a subscription is.
    async fn stream_call(
        &mut self,
        name: &str,
        action: &Trigger,
        extra: Vec<(&'static str, String)>,
    ) -> Result<Option<Value>, String> {
        let ctx = self.ctx()?;
        let event_type = self
            .default_event_type()
            .or_else(|_| ctx.profile.bank.event_types.first().cloned().ok_or(()))
            .map_err(|_| "the profile names no event type".to_string())?;
        let mut request = self.trigger_request(name, event_type, true).await?;
        request.extra = extra;
        let outcome = ctx.fire_with(action, &request).await?;
        let answered = outcome.exchange.as_ref().and_then(|ex| ex.finished);
        self.changed_at = Some(answered.unwrap_or_else(std::time::Instant::now));
        self.evidence.extend(outcome.exchange);
        Ok(outcome.output)
    }

    /// Creates TPP `name`'s stream delivering `types` (every type the profile names when
    /// `None`) to `url`, and remembers its id.
    pub async fn create_stream(
        &mut self,
        name: &str,
        url: &str,
        types: Option<Vec<BankEventType>>,
    ) -> StepResult {
        let ctx = self.ctx()?;
        let Some(actions) = self.stream_actions() else {
            return fail("the profile registers no push by stream");
        };
        let types = types.unwrap_or_else(|| {
            let listed = &ctx.profile.bank.event_types;
            if listed.is_empty() {
                ctx.profile.trigger_types.clone()
            } else {
                listed.clone()
            }
        });
        let urns: Vec<&str> = types.iter().filter_map(|t| t.urn.as_deref()).collect();
        let codes: Vec<&str> = types.iter().map(BankEventType::code).collect();
        let extra = vec![
            ("endpoint_url", url.to_string()),
            ("events_requested", json!(urns).to_string()),
            ("event_types", json!(codes).to_string()),
        ];
        let answer = self
            .stream_call(name, &actions.create, extra)
            .await
            .map_err(|e| format!("cannot create TPP {name}'s stream: {e}"))?;
        let id = answer
            .as_ref()
            .and_then(|v| v.pointer(&actions.id_pointer))
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .ok_or_else(|| {
                format!(
                    "the stream configuration answer has no stream id at {} (push.stream_id_pointer)",
                    actions.id_pointer
                )
            })?;
        let state = self.tpp(name).await?;
        state.stream_id = Some(id.clone());
        let client = state.id.client_id.clone();
        ctx.note_created(KIND, &client, &id, true);
        Ok(())
    }

    /// Points TPP `name`'s stream at `url` (`[push.stream_update]`).
    pub async fn move_stream(&mut self, name: &str, url: &str) -> StepResult {
        let update = self.stream_actions().and_then(|a| a.update);
        let (Some(update), Some(id)) = (update, self.tpp(name).await?.stream_id.clone()) else {
            return fail(format!(
                "TPP {name} has no stream to move, or the profile names no push.stream_update"
            ));
        };
        let extra = vec![("stream_id", id), ("endpoint_url", url.to_string())];
        self.stream_call(name, &update, extra)
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot move TPP {name}'s stream: {e}"))
    }

    /// Deletes TPP `name`'s stream of this scenario (`[push.stream_delete]`).
    pub async fn delete_stream(&mut self, name: &str) -> StepResult {
        let Some(id) = self.tpp(name).await?.stream_id.take() else {
            return fail(format!("TPP {name} has no stream in this scenario"));
        };
        self.delete_stream_id(name, &id, true).await
    }

    /// Deletes stream `id` of TPP `name`; `strict`: a refusal fails the step (else it is one
    /// an earlier scenario already deleted).
    async fn delete_stream_id(&mut self, name: &str, id: &str, strict: bool) -> StepResult {
        let ctx = self.ctx()?;
        let Some(delete) = self.stream_actions().and_then(|a| a.delete) else {
            return fail("the profile names no push.stream_delete");
        };
        let extra = vec![("stream_id", id.to_string())];
        let outcome = self.stream_call(name, &delete, extra).await;
        let client = self.tpp(name).await?.id.client_id.clone();
        match outcome {
            Ok(_) => {
                ctx.note_created(KIND, &client, id, false);
                Ok(())
            }
            Err(_) if !strict => {
                ctx.note_created(KIND, &client, id, false);
                Ok(())
            }
            Err(e) => fail(format!("cannot delete TPP {name}'s stream {id}: {e}")),
        }
    }

    /// Deletes the streams earlier scenarios created for TPP `name` (when the profile can).
    pub(super) async fn delete_old_streams(&mut self, name: &str) -> StepResult {
        if self.stream_actions().and_then(|a| a.delete).is_none() {
            return Ok(());
        }
        let ctx = self.ctx()?;
        let client = self.tpp(name).await?.id.client_id.clone();
        for id in ctx.created(KIND, &client) {
            self.delete_stream_id(name, &id, false).await?;
        }
        self.tpp(name).await?.stream_id = None;
        Ok(())
    }
}
