//! A TPP scenario's Yapily-style and Tatra-style webhooks (`features/tpp_yapily.feature`,
//! `features/tpp_tatra.feature`): made up by the referee (`referee::webhooks`), sent to the
//! receiver the TPP profile names, each exchange kept as evidence.

use super::{HarnessWorld, fail};
use crate::harness::client::Exchange;
use crate::harness::referee::TppRun;
use crate::harness::referee::webhooks::{
    self, Hook, HookTarget, TatraAuth, TatraKind, YapilyDefect,
};

impl HarnessWorld {
    fn yapily_target(run: &TppRun) -> Result<&HookTarget, String> {
        run.yapily
            .as_ref()
            .ok_or_else(|| "blocked: the TPP profile names no [yapily] receiver".to_string())
    }

    fn tatra_target(run: &TppRun) -> Result<&HookTarget, String> {
        run.tatra
            .as_ref()
            .ok_or_else(|| "blocked: the TPP profile names no [tatra] receiver".to_string())
    }

    /// Makes up a Yapily-style webhook with `defect` and sends it; a reused `jti` is the one of
    /// the scenario's first webhook.
    pub async fn send_yapily(&mut self, defect: YapilyDefect) -> Result<(), String> {
        let run = self.tpp_run()?;
        let target = Self::yapily_target(&run)?;
        let reuse = match defect {
            YapilyDefect::ReusedJti => match self.referee.hooks.first() {
                Some((first, _)) => first.jti.clone(),
                None => return fail("no webhook was sent yet whose jti could be reused"),
            },
            _ => None,
        };
        let hook = webhooks::yapily(&run.sets, &target.url, defect, reuse.as_deref())?;
        let ex = target.send(&hook).await;
        self.keep_hook(hook, ex);
        Ok(())
    }

    /// Makes up a Tatra-style webhook of `kind` with the `Authorization` `auth` says and sends
    /// it.
    pub async fn send_tatra(&mut self, kind: TatraKind, auth: TatraAuth) -> Result<(), String> {
        let run = self.tpp_run()?;
        let target = Self::tatra_target(&run)?;
        let side = run
            .profile
            .tatra
            .as_ref()
            .map(|t| webhooks::TatraSide {
                authorization: t.authorization.as_deref(),
                consent_id: t.consent_id.as_deref(),
            })
            .unwrap_or_default();
        let hook = webhooks::tatra(&run.sets, kind, auth, side)?;
        let ex = target.send(&hook).await;
        self.keep_hook(hook, ex);
        Ok(())
    }

    fn keep_hook(&mut self, hook: Hook, ex: Exchange) {
        self.record(ex.clone());
        self.referee.hooks.push((hook, ex));
    }

    /// The last webhook sent and its answer.
    pub fn last_hook(&self) -> Result<&(Hook, Exchange), String> {
        self.referee
            .hooks
            .last()
            .ok_or_else(|| "no webhook was sent yet".to_string())
    }
}
