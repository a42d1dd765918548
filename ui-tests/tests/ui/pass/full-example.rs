//! The SPEC 3.2 example, as written there.
use auth_core::{Authenticated, ClaimsContext, ExtraClaims, token_resource};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[token_resource]
pub struct Token;

mod claims {
    pub fn for_user(user: &super::User, _: &auth_core::ClaimsContext) -> auth_core::ExtraClaims {
        let mut m = auth_core::ExtraClaims::new();
        m.insert("role".into(), user.role.clone().into());
        m
    }
}

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    subject_name = "user",
    session_identifier = "jti",
    tokens(
        enabled = true,
        token_resource = Token,
        signing_algorithm = "HS256",
        signing_secret(env = "TOKEN_SIGNING_SECRET"),
        token_lifetime = "14d",
        leeway = "0s",
        store_all_tokens = true,
        require_token_presence_for_authentication = true,
        extra_claims = crate::claims::for_user,
    ),
    strategies(
        password(
            identity_field = "email",
            hashed_password_field = "hashed_password",
            sign_in_enabled = true,
            sign_in_tokens_enabled = true,
            sign_in_token_lifetime = "60s",
            confirmation_required = true,
        ),
    ),
    add_ons(
        log_out_everywhere(
            apply_on_password_change = true,
            include_purposes = ["user", "sign_in"],
            exclude_purposes = ["revocation"],
        ),
    ),
)]
pub struct User {
    #[authentication(primary_key)]
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
    pub role: String,
}

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(tokens(
    token_resource = Token,
    signing_secret(with = crate::secret),
    store_all_tokens,
    require_token_presence_for_authentication,
    extra_claims(app_version = "1.0", tier = 3),
))]
pub struct Admin {
    pub id: String,
}

fn secret() -> Option<String> {
    std::env::var("ADMIN_SECRET").ok()
}

fn main() {
    let _ = User::settings();
    let _ = Admin::settings();
    let _: fn(&User, &ClaimsContext) -> ExtraClaims = claims::for_user;
}
