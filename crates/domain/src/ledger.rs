//! The ledger's rules: its accounts, and how one income is divided between tax, the platform's
//! fee and the creators who share it. Pure arithmetic on integer minor units; the database
//! (`ferrocast_db::ledger`) posts what these functions compute.
//!
//! Sign convention: an entry adds to the account it names, and a transaction's entries sum to
//! zero. An account's balance is what it holds: a creator's balance is what the platform owes
//! them; money from outside enters through a `gateway:*` account, which therefore goes negative
//! by what the gateway collected; a payout leaves through `payouts:paid`.

/// Basis points in a whole (100 %).
pub const WHOLE_BPS: i64 = 10_000;

/// Account names.
pub mod account {
    /// The platform's fees (income of the operator).
    pub const PLATFORM_FEES: &str = "platform:fees";
    /// The operator's plan revenue (subscriptions to ferrocast's plans).
    pub const PLATFORM_PLANS: &str = "platform:plans";
    /// Payouts requested and not yet paid (owed to the creator, set aside).
    pub const PAYOUTS_IN_FLIGHT: &str = "payouts:in_flight";
    /// Payouts paid out (money that left the platform to creators).
    pub const PAYOUTS_PAID: &str = "payouts:paid";

    /// What the platform owes creator `user_id`.
    pub fn creator(user_id: i64) -> String {
        format!("creator:{user_id}")
    }

    /// Tax collected for `country` (ISO 3166 alpha-2, upper case).
    pub fn tax(country: &str) -> String {
        format!("tax:{}", country.to_ascii_uppercase())
    }

    /// Money collected through `provider` (`stripe`, `razorpay`, `epayco`).
    pub fn gateway(provider: &str) -> String {
        format!("gateway:{provider}")
    }

    /// What a brand paid into campaign `campaign_id` and is not yet released to creators or
    /// refunded.
    pub fn escrow(campaign_id: i64) -> String {
        format!("escrow:campaign:{campaign_id}")
    }
}

/// One share of a split: `user_id` receives `bps` of ten thousand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Who.
    pub user_id: i64,
    /// Basis points (1..=10000).
    pub bps: i64,
}

/// Most shares in one split.
pub const MAX_SPLITS: usize = 20;

/// Checks a split: 1 to [`MAX_SPLITS`] shares, each positive, each person once, summing to
/// 100 %. The message says what is wrong.
pub fn validate_splits(splits: &[Split]) -> Result<(), String> {
    if splits.is_empty() {
        return Err("a split needs at least one share".into());
    }
    if splits.len() > MAX_SPLITS {
        return Err(format!("a split has at most {MAX_SPLITS} shares"));
    }
    let mut total = 0i64;
    for (i, s) in splits.iter().enumerate() {
        if s.bps <= 0 || s.bps > WHOLE_BPS {
            return Err(format!(
                "share {} must be between 0.01 % and 100 % (got {} bps)",
                i + 1,
                s.bps
            ));
        }
        if splits[..i].iter().any(|o| o.user_id == s.user_id) {
            return Err(format!("share {}: each person appears once", i + 1));
        }
        total += s.bps;
    }
    if total != WHOLE_BPS {
        return Err(format!(
            "shares must sum to 100 % (they sum to {}.{:02} %)",
            total / 100,
            total % 100
        ));
    }
    Ok(())
}

/// The tax included in `amount` at `rate_bps` (prices include tax): `amount × r / (1 + r)`,
/// rounded half up.
pub fn tax_included(amount: i64, rate_bps: i64) -> i64 {
    if amount <= 0 || rate_bps <= 0 {
        return 0;
    }
    let num = i128::from(amount) * i128::from(rate_bps);
    let den = i128::from(WHOLE_BPS) + i128::from(rate_bps);
    ((num * 2 + den) / (den * 2)) as i64
}

/// `part` of `whole` at `bps`, rounded half up.
pub fn share(whole: i64, bps: i64) -> i64 {
    let num = i128::from(whole) * i128::from(bps);
    let den = i128::from(WHOLE_BPS);
    ((num * 2 + den) / (den * 2)) as i64
}

/// How one income is divided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Division {
    /// Tax included in the amount.
    pub tax: i64,
    /// The platform's fee.
    pub fee: i64,
    /// Each creator's share, in the split's order; the first takes the rounding remainder.
    pub shares: Vec<(i64, i64)>,
}

/// Divides `amount` (tax included, `tax` of it) between the platform's fee (`fee_bps` of what
/// is left after tax) and the split's shares (`splits`, checked with [`validate_splits`];
/// empty: all to `owner`). The parts sum to `amount` exactly; rounding goes to the first share.
pub fn divide_income(
    amount: i64,
    tax: i64,
    fee_bps: i64,
    owner: i64,
    splits: &[Split],
) -> Division {
    let tax = tax.clamp(0, amount.max(0));
    let net = amount - tax;
    let fee = share(net, fee_bps.clamp(0, WHOLE_BPS)).min(net);
    let rest = net - fee;
    let owned;
    let splits = if splits.is_empty() {
        owned = [Split {
            user_id: owner,
            bps: WHOLE_BPS,
        }];
        &owned[..]
    } else {
        splits
    };
    let mut shares: Vec<(i64, i64)> = splits
        .iter()
        .map(|s| {
            let floor = (i128::from(rest) * i128::from(s.bps) / i128::from(WHOLE_BPS)) as i64;
            (s.user_id, floor)
        })
        .collect();
    let given: i64 = shares.iter().map(|(_, a)| a).sum();
    if let Some(first) = shares.first_mut() {
        first.1 += rest - given;
    }
    Division { tax, fee, shares }
}

/// The part of an entry of `amount` that a partial reversal of `part` out of `total` takes,
/// so that reversing every entry of a balanced transaction this way stays balanced when the
/// caller gives the remainder to one entry ([`proportional`] does).
fn scaled(amount: i64, part: i64, total: i64) -> i64 {
    if total == 0 {
        return 0;
    }
    (i128::from(amount) * i128::from(part) / i128::from(total)) as i64
}

/// Scales balanced amounts (summing to zero) by `part / total`, keeping them balanced: each is
/// scaled toward zero, the largest-magnitude amount (the gateway's side of an income) scales
/// exactly when `total` is its magnitude, and the rounding difference goes to the largest
/// amount of the opposite sign. `part` is clamped to `0..=total`.
pub fn proportional(amounts: &[i64], part: i64, total: i64) -> Vec<i64> {
    let part = part.clamp(0, total.max(0));
    if part == total {
        return amounts.to_vec();
    }
    let mut out: Vec<i64> = amounts.iter().map(|&a| scaled(a, part, total)).collect();
    let drift: i64 = out.iter().sum();
    if drift != 0 {
        let largest = amounts
            .iter()
            .enumerate()
            .max_by_key(|(_, a)| a.unsigned_abs())
            .map(|(i, _)| i);
        if let Some(m) = largest {
            let sign = amounts[m].signum();
            let other = amounts
                .iter()
                .enumerate()
                .filter(|(_, a)| a.signum() == -sign)
                .max_by_key(|(_, a)| a.unsigned_abs())
                .map(|(i, _)| i);
            out[other.unwrap_or(m)] -= drift;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ten_percent_of_ten_dollars() {
        let d = divide_income(1000, 0, 1000, 7, &[]);
        assert_eq!(
            d,
            Division {
                tax: 0,
                fee: 100,
                shares: vec![(7, 900)]
            }
        );
    }

    #[test]
    fn tax_is_included() {
        // 20 % VAT included in 12.00 is 2.00.
        assert_eq!(tax_included(1200, 2000), 200);
        assert_eq!(tax_included(0, 2000), 0);
        let d = divide_income(1200, 200, 1000, 1, &[]);
        assert_eq!(d.fee, 100);
        assert_eq!(d.shares, vec![(1, 900)]);
    }

    #[test]
    fn split_remainder_goes_to_first() {
        let splits = [
            Split {
                user_id: 1,
                bps: 3334,
            },
            Split {
                user_id: 2,
                bps: 3333,
            },
            Split {
                user_id: 3,
                bps: 3333,
            },
        ];
        validate_splits(&splits).unwrap();
        let d = divide_income(100, 0, 0, 1, &splits);
        assert_eq!(d.shares.iter().map(|s| s.1).sum::<i64>(), 100);
        assert_eq!(d.shares[1].1, 33);
    }

    #[test]
    fn bad_splits_say_why() {
        assert!(validate_splits(&[]).is_err());
        let e = validate_splits(&[Split {
            user_id: 1,
            bps: 5000,
        }])
        .unwrap_err();
        assert!(e.contains("sum to 100 %"), "{e}");
        let e = validate_splits(&[
            Split {
                user_id: 1,
                bps: 5000,
            },
            Split {
                user_id: 1,
                bps: 5000,
            },
        ])
        .unwrap_err();
        assert!(e.contains("once"), "{e}");
    }

    proptest! {
        #[test]
        fn division_is_exact(amount in 1i64..10_000_000_000, rate in 0i64..5000, fee in 0i64..=10_000,
                             cuts in proptest::collection::vec(1i64..1000, 1..6)) {
            let total: i64 = cuts.iter().sum();
            let mut splits: Vec<Split> = cuts.iter().enumerate().map(|(i, c)| Split { user_id: i as i64 + 1, bps: c * WHOLE_BPS / total }).collect();
            let given: i64 = splits.iter().map(|s| s.bps).sum();
            splits[0].bps += WHOLE_BPS - given;
            prop_assume!(splits.iter().all(|s| s.bps > 0));
            let tax = tax_included(amount, rate);
            let d = divide_income(amount, tax, fee, 1, &splits);
            prop_assert_eq!(d.tax + d.fee + d.shares.iter().map(|s| s.1).sum::<i64>(), amount);
            prop_assert!(d.shares.iter().all(|s| s.1 >= 0));
            prop_assert!(d.fee >= 0 && d.tax >= 0);
        }

        #[test]
        fn partial_reversal_stays_balanced(a in 1i64..1_000_000, b in 0i64..1_000_000, part_pct in 0i64..=100) {
            let amounts = [-(a + b), a, b];
            let total = a + b;
            let part = total * part_pct / 100;
            let r = proportional(&amounts, part, total);
            prop_assert_eq!(r.iter().sum::<i64>(), 0);
            prop_assert_eq!(r[0], -part);
        }
    }
}
