//! The demo's browser pages: server-rendered HTML, no JavaScript. Sign-in
//! (with "remember me"), registration, and the account page with the
//! session list, sign-out and log out everywhere, all on a cookie session
//! (`auth_core::http::sessions`).
//!
//! Cross-site request forgery: every form carries a token that is an HMAC
//! (SHA-256, a key drawn at start-up) of a random value kept in the `csrf`
//! cookie (`HttpOnly`, `SameSite=Lax`; `__Host-csrf` behind https, which
//! neither a sibling subdomain nor plain http can set) **and of the
//! session** the browser is signed in to (its `sid`; none before sign-in):
//! the signed double-submit cookie pattern, bound to the session. Another
//! site can make a browser send the cookie but can read neither it nor the
//! page, so it cannot produce the form field; a cookie and token minted in
//! another browser and planted in this one name another session (or none)
//! and are refused once this browser is signed in. A POST whose field
//! does not match is refused with 403 before any handler runs.
//! `SameSite=Lax` on every cookie is the second line.

use std::fmt::Write as _;
use std::sync::Arc;

use auth_core::http::axum::CurrentUser;
use auth_core::http::sessions::cookie::{Cookie, SameSite};
use auth_core::http::sessions::{Cookies, Session};
use auth_core::{
    AuthenticatedUser, ClientInfo, Error, SessionKind, SignInContext, SignedIn, TokenType,
};
use axum::extract::{Form, FromRequestParts, Path, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::app::App;
use crate::model::{Store, User, UserRegistration};

/// The cookie holding the CSRF value (over plain http).
pub const CSRF_COOKIE: &str = "csrf";
/// The cookie holding the CSRF value behind https: the `__Host-` prefix
/// makes browsers refuse it from a sibling subdomain or an insecure origin.
pub const SECURE_CSRF_COOKIE: &str = "__Host-csrf";
/// The form field holding its HMAC.
pub const CSRF_FIELD: &str = "csrf_token";

/// Cookie settings of the pages: `secure` adds `Secure` (behind https).
#[derive(Clone, Debug)]
pub struct Pages {
    key: Arc<jsonwebtoken::EncodingKey>,
    pub secure: bool,
}

impl Pages {
    /// A fresh CSRF key.
    pub fn new(secure: bool) -> Self {
        let key = auth_core::new_jti() + &auth_core::new_jti();
        Self {
            key: Arc::new(jsonwebtoken::EncodingKey::from_secret(key.as_bytes())),
            secure,
        }
    }

    /// The CSRF cookie's name: `__Host-csrf` when cookies are `Secure`.
    fn cookie_name(&self) -> &'static str {
        if self.secure {
            SECURE_CSRF_COOKIE
        } else {
            CSRF_COOKIE
        }
    }

    /// The token of a cookie value in a session (`binding`: its `sid`, or
    /// empty before sign-in).
    fn mac(&self, value: &str, binding: &str) -> String {
        let message = format!("{value}\n{binding}");
        jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &self.key,
            jsonwebtoken::Algorithm::HS256,
        )
        .unwrap_or_default()
    }

    /// The form token for this browser and session, setting its CSRF
    /// cookie if it has none.
    fn form_token(&self, cookies: &PageCookies) -> String {
        let name = self.cookie_name();
        let value = match cookies.get(name) {
            Some(c) if !c.value().is_empty() => c.value().to_owned(),
            _ => {
                let value = auth_core::new_jti();
                cookies.add(
                    Cookie::build((name, value.clone()))
                        .http_only(true)
                        .same_site(SameSite::Lax)
                        .secure(self.secure)
                        .path("/")
                        .build(),
                );
                value
            }
        };
        self.mac(&value, &cookies.binding)
    }

    /// Whether the form's token is the HMAC of this browser's cookie in
    /// this session (compared in constant time).
    fn check(&self, cookies: &PageCookies, field: Option<&str>) -> bool {
        let (Some(cookie), Some(field)) = (cookies.get(self.cookie_name()), field) else {
            return false;
        };
        let expected = self.mac(cookie.value(), &cookies.binding);
        expected.len() == field.len()
            && expected
                .bytes()
                .zip(field.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// The request's cookies and the session its CSRF tokens are bound to:
/// the signed-in session's `sid` (the subject for a session without one),
/// empty before sign-in. Dereferences to the cookies.
pub struct PageCookies {
    cookies: Cookies,
    binding: String,
}

impl std::ops::Deref for PageCookies {
    type Target = Cookies;

    fn deref(&self) -> &Cookies {
        &self.cookies
    }
}

impl<St: Send + Sync> FromRequestParts<St> for PageCookies {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &St) -> Result<Self, Response> {
        let cookies = Cookies::from_request_parts(parts, st)
            .await
            .map_err(IntoResponse::into_response)?;
        let MaybeUser(me) = MaybeUser::from_request_parts(parts, st)
            .await
            .unwrap_or(MaybeUser(None));
        let binding = me
            .map(|me| me.claims.sid.unwrap_or(me.claims.sub))
            .unwrap_or_default();
        Ok(Self { cookies, binding })
    }
}

/// A POST form with a valid CSRF token; 403 otherwise.
pub struct Checked<T>(T);

#[derive(Deserialize)]
struct WithToken<T> {
    csrf_token: Option<String>,
    #[serde(flatten)]
    form: T,
}

impl<T, S> axum::extract::FromRequest<PageState<S>> for Checked<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync + 'static,
{
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        state: &PageState<S>,
    ) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let cookies = PageCookies::from_request_parts(&mut parts, state)
            .await
            .map_err(|_| forbidden())?;
        let req = axum::extract::Request::from_parts(parts, body);
        let Form(f) = Form::<WithToken<T>>::from_request(req, state)
            .await
            .map_err(|_| forbidden())?;
        if state.pages.check(&cookies, f.csrf_token.as_deref()) {
            Ok(Checked(f.form))
        } else {
            Err(forbidden())
        }
    }
}

fn forbidden() -> Response {
    let body = layout(
        "Forbidden",
        "<p class=\"error\" role=\"alert\">This form expired or came from another site. \
         <a href=\"/\">Start again</a>.</p>",
    );
    (StatusCode::FORBIDDEN, Html(body)).into_response()
}

/// The pages' state: the runtime and the cookie settings.
pub struct PageState<S> {
    pub auth: App<S>,
    pub pages: Pages,
}

impl<S> Clone for PageState<S> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
            pages: self.pages.clone(),
        }
    }
}

/// The signed-in user, if any (pages redirect instead of answering 401).
pub struct MaybeUser(Option<AuthenticatedUser<User>>);

impl<St: Send + Sync> FromRequestParts<St> for MaybeUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, st: &St) -> Result<Self, Self::Rejection> {
        Ok(Self(
            CurrentUser::<User>::from_request_parts(parts, st)
                .await
                .ok()
                .map(|c| c.0),
        ))
    }
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f6f6f4}\
main{max-width:40rem;margin:0 auto;padding:1.5rem 1rem}\
code{overflow-wrap:anywhere}\
h1{font-size:1.6rem;margin:0 0 1rem}\
form.card,section{background:#fff;border:1px solid #d8d8d4;border-radius:6px;padding:1rem;margin:0 0 1rem}\
label{display:block;font-weight:600;margin:.75rem 0 .25rem}\
label.check{font-weight:400;display:flex;gap:.5rem;align-items:center}\
input[type=email],input[type=password]{width:100%;padding:.6rem;font:inherit;border:1px solid #8a8a86;border-radius:4px}\
input:focus,button:focus{outline:3px solid #2f6fde;outline-offset:1px}\
button{font:inherit;padding:.55rem 1rem;border-radius:4px;border:1px solid #1d4fb0;background:#2f6fde;color:#fff;cursor:pointer;margin-top:1rem}\
button.quiet{background:#fff;color:#1d4fb0}\
button.danger{background:#b3261e;border-color:#8c1d17}\
.error{color:#b3261e;font-weight:600;margin:.5rem 0}\
table{width:100%;border-collapse:collapse;font-size:.95rem}\
th,td{text-align:left;padding:.4rem .3rem;border-bottom:1px solid #e4e4e0;vertical-align:top}\
td form{margin:0}td button{margin:0;padding:.3rem .6rem}\
.actions{display:flex;flex-wrap:wrap;gap:.5rem}.actions form{margin:0}\
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}\
td.when{white-space:nowrap}\
@media (max-width:30rem){th.opt,td.opt{display:none}}";

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} · auth-core demo</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>",
        esc(title)
    )
}

fn hidden_token(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">",
        esc(token)
    )
}

/// What a page with a link's token says above its form.
#[derive(Clone, Copy)]
enum Note<'a> {
    None,
    Error(&'a str),
    /// The token was refused; `ask` is the page that sends a new one.
    Refused {
        ask: &'static str,
    },
}

fn note_block(note: Note<'_>) -> String {
    match note {
        Note::None => String::new(),
        Note::Error(e) => error_block(Some(e)),
        Note::Refused { ask } => format!(
            "<p class=\"error\" id=\"form-error\" role=\"alert\">This link is invalid, expired \
             or already used: <a id=\"ask-again\" href=\"{ask}\">ask for a new one</a>.</p>"
        ),
    }
}

fn error_block(error: Option<&str>) -> String {
    error.map_or_else(String::new, |e| {
        format!(
            "<p class=\"error\" id=\"form-error\" role=\"alert\">{}</p>",
            esc(e)
        )
    })
}

fn sign_in_page(token: &str, email: &str, error: Option<&str>) -> String {
    let described = if error.is_some() {
        " aria-describedby=\"form-error\""
    } else {
        ""
    };
    layout(
        "Sign in",
        &format!(
            "<h1>Sign in</h1>\
             <form class=\"card\" method=\"post\" action=\"/sign_in\">{}{}\
             <label for=\"email\">Email</label>\
             <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{}\"{described}>\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{described}>\
             <label class=\"check\"><input id=\"remember_me\" name=\"remember_me\" type=\"checkbox\" value=\"on\"> Remember me on this device</label>\
             <button type=\"submit\">Sign in</button></form>\
             <p>No account? <a href=\"/register\">Register</a>. \
             <a href=\"/password/forgot\">Forgot your password?</a> \
             <a href=\"/magic_link/request\">Email me a sign-in link</a></p>",
            hidden_token(token),
            error_block(error),
            esc(email),
        ),
    )
}

fn register_page(token: &str, email: &str, error: Option<&str>) -> String {
    let described = if error.is_some() {
        " aria-describedby=\"form-error\""
    } else {
        ""
    };
    layout(
        "Register",
        &format!(
            "<h1>Register</h1>\
             <form class=\"card\" method=\"post\" action=\"/register\">{}{}\
             <label for=\"email\">Email</label>\
             <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{}\"{described}>\
             <label for=\"password\">Password (at least 8 characters)</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"8\" required{described}>\
             <label for=\"password_confirmation\">Password again</label>\
             <input id=\"password_confirmation\" name=\"password_confirmation\" type=\"password\" autocomplete=\"new-password\" required{described}>\
             <button type=\"submit\">Create account</button></form>\
             <p>Have an account? <a href=\"/sign_in\">Sign in</a>.</p>",
            hidden_token(token),
            error_block(error),
            esc(email),
        ),
    )
}

/// "Chrome on Linux" from a `User-Agent` (woothee's parser); what it
/// cannot name is said so.
fn device_name(user_agent: &str) -> String {
    let known = |v: &str| !v.is_empty() && v != "UNKNOWN";
    match woothee::parser::Parser::new().parse(user_agent) {
        Some(r) if known(r.name) && known(r.os) => format!("{} on {}", r.name, r.os),
        Some(r) if known(r.name) => r.name.to_owned(),
        _ if user_agent.is_empty() => "Unknown device".to_owned(),
        _ => "Unknown browser".to_owned(),
    }
}

/// "just now", "5 minutes ago", "3 hours ago", "2 days ago".
fn time_ago(now: chrono::DateTime<chrono::Utc>, then: chrono::DateTime<chrono::Utc>) -> String {
    let minutes = (now - then).num_minutes().max(0);
    let (n, unit) = match minutes {
        0 => return "just now".to_owned(),
        1..60 => (minutes, "minute"),
        60..1440 => (minutes / 60, "hour"),
        _ => (minutes / 1440, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// What an event says on the account page.
fn event_label(kind: auth_core::EventKind) -> &'static str {
    use auth_core::EventKind as K;
    match kind {
        K::Registered => "Account created",
        K::SignedIn => "Signed in",
        K::SignInFailed => "Failed sign-in",
        K::LockedOut => "Sign-ins refused (too many failures)",
        K::Refreshed => "Session renewed",
        K::RefreshReuseDetected => "Session ended: a stolen refresh token was used",
        K::SignedOut => "Signed out",
        K::SessionEnded => "Session ended",
        K::LoggedOutEverywhere => "Logged out everywhere",
        K::PasswordChanged => "Password changed",
        K::PasswordResetRequested => "Password reset requested",
        K::PasswordReset => "Password reset",
        K::MagicLinkRequested => "Sign-in link requested",
        K::Confirmed => "Address confirmed",
        K::EmailChanged => "Email address changed",
        K::ApiKeyCreated => "API key created",
        K::ApiKeyRevoked => "API key revoked",
        _ => "Security event",
    }
}

fn events_section(events: &[auth_core::AuditEvent]) -> String {
    let now = chrono::Utc::now();
    let mut rows = String::new();
    for e in events {
        let raw = e.user_agent.as_deref().unwrap_or("");
        let device = if raw.is_empty() {
            String::new()
        } else {
            format!(" from {}", device_name(raw))
        };
        let _ = write!(
            rows,
            "<li data-event=\"{kind}\">{label}{device}, \
             <time datetime=\"{iso}\" title=\"{exact}\">{when}</time>\
             <span class=\"opt\"> ({ip})</span></li>",
            kind = e.kind.as_str(),
            label = event_label(e.kind),
            device = esc(&device),
            iso = e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            exact = e.at.format("%Y-%m-%d %H:%M UTC"),
            when = time_ago(now, e.at),
            ip = esc(e.ip.as_deref().unwrap_or("address unknown")),
        );
    }
    format!("<section><h2>Recent security activity</h2><ul class=\"events\">{rows}</ul></section>")
}

fn account_page(
    token: &str,
    me: &AuthenticatedUser<User>,
    sessions: &[auth_core::Session],
    keys: &[auth_core::ApiKeyInfo],
    events: &[auth_core::AuditEvent],
) -> String {
    let now = chrono::Utc::now();
    let mut rows = String::new();
    for s in sessions {
        let exact = s.last_seen_at.format("%Y-%m-%d %H:%M UTC");
        let when = time_ago(now, s.last_seen_at);
        let this = if s.current {
            " <strong>(this browser)</strong>"
        } else {
            ""
        };
        let raw = s.user_agent.as_deref().unwrap_or("");
        let _ = write!(
            rows,
            "<tr data-session=\"{id}\"><td>{kind}{this}</td>\
             <td class=\"when\"><time datetime=\"{iso}\" title=\"{exact}\">{when}</time></td>\
             <td class=\"opt\"><span class=\"device\" title=\"{raw}\">{device}</span></td><td class=\"opt\">{ip}</td>\
             <td><form method=\"post\" action=\"/account/sessions/{id}/end\">{tok}\
             <button class=\"quiet\" type=\"submit\" aria-label=\"End session {kind} last seen {when}\">End</button></form></td></tr>",
            id = esc(&s.id),
            kind = esc(&s.kind),
            iso = s
                .last_seen_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            raw = esc(raw),
            device = esc(&device_name(raw)),
            ip = esc(s.ip.as_deref().unwrap_or("unknown")),
            tok = hidden_token(token),
        );
    }
    let mut key_rows = String::new();
    for k in keys {
        let used = k
            .last_used_at
            .map_or_else(|| "never".to_owned(), |at| time_ago(now, at));
        let _ = write!(
            key_rows,
            "<tr data-key=\"{id}\"><td>{name}</td><td>{scopes}</td><td>{used}</td>\
             <td class=\"opt\">{expires}</td>\
             <td><form method=\"post\" action=\"/account/api_keys/{id}/revoke\">{tok}\
             <button class=\"quiet\" type=\"submit\" aria-label=\"Revoke the key {name}\">Revoke</button></form></td></tr>",
            id = esc(&k.id),
            name = esc(&k.name),
            scopes = esc(&if k.scopes.is_empty() {
                "none".to_owned()
            } else {
                k.scopes.join(", ")
            }),
            expires = k.expires_at.format("%Y-%m-%d"),
            tok = hidden_token(token),
        );
    }
    let keys_section = format!(
        "<section><h2>API keys</h2>\
         <p>For scripts: send a key as <code>x-api-key</code>. Its secret is shown once, when it is made.</p>\
         <table><thead><tr><th>Name</th><th>Scopes</th><th>Last used</th><th class=\"opt\">Expires</th><th><span class=\"visually-hidden\">Action</span></th></tr></thead>\
         <tbody>{key_rows}</tbody></table>\
         <form method=\"post\" action=\"/account/api_keys\" class=\"stack\">{tok}\
         <label>Name <input id=\"key_name\" name=\"name\" required maxlength=\"100\"></label>\
         <label><input id=\"scope_reports_read\" type=\"checkbox\" name=\"reports_read\" value=\"on\"> reports:read</label>\
         <label><input id=\"scope_reports_write\" type=\"checkbox\" name=\"reports_write\" value=\"on\"> reports:write</label>\
         <button type=\"submit\">Create key</button></form></section>",
        tok = hidden_token(token),
    );
    layout(
        "Your account",
        &format!(
            "<h1>Your account</h1>\
             <section><p>Signed in as <strong id=\"who\">{email}</strong> (role {role}; {confirmed}).</p>\
             <div class=\"actions\">\
             <form method=\"post\" action=\"/sign_out\">{tok}<button type=\"submit\">Sign out</button></form>\
             <form method=\"post\" action=\"/log_out_everywhere\">{tok}<button class=\"danger\" type=\"submit\">Log out everywhere</button></form>\
             </div></section>\
             <section><h2>Signed-in devices</h2>\
             <table><thead><tr><th>Kind</th><th>Last seen</th><th class=\"opt\">Browser</th><th class=\"opt\">IP</th><th><span class=\"visually-hidden\">Action</span></th></tr></thead>\
             <tbody>{rows}</tbody></table></section>{keys_section}{events_section}",
            email = esc(&me.user.email),
            role = esc(&me.user.role),
            confirmed = if me.user.confirmed_at.is_some() {
                "address confirmed"
            } else {
                "address not confirmed yet"
            },
            tok = hidden_token(token),
            events_section = events_section(events),
        ),
    )
}

fn page(status: StatusCode, html: String) -> Response {
    (status, Html(html)).into_response()
}

fn failed(e: &Error) -> Response {
    tracing::error!(error = %e, "page failed");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        layout(
            "Try again",
            "<p class=\"error\" role=\"alert\">Something went wrong. Try again in a moment.</p>",
        ),
    )
}

/// An unknown URL, for a browser: a page, not JSON.
pub fn not_found_page() -> Response {
    page(
        StatusCode::NOT_FOUND,
        layout(
            "Page not found",
            "<h1>Page not found</h1>\
             <p>There is no page at this address.</p>\
             <p><a href=\"/\">Go to the start page</a></p>",
        ),
    )
}

pub async fn home(MaybeUser(me): MaybeUser) -> Redirect {
    Redirect::to(if me.is_some() { "/account" } else { "/sign_in" })
}

pub async fn sign_in_form<S>(
    State(st): State<PageState<S>>,
    cookies: PageCookies,
    MaybeUser(me): MaybeUser,
) -> Response {
    if me.is_some() {
        return Redirect::to("/account").into_response();
    }
    page(
        StatusCode::OK,
        sign_in_page(&st.pages.form_token(&cookies), "", None),
    )
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    remember_me: Option<String>,
}

/// Keeps a sign-in in the cookie session, sets the remember-me cookie when
/// asked, and goes to the account page.
async fn signed_in<S: Store>(
    st: &PageState<S>,
    session: &Session,
    cookies: &Cookies,
    signed: &SignedIn<User>,
    remember: bool,
) -> Response {
    if let Err(e) = st.auth.store_in_session(session, signed).await {
        return failed(&e);
    }
    if remember {
        let cookie = match st.auth.issue_remember_me(signed).await {
            Ok(token) => st.auth.remember_me_cookie(&token),
            Err(e) => Err(e),
        };
        match cookie {
            Ok(c) => cookies.add(c),
            Err(e) => return failed(&e),
        }
    }
    Redirect::to("/account").into_response()
}

pub async fn sign_in<S: Store>(
    State(st): State<PageState<S>>,
    session: Session,
    cookies: PageCookies,
    client: ClientInfo,
    Checked(form): Checked<SignInForm>,
) -> Response {
    let context = SignInContext::default()
        .client(client)
        .kind(SessionKind::Cookie);
    match User::sign_in_with_password(
        &st.auth,
        form.email.trim(),
        &form.password,
        TokenType::User,
        context,
    )
    .await
    {
        Ok(signed) => signed_in(&st, &session, &cookies, &signed, form.remember_me.is_some()).await,
        Err(e) if auth_core::http::status_code(&e) == 401 => {
            let html = sign_in_page(
                &st.pages.form_token(&cookies),
                &form.email,
                Some("Wrong email or password."),
            );
            page(StatusCode::UNAUTHORIZED, html)
        }
        Err(e) => failed(&e),
    }
}

/// A page that asks for a link by mail: the password reset's, the magic
/// link's.
struct AskPage {
    title: &'static str,
    action: &'static str,
    button: &'static str,
}

const FORGOT_PAGE: AskPage = AskPage {
    title: "Forgot your password",
    action: "/password/forgot",
    button: "Send me a reset link",
};

const MAGIC_LINK_REQUEST_PAGE: AskPage = AskPage {
    title: "Sign in by email",
    action: "/magic_link/request",
    button: "Send me a sign-in link",
};

fn ask_page(p: &AskPage, token: &str, notice: Option<&str>) -> String {
    let notice = notice.map_or_else(String::new, |n| {
        format!("<p id=\"notice\" role=\"status\">{}</p>", esc(n))
    });
    layout(
        p.title,
        &format!(
            "<h1>{title}</h1>{notice}\
             <form class=\"card\" method=\"post\" action=\"{action}\">{csrf}\
             <label for=\"email\">Email</label>\
             <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required>\
             <button type=\"submit\">{button}</button></form>\
             <p><a href=\"/sign_in\">Back to sign in</a></p>",
            title = esc(p.title),
            action = p.action,
            csrf = hidden_token(token),
            button = esc(p.button),
        ),
    )
}

fn reset_page(token: &str, reset_token: &str, note: Note<'_>) -> String {
    layout(
        "Choose a new password",
        &format!(
            "<h1>Choose a new password</h1>\
             <form class=\"card\" method=\"post\" action=\"/password/reset\">{}{}\
             <input type=\"hidden\" name=\"reset_token\" value=\"{}\">\
             <label for=\"password\">New password (at least 8 characters)</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"8\" required>\
             <label for=\"password_confirmation\">New password again</label>\
             <input id=\"password_confirmation\" name=\"password_confirmation\" type=\"password\" autocomplete=\"new-password\" required>\
             <button type=\"submit\">Set the password</button></form>",
            hidden_token(token),
            note_block(note),
            esc(reset_token),
        ),
    )
}

pub async fn forgot_form<S>(State(st): State<PageState<S>>, cookies: PageCookies) -> Response {
    page(
        StatusCode::OK,
        ask_page(&FORGOT_PAGE, &st.pages.form_token(&cookies), None),
    )
}

pub async fn magic_link_request_form<S>(
    State(st): State<PageState<S>>,
    cookies: PageCookies,
) -> Response {
    page(
        StatusCode::OK,
        ask_page(
            &MAGIC_LINK_REQUEST_PAGE,
            &st.pages.form_token(&cookies),
            None,
        ),
    )
}

#[derive(Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// The same answer whether the address has an account or not.
pub async fn forgot<S: Store>(
    State(st): State<PageState<S>>,
    cookies: PageCookies,
    client: ClientInfo,
    Checked(form): Checked<ForgotForm>,
) -> Response {
    let sent = User::request_password_reset_from(&st.auth, &form.email, &client).await;
    asked(&FORGOT_PAGE, &st, &cookies, sent, "a reset link")
}

/// As `forgot`, for a sign-in link.
pub async fn magic_link_request<S: Store>(
    State(st): State<PageState<S>>,
    cookies: PageCookies,
    client: ClientInfo,
    Checked(form): Checked<ForgotForm>,
) -> Response {
    let sent = User::request_magic_link_from(&st.auth, &form.email, &client).await;
    asked(
        &MAGIC_LINK_REQUEST_PAGE,
        &st,
        &cookies,
        sent,
        "a sign-in link",
    )
}

fn asked<S>(
    p: &AskPage,
    st: &PageState<S>,
    cookies: &PageCookies,
    sent: Result<(), Error>,
    what: &str,
) -> Response {
    let token = st.pages.form_token(cookies);
    match sent {
        Ok(()) => {
            let notice = format!("If this address has an account, {what} is on its way.");
            page(StatusCode::ACCEPTED, ask_page(p, &token, Some(&notice)))
        }
        Err(Error::InvalidInput(_)) => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            ask_page(
                p,
                &token,
                Some("Enter an email address like name@example.com."),
            ),
        ),
        Err(Error::TooManyAttempts { .. }) => page(
            StatusCode::TOO_MANY_REQUESTS,
            ask_page(
                p,
                &token,
                Some("Too many requests from your network. Try again later."),
            ),
        ),
        Err(e) => failed(&e),
    }
}

#[derive(Deserialize)]
pub struct ResetQuery {
    token: String,
}

/// The link's page: a form (a GET never spends the token, so a mail
/// scanner following the link changes nothing).
pub async fn reset_form<S>(
    State(st): State<PageState<S>>,
    cookies: PageCookies,
    query: Result<axum::extract::Query<ResetQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let reset_token = query.map(|q| q.0.token).unwrap_or_default();
    page(
        StatusCode::OK,
        reset_page(&st.pages.form_token(&cookies), &reset_token, Note::None),
    )
}

#[derive(Deserialize)]
pub struct ResetForm {
    reset_token: String,
    password: String,
    password_confirmation: String,
}

pub async fn reset<S: Store>(
    State(st): State<PageState<S>>,
    session: Session,
    cookies: PageCookies,
    client: ClientInfo,
    Checked(form): Checked<ResetForm>,
) -> Response {
    let context = SignInContext::default()
        .client(client)
        .kind(SessionKind::Cookie);
    let again = |status, message: Note<'_>| {
        page(
            status,
            reset_page(&st.pages.form_token(&cookies), &form.reset_token, message),
        )
    };
    let (token, password) = (&form.reset_token, &form.password);
    let confirmation = Some(form.password_confirmation.as_str());
    match User::reset_password(&st.auth, token, password, confirmation, context).await {
        Ok(signed) => signed_in(&st, &session, &cookies, &signed, false).await,
        Err(Error::PasswordConfirmationMismatch) => again(
            StatusCode::UNPROCESSABLE_ENTITY,
            Note::Error("The two passwords differ."),
        ),
        Err(Error::InvalidInput(m)) => again(StatusCode::UNPROCESSABLE_ENTITY, Note::Error(&m)),
        Err(e) if auth_core::http::status_code(&e) == 401 => again(
            StatusCode::UNAUTHORIZED,
            Note::Refused {
                ask: "/password/forgot",
            },
        ),
        Err(e) => failed(&e),
    }
}

/// A page behind a link that carries a single-use token: one button whose
/// POST (with the CSRF token) spends it. A GET never does, so a mail
/// scanner following the link changes nothing.
struct LinkPage {
    title: &'static str,
    action: &'static str,
    field: &'static str,
    button: &'static str,
    /// Extra form fields (HTML), after the token.
    extra: &'static str,
}

const MAGIC_LINK_PAGE: LinkPage = LinkPage {
    title: "Sign in with your link",
    action: "/magic_link",
    field: "token",
    button: "Sign in on this device",
    extra: "",
};

const CONFIRM_PAGE: LinkPage = LinkPage {
    title: "Confirm your address",
    action: "/confirm",
    field: "confirm_token",
    button: "Confirm",
    // Confirming a new account without its password clears the password:
    // the link proves the address, not who registered it.
    extra: "<label>Your password, if you registered this account \
            <input type=\"password\" name=\"password\" autocomplete=\"current-password\"></label>\
            <p class=\"hint\">Leave it empty if you did not: the account becomes yours, \
            and you set a password by a reset.</p>",
};

fn link_page(p: &LinkPage, token: &str, link_token: &str, note: Note<'_>) -> String {
    layout(
        p.title,
        &format!(
            "<h1>{title}</h1>\
             <form class=\"card\" method=\"post\" action=\"{action}\">{csrf}{note}\
             <input type=\"hidden\" name=\"{field}\" value=\"{value}\">{extra}\
             <button type=\"submit\">{button}</button></form>",
            title = esc(p.title),
            action = p.action,
            csrf = hidden_token(token),
            note = note_block(note),
            field = p.field,
            value = esc(link_token),
            extra = p.extra,
            button = esc(p.button),
        ),
    )
}

fn link_form<S>(
    p: &LinkPage,
    st: &PageState<S>,
    cookies: &PageCookies,
    query: Result<axum::extract::Query<ResetQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let link_token = query.map(|q| q.0.token).unwrap_or_default();
    page(
        StatusCode::OK,
        link_page(p, &st.pages.form_token(cookies), &link_token, Note::None),
    )
}

/// The link's page again, with why its token was refused.
fn link_refused<S>(
    p: &LinkPage,
    st: &PageState<S>,
    cookies: &PageCookies,
    status: StatusCode,
    why: Note<'_>,
) -> Response {
    page(status, link_page(p, &st.pages.form_token(cookies), "", why))
}

/// The magic link's page.
pub async fn magic_link_form<S>(
    State(st): State<PageState<S>>,
    cookies: PageCookies,
    query: Result<axum::extract::Query<ResetQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    link_form(&MAGIC_LINK_PAGE, &st, &cookies, query)
}

#[derive(Deserialize)]
pub struct MagicLinkForm {
    token: String,
}

pub async fn magic_link<S: Store>(
    State(st): State<PageState<S>>,
    session: Session,
    cookies: PageCookies,
    client: ClientInfo,
    Checked(form): Checked<MagicLinkForm>,
) -> Response {
    let context = SignInContext::default()
        .client(client)
        .kind(SessionKind::Cookie);
    match User::sign_in_with_magic_link(&st.auth, &form.token, context).await {
        Ok(signed) => signed_in(&st, &session, &cookies, &signed, false).await,
        Err(e) if auth_core::http::status_code(&e) == 401 => link_refused(
            &MAGIC_LINK_PAGE,
            &st,
            &cookies,
            StatusCode::UNAUTHORIZED,
            Note::Refused {
                ask: "/magic_link/request",
            },
        ),
        Err(e) => failed(&e),
    }
}

/// The confirmation link's page.
pub async fn confirm_form<S>(
    State(st): State<PageState<S>>,
    cookies: PageCookies,
    query: Result<axum::extract::Query<ResetQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    link_form(&CONFIRM_PAGE, &st, &cookies, query)
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    confirm_token: String,
    #[serde(default)]
    password: String,
}

pub async fn confirm<S: Store>(
    State(st): State<PageState<S>>,
    cookies: PageCookies,
    Checked(form): Checked<ConfirmForm>,
) -> Response {
    let confirmed = if form.password.is_empty() {
        User::confirm(&st.auth, &form.confirm_token).await
    } else {
        User::confirm_with_password(&st.auth, &form.confirm_token, &form.password).await
    };
    match confirmed {
        Ok(user) => page(
            StatusCode::OK,
            layout(
                "Confirmed",
                &format!(
                    "<h1>Confirmed</h1><p id=\"notice\" role=\"status\">{} is confirmed.</p>\
                     <p><a href=\"/account\">Your account</a></p>",
                    esc(&user.email)
                ),
            ),
        ),
        Err(e) if auth_core::http::status_code(&e) == 401 => link_refused(
            &CONFIRM_PAGE,
            &st,
            &cookies,
            StatusCode::UNAUTHORIZED,
            Note::Error("This link is invalid, expired or already used."),
        ),
        Err(Error::IdentityTaken) => link_refused(
            &CONFIRM_PAGE,
            &st,
            &cookies,
            StatusCode::CONFLICT,
            Note::Error("This address now belongs to another account."),
        ),
        Err(e) => failed(&e),
    }
}

pub async fn register_form<S>(State(st): State<PageState<S>>, cookies: PageCookies) -> Response {
    page(
        StatusCode::OK,
        register_page(&st.pages.form_token(&cookies), "", None),
    )
}

#[derive(Deserialize)]
pub struct RegisterForm {
    email: String,
    password: String,
    password_confirmation: String,
}

pub async fn register<S: Store>(
    State(st): State<PageState<S>>,
    session: Session,
    cookies: PageCookies,
    client: ClientInfo,
    Checked(form): Checked<RegisterForm>,
) -> Response {
    let again = |status, message: &str| {
        page(
            status,
            register_page(&st.pages.form_token(&cookies), &form.email, Some(message)),
        )
    };
    let Ok(email) = crate::app::check_email(&form.email) else {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter an email address like name@example.com.",
        );
    };
    let registration = UserRegistration {
        email,
        role: "member".into(),
        password: form.password.clone(),
        password_confirmation: Some(form.password_confirmation.clone()),
    };
    let context = SignInContext::default()
        .client(client)
        .kind(SessionKind::Cookie);
    match User::register_with_password(&st.auth, registration, context).await {
        Ok(signed) => signed_in(&st, &session, &cookies, &signed, false).await,
        Err(Error::IdentityTaken) => again(
            StatusCode::CONFLICT,
            "This email is already registered. Sign in instead.",
        ),
        Err(Error::PasswordConfirmationMismatch) => again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The two passwords differ.",
        ),
        Err(Error::InvalidInput(m)) => again(StatusCode::UNPROCESSABLE_ENTITY, &m),
        Err(e) => failed(&e),
    }
}

pub async fn account<S: Store>(
    State(st): State<PageState<S>>,
    cookies: PageCookies,
    MaybeUser(me): MaybeUser,
) -> Response {
    let Some(me) = me else {
        return Redirect::to("/sign_in").into_response();
    };
    let sessions = User::list_sessions(&st.auth, &me.user, me.claims.sid.as_deref()).await;
    let keys = User::list_api_keys(&st.auth, &me.user).await;
    let events = User::list_events(&st.auth, &me.user, 10).await;
    match (sessions, keys, events) {
        (Ok(sessions), Ok(keys), Ok(events)) => page(
            StatusCode::OK,
            account_page(
                &st.pages.form_token(&cookies),
                &me,
                &sessions,
                &keys,
                &events,
            ),
        ),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => failed(&e),
    }
}

#[derive(Deserialize)]
pub struct NewKeyForm {
    name: String,
    reports_read: Option<String>,
    reports_write: Option<String>,
}

/// Makes a key and shows it, this once.
pub async fn create_api_key<S: Store>(
    State(st): State<PageState<S>>,
    MaybeUser(me): MaybeUser,
    Checked(form): Checked<NewKeyForm>,
) -> Response {
    let Some(me) = me else {
        return Redirect::to("/sign_in").into_response();
    };
    let mut scopes = Vec::new();
    if form.reports_read.is_some() {
        scopes.push("reports:read");
    }
    if form.reports_write.is_some() {
        scopes.push("reports:write");
    }
    match User::create_api_key(&st.auth, &me.user, &form.name, &scopes, None).await {
        Ok(created) => page(
            StatusCode::CREATED,
            layout(
                "Your new API key",
                &format!(
                    "<h1>Your new API key</h1>\
                     <p>Copy it now: it is shown this once and cannot be shown again.</p>\
                     <p><code id=\"new-key\">{key}</code></p>\
                     <p><a href=\"/account\">Back to your account</a></p>",
                    key = esc(&created.key),
                ),
            ),
        ),
        Err(Error::InvalidInput(why)) => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            layout(
                "API key not made",
                &format!(
                    "<p class=\"error\" role=\"alert\">{}</p><p><a href=\"/account\">Back to your account</a></p>",
                    esc(&why)
                ),
            ),
        ),
        Err(e) => failed(&e),
    }
}

pub async fn revoke_api_key<S: Store>(
    State(st): State<PageState<S>>,
    MaybeUser(me): MaybeUser,
    Path(id): Path<String>,
    Checked(Empty {}): Checked<Empty>,
) -> Response {
    let Some(me) = me else {
        return Redirect::to("/sign_in").into_response();
    };
    match User::revoke_api_key(&st.auth, &me.user, &id).await {
        Ok(()) | Err(Error::ApiKeyNotFound) => Redirect::to("/account").into_response(),
        Err(e) => failed(&e),
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn end_session<S: Store>(
    State(st): State<PageState<S>>,
    MaybeUser(me): MaybeUser,
    Path(id): Path<String>,
    Checked(Empty {}): Checked<Empty>,
) -> Response {
    let Some(me) = me else {
        return Redirect::to("/sign_in").into_response();
    };
    match User::revoke_session(&st.auth, &me.user, &id).await {
        Ok(()) | Err(Error::SessionNotFound) => Redirect::to("/account").into_response(),
        Err(e) => failed(&e),
    }
}

pub async fn sign_out<S: Store>(
    State(st): State<PageState<S>>,
    session: Session,
    cookies: PageCookies,
    Checked(Empty {}): Checked<Empty>,
) -> Response {
    match st.auth.sign_out_of_session(&session, &cookies).await {
        Ok(()) => Redirect::to("/sign_in").into_response(),
        Err(e) => failed(&e),
    }
}

pub async fn log_out_everywhere<S: Store>(
    State(st): State<PageState<S>>,
    session: Session,
    cookies: PageCookies,
    MaybeUser(me): MaybeUser,
    Checked(Empty {}): Checked<Empty>,
) -> Response {
    if let Some(me) = me
        && let Err(e) = User::log_out_everywhere(&st.auth, &me.user).await
    {
        return failed(&e);
    }
    match st.auth.sign_out_of_session(&session, &cookies).await {
        Ok(()) => Redirect::to("/sign_in").into_response(),
        Err(e) => failed(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_by_browser_and_system() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(device_name(chrome), "Chrome on Linux");
        let headless = chrome.replace("Chrome/", "HeadlessChrome/");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        let firefox =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(
            device_name(&headless),
            "Chrome on Linux",
            "the browser test's"
        );
        assert_eq!(device_name(safari), "Safari on iPhone");
        assert_eq!(device_name(firefox), "Firefox on Windows 10");
        assert_eq!(device_name("curl/8.5.0"), "HTTP Library");
        assert_eq!(device_name("\u{1}<script>"), "Unknown browser");
        assert_eq!(device_name(""), "Unknown device");
    }

    #[test]
    fn last_seen_reads_as_time_ago() {
        let now = chrono::Utc::now();
        let ago = |secs| time_ago(now, now - chrono::Duration::seconds(secs));
        assert_eq!(ago(5), "just now");
        assert_eq!(ago(-30), "just now", "a clock ahead of ours");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(5 * 60 + 59), "5 minutes ago");
        assert_eq!(ago(3600), "1 hour ago");
        assert_eq!(ago(5 * 3600), "5 hours ago");
        assert_eq!(ago(86_400), "1 day ago");
        assert_eq!(ago(3 * 86_400), "3 days ago");
    }
}
