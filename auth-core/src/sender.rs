//! How tokens sent out of band reach the user: the application's
//! [`Sender`], the [`Message`] it is handed, and the start-up check that
//! every strategy that sends has one. Depends on nothing but the errors
//! and the settings.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::config::Purpose;
use crate::error::{Error, Result};

/// A message to deliver: a single-use token for a user.
#[derive(Clone, Copy)]
pub struct Message<'a, U> {
    /// The user it is for.
    pub user: &'a U,
    /// What the token does (`password_reset`).
    pub purpose: &'a Purpose,
    /// The token.
    pub token: &'a str,
}

impl<U> fmt::Debug for Message<'_, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("purpose", self.purpose)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The future a [`Sender`] returns.
pub type SendFuture<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<(), String>> + Send + 'a>>;

/// Delivers single-use tokens (by email, a queue, ...): the application's.
///
/// ```
/// use auth_core::{Message, SendFuture, Sender};
///
/// #[derive(Debug)]
/// struct Outbox;
///
/// impl<U: Sync> Sender<U> for Outbox {
///     fn send<'a>(&'a self, message: Message<'a, U>) -> SendFuture<'a> {
///         Box::pin(async move {
///             // Render a link with `message.token` and mail it.
///             let _link = format!("https://example.com/reset?token={}", message.token);
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait Sender<U>: fmt::Debug + Send + Sync + 'static {
    /// Sends `message`; an error is logged (the request already answered).
    fn send<'a>(&'a self, message: Message<'a, U>) -> SendFuture<'a>;
}

/// A shared [`Sender`], as [`Settings::sender`](crate::Settings::sender) holds it.
pub struct SenderHandle<U>(pub Arc<dyn Sender<U>>);

impl<U> Clone for SenderHandle<U> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<U> fmt::Debug for SenderHandle<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<U> crate::Settings<U> {
    /// These settings with `sender` delivering single-use tokens.
    pub fn with_sender(mut self, sender: impl Sender<U>) -> Self {
        self.sender = Some(SenderHandle(Arc::new(sender)));
        self
    }
}

/// A waiting request: the normalised identity, and the purpose and
/// lifetime of the token to send.
pub(crate) type Request = (String, Purpose, crate::Lifetime);

/// The sending end of the request queue.
pub(crate) type Queue = tokio::sync::mpsc::Sender<Request>;

/// The start-up check: every strategy that sends has a sender.
pub(crate) fn check_sender<U>(settings: &crate::Settings<U>) -> Result<()> {
    let resettable = settings
        .password
        .as_ref()
        .is_some_and(|p| p.reset.is_some());
    let sends = [
        (resettable, "`resettable` sends reset tokens"),
        (
            settings.magic_link.is_some(),
            "`magic_link` sends sign-in links",
        ),
        (
            settings.confirmation.is_some(),
            "`confirmation` sends confirmations",
        ),
    ];
    match sends.iter().find(|(on, _)| *on) {
        Some((_, what)) if settings.sender.is_none() => Err(Error::Config(format!(
            "{what}: give the settings a sender (`Settings::with_sender`) before building `Auth`"
        ))),
        _ => Ok(()),
    }
}
