//! Mail adapters for the domain's [`Mailer`] port: the log mailer (default) and SMTP.

use ferrocast_domain::mail::{Mail, MailError, Mailer};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Writes mail to the log, so a node without a mail server still shows codes to its operator.
pub struct LogMailer;

impl Mailer for LogMailer {
    fn send<'a>(
        &'a self,
        mail: Mail,
    ) -> Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>> {
        Box::pin(async move {
            tracing::info!(to = %mail.to, subject = %mail.subject, body = %mail.body, "mail not sent: FERROCAST_SMTP_URL is unset, so it is logged here");
            Ok(())
        })
    }
    fn describe(&self) -> String {
        "log (set FERROCAST_SMTP_URL to send mail)".into()
    }
}

/// Sends mail over SMTP: `smtp://` with STARTTLS required, `smtps://` with implicit TLS, or
/// `smtp+plain://` without TLS (for local test servers only).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    describe: String,
}

impl SmtpMailer {
    /// Builds the transport from a URL such as `smtp://user:pass@mail.example.com:587`.
    pub fn new(url: &str, from: &str) -> Result<Self, String> {
        let (lettre_url, describe) = if let Some(rest) = url.strip_prefix("smtp+plain://") {
            (
                format!("smtp://{rest}"),
                format!("smtp+plain://{}", host_part(rest)),
            )
        } else if let Some(rest) = url.strip_prefix("smtps://") {
            (url.to_string(), format!("smtps://{}", host_part(rest)))
        } else if let Some(rest) = url.strip_prefix("smtp://") {
            let sep = if rest.contains('?') { '&' } else { '?' };
            (
                format!("{url}{sep}tls=required"),
                format!("smtp://{} (STARTTLS)", host_part(rest)),
            )
        } else {
            return Err(
                "FERROCAST_SMTP_URL must start with smtp://, smtps:// or smtp+plain://".into(),
            );
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&lettre_url)
            .map_err(|e| format!("FERROCAST_SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("FERROCAST_MAIL_FROM: {e}"))?;
        Ok(Self {
            transport,
            from,
            describe,
        })
    }
}

/// `host:port` of a URL remainder, without credentials or query.
fn host_part(rest: &str) -> String {
    let after_at = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    after_at.split(['?', '/']).next().unwrap_or("").to_string()
}

impl Mailer for SmtpMailer {
    fn send<'a>(
        &'a self,
        mail: Mail,
    ) -> Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>> {
        Box::pin(async move {
            // RFC 2606 reserves `.invalid`: an account signed up with Telegram has such a
            // placeholder address until its owner sets a real one.
            if mail.to.to_ascii_lowercase().ends_with(".invalid") {
                tracing::debug!(to = %mail.to, "mail not sent: the address is a placeholder");
                return Ok(());
            }
            let to: Mailbox = mail
                .to
                .parse()
                .map_err(|e| MailError(format!("recipient: {e}")))?;
            let mut builder = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject);
            for (name, value) in mail.headers {
                let name = HeaderName::new_from_ascii(name)
                    .map_err(|e| MailError(format!("header name: {e}")))?;
                builder = builder.raw_header(HeaderValue::new(name, value));
            }
            let msg = builder
                .body(mail.body)
                .map_err(|e| MailError(e.to_string()))?;
            self.transport
                .send(msg)
                .await
                .map_err(|e| MailError(e.to_string()))?;
            Ok(())
        })
    }
    fn describe(&self) -> String {
        self.describe.clone()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn describe_hides_credentials() {
        assert_eq!(
            super::host_part("user:secret@mail.example.com:587?x=1"),
            "mail.example.com:587"
        );
    }
}
