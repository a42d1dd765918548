//! Register, sign in, a protected route, refresh, sign out: on SQLite, in
//! `quickstart.db` (or `$DB`). `cargo run -p quickstart`
use auth_core::http::axum::{AuthLayer, CurrentUser};
use auth_core::{Auth, Authenticated, ClientInfo, Error, TokenType, token_resource};
use auth_sqlite::SqliteStore;
use axum::{Router, body::Body, http::Request, http::StatusCode, routing::get};
use serde::{Deserialize, Serialize};
use tower_service::Service;

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(token_resource = Token, store_all_tokens, require_token_presence_for_authentication,
           refresh_tokens(lifetime = "30d")),                 // access tokens live 15 minutes
    strategies(password()),
    add_ons(sessions()),
)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

/// A protected route: only a valid access token reaches it.
async fn me(CurrentUser(me): CurrentUser<User>) -> String {
    me.user.email
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// GET `/me` with this bearer token: the answer's status.
async fn get_me(app: &mut Router, token: &str) -> Result<StatusCode> {
    let request = Request::get("/me").header("authorization", format!("Bearer {token}"));
    Ok(app.call(request.body(Body::empty())?).await?.status())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let store = SqliteStore::open(std::env::var("DB").unwrap_or("quickstart.db".into())).await?;
    store.migrate().await?;
    store.create_user_table::<User>().await?;
    let auth = std::sync::Arc::new(Auth::<User, _>::new(store)?); // signs with $TOKEN_SIGNING_SECRET
    let mut app = Router::new().route("/me", get(me));
    app = app.layer(AuthLayer::required(auth.clone()));

    let (email, password) = ("ada@example.com", "correct horse");
    let ada = UserRegistration {
        email: email.into(),
        password: password.into(),
        password_confirmation: Some(password.into()),
    };
    match User::register_with_password(&auth, ada, ClientInfo::default()).await {
        Ok(_) | Err(Error::IdentityTaken) => println!("registered {email}"),
        Err(e) => return Err(e.into()),
    }
    let context = ClientInfo::default();
    let session = User::sign_in_with_password(&auth, email, password, TokenType::User, context);
    let session = session.await?;
    let status = get_me(&mut app, &session.token.token).await?;
    println!("signed in: GET /me {status}");

    let refresh_token = session.refresh_token.ok_or("refresh tokens are on")?;
    let refreshed = User::refresh(&auth, &refresh_token.token).await?;
    let status = get_me(&mut app, &refreshed.token.token).await?;
    println!("refreshed: GET /me {status}");

    auth.revoke(&refreshed.token.token).await?; // sign out: the session ends
    let status = get_me(&mut app, &refreshed.token.token).await?;
    println!("signed out: GET /me {status}");
    let again = User::refresh(&auth, &refreshed.refresh_token.token).await;
    println!(
        "signed out: refresh {}",
        again.err().ok_or("refreshed after sign-out")?
    );
    Ok(())
}
