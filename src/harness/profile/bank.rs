//! The `[bank]` section: what the bank documents about its polling API (long polling, caps,
//! batches, acks, status codes) and which APIs it offers at all.

use std::time::Duration;

use super::event_types::{self, BankEventType};
use super::{BankFile, BankSettings, Conformance, ProfileError, RequestSignatures, err, one_of};
use crate::model::EventType;
use crate::model::bank::{LongPolling, SpecVersion, UnknownAck};

/// Validates `[bank]` (`b`) for a profile of `spec_version` judged at `conformance`.
pub(super) fn bank(
    b: BankFile,
    spec_version: SpecVersion,
    conformance: Conformance,
) -> Result<BankSettings, ProfileError> {
    let long_polling = one_of(
        "bank.long_polling",
        b.long_polling.as_deref(),
        LongPolling::Supported,
        &[
            ("supported", LongPolling::Supported),
            ("immediate", LongPolling::Immediate),
            ("reject", LongPolling::Reject),
        ],
    )?;
    let reject_above_cap = one_of(
        "bank.above_cap",
        b.above_cap.as_deref(),
        false,
        &[("truncate", false), ("reject", true)],
    )?;
    let unknown_ack = one_of(
        "bank.unknown_ack",
        b.unknown_ack.as_deref(),
        UnknownAck::Ignore,
        &[
            ("ignore", UnknownAck::Ignore),
            ("reject", UnknownAck::Reject),
        ],
    )?;
    let request_signatures = one_of(
        "bank.request_signatures",
        b.request_signatures.as_deref(),
        RequestSignatures::Ignored,
        &[
            ("ignored", RequestSignatures::Ignored),
            ("verified", RequestSignatures::Verified),
            ("required", RequestSignatures::Required),
        ],
    )?;
    let poll_success_status = poll_success_status(b.poll_success_status.clone(), spec_version)?;
    event_types::check_urns(&b.event_type_urns)?;
    let bank_types = bank_event_types(b.event_types.as_deref(), &b.event_type_urns)?;
    let long_poll_timeout = check_limits(&b)?;
    if conformance == Conformance::Rfc8936 && b.more_available_required == Some(true) {
        return err(
            "bank.more_available_required",
            "RFC 8936 lets moreAvailable be omitted (R8936-17): conformance = \"rfc8936\" cannot require it",
        );
    }
    Ok(BankSettings {
        polling: b.polling.unwrap_or(true),
        subscription_api: b.subscription_api.unwrap_or(true),
        long_polling,
        long_poll_timeout,
        max_events_cap: b.max_events_cap,
        reject_above_cap,
        default_batch: b.default_batch,
        unknown_ack,
        poll_success_status,
        errored_redelivered: b.errored_redelivered.unwrap_or(true),
        event_types: bank_types,
        subscription_version: b.subscription_version.unwrap_or_else(|| "3.1".into()),
        callback_urls: b.callback_urls.unwrap_or(false),
        realtime: b.realtime.unwrap_or(false),
        request_signatures,
        response_signatures: b.response_signatures.unwrap_or(true),
        // RFC 8936 lets moreAvailable be omitted; only the OB schema requires it.
        more_available_required: b
            .more_available_required
            .unwrap_or(conformance == Conformance::Obie),
        oldest_first: b.oldest_first.unwrap_or(false),
        // A MAY of RFC 8936 that OBIE leaves open too: judged only when declared.
        answers_awaiting_at_once: b.answers_awaiting_at_once.unwrap_or(false),
        // OBIE serves "awaiting events" (not yet acknowledged) until acknowledged, unless the
        // bank documents operating without acknowledgements (AP-15); RFC 8936 makes
        // redelivery a MAY (R8936-19).
        redelivers_unacked: b
            .redelivers_unacked
            .unwrap_or(conformance == Conformance::Obie),
    })
}

/// The status codes a successful poll answers with [per spec version].
fn poll_success_status(
    declared: Option<Vec<u16>>,
    spec_version: SpecVersion,
) -> Result<Vec<u16>, ProfileError> {
    let status = declared.unwrap_or_else(|| match spec_version {
        SpecVersion::V3_1_2 => vec![201],
        SpecVersion::V3_1_11 => vec![200],
    });
    if status.is_empty() || status.iter().any(|s| !(200..300).contains(s)) {
        return err("bank.poll_success_status", "must list 2xx codes");
    }
    Ok(status)
}

/// `bank.event_types` [resource-update]: OBIE's types in any spelling or the bank's own (URNs
/// or names); `[]` says the bank names none, so `[trigger] event_types` says what it raises.
fn bank_event_types(
    names: Option<&[String]>,
    urns: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<BankEventType>, ProfileError> {
    match names {
        Some(names) => event_types::parse("bank.event_types", names, urns),
        None => Ok(vec![BankEventType::ob(EventType::ResourceUpdate)]),
    }
}

/// The cap, the default batch and the long-poll hold are at least 1; returns the hold.
fn check_limits(b: &BankFile) -> Result<Duration, ProfileError> {
    if b.max_events_cap == Some(0) {
        return err("bank.max_events_cap", "must be at least 1");
    }
    if b.default_batch == Some(0) {
        return err("bank.default_batch", "must be at least 1");
    }
    let long_poll_timeout = Duration::from_millis(b.long_poll_timeout_ms.unwrap_or(30_000));
    if long_poll_timeout.is_zero() {
        return err("bank.long_poll_timeout_ms", "must be at least 1");
    }
    Ok(long_poll_timeout)
}
