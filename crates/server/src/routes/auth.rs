//! Accounts: register, login (with an optional TOTP second step), refresh, logout, me, email
//! verification, password reset, two-factor setup, API keys, sign-in with Google and Twitch and
//! linked identities, signing in with Telegram, and the nginx `auth_request` probe.
//! Shapes follow the Neustream API ("Authentication Endpoints"), extended with
//! rotating refresh tokens.

mod email;
mod keys;
mod oauth;
mod probe;
mod session;
mod shapes;
mod stream_key;
mod telegram;
mod two_factor;

pub use email::*;
pub use keys::*;
pub use oauth::*;
pub use probe::*;
pub use session::*;
pub use shapes::*;
pub use stream_key::*;
pub use telegram::*;
pub use two_factor::*;
