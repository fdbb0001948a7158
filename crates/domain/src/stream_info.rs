//! What a creator says about a stream before viewers see it: its title, category, tags,
//! language and whether it is for adults. Checked here, once, for every way in (the API, and
//! whatever later sets them).

use crate::text::displayable;

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 140;
/// Most tags on a stream.
pub const MAX_TAGS: usize = 10;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 25;

/// ISO 639-1: every two-letter language code (the 2023 list, 183 codes).
pub const LANGUAGES: &[&str] = &[
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bi",
    "bm", "bn", "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da", "de",
    "dv", "dz", "ee", "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr", "fy",
    "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi", "ho", "hr", "ht", "hu", "hy", "hz", "ia",
    "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka", "kg", "ki", "kj", "kk",
    "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln", "lo",
    "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb", "nd",
    "ne", "ng", "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi", "pl",
    "ps", "pt", "qu", "rm", "rn", "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk", "sl",
    "sm", "sn", "so", "sq", "sr", "ss", "st", "su", "sv", "sw", "ta", "te", "tg", "th", "ti", "tk",
    "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur", "uz", "ve", "vi", "vo", "wa",
    "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

/// A title as stored: trimmed and made displayable; `None` for an empty one (the stream is
/// then called by its source's name). The error names the field and says what is accepted.
pub fn clean_title(raw: &str) -> Result<Option<String>, String> {
    let t = displayable(raw.trim());
    let t = t.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.chars().count() > MAX_TITLE_CHARS || t.chars().any(char::is_control) {
        return Err(format!(
            "title: must be at most {MAX_TITLE_CHARS} characters on one line"
        ));
    }
    Ok(Some(t.to_string()))
}

/// Most characters of a stream's description.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

/// A description as stored: trimmed and made displayable, line breaks kept; `None` for an
/// empty one. The error names the field and says what is accepted.
pub fn clean_description(raw: &str) -> Result<Option<String>, String> {
    let d = displayable(raw.trim());
    let d = d.trim();
    if d.is_empty() {
        return Ok(None);
    }
    if d.chars().count() > MAX_DESCRIPTION_CHARS || d.chars().any(|c| c.is_control() && c != '\n') {
        return Err(format!(
            "description: must be at most {MAX_DESCRIPTION_CHARS} characters without control characters"
        ));
    }
    Ok(Some(d.to_string()))
}

/// Tags as stored: each trimmed and made displayable, case-insensitive duplicates dropped
/// (the first spelling kept), empty ones refused.
pub fn clean_tags(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.len() > MAX_TAGS {
        return Err(format!(
            "tags: at most {MAX_TAGS} tags ({} given); remove some",
            raw.len()
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for t in raw {
        let t = displayable(t.trim());
        let t = t.trim();
        let n = t.chars().count();
        if n == 0 || n > MAX_TAG_CHARS || t.chars().any(|c| c.is_control() || c == ',' || c == '#')
        {
            return Err(format!(
                "tags: each tag must be 1 to {MAX_TAG_CHARS} characters, without commas or '#' \
                 ({:?} is not)",
                t.chars().take(40).collect::<String>()
            ));
        }
        if !out.iter().any(|o| o.to_lowercase() == t.to_lowercase()) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

/// A language as stored: an ISO 639-1 code in lower case; `None` for an empty one.
pub fn clean_language(raw: &str) -> Result<Option<String>, String> {
    let l = raw.trim().to_ascii_lowercase();
    if l.is_empty() {
        return Ok(None);
    }
    if LANGUAGES.contains(&l.as_str()) {
        Ok(Some(l))
    } else {
        Err(format!(
            "language: must be a two-letter ISO 639-1 code such as en, es or pt ({:?} is not)",
            raw.chars().take(20).collect::<String>()
        ))
    }
}

/// Whether `slug` has a category slug's shape (1 to 40 of `a-z`, `0-9`, `-`); whether such a
/// category exists is the database's to say.
pub fn is_category_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 40
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_bounded_and_may_be_cleared() {
        assert_eq!(clean_title("  Speedrun  "), Ok(Some("Speedrun".into())));
        assert_eq!(clean_title("   "), Ok(None));
        assert_eq!(
            clean_title(&"a".repeat(140)).map(|t| t.map(|t| t.len())),
            Ok(Some(140))
        );
        assert!(clean_title(&"a".repeat(141)).is_err());
        assert!(clean_title("two\nlines").is_err());
        // Reversing controls go.
        assert_eq!(clean_title("evil\u{202E}txt"), Ok(Some("eviltxt".into())));
    }

    #[test]
    fn tags_are_bounded_and_deduplicated() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            clean_tags(&t(&[" rust ", "Rust", "speedrun"])),
            Ok(t(&["rust", "speedrun"]))
        );
        assert!(clean_tags(&t(&["ok", ""])).is_err());
        assert!(clean_tags(&t(&[&"x".repeat(26)])).is_err());
        assert!(clean_tags(&t(&["a,b"])).is_err());
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert!(clean_tags(&eleven).is_err_and(|e| e.contains("at most 10")));
        assert_eq!(clean_tags(&eleven[..10]).map(|v| v.len()), Ok(10));
    }

    #[test]
    fn languages_are_iso_639_1() {
        assert_eq!(clean_language("EN"), Ok(Some("en".into())));
        assert_eq!(clean_language(""), Ok(None));
        assert!(clean_language("eng").is_err());
        assert!(clean_language("xx").is_err());
        assert_eq!(LANGUAGES.len(), 183);
        assert!(LANGUAGES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn category_slugs_have_one_shape() {
        assert!(is_category_slug("just-chatting"));
        assert!(!is_category_slug("Just Chatting"));
        assert!(!is_category_slug(""));
        assert!(!is_category_slug(&"a".repeat(41)));
    }
}
