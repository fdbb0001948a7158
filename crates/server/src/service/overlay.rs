//! What creators' overlays (OBS browser sources) and sockets receive: a tip's alert and a
//! goal's progress. Plain data, shared by the realtime events and the tips and goals adapters.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A tip alert as overlays and the creator's sockets receive it (`tip` over SSE, `tip-alert`
/// over Socket.IO).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TipAlert {
    /// The purchase's id (`test-…` for a test alert).
    pub id: String,
    /// The name the tipper chose to show (their display name when they chose none).
    pub name: String,
    /// The amount, in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The amount as people read it (`$5.00`, `₹500.00`).
    pub amount: String,
    /// The tipper's message ("" when none).
    pub message: String,
    /// When it was paid (RFC 3339).
    pub paid_at: String,
    /// A test alert the creator sent from their dashboard (no money moved).
    pub test: bool,
}

/// A goal as its creator, its viewers and its overlay see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GoalView {
    /// Its id.
    pub id: String,
    /// What it is for.
    pub title: String,
    /// The amount to raise, in minor units (cents).
    pub target_minor: i64,
    /// Raised so far, in minor units: the creator's tips and memberships paid in this currency
    /// since the goal started.
    pub raised_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Paid tips and memberships counted.
    pub contributions: i64,
    /// Raised as a share of the target, 0 to 100 (whole percent, rounded down; 100 once
    /// reached, even when exceeded).
    pub percent: u8,
    /// When it started counting (RFC 3339).
    pub starts_at: String,
    /// When it stops counting (RFC 3339), if it has a deadline.
    pub deadline: Option<String>,
    /// When its creator ended it (RFC 3339).
    pub ended_at: Option<String>,
    /// Whether it still counts.
    pub open: bool,
}
