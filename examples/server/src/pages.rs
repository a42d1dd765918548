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
             <a href=\"/password/forgot\">Forgot your password?</a></p>",
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

fn account_page(
    token: &str,
    me: &AuthenticatedUser<User>,
    sessions: &[auth_core::Session],
) -> String {
    let mut rows = String::new();
    for s in sessions {
        let when = s.last_seen_at.format("%Y-%m-%d %H:%M UTC");
        let this = if s.current {
            " <strong>(this browser)</strong>"
        } else {
            ""
        };
        let _ = write!(
            rows,
            "<tr data-session=\"{id}\"><td>{kind}{this}</td><td>{when}</td>\
             <td class=\"opt\">{ua}</td><td class=\"opt\">{ip}</td>\
             <td><form method=\"post\" action=\"/account/sessions/{id}/end\">{tok}\
             <button class=\"quiet\" type=\"submit\" aria-label=\"End session {kind} last seen {when}\">End</button></form></td></tr>",
            id = esc(&s.id),
            kind = esc(&s.kind),
            ua = esc(s.user_agent.as_deref().unwrap_or("unknown")),
            ip = esc(s.ip.as_deref().unwrap_or("unknown")),
            tok = hidden_token(token),
        );
    }
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
             <tbody>{rows}</tbody></table></section>",
            email = esc(&me.user.email),
            role = esc(&me.user.role),
            confirmed = if me.user.confirmed_at.is_some() {
                "address confirmed"
            } else {
                "address not confirmed yet"
            },
            tok = hidden_token(token),
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

fn forgot_page(token: &str, notice: Option<&str>) -> String {
    let notice = notice.map_or_else(String::new, |n| {
        format!("<p id=\"notice\" role=\"status\">{}</p>", esc(n))
    });
    layout(
        "Forgot your password",
        &format!(
            "<h1>Forgot your password</h1>{notice}\
             <form class=\"card\" method=\"post\" action=\"/password/forgot\">{}\
             <label for=\"email\">Email</label>\
             <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required>\
             <button type=\"submit\">Send me a reset link</button></form>\
             <p><a href=\"/sign_in\">Back to sign in</a></p>",
            hidden_token(token),
        ),
    )
}

fn reset_page(token: &str, reset_token: &str, error: Option<&str>) -> String {
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
            error_block(error),
            esc(reset_token),
        ),
    )
}

pub async fn forgot_form<S>(State(st): State<PageState<S>>, cookies: PageCookies) -> Response {
    page(
        StatusCode::OK,
        forgot_page(&st.pages.form_token(&cookies), None),
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
    Checked(form): Checked<ForgotForm>,
) -> Response {
    let token = st.pages.form_token(&cookies);
    match st.auth.request_password_reset(&form.email) {
        Ok(()) => page(
            StatusCode::ACCEPTED,
            forgot_page(
                &token,
                Some("If this address has an account, a reset link is on its way."),
            ),
        ),
        Err(Error::InvalidInput(_)) => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            forgot_page(
                &token,
                Some("Enter an email address like name@example.com."),
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
        reset_page(&st.pages.form_token(&cookies), &reset_token, None),
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
    let again = |status, message: &str| {
        page(
            status,
            reset_page(
                &st.pages.form_token(&cookies),
                &form.reset_token,
                Some(message),
            ),
        )
    };
    match st
        .auth
        .reset_password(
            &form.reset_token,
            &form.password,
            Some(&form.password_confirmation),
            context,
        )
        .await
    {
        Ok(signed) => signed_in(&st, &session, &cookies, &signed, false).await,
        Err(Error::PasswordConfirmationMismatch) => again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The two passwords differ.",
        ),
        Err(Error::InvalidInput(m)) => again(StatusCode::UNPROCESSABLE_ENTITY, &m),
        Err(e) if auth_core::http::status_code(&e) == 401 => again(
            StatusCode::UNAUTHORIZED,
            "This link is invalid, expired or already used: ask for a new one.",
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

fn link_page(p: &LinkPage, token: &str, link_token: &str, note: Option<&str>) -> String {
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
            note = error_block(note),
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
        link_page(p, &st.pages.form_token(cookies), &link_token, None),
    )
}

/// The link's page again, with why its token was refused.
fn link_refused<S>(
    p: &LinkPage,
    st: &PageState<S>,
    cookies: &PageCookies,
    status: StatusCode,
    why: &str,
) -> Response {
    page(
        status,
        link_page(p, &st.pages.form_token(cookies), "", Some(why)),
    )
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
    match st.auth.sign_in_with_magic_link(&form.token, context).await {
        Ok(signed) => signed_in(&st, &session, &cookies, &signed, false).await,
        Err(e) if auth_core::http::status_code(&e) == 401 => link_refused(
            &MAGIC_LINK_PAGE,
            &st,
            &cookies,
            StatusCode::UNAUTHORIZED,
            "This link is invalid, expired or already used: ask for a new one.",
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
        st.auth.confirm(&form.confirm_token).await
    } else {
        st.auth
            .confirm_with_password(&form.confirm_token, &form.password)
            .await
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
            "This link is invalid, expired or already used.",
        ),
        Err(Error::IdentityTaken) => link_refused(
            &CONFIRM_PAGE,
            &st,
            &cookies,
            StatusCode::CONFLICT,
            "This address now belongs to another account.",
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
    match User::list_sessions(&st.auth, &me.user, me.claims.sid.as_deref()).await {
        Ok(sessions) => page(
            StatusCode::OK,
            account_page(&st.pages.form_token(&cookies), &me, &sessions),
        ),
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
