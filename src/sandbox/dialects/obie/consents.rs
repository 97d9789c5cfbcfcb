//! Account-access-consents: just enough of the AIS API to own resources that events refer to,
//! plus the sandbox stand-ins for the PSU journey (authorise) and for the PSU revoking access at
//! the bank (the HSBC-style trigger that raises `consent-authorization-revoked`).

use serde_json::{Map, Value, json};

use crate::model::EventType;
use crate::sandbox::dialects::obie::events::{EventSpec, RaiseOutcome};
use crate::sandbox::dialects::obie::validate::{Check, bounds};
use crate::sandbox::domain::Tpp;
use crate::sandbox::domain::{Consent, ConsentStatus, ConsentStatusChange};
use crate::sandbox::error::{ApiError, ApiResult, ErrorItem, codes};
use crate::sandbox::state::AppState;

/// OBReadConsent1 permission codes (v3.1.x).
pub const PERMISSIONS: [&str; 21] = [
    "ReadAccountsBasic",
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadBeneficiariesBasic",
    "ReadBeneficiariesDetail",
    "ReadDirectDebits",
    "ReadOffers",
    "ReadPAN",
    "ReadParty",
    "ReadPartyPSU",
    "ReadProducts",
    "ReadScheduledPaymentsBasic",
    "ReadScheduledPaymentsDetail",
    "ReadStandingOrdersBasic",
    "ReadStandingOrdersDetail",
    "ReadStatementsBasic",
    "ReadStatementsDetail",
    "ReadTransactionsBasic",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
    "ReadTransactionsDetail",
];

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn date_time(c: &mut Check, data: &Map<String, Value>, key: &str) -> Option<String> {
    let v = data.get(key)?;
    let path = format!("Data.{key}");
    let s = c.string(v, &path, 1, 64)?;
    if time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).is_err() {
        c.push(ErrorItem::at(
            codes::FIELD_INVALID_DATE,
            path,
            format!("{key} must be an ISO 8601 date-time with offset"),
        ));
        return None;
    }
    Some(s)
}

impl AppState {
    /// POST /aisp/account-access-consents.
    pub async fn create_consent(&self, tpp: &Tpp, body: &Value) -> ApiResult<Consent> {
        let mut c = Check::new();
        let mut consent = None;
        if let Some(top) = c.object(body, "") {
            if let Some(risk) = c.required(top, "Risk", "") {
                c.object(risk, "Risk");
            }
            if let Some(data) = c
                .required(top, "Data", "")
                .and_then(|d| c.object(d, "Data"))
            {
                let permissions = c.required(data, "Permissions", "Data").and_then(|v| {
                    c.bounded_array(
                        v,
                        "Data.Permissions",
                        bounds::PERMISSIONS,
                        |c, item, path| {
                            let s = c.string(item, path, 1, 64)?;
                            if PERMISSIONS.contains(&s.as_str()) {
                                Some(s)
                            } else {
                                c.invalid(path, format!("{s:?} is not a permission code"));
                                None
                            }
                        },
                    )
                });
                if permissions.as_ref().is_some_and(Vec::is_empty) {
                    c.invalid(
                        "Data.Permissions",
                        "Data.Permissions must name at least one permission",
                    );
                }
                let expiration = date_time(&mut c, data, "ExpirationDateTime");
                let from = date_time(&mut c, data, "TransactionFromDateTime");
                let to = date_time(&mut c, data, "TransactionToDateTime");
                let now = now_rfc3339();
                consent = permissions.map(|permissions| Consent {
                    consent_id: format!("aac-{}", uuid::Uuid::new_v4()),
                    client_id: tpp.client_id.clone(),
                    status: ConsentStatus::AwaitingAuthorisation,
                    permissions,
                    expiration,
                    transaction_from: from,
                    transaction_to: to,
                    created_at: now.clone(),
                    status_updated_at: now,
                });
            }
        }
        c.finish()?;
        let consent = consent
            .ok_or_else(|| ApiError::Internal("validation passed without a consent".into()))?;
        self.store.insert_consent(&consent).await?;
        Ok(consent)
    }

    /// A consent the caller owns (400 NotFound / 403 otherwise).
    pub async fn owned_consent(&self, tpp: &Tpp, id: &str) -> ApiResult<Consent> {
        match self.store.consent(id).await? {
            None => Err(ApiError::not_found_id("account-access-consent", id)),
            Some(c) if c.client_id != tpp.client_id => {
                Err(ApiError::not_owner("account-access-consent"))
            }
            Some(c) => Ok(c),
        }
    }

    /// Sandbox: the PSU authorises the consent.
    pub async fn authorise_consent(&self, tpp: &Tpp, id: &str) -> ApiResult<Consent> {
        let mut consent = self.owned_consent(tpp, id).await?;
        if consent.status != ConsentStatus::AwaitingAuthorisation {
            return Err(ApiError::bad_request(ErrorItem::new(
                codes::RESOURCE_INVALID_CONSENT_STATUS,
                format!(
                    "only an AwaitingAuthorisation consent can be authorised; this one is {}",
                    consent.status.as_str()
                ),
            )));
        }
        let at = now_rfc3339();
        if !self
            .store
            .set_consent_status(
                id,
                ConsentStatus::AwaitingAuthorisation,
                ConsentStatus::Authorised,
                &at,
            )
            .await?
        {
            return Err(ApiError::bad_request(ErrorItem::new(
                codes::RESOURCE_INVALID_CONSENT_STATUS,
                "the consent's status changed while this request was handled",
            )));
        }
        consent.status = ConsentStatus::Authorised;
        consent.status_updated_at = at;
        Ok(consent)
    }

    /// Sandbox: the PSU revokes the TPP's access at the bank (HSBC's helper). The consent moves
    /// to `Revoked` and a `consent-authorization-revoked` event with a subject is raised (N-06).
    pub async fn revoke_consent(
        &self,
        tpp: &Tpp,
        id: &str,
        txn: Option<String>,
    ) -> ApiResult<RaiseOutcome> {
        let consent = self.owned_consent(tpp, id).await?;
        if consent.status != ConsentStatus::Authorised {
            return Err(ApiError::bad_request(ErrorItem::new(
                codes::RESOURCE_INVALID_CONSENT_STATUS,
                format!(
                    "only an Authorised consent can be revoked; this one is {}",
                    consent.status.as_str()
                ),
            )));
        }
        // The status change and the event it raises commit together.
        let change = ConsentStatusChange {
            consent_id: consent.consent_id.clone(),
            from: ConsentStatus::Authorised,
            status: ConsentStatus::Revoked,
            at: now_rfc3339(),
        };
        let spec = EventSpec {
            client_id: tpp.client_id.clone(),
            event_type: EventType::ConsentAuthorizationRevoked,
            resource_id: consent.consent_id,
            resource_type: "account-access-consent".into(),
            reason: None,
            txn,
        };
        self.raise_events(Some(change), vec![spec])
            .await?
            .pop()
            .ok_or_else(|| ApiError::Internal("one event raised, no outcome".into()))
    }

    /// `OBReadConsentResponse1` body.
    pub fn consent_json(&self, c: &Consent) -> Value {
        let mut data = Map::new();
        data.insert("ConsentId".into(), json!(c.consent_id));
        data.insert("CreationDateTime".into(), json!(c.created_at));
        data.insert("Status".into(), json!(c.status.as_str()));
        data.insert("StatusUpdateDateTime".into(), json!(c.status_updated_at));
        data.insert("Permissions".into(), json!(c.permissions));
        for (k, v) in [
            ("ExpirationDateTime", &c.expiration),
            ("TransactionFromDateTime", &c.transaction_from),
            ("TransactionToDateTime", &c.transaction_to),
        ] {
            if let Some(v) = v {
                data.insert(k.into(), json!(v));
            }
        }
        json!({
            "Data": data,
            "Risk": {},
            "Links": { "Self": self.api_url(&format!("/aisp/account-access-consents/{}", c.consent_id)) },
            "Meta": { "TotalPages": 1 }
        })
    }
}
