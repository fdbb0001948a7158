//! ffmpeg and ffprobe as the oracle: real encoder output through our FLV reader and HLS
//! segmenter, then the real demuxer and decoders judge the segments and playlist.
//!
//! These tests need ffmpeg/ffprobe and fail (never skip) without them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferrocast_media::flv::{FlvReader, FlvTag, TagType};
use ferrocast_media::hls::{
    parse_part_name, parse_segment_name, HlsConfig, HlsSegmenter, LowLatencyConfig, VideoConfig,
};
use ferrocast_media::ts::{SYNC_BYTE, TS_PACKET_LEN};
use serde_json::Value;

const WALL_START_MS: i64 = 1_795_329_120_000;

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "ferrocast-media-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("FERROCAST_KEEP_TEST_DIRS").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tool(name: &str) -> Command {
    if Command::new(name).arg("-version").output().is_err() {
        panic!("{name} is not installed: run scripts/test.sh, which installs ffmpeg and ffprobe");
    }
    Command::new(name)
}

/// Runs ffmpeg with `args` writing FLV to `out`, and returns the file's tags.
fn encode_flv(dir: &TempDir, args: &[&str]) -> Vec<FlvTag> {
    let out = dir.path("in.flv");
    let status = tool("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .args(["-f", "flv"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg failed to encode the fixture");
    let data = std::fs::read(&out).unwrap();
    let mut reader = FlvReader::new();
    reader.push(&data);
    let mut tags = Vec::new();
    while let Some(tag) = reader.next_tag().unwrap() {
        tags.push(tag);
    }
    assert_eq!(reader.buffered_len(), 0);
    tags
}

fn av_args(seconds: &str) -> Vec<&str> {
    vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=640x360:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440",
        "-c:v",
        "libx264",
        "-g",
        "30",
        "-bf",
        "2",
        "-c:a",
        "aac",
        "-t",
        seconds,
    ]
}

/// Pushes `tags` with timestamps shifted by `offset_ms`.
fn push_all(hls: &mut HlsSegmenter, tags: &[FlvTag], offset_ms: u64, wall_offset_ms: i64) {
    for tag in tags {
        let ts = u64::from(tag.timestamp_ms) + offset_ms;
        let wall = WALL_START_MS + wall_offset_ms + i64::from(tag.timestamp_ms as i32);
        hls.push(tag.tag_type, ts, &tag.body, wall).unwrap();
    }
}

struct Entry {
    duration: f64,
    name: String,
    discontinuity: bool,
}

/// Writes the playlist and its segments to `dir`; returns the playlist's entries.
fn write_out(dir: &TempDir, hls: &HlsSegmenter) -> (String, Vec<Entry>) {
    let playlist = hls.playlist();
    std::fs::write(dir.path("index.m3u8"), &playlist).unwrap();
    let mut entries = Vec::new();
    let mut duration = None;
    let mut discontinuity = false;
    for line in playlist.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            duration = Some(d.trim_end_matches(',').parse::<f64>().unwrap());
        } else if line == "#EXT-X-DISCONTINUITY" {
            discontinuity = true;
        } else if !line.starts_with('#') {
            let sequence = parse_segment_name(line).unwrap();
            let data = hls.segment(sequence).unwrap();
            check_ts_packets(&data);
            std::fs::write(dir.path(line), &data).unwrap();
            entries.push(Entry {
                duration: duration.take().unwrap(),
                name: line.to_owned(),
                discontinuity,
            });
            discontinuity = false;
        }
    }
    (playlist, entries)
}

/// Every packet is 188 bytes with a sync byte, and continuity counters advance by one per PID.
fn check_ts_packets(data: &Bytes) {
    assert_eq!(data.len() % TS_PACKET_LEN, 0);
    let mut counters = std::collections::HashMap::new();
    for p in data.chunks(TS_PACKET_LEN) {
        assert_eq!(p[0], SYNC_BYTE);
        let pid = u16::from_be_bytes([p[1], p[2]]) & 0x1FFF;
        let cc = p[3] & 0x0F;
        if let Some(prev) = counters.insert(pid, cc) {
            assert_eq!(cc, (prev + 1) & 0x0F, "continuity counter on PID {pid:#x}");
        }
    }
}

/// Decodes `input` completely; returns ffmpeg's error output (empty when clean).
///
/// Frames keep their 90 kHz timestamps on the way to the null muxer (`-fps_mode passthrough
/// -enc_time_base -1`), as in a player. Otherwise ffmpeg rounds them to a 1/30 s grid, and FLV's
/// millisecond timestamps (33, 67, 100 ms…) can collide there when the file starts half a frame
/// off the grid, which ffmpeg reports as a muxer error although every decoder is happy (ffmpeg's
/// own FLV→HLS remux shows the same with its audio timestamps quantised to milliseconds).
fn decode_errors(input: &Path) -> String {
    let out = tool("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(input)
        .args([
            "-fps_mode",
            "passthrough",
            "-enc_time_base",
            "-1",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg could not read {}",
        input.display()
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ffprobe(args: &[&str], input: &Path) -> Value {
    let out = tool("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe failed on {}",
        input.display()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn codec_names(dir: &TempDir, segment: &str) -> Vec<(String, i64, i64)> {
    let v = ffprobe(&["-show_streams"], &dir.path(segment));
    v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["codec_name"].as_str().unwrap().to_owned(),
                s["width"].as_i64().unwrap_or(0),
                s["height"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

/// Concatenates the segments and checks, per stream, DTS strictly increasing (non-decreasing
/// for audio) and PTS ≥ DTS. Returns how many video packets have PTS ≠ DTS.
fn check_packet_timestamps(dir: &TempDir, entries: &[Entry]) -> usize {
    let mut all = Vec::new();
    for e in entries {
        all.extend_from_slice(&std::fs::read(dir.path(&e.name)).unwrap());
    }
    let path = dir.path("all.ts");
    std::fs::write(&path, all).unwrap();
    let v = ffprobe(&["-show_packets", "-show_streams"], &path);
    let streams = v["streams"].as_array().unwrap();
    let mut last: std::collections::HashMap<i64, i64> = Default::default();
    let mut reordered = 0;
    for p in v["packets"].as_array().unwrap() {
        let index = p["stream_index"].as_i64().unwrap();
        let video = streams[index as usize]["codec_type"] == "video";
        let dts = p["dts"].as_i64().unwrap();
        let pts = p["pts"].as_i64().unwrap();
        assert!(pts >= dts, "PTS {pts} < DTS {dts}");
        if let Some(prev) = last.insert(index, dts) {
            if video {
                assert!(dts > prev, "video DTS not increasing: {prev} then {dts}");
            } else {
                assert!(dts >= prev, "audio DTS decreasing: {prev} then {dts}");
            }
        }
        reordered += usize::from(video && pts != dts);
    }
    reordered
}

#[test]
fn audio_video_hls_is_accepted_by_ffmpeg() {
    let dir = TempDir::new("av");
    let tags = encode_flv(&dir, &av_args("6"));
    let mut hls = HlsSegmenter::new(HlsConfig {
        window: 20,
        ..HlsConfig::default()
    });
    push_all(&mut hls, &tags, 0, 0);
    hls.finish();
    let (playlist, entries) = write_out(&dir, &hls);
    let durations: Vec<f64> = entries.iter().map(|e| e.duration).collect();
    eprintln!("A/V segment durations: {durations:?}\n{playlist}");

    let Some(VideoConfig::Avc(avc)) = hls.video_config() else {
        panic!("no AVC configuration");
    };
    let sps = avc.parse_sps().unwrap();
    assert_eq!((sps.width, sps.height), (640, 360));
    assert_eq!(hls.codecs().as_deref(), Some("avc1.f4001e,mp4a.40.2"));
    let longest = durations.iter().copied().fold(0.0, f64::max);
    let target = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n",
        longest.ceil()
    );
    assert!(playlist.starts_with(&target), "{target}");
    assert!(playlist.ends_with("#EXT-X-ENDLIST\n"));
    assert!(playlist.contains("#EXT-X-PROGRAM-DATE-TIME:2026-11-22T06:32:00.000Z\n"));
    assert_eq!(
        playlist.matches("#EXT-X-PROGRAM-DATE-TIME:").count(),
        entries.len()
    );
    assert!(!playlist.contains("DISCONTINUITY"));

    // Target 1 s, GOP 1 s: every segment but the last is ≥ target and < target + one GOP.
    let (last, full) = durations.split_last().unwrap();
    assert!(full.len() >= 4, "{durations:?}");
    for d in full {
        assert!((1.0..2.0).contains(d), "{durations:?}");
    }
    assert!(*last > 0.0 && *last < 2.0);
    let total: f64 = durations.iter().sum();
    assert!((total - 6.0).abs() < 0.15, "total {total}");

    let codecs = codec_names(&dir, &entries[0].name);
    assert!(
        codecs.contains(&("h264".to_owned(), 640, 360)),
        "{codecs:?}"
    );
    assert!(codecs.iter().any(|c| c.0 == "aac"), "{codecs:?}");

    let errors = decode_errors(&dir.path("index.m3u8"));
    assert!(
        errors.is_empty(),
        "ffmpeg errors reading the playlist:\n{errors}"
    );
    // A player joining mid-stream: one segment alone decodes cleanly.
    let errors = decode_errors(&dir.path(&entries[2].name));
    assert!(
        errors.is_empty(),
        "ffmpeg errors decoding one segment:\n{errors}"
    );

    let reordered = check_packet_timestamps(&dir, &entries);
    assert!(reordered > 0, "B-frames should give PTS ≠ DTS");
    let stats = hls.stats();
    assert_eq!(stats.dropped_frames, 0);
    assert_eq!(stats.forced_cuts, 0);
    assert_eq!(stats.video_frames, 180);
}

#[test]
fn audio_only_cuts_on_time() {
    let dir = TempDir::new("audio");
    let tags = encode_flv(
        &dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
            "-c:a",
            "aac",
            "-t",
            "4",
        ],
    );
    let mut hls = HlsSegmenter::new(HlsConfig {
        window: 20,
        ..HlsConfig::default()
    });
    push_all(&mut hls, &tags, 0, 0);
    hls.finish();
    let (playlist, entries) = write_out(&dir, &hls);
    let durations: Vec<f64> = entries.iter().map(|e| e.duration).collect();
    eprintln!("audio-only segment durations: {durations:?}");
    assert_eq!(hls.codecs().as_deref(), Some("mp4a.40.2"));
    let (_, full) = durations.split_last().unwrap();
    assert!(full.len() >= 3);
    for d in full {
        // One AAC frame at 44.1 kHz is 23.2 ms.
        assert!((1.0..1.03).contains(d), "{durations:?}");
    }
    let total: f64 = durations.iter().sum();
    assert!((total - 4.0).abs() < 0.1, "total {total}\n{playlist}");
    let codecs = codec_names(&dir, &entries[1].name);
    assert_eq!(codecs, vec![("aac".to_owned(), 0, 0)]);
    let errors = decode_errors(&dir.path("index.m3u8"));
    assert!(errors.is_empty(), "{errors}");
    check_packet_timestamps(&dir, &entries);
}

#[test]
fn video_only_with_large_first_timestamp() {
    let dir = TempDir::new("video");
    let tags = encode_flv(
        &dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=640x360:rate=30",
            "-c:v",
            "libx264",
            "-g",
            "30",
            "-bf",
            "2",
            "-pix_fmt",
            "yuv420p",
            "-t",
            "4",
        ],
    );
    let mut hls = HlsSegmenter::new(HlsConfig {
        window: 20,
        ..HlsConfig::default()
    });
    // Past the 32-bit FLV wrap: the engine hands us unwrapped timestamps.
    push_all(&mut hls, &tags, (1 << 32) + 12_345, 0);
    hls.finish();
    let (_, entries) = write_out(&dir, &hls);
    let durations: Vec<f64> = entries.iter().map(|e| e.duration).collect();
    eprintln!("video-only segment durations: {durations:?}");
    assert_eq!(hls.codecs().as_deref(), Some("avc1.64001e"));
    let (_, full) = durations.split_last().unwrap();
    for d in full {
        assert!((1.0..2.0).contains(d), "{durations:?}");
    }
    let total: f64 = durations.iter().sum();
    assert!((total - 4.0).abs() < 0.1, "total {total}");
    assert_eq!(
        codec_names(&dir, &entries[1].name),
        vec![("h264".to_owned(), 640, 360)]
    );
    let errors = decode_errors(&dir.path("index.m3u8"));
    assert!(errors.is_empty(), "{errors}");
    assert!(check_packet_timestamps(&dir, &entries) > 0);
}

#[test]
fn republish_and_timestamp_restart_make_discontinuities() {
    let dir = TempDir::new("disc");
    let tags = encode_flv(&dir, &av_args("3"));
    let mut hls = HlsSegmenter::new(HlsConfig {
        window: 30,
        ..HlsConfig::default()
    });
    push_all(&mut hls, &tags, 0, 0);
    // A republish the engine announces…
    hls.mark_discontinuity();
    push_all(&mut hls, &tags, 0, 10_000);
    // …and one it does not: timestamps simply restart.
    push_all(&mut hls, &tags, 0, 20_000);
    hls.finish();
    let (playlist, entries) = write_out(&dir, &hls);
    eprintln!("{playlist}");
    assert_eq!(playlist.matches("#EXT-X-DISCONTINUITY\n").count(), 2);
    assert!(playlist.contains("#EXT-X-DISCONTINUITY-SEQUENCE:0\n"));
    assert_eq!(hls.stats().discontinuities, 2);
    let marked: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.discontinuity)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(marked.len(), 2);
    let total: f64 = entries.iter().map(|e| e.duration).sum();
    assert!((total - 9.0).abs() < 0.3, "total {total}");
    let errors = decode_errors(&dir.path("index.m3u8"));
    assert!(errors.is_empty(), "{errors}");
    // The output timeline stays continuous across the restarts.
    check_packet_timestamps(&dir, &entries);
}

#[test]
fn sliding_window_evicts_and_counts_discontinuities() {
    let dir = TempDir::new("window");
    let tags = encode_flv(&dir, &av_args("3"));
    let mut hls = HlsSegmenter::new(HlsConfig {
        window: 2,
        retain_extra: 1,
        ..HlsConfig::default()
    });
    push_all(&mut hls, &tags, 0, 0);
    hls.mark_discontinuity();
    push_all(&mut hls, &tags, 0, 10_000);
    push_all(&mut hls, &tags, 0, 20_000);
    let latest = hls.latest_sequence().unwrap();
    assert!(latest >= 6, "latest {latest}");
    let playlist = hls.playlist();
    assert!(
        playlist.contains(&format!("#EXT-X-MEDIA-SEQUENCE:{}\n", latest - 1)),
        "{playlist}"
    );
    assert_eq!(hls.segments().count(), 2);
    // Retained one past the window, then gone.
    assert!(hls.segment(latest - 2).is_some());
    assert!(hls.segment(latest - 3).is_none());
    assert!(hls.segment(latest + 1).is_none());
    // The first discontinuity has left the window; the second opens it.
    assert!(
        playlist.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"),
        "{playlist}"
    );
    assert_eq!(playlist.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
    assert!(!playlist.contains("#EXT-X-ENDLIST"));
}

/// Low-Latency HLS: every listed part resolves, starts with PAT/PMT, the parts of a segment
/// concatenated are a transport stream ffprobe reads as H.264 + AAC, an independent part decodes
/// alone, and ffmpeg (which ignores the LL tags) still plays the playlist.
#[test]
fn low_latency_parts_are_accepted_by_ffmpeg() {
    let dir = TempDir::new("ll");
    // The fixture the issue names: 30 fps, 1 s GOP, no B-frame option.
    let tags = encode_flv(
        &dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=640x360:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine",
            "-c:v",
            "libx264",
            "-g",
            "30",
            "-c:a",
            "aac",
            "-t",
            "6",
        ],
    );
    let mut hls = HlsSegmenter::new(HlsConfig {
        window: 20,
        low_latency: Some(LowLatencyConfig::default()),
        ..HlsConfig::default()
    });
    let half = tags.len() / 2 + 7;
    push_all(&mut hls, &tags[..half], 0, 0);
    // Live: parts of the open segment and a preload hint for the next one.
    let live = hls.playlist();
    let (msn, index) = hls.latest().unwrap();
    // The hint is the next part of the open segment, or the first of a segment just opened.
    let hint = if hls.latest_sequence() == Some(msn) {
        format!("seg{}.0.ts", msn + 1)
    } else {
        format!("seg{msn}.{}.ts", index + 1)
    };
    assert!(
        live.ends_with(&format!("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{hint}\"\n")),
        "{live}"
    );
    assert!(hls.has_part(msn, Some(index)));
    assert!(!hls.has_part(msn, Some(index + 1)));
    assert!(!hls.has_part(msn + 1, Some(0)));
    push_all(&mut hls, &tags[half..], 0, 0);
    hls.finish();
    let (playlist, entries) = write_out(&dir, &hls);
    eprintln!("{playlist}");
    assert!(
        live.contains(
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600\n#EXT-X-PART-INF:PART-TARGET=0.200\n"
        ),
        "{live}"
    );
    // After the last video frame the AAC tail (encoder padding) can only be cut on audio, a
    // frame past the target at most; PART-TARGET grows to cover it (RFC 8216bis §4.4.4.9).
    let part_target_ms = playlist
        .split("#EXT-X-PART-INF:PART-TARGET=")
        .nth(1)
        .and_then(|r| r.lines().next())
        .map(|t| (t.parse::<f64>().unwrap() * 1000.0).round() as u64)
        .unwrap();
    assert!((200..=224).contains(&part_target_ms), "{part_target_ms}");
    assert!(entries.len() >= 5);

    let mut listed = 0;
    for line in playlist.lines() {
        let Some(attrs) = line.strip_prefix("#EXT-X-PART:") else {
            continue;
        };
        let uri = attrs
            .split("URI=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let (sequence, index) = parse_part_name(uri).unwrap();
        let data = hls.part(sequence, index).unwrap();
        check_ts_packets(&data);
        // PAT on PID 0, then the PMT.
        assert_eq!(u16::from_be_bytes([data[1], data[2]]) & 0x1FFF, 0);
        assert_eq!(u16::from_be_bytes([data[189], data[190]]) & 0x1FFF, 0x1000);
        std::fs::write(dir.path(uri), &data).unwrap();
        listed += 1;
    }
    assert!(listed >= 15, "{listed} parts listed");

    // The last three finished segments: durations and reassembly.
    for (k, entry) in entries.iter().rev().take(3).enumerate() {
        let sequence = parse_segment_name(&entry.name).unwrap();
        let max_ms = if k == 0 { part_target_ms } else { 200 };
        let parts: Vec<_> = hls.parts().filter(|p| p.sequence == sequence).collect();
        let mut joined = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let ms = part.duration_ms();
            let last = i + 1 == parts.len();
            assert!(ms <= max_ms, "{}: {ms} ms", part.name());
            // Within 20 % of the target, except where the keyframe cut the segment.
            assert!(last || ms >= 160, "{}: {ms} ms", part.name());
            joined.extend_from_slice(&part.data);
        }
        assert_eq!(joined, hls.segment(sequence).unwrap());
        let whole = format!("joined{sequence}.ts");
        std::fs::write(dir.path(&whole), &joined).unwrap();
        let codecs = codec_names(&dir, &whole);
        assert!(
            codecs.contains(&("h264".to_owned(), 640, 360)),
            "{codecs:?}"
        );
        assert!(codecs.iter().any(|c| c.0 == "aac"), "{codecs:?}");
        assert!(decode_errors(&dir.path(&whole)).is_empty());
    }

    // A player joining at an independent part decodes it alone.
    let independent = hls.parts().filter(|p| p.independent).nth(1).unwrap().name();
    let errors = decode_errors(&dir.path(&independent));
    assert!(errors.is_empty(), "{independent}: {errors}");
    let codecs = codec_names(&dir, &independent);
    assert!(
        codecs.contains(&("h264".to_owned(), 640, 360)),
        "{codecs:?}"
    );

    let errors = decode_errors(&dir.path("index.m3u8"));
    assert!(
        errors.is_empty(),
        "ffmpeg errors reading the LL playlist:\n{errors}"
    );
    let total: f64 = entries.iter().map(|e| e.duration).sum();
    assert!((total - 6.0).abs() < 0.15, "total {total}");
    assert_eq!(hls.stats().video_frames, 180);
}

/// RELIABILITY.md: truncation and bit-flip sweeps of real encoder output never panic.
#[test]
fn truncated_and_bit_flipped_real_tags_never_panic() {
    let dir = TempDir::new("flip");
    let tags = encode_flv(&dir, &av_args("1"));
    let mut hls = HlsSegmenter::new(HlsConfig::default());
    let mut ts = 0u64;
    for (i, tag) in tags.iter().enumerate() {
        let body = &tag.body;
        for cut in 0..body.len().min(48) {
            ts += 1;
            let _ = hls.push(tag.tag_type, ts, &body.slice(..cut), WALL_START_MS);
        }
        for k in 0..16usize {
            let mut flipped = body.to_vec();
            if flipped.is_empty() {
                break;
            }
            let at = (i * 31 + k * 97) % flipped.len();
            flipped[at] ^= 1 << (k % 8);
            ts += 1;
            let _ = hls.push(tag.tag_type, ts, &Bytes::from(flipped), WALL_START_MS);
        }
        let _ = hls.push(tag.tag_type, ts, body, WALL_START_MS);
    }
    let file = std::fs::read(dir.path("in.flv")).unwrap();
    for cut in (0..file.len()).step_by(97) {
        ferrocast_media::fuzzing::fuzz_flv(&file[..cut]);
    }
    let _ = hls.playlist();
    assert_eq!(
        tags.iter()
            .filter(|t| t.tag_type == TagType::SCRIPT_DATA)
            .count(),
        1
    );
}
