//! `[tatra]` and the `--tatra-*` flags: when a Tatra-style application's webhooks start after
//! enabling, and how long each other bank of a refresh takes.

use std::time::Duration;

use super::file::TatraFile;

/// When events start after enabling (`[tatra] activation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Activation {
    /// The seed's rule: the next full hour after enabling.
    NextHour,
    /// At once, for a TPP practising against the sandbox.
    Immediate,
}

impl Activation {
    pub fn parse(s: &str) -> Option<Activation> {
        match s {
            "next-hour" => Some(Activation::NextHour),
            "immediate" => Some(Activation::Immediate),
            _ => None,
        }
    }
}

/// `[tatra]`: activation rule and how long each other bank takes to refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct TatraConfig {
    pub activation: Activation,
    /// Bank i (0-based) of a refresh finishes `refresh_delay × (i+1)` after the PUT.
    pub refresh_delay: Duration,
}

impl Default for TatraConfig {
    fn default() -> Self {
        TatraConfig {
            activation: Activation::NextHour,
            refresh_delay: Duration::from_millis(300),
        }
    }
}

pub(super) fn tatra_config(t: TatraFile) -> Result<TatraConfig, String> {
    let mut c = TatraConfig::default();
    if let Some(a) = t.activation {
        c.activation = Activation::parse(&a).ok_or_else(|| {
            format!("config field tatra.activation: {a:?} is not next-hour or immediate")
        })?;
    }
    if let Some(ms) = t.refresh_delay_ms {
        c.refresh_delay = tatra_refresh_delay(ms).map_err(|e| format!("config field tatra.{e}"))?;
    }
    Ok(c)
}

/// The per-bank refresh delay, 1 ms to 10 minutes.
pub fn tatra_refresh_delay(ms: u64) -> Result<Duration, String> {
    if ms == 0 || ms > 600_000 {
        return Err("refresh_delay_ms: must be between 1 and 600000".into());
    }
    Ok(Duration::from_millis(ms))
}
