//! The mail port: how the domain asks for an email to be sent. The server provides a log mailer
//! (the default, so a fresh node works with no mail server) and an SMTP mailer.

use std::future::Future;
use std::pin::Pin;

/// One plain-text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// Extra header fields, name and value (`List-Unsubscribe`, RFC 2369 and RFC 8058); the
    /// mailer writes them as they are, so they must be plain ASCII.
    pub headers: Vec<(String, String)>,
}

/// Sending failed; the message says why, for the operator's log.
#[derive(Debug, Clone, thiserror::Error)]
#[error("mail not sent: {0}")]
pub struct MailError(pub String);

/// Sends mail. Object-safe so the composition root can choose the adapter at run time.
pub trait Mailer: Send + Sync + 'static {
    /// Sends one message.
    fn send<'a>(
        &'a self,
        mail: Mail,
    ) -> Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;
    /// A short description for logs and `doctor` (`log`, `smtp://host:587`), without secrets.
    fn describe(&self) -> String;
}
