//! Platform chat payloads come off the network (Twitch EventSub and Helix, YouTube Live Chat):
//! parsing any input must not panic, and whatever is accepted stays within the text bound.
#![no_main]
use ferrocast_chat::{stream, twitch, youtube, MAX_TEXT_CHARS};
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
    let _ = youtube::active_live_chat_id(data);
    let _ = youtube::inserted_id(data);
    let _ = youtube::parse_token(data);
    let _ = twitch::parse_validate(data);
    let _ = twitch::parse_user_id(data);
    // A streamed body cut anywhere: whole elements only, each within the bound.
    let mut s = stream::ArrayStream::new(4096);
    for part in data.chunks(7) {
        match s.push(part) {
            Ok(els) => assert!(els.iter().all(|e| e.len() <= 4096 && e.first() == Some(&b'{'))),
            Err(_) => break,
        }
    }
});
