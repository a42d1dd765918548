//! The tenancy flows a SaaS needs: log a user out everywhere in one tenant,
//! end a membership, suspend a tenant. (The tenant a token is bound to,
//! and the rule comparing it, are `tenant.rs`'.)

use crate::audit::{At, EventKind, Outcome};
use crate::auth::Auth;
use crate::config::PurposeFilter;
use crate::error::{Error, Result, store_failure};
use crate::store::{RevokeAll, TokenStore};
use crate::tenant::Tenant;
use crate::token;
use crate::user::UserResource;

impl<U: UserResource, S: TokenStore> Auth<U, S> {
    /// Log out everywhere in one tenant: flips the user's rows bound to
    /// `tenant` (the log-out-everywhere add-on's purposes; sessions always)
    /// to revocations, in one store write. The user's sign-ins to other
    /// tenants go on. Returns how many rows.
    pub async fn log_out_everywhere_in(&self, user: &U, tenant: &Tenant) -> Result<u64> {
        self.tenancy()?;
        let (subject, filter) = (user.subject(), self.log_out_filter());
        let event = self.event(
            EventKind::LoggedOutEverywhere,
            Some(&subject),
            At::tenant(tenant.as_str()),
            None,
            Outcome::Success,
        );
        let revoked = self
            .revoke_in_tenant(&subject, &filter, tenant, event.events())
            .await?;
        self.recorded(event, true);
        Ok(revoked)
    }

    /// A membership ended (the user left `tenant`, or was removed): every
    /// row of the user bound to `tenant`, whatever its purpose (sessions,
    /// refresh and remember-me tokens, stored tokens), becomes a
    /// revocation in one store write, and with the PostgreSQL cache every
    /// node refuses them within the invalidation bound. The application
    /// removes the membership itself, so the user cannot sign in to the
    /// tenant again. Returns how many rows.
    pub async fn end_membership(&self, user: &U, tenant: &Tenant) -> Result<u64> {
        self.tenancy()?;
        let subject = user.subject();
        let event = self.event(
            EventKind::MembershipEnded,
            Some(&subject),
            At::tenant(tenant.as_str()),
            None,
            Outcome::Success,
        );
        let ended = self
            .revoke_in_tenant(&subject, &PurposeFilter::all(), tenant, event.events())
            .await?;
        self.recorded(event, true);
        Ok(ended)
    }

    /// A tenant suspended: every row bound to `tenant`, of every user,
    /// becomes a revocation in one store statement (every session of the
    /// tenant ends; other tenants' go on). With the PostgreSQL cache every
    /// node refuses them within the invalidation bound. New sign-ins to
    /// the tenant are the application's to refuse while it is suspended.
    /// Returns how many rows.
    pub async fn end_tenant(&self, tenant: &Tenant) -> Result<u64> {
        self.tenancy()?;
        token::check_bound(self.store(), &self.settings().token_resource)?;
        self.store()
            .revoke_tenant(tenant.as_str(), token::revocation_keep_for(self.leeway()))
            .await
            .map_err(|e| store_failure("end tenant", e))
    }

    fn tenancy(&self) -> Result<()> {
        match self.settings().tenancy {
            Some(_) => Ok(()),
            None => Err(Error::NotConfigured("this resource has no tenancy")),
        }
    }

    async fn revoke_in_tenant(
        &self,
        subject: &str,
        filter: &PurposeFilter,
        tenant: &Tenant,
        events: &[crate::audit::AuditEvent],
    ) -> Result<u64> {
        let revoke = RevokeAll::tokens(subject, filter, token::revocation_keep_for(self.leeway()))
            .in_tenant(Some(tenant.as_str()));
        token::revoke_all(
            self.store(),
            &self.settings().token_resource,
            &revoke,
            events,
        )
        .await
    }
}
