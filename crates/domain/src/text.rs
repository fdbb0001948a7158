//! Text users show to other users (display names, chat), made safe to display: NFKC
//! normalisation (so look-alike compatibility forms, e.g. full-width letters, become what they
//! look like, and blocked words match), then Unicode format characters removed — bidirectional
//! controls that would reverse the rest of a line (U+202E "RIGHT-TO-LEFT OVERRIDE" makes
//! `gnp.exe` read as `exe.png`) and invisible ones (zero-width space, soft hyphen, BOM).
//! The zero-width joiner and non-joiner stay: emoji sequences and several scripts need them.

use unicode_normalization::UnicodeNormalization;

/// Whether `c` is a format character (Unicode general category Cf) that is removed: every one
/// but U+200C ZERO WIDTH NON-JOINER, U+200D ZERO WIDTH JOINER and the tag characters of flag
/// emoji (U+E0020..U+E007F).
pub fn is_removed_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{0600}'..='\u{0605}'
        | '\u{061C}'
        | '\u{06DD}'
        | '\u{070F}'
        | '\u{0890}'..='\u{0891}'
        | '\u{08E2}'
        | '\u{180E}'
        | '\u{200B}'
        | '\u{200E}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{110BD}'
        | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}')
}

/// `raw` in NFKC with the removed format characters taken out. They are taken out before
/// normalising: removing one between two combining marks afterwards would leave a string that
/// is no longer in NFKC (the marks' canonical order), and cleaning would not be idempotent.
pub fn displayable(raw: &str) -> String {
    let mut text: String = raw.chars().filter(|c| !is_removed_format(*c)).collect();
    // NFKC does not produce these characters from others; the loop only guards that belief.
    for _ in 0..4 {
        let normal: String = text.nfkc().collect();
        if !normal.chars().any(is_removed_format) {
            return normal;
        }
        text = normal.chars().filter(|c| !is_removed_format(*c)).collect();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_invisible_characters_go_joiners_stay() {
        assert_eq!(displayable("evil\u{202E}gnp.exe"), "evilgnp.exe");
        assert_eq!(displayable("a\u{2066}b\u{2069}c\u{200F}"), "abc");
        assert_eq!(
            displayable("zero\u{200B}width\u{FEFF}\u{00AD}"),
            "zerowidth"
        );
        // Full-width and compatibility forms become what they look like.
        assert_eq!(displayable("ｆｒｅｅ ｍｏｎｅｙ ①"), "free money 1");
        // A family emoji keeps its joiners; a flag of England keeps its tags.
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(displayable(family), family);
        let england = "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}";
        assert_eq!(displayable(england), england);
        assert_eq!(displayable("Zoë"), "Zoë");
        // Found by the account_fields fuzz target: a removed U+06DD between combining marks.
        let found = "@H\u{6DD}\u{6E2}\u{6DD}\u{6EA}\u{6E2}..Qq|:={";
        let once = displayable(found);
        assert_eq!(displayable(&once), once);
    }

    proptest::proptest! {
        #[test]
        fn nothing_removed_survives_and_cleaning_is_idempotent(s in "\\PC{0,80}|[\u{200B}-\u{206F}a-z ]{0,40}|[\u{0300}-\u{036F}\u{0591}-\u{05C7}\u{0610}-\u{061C}\u{064B}-\u{065F}\u{06D6}-\u{06ED}\u{200B}-\u{200F}ae ]{0,40}") {
            let once = displayable(&s);
            proptest::prop_assert!(!once.chars().any(is_removed_format));
            proptest::prop_assert_eq!(displayable(&once), once.clone());
        }
    }
}
