//! The OBIE APIs' own extractor rules: which scopes each resource accepts (G-04) and the JSON
//! body that may or must carry the TPP's detached `x-jws-signature` (G-14, J-06), verified
//! against the client's registered JWKS.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};

use crate::jose;
use crate::sandbox::domain::Tpp;
use crate::sandbox::http::error::{EdgeError, ErrorItem, codes};
use crate::sandbox::http::extract::{ObJson, ScopePolicy};
use crate::sandbox::state::AppState;

/// `/event-subscriptions`, `/callback-urls`: accounts, payments or fundsconfirmations.
pub struct EventApiScopes;
impl ScopePolicy for EventApiScopes {
    fn allowed(_: &AppState) -> &'static [&'static str] {
        &["accounts", "payments", "fundsconfirmations"]
    }
}

/// `POST /events`: per personality (`eventpolling` for v3.1.2).
pub struct PollingScopes;
impl ScopePolicy for PollingScopes {
    fn allowed(state: &AppState) -> &'static [&'static str] {
        state.cfg.personality.polling_scopes
    }
}

/// AIS consents: accounts.
pub struct AccountsScope;
impl ScopePolicy for AccountsScope {
    fn allowed(_: &AppState) -> &'static [&'static str] {
        &["accounts"]
    }
}

/// A JSON body that must carry the TPP's detached `x-jws-signature` (G-14). A present signature
/// is verified against the client's registered JWKS; a missing one is an error only when the
/// sandbox requires request signatures. Must follow an [`Authed`] extractor.
pub struct SignedJson(pub ObJson);

impl FromRequest<AppState> for SignedJson {
    type Rejection = EdgeError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, EdgeError> {
        let tpp = req.extensions().get::<Arc<Tpp>>().cloned();
        let signature = req
            .headers()
            .get("x-jws-signature")
            .map(|v| v.to_str().map(str::to_string));
        let body = ObJson::from_request(req, state).await?;
        let sig_err = |code: &str, msg: String| {
            EdgeError::bad_request(ErrorItem::at(code, "x-jws-signature", msg))
        };
        match signature {
            None if state.cfg.require_request_signatures => {
                return Err(sig_err(
                    codes::SIGNATURE_MISSING,
                    "this request must be signed".into(),
                ));
            }
            None => {}
            Some(Err(_)) => {
                return Err(sig_err(
                    codes::SIGNATURE_MALFORMED,
                    "the header is not ASCII".into(),
                ));
            }
            Some(Ok(sig)) => {
                let client = match &tpp {
                    Some(t) => state.store.client(&t.client_id).await?,
                    None => None,
                };
                let jwks = client.and_then(|c| c.jwks);
                match jwks {
                    Some(jwks) => verify_request_signature(state, &sig, &body.raw, &jwks)?,
                    // Nothing to verify against: a sandbox that requires signatures says so.
                    None if state.cfg.require_request_signatures => {
                        return Err(sig_err(
                            codes::SIGNATURE_INVALID,
                            "the client registered no jwks to verify the signature with".into(),
                        ));
                    }
                    None => {}
                }
            }
        }
        Ok(SignedJson(body))
    }
}

/// Verifies a TPP's detached request signature (J-06 header rules, then the signature).
fn verify_request_signature(
    st: &AppState,
    sig: &str,
    body: &[u8],
    jwks_text: &str,
) -> Result<(), EdgeError> {
    let err = |code: &str, msg: String| {
        EdgeError::bad_request(ErrorItem::at(code, "x-jws-signature", msg))
    };
    let decoded = jose::decode_detached(sig, body)
        .map_err(|e| err(codes::SIGNATURE_MALFORMED, e.to_string()))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let problems = jose::ob_header_problems(
        &decoded.header,
        now,
        300,
        st.cfg.personality.unencoded_signatures(),
    );
    if let Some(p) = problems.first() {
        let code = if p.contains("lacks") {
            codes::SIGNATURE_MISSING_CLAIM
        } else {
            codes::SIGNATURE_INVALID_CLAIM
        };
        return Err(err(code, p.clone()));
    }
    let jwks = jose::parse_jwks(jwks_text.as_bytes())
        .map_err(|e| err(codes::SIGNATURE_INVALID, e.to_string()))?;
    jose::verify(&decoded, &jwks).map_err(|e| err(codes::SIGNATURE_INVALID, e.to_string()))
}
