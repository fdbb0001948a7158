//! The currencies ferrocast sells in, and which one a user sees: their own choice, else a
//! guess from what their browser says of them (SPEC §2.5: "USD/INR chosen by user setting,
//! then request hints").

/// A currency plans are priced in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Currency {
    /// US dollars (cents).
    Usd,
    /// Indian rupees (paise).
    Inr,
}

impl Currency {
    /// Every currency, in the order a picker lists them.
    pub const ALL: [Currency; 2] = [Currency::Usd, Currency::Inr];

    /// The ISO 4217 code.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Inr => "INR",
        }
    }

    /// From an ISO code, any case.
    pub fn parse(code: &str) -> Option<Self> {
        match code.trim().to_ascii_uppercase().as_str() {
            "USD" => Some(Currency::Usd),
            "INR" => Some(Currency::Inr),
            _ => None,
        }
    }
}

/// Languages spoken mostly in India (ISO 639-1): a browser preferring one is most likely there.
const INDIAN_LANGUAGES: &[&str] = &[
    "hi", "bn", "te", "mr", "ta", "ur", "gu", "kn", "ml", "or", "pa", "as", "sa", "ne", "sd", "ks",
    "kok", "mai", "doi", "mni", "sat", "brx",
];

/// The currency an `Accept-Language` header (RFC 9110 §12.5.4) suggests: INR when the
/// language the browser prefers most is an Indian one or is used in India (`en-IN`, `hi`,
/// `ta-IN`), USD otherwise (and for a missing or unreadable header). Bounded: at most the
/// first 32 entries of at most 1 KiB are read.
pub fn from_accept_language(header: Option<&str>) -> Currency {
    let Some(header) = header.filter(|h| h.len() <= 1024) else {
        return Currency::Usd;
    };
    let mut best: Option<(f32, &str)> = None;
    for item in header.split(',').take(32) {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        if tag.is_empty() || tag == "*" {
            continue;
        }
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
            .filter(|q| (0.0..=1.0).contains(q) && *q > 0.0);
        let Some(q) = q else { continue };
        // The first of equal weights is the preferred one.
        if best.is_none_or(|(b, _)| q > b) {
            best = Some((q, tag));
        }
    }
    let Some((_, tag)) = best else {
        return Currency::Usd;
    };
    let mut subtags = tag.split(['-', '_']);
    let language = subtags.next().unwrap_or_default().to_ascii_lowercase();
    let in_india = subtags.any(|s| s.eq_ignore_ascii_case("in"));
    if in_india || INDIAN_LANGUAGES.contains(&language.as_str()) {
        Currency::Inr
    } else {
        Currency::Usd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in Currency::ALL {
            assert_eq!(Currency::parse(c.code()), Some(c));
        }
        assert_eq!(Currency::parse(" inr "), Some(Currency::Inr));
        assert_eq!(Currency::parse("EUR"), None);
    }

    #[test]
    fn india_from_the_preferred_language() {
        let inr = [
            "en-IN",
            "en-IN,en;q=0.9",
            "hi",
            "hi-IN,hi;q=0.9,en;q=0.8",
            "ta",
            "en;q=0.5, en-IN;q=0.9",
            "EN_in",
        ];
        for h in inr {
            assert_eq!(from_accept_language(Some(h)), Currency::Inr, "{h}");
        }
        let usd = [
            "en-US,en;q=0.9",
            "en-GB",
            "de-DE,hi;q=0.5",
            "*",
            "",
            "hi;q=0",
            "hi;q=abc, fr",
            "in",
        ];
        for h in usd {
            assert_eq!(from_accept_language(Some(h)), Currency::Usd, "{h}");
        }
        assert_eq!(from_accept_language(None), Currency::Usd);
        assert_eq!(
            from_accept_language(Some(&"hi,".repeat(400))),
            Currency::Usd,
            "too long to read"
        );
    }
}
