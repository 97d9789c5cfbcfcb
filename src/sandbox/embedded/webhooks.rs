//! The webhooks the sandbox's `yapily` and `tatra` personalities send, rendered and signed by
//! their own dialect code, for the harness's referee to send a TPP (`harness::referee::webhooks`)
//! — so the referee sends exactly what the sandbox sends, without reaching into its dialects.

use crate::jose::{Alg, SigningKey};
use crate::sandbox::dialects::tatra::wire as tatra_wire;
use crate::sandbox::dialects::yapily::YapilyEventType;
use crate::sandbox::dialects::yapily::wire::{self as yapily_wire, EventObject};
use crate::sandbox::domain::{
    ClientId, ConsentId, TaskId, TatraAccount, TatraTask, TatraTaskBank, Timestamp,
};
use crate::sandbox::faults::Faults;

pub use yapily_wire::{SIGNATURE_HEADER as YAPILY_SIGNATURE_HEADER, SIGNATURE_LIFETIME_S};

/// A Yapily-style `payment.status.completed` event object (YA-07) for `application_id`,
/// delivered to `url`: its `id` and its JSON (the exact bytes to send and digest).
pub fn yapily_event(
    application_id: &str,
    organisation_id: &str,
    url: &str,
) -> Result<(String, String), String> {
    let event_id = uuid::Uuid::new_v4().to_string();
    let object_id = uuid::Uuid::new_v4().to_string();
    let ty = YapilyEventType::PaymentStatusCompleted;
    let payload = ty.default_payload(&object_id);
    let body = EventObject {
        id: Some(&event_id),
        event_type: ty.event_type(),
        application_id,
        organisation_id,
        institution_id: yapily_wire::INSTITUTION_ID,
        event_payload: &payload,
        object_id: &object_id,
        consent_token: None,
        created: yapily_wire::iso_now(),
        url,
        notification_status: "DELIVERED",
    }
    .to_json()
    .map_err(|e| format!("cannot render a Yapily event: {e}"))?;
    Ok((event_id, body))
}

/// The `digest` of a body: SHA-256, upper-case hex (JWD-06).
pub fn yapily_digest(body: &[u8]) -> String {
    yapily_wire::digest_hex(body)
}

/// A `yapily-signature` JWT over `digest` (see `yapily::wire::signature_jwt`).
pub fn yapily_signature(
    key: &SigningKey,
    kid: &str,
    alg: Alg,
    digest: &str,
    iat: i64,
    jti: &str,
) -> Result<String, String> {
    yapily_wire::signature_jwt(key, kid, alg, digest, iat, jti)
        .map_err(|e| format!("cannot sign a Yapily webhook: {e}"))
}

/// A Tatra-style `{"transactionEvent": …}` body (TB-06) about `account_id` of `consent_id`.
pub fn tatra_transaction_event(consent_id: &str, account_id: &str) -> Result<String, String> {
    let accounts = [account_id.to_string()];
    tatra_wire::transaction_event(&Faults::default(), &ConsentId::from(consent_id), &accounts)
        .map_err(|e| e.to_string())
}

/// A Tatra-style `{"accountEvent": …}` body (TB-07..TB-09): a refresh of `consent_id` for
/// `client_id` finished at bank SLSP, which added `account_id`.
pub fn tatra_account_event(
    client_id: &str,
    consent_id: &str,
    account_id: &str,
) -> Result<String, String> {
    let task = TatraTask {
        id: TaskId::random(),
        client_id: ClientId::from(client_id),
        consent_id: ConsentId::from(consent_id),
        banks: vec![TatraTaskBank {
            bank_code: "SLSP".into(),
            finish_at: Timestamp::now(),
        }],
        created_at: Timestamp::now(),
    };
    let account = TatraAccount {
        account_id: account_id.into(),
        bank_code: "SLSP".into(),
        iban: "SK3109000000000123456789".into(),
    };
    let events = tatra_wire::account_events(&Faults::default(), &task, &[(&account, true)])
        .map_err(|e| e.to_string())?;
    events
        .into_iter()
        .next()
        .map(|(_, body)| body)
        .ok_or_else(|| "no accountEvent rendered".to_string())
}
