//! Rules A1–A16 and S1–S4, R1–R2, M1, C1–C3 for `#[derive(Authenticated)]`: one function per rule,
//! each opened by the rule's sentence; every error is collected, none stops the others.

use proc_macro2::Span;
use syn::spanned::Spanned;

use super::input::{self, Input};
use super::model::{
    ApiKey, AuditLog, BruteForce, Confirmation, ExtraClaims, LogOutEverywhere, Password, Refresh,
    RememberMe, SessionIdentifier, Sessions, SigningSecret, Tenancy, Tokens, User,
};
use crate::common::spanned::Opt;
use crate::common::{Errors, action_name, private_path, snake_case};

// The runtime's own lists and defaults (auth-dsl): the derive accepts
// exactly what auth-core does.
use auth_dsl::{ALGORITHMS, LifetimeError, REGISTERED_CLAIMS, defaults};

/// Fields of the struct: name, type, `primary_key` flag span.
struct Fields(Vec<(syn::Ident, syn::Type, Option<Span>)>);

impl Fields {
    fn get(&self, name: &str) -> Option<&(syn::Ident, syn::Type, Option<Span>)> {
        self.0.iter().find(|(i, _, _)| i == name)
    }
}

/// The rules, in order: each line calls the rule's function (its sentence
/// above it, its ui cases beside it); every error is collected; the model
/// is built only when none was reported. A3 (unknown options) and the
/// option types are darling's, in `input.rs`; A10 is checked by rustc
/// through the generated `TokenResource` bound.
pub fn validate(input: Input) -> Result<User, Errors> {
    let mut errors = Errors::default();
    let e = &mut errors;
    let tokens_block = input.tokens.as_ref();
    let tokens_enabled = tokens_block.is_some_and(|t| t.enabled.as_ref().is_none_or(|e| **e));
    // The tokens block when tokens are on: its options count only then.
    let tokens_on = tokens_block.filter(|_| tokens_enabled);
    let password_input = input.strategies.as_ref().and_then(|s| s.password.as_ref());
    let reset_input = password_input.and_then(|p| p.resettable.as_ref());
    let log_out_input = input
        .add_ons
        .as_ref()
        .and_then(|a| a.log_out_everywhere.as_ref());
    let sessions_input = input.add_ons.as_ref().and_then(|a| a.sessions.as_ref());
    let refresh_input = tokens_block.and_then(|t| t.refresh_tokens.as_ref());
    let remember_me_input = input
        .strategies
        .as_ref()
        .and_then(|s| s.remember_me.as_ref());
    let magic_link_input = input
        .strategies
        .as_ref()
        .and_then(|s| s.magic_link.as_ref());
    let confirmation_input = input.add_ons.as_ref().and_then(|a| a.confirmation.as_ref());
    let api_key_input = input.strategies.as_ref().and_then(|s| s.api_key.as_ref());
    let brute_force_input = input.add_ons.as_ref().and_then(|a| a.brute_force.as_ref());
    let audit_log_input = input.add_ons.as_ref().and_then(|a| a.audit_log.as_ref());

    // A1: a struct with named fields, not generic.            (a1-enum, a1-tuple-struct)
    let fields = a1_named_fields(&input, e);
    // A2: exactly one primary key of a subject-key type.      (a2-no-primary-key, a2-two-primary-keys, a2-primary-key-wrong-type)
    let primary_key = fields.as_ref().and_then(|f| a2_primary_key(&input, f, e));
    // A9: deny-list tokens need a `session_identifier`.       (a9-no-session-identifier, a9-unknown-session-identifier)
    let session_identifier = a9_session_identifier(&input, tokens_enabled, e);
    // A8: tokens need a `token_resource`.                      (a8-tokens-without-token-resource)
    let token_resource = tokens_on.and_then(|t| a8_token_resource(t, e));
    // A12: a supported algorithm, exactly so spelled.          (a12-unknown-algorithm)
    let algorithm = tokens_on.and_then(|t| a12_algorithm(t, e));
    // A11: the token lifetime parses and is not zero; the leeway parses. (a11-lifetime-*, a11-leeway-without-unit)
    let token_lifetime = tokens_on.and_then(|t| {
        let default = default_token_lifetime(t);
        a11_lifetime(
            t.token_lifetime.as_ref(),
            "token_lifetime",
            default,
            false,
            e,
        )
    });
    let leeway = tokens_on
        .and_then(|t| a11_lifetime(t.leeway.as_ref(), "leeway", defaults::LEEWAY, true, e));
    // A15: static extra claims never set a registered claim.   (a15-static-claims-set-sub)
    let extra_claims = tokens_on
        .and_then(|t| t.extra_claims.as_ref())
        .map(|c| a15_static_claims(c, e));
    // A16: a signing secret from one source; `env` names a variable. (a16-*)
    let secret = tokens_on.map(|t| a16_signing_secret(t, e));
    // A4: presence checks need `store_all_tokens`.            (a4-presence-without-store-all)
    a4_presence_needs_store_all(tokens_block, e);
    // A6: the password strategy needs tokens.                 (a6-password-without-tokens, a6-resettable-without-tokens)
    // A7: sign-in tokens need sign-in.                         (a7-sign-in-tokens-without-sign-in)
    if let Some(p) = password_input {
        a6_password_needs_tokens(p, tokens_enabled, e);
        a7_sign_in_tokens_need_sign_in(p, e);
    }
    // A13: the identity and hash fields exist.                 (a13-identity-field-missing, a13-default-hashed-password-field-missing)
    let identity_field = password_input.and_then(|p| {
        a13_field(
            p,
            p.identity_field.as_ref(),
            "identity_field",
            "email",
            fields.as_ref(),
            e,
        )
    });
    let hashed_password_field = password_input.and_then(|p| {
        let lit = p.hashed_password_field.as_ref();
        a13_field(
            p,
            lit,
            "hashed_password_field",
            "hashed_password",
            fields.as_ref(),
            e,
        )
    });
    // A11: the sign-in token's and the reset token's lifetimes. (a11-sign-in-token-lifetime-zero, a11-reset-token-lifetime-zero)
    let sign_in_token_lifetime = password_input.and_then(|p| {
        let lit = p.sign_in_token_lifetime.as_ref();
        let default = defaults::SIGN_IN_TOKEN_LIFETIME;
        a11_lifetime(lit, "sign_in_token_lifetime", default, false, e)
    });
    let reset_lifetime = reset_input.map(|r| {
        let (lit, default) = (r.token_lifetime.as_ref(), defaults::RESET_TOKEN_LIFETIME);
        a11_lifetime(lit, "resettable(token_lifetime)", default, false, e)
    });
    // T4 (shared): renamed actions are identifiers.            (the token_resource t4 cases)
    let password_actions = password_input.map(|p| password_action_names(p, e));
    // A5, A6: log out everywhere needs allow-list tokens.     (a5-log-out-everywhere-without-allow-list, a6-log-out-everywhere-without-tokens)
    // A14: `apply_on_password_change` needs a password.        (a14-apply-on-password-change-without-password)
    let log_out = log_out_input.map(|l| {
        a5_a6_log_out_everywhere_needs_allow_list(l, tokens_block, tokens_enabled, e);
        a14_apply_on_password_change_needs_password(l, password_input.is_some(), e);
        log_out_everywhere(l, e)
    });
    // S1: refresh tokens need sessions.                        (s1-refresh-tokens-without-sessions)
    s1_refresh_tokens_need_sessions(refresh_input, sessions_input, e);
    // S2: sessions and refresh tokens need tokens.             (s2-sessions-without-tokens, s2-refresh-tokens-with-tokens-disabled)
    s2_sessions_need_tokens(sessions_input, refresh_input, tokens_enabled, e);
    // S4: their lifetimes parse and are not zero (the grace may be). (s4-*)
    let session_lifetime = sessions_input.map(|s| {
        let (lit, default) = (s.lifetime.as_ref(), defaults::SESSION_LIFETIME);
        a11_lifetime(lit, "sessions(lifetime)", default, false, e)
    });
    let refresh_lifetime = refresh_input.map(|r| {
        let (lit, default) = (r.lifetime.as_ref(), defaults::REFRESH_LIFETIME);
        a11_lifetime(lit, "refresh_tokens(lifetime)", default, false, e)
    });
    let reuse_grace = refresh_input.map(|r| {
        let (lit, default) = (r.reuse_grace.as_ref(), defaults::REFRESH_REUSE_GRACE);
        a11_lifetime(lit, "refresh_tokens(reuse_grace)", default, true, e)
    });
    let session_actions = sessions_input.map(|s| session_action_names(s, e));
    let refresh_action =
        refresh_input.map(|r| action_name(r.action_name.as_ref(), "action_name", "refresh", e));
    let sessions = sessions_input.and_then(|_| {
        let [list, revoke, others] = session_actions.clone()?;
        Some(Sessions {
            lifetime_secs: session_lifetime??,
            list_action: list?,
            revoke_action: revoke?,
            revoke_others_action: others?,
        })
    });
    let refresh = refresh_input.and_then(|_| {
        Some(Refresh {
            lifetime_secs: refresh_lifetime??,
            reuse_grace_secs: reuse_grace??,
            action: refresh_action.clone()??,
        })
    });
    // S3: access token < refresh token <= session.             (s3-*)
    if let Some(token_secs) = token_lifetime {
        s3_lifetimes_nest(
            token_secs,
            sessions_input.zip(sessions.as_ref()),
            refresh_input.zip(refresh.as_ref()),
            e,
        );
    }
    // R1: remember-me needs tokens.                          (r1-remember-me-without-tokens)
    // R2: its lifetime parses and is not zero; its cookie name is a cookie name. (r2-*)
    let remember_me = remember_me_input.and_then(|r| {
        r1_remember_me_needs_tokens(r, tokens_enabled, e);
        let (lit, default) = (r.token_lifetime.as_ref(), defaults::REMEMBER_ME_LIFETIME);
        let lifetime = a11_lifetime(lit, "remember_me(token_lifetime)", default, false, e);
        let cookie_name = r2_cookie_name(r, e);
        Some(RememberMe {
            cookie_name: cookie_name?,
            token_lifetime_secs: lifetime?,
        })
    });
    // M1: magic links need tokens and the password strategy's identity. (m1-*)
    // A11: its lifetime.                                        (a11-magic-link-lifetime-zero)
    let magic_link = magic_link_input.and_then(|m| {
        m1_magic_link_needs_tokens_and_an_identity(m, tokens_enabled, password_input.is_some(), e);
        let (lit, default) = (m.token_lifetime.as_ref(), defaults::MAGIC_LINK_LIFETIME);
        a11_lifetime(lit, "magic_link(token_lifetime)", default, false, e)
    });
    // K1: API keys need tokens (their table sits beside the token table). (k1-api-key-without-tokens)
    // K2: a prefix, of lower-case letters and digits, 2 to 16.  (k2-api-key-prefix-*)
    // K3: scopes listed once each, each a scope name.           (k3-api-key-scope-*)
    // K4: the default lifetime as A11; a cap of at least one.   (k4-api-key-*)
    // K5: `revoke_with_sign_ins` needs something that ends every sign-in. (k5-revoke-with-sign-ins-without-log-out)
    let api_key = api_key_input.and_then(|k| {
        k1_api_key_needs_tokens(k, tokens_enabled, e);
        let ends_sign_ins = log_out_input.is_some() || password_input.is_some();
        let revoke_with_sign_ins = k5_revoke_with_sign_ins(k, ends_sign_ins, e);
        let prefix = k2_api_key_prefix(k, e);
        let scopes = k3_api_key_scopes(k, e);
        let (lit, default) = (k.default_lifetime.as_ref(), defaults::API_KEY_LIFETIME);
        let lifetime = a11_lifetime(lit, "api_key(default_lifetime)", default, false, e);
        let max_per_user = k4_api_key_cap(k, e);
        Some(ApiKey {
            prefix: prefix?,
            scopes: scopes?,
            default_lifetime_secs: lifetime?,
            max_per_user: max_per_user?,
            revoke_with_sign_ins,
        })
    });
    // B1: brute-force protection needs a password to protect. (b1-brute-force-without-password)
    // B2: failure counts are whole numbers of at least one.    (b2-brute-force-max-failures-zero)
    // B3: its window and lockout as A11.                        (b3-brute-force-window-without-unit)
    // B4: `by` names identity and/or ip, each once.             (b4-brute-force-by-*)
    let brute_force = brute_force_input.and_then(|b| {
        b1_brute_force_needs_password(b, password_input.is_some(), e);
        let max_failures = b2_count(
            b.max_failures.as_ref(),
            "max_failures",
            defaults::BRUTE_FORCE_MAX_FAILURES,
            e,
        );
        let max_failures_per_ip = b2_count(
            b.max_failures_per_ip.as_ref(),
            "max_failures_per_ip",
            defaults::BRUTE_FORCE_MAX_FAILURES_PER_IP,
            e,
        );
        let (w, l) = (b.window.as_ref(), b.lockout.as_ref());
        let window = a11_lifetime(
            w,
            "brute_force(window)",
            defaults::BRUTE_FORCE_WINDOW,
            false,
            e,
        );
        let lockout = a11_lifetime(
            l,
            "brute_force(lockout)",
            defaults::BRUTE_FORCE_LOCKOUT,
            false,
            e,
        );
        let by = b4_brute_force_by(b, e);
        let (by_identity, by_ip) = by?;
        Some(BruteForce {
            max_failures: max_failures?,
            max_failures_per_ip: max_failures_per_ip?,
            window_secs: window?,
            lockout_secs: lockout?,
            by_identity,
            by_ip,
        })
    });
    // L1: the audit log's retention as A11.                    (l1-audit-log-retention-without-unit)
    // L2: its `ip` is hash, truncate, full or none.            (l2-audit-log-ip-unknown)
    let audit_log = audit_log_input.and_then(|l| {
        let lit = l.retention.as_ref();
        let retention = a11_lifetime(
            lit,
            "audit_log(retention)",
            defaults::AUDIT_RETENTION,
            false,
            e,
        );
        let ip = l2_audit_log_ip(l, e);
        Some(AuditLog {
            retention_secs: retention?,
            ip: ip?,
        })
    });
    // C3: confirmation needs tokens.                          (c3-confirmation-without-tokens)
    // C1: monitored fields are fields of the struct.          (c1-monitor-field-missing)
    // C2: the struct has `confirmed_at` (rustc checks its type). (c2-no-confirmed-at, c2-confirmed-at-wrong-type)
    // C3: its lifetimes as A11.                               (c3-confirmation-lifetime-without-unit)
    let confirmation = confirmation_input.and_then(|c| {
        c3_confirmation_needs_tokens(c, tokens_enabled, e);
        let fields = fields.as_ref()?;
        let monitor_fields = c1_monitor_fields(c, fields, e);
        let confirmed_at_ty = c2_confirmed_at(c, fields, e);
        let (lit, default) = (c.token_lifetime.as_ref(), defaults::CONFIRMATION_LIFETIME);
        let lifetime = a11_lifetime(lit, "confirmation(token_lifetime)", default, false, e);
        let (lit, default) = (c.fresh_sign_in.as_ref(), defaults::FRESH_SIGN_IN);
        let fresh = a11_lifetime(lit, "confirmation(fresh_sign_in)", default, true, e);
        let on = |o: &Option<Opt<bool>>| o.as_ref().is_none_or(|b| **b);
        let on_create = on(&c.confirm_on_create);
        Some(Confirmation {
            monitor_fields: monitor_fields?,
            on_create,
            on_update: on(&c.confirm_on_update),
            require_confirmed: c.require_confirmed.as_ref().map_or(on_create, |b| **b),
            fresh_sign_in_secs: fresh?,
            lifetime_secs: lifetime?,
            confirmed_at_ty: confirmed_at_ty?,
        })
    });
    // T1: `strategy` is `attribute` or `context`; tenancy needs tokens. (t1-tenancy-unknown-strategy, t1-tenancy-without-tokens)
    // T2: `attribute` names a field of the struct (rustc checks it is `Serialize + Display`). (t2-tenancy-field-missing, t2-tenancy-field-not-display)
    // T3: `field` belongs to `attribute` only.                 (t3-tenancy-context-with-field)
    // T4: `context` needs the sessions add-on (the tenant lives in the stored session). (t4-tenancy-context-without-sessions)
    // T5: `context` refuses API keys (a key is bound to no sign-in). (t5-tenancy-context-with-api-key)
    let tenancy = input.tenancy.as_ref().and_then(|t| {
        let strategy = t1_tenancy_strategy(t, tokens_enabled, e)?;
        match strategy {
            "attribute" => t2_tenant_field(t, fields.as_ref(), e),
            _ => {
                t3_no_field_with_context(t, e);
                t4_context_needs_sessions(t, sessions_input.is_some(), e);
                t5_context_refuses_api_keys(api_key_input, e);
                Some(Tenancy::Context)
            }
        }
    });
    // A17: `subject_name` is a name.                            (the subject_name rule)
    let subject_name = input
        .subject_name
        .as_ref()
        .map(|s| subject_name(s, e))
        .unwrap_or_else(|| snake_case(&input.ident.to_string()));

    // The model, when every rule passed (a rule that failed without
    // reporting is an internal error, said by `into_tokens`).
    errors.finish()?;
    let missing = Errors::default;
    let tokens = match tokens_on {
        None => None,
        Some(t) => Some(Tokens {
            token_resource: token_resource.ok_or_else(missing)?,
            algorithm: algorithm.ok_or_else(missing)?,
            secret: secret.ok_or_else(missing)?,
            lifetime_secs: token_lifetime.ok_or_else(missing)?,
            leeway_secs: leeway.ok_or_else(missing)?,
            store_all_tokens: t.store_all_tokens.as_ref().is_some_and(|b| **b),
            require_token_presence: t
                .require_token_presence_for_authentication
                .as_ref()
                .is_some_and(|b| **b),
            extra_claims,
            issuer: t.issuer.clone(),
            audience: t.audience.clone(),
        }),
    };
    let password = match password_input {
        None => None,
        Some(p) => {
            let on = |o: &Option<Opt<bool>>| o.as_ref().is_none_or(|b| **b);
            let [register, sign_in, with_token, change] = password_actions
                .ok_or_else(missing)?
                .map(|a| a.ok_or_else(missing));
            Some(Password {
                register_action: register?,
                sign_in_action: sign_in?,
                sign_in_with_token_action: with_token?,
                change_password_action: change?,
                identity_field: identity_field.ok_or_else(missing)?,
                hashed_password_field: hashed_password_field.ok_or_else(missing)?,
                sign_in_enabled: on(&p.sign_in_enabled),
                sign_in_tokens_enabled: on(&p.sign_in_tokens_enabled),
                sign_in_token_lifetime_secs: sign_in_token_lifetime.ok_or_else(missing)?,
                confirmation_required: on(&p.confirmation_required),
                reset_token_lifetime_secs: match reset_lifetime {
                    Some(secs) => Some(secs.ok_or_else(missing)?),
                    None => None,
                },
            })
        }
    };
    let primary_key = primary_key.ok_or_else(missing)?;
    Ok(User {
        fields: fields.as_ref().map_or_else(Vec::new, |f| {
            f.0.iter()
                .map(|(name, ty, _)| (name.to_string(), ty.clone()))
                .collect()
        }),
        private: private_path(input.krate.as_ref()),
        ident: input.ident,
        subject_name,
        primary_key,
        session_identifier,
        tokens,
        password,
        log_out_everywhere: log_out,
        sessions: sessions.filter(|_| tokens_enabled),
        refresh: refresh.filter(|_| tokens_enabled),
        remember_me: remember_me.filter(|_| tokens_enabled),
        magic_link_lifetime_secs: magic_link,
        confirmation,
        api_key: api_key.filter(|_| tokens_enabled),
        brute_force: brute_force.filter(|_| password_input.is_some()),
        audit_log,
        tenancy: tenancy.filter(|_| tokens_enabled),
    })
}

/// A bare name (`attribute`, `org_id`) written as an expression.
fn bare_name(expr: &syn::Expr) -> Option<String> {
    match expr {
        syn::Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
        _ => None,
    }
}

/// T1: `strategy` is `attribute` or `context`, and tenancy needs tokens
/// (the tenant is a claim of every token).
fn t1_tenancy_strategy(
    t: &Opt<input::Tenancy>,
    tokens_enabled: bool,
    errors: &mut Errors,
) -> Option<&'static str> {
    if !tokens_enabled {
        errors.push_span(
            t.span,
            "`tenancy` needs tokens (every token carries the tenant): add a `tokens(token_resource = ..)` block",
        );
    }
    let Some(strategy) = &t.strategy else {
        errors.push_span(
            t.span,
            "`tenancy` needs a `strategy`: `strategy = attribute, field = <the user's tenant field>` or `strategy = context`",
        );
        return None;
    };
    match bare_name(strategy).as_deref() {
        Some("attribute") => Some("attribute"),
        Some("context") => Some("context"),
        _ => {
            errors.push(
                strategy,
                "`strategy` is `attribute` (the tenant is a field of the user) or `context` (the tenant comes from the request)",
            );
            None
        }
    }
}

/// T2: attribute tenancy names the user's tenant field, a field of the
/// struct (rustc checks its type through `TenantField`).
fn t2_tenant_field(
    t: &Opt<input::Tenancy>,
    fields: Option<&Fields>,
    errors: &mut Errors,
) -> Option<Tenancy> {
    let Some(field) = &t.field else {
        errors.push_span(
            t.span,
            "`strategy = attribute` needs `field = <name>`: the field of the user holding its tenant",
        );
        return None;
    };
    let Some(name) = bare_name(field) else {
        errors.push(
            field,
            "`field` is a field name, written bare: `field = org_id`",
        );
        return None;
    };
    match fields?.get(&name) {
        Some((ident, ty, _)) => Some(Tenancy::Attribute(ident.clone(), Box::new(ty.clone()))),
        None => {
            errors.push(
                field,
                format!("`field` names `{name}`, which is not a field of this struct: add the field or name another"),
            );
            None
        }
    }
}

/// T3: `field` is for attribute tenancy: with `context` the tenant is the
/// request's, and a field would be ignored.
fn t3_no_field_with_context(t: &Opt<input::Tenancy>, errors: &mut Errors) {
    if let Some(field) = &t.field {
        errors.push(
            field,
            "`field` is for `strategy = attribute`; with `strategy = context` the tenant comes from the request: remove `field`",
        );
    }
}

/// T4: context tenancy needs the sessions add-on: each sign-in is bound to
/// its tenant by its stored session row.
fn t4_context_needs_sessions(t: &Opt<input::Tenancy>, sessions: bool, errors: &mut Errors) {
    if !sessions {
        let span = t.strategy.as_ref().map_or(t.span, Spanned::span);
        errors.push_span(
            span,
            "`strategy = context` needs stored sessions (each sign-in's tenant is kept in its session row): add `add_ons(sessions(...))`",
        );
    }
}

/// T5: context tenancy refuses the API-key strategy: a key belongs to a
/// user, not to a sign-in, so it would act in every tenant of the user.
fn t5_context_refuses_api_keys(api_key: Option<&Opt<input::ApiKey>>, errors: &mut Errors) {
    if let Some(k) = api_key {
        errors.push_span(
            k.span,
            "`api_key` cannot be used with `tenancy(strategy = context)`: a key is bound to no tenant and would act in every tenant of its user",
        );
    }
}

/// L2: `ip` names how much of an address an event keeps.
fn l2_audit_log_ip(l: &Opt<input::AuditLog>, errors: &mut Errors) -> Option<&'static str> {
    let Some(ip) = &l.ip else {
        return Some("Hash");
    };
    let name = match ip {
        syn::Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
        _ => None,
    };
    match name.as_deref() {
        Some("hash") => Some("Hash"),
        Some("truncate") => Some("Truncate"),
        Some("full") => Some("Full"),
        Some("none") => Some("None"),
        _ => {
            errors.push(
                ip,
                "`ip` is how much of a client's address an event keeps: `hash`, `truncate`, `full` or `none`",
            );
            None
        }
    }
}

/// B1: `brute_force` without a password strategy (nothing to protect).
fn b1_brute_force_needs_password(
    b: &Opt<input::BruteForce>,
    has_password: bool,
    errors: &mut Errors,
) {
    if !has_password {
        errors.push_span(
            b.span,
            "`brute_force` counts failed password sign-ins, and there is no password strategy: add `strategies(password(...))`",
        );
    }
}

/// B2: a failure count is a whole number of at least one.
fn b2_count(
    lit: Option<&syn::LitInt>,
    option: &str,
    default: u32,
    errors: &mut Errors,
) -> Option<u32> {
    let Some(lit) = lit else {
        return Some(default);
    };
    match lit.base10_parse::<u32>() {
        Ok(n) if n >= 1 => Some(n),
        _ => {
            errors.push(
                lit,
                format!("`{option}` is how many failures lock: a whole number of at least 1"),
            );
            None
        }
    }
}

/// B4: `by` lists `identity` and/or `ip`, each once (default both).
fn b4_brute_force_by(b: &Opt<input::BruteForce>, errors: &mut Errors) -> Option<(bool, bool)> {
    let Some(by) = &b.by else {
        return Some((true, true));
    };
    let names = match by {
        syn::Expr::Array(a) if !a.elems.is_empty() => &a.elems,
        _ => {
            errors.push(
                by,
                "`by` names what is counted: `by = [identity]`, `by = [ip]` or `by = [identity, ip]`",
            );
            return None;
        }
    };
    let (mut identity, mut ip, mut ok) = (false, false, true);
    for path in names {
        let name = match path {
            syn::Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
            _ => None,
        };
        let seen = match name.as_deref() {
            Some("identity") => std::mem::replace(&mut identity, true),
            Some("ip") => std::mem::replace(&mut ip, true),
            _ => {
                errors.push(path, "`by` counts `identity` or `ip`");
                ok = false;
                continue;
            }
        };
        if seen {
            errors.push(path, "listed twice in `by`");
            ok = false;
        }
    }
    ok.then_some((identity, ip))
}

/// A8: tokens enabled without `token_resource`.
fn a8_token_resource(block: &Opt<input::Tokens>, errors: &mut Errors) -> Option<syn::Path> {
    let path = block.token_resource.clone();
    if path.is_none() {
        errors.push_span(
            block.span,
            "`tokens` needs `token_resource = YourToken`, a struct with `#[token_resource]`",
        );
    }
    path
}

/// A12: a `signing_algorithm` that is not one of the supported names.
fn a12_algorithm(t: &input::Tokens, errors: &mut Errors) -> Option<syn::Ident> {
    match &t.signing_algorithm {
        None => Some(syn::Ident::new("HS256", Span::call_site())),
        Some(lit) if ALGORITHMS.contains(&lit.value().as_str()) => {
            Some(syn::Ident::new(&lit.value(), lit.span()))
        }
        Some(lit) => {
            errors.push(
                lit,
                format!(
                    "`signing_algorithm = \"{}\"` is not a supported algorithm: use one of {} (exactly so spelled)",
                    lit.value().escape_default(),
                    ALGORITHMS.map(|a| format!("\"{a}\"")).join(", ")
                ),
            );
            None
        }
    }
}

/// The default `token_lifetime`. With refresh tokens an access token is
/// short: a refresh buys the next one, and a stolen one is good for
/// minutes. Without them it is the whole sign-in, so it lives as long as
/// one.
fn default_token_lifetime(t: &input::Tokens) -> u64 {
    if t.refresh_tokens.is_some() {
        defaults::TOKEN_LIFETIME_WITH_REFRESH
    } else {
        defaults::TOKEN_LIFETIME
    }
}

/// A16: `signing_secret(env = "")`. (Two sources at once are refused while
/// parsing `signing_secret`.)
fn a16_signing_secret(t: &input::Tokens, errors: &mut Errors) -> SigningSecret {
    match t.signing_secret.as_ref().map(|s| &s.value) {
        None => SigningSecret::Env("TOKEN_SIGNING_SECRET".into()),
        Some(input::SigningSecret::Literal(lit)) => SigningSecret::Literal(lit.clone()),
        Some(input::SigningSecret::Env(lit)) => {
            if lit.value().trim().is_empty() {
                errors.push(lit, "`env` needs the name of an environment variable");
            }
            SigningSecret::Env(lit.value())
        }
        Some(input::SigningSecret::With(path)) => SigningSecret::With(path.clone()),
    }
}

/// A13: `identity_field` or `hashed_password_field` naming a field the
/// struct does not have. (Its type is checked by rustc, at the field.)
fn a13_field(
    p: &Opt<input::Password>,
    lit: Option<&syn::LitStr>,
    option: &str,
    default: &str,
    fields: Option<&Fields>,
    errors: &mut Errors,
) -> Option<(syn::Ident, syn::Type)> {
    let name = lit.map_or_else(|| default.to_owned(), syn::LitStr::value);
    match fields?.get(&name) {
        Some((ident, ty, _)) => Some((ident.clone(), ty.clone())),
        None => {
            let msg = format!(
                "`{option}` names `{name}`, which is not a field of this struct: add the field or name another"
            );
            match lit {
                Some(lit) => errors.push(lit, msg),
                None => errors.push_span(p.span, format!("{msg} with `{option} = \"...\"`")),
            }
            None
        }
    }
}

/// The password strategy's action names (each an identifier, as T4).
fn password_action_names(p: &input::Password, errors: &mut Errors) -> [Option<syn::Ident>; 4] {
    [
        (
            "register_action_name",
            &p.register_action_name,
            "register_with_password",
        ),
        (
            "sign_in_action_name",
            &p.sign_in_action_name,
            "sign_in_with_password",
        ),
        (
            "sign_in_with_token_action_name",
            &p.sign_in_with_token_action_name,
            "sign_in_with_token",
        ),
        (
            "change_password_action_name",
            &p.change_password_action_name,
            "change_password",
        ),
    ]
    .map(|(option, lit, default)| action_name(lit.as_ref(), option, default, errors))
}

/// The sessions add-on's action names (each an identifier, as T4).
fn session_action_names(s: &input::Sessions, errors: &mut Errors) -> [Option<syn::Ident>; 3] {
    [
        ("list_action_name", &s.list_action_name, "list_sessions"),
        (
            "revoke_action_name",
            &s.revoke_action_name,
            "revoke_session",
        ),
        (
            "revoke_others_action_name",
            &s.revoke_others_action_name,
            "revoke_other_sessions",
        ),
    ]
    .map(|(option, lit, default)| action_name(lit.as_ref(), option, default, errors))
}

/// R2: a `cookie_name` that is not a cookie name (letters, digits, `-`,
/// `_`, `.`; not empty).
fn r2_cookie_name(r: &input::RememberMe, errors: &mut Errors) -> Option<String> {
    let Some(lit) = &r.cookie_name else {
        return Some("remember_me".to_owned());
    };
    let name = lit.value();
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Some(name)
    } else {
        errors.push(
            lit,
            "`cookie_name` must be a non-empty cookie name of letters, digits, `-`, `_` and `.`, like \"remember_me\"",
        );
        None
    }
}

/// C3: the confirmation add-on while tokens are disabled.
fn c3_confirmation_needs_tokens(
    c: &Opt<input::Confirmation>,
    tokens_enabled: bool,
    errors: &mut Errors,
) {
    if !tokens_enabled {
        errors.push_span(
            c.span,
            "`confirmation` needs tokens (a confirmation token is sent): add a `tokens(token_resource = ..)` block",
        );
    }
}

/// C1: `monitor_fields` naming a field the struct does not have.
fn c1_monitor_fields(
    c: &Opt<input::Confirmation>,
    fields: &Fields,
    errors: &mut Errors,
) -> Option<Vec<String>> {
    let monitor_fields = match &c.monitor_fields {
        None => vec!["email".to_owned()],
        Some(list) => list.iter().map(syn::LitStr::value).collect(),
    };
    let mut ok = true;
    for (i, name) in monitor_fields.iter().enumerate() {
        if fields.get(name).is_none() {
            ok = false;
            let msg = format!(
                "`monitor_fields` names `{name}`, which is not a field of this struct: add the field or remove it from the list"
            );
            match c.monitor_fields.as_ref().and_then(|l| l.get(i)) {
                Some(lit) => errors.push(lit, msg),
                None => errors.push_span(c.span, msg),
            }
        }
    }
    ok.then_some(monitor_fields)
}

/// C2: no `confirmed_at` field (its type, `Option<DateTime<Utc>>`, is
/// checked by rustc at the field).
fn c2_confirmed_at(
    c: &Opt<input::Confirmation>,
    fields: &Fields,
    errors: &mut Errors,
) -> Option<syn::Type> {
    let confirmed_at = fields.get("confirmed_at").map(|(_, ty, _)| ty.clone());
    if confirmed_at.is_none() {
        errors.push_span(
            c.span,
            "`confirmation` records when the user confirmed: add a field `pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>`",
        );
    }
    confirmed_at
}

/// M1: `magic_link` while tokens are disabled, or without the password
/// strategy (whose identity field it signs in by).
fn m1_magic_link_needs_tokens_and_an_identity(
    m: &Opt<input::MagicLink>,
    tokens_enabled: bool,
    has_password: bool,
    errors: &mut Errors,
) {
    if !tokens_enabled {
        errors.push_span(
            m.span,
            "`magic_link` needs tokens: add a `tokens(token_resource = ..)` block (with `enabled = true`)",
        );
    }
    if !has_password {
        errors.push_span(
            m.span,
            "`magic_link` signs in by the password strategy's identity field: add `password(...)` (with `sign_in_enabled = false` for passwordless sign-in)",
        );
    }
}

/// K1: the API-key strategy while tokens are disabled.
fn k1_api_key_needs_tokens(k: &Opt<input::ApiKey>, tokens_enabled: bool, errors: &mut Errors) {
    if !tokens_enabled {
        errors.push_span(
            k.span,
            "`api_key` keeps its keys beside the token table: add a `tokens(token_resource = ..)` block (with `enabled = true`)",
        );
    }
}

/// K2: the prefix is given, 2 to 16 of `a`–`z` and `0`–`9`, starting with a
/// letter (auth-dsl's rule, which the runtime checks too).
fn k2_api_key_prefix(k: &Opt<input::ApiKey>, errors: &mut Errors) -> Option<String> {
    let Some(lit) = &k.prefix else {
        errors.push_span(
            k.span,
            "`api_key` needs a `prefix`, what every key starts with (secret scanners look for it), like `prefix = \"myapp\"`",
        );
        return None;
    };
    match auth_dsl::check_api_key_prefix(&lit.value()) {
        Ok(()) => Some(lit.value()),
        Err(why) => {
            errors.push(lit, why);
            None
        }
    }
}

/// K3: each scope is a scope name, listed once; a list written is not empty.
fn k3_api_key_scopes(k: &Opt<input::ApiKey>, errors: &mut Errors) -> Option<Vec<String>> {
    let Some(list) = &k.scopes else {
        return Some(Vec::new());
    };
    if list.is_empty() {
        errors.push_span(
            list.span,
            "`scopes` lists what a key may be allowed to do, like `scopes = [\"reports:read\"]`: leave it out for keys without scopes",
        );
        return None;
    }
    let mut scopes: Vec<String> = Vec::new();
    let mut ok = true;
    for lit in list.iter() {
        let scope = lit.value();
        if let Err(why) = auth_dsl::check_api_key_scope(&scope) {
            errors.push(lit, why);
            ok = false;
        } else if scopes.contains(&scope) {
            errors.push(lit, format!("scope `{scope}` is listed twice"));
            ok = false;
        } else {
            scopes.push(scope);
        }
    }
    ok.then_some(scopes)
}

/// K5: `revoke_with_sign_ins` where nothing ends every sign-in of a user
/// (no `log_out_everywhere`, no password to change or reset).
fn k5_revoke_with_sign_ins(
    k: &Opt<input::ApiKey>,
    ends_sign_ins: bool,
    errors: &mut Errors,
) -> bool {
    let Some(flag) = k.revoke_with_sign_ins.as_ref() else {
        return false;
    };
    if **flag && !ends_sign_ins {
        errors.push_span(
            flag.span,
            "`revoke_with_sign_ins` revokes keys when every sign-in of a user ends, which nothing here does: add `add_ons(log_out_everywhere)` or `strategies(password(...))`",
        );
    }
    **flag
}

/// K4: `max_per_user` is a whole number of at least one.
fn k4_api_key_cap(k: &Opt<input::ApiKey>, errors: &mut Errors) -> Option<usize> {
    let Some(lit) = &k.max_per_user else {
        return Some(defaults::API_KEYS_PER_USER);
    };
    match lit.base10_parse::<usize>() {
        Ok(n) if n >= 1 => Some(n),
        _ => {
            errors.push(lit, "`max_per_user` is the most live keys one user may hold: a whole number of at least 1");
            None
        }
    }
}

/// R1: the remember-me strategy while tokens are disabled.
fn r1_remember_me_needs_tokens(
    remember_me: &Opt<input::RememberMe>,
    tokens_enabled: bool,
    errors: &mut Errors,
) {
    if !tokens_enabled {
        errors.push_span(
            remember_me.span,
            "`remember_me` needs tokens: add a `tokens(token_resource = ..)` block (with `enabled = true`)",
        );
    }
}

/// S1: `refresh_tokens` without `add_ons(sessions(...))`.
fn s1_refresh_tokens_need_sessions(
    refresh: Option<&Opt<input::RefreshTokens>>,
    sessions: Option<&Opt<input::Sessions>>,
    errors: &mut Errors,
) {
    if let (Some(r), None) = (refresh, sessions) {
        errors.push_span(
            r.span,
            "`refresh_tokens` needs the sessions add-on: add `add_ons(sessions(lifetime = \"30d\"))`",
        );
    }
}

/// S2: `refresh_tokens` or `sessions` while tokens are disabled.
fn s2_sessions_need_tokens(
    sessions: Option<&Opt<input::Sessions>>,
    refresh: Option<&Opt<input::RefreshTokens>>,
    tokens_enabled: bool,
    errors: &mut Errors,
) {
    if tokens_enabled {
        return;
    }
    // One mistake (tokens off), one error: at `refresh_tokens` when it is
    // there (it sits in the `tokens` block that turned them off).
    match (refresh, sessions) {
        (Some(r), Some(_)) => errors.push_span(
            r.span,
            "`refresh_tokens` and `sessions` need tokens enabled: remove `enabled = false`, or remove both",
        ),
        (Some(r), None) => errors.push_span(
            r.span,
            "`refresh_tokens` needs tokens enabled: remove `enabled = false` or remove `refresh_tokens`",
        ),
        (None, Some(s)) => errors.push_span(
            s.span,
            "`sessions` needs tokens: add a `tokens(token_resource = ..)` block (with `enabled = true`)",
        ),
        (None, None) => {}
    }
}

/// S3: `sessions(lifetime)` shorter than `refresh_tokens(lifetime)` or than
/// `token_lifetime`; `refresh_tokens(lifetime)` not longer than `token_lifetime`.
fn s3_lifetimes_nest(
    token_secs: u64,
    sessions: Option<(&Opt<input::Sessions>, &Sessions)>,
    refresh: Option<(&Opt<input::RefreshTokens>, &Refresh)>,
    errors: &mut Errors,
) {
    let span_of = |lit: Option<&syn::LitStr>, option: Span| lit.map_or(option, syn::LitStr::span);
    if let Some((input, s)) = sessions {
        let span = span_of(input.lifetime.as_ref(), input.span);
        if s.lifetime_secs < token_secs {
            errors.push_span(
                span,
                "`sessions(lifetime)` is shorter than `token_lifetime`: a session must outlive its tokens; lengthen it or shorten `token_lifetime`",
            );
        } else if let Some((_, r)) = refresh
            && s.lifetime_secs < r.lifetime_secs
        {
            errors.push_span(
                span,
                "`sessions(lifetime)` is shorter than `refresh_tokens(lifetime)`: the session is the absolute cap; lengthen it or shorten the refresh lifetime",
            );
        }
    }
    if let Some((input, r)) = refresh
        && r.lifetime_secs <= token_secs
    {
        errors.push_span(
            span_of(input.lifetime.as_ref(), input.span),
            "`refresh_tokens(lifetime)` must be longer than `token_lifetime`, or refreshing buys nothing",
        );
    }
}

/// A1: only on structs with named fields (and not generic ones).
fn a1_named_fields(input: &Input, errors: &mut Errors) -> Option<Fields> {
    if !input.generics.params.is_empty() {
        errors.push(
            &input.generics,
            "`Authenticated` cannot be derived for a generic struct: remove the parameters",
        );
    }
    match &input.data {
        darling::ast::Data::Struct(fields) if fields.style == darling::ast::Style::Struct => {
            Some(Fields(
                fields
                    .fields
                    .iter()
                    .filter_map(|f| {
                        let span = f.primary_key.is_present().then(|| f.primary_key.span());
                        f.ident.clone().map(|i| (i, f.ty.clone(), span))
                    })
                    .collect(),
            ))
        }
        _ => {
            errors.push(
                &input.ident,
                "`Authenticated` can only be derived for a struct with named fields, like `struct User { id: Uuid, .. }`",
            );
            None
        }
    }
}

/// A2: exactly one primary key: a field marked `#[authentication(primary_key)]`, else a field named `id`.
fn a2_primary_key(
    input: &Input,
    fields: &Fields,
    errors: &mut Errors,
) -> Option<(syn::Ident, syn::Type)> {
    let marked: Vec<_> = fields
        .0
        .iter()
        .filter(|(_, _, flag)| flag.is_some())
        .collect();
    match marked.as_slice() {
        [one] => Some((one.0.clone(), one.1.clone())),
        [] => match fields.get("id") {
            Some((ident, ty, _)) => Some((ident.clone(), ty.clone())),
            None => {
                errors.push(
                    &input.ident,
                    "no primary key: name a field `id` or mark one with `#[authentication(primary_key)]`",
                );
                None
            }
        },
        [_, rest @ ..] => {
            for (_, _, span) in rest {
                errors.push_span(
                    span.unwrap_or_else(Span::call_site),
                    "only one field can be the `primary_key`: remove this one",
                );
            }
            None
        }
    }
}

/// A4: `require_token_presence_for_authentication` needs `store_all_tokens`.
fn a4_presence_needs_store_all(tokens: Option<&Opt<input::Tokens>>, errors: &mut Errors) {
    let Some(t) = tokens else { return };
    if let Some(presence) = t
        .require_token_presence_for_authentication
        .as_ref()
        .filter(|p| ***p)
        && !t.store_all_tokens.as_ref().is_some_and(|s| **s)
    {
        errors.push_span(
            presence.span,
            "`require_token_presence_for_authentication` needs `store_all_tokens = true`: add it to `tokens(...)`",
        );
    }
}

/// A5: `log_out_everywhere` needs tokens enabled, `store_all_tokens` and
/// `require_token_presence_for_authentication`. A6 (its half): tokens disabled.
fn a5_a6_log_out_everywhere_needs_allow_list(
    l: &Opt<input::LogOutEverywhere>,
    tokens: Option<&Opt<input::Tokens>>,
    tokens_enabled: bool,
    errors: &mut Errors,
) {
    if !tokens_enabled {
        errors.push_span(
            l.span,
            "`log_out_everywhere` needs tokens: add `tokens(token_resource = .., store_all_tokens, require_token_presence_for_authentication)`",
        );
        return;
    }
    let on = |o: Option<&Opt<bool>>| o.is_some_and(|b| **b);
    let t = tokens.map(|t| &t.value);
    let store_all = on(t.and_then(|t| t.store_all_tokens.as_ref()));
    let presence = on(t.and_then(|t| t.require_token_presence_for_authentication.as_ref()));
    if !store_all || !presence {
        errors.push_span(
            l.span,
            "`log_out_everywhere` needs `store_all_tokens` and `require_token_presence_for_authentication` in `tokens(...)`",
        );
    }
}

/// A6: a strategy that needs tokens (password with `sign_in_tokens_enabled`, the default) while tokens are disabled.
fn a6_password_needs_tokens(p: &Opt<input::Password>, tokens_enabled: bool, errors: &mut Errors) {
    if let (false, Some(reset)) = (tokens_enabled, &p.resettable) {
        errors.push_span(
            reset.span,
            "`resettable` needs tokens (a reset token is sent): add a `tokens(token_resource = ..)` block",
        );
    }
    let sign_in_tokens = p.sign_in_tokens_enabled.as_ref().is_none_or(|b| **b);
    if !tokens_enabled && sign_in_tokens {
        let span = p.sign_in_tokens_enabled.as_ref().map_or(p.span, |o| o.span);
        errors.push_span(
            span,
            "`password` with `sign_in_tokens_enabled` (the default) needs tokens: add a `tokens(...)` block or set `sign_in_tokens_enabled = false`",
        );
    }
}

/// A7: `sign_in_tokens_enabled` needs `sign_in_enabled`.
fn a7_sign_in_tokens_need_sign_in(p: &Opt<input::Password>, errors: &mut Errors) {
    let Some(sign_in) = p.sign_in_enabled.as_ref().filter(|b| !***b) else {
        return;
    };
    if p.sign_in_tokens_enabled.as_ref().is_none_or(|b| **b) {
        let span = p
            .sign_in_tokens_enabled
            .as_ref()
            .map_or(sign_in.span, |o| o.span);
        errors.push_span(
            span,
            "`sign_in_tokens_enabled` needs `sign_in_enabled`: set `sign_in_tokens_enabled = false` or enable sign-in",
        );
    }
}

/// A9: tokens enabled, no `session_identifier`, and allow-list mode off is an error.
fn a9_session_identifier(
    input: &Input,
    tokens_enabled: bool,
    errors: &mut Errors,
) -> SessionIdentifier {
    let explicit = input
        .session_identifier
        .as_ref()
        .map(|s| match s.value().as_str() {
            "jti" => SessionIdentifier::Jti,
            "unsafe" => SessionIdentifier::Unsafe,
            _ => {
                errors.push(
                    &s.value,
                    "`session_identifier` must be \"jti\" or \"unsafe\"",
                );
                SessionIdentifier::Jti
            }
        });
    if let Some(si) = explicit {
        return si;
    }
    let allow_list = input.tokens.as_ref().is_some_and(|t| {
        t.require_token_presence_for_authentication
            .as_ref()
            .is_some_and(|b| **b)
    });
    if let Some(t) = input
        .tokens
        .as_ref()
        .filter(|_| tokens_enabled && !allow_list)
    {
        errors.push_span(
            t.span,
            "tokens without allow-list mode need a `session_identifier`, which says how sign-out ends a token no row holds: `session_identifier = \"jti\"` records the token's id as revoked (sign-out works, also for a bearer-only API), \"unsafe\" records nothing (a signed-out token works until it expires); or store every token with `store_all_tokens` and `require_token_presence_for_authentication`",
        );
    }
    SessionIdentifier::Unset
}

/// A11: a lifetime or leeway that does not parse, has no unit, or is zero (leeway may be zero).
fn a11_lifetime(
    lit: Option<&syn::LitStr>,
    option: &str,
    default: u64,
    zero_ok: bool,
    errors: &mut Errors,
) -> Option<u64> {
    let Some(lit) = lit else { return Some(default) };
    match auth_dsl::parse_lifetime_secs(&lit.value()) {
        Ok(0) if !zero_ok => {
            errors.push(
                lit,
                format!("`{option}` must be longer than zero, like \"14d\""),
            );
            None
        }
        Ok(secs) => Some(secs),
        Err(why) => {
            let why = match why {
                LifetimeError::MissingUnit => {
                    "has no unit: write it like \"60s\", \"15m\", \"12h\" or \"14d\""
                }
                LifetimeError::UnknownUnit => "has an unknown unit: use s, m, h or d, like \"14d\"",
                LifetimeError::TooLarge => "is too large: at most 100 years",
                _ => "does not parse: write a whole number and a unit, like \"14d\"",
            };
            errors.push(lit, format!("`{option}` {why}"));
            None
        }
    }
}

/// A14: `apply_on_password_change` without a password strategy.
fn a14_apply_on_password_change_needs_password(
    l: &Opt<input::LogOutEverywhere>,
    has_password: bool,
    errors: &mut Errors,
) {
    if let Some(apply) = l.apply_on_password_change.as_ref().filter(|b| ***b)
        && !has_password
    {
        errors.push_span(
            apply.span,
            "`apply_on_password_change` needs a password strategy: add `strategies(password(...))`",
        );
    }
}

/// A15: static `extra_claims` that set `sub` (or any other registered claim).
fn a15_static_claims(claims: &input::ExtraClaims, errors: &mut Errors) -> ExtraClaims {
    match claims {
        input::ExtraClaims::Fn(path) => ExtraClaims::Fn(path.clone()),
        input::ExtraClaims::Static(list) => ExtraClaims::Static(
            list.iter()
                .filter_map(|(name, value)| {
                    let n = name.to_string();
                    if REGISTERED_CLAIMS.contains(&n.as_str()) {
                        errors.push(
                            name,
                            format!("`{n}` is a registered claim that the framework sets: remove it from `extra_claims`"),
                        );
                        None
                    } else {
                        Some((n, value.clone()))
                    }
                })
                .collect(),
        ),
    }
}

fn log_out_everywhere(l: &Opt<input::LogOutEverywhere>, errors: &mut Errors) -> LogOutEverywhere {
    let values = |v: &Vec<syn::LitStr>| v.iter().map(syn::LitStr::value).collect::<Vec<_>>();
    let action = action_name(
        l.action_name.as_ref(),
        "action_name",
        "log_out_everywhere",
        errors,
    )
    .unwrap_or_else(|| syn::Ident::new("log_out_everywhere", Span::call_site()));
    LogOutEverywhere {
        action,
        apply_on_password_change: l.apply_on_password_change.as_ref().is_some_and(|b| **b),
        include_purposes: l.include_purposes.as_ref().map(values),
        exclude_purposes: l
            .exclude_purposes
            .as_ref()
            .map_or_else(|| vec!["revocation".to_owned()], values),
    }
}

fn subject_name(s: &Opt<syn::LitStr>, errors: &mut Errors) -> String {
    let name = s.value();
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        errors.push(
            &s.value,
            "`subject_name` must be non-empty and use only letters, digits, `_` and `-`",
        );
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use darling::FromDeriveInput;
    use syn::parse_quote;

    fn run(input: syn::DeriveInput) -> Result<User, Vec<String>> {
        let input = Input::from_derive_input(&input).map_err(|e| vec![e.to_string()])?;
        validate(input).map_err(|e| e.messages())
    }

    #[test]
    fn defaults_apply() {
        let user = run(parse_quote! {
            #[authentication(tokens(token_resource = Token, store_all_tokens, require_token_presence_for_authentication))]
            struct UserAccount { id: i64 }
        })
        .ok()
        .unwrap();
        assert_eq!(user.subject_name, "user_account");
        assert_eq!(user.primary_key.0, "id");
        let t = user.tokens.unwrap();
        assert_eq!(t.algorithm, "HS256");
        assert_eq!((t.lifetime_secs, t.leeway_secs), (14 * 86_400, 0));
        assert!(matches!(t.secret, SigningSecret::Env(ref n) if n == "TOKEN_SIGNING_SECRET"));
    }

    #[test]
    fn access_tokens_default_to_fifteen_minutes_with_refresh_tokens() {
        let user = run(parse_quote! {
            #[authentication(
                tokens(token_resource = Token, store_all_tokens, require_token_presence_for_authentication,
                       refresh_tokens()),
                add_ons(sessions()),
            )]
            struct User { id: i64 }
        })
        .ok()
        .unwrap();
        assert_eq!(user.tokens.unwrap().lifetime_secs, 15 * 60);
        assert_eq!(user.refresh.unwrap().lifetime_secs, 7 * 86_400);
    }

    #[test]
    fn a2_marked_primary_key_wins_over_id() {
        let user = run(parse_quote! {
            struct User { id: i64, #[authentication(primary_key)] email: String }
        })
        .ok()
        .unwrap();
        assert_eq!(user.primary_key.0, "email");
    }

    #[test]
    fn every_rule_violation_is_collected() {
        let errs = run(parse_quote! {
            #[authentication(
                tokens(token_lifetime = "0d", leeway = "5", signing_algorithm = "HS1", require_token_presence_for_authentication,
                       extra_claims(sub = "x", exp = 1)),
                strategies(password(sign_in_enabled = false, identity_field = "login")),
                add_ons(log_out_everywhere(apply_on_password_change)),
            )]
            struct User { uid: i64 }
        })
        .err()
        .unwrap();
        let expect = [
            "no primary key",
            "`tokens` needs `token_resource",
            "`signing_algorithm = \"HS1\"` is not a supported algorithm",
            "`token_lifetime` must be longer than zero",
            "`leeway` has no unit",
            "`sub` is a registered claim",
            "`exp` is a registered claim",
            "`require_token_presence_for_authentication` needs `store_all_tokens",
            "`sign_in_tokens_enabled` needs `sign_in_enabled`",
            "`identity_field` names `login`",
            "`hashed_password_field` names `hashed_password`",
            "`log_out_everywhere` needs `store_all_tokens`",
        ];
        for e in expect {
            assert!(
                errs.iter().any(|m| m.contains(e)),
                "missing {e:?} in {errs:#?}"
            );
        }
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    }

    #[test]
    fn a9_allow_list_mode_needs_no_session_identifier() {
        assert!(run(parse_quote! {
            #[authentication(tokens(token_resource = T, store_all_tokens, require_token_presence_for_authentication))]
            struct User { id: i64 }
        })
        .is_ok());
        assert!(
            run(parse_quote! {
                #[authentication(tokens(token_resource = T))]
                struct User { id: i64 }
            })
            .is_err()
        );
        assert!(
            run(parse_quote! {
                #[authentication(session_identifier = "unsafe", tokens(token_resource = T))]
                struct User { id: i64 }
            })
            .is_ok()
        );
        assert!(
            run(parse_quote! {
                #[authentication(tokens(enabled = false))]
                struct User { id: i64 }
            })
            .is_ok()
        );
    }
}
