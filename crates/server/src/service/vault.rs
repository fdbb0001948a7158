//! Secrets at rest: every sealed value is bound to what it belongs to by a typed
//! [`Sealed`] context, so a sealed value copied to another row or column does not open.

use ferrocast_auth::secretbox::SecretBox;

/// What a sealed value belongs to. The context strings are stored implicitly in every sealed
/// value: they never change.
#[derive(Debug, Clone, Copy)]
pub enum Sealed<'a> {
    /// A source's stream key, by the source's UUID.
    StreamKey(&'a str),
    /// A restream destination's platform key, by the destination's UUID.
    DestinationKey(&'a str),
    /// A user's TOTP secret, by user id.
    Totp(i64),
    /// A chat connector's platform tokens, by source id and platform.
    ConnectorTokens(i64, &'a str),
    /// A pending provider login's PKCE verifier, by the hash of its state.
    PkceVerifier(&'a str),
    /// The deployment's VAPID private key (Web Push), PKCS#8.
    VapidKey,
    /// A creator's overlay token (OBS browser sources), by user id.
    OverlayToken(i64),
    /// A creator's bank details for payouts, by user id.
    PayoutBank(i64),
}

impl Sealed<'_> {
    /// The authenticated-data label.
    pub fn label(&self) -> String {
        match self {
            Sealed::StreamKey(uuid) => format!("stream_sources.key:{uuid}"),
            Sealed::DestinationKey(uuid) => format!("source_destinations.key:{uuid}"),
            Sealed::Totp(user_id) => format!("users.totp:{user_id}"),
            Sealed::ConnectorTokens(source_id, platform) => {
                format!("chat_connectors.secrets:{source_id}:{platform}")
            }
            Sealed::PkceVerifier(state_hash) => format!("oauth_logins.verifier:{state_hash}"),
            Sealed::VapidKey => "vapid_keys.private:1".to_string(),
            Sealed::OverlayToken(user_id) => format!("overlay_tokens.token:{user_id}"),
            Sealed::PayoutBank(user_id) => format!("payout_accounts.bank:{user_id}"),
        }
    }
}

/// A sealed value that does not open: the master key changed, or the value was tampered with.
#[derive(Debug, thiserror::Error)]
#[error("a sealed secret cannot be opened ({0})")]
pub struct OpenError(String);

/// Seals and opens secrets with the key derived for them.
pub struct Vault(SecretBox);

impl Vault {
    /// A vault over `secrets`.
    pub fn new(secrets: SecretBox) -> Self {
        Self(secrets)
    }

    /// Seals `plaintext` for `what`.
    pub fn seal(&self, what: Sealed<'_>, plaintext: &[u8]) -> String {
        self.0.seal(&what.label(), plaintext)
    }

    /// Opens a value sealed for `what`.
    pub fn open(&self, what: Sealed<'_>, sealed: &str) -> Result<Vec<u8>, OpenError> {
        self.0
            .open(&what.label(), sealed)
            .map_err(|e| OpenError(e.to_string()))
    }

    /// Opens a value sealed for `what` as text.
    pub fn open_text(&self, what: Sealed<'_>, sealed: &str) -> Result<String, OpenError> {
        String::from_utf8(self.open(what, sealed)?).map_err(|e| OpenError(e.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_in_its_own_context() {
        let v = Vault::new(SecretBox::new(&[7; 32]));
        let sealed = v.seal(Sealed::StreamKey("a"), b"sk_1");
        assert_eq!(
            v.open_text(Sealed::StreamKey("a"), &sealed).expect("opens"),
            "sk_1"
        );
        assert!(v.open(Sealed::StreamKey("b"), &sealed).is_err());
        assert!(v.open(Sealed::DestinationKey("a"), &sealed).is_err());
        assert_eq!(
            Sealed::ConnectorTokens(3, "twitch").label(),
            "chat_connectors.secrets:3:twitch"
        );
        assert_eq!(Sealed::Totp(9).label(), "users.totp:9");
    }
}
