//! Stripe Connect, for paying creators: Express connected accounts, their onboarding links,
//! their state, transfers from the platform's balance to them, and the `account.updated` event.
//!
//! - `POST /v1/accounts` with `type=express` (and the `transfers` capability requested) creates
//!   the creator's connected account (`acct_…`).
//! - `POST /v1/account_links` with `account`, `type=account_onboarding`, `refresh_url` and
//!   `return_url` answers a single-use `url` (Stripe-hosted onboarding) that expires in minutes.
//! - `GET /v1/accounts/{id}` (and the `account.updated` event's object) say whether onboarding
//!   is done: `details_submitted`, `charges_enabled`, `payouts_enabled`.
//! - `POST /v1/transfers` with `amount` (minor units), `currency` (lower case), `destination`
//!   (the connected account) and `transfer_group` moves money; the request carries an
//!   `Idempotency-Key` header, so a retried approval never transfers twice.
//!
//! Like [`crate::stripe`], nothing here opens a socket: these are bodies and parsers.

use crate::{parse_json, ParseError};
use serde_json::Value;

/// Longest id or text taken from a reply.
const MAX_TEXT: usize = 255;

fn text(v: &Value, key: &str) -> Option<String> {
    v[key]
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= MAX_TEXT)
        .map(str::to_owned)
}

/// Whether `id` looks like a Stripe connected account id (`acct_` and letters and digits);
/// anything else is refused before it reaches a URL path.
pub fn is_account_id(id: &str) -> bool {
    id.len() > 5
        && id.len() <= 64
        && id.starts_with("acct_")
        && id[5..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The form body of `POST /v1/accounts`: an Express account for a creator, asking for the
/// `transfers` capability (what receiving transfers needs), tagged with ferrocast's user id.
pub fn account_form(
    email: Option<&str>,
    country: Option<&str>,
    user: &str,
) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = vec![
        ("type".into(), "express".into()),
        ("capabilities[transfers][requested]".into(), "true".into()),
        ("metadata[ferrocast_user]".into(), user.to_owned()),
    ];
    if let Some(e) = email {
        f.push(("email".into(), e.to_owned()));
    }
    if let Some(c) = country {
        f.push(("country".into(), c.to_ascii_uppercase()));
    }
    f
}

/// The form body of `POST /v1/account_links` for onboarding `account`.
pub fn account_link_form(
    account: &str,
    refresh_url: &str,
    return_url: &str,
) -> Vec<(String, String)> {
    vec![
        ("account".into(), account.to_owned()),
        ("type".into(), "account_onboarding".into()),
        ("refresh_url".into(), refresh_url.to_owned()),
        ("return_url".into(), return_url.to_owned()),
    ]
}

/// A connected account's state, from `GET /v1/accounts/{id}`, `POST /v1/accounts` or an
/// `account.updated` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `acct_…`.
    pub id: String,
    /// Whether the creator finished Stripe's onboarding form.
    pub details_submitted: bool,
    /// Whether the account can take charges.
    pub charges_enabled: bool,
    /// Whether Stripe can pay out from it to the creator's bank.
    pub payouts_enabled: bool,
}

impl Account {
    /// Whether transfers to it may be made: onboarding submitted and payouts enabled.
    pub fn ready(&self) -> bool {
        self.details_submitted && self.payouts_enabled
    }
}

/// Reads an account object.
pub fn account(o: &Value) -> Result<Account, ParseError> {
    let id = text(o, "id")
        .filter(|id| is_account_id(id))
        .ok_or_else(|| ParseError::Malformed("account without an acct_ id".into()))?;
    if o["object"].as_str().is_some_and(|k| k != "account") {
        return Err(ParseError::Malformed("not an account object".into()));
    }
    let flag = |k: &str| o[k].as_bool().unwrap_or(false);
    Ok(Account {
        id,
        details_submitted: flag("details_submitted"),
        charges_enabled: flag("charges_enabled"),
        payouts_enabled: flag("payouts_enabled"),
    })
}

/// Reads the reply of `POST /v1/accounts` or `GET /v1/accounts/{id}`.
pub fn account_reply(payload: &[u8]) -> Result<Account, ParseError> {
    account(&parse_json(payload)?)
}

/// Reads the reply of `POST /v1/account_links`: the onboarding URL and when it expires (Unix
/// seconds).
pub fn account_link_reply(payload: &[u8]) -> Result<(String, i64), ParseError> {
    let v = parse_json(payload)?;
    let url = v["url"]
        .as_str()
        .filter(|u| (u.starts_with("https://") || u.starts_with("http://")) && u.len() <= 2048)
        .ok_or_else(|| ParseError::Malformed("account link without a url".into()))?;
    Ok((url.to_owned(), v["expires_at"].as_i64().unwrap_or(0)))
}

/// A transfer to make.
#[derive(Debug, Clone)]
pub struct TransferRequest<'a> {
    /// Minor units, above zero.
    pub amount: i64,
    /// ISO code (sent in lower case, as Stripe documents).
    pub currency: &'a str,
    /// The connected account (`acct_…`).
    pub destination: &'a str,
    /// Groups the transfer with ferrocast's payout (`payout_<uuid>`).
    pub transfer_group: &'a str,
    /// What the creator sees.
    pub description: &'a str,
    /// ferrocast's payout UUID (in metadata).
    pub payout: &'a str,
}

/// The form body of `POST /v1/transfers`.
pub fn transfer_form(r: &TransferRequest<'_>) -> Vec<(String, String)> {
    vec![
        ("amount".into(), r.amount.to_string()),
        ("currency".into(), r.currency.to_ascii_lowercase()),
        ("destination".into(), r.destination.to_owned()),
        ("transfer_group".into(), r.transfer_group.to_owned()),
        ("description".into(), r.description.to_owned()),
        ("metadata[payout]".into(), r.payout.to_owned()),
    ]
}

/// The `Idempotency-Key` of a payout's transfer: the same for every attempt at one payout, so
/// Stripe makes it once however often the approval is retried.
pub fn transfer_idempotency_key(payout: &str) -> String {
    format!("ferrocast-payout-{payout}")
}

/// A transfer Stripe made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// `tr_…`.
    pub id: String,
    /// Minor units.
    pub amount: i64,
    /// ISO code, upper case.
    pub currency: String,
    /// The connected account.
    pub destination: String,
}

/// Reads the reply of `POST /v1/transfers`.
pub fn transfer_reply(payload: &[u8]) -> Result<Transfer, ParseError> {
    let v = parse_json(payload)?;
    if v["object"] != "transfer" {
        return Err(ParseError::Malformed("not a transfer object".into()));
    }
    Ok(Transfer {
        id: text(&v, "id").ok_or_else(|| ParseError::Malformed("transfer without id".into()))?,
        amount: v["amount"]
            .as_i64()
            .ok_or_else(|| ParseError::Malformed("transfer without amount".into()))?,
        currency: text(&v, "currency")
            .unwrap_or_default()
            .to_ascii_uppercase(),
        destination: text(&v, "destination").unwrap_or_default(),
    })
}

/// The connected account an `account.updated` event is about (the event's object; Connect
/// events also carry it as the event's `account`).
pub fn account_updated(event: &crate::stripe::Event) -> Result<Account, ParseError> {
    if event.kind != "account.updated" {
        return Err(ParseError::Malformed(format!(
            "{} is not account.updated",
            event.kind
        )));
    }
    account(&event.object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::parse_event;
    use proptest::prelude::*;

    #[test]
    fn forms_carry_what_stripe_documents() {
        let f = account_form(Some("a@example.com"), Some("us"), "u-1");
        let get = |f: &[(String, String)], k: &str| {
            f.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
        };
        assert_eq!(get(&f, "type").as_deref(), Some("express"));
        assert_eq!(
            get(&f, "capabilities[transfers][requested]").as_deref(),
            Some("true")
        );
        assert_eq!(get(&f, "country").as_deref(), Some("US"));
        let l = account_link_form("acct_1", "https://x/refresh", "https://x/back");
        assert_eq!(get(&l, "type").as_deref(), Some("account_onboarding"));
        assert_eq!(get(&l, "account").as_deref(), Some("acct_1"));
        let t = transfer_form(&TransferRequest {
            amount: 4_250,
            currency: "USD",
            destination: "acct_1",
            transfer_group: "payout_p1",
            description: "ferrocast payout",
            payout: "p1",
        });
        assert_eq!(get(&t, "amount").as_deref(), Some("4250"));
        assert_eq!(get(&t, "currency").as_deref(), Some("usd"));
        assert_eq!(get(&t, "destination").as_deref(), Some("acct_1"));
        assert_eq!(get(&t, "transfer_group").as_deref(), Some("payout_p1"));
        assert_eq!(transfer_idempotency_key("p1"), "ferrocast-payout-p1");
    }

    #[test]
    fn replies_and_events_are_read() {
        // Shapes from Stripe's API reference (trimmed).
        let a = account_reply(br#"{"id":"acct_1Nv0FGQ9RKHgCVdK","object":"account","type":"express","charges_enabled":false,"payouts_enabled":false,"details_submitted":false}"#).expect("account");
        assert!(!a.ready());
        let (url, exp) = account_link_reply(br#"{"object":"account_link","created":1680577733,"expires_at":1680578033,"url":"https://connect.stripe.com/setup/e/acct_1/abc"}"#).expect("link");
        assert_eq!(
            (url.as_str(), exp),
            (
                "https://connect.stripe.com/setup/e/acct_1/abc",
                1_680_578_033
            )
        );
        let t = transfer_reply(br#"{"id":"tr_1MiN3gLkdIwHu7ix","object":"transfer","amount":400,"amount_reversed":0,"currency":"usd","destination":"acct_1MTfjCQ9PRzxEwkZ","transfer_group":"ORDER_95"}"#).expect("transfer");
        assert_eq!(
            t,
            Transfer {
                id: "tr_1MiN3gLkdIwHu7ix".into(),
                amount: 400,
                currency: "USD".into(),
                destination: "acct_1MTfjCQ9PRzxEwkZ".into()
            }
        );
        let e = parse_event(br#"{"id":"evt_1","object":"event","type":"account.updated","account":"acct_1ABC","created":1,"data":{"object":{"id":"acct_1ABC","object":"account","details_submitted":true,"charges_enabled":true,"payouts_enabled":true}}}"#).expect("event");
        assert!(account_updated(&e).expect("account").ready());
        let other = parse_event(br#"{"id":"evt_2","object":"event","type":"invoice.paid","created":1,"data":{"object":{}}}"#).expect("event");
        assert!(account_updated(&other).is_err());
    }

    #[test]
    fn hostile_ids_and_replies_are_refused() {
        for bad in [
            "",
            "acct_",
            "acct_../x",
            "cus_123",
            "acct_a/b",
            &format!("acct_{}", "a".repeat(80)),
        ] {
            assert!(!is_account_id(bad), "{bad}");
        }
        assert!(is_account_id("acct_1Nv0FGQ9RKHgCVdK"));
        assert!(account_reply(br#"{"id":"acct_../../v1/transfers","object":"account"}"#).is_err());
        assert!(account_reply(br#"{"id":"cus_1","object":"customer"}"#).is_err());
        assert!(account_link_reply(br#"{"url":"javascript:alert(1)"}"#).is_err());
        assert!(transfer_reply(br#"{"id":"tr_1","object":"transfer"}"#).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_replies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = account_reply(&body);
            let _ = account_link_reply(&body);
            let _ = transfer_reply(&body);
        }
    }
}
