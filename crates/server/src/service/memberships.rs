//! Memberships: a creator's tiers (name, monthly price, perks, rank; MHC's four patronage
//! tiers as the default template), the memberships viewers hold and creators see, canceling,
//! and the access levels creators put on their videos and streams. Memberships are created
//! and renewed by paid purchases (`crate::service::purchases`); access is decided by
//! [`crate::service::access`].

use crate::service::access::{Level, LEVELS};
use crate::service::clock::SharedClock;
use ferrocast_db::memberships::{
    AccessColumns, MembershipRow, TierFields, TierRecord, TierRemoval,
};
use ferrocast_db::{Db, DbError};

/// Tiers a creator may have at most (retired ones included).
pub const MAX_TIERS: i64 = 10;
/// Longest tier name, in characters.
pub const MAX_TIER_NAME_CHARS: usize = 40;
/// Most perks of a tier.
pub const MAX_PERKS: usize = 10;
/// Longest perk, in characters.
pub const MAX_PERK_CHARS: usize = 120;
/// Lowest monthly price or pay-per-view price, minor units.
pub const MIN_PRICE_MINOR: i64 = 100;
/// Highest monthly price or pay-per-view price, minor units.
pub const MAX_PRICE_MINOR: i64 = 1_000_000;
/// Members listed per page at most.
pub const MAX_MEMBERS_PAGE: i64 = 100;

/// Why a membership operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MembershipsError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A field is not acceptable (the sentence names it).
    #[error("{0}")]
    Invalid(String),
    /// No such tier (of this creator), or no such membership.
    #[error("not found")]
    NotFound,
    /// The creator has [`MAX_TIERS`] tiers.
    #[error("too many tiers")]
    TooManyTiers,
    /// The template is offered only to a creator without tiers.
    #[error("tiers exist")]
    HasTiers,
}

/// A tier as the creator describes it.
#[derive(Debug, Clone)]
pub struct TierInput {
    /// 1 to [`MAX_TIER_NAME_CHARS`] characters.
    pub name: String,
    /// [`MIN_PRICE_MINOR`] to [`MAX_PRICE_MINOR`].
    pub price_minor: i64,
    /// ISO 4217 (three letters).
    pub currency: String,
    /// Up to [`MAX_PERKS`] of up to [`MAX_PERK_CHARS`] characters.
    pub perks: Vec<String>,
    /// Its rank (a higher rank includes the lower ones); `None`: after the highest.
    pub rank: Option<i64>,
    /// Whether new members may join.
    pub active: bool,
}

/// MHC's four patronage tiers ($5, $15, $50, $250 a month), each including the ones below.
pub fn default_template() -> Vec<TierInput> {
    let tier = |name: &str, dollars: i64, rank: i64, perks: &[&str]| TierInput {
        name: name.into(),
        price_minor: dollars * 100,
        currency: "USD".into(),
        perks: perks.iter().map(|p| p.to_string()).collect(),
        rank: Some(rank),
        active: true,
    };
    vec![
        tier(
            "Supporter",
            5,
            1,
            &["Member badge in chat", "Members-only videos"],
        ),
        tier(
            "Fan",
            15,
            2,
            &[
                "Everything in Supporter",
                "Members-only live streams",
                "Early access to new videos",
            ],
        ),
        tier(
            "Patron",
            50,
            3,
            &[
                "Everything in Fan",
                "Behind-the-scenes content",
                "Your name in the credits",
            ],
        ),
        tier(
            "Executive Patron",
            250,
            4,
            &[
                "Everything in Patron",
                "A monthly live Q&A with the creator",
                "Every pay-per-view event included",
            ],
        ),
    ]
}

fn check_text(field: &str, text: &str, max: usize) -> Result<String, MembershipsError> {
    let t = text.trim().to_string();
    let n = t.chars().count();
    if n == 0 || n > max || t.chars().any(char::is_control) {
        return Err(MembershipsError::Invalid(format!(
            "{field}: must be 1 to {max} characters without control characters"
        )));
    }
    Ok(t)
}

/// A currency code upper-cased, if it is three ASCII letters.
pub fn check_currency(field: &str, c: &str) -> Result<String, MembershipsError> {
    let c = c.trim();
    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(c.to_ascii_uppercase())
    } else {
        Err(MembershipsError::Invalid(format!(
            "{field}: must be a three-letter ISO 4217 code such as USD"
        )))
    }
}

/// A price, if within [`MIN_PRICE_MINOR`]..=[`MAX_PRICE_MINOR`].
pub fn check_price(field: &str, p: i64) -> Result<i64, MembershipsError> {
    if (MIN_PRICE_MINOR..=MAX_PRICE_MINOR).contains(&p) {
        Ok(p)
    } else {
        Err(MembershipsError::Invalid(format!(
            "{field}: must be from {MIN_PRICE_MINOR} to {MAX_PRICE_MINOR} minor units (1.00 to 10 000.00)"
        )))
    }
}

/// Checks and normalises a tier: (name, price, currency, perks).
pub fn check_tier(t: &TierInput) -> Result<(String, i64, String, Vec<String>), MembershipsError> {
    let name = check_text("name", &t.name, MAX_TIER_NAME_CHARS)?;
    let price = check_price("price_minor", t.price_minor)?;
    let currency = check_currency("currency", &t.currency)?;
    if t.perks.len() > MAX_PERKS {
        return Err(MembershipsError::Invalid(format!(
            "perks: at most {MAX_PERKS} ({} given)",
            t.perks.len()
        )));
    }
    let mut perks = Vec::with_capacity(t.perks.len());
    for p in &t.perks {
        let p = check_text("perks", p, MAX_PERK_CHARS)?;
        if !perks.contains(&p) {
            perks.push(p);
        }
    }
    if let Some(r) = t.rank {
        if !(1..=1000).contains(&r) {
            return Err(MembershipsError::Invalid(
                "rank: must be from 1 to 1000".into(),
            ));
        }
    }
    Ok((name, price, currency, perks))
}

/// An access level as a creator sets it.
#[derive(Debug, Clone, Default)]
pub struct AccessInput {
    /// `public`, `members` or `ppv`.
    pub level: String,
    /// `members`: the lowest tier (one of the creator's), or none for any member.
    pub tier_id: Option<i64>,
    /// `ppv`: the price, minor units.
    pub price_minor: Option<i64>,
    /// `ppv`: the currency (default USD).
    pub currency: Option<String>,
}

/// The memberships service.
#[derive(Clone)]
pub struct Memberships {
    db: Db,
    clock: SharedClock,
}

impl Memberships {
    /// The service over `db`.
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self { db, clock }
    }

    /// `creator`'s tiers by rank, retired ones too.
    pub async fn tiers(&self, creator: i64) -> Result<Vec<TierRecord>, MembershipsError> {
        Ok(self.db.tiers_of(creator, true).await?)
    }

    /// The tiers viewers may join, by rank.
    pub async fn open_tiers(&self, creator: i64) -> Result<Vec<TierRecord>, MembershipsError> {
        Ok(self.db.tiers_of(creator, false).await?)
    }

    /// Creates a tier of `creator`.
    pub async fn create_tier(
        &self,
        creator: i64,
        t: TierInput,
    ) -> Result<TierRecord, MembershipsError> {
        let (name, price, currency, perks) = check_tier(&t)?;
        let existing = self.db.tiers_of(creator, true).await?;
        if existing.len() as i64 >= MAX_TIERS {
            return Err(MembershipsError::TooManyTiers);
        }
        let rank = t
            .rank
            .unwrap_or_else(|| existing.iter().map(|x| x.rank).max().unwrap_or(0) + 1);
        Ok(self
            .db
            .create_tier(
                creator,
                &TierFields {
                    name: &name,
                    price_minor: price,
                    currency: &currency,
                    perks: &perks,
                    rank,
                    active: t.active,
                },
                self.clock.now_ms(),
            )
            .await?)
    }

    /// Creates MHC's four tiers for a creator who has none.
    pub async fn apply_template(&self, creator: i64) -> Result<Vec<TierRecord>, MembershipsError> {
        if self.db.tier_count(creator).await? > 0 {
            return Err(MembershipsError::HasTiers);
        }
        let mut out = Vec::new();
        for t in default_template() {
            out.push(self.create_tier(creator, t).await?);
        }
        Ok(out)
    }

    /// Replaces a tier of `creator` (existing members keep paying what they pay until they
    /// renew at the new price).
    pub async fn update_tier(
        &self,
        creator: i64,
        id: i64,
        t: TierInput,
    ) -> Result<TierRecord, MembershipsError> {
        let (name, price, currency, perks) = check_tier(&t)?;
        let current = self
            .db
            .tier(id)
            .await?
            .filter(|x| x.creator_id == creator)
            .ok_or(MembershipsError::NotFound)?;
        self.db
            .update_tier(
                creator,
                id,
                &TierFields {
                    name: &name,
                    price_minor: price,
                    currency: &currency,
                    perks: &perks,
                    rank: t.rank.unwrap_or(current.rank),
                    active: t.active,
                },
            )
            .await?
            .ok_or(MembershipsError::NotFound)
    }

    /// Removes a tier: deleted when nobody ever held it, retired otherwise.
    pub async fn remove_tier(
        &self,
        creator: i64,
        id: i64,
    ) -> Result<TierRemoval, MembershipsError> {
        match self.db.remove_tier(creator, id).await? {
            TierRemoval::NotFound => Err(MembershipsError::NotFound),
            r => Ok(r),
        }
    }

    /// The memberships `user` holds.
    pub async fn mine(&self, user: i64) -> Result<Vec<MembershipRow>, MembershipsError> {
        Ok(self.db.memberships_of_user(user).await?)
    }

    /// A page (from 1) of `creator`'s current members (not ended, period not over more than
    /// `grace_days` ago) and how many there are.
    pub async fn members(
        &self,
        creator: i64,
        page: i64,
        limit: i64,
        grace_days: i64,
    ) -> Result<(Vec<MembershipRow>, i64), MembershipsError> {
        let limit = limit.clamp(1, MAX_MEMBERS_PAGE);
        let offset = (page.max(1) - 1).saturating_mul(limit);
        let since = self.clock.now_ms() - grace_days.max(0) * 86_400_000;
        Ok(self
            .db
            .members_of_creator(creator, since, limit, offset)
            .await?)
    }

    /// Cancels `user`'s membership of `creator`: it is not renewed and ends with its period.
    pub async fn cancel(&self, user: i64, creator: i64) -> Result<(), MembershipsError> {
        if self
            .db
            .cancel_membership(user, creator, self.clock.now_ms())
            .await?
        {
            Ok(())
        } else {
            Err(MembershipsError::NotFound)
        }
    }

    /// Checks an access level for content of `creator`: the columns to store.
    pub async fn check_access(
        &self,
        creator: i64,
        a: &AccessInput,
    ) -> Result<(Level, Option<i64>, Option<i64>, Option<String>), MembershipsError> {
        match a.level.as_str() {
            "public" => Ok((Level::Public, None, None, None)),
            "members" => {
                if let Some(t) = a.tier_id {
                    self.db
                        .tier(t)
                        .await?
                        .filter(|x| x.creator_id == creator)
                        .ok_or_else(|| {
                            MembershipsError::Invalid(
                                "tier_id: not one of your tiers; leave it out for any member"
                                    .into(),
                            )
                        })?;
                }
                Ok((
                    Level::Members {
                        min_tier: a.tier_id,
                    },
                    a.tier_id,
                    None,
                    None,
                ))
            }
            "ppv" => {
                let price = check_price(
                    "price_minor",
                    a.price_minor.ok_or_else(|| {
                        MembershipsError::Invalid(
                            "price_minor: a pay-per-view price is required".into(),
                        )
                    })?,
                )?;
                let currency = check_currency("currency", a.currency.as_deref().unwrap_or("USD"))?;
                Ok((
                    Level::Ppv {
                        price_minor: price,
                        currency: currency.clone(),
                    },
                    None,
                    Some(price),
                    Some(currency),
                ))
            }
            _ => Err(MembershipsError::Invalid(format!(
                "level: must be one of {}",
                LEVELS.join(", ")
            ))),
        }
    }

    /// Sets the access level of a video `creator` owns (its row id).
    pub async fn set_video_access(
        &self,
        creator: i64,
        video_id: i64,
        a: &AccessInput,
    ) -> Result<(), MembershipsError> {
        let (level, tier, price, currency) = self.check_access(creator, a).await?;
        self.db
            .set_video_access(
                video_id,
                &AccessColumns {
                    access: level.name(),
                    tier_id: tier,
                    price_minor: price,
                    currency: currency.as_deref(),
                },
                self.clock.now_ms(),
            )
            .await?;
        Ok(())
    }

    /// Sets the access level of a source `creator` owns (its row id).
    pub async fn set_source_access(
        &self,
        creator: i64,
        source_id: i64,
        a: &AccessInput,
    ) -> Result<(), MembershipsError> {
        let (level, tier, price, currency) = self.check_access(creator, a).await?;
        self.db
            .set_source_access(
                source_id,
                &AccessColumns {
                    access: level.name(),
                    tier_id: tier,
                    price_minor: price,
                    currency: currency.as_deref(),
                },
                self.clock.now_ms(),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_mhcs_four_tiers() {
        let t = default_template();
        let prices: Vec<i64> = t.iter().map(|x| x.price_minor).collect();
        assert_eq!(prices, vec![500, 1500, 5000, 25000]);
        for x in &t {
            assert!(check_tier(x).is_ok(), "{}", x.name);
            assert!(!x.perks.is_empty());
        }
    }

    #[test]
    fn tiers_are_checked() {
        let ok = TierInput {
            name: " Gold ".into(),
            price_minor: 500,
            currency: "eur".into(),
            perks: vec!["A".into(), "A".into()],
            rank: None,
            active: true,
        };
        let (name, _, currency, perks) = check_tier(&ok).expect("valid");
        assert_eq!(
            (name.as_str(), currency.as_str(), perks.len()),
            ("Gold", "EUR", 1)
        );
        for bad in [
            TierInput {
                name: "".into(),
                ..ok.clone()
            },
            TierInput {
                price_minor: 99,
                ..ok.clone()
            },
            TierInput {
                price_minor: MAX_PRICE_MINOR + 1,
                ..ok.clone()
            },
            TierInput {
                currency: "EURO".into(),
                ..ok.clone()
            },
            TierInput {
                perks: vec!["x".repeat(MAX_PERK_CHARS + 1)],
                ..ok.clone()
            },
            TierInput {
                perks: vec!["p".into(); MAX_PERKS + 1],
                ..ok.clone()
            },
            TierInput {
                rank: Some(0),
                ..ok.clone()
            },
        ] {
            assert!(check_tier(&bad).is_err(), "{bad:?}");
        }
    }
}
