//! Generates `UserResource` and `Authenticated` for a validated user. Cannot fail.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::model::{
    ApiKey, ExtraClaims, LogOutEverywhere, Password, Refresh, RememberMe, SessionIdentifier,
    Sessions, SigningSecret, Tenancy, User,
};

pub fn expand(user: User, input: &syn::DeriveInput) -> TokenStream {
    let User {
        ident,
        private: p,
        subject_name,
        primary_key: (pk, pk_ty),
        fields,
        session_identifier,
        tokens,
        password,
        log_out_everywhere,
        sessions,
        refresh,
        remember_me,
        magic_link_lifetime_secs,
        confirmation,
        api_key,
        brute_force,
        audit_log,
        tenancy,
    } = user;
    let pk_name = pk.to_string();
    let pk_ty_spanned = quote_spanned!(pk_ty.span()=> #pk_ty);

    // What each field stores as, asked of rustc: the type's `Column`, or
    // JSON. An `Option` written out is nullable whatever its inner type.
    let field_consts = fields.iter().map(|(name, ty)| {
        let column = match option_inner(ty) {
            Some(inner) => quote!(__p::ColumnOf::<#inner>::COLUMN.nullable()),
            None => quote!(__p::ColumnOf::<#ty>::COLUMN),
        };
        quote!((#name, #column))
    });
    let identity = password.as_ref().map(|pw| {
        let (field, ty) = &pw.identity_field;
        let name = field.to_string();
        // Spanned on the user's field type: a non-string identity fails there,
        // once, with the trait's message.
        let read =
            quote_spanned!(ty.span()=> <#ty as __p::StringField>::as_field_str(&self.#field));
        quote! {
            const IDENTITY_FIELD: ::core::option::Option<&'static str> =
                ::core::option::Option::Some(#name);

            fn identity(&self) -> ::core::option::Option<&str> {
                ::core::option::Option::Some(#read)
            }

            fn credential_hash(&self) -> ::core::option::Option<&str> {
                ::core::option::Option::Some(__p::PasswordUser::hashed_password(self))
            }
        }
    });

    // Attribute tenancy: the field's `Display` form, through a trait whose
    // error (spanned on the field's type) says what the type must be.
    let tenant_fn = match &tenancy {
        Some(Tenancy::Attribute(field, ty)) => {
            let read =
                quote_spanned!(ty.span()=> <#ty as __p::TenantField>::tenant_name(&self.#field));
            Some(quote! {
                fn tenant(&self) -> ::core::option::Option<::std::string::String> {
                    ::core::option::Option::Some(#read)
                }
            })
        }
        _ => None,
    };
    let tenancy_config = match &tenancy {
        None => quote!(::core::option::Option::None),
        Some(t) => {
            let strategy = match t {
                Tenancy::Attribute(..) => quote!(Attribute),
                Tenancy::Context => quote!(Context),
            };
            quote!(::core::option::Option::Some(__p::TenancyConfig {
                strategy: __p::TenancyStrategy::#strategy,
            }))
        }
    };

    let password_user = password.as_ref().map(|pw| {
        let (field, ty) = &pw.hashed_password_field;
        let field_name = field.to_string();
        let (identity, identity_ty) = &pw.identity_field;
        let read =
            quote_spanned!(ty.span()=> <#ty as __p::StringField>::as_field_str(&self.#field));
        let write = quote_spanned!(ty.span()=> <#ty as __p::StringField>::from_field_string(hash));
        let write_identity = quote_spanned!(identity_ty.span()=>
            <#identity_ty as __p::StringField>::from_field_string(identity));
        quote! {
            #[automatically_derived]
            impl __p::PasswordUser for #ident {
                const HASHED_PASSWORD_FIELD: &'static str = #field_name;
                fn hashed_password(&self) -> &str {
                    #read
                }
                fn set_hashed_password(&mut self, hash: ::std::string::String) {
                    self.#field = #write;
                }
                fn set_identity(&mut self, identity: ::std::string::String) {
                    self.#identity = #write_identity;
                }
            }
        }
    });
    // The registration input: generated with the register action.
    let registration = tokens
        .as_ref()
        .and(password.as_ref())
        .map(|pw| registration(input, &p, pw, (&pk, &pk_ty), confirmation.is_some()));
    let registration_struct = registration.as_ref().map(|r| &r.item);
    let actions = tokens.as_ref().map(|_| {
        user_actions(
            &ident,
            ActionSet {
                registration: registration.as_ref(),
                password: password.as_ref(),
                log_out: log_out_everywhere.as_ref(),
                sessions: sessions.as_ref(),
                refresh: refresh.as_ref(),
                magic_link: magic_link_lifetime_secs.is_some(),
                confirmation: confirmation.is_some(),
                api_key: api_key.is_some(),
                audit_log: audit_log.is_some(),
            },
        )
    });
    let sessions_config = match &sessions {
        None => quote!(::core::option::Option::None),
        Some(s) => {
            let secs = s.lifetime_secs;
            quote!(::core::option::Option::Some(__p::SessionsConfig {
                lifetime: __p::Lifetime::from_secs(#secs),
            }))
        }
    };
    let refresh_config = match &refresh {
        None => quote!(::core::option::Option::None),
        Some(r) => {
            let (secs, grace) = (r.lifetime_secs, r.reuse_grace_secs);
            quote!(::core::option::Option::Some(__p::RefreshConfig {
                lifetime: __p::Lifetime::from_secs(#secs),
                reuse_grace: __p::Lifetime::from_secs(#grace),
            }))
        }
    };
    let remember_me_config = match &remember_me {
        None => quote!(::core::option::Option::None),
        Some(RememberMe {
            cookie_name,
            token_lifetime_secs,
        }) => quote!(::core::option::Option::Some(__p::RememberMeConfig {
            cookie_name: __p::Cow::Borrowed(#cookie_name),
            token_lifetime: __p::Lifetime::from_secs(#token_lifetime_secs),
            ..::core::default::Default::default()
        })),
    };

    let magic_link_config = match magic_link_lifetime_secs {
        None => quote!(::core::option::Option::None),
        Some(secs) => quote!(::core::option::Option::Some(__p::MagicLinkConfig {
            token_lifetime: __p::Lifetime::from_secs(#secs),
        })),
    };

    let api_key_config = match &api_key {
        None => quote!(::core::option::Option::None),
        Some(ApiKey {
            prefix,
            scopes,
            default_lifetime_secs,
            max_per_user,
            revoke_with_sign_ins,
        }) => quote!(::core::option::Option::Some(__p::ApiKeyConfig {
            scopes: __p::Cow::Borrowed(&[#(#scopes),*]),
            default_lifetime: __p::Lifetime::from_secs(#default_lifetime_secs),
            max_per_user: #max_per_user,
            revoke_with_sign_ins: #revoke_with_sign_ins,
            ..__p::ApiKeyConfig::new(#prefix)
        })),
    };

    let brute_force_config = match &brute_force {
        None => quote!(::core::option::Option::None),
        Some(b) => {
            let (max, per_ip, window, lockout, by_identity, by_ip) = (
                b.max_failures,
                b.max_failures_per_ip,
                b.window_secs,
                b.lockout_secs,
                b.by_identity,
                b.by_ip,
            );
            quote!(::core::option::Option::Some(__p::BruteForceConfig {
                max_failures: #max,
                max_failures_per_ip: #per_ip,
                window: __p::Lifetime::from_secs(#window),
                lockout: __p::Lifetime::from_secs(#lockout),
                by_identity: #by_identity,
                by_ip: #by_ip,
            }))
        }
    };

    let audit_log_config = match &audit_log {
        None => quote!(::core::option::Option::None),
        Some(l) => {
            let secs = l.retention_secs;
            let ip = syn::Ident::new(l.ip, proc_macro2::Span::call_site());
            quote!(::core::option::Option::Some(__p::AuditConfig {
                retention: __p::Lifetime::from_secs(#secs),
                ip: __p::IpMode::#ip,
            }))
        }
    };

    let confirmation_config = match &confirmation {
        None => quote!(::core::option::Option::None),
        Some(c) => {
            let (fields, on_create, on_update, secs) =
                (&c.monitor_fields, c.on_create, c.on_update, c.lifetime_secs);
            let (require, fresh) = (c.require_confirmed, c.fresh_sign_in_secs);
            quote!(::core::option::Option::Some(__p::ConfirmationConfig {
                monitor_fields: &[#(#fields),*],
                confirm_on_create: #on_create,
                confirm_on_update: #on_update,
                token_lifetime: __p::Lifetime::from_secs(#secs),
                require_confirmed: #require,
                fresh_sign_in: __p::Lifetime::from_secs(#fresh),
            }))
        }
    };
    // C2: `confirmed_at` must be `Option<DateTime<Utc>>`; rustc says so at
    // the declared type when it is not.
    let confirmed_at_check = confirmation.as_ref().map(|c| {
        let ty = &c.confirmed_at_ty;
        quote_spanned! {ty.span()=>
            const _: fn() = || {
                fn __auth_confirmed_at<T: __p::ConfirmedAt>() {}
                __auth_confirmed_at::<#ty>();
            };
        }
    });

    let authenticated = tokens.map(|t| {
        let tr = &t.token_resource;
        // Spanned on the user's path: a type that is not a `#[token_resource]`
        // fails right there (rule A10).
        let token_config = quote_spanned!(tr.span()=> <#tr as __p::TokenResource>::CONFIG);
        let alg = &t.algorithm;
        let secret = match &t.secret {
            SigningSecret::Literal(lit) => quote!(__p::SigningSecret::Literal(__p::Secret::from(#lit))),
            SigningSecret::Env(name) => quote!(__p::SigningSecret::Env(__p::Cow::Borrowed(#name))),
            SigningSecret::With(path) => {
                quote_spanned!(path.span()=> __p::SigningSecret::With(#path))
            }
        };
        let (lifetime, leeway) = (t.lifetime_secs, t.leeway_secs);
        let (store_all, presence) = (t.store_all_tokens, t.require_token_presence);
        // Unless configured, `iss` and `aud` name the user's own package
        // (`env!` expands in the user's crate), never a constant every
        // deployment shares.
        let issuer = t.issuer.as_ref().map_or_else(|| quote!(::core::env!("CARGO_PKG_NAME")), |l| quote!(#l));
        let audience = t.audience.as_ref().map_or_else(|| quote!(::core::env!("CARGO_PKG_NAME")), |l| quote!(#l));
        let extra_claims = match &t.extra_claims {
            None => quote!(::core::option::Option::None),
            Some(ExtraClaims::Fn(path)) => quote_spanned! {path.span()=>
                ::core::option::Option::Some(#path as __p::ExtraClaimsFn<Self>)
            },
            Some(ExtraClaims::Static(claims)) => {
                let inserts = claims.iter().map(|(name, value)| {
                    quote_spanned! {value.span()=>
                        __auth_claims.insert(::std::string::String::from(#name), __p::serde_json::Value::from(#value));
                    }
                });
                quote! {
                    ::core::option::Option::Some(|_: &Self, _: &__p::ClaimsContext| {
                        let mut __auth_claims = __p::ExtraClaims::new();
                        #(#inserts)*
                        __auth_claims
                    })
                }
            }
        };
        let session = match session_identifier {
            SessionIdentifier::Unset => quote!(__p::SessionIdentifier::Unset),
            SessionIdentifier::Jti => quote!(__p::SessionIdentifier::Jti),
            SessionIdentifier::Unsafe => quote!(__p::SessionIdentifier::Unsafe),
        };
        let password = match &password {
            None => quote!(::core::option::Option::None),
            Some(pw) => {
                let identity = pw.identity_field.0.to_string();
                let hashed = pw.hashed_password_field.0.to_string();
                let (sign_in, sign_in_tokens, confirm) =
                    (pw.sign_in_enabled, pw.sign_in_tokens_enabled, pw.confirmation_required);
                let secs = pw.sign_in_token_lifetime_secs;
                let reset = match pw.reset_token_lifetime_secs {
                    None => quote!(::core::option::Option::None),
                    Some(secs) => quote!(::core::option::Option::Some(__p::ResetConfig {
                        token_lifetime: __p::Lifetime::from_secs(#secs),
                    })),
                };
                quote!(::core::option::Option::Some(__p::PasswordConfig {
                    reset: #reset,
                    identity_field: #identity,
                    hashed_password_field: #hashed,
                    sign_in_enabled: #sign_in,
                    sign_in_tokens_enabled: #sign_in_tokens,
                    sign_in_token_lifetime: __p::Lifetime::from_secs(#secs),
                    confirmation_required: #confirm,
                }))
            }
        };
        let log_out = match &log_out_everywhere {
            None => quote!(::core::option::Option::None),
            Some(l) => {
                let apply = l.apply_on_password_change;
                let include = match &l.include_purposes {
                    None => quote!(::core::option::Option::None),
                    Some(list) => quote!(::core::option::Option::Some(__p::vec![#(__p::Purpose::new(#list)),*])),
                };
                let exclude = &l.exclude_purposes;
                quote!(::core::option::Option::Some(__p::LogOutEverywhereConfig {
                    apply_on_password_change: #apply,
                    purposes: __p::PurposeFilter {
                        include: #include,
                        exclude: __p::vec![#(__p::Purpose::new(#exclude)),*],
                    },
                }))
            }
        };
        quote! {
            #[automatically_derived]
            impl __p::Authenticated for #ident {
                fn settings() -> __p::Settings<Self> {
                    let mut tokens = __p::TokenConfig::new(#secret);
                    tokens.algorithm = __p::Algorithm::#alg;
                    tokens.token_lifetime = __p::Lifetime::from_secs(#lifetime);
                    tokens.leeway = __p::Lifetime::from_secs(#leeway);
                    tokens.store_all_tokens = #store_all;
                    tokens.require_token_presence_for_authentication = #presence;
                    tokens.issuer = ::std::string::String::from(#issuer);
                    tokens.audience = ::std::string::String::from(#audience);
                    let mut settings = __p::Settings::new(tokens, #token_config);
                    settings.session_identifier = #session;
                    settings.extra_claims = #extra_claims;
                    settings.password = #password;
                    settings.log_out_everywhere = #log_out;
                    settings.sessions = #sessions_config;
                    settings.refresh_tokens = #refresh_config;
                    settings.remember_me = #remember_me_config;
                    settings.magic_link = #magic_link_config;
                    settings.confirmation = #confirmation_config;
                    settings.api_key = #api_key_config;
                    settings.brute_force = #brute_force_config;
                    settings.audit_log = #audit_log_config;
                    settings.tenancy = #tenancy_config;
                    settings
                }
            }
        }
    });

    quote! {
        #registration_struct

        const _: () = {
            use #p as __p;
            use __p::JsonColumn as _;

            #[automatically_derived]
            impl __p::UserResource for #ident {
                type PrimaryKey = #pk_ty_spanned;
                const SUBJECT_NAME: &'static str = #subject_name;
                const PRIMARY_KEY_FIELD: &'static str = #pk_name;
                const FIELDS: &'static [(&'static str, __p::ColumnType)] = &[#(#field_consts),*];

                fn primary_key(&self) -> #pk_ty {
                    ::core::clone::Clone::clone(&self.#pk)
                }

                #identity

                #tenant_fn
            }

            #password_user

            #confirmed_at_check

            #authenticated

            #actions
        };
    }
}

/// `<User>Registration`: what a new user gives (every field but the
/// primary key, the hash and `confirmed_at`, plus the password), and how it
/// becomes the user.
pub struct Registration {
    /// The struct, outside the `const _` block so that callers can name it.
    pub item: TokenStream,
    ident: syn::Ident,
    /// `let UserRegistration { .. } = registration; let user = User { .. };`
    build: TokenStream,
    pk_ty: syn::Type,
}

pub fn registration(
    input: &syn::DeriveInput,
    p: &TokenStream,
    pw: &Password,
    (pk, pk_ty): (&syn::Ident, &syn::Type),
    confirmation: bool,
) -> Registration {
    let user = &input.ident;
    let ident = quote::format_ident!("{user}Registration");
    let vis = &input.vis;
    let (hashed, hashed_ty) = &pw.hashed_password_field;
    let named = match &input.data {
        syn::Data::Struct(s) => s.fields.iter().collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    let given: Vec<&syn::Field> = named
        .into_iter()
        .filter(|f| {
            f.ident
                .as_ref()
                .is_some_and(|i| i != pk && i != hashed && !(confirmation && i == "confirmed_at"))
        })
        .collect();
    let fields = given.iter().map(|f| {
        let attrs = f
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("serde") || a.path().is_ident("doc"));
        let (vis, name, ty) = (&f.vis, &f.ident, &f.ty);
        quote!(#(#attrs)* #vis #name: #ty)
    });
    let names: Vec<_> = given.iter().map(|f| &f.ident).collect();
    let serde_crate = format!("{}::serde", p.to_string().replace(' ', ""));
    // The user's container options that name or bound the fields carry
    // over, so the input reads the same JSON the user does.
    let container = container_serde(&input.attrs);
    let doc = format!(
        "What a new `{user}` gives to `{user}::{}`: every field of `{user}` but \
         the primary key (see `NewPrimaryKey`), the password hash{} and the \
         password itself. Deserializes from a form or a JSON body; its `Debug` \
         never prints the password.",
        pw.register_action,
        if confirmation { ", `confirmed_at`" } else { "" },
    );
    let confirmed_at =
        confirmation.then(|| quote!(confirmed_at: ::core::default::Default::default(),));
    let item = quote! {
        #[doc = #doc]
        #[derive(#p::serde::Deserialize)]
        #[serde(crate = #serde_crate)]
        #(#container)*
        #vis struct #ident {
            #(#fields,)*
            /// The password, hashed (argon2id) before it is stored.
            pub password: ::std::string::String,
            /// The password typed again, checked when given.
            #[serde(default)]
            pub password_confirmation: ::core::option::Option<::std::string::String>,
        }

        #[automatically_derived]
        impl ::core::fmt::Debug for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!(#ident))
                    #(.field(::core::stringify!(#names), &self.#names))*
                    .field("password", &"<redacted>")
                    .finish_non_exhaustive()
            }
        }
    };
    let build = quote! {
        let #ident { #(#names,)* password, password_confirmation } = registration;
        let user = Self {
            #pk: <#pk_ty as __p::NewPrimaryKey>::new_primary_key()?,
            #(#names,)*
            #hashed: <#hashed_ty as __p::StringField>::from_field_string(::std::string::String::new()),
            #confirmed_at
        };
    };
    Registration {
        item,
        ident,
        build,
        pk_ty: pk_ty.clone(),
    }
}

/// What the user actions are generated for.
pub struct ActionSet<'a> {
    pub registration: Option<&'a Registration>,
    pub password: Option<&'a Password>,
    pub log_out: Option<&'a LogOutEverywhere>,
    pub sessions: Option<&'a Sessions>,
    pub refresh: Option<&'a Refresh>,
    pub magic_link: bool,
    pub confirmation: bool,
    pub api_key: bool,
    pub audit_log: bool,
}

/// The user actions as associated functions: thin calls into `Auth`.
pub fn user_actions(ident: &syn::Ident, set: ActionSet<'_>) -> TokenStream {
    let ActionSet {
        registration,
        password,
        log_out,
        sessions,
        refresh,
        magic_link,
        confirmation,
        api_key,
        audit_log,
    } = set;
    let bound = quote!(S: __p::SingleUseStore + __p::PasswordStore<Self>);
    let queued = quote!(S: __p::SingleUseStore + __p::PasswordStore<Self> + 'static);
    let shared = quote!(&::std::sync::Arc<__p::Auth<Self, S>>);
    let result = |t: TokenStream| quote!(::core::result::Result<#t, __p::Error>);
    let signed_in = result(quote!(__p::SignedIn<Self>));
    let context = quote!(context: impl ::core::convert::Into<__p::SignInContext>);
    let result_sessions = result(quote!(__p::Vec<__p::Session>));
    let result_unit = result(quote!(()));
    let result_count = result(quote!(u64));
    let password_fns = password.map(|pw| {
        let (register, sign_in, with_token, change) = (
            &pw.register_action,
            &pw.sign_in_action,
            &pw.sign_in_with_token_action,
            &pw.change_password_action,
        );
        let register_fn = registration.map(|r| {
            let (input, build, pk_ty) = (&r.ident, &r.build, &r.pk_ty);
            quote! {
                /// Registers a new user with a password (argon2id) and signs
                /// them in: the primary key is made up (`NewPrimaryKey`),
                /// the password hashed; never a placeholder in your code.
                // A boxed future, not an `async fn`: a key type without
                // `NewPrimaryKey` is then one error, at the call.
                #[allow(clippy::type_complexity)]
                pub fn #register<'__a, S>(
                    auth: &'__a __p::Auth<Self, S>,
                    registration: #input,
                    #context,
                ) -> ::core::pin::Pin<::std::boxed::Box<
                    dyn ::core::future::Future<Output = #signed_in> + ::core::marker::Send + '__a,
                >>
                where
                    #bound,
                    // Higher-ranked, so a key type without the trait is an
                    // error only where this action is called.
                    for<'__k> #pk_ty: __p::NewPrimaryKey,
                {
                    let context: __p::SignInContext = context.into();
                    let built: ::core::result::Result<(Self, ::std::string::String, ::core::option::Option<::std::string::String>), __p::Error> =
                        (|| {
                            #build
                            ::core::result::Result::Ok((user, password, password_confirmation))
                        })();
                    ::std::boxed::Box::pin(async move {
                        let (user, password, password_confirmation) = built?;
                        auth.register_with_password(
                            user,
                            &password,
                            password_confirmation.as_deref(),
                            context,
                        )
                        .await
                    })
                }
            }
        });
        quote! {
            #register_fn

            /// Signs in with identity and password; returns a normal or a sign-in token.
            pub async fn #sign_in<S>(
                auth: &__p::Auth<Self, S>,
                identity: &str,
                password: &str,
                token_type: __p::TokenType,
                #context,
            ) -> #signed_in
            where #bound
            {
                auth.sign_in_with_password(identity, password, token_type, context).await
            }

            /// Exchanges a sign-in token, once, for a normal token.
            pub async fn #with_token<S>(
                auth: &__p::Auth<Self, S>,
                sign_in_token: &str,
                #context,
            ) -> #signed_in
            where #bound
            {
                auth.sign_in_with_token(sign_in_token, context).await
            }

            /// Changes the password (current one checked), ends every earlier
            /// sign-in, and signs the caller in again.
            pub async fn #change<S>(
                auth: &__p::Auth<Self, S>,
                user: &Self,
                current_password: &str,
                password: &str,
                password_confirmation: ::core::option::Option<&str>,
                #context,
            ) -> #signed_in
            where #bound
            {
                auth.change_password(user, current_password, password, password_confirmation, context).await
            }
        }
    });
    let log_out_fn = log_out.map(|l| {
        let name = &l.action;
        let ret = result(quote!(u64));
        quote! {
            /// Revokes every stored token of `user`; returns how many.
            pub async fn #name<S: __p::TokenStore>(auth: &__p::Auth<Self, S>, user: &Self) -> #ret {
                auth.log_out_everywhere(user).await
            }
        }
    });
    let session_fns = sessions.map(|s| {
        let (list, revoke, others) = (&s.list_action, &s.revoke_action, &s.revoke_others_action);
        let opt_str = quote!(::core::option::Option<&str>);
        quote! {
            /// The user's live sessions, newest first (the device list);
            /// `current` marks the session of the token that asks.
            pub async fn #list<S: __p::RefreshStore>(
                auth: &__p::Auth<Self, S>,
                user: &Self,
                current: #opt_str,
            ) -> #result_sessions {
                auth.list_sessions(user, current).await
            }

            /// Ends one of the user's sessions (`SessionNotFound` if it is not theirs).
            pub async fn #revoke<S: __p::TokenStore>(
                auth: &__p::Auth<Self, S>,
                user: &Self,
                session_id: &str,
            ) -> #result_unit {
                auth.revoke_session(user, session_id).await
            }

            /// Ends every session of the user but `current`; returns how many.
            pub async fn #others<S: __p::TokenStore>(
                auth: &__p::Auth<Self, S>,
                user: &Self,
                current: &str,
            ) -> #result_count {
                auth.revoke_other_sessions(user, current).await
            }
        }
    });
    let refresh_fn = refresh.map(|r| {
        let name = &r.action;
        let ret = result(quote!(__p::Refreshed));
        quote! {
            /// Exchanges a refresh token for a new pair in the same session
            /// (rotation, with reuse detection).
            pub async fn #name<S>(auth: &__p::Auth<Self, S>, refresh_token: &str) -> #ret
            where S: __p::RefreshStore + __p::UserStore<Self>
            {
                auth.refresh(refresh_token).await
            }
        }
    });
    let reset_fns = password
        .filter(|pw| pw.reset_token_lifetime_secs.is_some())
        .map(|_| {
            quote! {
                /// Requests a password reset: the same answer whoever asks; the
                /// token goes to the sender in the background.
                pub fn request_password_reset<S>(auth: #shared, identity: &str) -> #result_unit
                where #queued
                {
                    auth.request_password_reset(identity)
                }

                /// Requests a password reset from `client`: as
                /// `request_password_reset`, each request counted against
                /// the client's address (the brute-force add-on).
                pub async fn request_password_reset_from<S>(
                    auth: #shared,
                    identity: &str,
                    client: &__p::ClientInfo,
                ) -> #result_unit
                where #queued
                {
                    auth.request_password_reset_from(identity, client).await
                }

                /// Resets the password with a reset token, once: every earlier
                /// session ends and a new one opens.
                pub async fn reset_password<S>(
                    auth: &__p::Auth<Self, S>,
                    reset_token: &str,
                    password: &str,
                    password_confirmation: ::core::option::Option<&str>,
                    #context,
                ) -> #signed_in
                where #queued
                {
                    auth.reset_password(reset_token, password, password_confirmation, context).await
                }
            }
        });
    let magic_link_fns = magic_link.then(|| {
        quote! {
            /// Requests a magic link: the same answer whoever asks.
            pub fn request_magic_link<S>(auth: #shared, identity: &str) -> #result_unit
            where #queued
            {
                auth.request_magic_link(identity)
            }

            /// Requests a magic link from `client`: each request counted
            /// against the client's address (the brute-force add-on).
            pub async fn request_magic_link_from<S>(
                auth: #shared,
                identity: &str,
                client: &__p::ClientInfo,
            ) -> #result_unit
            where #queued
            {
                auth.request_magic_link_from(identity, client).await
            }

            /// Signs in with a magic link, once (redeem it from a POST).
            pub async fn sign_in_with_magic_link<S>(
                auth: &__p::Auth<Self, S>,
                token: &str,
                #context,
            ) -> #signed_in
            where #queued
            {
                auth.sign_in_with_magic_link(token, context).await
            }
        }
    });
    let confirmation_fns = confirmation.then(|| {
        let result_self = result(quote!(Self));
        quote! {
            /// Holds the changes of monitored fields from `user` to
            /// `updated` until the confirmation sent for them comes back;
            /// `proof`: the current password, or a fresh sign-in.
            pub async fn change_with_confirmation<S>(
                auth: &__p::Auth<Self, S>,
                user: &Self,
                updated: &Self,
                proof: __p::Reauthentication<'_>,
            ) -> #result_unit
            where S: __p::SingleUseStore + __p::UserStore<Self>
            {
                auth.change_with_confirmation(user, updated, proof).await
            }

            /// Applies a confirmation, once: its changes and `confirmed_at`.
            pub async fn confirm<S>(auth: &__p::Auth<Self, S>, confirm_token: &str) -> #result_self
            where S: __p::SingleUseStore + __p::UserStore<Self>
            {
                auth.confirm(confirm_token).await
            }

            /// Applies a confirmation, once, proving the password too: a new
            /// account confirmed so keeps its password.
            pub async fn confirm_with_password<S>(
                auth: &__p::Auth<Self, S>,
                confirm_token: &str,
                password: &str,
            ) -> #result_self
            where S: __p::SingleUseStore + __p::UserStore<Self>
            {
                auth.confirm_with_password(confirm_token, password).await
            }
        }
    });
    let api_key_fns = api_key.then(|| {
        let keys = quote!(S: __p::ApiKeyStore + __p::UserStore<Self> + ::core::clone::Clone + 'static);
        let created = result(quote!(__p::CreatedApiKey));
        let listed = result(quote!(__p::Vec<__p::ApiKeyInfo>));
        let found = result(quote!(__p::AuthenticatedKey<Self>));
        quote! {
            /// Creates an API key for `user`: the whole key is in the
            /// answer and nowhere else (show it once).
            pub async fn create_api_key<S>(
                auth: &__p::Auth<Self, S>,
                user: &Self,
                name: &str,
                scopes: &[&str],
                lifetime: ::core::option::Option<__p::Lifetime>,
            ) -> #created
            where #keys
            {
                auth.create_api_key(user, name, scopes, lifetime).await
            }

            /// The user's live API keys, oldest first (never a secret).
            pub async fn list_api_keys<S>(auth: &__p::Auth<Self, S>, user: &Self) -> #listed
            where #keys
            {
                auth.list_api_keys(user).await
            }

            /// Revokes one of the user's API keys by its id.
            pub async fn revoke_api_key<S>(auth: &__p::Auth<Self, S>, user: &Self, id: &str) -> #result_unit
            where #keys
            {
                auth.revoke_api_key(user, id).await
            }

            /// Revokes every API key of the user; how many.
            pub async fn revoke_all_api_keys<S>(auth: &__p::Auth<Self, S>, user: &Self) -> #result_count
            where #keys
            {
                auth.revoke_all_api_keys(user).await
            }

            /// Authenticates a presented API key.
            pub async fn authenticate_api_key<S>(auth: &__p::Auth<Self, S>, key: &str) -> #found
            where #keys
            {
                auth.authenticate_api_key(key).await
            }
        }
    });
    let audit_fns = audit_log.then(|| {
        let listed = result(quote!(__p::Vec<__p::AuditEvent>));
        quote! {
            /// The user's newest `limit` security events, newest first
            /// (needs `Auth::store_audit_events`).
            pub async fn list_events<S>(auth: &__p::Auth<Self, S>, user: &Self, limit: usize) -> #listed
            where S: __p::AuditStore + ::core::clone::Clone + 'static
            {
                auth.list_events(user, limit).await
            }
        }
    });
    if password_fns.is_none()
        && api_key_fns.is_none()
        && audit_fns.is_none()
        && log_out_fn.is_none()
        && session_fns.is_none()
        && refresh_fn.is_none()
        && reset_fns.is_none()
        && magic_link_fns.is_none()
        && confirmation_fns.is_none()
    {
        return TokenStream::new();
    }
    quote! {
        impl #ident {
            #password_fns
            #log_out_fn
            #session_fns
            #refresh_fn
            #reset_fns
            #magic_link_fns
            #confirmation_fns
            #api_key_fns
            #audit_fns
        }
    }
}

/// `T` of a type written `Option<T>` (any path ending in `Option`).
fn option_inner(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    match &last.arguments {
        syn::PathArguments::AngleBracketed(args) if args.args.len() == 1 => match &args.args[0] {
            syn::GenericArgument::Type(inner) => Some(inner),
            _ => None,
        },
        _ => None,
    }
}

/// `#[serde(rename_all = ..)]` and `#[serde(deny_unknown_fields)]` of the
/// user's struct, for its registration input (other container options,
/// like `default` or `from`, concern the user type itself).
fn container_serde(attrs: &[syn::Attribute]) -> Vec<TokenStream> {
    let mut kept = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                let value: syn::LitStr = meta.value()?.parse()?;
                kept.push(quote!(#[serde(rename_all = #value)]));
            } else if meta.path.is_ident("deny_unknown_fields") {
                kept.push(quote!(#[serde(deny_unknown_fields)]));
            } else if meta.input.peek(syn::Token![=]) {
                // Another option's value: read past it.
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _group;
                syn::parenthesized!(_group in meta.input);
            }
            Ok(())
        });
    }
    kept
}
