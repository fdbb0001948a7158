//! Schedules on both databases: a creator's upcoming streams checked, stored, changed and
//! removed; the channel's public list; and its iCalendar feed (RFC 5545): CRLF line ends, lines
//! of at most 75 octets folded without splitting a character, text escaped, times in UTC, a
//! reminder as a VALARM, only streams that have not ended.

use crate::support::{self as support, call, client, register_user, Backend, TestApp};
use ferrocast_domain::time::rfc3339_ms;
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;

fn at(ms: i64) -> String {
    // Whole seconds, as a creator would type them.
    rfc3339_ms(ms / 1000 * 1000)
}

/// The feed, unfolded into content lines, after checking the lines as sent.
fn unfold(body: &str) -> Vec<String> {
    assert!(body.ends_with("\r\n"), "ends with CRLF");
    let raw: Vec<&str> = body
        .strip_suffix("\r\n")
        .unwrap_or(body)
        .split("\r\n")
        .collect();
    for l in &raw {
        assert!(l.len() <= 75, "a line of {} octets: {l:?}", l.len());
        assert!(
            !l.contains('\n') && !l.contains('\r'),
            "bare line break in {l:?}"
        );
    }
    let mut lines: Vec<String> = Vec::new();
    for l in raw {
        match l.strip_prefix(' ') {
            Some(rest) => lines.last_mut().expect("a first line").push_str(rest),
            None => lines.push(l.to_string()),
        }
    }
    lines
}

/// RFC 5545 TEXT unescaped.
fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') | Some('N') => out.push('\n'),
                Some(other) => out.push(other),
                None => panic!("a trailing backslash in {v:?}"),
            }
        } else {
            assert!(c != ',' && c != ';', "unescaped {c:?} in {v:?}");
            out.push(c);
        }
    }
    out
}

async fn schedule_crud_public_list_and_calendar(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let token = register_user(&app, "sched@example.com", "Night Owl").await;
    let (s, _) = call(
        &app,
        "PATCH",
        "/api/me/profile",
        Some(&token),
        Some(json!({"handle": "owl"})),
    )
    .await;
    assert_eq!(s, 200);
    let now = ferrocast_db::now_ms();
    let long_title =
        "Ünïcödé marathon; part 1, with \\ backslashes, commas and a very long title indeed ok";
    assert!(long_title.chars().count() <= 140);
    let (status, body) = call(
        &app,
        "POST",
        "/api/me/schedule",
        Some(&token),
        Some(json!({
            "title": long_title,
            "starts_at": at(now + 48 * HOUR),
            "duration_minutes": 90,
            "category": "gaming",
            "reminder_minutes": 15
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let first = body["stream"].clone();
    assert_eq!(first["title"], long_title);
    assert_eq!(first["duration_minutes"], 90);
    assert_eq!(first["category_name"], "Gaming");
    assert_eq!(first["reminder_minutes"], 15);
    assert_eq!(first["starts_at"], at(now + 48 * HOUR));
    assert_eq!(first["ends_at"], at(now + 48 * HOUR + 90 * 60_000));
    // An offset is understood: the same instant, written in UTC.
    let (status, body) = call(
        &app,
        "POST",
        "/api/me/schedule",
        Some(&token),
        Some(json!({"title": "Early show", "starts_at": "2099-01-01T10:00:00+02:00", "duration_minutes": 60})),
    )
    .await;
    assert_eq!(status, 422, "more than a year ahead: {body}");
    let soon = now + 3 * HOUR;
    let (status, body) = call(
        &app,
        "POST",
        "/api/me/schedule",
        Some(&token),
        Some(json!({"title": "Early show", "starts_at": at(soon), "duration_minutes": 60})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let early = body["stream"]["id"].as_str().expect("id").to_string();
    assert_eq!(body["stream"]["reminder_minutes"], Value::Null);

    // Refusals name the field.
    for (bad, field) in [
        (
            json!({"title": "", "starts_at": at(soon), "duration_minutes": 60}),
            "title:",
        ),
        (
            json!({"title": "a\nb", "starts_at": at(soon), "duration_minutes": 60}),
            "title:",
        ),
        (
            json!({"title": "x", "starts_at": "tomorrow", "duration_minutes": 60}),
            "starts_at:",
        ),
        (
            json!({"title": "x", "starts_at": at(now - 2 * HOUR), "duration_minutes": 60}),
            "starts_at:",
        ),
        (
            json!({"title": "x", "starts_at": at(soon), "duration_minutes": 1}),
            "duration_minutes:",
        ),
        (
            json!({"title": "x", "starts_at": at(soon), "duration_minutes": 100000}),
            "duration_minutes:",
        ),
        (
            json!({"title": "x", "starts_at": at(soon), "duration_minutes": 60, "reminder_minutes": -5}),
            "reminder_minutes:",
        ),
        (
            json!({"title": "x", "starts_at": at(soon), "duration_minutes": 60, "category": "knitting"}),
            "category:",
        ),
    ] {
        let (status, body) = call(
            &app,
            "POST",
            "/api/me/schedule",
            Some(&token),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(
            body["details"]
                .as_str()
                .is_some_and(|d| d.starts_with(field)),
            "{bad}: {body}"
        );
    }
    let (status, _) = call(&app, "POST", "/api/me/schedule", None, Some(json!({}))).await;
    assert_eq!(status, 401);

    // The owner's list and the public one: the soonest first.
    let (status, mine) = call(&app, "GET", "/api/me/schedule", Some(&token), None).await;
    assert_eq!(status, 200, "{mine}");
    let titles = |v: &Value| -> Vec<String> {
        v["streams"]
            .as_array()
            .expect("streams")
            .iter()
            .map(|s| s["title"].as_str().expect("t").to_string())
            .collect()
    };
    assert_eq!(titles(&mine), ["Early show", long_title]);
    let (status, public) = call(&app, "GET", "/api/channels/OWL/schedule", None, None).await;
    assert_eq!(status, 200, "{public}");
    assert_eq!(titles(&public), ["Early show", long_title]);
    assert_eq!(public["ics_url"], app.url("/c/owl/schedule.ics").as_str());
    let (status, _) = call(
        &app,
        "GET",
        "/api/channels/nobody_here/schedule",
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Changes: a field at a time; null clears; someone else's is not found.
    let path = format!("/api/me/schedule/{early}");
    let (status, body) = call(
        &app,
        "PATCH",
        &path,
        Some(&token),
        Some(json!({"title": "Late show", "reminder_minutes": 5, "category": "music"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stream"]["title"], "Late show");
    assert_eq!(body["stream"]["starts_at"], at(soon));
    assert_eq!(body["stream"]["category"], "music");
    let (_, body) = call(
        &app,
        "PATCH",
        &path,
        Some(&token),
        Some(json!({"category": null})),
    )
    .await;
    assert_eq!(body["stream"]["category"], Value::Null);
    assert_eq!(body["stream"]["reminder_minutes"], 5);
    let other = register_user(&app, "other@example.com", "Other").await;
    let (status, _) = call(
        &app,
        "PATCH",
        &path,
        Some(&other),
        Some(json!({"title": "Mine now"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(&app, "DELETE", &path, Some(&other), None).await;
    assert_eq!(status, 404);

    // The calendar.
    let res = client()
        .get(app.url("/c/owl/schedule.ics"))
        .send()
        .await
        .expect("ics");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    let body = res.text().await.expect("body");
    let lines = unfold(&body);
    assert_eq!(lines.first().map(String::as_str), Some("BEGIN:VCALENDAR"));
    assert_eq!(lines.last().map(String::as_str), Some("END:VCALENDAR"));
    assert!(lines.contains(&"VERSION:2.0".to_string()));
    assert!(lines.iter().any(|l| l.starts_with("PRODID:")));
    let events: Vec<&[String]> = {
        let mut out = Vec::new();
        let mut start = None;
        for (i, l) in lines.iter().enumerate() {
            if l == "BEGIN:VEVENT" {
                start = Some(i);
            }
            if l == "END:VEVENT" {
                out.push(&lines[start.take().expect("begin")..=i]);
            }
        }
        out
    };
    assert_eq!(events.len(), 2, "{body}");
    let prop = |e: &[String], name: &str| -> Option<String> {
        e.iter()
            .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
    };
    let ics_time = |ms: i64| {
        let s = at(ms);
        format!(
            "{}{}{}T{}{}{}Z",
            &s[0..4],
            &s[5..7],
            &s[8..10],
            &s[11..13],
            &s[14..16],
            &s[17..19]
        )
    };
    let late = events[0];
    assert_eq!(prop(late, "SUMMARY").as_deref(), Some("Late show"));
    assert_eq!(prop(late, "DTSTART"), Some(ics_time(soon)));
    assert_eq!(prop(late, "DTEND"), Some(ics_time(soon + HOUR)));
    assert_eq!(prop(late, "UID"), Some(format!("{early}@127.0.0.1")));
    assert!(prop(late, "DTSTAMP").is_some_and(|t| t.len() == 16 && t.ends_with('Z')));
    assert_eq!(prop(late, "URL"), Some(app.url("/c/owl")));
    assert_eq!(prop(late, "TRIGGER").as_deref(), Some("-PT5M"));
    assert!(late.contains(&"ACTION:DISPLAY".to_string()));
    let marathon = events[1];
    let summary = prop(marathon, "SUMMARY").expect("summary");
    assert_eq!(
        unescape(&summary),
        long_title,
        "escaped and folded, read back whole"
    );
    assert!(summary.contains("\\;") && summary.contains("\\,") && summary.contains("\\\\"));
    assert_eq!(prop(marathon, "CATEGORIES").as_deref(), Some("Gaming"));
    assert_eq!(prop(marathon, "TRIGGER").as_deref(), Some("-PT15M"));
    assert!(body.matches("\r\n ").count() >= 1, "a long line was folded");

    // Removed: gone from the lists and the calendar.
    let (status, _) = call(&app, "DELETE", &path, Some(&token), None).await;
    assert_eq!(status, 204);
    let (_, public) = call(&app, "GET", "/api/channels/owl/schedule", None, None).await;
    assert_eq!(titles(&public), [long_title]);
    let body = client()
        .get(app.url("/c/owl/schedule.ics"))
        .send()
        .await
        .expect("ics")
        .text()
        .await
        .expect("body");
    assert_eq!(body.matches("BEGIN:VEVENT").count(), 1);
    let res = client()
        .get(app.url("/c/nobody_here/schedule.ics"))
        .send()
        .await
        .expect("ics");
    assert_eq!(res.status(), 404);
    app.finish().await;
}

both_backends!(schedule_crud_public_list_and_calendar);
