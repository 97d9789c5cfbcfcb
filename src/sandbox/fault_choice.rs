//! Choosing bank faults and practice behaviours per TPP (issue 22 item 8): the operations a
//! TPP (for itself) and the operator (for any TPP) use — read, replace and clear a TPP's
//! choice, list and clear every TPP's — and the sandbox helpers over them: `GET`/`PUT`/`DELETE /sandbox/faults` with the
//! TPP's own token (any scope), `GET`/`DELETE /sandbox/admin/faults` and
//! `DELETE /sandbox/admin/faults/{ClientId}` with the admin credential. The portal's Faults
//! page calls the same operations. Which faults may be chosen and how a TPP's set takes
//! effect is `tpp_faults`'s.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

use super::behaviours::{self, Behaviour};
use super::domain::{ClientId, Timestamp};
use super::faults::Fault;
use super::http::error::{EdgeError, ErrorItem, codes, json_response};
use super::http::extract::{AnyScope, Authed, Caller, ObJson, ResourceId};
use super::http::openapi::components::{obj, string};
use super::http::openapi::ops::{HELPER, HELPER_BODY_ERRORS, OpDoc, Security};
use super::http::openapi::ops::{JSON, Reply};
use super::http::routes::Routes;
use super::http::routes::Verb::{Delete, Get, Put};
use super::state::AppState;
use super::store::{Result, StoreError};
use super::tpp_faults::{self, ChoiceError, FaultCache};

/// The most rows the operator's list shows (`more` says when some were left out).
pub const LIST_LIMIT: usize = 10_000;

/// One TPP's chosen faults, with when each was chosen.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Chosen {
    pub client_id: ClientId,
    pub faults: Vec<Fault>,
    /// The practice behaviours it chose (`behaviours`: no rule broken).
    pub behaviours: Vec<Behaviour>,
    /// When the current choice was made (its newest row), if there is one.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "crate::sandbox::domain::timestamp::opt_millis"
    )]
    pub chosen_at: Option<Timestamp>,
}

/// The faults `client_id` chose (those this binary knows and allows per TPP).
pub async fn chosen(st: &AppState, client_id: &ClientId) -> Result<Chosen> {
    let rows = st.store.tpp_faults_of(client_id).await?;
    Ok(Chosen {
        client_id: client_id.clone(),
        faults: tpp_faults::known(&rows),
        behaviours: tpp_faults::known_behaviours(&rows).list().to_vec(),
        chosen_at: rows.iter().map(|r| r.created_at).max(),
    })
}

/// Why a choice was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ChooseError {
    #[error("the choice of faults is refused")]
    Refused(Vec<ChoiceError>),
    /// Behaviour names this binary does not know, each with why.
    #[error("the choice of behaviours is refused")]
    RefusedBehaviours(Vec<String>),
    #[error("no client with id {0}")]
    UnknownClient(ClientId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Replaces `client_id`'s chosen faults with `names` and its practice behaviours with
/// `behaviours` (both checked whole: nothing is stored when any name is refused). Applies on
/// this replica at once, on the others within [`FaultCache::TTL`].
pub async fn choose(
    st: &AppState,
    client_id: &ClientId,
    names: &[String],
    behaviours: &[String],
) -> std::result::Result<Chosen, ChooseError> {
    let faults = tpp_faults::parse_choice(names).map_err(ChooseError::Refused)?;
    let behaviours =
        behaviours::parse_choice(behaviours).map_err(ChooseError::RefusedBehaviours)?;
    let stored: Vec<&str> = faults
        .iter()
        .map(|f| f.name())
        .chain(behaviours.list().iter().map(|b| b.name()))
        .collect();
    if !st.store.replace_tpp_faults(client_id, &stored).await? {
        return Err(ChooseError::UnknownClient(client_id.clone()));
    }
    st.tpp_faults.forget(Some(client_id));
    tracing::info!(client = %client_id, chosen = ?stored, "TPP's own faults and behaviours chosen");
    Ok(chosen(st, client_id).await?)
}

/// Clears `client_id`'s choice, or every TPP's with `None`; how many faults went.
pub async fn clear(st: &AppState, client_id: Option<&ClientId>) -> Result<usize> {
    let n = st.store.clear_tpp_faults(client_id).await?;
    st.tpp_faults.forget(client_id);
    tracing::info!(client = ?client_id.map(ClientId::as_str), cleared = n, "TPP's own faults cleared");
    Ok(n)
}

/// Every TPP that chose faults, by client id; and whether rows past [`LIST_LIMIT`] were left
/// out.
pub async fn all(st: &AppState) -> Result<(Vec<Chosen>, bool)> {
    let mut rows = st.store.all_tpp_faults(LIST_LIMIT + 1).await?;
    let more = rows.len() > LIST_LIMIT;
    rows.truncate(LIST_LIMIT);
    let mut out: Vec<Chosen> = Vec::new();
    for chunk in rows.chunk_by(|a, b| a.client_id == b.client_id) {
        let faults = tpp_faults::known(chunk);
        let behaviours = tpp_faults::known_behaviours(chunk).list().to_vec();
        if let (Some(first), false) = (chunk.first(), faults.is_empty() && behaviours.is_empty()) {
            out.push(Chosen {
                client_id: first.client_id.clone(),
                faults,
                behaviours,
                chosen_at: chunk.iter().map(|r| r.created_at).max(),
            });
        }
    }
    Ok((out, more))
}

// ---- HTTP -----------------------------------------------------------------------------------

pub fn routes() -> Routes {
    Routes::new()
        .add(Get, "/sandbox/faults", &GET_OWN, get_own)
        .add(Put, "/sandbox/faults", &PUT_OWN, put_own)
        .add(Delete, "/sandbox/faults", &CLEAR_OWN, clear_own)
        .add(Get, "/sandbox/admin/faults", &LIST_ALL, list_all)
        .add(Delete, "/sandbox/admin/faults", &CLEAR_ALL, clear_all)
        .add(
            Delete,
            "/sandbox/admin/faults/{ClientId}",
            &CLEAR_ONE,
            clear_one,
        )
        .with_schemas(schemas)
}

/// The faults a TPP may choose, as the helpers list them.
fn available() -> Vec<Value> {
    Fault::per_tpp_list()
        .map(|f| {
            json!({
                "name": f.name(),
                "area": f.area().name(),
                "rules": f.rules(),
                "description": f.description(),
            })
        })
        .collect()
}

/// The practice behaviours a TPP may choose, as the helpers list them.
fn available_behaviours() -> Vec<Value> {
    Behaviour::ALL
        .iter()
        .map(|b| json!({ "name": b.name(), "description": b.description() }))
        .collect()
}

/// The answer of `GET` and `PUT /sandbox/faults`.
fn own_answer(st: &AppState, c: &Chosen) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "clientId": c.client_id,
            "faults": c.faults,
            "behaviours": c.behaviours,
            "sandboxFaults": st.cfg.faults.iter().collect::<Vec<_>>(),
            "available": available(),
            "availableBehaviours": available_behaviours(),
            "appliesWithinSeconds": FaultCache::TTL.as_secs(),
        }),
    )
}

async fn get_own(State(s): State<AppState>, auth: Authed<AnyScope>) -> Result<Response, EdgeError> {
    Ok(own_answer(&s, &chosen(&s, &auth.client_id).await?))
}

/// The names of `member` (an array of strings) in `members`; empty when absent and not
/// `required`.
fn names_in(
    members: &serde_json::Map<String, Value>,
    member: &str,
    required: bool,
) -> Result<Vec<String>, EdgeError> {
    let Some(list) = members.get(member) else {
        if required {
            return Err(EdgeError::missing(
                member,
                format!("{member} (an array of fault names) is required"),
            ));
        }
        return Ok(Vec::new());
    };
    let Some(list) = list.as_array() else {
        return Err(EdgeError::invalid(
            member,
            format!("{member} must be an array of names"),
        ));
    };
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| EdgeError::invalid(format!("{member}[{i}]"), "a name is a string"))
        })
        .collect()
}

/// `{"faults": [NAME, …], "behaviours"?: [NAME, …]}`: the names, checked before anything is
/// stored.
fn names_of(body: &Value) -> Result<(Vec<String>, Vec<String>), EdgeError> {
    let Some(members) = body.as_object() else {
        return Err(EdgeError::bad_request(ErrorItem::new(
            codes::FIELD_INVALID,
            "the body must be a JSON object with a faults member",
        )));
    };
    if let Some(other) = members
        .keys()
        .find(|k| !matches!(k.as_str(), "faults" | "behaviours"))
    {
        return Err(EdgeError::bad_request(ErrorItem::at(
            codes::FIELD_UNEXPECTED,
            other.as_str(),
            format!("{other} is not a member of this request; only faults and behaviours are"),
        )));
    }
    Ok((
        names_in(members, "faults", true)?,
        names_in(members, "behaviours", false)?,
    ))
}

/// A refused choice as OBIE errors, one per problem, each at the name it is about.
fn refused(names: &[String], problems: Vec<ChoiceError>) -> EdgeError {
    let at = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .map_or_else(|| "faults".to_string(), |i| format!("faults[{i}]"))
    };
    EdgeError::BadRequest(
        problems
            .into_iter()
            .map(|p| {
                let path = match &p {
                    ChoiceError::Unknown(n) => at(n),
                    ChoiceError::NotPerTpp(f) => at(f.name()),
                    ChoiceError::TooMany { .. } => "faults".into(),
                };
                ErrorItem::at(codes::FIELD_INVALID, path, p.to_string())
            })
            .collect(),
    )
}

async fn put_own(
    State(s): State<AppState>,
    auth: Authed<AnyScope>,
    body: ObJson,
) -> Result<Response, EdgeError> {
    let (names, behaviours) = names_of(&body.value)?;
    match choose(&s, &auth.client_id, &names, &behaviours).await {
        Ok(c) => Ok(own_answer(&s, &c)),
        Err(ChooseError::Refused(problems)) => Err(refused(&names, problems)),
        Err(ChooseError::RefusedBehaviours(problems)) => Err(EdgeError::BadRequest(
            problems
                .into_iter()
                .map(|p| ErrorItem::at(codes::FIELD_INVALID, "behaviours", p))
                .collect(),
        )),
        // The token's client was removed meanwhile: its token names nobody.
        Err(ChooseError::UnknownClient(_)) => Err(EdgeError::Unauthorized {
            invalid_token: true,
            reason: None,
        }),
        Err(ChooseError::Store(e)) => Err(e.into()),
    }
}

async fn clear_own(
    State(s): State<AppState>,
    auth: Authed<AnyScope>,
) -> Result<Response, EdgeError> {
    let n = clear(&s, Some(&auth.client_id)).await?;
    Ok(json_response(StatusCode::OK, &json!({ "cleared": n })))
}

/// The admin endpoints: the admin credential only; a TPP's token is a 403.
fn admin_only(caller: &Caller) -> Result<(), EdgeError> {
    if caller.is_admin() {
        return Ok(());
    }
    Err(EdgeError::Forbidden(ErrorItem::new(
        codes::FORBIDDEN_NOT_OWNER,
        "only the operator's admin credential lists or clears every TPP's faults; a TPP uses /sandbox/faults",
    )))
}

async fn list_all(State(s): State<AppState>, caller: Caller) -> Result<Response, EdgeError> {
    admin_only(&caller)?;
    let (tpps, more) = all(&s).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "tpps": tpps,
            "sandboxFaults": s.cfg.faults.iter().collect::<Vec<_>>(),
            "more": more,
        }),
    ))
}

async fn clear_all(State(s): State<AppState>, caller: Caller) -> Result<Response, EdgeError> {
    admin_only(&caller)?;
    let n = clear(&s, None).await?;
    Ok(json_response(StatusCode::OK, &json!({ "cleared": n })))
}

async fn clear_one(
    State(s): State<AppState>,
    caller: Caller,
    ResourceId(id): ResourceId<ClientId>,
) -> Result<Response, EdgeError> {
    admin_only(&caller)?;
    if s.store.client(&id).await?.is_none() {
        return Err(EdgeError::unknown_id("client", id.as_str()));
    }
    let n = clear(&s, Some(&id)).await?;
    Ok(json_response(StatusCode::OK, &json!({ "cleared": n })))
}

// ---- /openapi.json --------------------------------------------------------------------------

const OWN: OpDoc = OpDoc {
    security: Security::AnyToken,
    ..HELPER
};
const ADMIN: OpDoc = OpDoc {
    security: Security::Admin,
    ..HELPER
};
pub const GET_OWN: OpDoc = OpDoc {
    id: "sandboxGetOwnFaults",
    summary: "The bank faults the caller chose for its own client, and those it may choose",
    description: "Effective faults for the TPP are the sandbox's own (sandboxFaults, obevents sandbox --fault) and these.",
    responses: &[Reply::Body(200, "OK", JSON, "TppFaults")],
    ..OWN
};
pub const PUT_OWN: OpDoc = OpDoc {
    id: "sandboxChooseOwnFaults",
    summary: "Replace the bank faults the caller meets, for its own client only",
    description: "Every name must be one of `available`; the whole list is refused when one is not. Applies at once on the replica that answered, on the others within appliesWithinSeconds.",
    request: Some((JSON, "TppFaultsChoice")),
    responses: &[Reply::Body(200, "OK", JSON, "TppFaults")],
    errors: HELPER_BODY_ERRORS,
    ..OWN
};
pub const CLEAR_OWN: OpDoc = OpDoc {
    id: "sandboxClearOwnFaults",
    summary: "Clear the bank faults the caller chose",
    responses: &[Reply::Body(200, "OK", JSON, "ClearedFaults")],
    ..OWN
};
pub const LIST_ALL: OpDoc = OpDoc {
    id: "sandboxListTppFaults",
    summary: "Every TPP's own bank faults (operator)",
    responses: &[Reply::Body(200, "OK", JSON, "AllTppFaults")],
    ..ADMIN
};
pub const CLEAR_ALL: OpDoc = OpDoc {
    id: "sandboxClearTppFaults",
    summary: "Clear every TPP's own bank faults (operator)",
    responses: &[Reply::Body(200, "OK", JSON, "ClearedFaults")],
    ..ADMIN
};
pub const CLEAR_ONE: OpDoc = OpDoc {
    id: "sandboxClearOneTppFaults",
    summary: "Clear one TPP's own bank faults (operator)",
    responses: &[Reply::Body(200, "OK", JSON, "ClearedFaults")],
    ..ADMIN
};

fn schemas() -> Value {
    let names = json!({ "type": "array", "items": string() });
    json!({
        "TppFaultsChoice": {
            "type": "object",
            "properties": {
                "faults": { "type": "array", "items": string(), "maxItems": tpp_faults::max_choice() },
                "behaviours": { "type": "array", "items": string(), "maxItems": Behaviour::ALL.len() },
            },
            "required": ["faults"],
            "additionalProperties": false,
        },
        "TppFaults": obj(json!({
            "clientId": string(),
            "faults": names,
            "behaviours": names,
            "sandboxFaults": names,
            "available": { "type": "array", "items": obj(json!({
                "name": string(), "area": string(), "rules": names, "description": string(),
            }), &["name", "area", "rules", "description"]) },
            "availableBehaviours": { "type": "array", "items": obj(json!({
                "name": string(), "description": string(),
            }), &["name", "description"]) },
            "appliesWithinSeconds": { "type": "integer" },
        }), &["clientId", "faults", "sandboxFaults", "available"]),
        "AllTppFaults": obj(json!({
            "tpps": { "type": "array", "items": obj(json!({
                "clientId": string(), "faults": names, "behaviours": names, "chosenAt": { "type": "integer" },
            }), &["clientId", "faults"]) },
            "sandboxFaults": names,
            "more": { "type": "boolean" },
        }), &["tpps", "sandboxFaults", "more"]),
        "ClearedFaults": obj(json!({ "cleared": { "type": "integer" } }), &["cleared"]),
    })
}
