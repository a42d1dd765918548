//! Token verification on arbitrary input: never panics. The seed corpus has
//! a valid token (signed with this target's secret), so mutations reach the
//! claim checks and the store, not only the parser.
#![no_main]

use std::sync::OnceLock;

use auth_core::{
    Auth, Error, MemoryStore, Secret, Settings, SigningSecret, TokenConfig, TokenResourceConfig,
    UserResource, peek_claims,
};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct User {
    id: i64,
}

impl UserResource for User {
    type PrimaryKey = i64;
    const SUBJECT_NAME: &'static str = "user";
    const PRIMARY_KEY_FIELD: &'static str = "id";
    fn primary_key(&self) -> i64 {
        self.id
    }
}

struct World {
    rt: tokio::runtime::Runtime,
    auth: Auth<User, MemoryStore>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let tokens = TokenConfig::new(SigningSecret::Literal(Secret::from("fuzz-secret")));
        let auth = Auth::from_settings(Settings::new(tokens, TokenResourceConfig::default()), MemoryStore::new())
            .expect("fuzz auth");
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        World { rt, auth }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let w = world();
    let _ = peek_claims(token);
    let _ = auth_core::bearer_token(token);
    if let Ok(claims) = w.rt.block_on(w.auth.verify(token)) {
        // Anything accepted is a well-formed user token of this resource.
        assert!(claims.sub.starts_with("user?"));
        assert!(w.auth.subject_key(&claims).is_ok());
    } else if let Err(Error::Store(e)) = w.rt.block_on(w.auth.verify(token)) {
        panic!("store error from the memory store: {e}");
    }
    let _ = w.rt.block_on(w.auth.authenticate(token));
    let _ = w.rt.block_on(w.auth.revoke(token));
});
