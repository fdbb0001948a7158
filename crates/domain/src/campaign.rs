//! UGC campaigns (SPEC §2.10): a brand's campaign moves through a fixed lifecycle, asks for
//! deliverables of known kinds, and licenses what it approves under usage rights with a term
//! and territories. This module holds the rules; the service stores and enforces them.
//!
//! The lifecycle:
//!
//! ```text
//! DRAFT ──publish──▶ PUBLISHED ──start──▶ ACTIVE ──work──▶ IN_PROGRESS ──complete──▶ COMPLETED
//!   ▲                   │
//!   └────unpublish──────┘        any state before COMPLETED ──cancel──▶ CANCELLED
//! ```
//!
//! - **DRAFT**: the brand is writing it; only the brand's members see it.
//! - **PUBLISHED**: creators find it and apply. Unpublishing takes it back to DRAFT, which is
//!   allowed only while no creator has been accepted (the service checks that).
//! - **ACTIVE**: at least one creator is accepted; applications may still come.
//! - **IN_PROGRESS**: deliverables are being submitted and reviewed.
//! - **COMPLETED** and **CANCELLED** are final.

use std::fmt;

/// Where a campaign is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CampaignStatus {
    /// Being written; visible to the brand only.
    Draft,
    /// Open: creators find it and apply.
    Published,
    /// A creator is accepted.
    Active,
    /// Deliverables are being submitted and reviewed.
    InProgress,
    /// Done; final.
    Completed,
    /// Called off; final. Whatever is escrowed and not yet released goes back to the brand.
    Cancelled,
}

impl CampaignStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 6] = [
        Self::Draft,
        Self::Published,
        Self::Active,
        Self::InProgress,
        Self::Completed,
        Self::Cancelled,
    ];

    /// The name stored and shown (`DRAFT`, `IN_PROGRESS`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Published => "PUBLISHED",
            Self::Active => "ACTIVE",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Parses a stored or requested name, in any letter case.
    pub fn parse(raw: &str) -> Result<Self, String> {
        by_name(Self::ALL, Self::as_str, raw, "status", "status")
    }

    /// No transition leaves this status.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// The statuses this one may move to, in lifecycle order.
    pub fn next(self) -> &'static [Self] {
        use CampaignStatus::*;
        match self {
            Draft => &[Published, Cancelled],
            Published => &[Draft, Active, Cancelled],
            Active => &[InProgress, Cancelled],
            InProgress => &[Completed, Cancelled],
            Completed | Cancelled => &[],
        }
    }

    /// Checks the move from `self` to `to`; the error says why it is refused and what is
    /// allowed instead.
    pub fn transition(self, to: Self) -> Result<Self, TransitionError> {
        if self.next().contains(&to) {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }
}

impl fmt::Display for CampaignStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A move the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionError {
    /// Where the campaign is.
    pub from: CampaignStatus,
    /// Where it was asked to go.
    pub to: CampaignStatus,
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { from, to } = *self;
        let instead = from
            .next()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" or ");
        match (from.is_final(), from == to) {
            (true, true) => write!(f, "the campaign is already {from}, which is final"),
            (true, false) => {
                write!(
                    f,
                    "the campaign is {from}, which is final: it cannot become {to}"
                )
            }
            (false, true) => write!(
                f,
                "the campaign is already {from}; from {from} it can become {instead}"
            ),
            (false, false) => write!(
                f,
                "{} {from} campaign cannot become {to}; from {from} it can become {instead}",
                if matches!(from, CampaignStatus::Active | CampaignStatus::InProgress) {
                    "an"
                } else {
                    "a"
                }
            ),
        }
    }
}

impl std::error::Error for TransitionError {}

/// The one of `all` whose name is `raw` (in any letter case, spaces around ignored); the error
/// names the field, quotes what was given (at most 40 characters) and lists the names.
pub(crate) fn by_name<T: Copy, const N: usize>(
    all: [T; N],
    name: fn(T) -> &'static str,
    raw: &str,
    field: &str,
    what: &str,
) -> Result<T, String> {
    all.into_iter()
        .find(|&t| name(t).eq_ignore_ascii_case(raw.trim()))
        .ok_or_else(|| {
            format!(
                "{field}: unknown {what} \"{}\"; use one of {}",
                raw.chars().take(40).collect::<String>(),
                all.map(name).join(", ")
            )
        })
}

/// What kind of campaign a brand runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CampaignType {
    /// Content the brand uses in its own channels.
    Ugc,
    /// A creator represents the brand over time.
    BrandAmbassador,
    /// A creator reviews a product.
    ProductReview,
    /// A creator promotes to their own audience.
    Influencer,
    /// Coverage of an event.
    Event,
}

impl CampaignType {
    /// Every type.
    pub const ALL: [Self; 5] = [
        Self::Ugc,
        Self::BrandAmbassador,
        Self::ProductReview,
        Self::Influencer,
        Self::Event,
    ];

    /// The stored name (`ugc`, `brand_ambassador`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ugc => "ugc",
            Self::BrandAmbassador => "brand_ambassador",
            Self::ProductReview => "product_review",
            Self::Influencer => "influencer",
            Self::Event => "event",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(raw: &str) -> Result<Self, String> {
        by_name(Self::ALL, Self::as_str, raw, "type", "campaign type")
    }
}

/// What a creator delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliverableType {
    /// A video file.
    Video,
    /// A still image.
    Image,
    /// A short vertical story.
    Story,
    /// A short vertical video.
    Reel,
    /// A social post.
    Post,
    /// A written article.
    Article,
    /// A product review.
    Review,
}

impl DeliverableType {
    /// Every type.
    pub const ALL: [Self; 7] = [
        Self::Video,
        Self::Image,
        Self::Story,
        Self::Reel,
        Self::Post,
        Self::Article,
        Self::Review,
    ];

    /// The stored name (`video`, `reel`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Image => "image",
            Self::Story => "story",
            Self::Reel => "reel",
            Self::Post => "post",
            Self::Article => "article",
            Self::Review => "review",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(raw: &str) -> Result<Self, String> {
        by_name(Self::ALL, Self::as_str, raw, "type", "deliverable type")
    }

    /// Whether approval needs the creator's disclosure of the paid relationship (the FTC's
    /// Endorsement Guides, 16 CFR 255): every type a creator publishes to an audience as their
    /// own. A bare image is an asset for the brand's channels, where the brand speaks for
    /// itself.
    pub fn needs_disclosure(self) -> bool {
        !matches!(self, Self::Image)
    }
}

/// Shortest disclosure accepted (characters).
pub const MIN_DISCLOSURE_CHARS: usize = 3;
/// Longest disclosure accepted (characters).
pub const MAX_DISCLOSURE_CHARS: usize = 280;

/// Characters a line of text does not hold: controls, line and paragraph separators, and the
/// bidirectional embeddings, overrides and isolates that make text read other than it is.
fn breaks_a_line(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The disclosure a deliverable carries on approval, where its type needs one: 3 to 280
/// characters on one line (`#ad`, "Paid partnership with …").
pub fn disclosure(kind: DeliverableType, raw: Option<&str>) -> Result<Option<String>, String> {
    let text = raw.map(str::trim).filter(|t| !t.is_empty());
    match text {
        None if kind.needs_disclosure() => Err(format!(
            "disclosure: {} deliverables need the creator's disclosure of the paid partnership (such as \"#ad\" or \"Paid partnership with the brand\") before they are approved",
            kind.as_str()
        )),
        None => Ok(None),
        Some(t) if t.chars().any(breaks_a_line) => Err(
            "disclosure: one line of text, without control or text-direction characters".into(),
        ),
        Some(t) if !(MIN_DISCLOSURE_CHARS..=MAX_DISCLOSURE_CHARS).contains(&t.chars().count()) => {
            Err(format!(
                "disclosure: {MIN_DISCLOSURE_CHARS} to {MAX_DISCLOSURE_CHARS} characters"
            ))
        }
        Some(t) => Ok(Some(t.to_string())),
    }
}

/// How the brand may use an approved deliverable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageRights {
    /// Only the brand may use it, for the term if one is set.
    Exclusive {
        /// End of the licence (Unix ms); `None`: no end.
        until_ms: Option<i64>,
    },
    /// The brand may use it; the creator may license it to others too.
    NonExclusive {
        /// End of the licence (Unix ms); `None`: no end.
        until_ms: Option<i64>,
    },
    /// For a term and in the named territories only.
    Limited {
        /// End of the licence (Unix ms).
        until_ms: i64,
        /// ISO 3166-1 alpha-2 codes, upper case, sorted, at least one.
        territories: Vec<String>,
    },
    /// For ever, everywhere.
    Perpetual,
}

/// Why a use of a deliverable is not licensed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RightsRefusal {
    /// The term ended.
    Expired {
        /// When it ended (Unix ms).
        until_ms: i64,
    },
    /// The viewer's territory is outside the licence.
    Territory {
        /// Where the use is.
        territory: String,
        /// Where the licence holds.
        allowed: Vec<String>,
    },
    /// A limited licence and the territory of the use is unknown.
    UnknownTerritory,
}

impl fmt::Display for RightsRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expired { until_ms } => write!(
                f,
                "the brand's licence to this content ended at {}; the creator can grant a new one",
                crate::time::rfc3339_ms(*until_ms)
            ),
            Self::Territory { territory, allowed } => write!(
                f,
                "the brand's licence to this content does not cover {territory}; it covers {}",
                allowed.join(", ")
            ),
            Self::UnknownTerritory => f.write_str(
                "the brand's licence to this content holds in named territories only, and this request's territory is not known",
            ),
        }
    }
}

impl UsageRights {
    /// The stored name of the kind (`exclusive`, `non_exclusive`, `limited`, `perpetual`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Exclusive { .. } => "exclusive",
            Self::NonExclusive { .. } => "non_exclusive",
            Self::Limited { .. } => "limited",
            Self::Perpetual => "perpetual",
        }
    }

    /// Builds rights from a request: `kind` (`exclusive`, `non_exclusive`, `limited`,
    /// `perpetual`), an optional end (`until_ms`, in the future; required for `limited`, refused
    /// for `perpetual`) and territories (required for `limited` and refused otherwise; two-letter
    /// codes, at most 250 different ones).
    pub fn from_parts(
        kind: &str,
        until_ms: Option<i64>,
        territories: &[String],
        now_ms: i64,
    ) -> Result<Self, String> {
        let kind = match kind.trim().to_ascii_lowercase().as_str() {
            k @ ("exclusive" | "non_exclusive" | "limited" | "perpetual") => k.to_string(),
            _ => {
                return Err("kind: use one of exclusive, non_exclusive, limited, perpetual".into())
            }
        };
        if kind == "perpetual" && until_ms.is_some() {
            return Err(
                "until: a perpetual licence has no end; choose exclusive or non_exclusive with an end"
                    .into(),
            );
        }
        if until_ms.is_some_and(|t| t <= now_ms) {
            return Err("until: the licence's end must be in the future".into());
        }
        if kind != "limited" && !territories.is_empty() {
            return Err(format!(
                "territories: only a limited licence names territories; {} {kind} licence holds everywhere",
                if kind == "exclusive" { "an" } else { "a" }
            ));
        }
        match kind.as_str() {
            "exclusive" => Ok(Self::Exclusive { until_ms }),
            "non_exclusive" => Ok(Self::NonExclusive { until_ms }),
            "perpetual" => Ok(Self::Perpetual),
            _ => {
                let until_ms =
                    until_ms.ok_or("until: a limited licence needs the end of its term")?;
                if territories.is_empty() {
                    return Err(
                        "territories: a limited licence names where it holds (two-letter country codes such as US, GB)"
                            .into(),
                    );
                }
                let mut codes = territories
                    .iter()
                    .map(|t| territory(t))
                    .collect::<Result<Vec<_>, _>>()?;
                codes.sort();
                codes.dedup();
                if codes.len() > 250 {
                    return Err("territories: at most 250".into());
                }
                Ok(Self::Limited {
                    until_ms,
                    territories: codes,
                })
            }
        }
    }

    /// The end of the licence, if it has one.
    pub fn until_ms(&self) -> Option<i64> {
        match self {
            Self::Exclusive { until_ms } | Self::NonExclusive { until_ms } => *until_ms,
            Self::Limited { until_ms, .. } => Some(*until_ms),
            Self::Perpetual => None,
        }
    }

    /// Whether the brand may use the content at `now_ms` in `territory` (ISO 3166-1 alpha-2,
    /// if known).
    pub fn permits(&self, now_ms: i64, territory: Option<&str>) -> Result<(), RightsRefusal> {
        if let Some(until_ms) = self.until_ms() {
            if now_ms >= until_ms {
                return Err(RightsRefusal::Expired { until_ms });
            }
        }
        if let Self::Limited { territories, .. } = self {
            let Some(here) = territory.and_then(|t| self::territory(t).ok()) else {
                return Err(RightsRefusal::UnknownTerritory);
            };
            if !territories.contains(&here) {
                return Err(RightsRefusal::Territory {
                    territory: here,
                    allowed: territories.clone(),
                });
            }
        }
        Ok(())
    }
}

/// A territory: two ASCII letters, as ISO 3166-1 alpha-2 country codes are, returned upper
/// case (whether the code is assigned is not checked).
pub fn territory(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if t.len() == 2 && t.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(t.to_ascii_uppercase())
    } else {
        Err(format!(
            "territories: \"{}\" is not a two-letter country code (ISO 3166-1 alpha-2) such as US or GB",
            t.chars().take(20).collect::<String>()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use CampaignStatus::*;

    /// The lifecycle as the issue and SPEC state it, written out edge by edge, apart from the
    /// module's table.
    fn allowed(from: CampaignStatus, to: CampaignStatus) -> bool {
        matches!(
            (from, to),
            (Draft, Published)
                | (Published, Draft)
                | (Published, Active)
                | (Active, InProgress)
                | (InProgress, Completed)
                | (Draft | Published | Active | InProgress, Cancelled)
        )
    }

    proptest! {
        /// Random sequences of requested moves: each is allowed exactly when the written-out
        /// graph has the edge, a refused move leaves the status where it was, and a final
        /// status refuses everything.
        #[test]
        fn random_transition_sequences_follow_the_graph(moves in prop::collection::vec(0usize..6, 0..60)) {
            let mut status = Draft;
            for m in moves {
                let to = CampaignStatus::ALL[m];
                match status.transition(to) {
                    Ok(next) => {
                        prop_assert!(allowed(status, to), "{status} → {to} was allowed");
                        prop_assert_eq!(next, to);
                        status = next;
                    }
                    Err(e) => {
                        prop_assert!(!allowed(status, to), "{status} → {to} was refused");
                        prop_assert_eq!(e, TransitionError { from: status, to });
                        let message = e.to_string();
                        prop_assert!(message.contains(to.as_str()), "{message}");
                        if status.is_final() {
                            prop_assert!(message.contains("final"), "{message}");
                        }
                    }
                }
            }
        }

        #[test]
        fn names_round_trip_in_any_case(i in 0usize..6, lower in any::<bool>()) {
            let s = CampaignStatus::ALL[i];
            let name = if lower { s.as_str().to_ascii_lowercase() } else { s.as_str().to_string() };
            prop_assert_eq!(CampaignStatus::parse(&name), Ok(s));
        }
    }

    #[test]
    fn refusals_say_what_is_allowed_instead() {
        let e = Draft
            .transition(Completed)
            .expect_err("refused")
            .to_string();
        assert_eq!(
            e,
            "a DRAFT campaign cannot become COMPLETED; from DRAFT it can become PUBLISHED or CANCELLED"
        );
        assert_eq!(
            Cancelled
                .transition(Active)
                .expect_err("refused")
                .to_string(),
            "the campaign is CANCELLED, which is final: it cannot become ACTIVE"
        );
        assert_eq!(
            Active.transition(Active).expect_err("refused").to_string(),
            "the campaign is already ACTIVE; from ACTIVE it can become IN_PROGRESS or CANCELLED"
        );
        assert_eq!(
            Active.transition(Draft).expect_err("refused").to_string(),
            "an ACTIVE campaign cannot become DRAFT; from ACTIVE it can become IN_PROGRESS or CANCELLED"
        );
        assert_eq!(CampaignStatus::parse("  in_progress "), Ok(InProgress));
        assert!(CampaignStatus::parse("LIVE")
            .expect_err("refused")
            .contains("DRAFT, PUBLISHED, ACTIVE, IN_PROGRESS, COMPLETED, CANCELLED"));
    }

    #[test]
    fn the_types_parse_and_disclosure_is_asked_where_it_is_needed() {
        for t in DeliverableType::ALL {
            assert_eq!(DeliverableType::parse(t.as_str()), Ok(t));
            let refused = disclosure(t, None);
            assert_eq!(refused.is_err(), t != DeliverableType::Image, "{t:?}");
        }
        for t in CampaignType::ALL {
            assert_eq!(CampaignType::parse(&t.as_str().to_uppercase()), Ok(t));
        }
        assert!(disclosure(DeliverableType::Reel, None)
            .expect_err("refused")
            .contains("reel deliverables need the creator's disclosure"));
        assert_eq!(
            disclosure(DeliverableType::Reel, Some("  #ad ")),
            Ok(Some("#ad".into()))
        );
        assert!(disclosure(DeliverableType::Post, Some("#a\nd")).is_err());
        assert!(disclosure(DeliverableType::Post, Some("ad")).is_err());
        assert!(disclosure(DeliverableType::Post, Some(&"x".repeat(281))).is_err());
        // Characters, not bytes: 280 two-byte characters are the longest accepted.
        assert_eq!(
            disclosure(DeliverableType::Post, Some(&"é".repeat(280))),
            Ok(Some("é".repeat(280)))
        );
        assert!(disclosure(DeliverableType::Post, Some(&"é".repeat(281))).is_err());
        for sneaky in ["#a\u{2028}d", "\u{202E}da#", "paid\u{2069} ad"] {
            assert!(
                disclosure(DeliverableType::Post, Some(sneaky)).is_err(),
                "{sneaky:?}"
            );
        }
        assert_eq!(disclosure(DeliverableType::Image, Some("  ")), Ok(None));
    }

    #[test]
    fn a_limited_licence_holds_for_its_term_and_territories() {
        let now = 1_780_000_000_000;
        let day = 86_400_000;
        let rights = UsageRights::from_parts(
            "limited",
            Some(now + 30 * day),
            &["us".into(), "GB".into(), "US".into()],
            now,
        )
        .expect("accepted");
        assert_eq!(
            rights,
            UsageRights::Limited {
                until_ms: now + 30 * day,
                territories: vec!["GB".into(), "US".into()]
            }
        );
        assert_eq!(rights.permits(now, Some("us")), Ok(()));
        assert_eq!(rights.permits(now, Some(" gb ")), Ok(()));
        assert_eq!(
            rights.permits(now, Some("FR")),
            Err(RightsRefusal::Territory {
                territory: "FR".into(),
                allowed: vec!["GB".into(), "US".into()]
            })
        );
        assert_eq!(
            rights.permits(now, None),
            Err(RightsRefusal::UnknownTerritory)
        );
        // The instant the term ends, and after.
        for at in [now + 30 * day, now + 31 * day] {
            let refusal = rights.permits(at, Some("US")).expect_err("refused");
            assert_eq!(
                refusal,
                RightsRefusal::Expired {
                    until_ms: now + 30 * day
                }
            );
            assert!(refusal
                .to_string()
                .contains("licence to this content ended at"));
        }
        assert_eq!(
            UsageRights::from_parts("perpetual", None, &[], now)
                .expect("accepted")
                .permits(now + 10_000 * day, None),
            Ok(())
        );
        assert_eq!(
            UsageRights::from_parts("non_exclusive", Some(now + day), &[], now)
                .expect("accepted")
                .permits(now + day, Some("US")),
            Err(RightsRefusal::Expired {
                until_ms: now + day
            })
        );
    }

    #[test]
    fn licences_that_cannot_hold_are_refused_with_the_reason() {
        let now = 1_780_000_000_000;
        let refused = |kind: &str, until: Option<i64>, t: &[&str]| {
            UsageRights::from_parts(
                kind,
                until,
                &t.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                now,
            )
            .expect_err("refused")
        };
        assert!(refused("limited", None, &["US"]).contains("needs the end of its term"));
        assert!(refused("limited", Some(now + 1), &[]).contains("names where it holds"));
        assert!(
            refused("limited", Some(now + 1), &["USA"]).contains("not a two-letter country code")
        );
        assert!(refused("forever", None, &["US"]).contains("use one of"));
        assert!(refused("perpetual", Some(now - 1), &[]).contains("has no end"));
        assert!(
            refused("exclusive", None, &["US"]).contains("an exclusive licence holds everywhere")
        );
        // 251 names of one territory are one territory.
        let many = vec!["US".to_string(); 251];
        assert!(UsageRights::from_parts("limited", Some(now + 1), &many, now).is_ok());
        assert!(refused("exclusive", Some(now), &[]).contains("must be in the future"));
        assert!(refused("perpetual", Some(now + 1), &[]).contains("has no end"));
        assert!(refused("exclusive", None, &["US"]).contains("only a limited licence"));
        assert!(refused("forever", None, &[]).contains("use one of"));
    }
}
