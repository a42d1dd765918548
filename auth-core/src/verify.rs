//! The one verification pipeline every token kind runs, in this order:
//!
//! 1. **decode**: the signature with the key the header's `kid` names and
//!    that key's algorithm only; `exp` and `nbf` within the leeway; `iss`
//!    and `aud` (the purpose's audience);
//! 2. **purpose**: one the flow accepts;
//! 3. **claims**: the subject names a user of this resource; a `sid` when
//!    the kind always belongs to a session;
//! 4. **stored facts**, from one store lookup: not revoked; the token's own
//!    row when the kind (or allow-list mode) needs one; its session live;
//! 5. **the user**, loaded in the same lookup;
//! 6. **the credential**: the password unchanged since the token was
//!    issued.
//!
//! Every time rule is one rule: a token passes the expiry check until
//! `exp + leeway`, so its row and its session count until their expiry
//! plus the leeway too. Each flow states only what its kind requires, an
//! [`Expect`]; the access token ([`Expect::ACCESS`]), the refresh token
//! ([`Expect::REFRESH`]) and the single-use tokens ([`Expect::single_use`])
//! are the three.

use chrono::{DateTime, Utc};

use crate::auth::{Auth, AuthenticatedUser};
use crate::claims::{Claims, ExtraClaims};
use crate::config::Purpose;
use crate::error::{Error, Result, truncated};
use crate::store::{Rows, TokenStore, UserStore};
use crate::tenant::{self, TenancyStrategy, Tenant};
use crate::user::UserResource;

/// What the token's own row must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RowRule {
    /// Only a revocation refuses the token (deny-list mode). In allow-list
    /// mode (`require_token_presence_for_authentication`) this is `Own`.
    NotRevoked,
    /// A live row of the token's own purpose and subject: single-use
    /// tokens, and every token in allow-list mode.
    Own,
    /// A row, not a revocation: the store write that spends the token
    /// decides from the row's state (a refresh token: fresh, used within
    /// the grace, or reused).
    Exists,
}

/// What a flow requires of its tokens; everything else is the pipeline's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expect<'a> {
    /// The purposes accepted; `None`: any (`Auth::verify`).
    pub purposes: Option<&'a [Purpose]>,
    /// The token's own row.
    pub row: RowRule,
    /// The kind always belongs to a session (refresh tokens).
    pub needs_session: bool,
    /// In allow-list mode the stored extra claims are the token's.
    pub restore_claims: bool,
    /// The password must be the one the token was issued under (a `confirm`
    /// token never: it proves an address, not a password).
    pub credential: bool,
    /// The lookup may be answered by the cache (access tokens only: a
    /// token the flow then spends is read from the store).
    pub cached: bool,
    /// The tenant the request is in, when the flow compares it
    /// (`Auth::authenticate_in`): the token's must be the same.
    pub tenant: Option<Option<&'a str>>,
}

impl Expect<'static> {
    /// `Auth::verify`: any purpose, no user.
    pub(crate) const ANY: Self = Self {
        purposes: None,
        row: RowRule::NotRevoked,
        needs_session: false,
        restore_claims: true,
        credential: false,
        cached: false,
        tenant: None,
    };

    /// An access token (`Auth::authenticate`): `ANY`, but purpose `user`,
    /// the password checked, and the cache may answer.
    pub(crate) const ACCESS: Self = Self {
        purposes: Some(std::slice::from_ref(&Purpose::USER)),
        credential: true,
        cached: true,
        ..Self::ANY
    };

    /// A refresh token, before its rotation: purpose `refresh`, always in a
    /// session, some row (the rotation judges it), the password checked.
    pub(crate) const REFRESH: Self = Self {
        purposes: Some(std::slice::from_ref(&Purpose::REFRESH)),
        row: RowRule::Exists,
        needs_session: true,
        restore_claims: false,
        credential: true,
        ..Self::ANY
    };
}

impl<'a> Expect<'a> {
    /// A single-use token of one of `purposes` (sign-in, reset, magic link,
    /// confirmation, remember-me), before the write that spends it.
    pub(crate) const fn single_use(purposes: &'a [Purpose]) -> Self {
        Self {
            purposes: Some(purposes),
            row: RowRule::Own,
            restore_claims: false,
            credential: true,
            ..Expect::ANY
        }
    }
}

/// A token through the whole pipeline.
#[derive(Debug)]
pub(crate) struct Verified<U: UserResource> {
    pub claims: Claims,
    pub key: U::PrimaryKey,
    pub user: U,
    /// The rows the decision was made on (a refresh reads its session's end).
    pub rows: Rows,
}

impl<U: UserResource, S> Auth<U, S> {
    /// The tenant a request must be in, as a flow compares it: none at a
    /// resource without tenancy; at one with, the request must name one.
    pub(crate) fn request_tenant<'t>(&self, tenant: Option<&'t Tenant>) -> Result<Option<&'t str>> {
        match (self.settings().tenancy, tenant) {
            (Some(_), None) => Err(Error::WrongTenant),
            (_, tenant) => Ok(tenant.map(Tenant::as_str)),
        }
    }

    /// With attribute tenancy, the token's tenant is its user's current
    /// one: a user moved to another tenant loses every token of the old.
    pub(crate) fn check_user_tenant(&self, claims: &Claims, user: &U) -> Result<()> {
        match self.settings().tenancy.map(|t| t.strategy) {
            Some(TenancyStrategy::Attribute) => {
                tenant::same(user.tenant().as_deref(), claims.tenant.as_deref())
            }
            _ => Ok(()),
        }
    }
}

impl<U: UserResource, S: TokenStore> Auth<U, S> {
    /// Stages 1 to 3: the token decoded, its purpose one `expect` accepts,
    /// its subject a user of this resource, its `sid` there when needed.
    pub(crate) fn decode(
        &self,
        token: &str,
        expect: &Expect<'_>,
        now: DateTime<Utc>,
    ) -> Result<(Claims, U::PrimaryKey)> {
        let claims = self.jwt().verify_at(token, now.timestamp())?;
        if let Some(purposes) = expect.purposes
            && !purposes.iter().any(|p| claims.purpose == p.as_str())
        {
            return Err(Error::WrongPurpose {
                expected: purposes
                    .iter()
                    .map(Purpose::as_str)
                    .collect::<Vec<_>>()
                    .join(" or "),
                found: truncated(&claims.purpose),
            });
        }
        let key = self.subject_key(&claims)?;
        if expect.needs_session && claims.sid.is_none() {
            return Err(Error::InvalidClaim("sid"));
        }
        // Every token of an attribute-tenancy resource names its tenant;
        // none of a resource without tenancy does (a context-tenancy
        // resource's account tokens, outside a session, name none).
        let bound = match self.settings().tenancy.map(|t| t.strategy) {
            None => claims.tenant.is_none(),
            Some(TenancyStrategy::Attribute) => claims.tenant.is_some(),
            Some(TenancyStrategy::Context) => true,
        };
        if !bound {
            return Err(Error::WrongTenant);
        }
        if let Some(expected) = expect.tenant {
            tenant::same(expected, claims.tenant.as_deref())?;
        }
        Ok((claims, key))
    }

    /// Stage 4: the store's facts, decided. Not revoked; the token's own
    /// row as `expect.row` (and allow-list mode) requires, its stored extra
    /// claims restored when asked; for a token with `sid`, a live session
    /// of the same subject. Rows and sessions count until their expiry plus
    /// the leeway, as the token does.
    pub(crate) fn judge(
        &self,
        claims: &mut Claims,
        rows: &Rows,
        expect: &Expect<'_>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let alive = self.presence_time(now);
        // A row of another tenant is no row of this token: a jti revoked
        // in one tenant revokes nothing in another. A revocation of the jti
        // alone (`revoke_jti`: no tenant) revokes it in every tenant.
        let token = rows.token.as_ref().filter(|r| {
            r.tenant == claims.tenant
                || (r.tenant.is_none() && r.purpose == Purpose::REVOCATION.as_str())
        });
        if token.is_some_and(|r| r.purpose == Purpose::REVOCATION.as_str()) {
            return Err(Error::Revoked);
        }
        let rule = match expect.row {
            RowRule::NotRevoked if self.allow_list() => RowRule::Own,
            rule => rule,
        };
        match rule {
            RowRule::NotRevoked => {}
            RowRule::Exists => {
                if token.is_none() {
                    return Err(Error::NotPresent);
                }
            }
            // A row is bound to its token's subject: another user's stored
            // `jti` is no row for this token.
            RowRule::Own => match token.filter(|r| {
                r.purpose == claims.purpose && r.subject == claims.sub && r.expires_at > alive
            }) {
                Some(row) if expect.restore_claims => {
                    restore_claims(claims, row.extra_data.clone());
                }
                Some(_) => {}
                None => return Err(Error::NotPresent),
            },
        }
        if claims.sid.is_some() {
            let live = rows.session.as_ref().is_some_and(|s| {
                s.purpose == Purpose::SESSION.as_str()
                    && s.subject == claims.sub
                    && s.tenant == claims.tenant
                    && s.expires_at > alive
            });
            if !live {
                return Err(Error::SessionEnded);
            }
        }
        Ok(())
    }

    /// Verifies a token at `now`: algorithm, signature, `exp`, `nbf`, `iss`,
    /// `aud`, subject name, revocation, in allow-list mode the presence of a
    /// stored row of the token's subject with the token's own purpose, and
    /// for a token with `sid` a live session, all from one store lookup. A
    /// store failure rejects the token ([`Error::Store`], logged). In
    /// allow-list mode the returned extra claims are the stored ones.
    pub async fn verify_at(&self, token: &str, now: DateTime<Utc>) -> Result<Claims> {
        self.verify_claims(token, &Expect::ANY, now).await
    }

    /// Stages 1 to 4 without the user (`Auth::verify`).
    pub(crate) async fn verify_claims(
        &self,
        token: &str,
        expect: &Expect<'_>,
        now: DateTime<Utc>,
    ) -> Result<Claims> {
        let (mut claims, _) = self.decode(token, expect, now)?;
        let rows = self
            .store()
            .lookup(&claims.jti, claims.sid.as_deref())
            .await
            .map_err(fail_closed)?;
        self.judge(&mut claims, &rows, expect, now)?;
        Ok(claims)
    }
}

impl<U: UserResource, S: TokenStore + UserStore<U>> Auth<U, S> {
    /// Authenticates a request's token: every check of [`Auth::verify`],
    /// purpose `user` (a sign-in token or refresh token is refused), the
    /// user loaded, and the password unchanged since the token was issued.
    /// The token's row, its session's row and the user are one store call
    /// ([`UserStore::authenticate_lookup`]): one round trip in every mode.
    ///
    /// At a resource with tenancy every token is refused here: use
    /// [`Auth::authenticate_in`] with the request's tenant.
    pub async fn authenticate(&self, token: &str) -> Result<AuthenticatedUser<U>> {
        self.authenticate_in(token, None).await
    }

    /// [`Auth::authenticate`] in the request's `tenant`: the token must be
    /// bound to it (a token of another tenant, or of none, is refused,
    /// before any store call, like any other bad token). At a resource with
    /// tenancy a request without a tenant authenticates nothing; at one
    /// without, a request naming a tenant authenticates nothing either.
    pub async fn authenticate_in(
        &self,
        token: &str,
        tenant: Option<&Tenant>,
    ) -> Result<AuthenticatedUser<U>> {
        let expect = Expect {
            tenant: Some(self.request_tenant(tenant)?),
            ..Expect::ACCESS
        };
        let Verified { user, claims, .. } = self.verify_token(token, &expect, Utc::now()).await?;
        Ok(AuthenticatedUser { user, claims })
    }

    /// The token's row, its session's row and the user: from the cache when
    /// one is attached and holds them, else one store call.
    pub(crate) async fn authentication_rows(
        &self,
        key: &U::PrimaryKey,
        jti: &str,
        sid: Option<&str>,
    ) -> Result<(crate::store::Rows, Option<U>)> {
        #[cfg(feature = "cache")]
        let ticket = match self.cache() {
            Some(cache) => {
                let k = crate::subject::SubjectKey::to_subject_value(key);
                match cache.get(&k, jti, sid) {
                    Ok(hit) => return Ok(hit),
                    Err(ticket) => ticket.map(|t| (cache, k, t)),
                }
            }
            None => None,
        };
        let found = self
            .store()
            .authenticate_lookup(key, jti, sid)
            .await
            .map_err(fail_closed)?;
        #[cfg(feature = "cache")]
        if let Some((cache, k, ticket)) = ticket {
            cache.put(ticket, &k, jti, sid, &found.0, &found.1);
        }
        Ok(found)
    }

    /// The whole pipeline: the token's row, its session's row and the user
    /// are one store call (or one cache hit, for access tokens).
    pub(crate) async fn verify_token(
        &self,
        token: &str,
        expect: &Expect<'_>,
        now: DateTime<Utc>,
    ) -> Result<Verified<U>> {
        let (mut claims, key) = self.decode(token, expect, now)?;
        let sid = claims.sid.as_deref();
        let (rows, user) = if expect.cached {
            self.authentication_rows(&key, &claims.jti, sid).await?
        } else {
            self.store()
                .authenticate_lookup(&key, &claims.jti, sid)
                .await
                .map_err(fail_closed)?
        };
        self.judge(&mut claims, &rows, expect, now)?;
        let user = user.ok_or(Error::UserNotFound)?;
        self.check_user_tenant(&claims, &user)?;
        if expect.credential && claims.purpose != Purpose::CONFIRM.as_str() {
            check_credential(&claims, &user)?;
        }
        Ok(Verified {
            claims,
            key,
            user,
            rows,
        })
    }
}

impl<U: UserResource, S: TokenStore + UserStore<U>> Auth<U, S> {
    /// Every check of a single-use token of `purpose` before it is
    /// redeemed: the JWT, the purpose, its row live, its session live when
    /// it names one, the user, and (but for
    /// a confirmation, which proves an address, not a password) the
    /// password unchanged since it was issued. Returns the claims, the key
    /// and the user.
    pub(crate) async fn check_single_use(
        &self,
        token: &str,
        purpose: &Purpose,
    ) -> Result<(Claims, U::PrimaryKey, U)> {
        self.check_single_use_of(token, std::slice::from_ref(purpose))
            .await
    }

    /// [`check_single_use`](Self::check_single_use) for a token of any of
    /// `purposes`; the claims say which.
    pub(crate) async fn check_single_use_of(
        &self,
        token: &str,
        purposes: &[Purpose],
    ) -> Result<(Claims, U::PrimaryKey, U)> {
        let expect = Expect::single_use(purposes);
        let verified = self.verify_token(token, &expect, Utc::now()).await?;
        Ok((verified.claims, verified.key, verified.user))
    }
}

/// A token is bound to the password hash its user had at issue (`cred`): a
/// token whose sign-in verified a password that has since changed is
/// refused, even one minted while the change was being made.
pub(crate) fn check_credential<U: UserResource>(claims: &Claims, user: &U) -> Result<()> {
    let current = user
        .credential_hash()
        .map(crate::claims::credential_fingerprint);
    if current == claims.cred {
        Ok(())
    } else {
        Err(Error::CredentialChanged)
    }
}

pub(crate) fn fail_closed(e: crate::error::StoreError) -> Error {
    tracing::error!(error = %e, "token store failed during verification; token rejected");
    Error::Store(e)
}

/// Allow-list mode: the stored extra claims are the token's claims.
fn restore_claims(claims: &mut Claims, extra_data: Option<serde_json::Value>) {
    claims.extra = match extra_data {
        Some(serde_json::Value::Object(map)) => map,
        _ => ExtraClaims::new(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::SessionRef;
    use crate::config::{Lifetime, TokenConfig, TokenResourceConfig};
    use crate::memory::MemoryStore;
    use crate::secret::{Secret, SigningSecret};
    use crate::store::NewTokenRow;
    use crate::user::Settings;

    #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
    struct Member {
        id: i64,
        hash: String,
    }

    impl UserResource for Member {
        type PrimaryKey = i64;
        const SUBJECT_NAME: &'static str = "member";
        const PRIMARY_KEY_FIELD: &'static str = "id";
        fn primary_key(&self) -> i64 {
            self.id
        }
        fn credential_hash(&self) -> Option<&str> {
            Some(&self.hash)
        }
    }

    const LEEWAY: i64 = 60;
    const LIFETIME: u64 = 600;

    /// How a case departs from a fresh token of its purpose.
    #[derive(Clone, Copy, Debug)]
    enum Case {
        Fresh,
        /// Checked at `exp + leeway / 2`: the token, its row and its session
        /// (which ends when the token does) all still count.
        WithinLeeway,
        /// Checked at `exp + leeway + 1`.
        Expired,
        /// Its row is a revocation.
        Revoked,
        /// A token of another purpose is presented.
        WrongPurpose,
        /// The password changed since it was issued.
        CredentialChanged,
        /// Its session's row is gone.
        SessionEnded,
        /// It has no row.
        NotStored,
    }

    const CASES: [Case; 8] = [
        Case::Fresh,
        Case::WithinLeeway,
        Case::Expired,
        Case::Revoked,
        Case::WrongPurpose,
        Case::CredentialChanged,
        Case::SessionEnded,
        Case::NotStored,
    ];

    /// One answer per purpose and case, in the order of `CASES`.
    const TABLE: [(&Purpose, [&str; 8]); 8] = {
        const OWN_ROW: [&str; 8] = [
            "ok",
            "ok",
            "Expired",
            "Revoked",
            "WrongPurpose",
            "CredentialChanged",
            "SessionEnded",
            "NotPresent",
        ];
        [
            (
                &Purpose::USER,
                [
                    "ok",
                    "ok",
                    "Expired",
                    "Revoked",
                    "WrongPurpose",
                    "CredentialChanged",
                    "SessionEnded",
                    "ok", // deny-list mode: no row needed
                ],
            ),
            (&Purpose::REFRESH, OWN_ROW),
            (&Purpose::SIGN_IN, OWN_ROW),
            (&Purpose::PASSWORD_RESET, OWN_ROW),
            (&Purpose::MAGIC_LINK, OWN_ROW),
            (
                &Purpose::CONFIRM,
                [
                    "ok",
                    "ok",
                    "Expired",
                    "Revoked",
                    "WrongPurpose",
                    "ok", // it proves an address, not a password
                    "SessionEnded",
                    "NotPresent",
                ],
            ),
            (&Purpose::CONFIRM_CHANGE, OWN_ROW),
            (&Purpose::REMEMBER_ME, OWN_ROW),
        ]
    };

    /// The `Expect` the flow of `purpose` runs with.
    fn expect_of(purpose: &'static Purpose) -> Expect<'static> {
        if *purpose == Purpose::USER {
            Expect::ACCESS
        } else if *purpose == Purpose::REFRESH {
            Expect::REFRESH
        } else {
            Expect::single_use(std::slice::from_ref(purpose))
        }
    }

    fn answer(result: &Result<Verified<Member>>) -> &'static str {
        match result {
            Ok(_) => "ok",
            Err(Error::Expired) => "Expired",
            Err(Error::Revoked) => "Revoked",
            Err(Error::WrongPurpose { .. }) => "WrongPurpose",
            Err(Error::CredentialChanged) => "CredentialChanged",
            Err(Error::SessionEnded) => "SessionEnded",
            Err(Error::NotPresent) => "NotPresent",
            Err(e) => panic!("an answer outside the table: {e:?}"),
        }
    }

    fn auth(allow_list: bool) -> Auth<Member, MemoryStore> {
        let secret = Secret::from("verification-table-secret-0123456789abcdef");
        let mut tokens = TokenConfig::new(SigningSecret::Literal(secret));
        tokens.leeway = Lifetime::from_secs(LEEWAY.unsigned_abs());
        tokens.store_all_tokens = allow_list;
        tokens.require_token_presence_for_authentication = allow_list;
        let settings = Settings::new(tokens, TokenResourceConfig::default());
        Auth::from_settings(settings, MemoryStore::new()).unwrap()
    }

    fn row(jti: &str, sub: &str, exp: i64, purpose: &Purpose) -> NewTokenRow {
        NewTokenRow {
            tenant: None,
            jti: jti.to_owned(),
            subject: sub.to_owned(),
            expires_at: DateTime::from_timestamp(exp, 0).unwrap(),
            purpose: purpose.as_str().to_owned(),
            extra_data: None,
        }
    }

    /// Runs one case: a member, a session, a token of `purpose` in it with
    /// its row, then the case's departure, then the pipeline.
    async fn run(
        auth: &Auth<Member, MemoryStore>,
        purpose: &'static Purpose,
        case: Case,
    ) -> Result<Verified<Member>> {
        let member = Member {
            id: 1,
            hash: "h1".into(),
        };
        auth.store().insert_user(&member).await.unwrap();
        let session_end = Utc::now().timestamp() + LIFETIME as i64;
        let session = SessionRef::session("s1".into(), session_end, None);
        let lifetime = Lifetime::from_secs(LIFETIME);
        let presented = match case {
            Case::WrongPurpose if *purpose == Purpose::USER => &Purpose::REFRESH,
            Case::WrongPurpose => &Purpose::USER,
            _ => purpose,
        };
        let token = auth
            .mint_plain(&member, presented, lifetime, Some(&session))
            .unwrap();
        let (jti, sub, exp) = (&token.claims.jti, &token.claims.sub, token.claims.exp);
        let mut rows = Vec::new();
        if !matches!(case, Case::SessionEnded) {
            rows.push(row("s1", sub, session_end, &Purpose::SESSION));
        }
        match case {
            Case::NotStored => {}
            Case::Revoked => rows.push(row(jti, sub, exp, &Purpose::REVOCATION)),
            _ => rows.push(row(jti, sub, exp, presented)),
        }
        auth.store().insert_tokens(&rows, &[]).await.unwrap();
        if matches!(case, Case::CredentialChanged) {
            let changed = Member {
                id: 1,
                hash: "h2".into(),
            };
            assert!(auth.store().update_user(&changed).await.unwrap());
        }
        let at = match case {
            Case::WithinLeeway => exp + LEEWAY / 2,
            Case::Expired => exp + LEEWAY + 1,
            _ => token.claims.iat,
        };
        let now = DateTime::from_timestamp(at, 0).unwrap();
        auth.verify_token(&token.token, &expect_of(purpose), now)
            .await
    }

    #[tokio::test]
    async fn every_purpose_with_every_failure_has_one_answer() {
        let mut wrong = Vec::new();
        for (purpose, answers) in TABLE {
            for (case, want) in CASES.into_iter().zip(answers) {
                let got = answer(&run(&auth(false), purpose, case).await);
                if got != want {
                    wrong.push(format!("{purpose} {case:?}: {got}, the table says {want}"));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// Allow-list mode: an access token needs its row too, and its stored
    /// extra claims are the token's.
    #[tokio::test]
    async fn in_allow_list_mode_an_access_token_needs_its_row() {
        let missing = run(&auth(true), &Purpose::USER, Case::NotStored).await;
        assert_eq!(answer(&missing), "NotPresent");
        let late = run(&auth(true), &Purpose::USER, Case::WithinLeeway).await;
        assert_eq!(answer(&late), "ok");
    }
}
