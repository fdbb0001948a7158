//! Brands (SPEC §2.10): organisations that hire creators for campaigns. A brand has members
//! in three roles, a tier that bounds its seats, active campaigns and the creators it may
//! accept per campaign, and applications from creators that move through their own small
//! lifecycle. This module holds the rules; the service stores and enforces them.

use crate::campaign::by_name;
use serde::Deserialize;

/// What a member of a brand may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BrandRole {
    /// Reads the brand's campaigns, applicants and reports.
    Viewer,
    /// Also writes campaigns and decides on applications and deliverables.
    Manager,
    /// Also manages the brand's members and profile. Every brand keeps at least one.
    Owner,
}

impl BrandRole {
    /// Every role, least first.
    pub const ALL: [Self; 3] = [Self::Viewer, Self::Manager, Self::Owner];

    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Manager => "manager",
            Self::Owner => "owner",
        }
    }

    /// Parses a stored or requested name, in any letter case.
    pub fn parse(raw: &str) -> Result<Self, String> {
        by_name(Self::ALL, Self::as_str, raw, "role", "role")
    }

    /// Whether this role may do what `needed` may.
    pub fn can(self, needed: BrandRole) -> bool {
        self >= needed
    }
}

/// A brand tier: what a brand may have at once. `None` is unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandTier {
    /// Its name (`Free`, `Starter` …).
    pub name: String,
    /// Members at most.
    pub seats: Option<i64>,
    /// Campaigns past DRAFT and not yet COMPLETED or CANCELLED, at most.
    pub active_campaigns: Option<i64>,
    /// Creators accepted per campaign, at most.
    pub creators_per_campaign: Option<i64>,
    /// Storage for deliverables (MB), at most.
    pub storage_mb: Option<i64>,
    /// The tier of new brands.
    pub is_default: bool,
}

impl BrandTier {
    fn new(name: &str, seats: i64, campaigns: i64, creators: i64, storage_gb: i64) -> Self {
        let limit = |v: i64| (v >= 0).then_some(v);
        Self {
            name: name.to_string(),
            seats: limit(seats),
            active_campaigns: limit(campaigns),
            creators_per_campaign: limit(creators),
            storage_mb: limit(storage_gb).map(|g| g * 1024),
            is_default: name == "Free",
        }
    }
}

/// The tiers brands get when the plans file names none: NEXUS's five (`-1`: unlimited).
pub fn default_brand_tiers() -> Vec<BrandTier> {
    vec![
        BrandTier::new("Free", 1, 2, 5, 1),
        BrandTier::new("Starter", 3, 10, 25, 10),
        BrandTier::new("Growth", 10, 50, 100, 100),
        BrandTier::new("Pro", 25, -1, -1, 1024),
        BrandTier::new("Enterprise", -1, -1, -1, -1),
    ]
}

#[derive(Deserialize)]
struct FileRoot {
    #[serde(default)]
    brand_plans: Vec<FileTier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTier {
    name: String,
    seats: Option<i64>,
    active_campaigns: Option<i64>,
    creators_per_campaign: Option<i64>,
    storage_gb: Option<i64>,
    #[serde(default)]
    default: bool,
}

/// The brand tiers of a plans file's `[[brand_plans]]` entries, or the defaults when it has
/// none; the error names the entry and what is wrong. A limit left out is unlimited.
///
/// ```toml
/// [[brand_plans]]
/// name = "Free"
/// seats = 1
/// active_campaigns = 2
/// creators_per_campaign = 5
/// storage_gb = 1
/// default = true
/// ```
pub fn parse_brand_plans(text: &str) -> Result<Vec<BrandTier>, String> {
    let root: FileRoot = toml::from_str(text).map_err(|e| e.to_string())?;
    if root.brand_plans.is_empty() {
        return Ok(default_brand_tiers());
    }
    let mut out: Vec<BrandTier> = Vec::new();
    for t in root.brand_plans {
        let name = t.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 50 || name.chars().any(char::is_control) {
            return Err(format!(
                "brand plan name {:?} must be 1 to 50 characters",
                t.name
            ));
        }
        if out.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
            return Err(format!("brand plan {name:?} appears twice"));
        }
        let limits = [
            ("seats", t.seats, 1),
            ("active_campaigns", t.active_campaigns, 0),
            ("creators_per_campaign", t.creators_per_campaign, 1),
            ("storage_gb", t.storage_gb, 0),
        ];
        for (field, v, min) in limits {
            if v.is_some_and(|v| !(min..=1_000_000).contains(&v)) {
                return Err(format!(
                    "brand plan {name:?}: {field} must be a whole number from {min} to 1000000 (leave it out for no limit)"
                ));
            }
        }
        out.push(BrandTier {
            seats: t.seats,
            active_campaigns: t.active_campaigns,
            creators_per_campaign: t.creators_per_campaign,
            storage_mb: t.storage_gb.map(|g| g * 1024),
            is_default: t.default,
            name,
        });
    }
    match out.iter().filter(|t| t.is_default).count() {
        1 => Ok(out),
        n => Err(format!(
            "exactly one brand plan must have default = true (the tier of new brands); {n} do"
        )),
    }
}

/// Where a creator's application to a campaign is.
///
/// ```text
/// INVITED ──accept──▶ APPLIED ──▶ SHORTLISTED ──▶ ACCEPTED
///    │                   │  └──────────┴──────────▶ DECLINED (by the brand)
///    └──▶ DECLINED       └──────────┴──────────────▶ WITHDRAWN (by the creator)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApplicationStatus {
    /// The brand invited the creator, who has not answered.
    Invited,
    /// The creator applied (or accepted an invitation), with a pitch and a rate.
    Applied,
    /// The brand is considering it.
    Shortlisted,
    /// The brand hired the creator at their rate; final.
    Accepted,
    /// The brand said no, or the creator turned the invitation down; final.
    Declined,
    /// The creator took it back; final.
    Withdrawn,
}

impl ApplicationStatus {
    /// Every status.
    pub const ALL: [Self; 6] = [
        Self::Invited,
        Self::Applied,
        Self::Shortlisted,
        Self::Accepted,
        Self::Declined,
        Self::Withdrawn,
    ];

    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Applied => "applied",
            Self::Shortlisted => "shortlisted",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// Parses a stored or requested name, in any letter case.
    pub fn parse(raw: &str) -> Result<Self, String> {
        by_name(Self::ALL, Self::as_str, raw, "status", "application status")
    }

    /// No move leaves this status.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Accepted | Self::Declined | Self::Withdrawn)
    }

    /// What the brand may decide from here.
    pub fn brand_may(self, to: Self) -> bool {
        use ApplicationStatus::*;
        matches!(
            (self, to),
            (Applied, Shortlisted) | (Applied | Shortlisted, Accepted | Declined)
        )
    }

    /// What the creator may do from here.
    pub fn creator_may(self, to: Self) -> bool {
        use ApplicationStatus::*;
        matches!(
            (self, to),
            (Invited, Applied | Declined) | (Applied | Shortlisted, Withdrawn)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ranked() {
        assert!(BrandRole::Owner.can(BrandRole::Manager));
        assert!(BrandRole::Manager.can(BrandRole::Viewer));
        assert!(!BrandRole::Viewer.can(BrandRole::Manager));
        assert_eq!(BrandRole::parse(" Manager "), Ok(BrandRole::Manager));
        assert!(BrandRole::parse("admin").is_err_and(|e| e.contains("viewer, manager, owner")));
    }

    #[test]
    fn tiers_default_to_nexus_and_load_from_the_plans_file() {
        let d = parse_brand_plans("[[plans]]\nname = \"x\"\n").unwrap_or_default();
        assert_eq!(d, default_brand_tiers());
        assert_eq!(d[0].seats, Some(1));
        assert_eq!(d[4].seats, None);
        assert_eq!(d.iter().filter(|t| t.is_default).count(), 1);
        let t = parse_brand_plans(
            "[[brand_plans]]\nname = \"Solo\"\nseats = 2\ncreators_per_campaign = 3\ndefault = true\n",
        )
        .unwrap_or_default();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (
                t[0].seats,
                t[0].active_campaigns,
                t[0].creators_per_campaign
            ),
            (Some(2), None, Some(3))
        );
        for (bad, says) in [
            (
                "[[brand_plans]]\nname = \"A\"\nseats = 0\ndefault = true\n",
                "seats must be",
            ),
            ("[[brand_plans]]\nname = \"A\"\n", "exactly one brand plan"),
            (
                "[[brand_plans]]\nname = \"A\"\ndefault = true\n[[brand_plans]]\nname = \"a\"\n",
                "twice",
            ),
            (
                "[[brand_plans]]\nname = \"A\"\nseat = 1\ndefault = true\n",
                "unknown field",
            ),
        ] {
            assert!(
                parse_brand_plans(bad).is_err_and(|e| e.contains(says)),
                "{bad}"
            );
        }
    }

    #[test]
    fn applications_move_only_as_each_side_may() {
        use ApplicationStatus::*;
        for from in ApplicationStatus::ALL {
            for to in ApplicationStatus::ALL {
                if from.is_final() {
                    assert!(
                        !from.brand_may(to) && !from.creator_may(to),
                        "{from:?}→{to:?}"
                    );
                }
                // Nobody moves an application to where it is, or back to an invitation.
                if from == to || to == Invited {
                    assert!(
                        !from.brand_may(to) && !from.creator_may(to),
                        "{from:?}→{to:?}"
                    );
                }
            }
        }
        assert!(Applied.brand_may(Accepted) && Shortlisted.brand_may(Declined));
        assert!(
            !Invited.brand_may(Accepted),
            "an invitation is answered by the creator"
        );
        assert!(Invited.creator_may(Applied) && !Applied.creator_may(Accepted));
    }
}
