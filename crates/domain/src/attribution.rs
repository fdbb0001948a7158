//! Attribution of a brand's conversions to the touchpoints that came before them (SPEC §2.10):
//! which views and hotspot clicks of which creators' content earn the credit for a sale.
//!
//! A conversion of value `v` (minor units) is shared among the touchpoints of the same visitor
//! that happened no later than it and within [`LOOKBACK_MS`] before it (the eligible ones):
//! - **first touch**: all of it to the earliest eligible touchpoint;
//! - **last touch**: all of it to the latest;
//! - **linear**: equal shares;
//! - **time decay**: shares weighted `2^(−age / half_life)`, `age` being the time from the
//!   touchpoint to the conversion (half-life [`DEFAULT_HALF_LIFE_MS`] unless set).
//!
//! Credits are whole minor units that add up to `v` exactly: each touchpoint gets the floor of
//! its exact share, and the units left over go one each to the largest fractional parts, ties
//! to the later touchpoint (the one nearer the sale; among equal times, the one listed later).
//! A conversion with no eligible touchpoint is credited to no one.

use std::fmt;

/// How far back from a conversion a touchpoint counts (ms): 30 days.
pub const LOOKBACK_MS: i64 = 30 * 86_400_000;
/// The time-decay model's half-life unless the report sets one (ms): 7 days.
pub const DEFAULT_HALF_LIFE_MS: i64 = 7 * 86_400_000;

/// An attribution model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// All credit to the earliest touchpoint.
    FirstTouch,
    /// All credit to the latest touchpoint.
    LastTouch,
    /// Equal credit to each touchpoint.
    Linear,
    /// Credit halving with each half-life of a touchpoint's age at the conversion.
    TimeDecay {
        /// Half-life (ms), positive.
        half_life_ms: i64,
    },
}

impl Model {
    /// The four models, time decay with its default half-life.
    pub const ALL: [Self; 4] = [
        Self::FirstTouch,
        Self::LastTouch,
        Self::Linear,
        Self::TimeDecay {
            half_life_ms: DEFAULT_HALF_LIFE_MS,
        },
    ];

    /// The name used in reports and requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstTouch => "first_touch",
            Self::LastTouch => "last_touch",
            Self::Linear => "linear",
            Self::TimeDecay { .. } => "time_decay",
        }
    }

    /// Parses a model's name; `half_life_hours` applies to time decay only (1 hour to 365
    /// days; default 7 days).
    pub fn parse(raw: &str, half_life_hours: Option<i64>) -> Result<Self, String> {
        let model = match raw.trim().to_ascii_lowercase().as_str() {
            "first_touch" => Self::FirstTouch,
            "last_touch" => Self::LastTouch,
            "linear" => Self::Linear,
            "time_decay" => Self::TimeDecay {
                half_life_ms: DEFAULT_HALF_LIFE_MS,
            },
            _ => {
                return Err("model: use one of first_touch, last_touch, linear, time_decay".into())
            }
        };
        match (model, half_life_hours) {
            (_, None) => Ok(model),
            (Self::TimeDecay { .. }, Some(h)) if (1..=365 * 24).contains(&h) => {
                Ok(Self::TimeDecay {
                    half_life_ms: h * 3_600_000,
                })
            }
            (Self::TimeDecay { .. }, Some(_)) => Err("half_life_hours: 1 to 8760 (a year)".into()),
            (_, Some(_)) => Err(format!(
                "half_life_hours: applies to time_decay only, not {}",
                model.as_str()
            )),
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a touchpoint at `touch_ms` counts for a conversion at `conversion_ms`.
pub fn eligible(touch_ms: i64, conversion_ms: i64) -> bool {
    touch_ms <= conversion_ms && conversion_ms - touch_ms < LOOKBACK_MS
}

/// Shares a conversion of `value` minor units (not negative) at `conversion_ms` among the
/// touchpoints at `touches_ms` (any order) under `model`: one credit per touchpoint, in the
/// order given, 0 for those not eligible; they add up to `value`, or are all 0 when none is
/// eligible.
pub fn credit(model: Model, touches_ms: &[i64], conversion_ms: i64, value: i64) -> Vec<i64> {
    let mut credits = vec![0i64; touches_ms.len()];
    let value = value.max(0);
    // Eligible touchpoints, earliest first; among equal times, in the order given.
    let mut order: Vec<usize> = (0..touches_ms.len())
        .filter(|&i| eligible(touches_ms[i], conversion_ms))
        .collect();
    order.sort_by_key(|&i| (touches_ms[i], i));
    let (Some(&first), Some(&last)) = (order.first(), order.last()) else {
        return credits;
    };
    match model {
        Model::FirstTouch => credits[first] = value,
        Model::LastTouch => credits[last] = value,
        Model::Linear => {
            let n = order.len() as i64;
            let (each, left) = (value / n, value % n);
            for (rank, &i) in order.iter().enumerate() {
                // The units left over go to the latest `left` touchpoints.
                credits[i] = each + i64::from((rank as i64) >= n - left);
            }
        }
        Model::TimeDecay { half_life_ms } => {
            let half_life = half_life_ms.max(1) as f64;
            let weights: Vec<f64> = order
                .iter()
                .map(|&i| (-((conversion_ms - touches_ms[i]) as f64) / half_life).exp2())
                .collect();
            let total: f64 = weights.iter().sum();
            let exact: Vec<f64> = weights.iter().map(|w| value as f64 * w / total).collect();
            let mut given = 0i64;
            for (&i, share) in order.iter().zip(&exact) {
                credits[i] = share.floor() as i64;
                given += credits[i];
            }
            // Largest fractional parts first; ties to the later touchpoint.
            let mut by_fraction: Vec<usize> = (0..order.len()).collect();
            by_fraction.sort_by(|&a, &b| {
                let (fa, fb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
                fb.total_cmp(&fa).then(b.cmp(&a))
            });
            for &rank in by_fraction.iter().take((value - given).max(0) as usize) {
                credits[order[rank]] += 1;
            }
        }
    }
    credits
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: i64 = 3_600_000;
    const D: i64 = 24 * H;

    #[test]
    fn each_model_on_a_worked_example() {
        // Three touchpoints 14, 7 and 0 days before a 10,000-unit sale, listed out of order,
        // and one 31 days before (outside the lookback) and one after the sale.
        let sale = 100 * D;
        let touches = [sale - 7 * D, sale - 31 * D, sale - 14 * D, sale, sale + H];
        let c = |m| credit(m, &touches, sale, 10_000);
        assert_eq!(c(Model::FirstTouch), [0, 0, 10_000, 0, 0]);
        assert_eq!(c(Model::LastTouch), [0, 0, 0, 10_000, 0]);
        // 3,333.33 each; the unit left over goes to the latest.
        assert_eq!(c(Model::Linear), [3_333, 0, 3_333, 3_334, 0]);
        // Weights 1/2, 1/4 and 1 of 7/4: 2,857.14, 1,428.57, 5,714.29. Floors sum to 9,999;
        // the largest fraction (.57) gets the unit.
        assert_eq!(
            c(Model::TimeDecay {
                half_life_ms: 7 * D
            }),
            [2_857, 0, 1_429, 5_714, 0]
        );
    }

    #[test]
    fn nothing_eligible_credits_no_one() {
        for m in Model::ALL {
            assert_eq!(credit(m, &[], 0, 500), Vec::<i64>::new());
            assert_eq!(credit(m, &[10, -LOOKBACK_MS], 0, 500), [0, 0]);
        }
    }

    #[test]
    fn names_and_half_lives_parse() {
        for m in Model::ALL {
            assert_eq!(Model::parse(m.as_str(), None), Ok(m));
        }
        assert_eq!(
            Model::parse("TIME_DECAY", Some(48)),
            Ok(Model::TimeDecay {
                half_life_ms: 48 * H
            })
        );
        assert!(Model::parse("linear", Some(48))
            .expect_err("refused")
            .contains("time_decay only"));
        assert!(Model::parse("time_decay", Some(0)).is_err());
        assert!(Model::parse("u_shaped", None)
            .expect_err("refused")
            .contains("use one of"));
    }

    proptest! {
        /// Under every model the credits are whole, not negative, zero where not eligible,
        /// and add up to the value exactly when anything is eligible.
        #[test]
        fn credits_add_up_to_the_value(
            ages in prop::collection::vec(-2 * D..40 * D, 0..12),
            value in 0i64..10_000_000,
            half_life_hours in 1i64..2000,
        ) {
            let sale = 1_000 * D;
            let touches: Vec<i64> = ages.iter().map(|a| sale - a).collect();
            let any = touches.iter().any(|&t| eligible(t, sale));
            let mut models = Model::ALL.to_vec();
            models.push(Model::TimeDecay { half_life_ms: half_life_hours * H });
            for m in models {
                let c = credit(m, &touches, sale, value);
                prop_assert_eq!(c.len(), touches.len());
                for (t, v) in touches.iter().zip(&c) {
                    prop_assert!(*v >= 0);
                    if !eligible(*t, sale) {
                        prop_assert_eq!(*v, 0);
                    }
                }
                prop_assert_eq!(c.iter().sum::<i64>(), if any { value } else { 0 }, "{}", m);
            }
        }

        /// Time decay never gives an older touchpoint more than a newer one, beyond the one
        /// unit of rounding.
        #[test]
        fn time_decay_favours_the_recent(
            ages in prop::collection::vec(0..29 * D, 2..10),
            value in 0i64..1_000_000,
        ) {
            let sale = 1_000 * D;
            let touches: Vec<i64> = ages.iter().map(|a| sale - a).collect();
            let c = credit(Model::TimeDecay { half_life_ms: DEFAULT_HALF_LIFE_MS }, &touches, sale, value);
            for i in 0..touches.len() {
                for j in 0..touches.len() {
                    if touches[i] < touches[j] {
                        prop_assert!(c[i] <= c[j] + 1, "{:?} {:?}", touches, c);
                    }
                }
            }
        }
    }
}
