//! A TPP scenario's view (`obevents test --tpp`): the SETs the referee pushed to the TPP's
//! receiver with the answers, and what the observation showed once the TPP had processed the
//! control SET. Pushing goes through the run's [`TppRun`]; every push is evidence.

use std::sync::Arc;

use super::{HarnessWorld, fail};
use crate::harness::client::Exchange;
use crate::harness::referee::TppRun;
use crate::harness::referee::push::PushTarget;
use crate::harness::referee::sets::{Crafted, Defect};

/// What the scenario pushed and observed.
#[derive(Debug, Default)]
pub struct RefereeState {
    /// Every push, in order, with the TPP's answer.
    pub pushed: Vec<(Crafted, Exchange)>,
    /// The processed list as read once the control SET showed in it.
    pub processed: Option<Vec<String>>,
    /// Every Yapily-style or Tatra-style webhook sent, in order, with the TPP's answer.
    pub hooks: Vec<(crate::harness::referee::webhooks::Hook, Exchange)>,
}

impl HarnessWorld {
    /// The TPP this run referees.
    pub fn tpp_run(&self) -> Result<Arc<TppRun>, String> {
        self.ctx()?.tpp.clone().ok_or_else(|| {
            "blocked: this scenario referees a TPP (run it with obevents test --tpp)".to_string()
        })
    }

    fn receiver(run: &TppRun) -> Result<&PushTarget, String> {
        run.push
            .as_ref()
            .ok_or_else(|| "blocked: the TPP profile names no [push] receiver".to_string())
    }

    /// Makes up a SET with `defect` and pushes it to the TPP's receiver.
    pub async fn push_to_tpp(&mut self, defect: Defect) -> Result<(), String> {
        let run = self.tpp_run()?;
        let set = run.sets.make(defect)?;
        self.push_crafted(&run, set).await
    }

    /// Rotates the referee to a fresh key — published in its JWKS from now on — and pushes a
    /// valid SET signed with it.
    pub async fn push_with_new_key(&mut self) -> Result<(), String> {
        let run = self.tpp_run()?;
        // RSA key generation takes a while: off the async workers, which time other pushes.
        let key = tokio::task::spawn_blocking(crate::jose::SigningKey::generate)
            .await
            .map_err(|e| format!("cannot make a key: {e}"))?
            .map_err(|e| format!("cannot make a key: {e}"))?;
        run.keys.publish(key.public_jwk());
        let set = run.sets.signed_by(&key)?;
        self.push_crafted(&run, set).await
    }

    /// Pushes the scenario's first SET again, unchanged.
    pub async fn push_again(&mut self) -> Result<(), String> {
        let run = self.tpp_run()?;
        let Some((first, _)) = self.referee.pushed.first() else {
            return fail("no SET was pushed yet");
        };
        let set = first.clone();
        self.push_crafted(&run, set).await
    }

    async fn push_crafted(&mut self, run: &TppRun, set: Crafted) -> Result<(), String> {
        let ex = Self::receiver(run)?.push(&set).await;
        self.record(ex.clone());
        self.referee.pushed.push((set, ex));
        Ok(())
    }

    /// The last push and its answer.
    pub fn last_push(&self) -> Result<&(Crafted, Exchange), String> {
        self.referee
            .pushed
            .last()
            .ok_or_else(|| "no SET was pushed yet".to_string())
    }

    /// Pushes a valid control SET and waits until the observation lists it, keeping the list.
    pub async fn push_control_and_observe(&mut self) -> Result<(), String> {
        let run = self.tpp_run()?;
        let Some(observer) = run.observer.clone() else {
            return fail("blocked: the TPP profile names no [observe] source");
        };
        let set = run.sets.make(Defect::Valid)?;
        let jti = set.jti.clone();
        self.push_crafted(&run, set).await?;
        let (_, ex) = self.last_push()?;
        if !(200..300).contains(&ex.status()) {
            return fail(format!(
                "blocked: the TPP did not accept the valid control SET, so what it processed \
                 cannot be judged: {}",
                ex.summary()
            ));
        }
        let list = observer
            .wait_for(&jti)
            .await
            .map_err(|e| format!("blocked: the control SET never showed as processed: {e}"))?;
        self.referee.processed = Some(list);
        Ok(())
    }
}
