//! Generated code names only absolute paths: it compiles where the prelude is shadowed.
#![allow(dead_code, non_camel_case_types)]

mod shadowed {
    struct Option;
    struct Result;
    struct Ok;
    struct Err;
    struct Some;
    struct None;
    struct Vec;
    struct Box;
    trait Into {}
    trait From {}

    use auth_core::{Authenticated, ClaimsContext, ExtraClaims, token_resource};
    use serde::{Deserialize, Serialize};

    #[token_resource(revocation(is_revoked_action_name = "revoked"))]
    pub struct Token {
        pub subject: ::core::option::Option<::std::string::String>,
    }

    fn claims(_: &User, _: &ClaimsContext) -> ExtraClaims {
        ExtraClaims::new()
    }

    #[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
    #[authentication(
        tokens(
            token_resource = Token,
            signing_secret = "s",
            store_all_tokens,
            require_token_presence_for_authentication,
            extra_claims = claims,
        ),
        strategies(password()),
        add_ons(log_out_everywhere(apply_on_password_change, include_purposes = ["user"])),
    )]
    pub struct User {
        pub id: ::std::string::String,
        pub email: ::std::string::String,
        pub hashed_password: ::std::string::String,
    }

    #[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
    #[authentication(
        session_identifier = "jti",
        tokens(token_resource = Token, signing_secret = "s", extra_claims(tier = 3)),
    )]
    pub struct Other {
        pub id: i64,
    }
}

fn main() {}
