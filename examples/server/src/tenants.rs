//! The demo's tenants, under `/t/`: members sign in to a tenant named by
//! the `X-Tenant` header, and each sign-in is bound to it (context
//! tenancy). A token of one tenant is refused at another; logging out
//! everywhere in one tenant leaves the others signed in; an admin (a
//! `/auth/user` token of role `admin`) suspends a tenant, ending every
//! session in it.

use std::sync::Arc;

use auth_core::http::axum::{AuthLayer, CurrentUser, TenantId};
use auth_core::{Auth, ClientInfo, SignInContext, SignedIn, Tenant, TokenType};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::app::{ApiError, App, Body, check_email};
use crate::model::{Member, MemberRegistration, Store, User};

pub type Members<S> = Arc<Auth<Member, S>>;

/// The tenant routes: sign-ups and sign-ins per tenant, the member's own
/// page and log out everywhere in the tenant (authenticated in the
/// request's tenant), and the admin's suspension of a tenant.
pub fn router<S: Store>(members: Members<S>, users: App<S>) -> Router {
    let open = Router::new()
        .route("/t/auth/register", post(register::<S>))
        .route("/t/auth/sign_in", post(sign_in::<S>))
        .route("/t/auth/refresh", post(refresh::<S>));
    // The layer reads the tenant from `X-Tenant` and authenticates in it.
    let signed_in = Router::new()
        .route("/t/me", get(me))
        .route("/t/auth/log_out_everywhere", post(log_out_everywhere::<S>))
        .layer(AuthLayer::required(members.clone()));
    let admin = Router::new()
        .route("/admin/tenants/{tenant}/suspend", post(suspend::<S>))
        .layer(AuthLayer::required(users));
    open.merge(signed_in).merge(admin).with_state(members)
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
    password_confirmation: Option<String>,
}

fn signed_in_body(signed: &SignedIn<Member>) -> serde_json::Value {
    let mut body = json!({
        "member": {"id": signed.user.id, "email": signed.user.email},
        "tenant": signed.token.claims.tenant,
        "token": signed.token.token,
    });
    if let Some(refresh) = &signed.refresh_token {
        body["refresh_token"] = json!(refresh.token);
    }
    body
}

fn context(client: ClientInfo, tenant: Tenant) -> SignInContext {
    SignInContext::default().client(client).tenant(tenant)
}

async fn register<S: Store>(
    State(members): State<Members<S>>,
    TenantId(tenant): TenantId,
    client: ClientInfo,
    Body(b): Body<Credentials>,
) -> Result<Response, ApiError> {
    let registration = MemberRegistration {
        email: check_email(&b.email)?,
        password: b.password,
        password_confirmation: b.password_confirmation,
    };
    let signed =
        Member::register_with_password(&members, registration, context(client, tenant)).await?;
    Ok((StatusCode::CREATED, Json(signed_in_body(&signed))).into_response())
}

async fn sign_in<S: Store>(
    State(members): State<Members<S>>,
    TenantId(tenant): TenantId,
    client: ClientInfo,
    Body(b): Body<Credentials>,
) -> Result<Response, ApiError> {
    let signed = Member::sign_in_with_password(
        &members,
        &b.email,
        &b.password,
        TokenType::User,
        context(client, tenant),
    )
    .await?;
    Ok(Json(signed_in_body(&signed)).into_response())
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh<S: Store>(
    State(members): State<Members<S>>,
    Body(b): Body<RefreshBody>,
) -> Result<Response, ApiError> {
    let pair = Member::refresh(&members, &b.refresh_token).await?;
    Ok(
        Json(json!({"token": pair.token.token, "refresh_token": pair.refresh_token.token}))
            .into_response(),
    )
}

async fn me(CurrentUser(me): CurrentUser<Member>, TenantId(tenant): TenantId) -> Response {
    Json(json!({
        "member": {"id": me.user.id, "email": me.user.email},
        "tenant": tenant.as_str(),
    }))
    .into_response()
}

async fn log_out_everywhere<S: Store>(
    State(members): State<Members<S>>,
    CurrentUser(me): CurrentUser<Member>,
    TenantId(tenant): TenantId,
) -> Result<StatusCode, ApiError> {
    members.log_out_everywhere_in(&me.user, &tenant).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An admin suspends a tenant: every session in it ends, in one statement.
async fn suspend<S: Store>(
    State(members): State<Members<S>>,
    CurrentUser(admin): CurrentUser<User>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    if admin.user.role != "admin" {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", None));
    }
    let tenant = Tenant::new(tenant)?;
    let ended = members.end_tenant(&tenant).await?;
    tracing::info!(tenant = %tenant, ended, "tenant suspended");
    Ok(Json(json!({"tenant": tenant.as_str(), "ended": ended})).into_response())
}
