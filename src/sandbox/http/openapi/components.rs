//! The `components` of the OpenAPI document: the OBIE schemas the harness validates with
//! (`model::schemas`, derived from the official OBIE OpenAPI files, for the personality's spec
//! version), the sandbox's own shapes, shared error responses, headers, parameters and
//! security schemes.

use serde_json::{Map, Value, json};

use super::ops::JSON;
use crate::model::bank::SpecVersion;
use crate::model::schemas::SCHEMAS;
use crate::sandbox::config::SCOPES;

/// OBIE schemas the document uses, by name in `schemas/<version>/`.
const OBIE: [&str; 9] = [
    "OBEventSubscription1",
    "OBEventSubscriptionResponse1",
    "OBEventSubscriptionsResponse1",
    "OBEventPolling1",
    "OBEventPollingResponse1",
    "OBErrorResponse1",
    "OBCallbackUrl1",
    "OBCallbackUrlResponse1",
    "OBCallbackUrlsResponse1",
];

/// Every component schema: the OBIE ones of `version` with their `$defs` lifted into
/// components (a `$ref` inside an embedded schema is relative to its `$id`, which names no
/// fetchable document), then the sandbox's own.
pub fn schemas(
    version: SpecVersion,
    dialects: &[fn() -> Value],
) -> Result<Map<String, Value>, String> {
    let dir = match version {
        SpecVersion::V3_1_11 => "v3.1.11",
        SpecVersion::V3_1_2 => "v3.1.2",
    };
    let mut out = Map::new();
    for name in OBIE {
        let text = SCHEMAS
            .iter()
            .find(|(d, n, _)| *d == dir && *n == name)
            .map(|(_, _, t)| *t)
            .ok_or_else(|| format!("no embedded schema {dir}/{name}"))?;
        let schema: Value = serde_json::from_str(text).map_err(|e| format!("{dir}/{name}: {e}"))?;
        lift(name, schema, &mut out);
    }
    for own in std::iter::once(own_schemas()).chain(dialects.iter().map(|f| f())) {
        if let Value::Object(own) = own {
            out.extend(own);
        }
    }
    Ok(out)
}

/// Adds `schema` as component `name`, moving its `$defs` to components of their own. A def
/// another schema already added under the same name is shared when identical and prefixed
/// with `name` otherwise.
fn lift(name: &str, mut schema: Value, out: &mut Map<String, Value>) {
    let mut renames = Vec::new();
    if let Some(obj) = schema.as_object_mut() {
        for key in ["$schema", "$id", "$comment"] {
            obj.remove(key);
        }
        if let Some(Value::Object(defs)) = obj.remove("$defs") {
            for (def, body) in defs {
                let target = match out.get(&def) {
                    Some(existing) if *existing != body => format!("{name}_{def}"),
                    _ => def.clone(),
                };
                out.insert(target.clone(), body);
                renames.push((format!("#/$defs/{def}"), target));
            }
        }
    }
    rewrite_refs(&mut schema, &renames);
    for (_, target) in &renames {
        if let Some(def) = out.get_mut(target) {
            rewrite_refs(def, &renames);
        }
    }
    out.insert(name.to_string(), schema);
}

fn rewrite_refs(v: &mut Value, renames: &[(String, String)]) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref")
                && let Some((_, target)) = renames.iter().find(|(from, _)| from == r)
            {
                *r = format!("#/components/schemas/{target}");
            }
            m.values_mut().for_each(|x| rewrite_refs(x, renames));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite_refs(x, renames)),
        _ => {}
    }
}

pub fn string() -> Value {
    json!({ "type": "string" })
}

/// An object schema with these properties, of which `required` are required.
pub fn obj(props: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": props, "required": required })
}

/// Shapes of the authorisation server and the cross-dialect helpers (open objects: they list
/// what the sandbox sends or reads, and tolerate additions). Long because it is one table of
/// data read top to bottom, like the document it becomes; it holds no logic to split.
fn own_schemas() -> Value {
    json!({
        "OAuthError": obj(json!({ "error": string(), "error_description": string() }), &["error"]),
        "OpenIdConfiguration": obj(json!({
            "issuer": string(), "token_endpoint": string(), "registration_endpoint": string(),
            "jwks_uri": string(),
            "grant_types_supported": { "type": "array", "items": string() },
            "token_endpoint_auth_methods_supported": { "type": "array", "items": string() },
            "scopes_supported": { "type": "array", "items": string() },
        }), &["issuer", "token_endpoint", "jwks_uri"]),
        "JwkSet": obj(json!({ "keys": { "type": "array", "items": { "type": "object" } } }), &["keys"]),
        "ClientRegistrationRequest": obj(json!({
            "client_name": string(),
            "scope": { "type": "string", "description": "space-separated subset of the supported scopes" },
            "jwks": { "$ref": "#/components/schemas/JwkSet" },
            "token_endpoint_auth_method": { "enum": ["client_secret_basic", "client_secret_post", "private_key_jwt"] },
        }), &[]),
        "ClientRegistrationResponse": obj(json!({
            "client_id": string(), "client_secret": string(),
            "client_id_issued_at": { "type": "integer" }, "client_secret_expires_at": { "type": "integer" },
            "client_name": string(), "scope": string(),
            "grant_types": { "type": "array", "items": string() },
            "token_endpoint_auth_method": string(),
            "jwks": { "$ref": "#/components/schemas/JwkSet" },
        }), &["client_id", "client_secret", "scope"]),
        "TokenRequest": obj(json!({
            "grant_type": { "const": "client_credentials" },
            "scope": string(), "client_id": string(), "client_secret": string(),
            "client_assertion_type": { "const": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" },
            "client_assertion": string(),
        }), &["grant_type"]),
        "TokenResponse": obj(json!({
            "access_token": string(), "token_type": { "const": "Bearer" },
            "expires_in": { "type": "integer" }, "scope": string(),
        }), &["access_token", "token_type", "expires_in"]),
        "AccountAccessConsentRequest": obj(json!({
            "Data": obj(json!({
                "Permissions": { "type": "array", "items": string(), "minItems": 1, "maxItems": 64 },
                "ExpirationDateTime": { "type": "string", "format": "date-time" },
                "TransactionFromDateTime": { "type": "string", "format": "date-time" },
                "TransactionToDateTime": { "type": "string", "format": "date-time" },
            }), &["Permissions"]),
            "Risk": { "type": "object" },
        }), &["Data", "Risk"]),
        "AccountAccessConsentResponse": obj(json!({
            "Data": obj(json!({
                "ConsentId": string(), "CreationDateTime": string(),
                "Status": { "enum": ["AwaitingAuthorisation", "Authorised", "Rejected", "Revoked"] },
                "StatusUpdateDateTime": string(),
                "Permissions": { "type": "array", "items": string() },
                "ExpirationDateTime": string(), "TransactionFromDateTime": string(),
                "TransactionToDateTime": string(),
            }), &["ConsentId", "Status", "Permissions"]),
            "Risk": { "type": "object" },
            "Links": obj(json!({ "Self": string() }), &["Self"]),
            "Meta": { "type": "object" },
        }), &["Data", "Risk"]),
        "EventInjection": {
            "type": "object",
            "properties": {
                "clientId": string(),
                "eventType": { "type": "string", "description": "URN, code or short name (resource-update, consent-authorization-revoked, account-access-consent-linked-account-update)" },
                "resourceId": string(), "resourceType": string(), "reason": string(), "txn": string(),
            },
            "required": ["eventType", "resourceId", "resourceType"],
            "additionalProperties": false,
        },
        "EventInjectionResult": obj(json!({
            "queued": { "type": "boolean" }, "jti": string(), "deliveryId": string(), "reason": string(),
        }), &["queued"]),
        "StoredEvents": obj(json!({
            "events": { "type": "array", "items": { "type": "object" } }, "more": { "type": "boolean" },
        }), &["events", "more"]),
        "ResetRequest": obj(json!({ "clientId": string() }), &[]),
        "ResetResult": obj(json!({ "deleted": { "type": "integer" } }), &["deleted"]),
        "SupportedEventTypes": obj(json!({
            "EventTypes": { "type": "array", "items": obj(json!({ "EventType": string(), "urn": string() }), &["EventType", "urn"]) },
        }), &["EventTypes"]),
        "Deliveries": obj(json!({
            "deliveries": { "type": "array", "items": { "type": "object" } }, "more": { "type": "boolean" },
        }), &["deliveries", "more"]),
        "DeliveryRetry": obj(json!({
            "id": string(), "state": { "const": "pending" }, "nextAttemptAt": { "type": "integer" },
        }), &["id", "state"]),
        "HealthText": { "type": "string", "const": "ok" },
        "OpenApiDocument": obj(json!({ "openapi": string() }), &["openapi", "info"]),
    })
}

/// Shared responses: the OBIE error answers, the bodiless 401 (G-10) and the OAuth errors.
pub fn responses() -> Value {
    let ob = |description: &str| {
        json!({
            "description": description,
            "headers": { "x-fapi-interaction-id": { "$ref": "#/components/headers/InteractionId" } },
            "content": { JSON: { "schema": { "$ref": "#/components/schemas/OBErrorResponse1" } } },
        })
    };
    let oauth = |description: &str, extra: Value| {
        let mut headers = json!({ "Cache-Control": { "schema": { "const": "no-store" } } });
        if let (Some(h), Value::Object(more)) = (headers.as_object_mut(), extra) {
            h.extend(more);
        }
        json!({
            "description": description,
            "headers": headers,
            "content": { JSON: { "schema": { "$ref": "#/components/schemas/OAuthError" } } },
        })
    };
    json!({
        "ObBadRequest": ob("Malformed JSON, missing or invalid fields, unknown members, or an unknown id (never 404)"),
        "ObForbidden": ob("The token lacks the scope, or the resource belongs to another TPP"),
        "ObConflict": ob("The TPP already has one (UK.OBIE.Rules.ResourceAlreadyExists)"),
        "ObNotAcceptable": ob("Accept admits no JSON"),
        "ObPayloadTooLarge": ob("Body above body_limit_bytes"),
        "ObUnsupportedMediaType": ob("Content-Type other than application/json"),
        "ObServerError": ob("Unexpected error (UK.OBIE.UnexpectedError)"),
        "ObTooManyRequests": {
            "description": "Too many failed attempts at the admin credential lately (GB.OBEvents.TooManyRequests)",
            "headers": {
                "Retry-After": { "schema": { "type": "integer" } },
                "x-fapi-interaction-id": { "$ref": "#/components/headers/InteractionId" },
            },
            "content": { JSON: { "schema": { "$ref": "#/components/schemas/OBErrorResponse1" } } },
        },
        "Unauthorized": {
            "description": "Missing, invalid or expired credentials; no body",
            "headers": {
                "WWW-Authenticate": { "schema": string() },
                "x-fapi-interaction-id": { "$ref": "#/components/headers/InteractionId" },
            },
        },
        "OAuthBadRequest": oauth("invalid_request, invalid_client_metadata, invalid_grant, unsupported_grant_type or invalid_scope", json!({})),
        "OAuthUnauthorized": oauth("invalid_client", json!({ "WWW-Authenticate": { "schema": string() } })),
        "OAuthTooManyRequests": oauth(
            "Too many failed client authentications for this client id",
            json!({ "Retry-After": { "schema": { "type": "integer" } } }),
        ),
        "OAuthPayloadTooLarge": oauth("Body above body_limit_bytes", json!({ "Connection": { "schema": { "const": "close" } } })),
    })
}

pub fn headers() -> Value {
    json!({
        "InteractionId": {
            "description": "The caller's x-fapi-interaction-id played back, or a fresh UUID (G-06)",
            "schema": string(),
        },
        "JwsSignature": {
            "description": "Detached JWS (PS256) over the body (G-14)",
            "schema": string(),
        },
        "Location": { "description": "URL of the created resource", "schema": string() },
    })
}

pub fn parameters() -> Value {
    json!({
        "InteractionId": {
            "name": "x-fapi-interaction-id", "in": "header", "required": false,
            "description": "Played back on the response", "schema": string(),
        },
        "JwsSignature": {
            "name": "x-jws-signature", "in": "header", "required": false,
            "description": "Detached JWS over the body, verified against the client's registered JWKS when it has one",
            "schema": string(),
        },
    })
}

/// `token_url` is absolute, so tools that do not resolve relative URLs can fetch tokens.
pub fn security_schemes(token_url: &str) -> Value {
    let scopes: Map<String, Value> = SCOPES
        .iter()
        .map(|s| {
            let what = if *s == "openid" {
                "grants no API access".to_string()
            } else {
                format!("scope {s}")
            };
            (s.to_string(), json!(what))
        })
        .collect();
    json!({
        "TppOAuth2": {
            "type": "oauth2",
            "description": "Client credentials access token (HS256 JWT) from the sandbox's token endpoint",
            "flows": { "clientCredentials": { "tokenUrl": token_url, "scopes": scopes } },
        },
        "AdminBasic": {
            "type": "http", "scheme": "basic",
            "description": "The operator's admin credential ([admin] in the config, or generated and printed once)",
        },
        "ClientSecretBasic": {
            "type": "http", "scheme": "basic",
            "description": "client_secret_basic: client id and secret (client_secret_post and private_key_jwt go in the form)",
        },
    })
}
