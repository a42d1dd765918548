//! The full DSL example of the crate documentation, and the other forms
//! of `signing_secret` and `extra_claims`.
use auth_core::{Authenticated, ClaimsContext, ExtraClaims, token_resource};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

// The crate documentation's full DSL example, written once.
include!("../../../../auth-core/docs/full_dsl.rs");

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
