// Every option of `#[authentication(...)]` written out, most at its default.
#[token_resource]
pub struct Token;

mod claims {
    pub fn for_user(user: &super::User, _: &auth_core::ClaimsContext) -> auth_core::ExtraClaims {
        let mut claims = auth_core::ExtraClaims::new();
        claims.insert("role".into(), user.role.clone().into());
        claims
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
        remember_me(cookie_name = "remember_me", token_lifetime = "30d"),
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
