//! Attribution of a brand's conversions to the touchpoints that came before them (SPEC §2.10):
//! which views and hotspot clicks of which creators' content earn the credit for a sale.
//!
//! A conversion of value `v` (minor units) is shared among the touchpoints of the same visitor
//! that happened no later than it and less than [`LOOKBACK_MS`] before it (the eligible ones):
//! - **first touch**: all of it to the earliest eligible touchpoint (of equally early ones, the
//!   one listed first);
//! - **last touch**: all of it to the latest (of equally late ones, the one listed last);
//! - **linear**: equal shares;
//! - **time decay**: shares weighted `2^(−age / half_life)`, `age` being the time from the
//!   touchpoint to the conversion (half-life [`DEFAULT_HALF_LIFE_MS`] unless set). The weights
//!   are taken relative to the newest eligible touchpoint (which weighs 1) and rounded to 32
//!   binary places, so the sharing is exact integer arithmetic however old a touchpoint is.
//!
//! Credits are whole minor units that add up to `v` exactly: each touchpoint gets the floor of
//! its exact share, and the units left over go one each to the largest remainders, ties to the
//! later touchpoint (the one nearer the sale; among equal times, the one listed later). A
//! negative value (a refund or chargeback) is shared the same way, into negative credits. A
//! conversion with no eligible touchpoint is credited to no one.

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
        match self {
            Self::TimeDecay { half_life_ms } if half_life_ms % 3_600_000 == 0 => {
                write!(f, "time_decay (half-life {} h)", half_life_ms / 3_600_000)
            }
            Self::TimeDecay { half_life_ms } => {
                write!(f, "time_decay (half-life {half_life_ms} ms)")
            }
            _ => f.write_str(self.as_str()),
        }
    }
}

/// Whether a touchpoint at `touch_ms` counts for a conversion at `conversion_ms`: no later
/// than it, and less than [`LOOKBACK_MS`] before it.
pub fn eligible(touch_ms: i64, conversion_ms: i64) -> bool {
    conversion_ms
        .checked_sub(touch_ms)
        .is_some_and(|age| (0..LOOKBACK_MS).contains(&age))
}

/// Binary places of the time-decay weights.
const WEIGHT_BITS: i32 = 32;

/// Shares a conversion of `value` minor units at `conversion_ms` among the touchpoints at
/// `touches_ms` (any order) under `model`: one credit per touchpoint, in the order given, 0 for
/// those not eligible; they add up to `value`, or are all 0 when none is eligible. A time-decay
/// half-life below 1 ms is taken as 1 ms.
pub fn credit(model: Model, touches_ms: &[i64], conversion_ms: i64, value: i64) -> Vec<i64> {
    let mut credits = vec![0i64; touches_ms.len()];
    // Eligible touchpoints, earliest first; among equal times, in the order given.
    let mut order: Vec<usize> = (0..touches_ms.len())
        .filter(|&i| eligible(touches_ms[i], conversion_ms))
        .collect();
    order.sort_by_key(|&i| (touches_ms[i], i));
    let Some(&newest) = order.last() else {
        return credits;
    };
    let n = order.len();
    let weights: Vec<u128> = match model {
        Model::FirstTouch => (0..n).map(|r| u128::from(r == 0)).collect(),
        Model::LastTouch => (0..n).map(|r| u128::from(r == n - 1)).collect(),
        Model::Linear => vec![1; n],
        Model::TimeDecay { half_life_ms } => {
            let half_life = half_life_ms.max(1) as f64;
            order
                .iter()
                .map(|&i| {
                    // Both are eligible, so the difference is below the lookback.
                    let behind = (touches_ms[newest] - touches_ms[i]) as f64;
                    ((-behind / half_life).exp2() * f64::from(WEIGHT_BITS).exp2()).round() as u128
                })
                .collect()
        }
    };
    // The newest weighs at least 1 under every model but first touch, where the first does.
    let total: u128 = weights.iter().sum();
    let magnitude = u128::from(value.unsigned_abs());
    let mut shares: Vec<u128> = weights.iter().map(|w| magnitude * w / total).collect();
    let left = magnitude - shares.iter().sum::<u128>();
    // Largest remainders first; ties to the later touchpoint.
    let mut by_remainder: Vec<usize> = (0..n).collect();
    by_remainder.sort_by(|&a, &b| {
        let (ra, rb) = (
            magnitude * weights[a] % total,
            magnitude * weights[b] % total,
        );
        rb.cmp(&ra).then(b.cmp(&a))
    });
    for &rank in by_remainder.iter().take(left as usize) {
        shares[rank] += 1;
    }
    for (&i, share) in order.iter().zip(shares) {
        // |share| ≤ |value|, so the signed credit fits.
        let share = share as i128;
        credits[i] = (if value < 0 { -share } else { share }) as i64;
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
    fn ties_boundaries_and_extremes() {
        let sale = 100 * D;
        let t = sale - D;
        // Equal times: first touch to the first listed, last touch and the leftover units to
        // the last listed.
        assert_eq!(credit(Model::FirstTouch, &[t, t], sale, 7), [7, 0]);
        assert_eq!(credit(Model::LastTouch, &[t, t], sale, 7), [0, 7]);
        assert_eq!(credit(Model::Linear, &[t, t], sale, 1), [0, 1]);
        assert_eq!(
            credit(
                Model::TimeDecay {
                    half_life_ms: DEFAULT_HALF_LIFE_MS
                },
                &[t, t],
                sale,
                1
            ),
            [0, 1]
        );
        // The lookback's last millisecond counts; its end does not.
        assert_eq!(
            credit(
                Model::Linear,
                &[sale - LOOKBACK_MS + 1, sale - LOOKBACK_MS],
                sale,
                5
            ),
            [5, 0]
        );
        // Touchpoints thousands of half-lives old still share the whole value, by their
        // weights relative to the newest: here the newer one takes all of it.
        assert_eq!(
            credit(
                Model::TimeDecay { half_life_ms: 1 },
                &[sale - 3000, sale - 2000],
                sale,
                500
            ),
            [0, 500]
        );
        assert_eq!(
            credit(
                Model::TimeDecay { half_life_ms: -5 },
                &[sale - 2 * D, sale - 2 * D - 1],
                sale,
                9
            ),
            [6, 3]
        );
        // Values far beyond f64's exact integers, and a touchpoint at the start of time.
        for value in [i64::MAX, i64::MIN, (1 << 60) + 1000] {
            for m in Model::ALL {
                let c = credit(
                    m,
                    &[i64::MIN, sale - 3 * D, sale - D, sale - D],
                    sale,
                    value,
                );
                assert_eq!(c[0], 0, "{m}");
                assert_eq!(
                    c.iter().map(|&x| i128::from(x)).sum::<i128>(),
                    i128::from(value),
                    "{m}"
                );
            }
        }
        // A refund is shared as a sale is, into negative credits.
        assert_eq!(
            credit(Model::Linear, &[t - D, t], sale, -10_001),
            [-5_000, -5_001]
        );
        assert_eq!(
            Model::TimeDecay {
                half_life_ms: 48 * H
            }
            .to_string(),
            "time_decay (half-life 48 h)"
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
            value in any::<i64>(),
            half_life_ms in 1i64..2000 * H,
        ) {
            let sale = 1_000 * D;
            let touches: Vec<i64> = ages.iter().map(|a| sale - a).collect();
            // Eligible, by the rule written out: from 0 to 30 days old, the end excluded.
            let counts = |age: i64| (0..30 * D).contains(&age);
            let any = ages.iter().any(|&a| counts(a));
            let mut models = Model::ALL.to_vec();
            models.push(Model::TimeDecay { half_life_ms });
            for m in models {
                let c = credit(m, &touches, sale, value);
                prop_assert_eq!(c.len(), touches.len());
                for (age, v) in ages.iter().zip(&c) {
                    let same_sign = if value < 0 { *v <= 0 } else { *v >= 0 };
                    prop_assert!(same_sign, "{} for {}", v, value);
                    if !counts(*age) {
                        prop_assert_eq!(*v, 0);
                    }
                }
                let sum: i128 = c.iter().map(|&x| i128::from(x)).sum();
                prop_assert_eq!(sum, if any { i128::from(value) } else { 0 }, "{}", m);
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
