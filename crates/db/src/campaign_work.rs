//! The work of a campaign (migration 0037): the brand's payments into escrow and what leaves
//! it (released to creators, refunded), creators' deliverables with their versions, reviews and
//! usage rights, product hotspots, and the touchpoints and conversions that attribution reads.
//!
//! Money moves only through the ledger, each movement in the same database transaction as the
//! change that causes it, under a reference that makes it happen once:
//! - `escrow:<funding>`: the gateway's payment into `escrow:campaign:<id>`;
//! - `campaign-release:<application>`: on the first approval of a creator's deliverable, their
//!   rate out of escrow, less the platform's fee, to their balance (held like other income);
//! - `escrow-refund:<refund>`: what is left in escrow back through the gateway.

use crate::billing::GatewayEvent;
use crate::ledger::{NewTransaction, Posting};
use crate::{on_pool, Db, DbError};
use ferrocast_domain::billing::NotApplied;
use ferrocast_domain::ledger::{account, share};
use sqlx::Row;

/// A payment of the brand into a campaign's escrow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingRecord {
    /// Integer id.
    pub id: i64,
    /// Public id (sent to the gateway).
    pub uuid: String,
    /// The campaign.
    pub campaign_id: i64,
    /// Minor units.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// The gateway.
    pub provider: String,
    /// The gateway's checkout session.
    pub provider_ref: Option<String>,
    /// The gateway's payment (refunds name it).
    pub provider_payment_id: Option<String>,
    /// `created` or `paid`.
    pub status: String,
    /// Refunded so far.
    pub refunded_minor: i64,
    /// Who paid.
    pub created_by: Option<i64>,
    /// Started (ms).
    pub created_at: i64,
    /// Paid (ms).
    pub paid_at: Option<i64>,
}

/// A campaign's escrow: what was paid in, released to creators, refunded, and what it holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EscrowState {
    /// Paid in.
    pub funded: i64,
    /// Released to creators (their fee included).
    pub released: i64,
    /// Refunded to the brand.
    pub refunded: i64,
    /// Held now.
    pub held: i64,
}

/// What a gateway's confirmation of a funding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FundingApplied {
    /// Paid into escrow now (the ledger transaction).
    Done(i64),
    /// Seen before.
    Duplicate,
    /// Not applied, for this reason.
    Ignored(NotApplied),
}

/// A deliverable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverableRecord {
    /// Integer id.
    pub id: i64,
    /// Public id.
    pub uuid: String,
    /// The application it is for.
    pub application_id: i64,
    /// The campaign.
    pub campaign_id: i64,
    /// The creator.
    pub creator_id: i64,
    /// Its type (`VIDEO` …).
    pub kind: String,
    /// Title.
    pub title: String,
    /// `submitted`, `revision_requested`, `approved` or `rejected`.
    pub status: String,
    /// The version under review (or approved).
    pub current_version: i64,
    /// The FTC disclosure shown with it.
    pub disclosure: Option<String>,
    /// Usage rights proposed: `exclusive`, `non_exclusive`, `limited`, `perpetual`.
    pub rights_kind: Option<String>,
    /// Their end (ms).
    pub rights_until: Option<i64>,
    /// Their territories, comma-separated.
    pub rights_territories: Option<String>,
    /// Proposed (ms).
    pub rights_proposed_at: Option<i64>,
    /// The creator consented (ms).
    pub rights_consented_at: Option<i64>,
    /// Approved (ms).
    pub approved_at: Option<i64>,
    /// Created (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// The creator's handle.
    pub creator_handle: String,
    /// The creator's name.
    pub creator_name: String,
}

/// A version of a deliverable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    /// 1, 2, …
    pub version: i64,
    /// The video's integer id (if it still exists).
    pub video_id: Option<i64>,
    /// Text (a post, an article, a caption).
    pub body: String,
    /// A link (where it is published).
    pub link: Option<String>,
    /// The creator's note to the brand.
    pub note: String,
    /// Handed in (ms).
    pub created_at: i64,
}

/// What is handed in with a version.
#[derive(Debug, Clone, Copy)]
pub struct VersionFields<'a> {
    /// The video's integer id.
    pub video_id: Option<i64>,
    /// Text.
    pub body: &'a str,
    /// A link.
    pub link: Option<&'a str>,
    /// The note.
    pub note: &'a str,
}

/// Something that happened to a deliverable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverableEvent {
    /// The version it concerned.
    pub version: i64,
    /// Who (`None`: gone).
    pub actor_id: Option<i64>,
    /// Their name.
    pub actor_name: Option<String>,
    /// `submitted`, `resubmitted`, `rolled_back`, `approved`, `revision_requested`,
    /// `rejected`, `rights_proposed`, `rights_consented`.
    pub action: String,
    /// The comment.
    pub comment: String,
    /// When (ms).
    pub created_at: i64,
}

/// A brand's decision on a deliverable's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approved: the creator's rate leaves escrow (once per application).
    Approve,
    /// A revision is asked for.
    Revise,
    /// Rejected; final.
    Reject,
}

impl Decision {
    /// The status it leaves the deliverable in.
    pub fn status(self) -> &'static str {
        match self {
            Self::Approve => "approved",
            Self::Revise => "revision_requested",
            Self::Reject => "rejected",
        }
    }
}

/// How an approval pays the creator.
#[derive(Debug, Clone, Copy)]
pub struct Release {
    /// The platform's fee (basis points).
    pub fee_bps: i64,
    /// How long income is held before it can be paid out (ms).
    pub hold_ms: i64,
}

/// Why a deliverable did not change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliverableRefusal {
    /// Its status or version is no longer the one the change was checked against: the status
    /// and version now.
    Moved(String, i64),
    /// Approval needs the creator's rate in escrow: what escrow holds.
    Unfunded(i64),
    /// No such version.
    NoVersion,
}

/// A product hotspot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotspotRecord {
    /// Id.
    pub id: i64,
    /// The deliverable.
    pub deliverable_id: i64,
    /// From (ms into the video).
    pub start_ms: i64,
    /// To.
    pub end_ms: i64,
    /// Across (basis points of the width).
    pub x_bp: i64,
    /// Down (basis points of the height).
    pub y_bp: i64,
    /// The product.
    pub product: String,
    /// Where it is bought.
    pub link: String,
}

/// A touchpoint or a conversion, as attribution reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    /// The visitor.
    pub visitor: String,
    /// When (ms).
    pub at: i64,
    /// `view` or `click`.
    pub kind: String,
    /// The deliverable's public id.
    pub deliverable: String,
    /// Its creator.
    pub creator_id: i64,
    /// The creator's handle.
    pub creator_handle: String,
}

/// A conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionRecord {
    /// The brand's order id.
    pub order_id: String,
    /// The visitor.
    pub visitor: String,
    /// Minor units (negative: a refund).
    pub value_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// When it happened (ms).
    pub at: i64,
}

const FUNDING: &str =
    "id, uuid, campaign_id, amount_minor, currency, provider, provider_ref, provider_payment_id, \
     status, refunded_minor, created_by, created_at, paid_at";
const DELIVERABLE: &str = "d.id, d.uuid, d.application_id, d.campaign_id, d.creator_id, d.kind, d.title, d.status, \
     d.current_version, d.disclosure, d.rights_kind, d.rights_until, d.rights_territories, d.rights_proposed_at, \
     d.rights_consented_at, d.approved_at, d.created_at, d.updated_at, u.handle AS creator_handle, \
     u.display_name AS creator_name";
const HOTSPOT: &str = "id, deliverable_id, start_ms, end_ms, x_bp, y_bp, product, link";

macro_rules! funding_from_row {
    ($r:expr) => {
        FundingRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            campaign_id: $r.try_get("campaign_id")?,
            amount_minor: $r.try_get("amount_minor")?,
            currency: $r.try_get("currency")?,
            provider: $r.try_get("provider")?,
            provider_ref: $r.try_get("provider_ref")?,
            provider_payment_id: $r.try_get("provider_payment_id")?,
            status: $r.try_get("status")?,
            refunded_minor: $r.try_get("refunded_minor")?,
            created_by: $r.try_get("created_by")?,
            created_at: $r.try_get("created_at")?,
            paid_at: $r.try_get("paid_at")?,
        }
    };
}

macro_rules! deliverable_from_row {
    ($r:expr) => {
        DeliverableRecord {
            id: $r.try_get("id")?,
            uuid: $r.try_get("uuid")?,
            application_id: $r.try_get("application_id")?,
            campaign_id: $r.try_get("campaign_id")?,
            creator_id: $r.try_get("creator_id")?,
            kind: $r.try_get("kind")?,
            title: $r.try_get("title")?,
            status: $r.try_get("status")?,
            current_version: i64::from($r.try_get::<i32, _>("current_version")?),
            disclosure: $r.try_get("disclosure")?,
            rights_kind: $r.try_get("rights_kind")?,
            rights_until: $r.try_get("rights_until")?,
            rights_territories: $r.try_get("rights_territories")?,
            rights_proposed_at: $r.try_get("rights_proposed_at")?,
            rights_consented_at: $r.try_get("rights_consented_at")?,
            approved_at: $r.try_get("approved_at")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
            creator_handle: $r.try_get("creator_handle")?,
            creator_name: $r.try_get("creator_name")?,
        }
    };
}

macro_rules! hotspot_from_row {
    ($r:expr) => {
        HotspotRecord {
            id: $r.try_get("id")?,
            deliverable_id: $r.try_get("deliverable_id")?,
            start_ms: $r.try_get("start_ms")?,
            end_ms: $r.try_get("end_ms")?,
            x_bp: i64::from($r.try_get::<i32, _>("x_bp")?),
            y_bp: i64::from($r.try_get::<i32, _>("y_bp")?),
            product: $r.try_get("product")?,
            link: $r.try_get("link")?,
        }
    };
}

/// Records what happened to a deliverable inside `$tx`.
macro_rules! event_in {
    ($tx:expr, $deliverable:expr, $version:expr, $actor:expr, $action:expr, $comment:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO deliverable_events (deliverable_id, version, actor_id, action, comment, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($deliverable)
        .bind($version as i32)
        .bind($actor)
        .bind($action)
        .bind($comment)
        .bind($now)
        .execute(&mut *$tx)
    };
}

/// Where deliverable `$id` is now, as a [`DeliverableRefusal::Moved`], read inside `$tx`.
macro_rules! moved_in {
    ($tx:expr, $id:expr) => {{
        let r =
            sqlx::query("SELECT status, current_version FROM campaign_deliverables WHERE id = $1")
                .bind($id)
                .fetch_optional(&mut *$tx)
                .await?;
        match r {
            Some(r) => DeliverableRefusal::Moved(
                r.try_get("status")?,
                i64::from(r.try_get::<i32, _>("current_version")?),
            ),
            None => DeliverableRefusal::Moved("gone".into(), 0),
        }
    }};
}

impl Db {
    // ------------------------------------------------------------------------------ escrow

    /// Starts a payment of `amount` into campaign `campaign_id`'s escrow through `provider`.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_funding(
        &self,
        uuid: &str,
        campaign_id: i64,
        amount: i64,
        currency: &str,
        provider: &str,
        created_by: i64,
        now: i64,
    ) -> Result<FundingRecord, DbError> {
        let sql = format!(
            "INSERT INTO campaign_fundings (uuid, campaign_id, amount_minor, currency, provider, status, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'created', $6, $7) RETURNING {FUNDING}"
        );
        on_pool!(self, p => {
            let r = sqlx::query(&sql)
                .bind(uuid).bind(campaign_id).bind(amount).bind(currency).bind(provider)
                .bind(created_by).bind(now)
                .fetch_one(p).await?;
            Ok(funding_from_row!(r))
        })
    }

    /// Notes the gateway's checkout session of funding `id`.
    pub async fn set_funding_ref(&self, id: i64, provider_ref: &str) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query("UPDATE campaign_fundings SET provider_ref = $1 WHERE id = $2")
                .bind(provider_ref).bind(id).execute(p).await?;
            Ok(())
        })
    }

    /// A funding by its public id.
    pub async fn funding_by_uuid(&self, uuid: &str) -> Result<Option<FundingRecord>, DbError> {
        let sql = format!("SELECT {FUNDING} FROM campaign_fundings WHERE uuid = $1");
        on_pool!(self, p => {
            let r = sqlx::query(&sql).bind(uuid).fetch_optional(p).await?;
            Ok(match r { Some(r) => Some(funding_from_row!(r)), None => None })
        })
    }

    /// A campaign's fundings, oldest first.
    pub async fn fundings_of_campaign(
        &self,
        campaign_id: i64,
    ) -> Result<Vec<FundingRecord>, DbError> {
        let sql =
            format!("SELECT {FUNDING} FROM campaign_fundings WHERE campaign_id = $1 ORDER BY id");
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(campaign_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(funding_from_row!(r));
            }
            Ok(out)
        })
    }

    /// A campaign's escrow in `currency`.
    pub async fn escrow_state(
        &self,
        campaign_id: i64,
        currency: &str,
    ) -> Result<EscrowState, DbError> {
        let escrow = account::escrow(campaign_id);
        on_pool!(self, p => {
            let r = sqlx::query(
                "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'paid' THEN amount_minor ELSE 0 END), 0) AS BIGINT) AS funded, \
                 CAST(COALESCE(SUM(refunded_minor), 0) AS BIGINT) AS refunded FROM campaign_fundings WHERE campaign_id = $1",
            ).bind(campaign_id).fetch_one(p).await?;
            let funded: i64 = r.try_get("funded")?;
            let refunded: i64 = r.try_get("refunded")?;
            let held: Option<i64> = sqlx::query_scalar(
                "SELECT balance_minor FROM ledger_balances WHERE account = $1 AND currency = $2",
            ).bind(&escrow).bind(currency).fetch_optional(p).await?;
            let held = held.unwrap_or(0);
            Ok(EscrowState { funded, released: funded - refunded - held, refunded, held })
        })
    }

    /// Applies the gateway's confirmation that funding `f` was paid (`payment_id`, what was
    /// paid): the ledger moves it from the gateway into the campaign's escrow, once.
    pub async fn complete_funding(
        &self,
        event: Option<&GatewayEvent<'_>>,
        f: &FundingRecord,
        payment_id: &str,
        paid_minor: i64,
        paid_currency: &str,
        now: i64,
    ) -> Result<FundingApplied, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            if let Some(e) = event {
                let taken = take_event!(tx, e, now);
                if !taken {
                    tx.commit().await?;
                    return Ok(FundingApplied::Duplicate);
                }
            }
            let status: String = sqlx::query_scalar("UPDATE campaign_fundings SET status = status WHERE id = $1 RETURNING status")
                .bind(f.id).fetch_one(&mut *tx).await?;
            if status == "paid" {
                tx.commit().await?;
                return Ok(FundingApplied::Duplicate);
            }
            let mismatch = if !paid_currency.eq_ignore_ascii_case(&f.currency) {
                Some(NotApplied::CurrencyMismatch)
            } else if paid_minor != f.amount_minor {
                Some(NotApplied::AmountMismatch)
            } else {
                None
            };
            if let Some(reason) = mismatch {
                if let Some(e) = event {
                    let detail = format!(
                        "campaign funding {}: paid {paid_minor} {paid_currency}, due {} {}",
                        f.uuid, f.amount_minor, f.currency
                    );
                    mark_ignored!(tx, e, reason, &detail);
                }
                tx.commit().await?;
                return Ok(FundingApplied::Ignored(reason));
            }
            let t = NewTransaction {
                reference: format!("escrow:{}", f.uuid),
                kind: "escrow".into(),
                currency: f.currency.clone(),
                memo: "campaign budget into escrow".into(),
                purchase_id: None,
                payout_id: None,
                reverses_id: None,
                postings: vec![
                    Posting { account: account::gateway(&f.provider), user_id: None, amount_minor: -f.amount_minor, available_at: now },
                    Posting { account: account::escrow(f.campaign_id), user_id: None, amount_minor: f.amount_minor, available_at: now },
                ],
            };
            let posted = post_in!(tx, &t, now)?;
            sqlx::query(
                "UPDATE campaign_fundings SET status = 'paid', paid_at = $1, provider_payment_id = $2 WHERE id = $3",
            ).bind(now).bind(payment_id).bind(f.id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(FundingApplied::Done(posted.id()))
        })
    }

    /// Records refund `refund_id` of `amount` of funding `funding_id` made through its gateway:
    /// the ledger moves it out of escrow back to the gateway. `false` if escrow or the funding
    /// does not hold that much (nothing changed).
    pub async fn refund_funding(
        &self,
        funding_id: i64,
        amount: i64,
        refund_id: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let row = sqlx::query(
                "UPDATE campaign_fundings SET refunded_minor = refunded_minor + $2 \
                 WHERE id = $1 AND status = 'paid' AND refunded_minor + $2 <= amount_minor \
                 RETURNING campaign_id, currency, provider",
            ).bind(funding_id).bind(amount).fetch_optional(&mut *tx).await?;
            let Some(r) = row else {
                tx.rollback().await?;
                return Ok(false);
            };
            let campaign_id: i64 = r.try_get("campaign_id")?;
            let currency: String = r.try_get("currency")?;
            let provider: String = r.try_get("provider")?;
            let held: Option<i64> = sqlx::query_scalar(
                "SELECT balance_minor FROM ledger_balances WHERE account = $1 AND currency = $2",
            ).bind(account::escrow(campaign_id)).bind(&currency).fetch_optional(&mut *tx).await?;
            if held.unwrap_or(0) < amount {
                tx.rollback().await?;
                return Ok(false);
            }
            let t = NewTransaction {
                reference: format!("escrow-refund:{refund_id}"),
                kind: "refund".into(),
                currency,
                memo: "campaign escrow refunded to the brand".into(),
                purchase_id: None,
                payout_id: None,
                reverses_id: None,
                postings: vec![
                    Posting { account: account::escrow(campaign_id), user_id: None, amount_minor: -amount, available_at: now },
                    Posting { account: account::gateway(&provider), user_id: None, amount_minor: amount, available_at: now },
                ],
            };
            post_in!(tx, &t, now)?;
            tx.commit().await?;
            Ok(true)
        })
    }

    // ------------------------------------------------------------------------ deliverables

    /// Hands in a new deliverable for accepted application `application_id` (version 1); an
    /// ACTIVE campaign becomes IN_PROGRESS.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_deliverable(
        &self,
        uuid: &str,
        application_id: i64,
        campaign_id: i64,
        creator_id: i64,
        kind: &str,
        title: &str,
        disclosure: Option<&str>,
        v: &VersionFields<'_>,
        now: i64,
    ) -> Result<i64, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO campaign_deliverables (uuid, application_id, campaign_id, creator_id, kind, title, status, \
                 current_version, disclosure, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'submitted', 1, $7, $8, $8) RETURNING id",
            )
            .bind(uuid).bind(application_id).bind(campaign_id).bind(creator_id).bind(kind).bind(title)
            .bind(disclosure).bind(now)
            .fetch_one(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO deliverable_versions (deliverable_id, version, video_id, body, link, note, created_at) \
                 VALUES ($1, 1, $2, $3, $4, $5, $6)",
            ).bind(id).bind(v.video_id).bind(v.body).bind(v.link).bind(v.note).bind(now)
            .execute(&mut *tx).await?;
            event_in!(tx, id, 1, Some(creator_id), "submitted", v.note, now).await?;
            sqlx::query("UPDATE campaigns SET status = 'IN_PROGRESS', updated_at = $2 WHERE id = $1 AND status = 'ACTIVE'")
                .bind(campaign_id).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// A deliverable by its public id.
    pub async fn deliverable_by_uuid(
        &self,
        uuid: &str,
    ) -> Result<Option<DeliverableRecord>, DbError> {
        let sql = format!(
            "SELECT {DELIVERABLE} FROM campaign_deliverables d JOIN users u ON u.id = d.creator_id WHERE d.uuid = $1"
        );
        on_pool!(self, p => {
            let r = sqlx::query(&sql).bind(uuid).fetch_optional(p).await?;
            Ok(match r { Some(r) => Some(deliverable_from_row!(r)), None => None })
        })
    }

    /// A campaign's deliverables (or one creator's of it), oldest first.
    pub async fn deliverables_of_campaign(
        &self,
        campaign_id: i64,
        creator_id: Option<i64>,
    ) -> Result<Vec<DeliverableRecord>, DbError> {
        let sql = format!(
            "SELECT {DELIVERABLE} FROM campaign_deliverables d JOIN users u ON u.id = d.creator_id \
             WHERE d.campaign_id = $1 AND ($2 IS NULL OR d.creator_id = $2) ORDER BY d.id"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(campaign_id).bind(creator_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(deliverable_from_row!(r));
            }
            Ok(out)
        })
    }

    /// A deliverable's versions, oldest first.
    pub async fn deliverable_versions(
        &self,
        deliverable_id: i64,
    ) -> Result<Vec<VersionRecord>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT version, video_id, body, link, note, created_at FROM deliverable_versions \
                 WHERE deliverable_id = $1 ORDER BY version",
            ).bind(deliverable_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(VersionRecord {
                    version: i64::from(r.try_get::<i32, _>("version")?),
                    video_id: r.try_get("video_id")?,
                    body: r.try_get("body")?,
                    link: r.try_get("link")?,
                    note: r.try_get("note")?,
                    created_at: r.try_get("created_at")?,
                });
            }
            Ok(out)
        })
    }

    /// What happened to a deliverable, oldest first.
    pub async fn deliverable_events(
        &self,
        deliverable_id: i64,
    ) -> Result<Vec<DeliverableEvent>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT e.version, e.actor_id, u.display_name AS actor_name, e.action, e.comment, e.created_at \
                 FROM deliverable_events e LEFT JOIN users u ON u.id = e.actor_id WHERE e.deliverable_id = $1 ORDER BY e.id",
            ).bind(deliverable_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(DeliverableEvent {
                    version: i64::from(r.try_get::<i32, _>("version")?),
                    actor_id: r.try_get("actor_id")?,
                    actor_name: r.try_get("actor_name")?,
                    action: r.try_get("action")?,
                    comment: r.try_get("comment")?,
                    created_at: r.try_get("created_at")?,
                });
            }
            Ok(out)
        })
    }

    /// Hands in a new version of deliverable `id`, which must be `status` at `version` (under
    /// review or sent back): it goes to review again.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_deliverable_version(
        &self,
        id: i64,
        status: &str,
        version: i64,
        disclosure: Option<&str>,
        v: &VersionFields<'_>,
        actor: i64,
        now: i64,
    ) -> Result<Result<i64, DeliverableRefusal>, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let next: Option<i32> = sqlx::query_scalar(
                "UPDATE campaign_deliverables SET status = 'submitted', \
                 current_version = (SELECT COALESCE(MAX(version), 0) + 1 FROM deliverable_versions WHERE deliverable_id = $1), \
                 disclosure = COALESCE($4, disclosure), updated_at = $5 \
                 WHERE id = $1 AND status = $2 AND current_version = $3 RETURNING current_version",
            ).bind(id).bind(status).bind(version as i32).bind(disclosure).bind(now)
            .fetch_optional(&mut *tx).await?;
            let Some(next) = next else {
                let now_at = moved_in!(tx, id);
                tx.rollback().await?;
                return Ok(Err(now_at));
            };
            sqlx::query(
                "INSERT INTO deliverable_versions (deliverable_id, version, video_id, body, link, note, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            ).bind(id).bind(next).bind(v.video_id).bind(v.body).bind(v.link).bind(v.note).bind(now)
            .execute(&mut *tx).await?;
            event_in!(tx, id, next, Some(actor), "resubmitted", v.note, now).await?;
            tx.commit().await?;
            Ok(Ok(i64::from(next)))
        })
    }

    /// Makes earlier version `to` of deliverable `id` (which must be `status` at `version`,
    /// not approved or rejected) the current one again: it goes to review again.
    pub async fn roll_back_deliverable(
        &self,
        id: i64,
        status: &str,
        version: i64,
        to: i64,
        actor: i64,
        now: i64,
    ) -> Result<Result<(), DeliverableRefusal>, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE campaign_deliverables SET status = 'submitted', current_version = $4, updated_at = $5 \
                 WHERE id = $1 AND status = $2 AND current_version = $3 \
                 AND EXISTS (SELECT 1 FROM deliverable_versions WHERE deliverable_id = $1 AND version = $4)",
            ).bind(id).bind(status).bind(version as i32).bind(to as i32).bind(now)
            .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                let exists: Option<i32> = sqlx::query_scalar(
                    "SELECT version FROM deliverable_versions WHERE deliverable_id = $1 AND version = $2",
                ).bind(id).bind(to as i32).fetch_optional(&mut *tx).await?;
                let refusal = if exists.is_none() { DeliverableRefusal::NoVersion } else { moved_in!(tx, id) };
                tx.rollback().await?;
                return Ok(Err(refusal));
            }
            event_in!(tx, id, to, Some(actor), "rolled_back", format!("back to version {to} from version {version}"), now).await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    /// The brand decides on version `version` of deliverable `id`, which must be under review.
    /// Approval (`release`) pays the creator their accepted rate out of escrow, less the
    /// platform's fee, the first time one of their deliverables for the application is
    /// approved; it is refused while escrow holds less than that.
    #[allow(clippy::too_many_arguments)]
    pub async fn review_deliverable(
        &self,
        id: i64,
        version: i64,
        decision: Decision,
        comment: &str,
        disclosure: Option<&str>,
        release: Release,
        actor: i64,
        now: i64,
    ) -> Result<Result<Option<i64>, DeliverableRefusal>, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let row = sqlx::query(
                "UPDATE campaign_deliverables SET status = $3, updated_at = $4, disclosure = COALESCE($5, disclosure), \
                 approved_at = CASE WHEN $3 = 'approved' THEN $4 ELSE approved_at END \
                 WHERE id = $1 AND status = 'submitted' AND current_version = $2 RETURNING application_id, campaign_id, creator_id",
            ).bind(id).bind(version as i32).bind(decision.status()).bind(now).bind(disclosure)
            .fetch_optional(&mut *tx).await?;
            let Some(r) = row else {
                let now_at = moved_in!(tx, id);
                tx.rollback().await?;
                return Ok(Err(now_at));
            };
            let application_id: i64 = r.try_get("application_id")?;
            let campaign_id: i64 = r.try_get("campaign_id")?;
            let creator_id: i64 = r.try_get("creator_id")?;
            let mut released = None;
            if decision == Decision::Approve {
                let a = sqlx::query(
                    "SELECT a.uuid, a.rate_minor, c.currency FROM campaign_applications a JOIN campaigns c ON c.id = a.campaign_id WHERE a.id = $1",
                ).bind(application_id).fetch_one(&mut *tx).await?;
                let app_uuid: String = a.try_get("uuid")?;
                let rate: i64 = a.try_get("rate_minor")?;
                let currency: String = a.try_get("currency")?;
                let reference = format!("campaign-release:{app_uuid}");
                let done: Option<i64> = sqlx::query_scalar("SELECT id FROM ledger_transactions WHERE reference = $1")
                    .bind(&reference).fetch_optional(&mut *tx).await?;
                if done.is_none() {
                    let held: Option<i64> = sqlx::query_scalar(
                        "SELECT balance_minor FROM ledger_balances WHERE account = $1 AND currency = $2",
                    ).bind(account::escrow(campaign_id)).bind(&currency).fetch_optional(&mut *tx).await?;
                    let held = held.unwrap_or(0);
                    if held < rate {
                        tx.rollback().await?;
                        return Ok(Err(DeliverableRefusal::Unfunded(held)));
                    }
                    let fee = share(rate, release.fee_bps);
                    let t = NewTransaction {
                        reference,
                        kind: "income".into(),
                        currency,
                        memo: "campaign deliverable approved".into(),
                        purchase_id: None,
                        payout_id: None,
                        reverses_id: None,
                        postings: vec![
                            Posting { account: account::escrow(campaign_id), user_id: None, amount_minor: -rate, available_at: now },
                            Posting { account: account::PLATFORM_FEES.to_owned(), user_id: None, amount_minor: fee, available_at: now },
                            Posting {
                                account: account::creator(creator_id),
                                user_id: Some(creator_id),
                                amount_minor: rate - fee,
                                available_at: now.saturating_add(release.hold_ms.max(0)),
                            },
                        ],
                    };
                    released = Some(post_in!(tx, &t, now)?.id());
                }
            }
            event_in!(tx, id, version, Some(actor), decision.status(), comment, now).await?;
            tx.commit().await?;
            Ok(Ok(released))
        })
    }

    /// The brand proposes usage rights for deliverable `id` (the creator's consent is asked
    /// again).
    #[allow(clippy::too_many_arguments)]
    pub async fn propose_rights(
        &self,
        id: i64,
        kind: &str,
        until: Option<i64>,
        territories: Option<&str>,
        version: i64,
        actor: i64,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE campaign_deliverables SET rights_kind = $2, rights_until = $3, rights_territories = $4, \
                 rights_proposed_at = $5, rights_consented_at = NULL, updated_at = $5 WHERE id = $1",
            ).bind(id).bind(kind).bind(until).bind(territories).bind(now).execute(&mut *tx).await?;
            event_in!(tx, id, version, Some(actor), "rights_proposed", kind, now).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The creator consents to the rights proposed at `proposed_at` for deliverable `id`;
    /// `false` if they changed meanwhile or were consented already.
    pub async fn consent_rights(
        &self,
        id: i64,
        proposed_at: i64,
        version: i64,
        actor: i64,
        now: i64,
    ) -> Result<bool, DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE campaign_deliverables SET rights_consented_at = $3, updated_at = $3 \
                 WHERE id = $1 AND rights_proposed_at = $2 AND rights_consented_at IS NULL",
            ).bind(id).bind(proposed_at).bind(now).execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            event_in!(tx, id, version, Some(actor), "rights_consented", "", now).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    // ---------------------------------------------------------------------------- hotspots

    /// Adds a hotspot to deliverable `deliverable_id`.
    pub async fn add_hotspot(&self, h: &HotspotRecord, now: i64) -> Result<i64, DbError> {
        on_pool!(self, p => {
            Ok(sqlx::query_scalar(
                "INSERT INTO campaign_hotspots (deliverable_id, start_ms, end_ms, x_bp, y_bp, product, link, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(h.deliverable_id).bind(h.start_ms).bind(h.end_ms).bind(h.x_bp as i32).bind(h.y_bp as i32)
            .bind(&h.product).bind(&h.link).bind(now)
            .fetch_one(p).await?)
        })
    }

    /// A deliverable's hotspots, by start.
    pub async fn hotspots_of(&self, deliverable_id: i64) -> Result<Vec<HotspotRecord>, DbError> {
        let sql = format!(
            "SELECT {HOTSPOT} FROM campaign_hotspots WHERE deliverable_id = $1 ORDER BY start_ms, id"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(deliverable_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(hotspot_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Hotspot `id`.
    pub async fn hotspot(&self, id: i64) -> Result<Option<HotspotRecord>, DbError> {
        let sql = format!("SELECT {HOTSPOT} FROM campaign_hotspots WHERE id = $1");
        on_pool!(self, p => {
            let r = sqlx::query(&sql).bind(id).fetch_optional(p).await?;
            Ok(match r { Some(r) => Some(hotspot_from_row!(r)), None => None })
        })
    }

    /// Removes hotspot `id` of deliverable `deliverable_id`; `false` if there was none.
    pub async fn delete_hotspot(&self, deliverable_id: i64, id: i64) -> Result<bool, DbError> {
        on_pool!(self, p => {
            Ok(sqlx::query("DELETE FROM campaign_hotspots WHERE id = $1 AND deliverable_id = $2")
                .bind(id).bind(deliverable_id).execute(p).await?.rows_affected() > 0)
        })
    }

    // ------------------------------------------------------------------------- attribution

    /// Records a touchpoint.
    pub async fn add_touchpoint(
        &self,
        campaign_id: i64,
        deliverable_id: i64,
        hotspot_id: Option<i64>,
        visitor: &str,
        kind: &str,
        at: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            sqlx::query(
                "INSERT INTO campaign_touchpoints (campaign_id, deliverable_id, hotspot_id, visitor, kind, at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            ).bind(campaign_id).bind(deliverable_id).bind(hotspot_id).bind(visitor).bind(kind).bind(at)
            .execute(p).await?;
            Ok(())
        })
    }

    /// Records a conversion; `false` if the order was reported before (nothing changed).
    pub async fn add_conversion(
        &self,
        campaign_id: i64,
        c: &ConversionRecord,
        now: i64,
    ) -> Result<bool, DbError> {
        on_pool!(self, p => {
            Ok(sqlx::query(
                "INSERT INTO campaign_conversions (campaign_id, order_id, visitor, value_minor, currency, at, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (campaign_id, order_id) DO NOTHING",
            ).bind(campaign_id).bind(&c.order_id).bind(&c.visitor).bind(c.value_minor).bind(&c.currency)
            .bind(c.at).bind(now)
            .execute(p).await?.rows_affected() == 1)
        })
    }

    /// A campaign's conversions (oldest first, at most `limit`) and the touchpoints of their
    /// visitors (by visitor and time).
    pub async fn attribution_data(
        &self,
        campaign_id: i64,
        limit: i64,
    ) -> Result<(Vec<ConversionRecord>, Vec<Touch>), DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT order_id, visitor, value_minor, currency, at FROM campaign_conversions \
                 WHERE campaign_id = $1 ORDER BY at, id LIMIT $2",
            ).bind(campaign_id).bind(limit).fetch_all(p).await?;
            let mut conversions = Vec::with_capacity(rows.len());
            for r in &rows {
                conversions.push(ConversionRecord {
                    order_id: r.try_get("order_id")?,
                    visitor: r.try_get("visitor")?,
                    value_minor: r.try_get("value_minor")?,
                    currency: r.try_get("currency")?,
                    at: r.try_get("at")?,
                });
            }
            let rows = sqlx::query(
                "SELECT t.visitor, t.at, t.kind, d.uuid AS deliverable, d.creator_id, u.handle FROM campaign_touchpoints t \
                 JOIN campaign_deliverables d ON d.id = t.deliverable_id JOIN users u ON u.id = d.creator_id \
                 WHERE t.campaign_id = $1 AND t.visitor IN (SELECT visitor FROM campaign_conversions WHERE campaign_id = $1) \
                 ORDER BY t.visitor, t.at, t.id",
            ).bind(campaign_id).fetch_all(p).await?;
            let mut touches = Vec::with_capacity(rows.len());
            for r in &rows {
                touches.push(Touch {
                    visitor: r.try_get("visitor")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    deliverable: r.try_get("deliverable")?,
                    creator_id: r.try_get("creator_id")?,
                    creator_handle: r.try_get("handle")?,
                });
            }
            Ok((conversions, touches))
        })
    }

    /// A campaign's touchpoints so far, by kind: (views, clicks).
    pub async fn touchpoint_counts(&self, campaign_id: i64) -> Result<(i64, i64), DbError> {
        on_pool!(self, p => {
            let r = sqlx::query(
                "SELECT CAST(COALESCE(SUM(CASE WHEN kind = 'view' THEN 1 ELSE 0 END), 0) AS BIGINT) AS views, \
                 CAST(COALESCE(SUM(CASE WHEN kind = 'click' THEN 1 ELSE 0 END), 0) AS BIGINT) AS clicks \
                 FROM campaign_touchpoints WHERE campaign_id = $1",
            ).bind(campaign_id).fetch_one(p).await?;
            Ok((r.try_get("views")?, r.try_get("clicks")?))
        })
    }
}
