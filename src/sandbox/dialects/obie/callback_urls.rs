//! Callback URL API domain (obie-rules §3, CB-01..CB-07): the legacy registration of a push
//! endpoint. One per TPP; the URL must end in `/v{major}.{minor}/event-notifications`. When the
//! TPP also has an event subscription, the subscription governs delivery (ES-13) and the
//! registration is kept but inert.

use serde_json::{Map, Value, json};

use crate::sandbox::dialects::obie::validate::{Check, callback_url_problem, version_problem};
use crate::sandbox::domain::CallbackUrl;
use crate::sandbox::domain::Tpp;
use crate::sandbox::error::{ApiError, ApiResult, ErrorItem, codes};
use crate::sandbox::faults::Fault;
use crate::sandbox::state::AppState;

impl AppState {
    fn check_callback_data(
        &self,
        c: &mut Check,
        data: &Map<String, Value>,
    ) -> Option<(String, String)> {
        let url = c
            .required(data, "Url", "Data")
            .and_then(|v| c.string(v, "Data.Url", 1, 2048));
        if let Some(p) = url
            .as_deref()
            .and_then(|u| callback_url_problem(u, !self.has_fault(Fault::CallbackSuffixUnchecked)))
        {
            c.invalid("Data.Url", format!("Data.Url {p}"));
        }
        let version = c
            .required(data, "Version", "Data")
            .and_then(|v| c.string(v, "Data.Version", 1, 10));
        if let Some(p) = version.as_deref().and_then(version_problem) {
            c.invalid("Data.Version", p);
        }
        Some((url?, version?))
    }

    fn parse_callback_body(
        &self,
        body: &Value,
        path_id: Option<&str>,
    ) -> ApiResult<(String, String)> {
        let mut c = Check::new();
        let fields = c.object(body, "").and_then(|top| {
            let data = c.required(top, "Data", "")?;
            let data = c.object(data, "Data")?;
            if let Some(id) = path_id
                && let Some(Value::String(body_id)) = data.get("CallbackUrlId")
                && body_id != id
            {
                c.invalid(
                    "Data.CallbackUrlId",
                    format!("Data.CallbackUrlId {body_id:?} differs from the id in the path"),
                );
            }
            self.check_callback_data(&mut c, data)
        });
        c.finish()?;
        fields.ok_or_else(|| ApiError::Internal("validation passed without fields".into()))
    }

    /// POST /callback-urls (CB-02, CB-03).
    pub async fn create_callback_url(&self, tpp: &Tpp, body: &Value) -> ApiResult<CallbackUrl> {
        let (url, version) = self.parse_callback_body(body, None)?;
        let cb = CallbackUrl {
            id: uuid::Uuid::new_v4().to_string(),
            client_id: tpp.client_id.clone(),
            url,
            version,
            created_at: time::OffsetDateTime::now_utc().unix_timestamp(),
        };
        if !self
            .store
            .insert_callback_url(&cb, self.has_fault(Fault::SubscriptionNo409))
            .await?
        {
            return Err(ApiError::Conflict(ErrorItem::new(
                codes::RESOURCE_ALREADY_EXISTS,
                "this TPP already has a callback URL; update or delete it instead",
            )));
        }
        Ok(cb)
    }

    pub async fn list_callback_urls(&self, tpp: &Tpp) -> ApiResult<Vec<CallbackUrl>> {
        Ok(self.store.callback_urls_of(&tpp.client_id).await?)
    }

    async fn owned_callback_url(&self, tpp: &Tpp, id: &str) -> ApiResult<CallbackUrl> {
        match self.store.callback_url(id).await? {
            None if self.has_fault(Fault::UnknownId404) => Err(ApiError::NotFound(ErrorItem::new(
                codes::RESOURCE_NOT_FOUND,
                format!("no callback URL with id {id}"),
            ))),
            None => Err(ApiError::not_found_id("callback URL", id)),
            Some(c) if c.client_id != tpp.client_id => Err(ApiError::not_owner("callback URL")),
            Some(c) => Ok(c),
        }
    }

    /// PUT /callback-urls/{id}: full replace.
    pub async fn replace_callback_url(
        &self,
        tpp: &Tpp,
        id: &str,
        body: &Value,
    ) -> ApiResult<CallbackUrl> {
        let existing = self.owned_callback_url(tpp, id).await?;
        let (url, version) = self.parse_callback_body(body, Some(id))?;
        if self.has_fault(Fault::PutIgnoresBody) {
            return Ok(existing);
        }
        let updated = CallbackUrl {
            url,
            version,
            ..existing
        };
        self.store.replace_callback_url(&updated).await?;
        Ok(updated)
    }

    pub async fn delete_callback_url(&self, tpp: &Tpp, id: &str) -> ApiResult<CallbackUrl> {
        let existing = self.owned_callback_url(tpp, id).await?;
        self.store
            .delete_callback_url(id, !self.has_fault(Fault::PushAfterDelete))
            .await?;
        Ok(existing)
    }

    pub fn callback_url_data(&self, c: &CallbackUrl) -> Value {
        json!({ "CallbackUrlId": c.id, "Url": c.url, "Version": c.version })
    }
}
