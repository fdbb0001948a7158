//! Platform chat payloads come off the network (Twitch EventSub and Helix, YouTube Live Chat):
//! parsing any input must not panic, and whatever is accepted stays within the text bound.
#![no_main]
use ferrocast_chat::{twitch, youtube, MAX_TEXT_CHARS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(twitch::EventSubMessage::Chat { message, .. }) = twitch::parse_eventsub(data) {
        assert!(message.text.chars().count() <= MAX_TEXT_CHARS);
    }
    let _ = twitch::parse_send_reply(data);
    let _ = twitch::helix_error(data);
    if let Ok(page) = youtube::parse_page(data) {
        assert!(page.messages.iter().all(|m| m.text.chars().count() <= MAX_TEXT_CHARS));
        assert!((youtube::MIN_POLL_MS..=youtube::MAX_POLL_MS).contains(&page.polling_interval_ms));
    }
    let _ = youtube::parse_error(403, data);
});
