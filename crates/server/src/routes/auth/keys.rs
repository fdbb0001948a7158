//! API keys: create with scopes, list, revoke.

use super::shapes::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser, ClientIp, API_KEY_PREFIX};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ferrocast_auth::token;
use ferrocast_domain::account::Scope;

/// Create an API key. The key is in this response only.
#[utoipa::path(post, path = "/api/auth/api-keys", tag = "auth", security(("bearer" = [])), request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: AuthUser,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "name: must be 1 to 100 characters without control characters",
        ));
    }
    if req.scopes.is_empty() {
        return Err(ApiError::validation(
            "scopes: give at least one scope, e.g. [\"profile:read\"]",
        ));
    }
    if req.scopes.len() > 32 {
        return Err(ApiError::validation(
            "scopes: list each scope once; there are only eight",
        ));
    }
    let mut scopes = Vec::new();
    for s in &req.scopes {
        let scope = Scope::parse(s).ok_or_else(|| {
            let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::validation(format!(
                "scopes: unknown scope {:?}; known: {}",
                s.chars().take(40).collect::<String>(),
                known.join(", ")
            ))
        })?;
        if !scope.allowed_for(auth.role) {
            return Err(ApiError::forbidden(format!(
                "Your role cannot grant the `{}` scope.",
                scope.as_str()
            )));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes.sort();
    confirm_password(&state, ip, &auth, req.password).await?;
    let now = state.clock.now_ms();
    let expires_at = match req.expires_in_days {
        None => None,
        Some(d) if (1..=3650).contains(&d) => Some(now + d * 86_400_000),
        Some(_) => {
            return Err(ApiError::validation(
                "expires_in_days: must be between 1 and 3650",
            ))
        }
    };
    let active = state
        .db
        .list_api_keys(auth.user.id)
        .await?
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .count();
    if active >= MAX_API_KEYS {
        return Err(ApiError::conflict(
            "TOO_MANY_API_KEYS",
            "Too many API keys",
            format!("Revoke one first; the limit is {MAX_API_KEYS}."),
        ));
    }
    let key = token::generate(API_KEY_PREFIX);
    let prefix: String = key.chars().take(12).collect();
    let scope_text = scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let uuid = uuid::Uuid::new_v4().to_string();
    let rec = state
        .db
        .create_api_key(
            &uuid,
            auth.user.id,
            name,
            &prefix,
            &token::hash(&key),
            &scope_text,
            expires_at,
            now,
        )
        .await?;
    tracing::info!(user_id = auth.user.id, key = %rec.uuid, scopes = %scope_text, "api key created");
    state
        .audit
        .note(
            crate::service::audit::AuditEvent::new(
                "auth.api_key_created",
                crate::service::audit::Actor::User(auth.user.id),
            )
            .subject("api_key", &rec.uuid)
            .details(serde_json::json!({"scopes": scope_text, "prefix": prefix, "expires_at": expires_at}))
            .personal(Some(auth.user.id), serde_json::json!({"ip": ip.to_string()})),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            api_key: (&rec).into(),
            key,
        }),
    ))
}

/// List the caller's API keys (never the keys themselves).
#[utoipa::path(get, path = "/api/auth/api-keys", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = ApiKeyList), (status = 401, body = ErrorBody)))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<ApiKeyList>> {
    let keys = state.db.list_api_keys(auth.user.id).await?;
    Ok(Json(ApiKeyList {
        api_keys: keys.iter().map(Into::into).collect(),
    }))
}

/// Revoke one of the caller's API keys.
#[utoipa::path(delete, path = "/api/auth/api-keys/{uuid}", tag = "auth", security(("bearer" = [])),
    params(("uuid" = String, Path, description = "The key's UUID")),
    responses((status = 200, body = Message), (status = 404, body = ErrorBody)))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(uuid): Path<String>,
) -> ApiResult<Json<Message>> {
    if uuid::Uuid::parse_str(&uuid).is_err()
        || !state
            .db
            .revoke_api_key(auth.user.id, &uuid, state.clock.now_ms())
            .await?
    {
        return Err(ApiError::not_found("API key"));
    }
    state
        .audit
        .note(
            crate::service::audit::AuditEvent::new(
                "auth.api_key_revoked",
                crate::service::audit::Actor::User(auth.user.id),
            )
            .subject("api_key", &uuid),
        )
        .await;
    Ok(message("API key revoked."))
}
