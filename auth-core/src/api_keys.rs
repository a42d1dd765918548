//! The API-key flow: create (the key shown once), list (never the secret),
//! revoke one or all, and authenticate a presented key: checked offline
//! (format and checksum), then one row read by its id, the secret's hash
//! compared in constant time, expiry, revocation, the user loaded.
//!
//! **Last used, without a write per request.** Authentication never
//! writes. A use is remembered in memory when the key's stored
//! `last_used_at` is older than the strategy's interval (default one hour)
//! and it was not already written within it; a background task writes
//! what it remembered in one batch every [`API_KEY_USE_FLUSH`]. So a key
//! costs at most one write per interval, and a busy server one statement
//! per flush. A use not yet flushed when the process exits is lost:
//! `last_used_at` is a hint for its owner, never a security decision.
//!
//! **What revokes keys.** Log out everywhere, a password change and a
//! password reset end sign-ins, not keys: a key is a credential its owner
//! made on purpose for a script or a service, which a user ending their
//! browser sessions rarely means to break. With the strategy's
//! `revoke_with_sign_ins` each of them revokes the user's keys too, in the
//! same write; `revoke_all_api_keys` does it alone. The first proof of an
//! address never confirmed always revokes them: whoever registered it held
//! the password and made them, and may not be its owner. A key dies with
//! its user: a key whose user is gone authenticates nobody.
//!
//! **The cache.** With an [`AuthCache`](crate::AuthCache) attached, a key's
//! row and its user are kept like a token's and evicted on every node by
//! any write to the key (revoked, used) or its user.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::api_key::{
    ApiKeyConfig, ApiKeyInfo, ApiKeyRow, CreatedApiKey, KeyUses, MAX_NAME_LEN, MAX_SCOPE_LEN,
    MAX_SCOPES, NewApiKey, PresentedKey,
};
use crate::auth::Auth;
use crate::config::Lifetime;
use crate::error::{Error, Result, store_failure};
use crate::store::{ApiKeyStore, UserStore};
use crate::user::UserResource;
use crate::verify::fail_closed;

/// How often remembered uses are written (one batch each time).
pub const API_KEY_USE_FLUSH: Duration = Duration::from_secs(10);

/// A request authenticated by an API key: its user and the key.
#[derive(Clone, Debug)]
pub struct AuthenticatedKey<U> {
    /// The key's owner.
    pub user: U,
    /// The key (never its secret).
    pub key: ApiKeyInfo,
}

impl<U> AuthenticatedKey<U> {
    /// Whether the key carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.key.scopes.iter().any(|s| s == scope)
    }

    /// [`Error::InsufficientScope`] unless the key carries `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<()> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(Error::InsufficientScope(scope.to_owned()))
        }
    }
}

/// The purpose API-key requests carry in their [`Claims`](crate::Claims)
/// (no token has it): how a handler behind the axum layer tells a key's
/// request from a token's.
pub const API_KEY_PURPOSE: &str = "api_key";

impl<U: UserResource> AuthenticatedKey<U> {
    /// The request as the token paths describe one: claims naming the key
    /// (`jti` its id, purpose [`API_KEY_PURPOSE`], `iat`/`exp` its
    /// creation and expiry, `scopes` in the extra claims), so
    /// `CurrentUser` serves key requests too.
    pub(crate) fn as_user(
        &self,
        issuer: &str,
        audience: &str,
    ) -> crate::auth::AuthenticatedUser<U> {
        let mut extra = crate::claims::ExtraClaims::new();
        extra.insert("scopes".into(), serde_json::json!(self.key.scopes));
        crate::auth::AuthenticatedUser {
            user: self.user.clone(),
            claims: crate::claims::Claims {
                sub: self.user.subject(),
                jti: self.key.id.clone(),
                iat: self.key.created_at.timestamp(),
                nbf: self.key.created_at.timestamp(),
                exp: self.key.expires_at.timestamp(),
                iss: issuer.to_owned(),
                aud: audience.to_owned(),
                purpose: API_KEY_PURPOSE.to_owned(),
                cred: None,
                sid: None,
                tenant: self.user.tenant(),
                extra,
            },
        }
    }
}

impl<U: UserResource, S> Auth<U, S> {
    fn api_key_config(&self) -> Result<&ApiKeyConfig> {
        self.settings().api_key.as_ref().ok_or(Error::NotConfigured(
            "this resource has no API-key strategy",
        ))
    }

    /// How many key uses are remembered and not yet written.
    pub fn pending_api_key_uses(&self) -> usize {
        self.key_uses.pending()
    }
}

impl<U: UserResource, S: ApiKeyStore + UserStore<U> + Clone + 'static> Auth<U, S> {
    /// Creates a key for `user`: `name` (1 to 100 characters, no control
    /// characters), `scopes` (each one the strategy lists; none twice),
    /// `lifetime` (default: the strategy's `default_lifetime`). The whole
    /// key is in the answer and nowhere else: show it once. Refused with
    /// [`Error::InvalidInput`] when the user already holds `max_per_user`
    /// live keys.
    pub async fn create_api_key(
        &self,
        user: &U,
        name: &str,
        scopes: &[&str],
        lifetime: Option<Lifetime>,
    ) -> Result<CreatedApiKey> {
        let config = self.api_key_config()?;
        let name = check_name(name)?;
        let scopes = check_scopes(config, scopes)?;
        let lifetime = lifetime.unwrap_or(config.default_lifetime);
        if lifetime.as_secs() == 0 {
            return Err(Error::InvalidInput(
                "an API key's lifetime must be longer than zero".into(),
            ));
        }
        let expires_at = chrono::Duration::from_std(lifetime.as_duration())
            .ok()
            .and_then(|d| Utc::now().checked_add_signed(d))
            .ok_or_else(|| Error::InvalidInput("the key's lifetime is too long".into()))?;
        let made = crate::api_key::make(&config.prefix)?;
        let new = NewApiKey {
            id: made.id.clone(),
            subject: user.subject(),
            user_key: crate::subject::SubjectKey::to_subject_value(&user.primary_key()),
            name,
            scopes,
            secret_hash: made.secret_hash,
            expires_at,
        };
        let event = self.event(
            crate::audit::EventKind::ApiKeyCreated,
            Some(&new.subject),
            crate::audit::At::NONE,
            None,
            crate::audit::Outcome::Success,
        );
        let inserted = self
            .store()
            .insert_api_key(&new, config.max_per_user, event.events())
            .await
            .map_err(|e| store_failure("create API key", e))?;
        if !inserted {
            return Err(Error::InvalidInput(format!(
                "a user holds at most {} API keys: revoke one first",
                config.max_per_user
            )));
        }
        // What lists will show, as the store keeps it (its clock, its
        // precision).
        let row = self
            .store()
            .get_api_key(&new.id)
            .await
            .map_err(|e| store_failure("create API key", e))?
            .ok_or_else(|| {
                Error::Store(crate::error::StoreError::msg("a created API key is gone"))
            })?;
        self.recorded(event, true);
        Ok(CreatedApiKey {
            key: made.text,
            info: ApiKeyInfo::from(row),
        })
    }

    /// The user's live keys, oldest first (never a secret).
    pub async fn list_api_keys(&self, user: &U) -> Result<Vec<ApiKeyInfo>> {
        self.api_key_config()?;
        let rows = self
            .store()
            .list_api_keys(&user.subject(), Utc::now())
            .await
            .map_err(fail_closed)?;
        Ok(rows.into_iter().map(ApiKeyInfo::from).collect())
    }

    /// Revokes one of the user's keys by its id ([`Error::ApiKeyNotFound`]
    /// when it is not a live key of theirs). It stops working at once.
    pub async fn revoke_api_key(&self, user: &U, id: &str) -> Result<()> {
        self.api_key_config()?;
        let subject = user.subject();
        let event = self.key_revoked(&subject);
        let revoked = self
            .store()
            .revoke_api_key(&subject, id, event.events())
            .await
            .map_err(|e| store_failure("revoke API key", e))?;
        if !revoked {
            return Err(Error::ApiKeyNotFound);
        }
        self.recorded(event, true);
        Ok(())
    }

    /// Revokes every key of the user; how many.
    pub async fn revoke_all_api_keys(&self, user: &U) -> Result<u64> {
        self.api_key_config()?;
        let subject = user.subject();
        let event = self.key_revoked(&subject);
        let revoked = self
            .store()
            .revoke_api_keys(&subject, event.events())
            .await
            .map_err(|e| store_failure("revoke API keys", e))?;
        if revoked > 0 {
            self.recorded(event, true);
        }
        Ok(revoked)
    }

    /// The event of a key (or every key) revoked.
    fn key_revoked(&self, subject: &str) -> crate::audit::Pending {
        self.event(
            crate::audit::EventKind::ApiKeyRevoked,
            Some(subject),
            crate::audit::At::NONE,
            None,
            crate::audit::Outcome::Success,
        )
    }

    /// Authenticates a presented key: its format and checksum (offline:
    /// a typo costs no lookup), this strategy's prefix, its row by id, the
    /// secret's hash (constant time), not revoked, not expired, its user.
    /// Every refusal is [`Error::InvalidApiKey`]; a store failure refuses
    /// too. Writes nothing: the use is remembered for the next batch.
    pub async fn authenticate_api_key(&self, key: &str) -> Result<AuthenticatedKey<U>> {
        let config = self.api_key_config()?;
        let presented = PresentedKey::parse(key)?;
        if presented.prefix != config.prefix {
            return Err(Error::InvalidApiKey);
        }
        let (row, user) = self.api_key_rows(presented.id).await?;
        let row = row.ok_or(Error::InvalidApiKey)?;
        let now = Utc::now();
        if !presented.secret_matches(&row.secret_hash) || row.revoked || row.expires_at <= now {
            return Err(Error::InvalidApiKey);
        }
        // The row's subject must name this resource and the user found.
        let user = user
            .filter(|u| u.subject() == row.subject)
            .ok_or(Error::InvalidApiKey)?;
        if self
            .key_uses
            .note(&row.id, row.last_used_at, now, config.last_used_interval)
        {
            self.start_key_use_flusher();
        }
        Ok(AuthenticatedKey {
            user,
            key: ApiKeyInfo::from(row),
        })
    }

    /// The key's row and its user: from the cache when one is attached and
    /// holds them, else one store call. Only a found key of a found user
    /// is kept; every check still runs on what comes back.
    async fn api_key_rows(&self, id: &str) -> Result<(Option<ApiKeyRow>, Option<U>)> {
        #[cfg(feature = "cache")]
        let ticket = match self.cache() {
            Some(cache) => match cache.get_key(id) {
                Ok((row, user)) => return Ok((Some(row), Some(user))),
                Err(ticket) => ticket.map(|t| (cache, t)),
            },
            None => None,
        };
        let found = self.store().api_key_lookup(id).await.map_err(fail_closed)?;
        #[cfg(feature = "cache")]
        if let (Some((cache, ticket)), (Some(row), Some(user))) = (ticket, &found) {
            cache.put_key(ticket, row, user);
        }
        Ok(found)
    }

    /// Writes the remembered key uses now, in one batch (the background
    /// task does it every [`API_KEY_USE_FLUSH`]; call it at shutdown to
    /// keep the last ones).
    pub async fn flush_api_key_uses(&self) -> Result<()> {
        flush(
            &self.key_uses,
            self.store(),
            self.api_key_config()?.last_used_interval,
        )
        .await
    }

    fn start_key_use_flusher(&self) {
        let Ok(config) = self.api_key_config() else {
            return;
        };
        let interval = config.last_used_interval;
        let uses = Arc::downgrade(&self.key_uses);
        let store = self.store().clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(API_KEY_USE_FLUSH).await;
                let Some(uses) = uses.upgrade() else {
                    return;
                };
                if let Err(e) = flush(&uses, &store, interval).await {
                    tracing::warn!(error = %e, "could not record API key uses; retrying");
                }
            }
        });
    }
}

async fn flush<S: ApiKeyStore>(uses: &KeyUses, store: &S, interval: Duration) -> Result<()> {
    let taken = uses.take(interval);
    if taken.is_empty() {
        return Ok(());
    }
    if let Err(e) = store.record_api_key_uses(&taken).await {
        uses.put_back(taken);
        return Err(store_failure("record API key uses", e));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control)
    {
        return Err(Error::InvalidInput(format!(
            "an API key's name is 1 to {MAX_NAME_LEN} characters, without control characters"
        )));
    }
    Ok(name.to_owned())
}

fn check_scopes(config: &ApiKeyConfig, scopes: &[&str]) -> Result<Vec<String>> {
    if scopes.len() > MAX_SCOPES {
        return Err(Error::InvalidInput(format!(
            "an API key has at most {MAX_SCOPES} scopes"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(scopes.len());
    for scope in scopes {
        if scope.len() > MAX_SCOPE_LEN || !config.scopes.contains(scope) {
            return Err(Error::InvalidInput(format!(
                "unknown scope `{}`: the strategy's scopes are {:?}",
                crate::error::truncated(scope),
                config.scopes
            )));
        }
        if out.iter().any(|s| s == scope) {
            return Err(Error::InvalidInput(format!(
                "scope `{scope}` is given twice"
            )));
        }
        out.push((*scope).to_owned());
    }
    Ok(out)
}
