//! Profiles: what an account shows on its channel (`/c/<handle>`) — display name, handle, bio,
//! links, avatar and banner — and the owner's edits of them.
//!
//! Pictures arrive as a raw body (PNG, JPEG or WebP, at most 8 MiB) and are decoded and resized
//! by a real `ffmpeg` child under the same supervised runner as video processing: the input's
//! format is forced from its magic bytes (no other demuxer is tried, only local files are
//! read), a picture over 40 megapixels is refused by the decoder, and the whole conversion runs
//! within 15 s. The result is a JPEG (avatar 256×256, banner 1920×480, centre-cropped) stored
//! in the storage layer under `profiles/<user uuid>/<kind>-<random>.jpg`; the object it
//! replaces is deleted.

use super::processing::{last_line, run_child};
use bytes::Bytes;
use ferrocast_db::accounts::{ProfileChanges, UserRecord};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::account::{normalize_display_name, FieldError};
use ferrocast_domain::profile::{normalize_bio, normalize_handle, normalize_links, ProfileLink};
use ferrocast_storage::{Storage, StorageError};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Largest picture accepted.
pub const MAX_IMAGE_BYTES: usize = 8 * 1024 * 1024;
/// Longest a conversion may take.
const IMAGE_TIME_LIMIT: Duration = Duration::from_secs(15);
/// Largest picture decoded (pixels): a small file that decodes huge is refused.
const MAX_PIXELS: u64 = 40_000_000;
/// Largest JPEG kept.
/// Largest JPEG made from a picture (bytes).
pub const MAX_OUTPUT_BYTES: u64 = 4 * 1024 * 1024;
/// Where served pictures are (the storage key follows).
pub const MEDIA_PREFIX: &str = "/media/";

/// Which picture of a profile (or of one of its sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// 256×256, shown round.
    Avatar,
    /// 1920×480, across the top of the channel.
    Banner,
    /// 1280×720, a source's fallback slate, fitted into the stream's picture.
    Slate,
    /// A picture of a social post: fitted within 1280×1280 (never enlarged), as WebP.
    Post,
}

impl ImageKind {
    /// Width and height of the stored JPEG.
    pub fn size(self) -> (u32, u32) {
        match self {
            ImageKind::Avatar => (256, 256),
            ImageKind::Banner => (1920, 480),
            ImageKind::Slate => (1280, 720),
            ImageKind::Post => (1280, 1280),
        }
    }

    /// `avatar` or `banner`.
    pub fn name(self) -> &'static str {
        match self {
            ImageKind::Avatar => "avatar",
            ImageKind::Banner => "banner",
            ImageKind::Slate => "slate",
            ImageKind::Post => "post",
        }
    }
}

/// Why a profile change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A field is not acceptable.
    #[error("{0}")]
    Invalid(#[from] FieldError),
    /// Another account has the handle.
    #[error("the handle {0} is taken")]
    HandleTaken(String),
    /// The picture is over [`MAX_IMAGE_BYTES`].
    #[error("the picture is too large")]
    TooLarge,
    /// The body is not a picture that can be used; the message says why.
    #[error("{0}")]
    Image(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Object storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Anything else on our side (ffmpeg missing, a work file).
    #[error("{0}")]
    Internal(String),
}

/// What the owner changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Edit {
    /// Display name.
    pub display_name: Option<String>,
    /// Handle.
    pub handle: Option<String>,
    /// Bio.
    pub bio: Option<String>,
    /// Links (replacing all of them).
    pub links: Option<Vec<ProfileLink>>,
}

/// The links stored as JSON (none if the text is not a list of links).
pub fn links_of(json: &str) -> Vec<ProfileLink> {
    serde_json::from_str(json).unwrap_or_default()
}

/// The root-relative URL a stored picture is served at.
pub fn media_url(key: &str) -> String {
    format!("{MEDIA_PREFIX}{key}")
}

/// Whether `key` names a profile picture ([`image_key`]'s shape), so the media route serves
/// nothing else.
pub fn is_profile_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("profiles/") else {
        return false;
    };
    let Some((uuid, file)) = rest.split_once('/') else {
        return false;
    };
    let Some(stem) = file.strip_suffix(".jpg") else {
        return false;
    };
    let Some((kind, random)) = stem.split_once('-') else {
        return false;
    };
    uuid.len() == 36
        && uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && matches!(kind, "avatar" | "banner" | "slate")
        && (8..=32).contains(&random.len())
        && random
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn image_key(user_uuid: &str, kind: ImageKind) -> String {
    format!(
        "profiles/{user_uuid}/{}-{}.jpg",
        kind.name(),
        super::videos::new_video_id()
    )
}

/// Applies the owner's edit and returns the account as it is now.
pub async fn edit(
    db: &Db,
    user: &UserRecord,
    e: Edit,
    now: i64,
) -> Result<UserRecord, ProfileError> {
    let display_name = e
        .display_name
        .as_deref()
        .map(normalize_display_name)
        .transpose()?;
    let handle = e.handle.as_deref().map(normalize_handle).transpose()?;
    let bio = e.bio.as_deref().map(normalize_bio).transpose()?;
    let links = match e.links {
        Some(l) => Some(
            serde_json::to_string(&normalize_links(&l)?)
                .map_err(|e| ProfileError::Internal(e.to_string()))?,
        ),
        None => None,
    };
    if let Some(h) = &handle {
        if *h != user.handle && db.handle_taken(h).await? {
            return Err(ProfileError::HandleTaken(h.clone()));
        }
    }
    let changes = ProfileChanges {
        display_name: display_name.as_deref(),
        handle: handle.as_deref(),
        bio: bio.as_deref(),
        links: links.as_deref(),
    };
    match db.set_profile(user.id, &changes, now).await {
        Ok(()) => {}
        Err(DbError::Conflict) => {
            return Err(ProfileError::HandleTaken(handle.unwrap_or_default()))
        }
        Err(e) => return Err(e.into()),
    }
    reload(db, user.id).await
}

async fn reload(db: &Db, id: i64) -> Result<UserRecord, ProfileError> {
    db.user_by_id(id)
        .await?
        .ok_or_else(|| ProfileError::Internal("the account vanished".into()))
}

/// The ffmpeg demuxer for a picture's bytes, by its magic: PNG, JPEG or WebP.
pub fn image_demuxer(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png_pipe")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("jpeg_pipe")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("webp_pipe")
    } else {
        None
    }
}

/// A work file removed when dropped.
struct WorkFile(std::path::PathBuf);

impl Drop for WorkFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Decodes `body` and makes the JPEG (the WebP, for a post) of `kind` from it.
pub async fn render(data_dir: &Path, body: &[u8], kind: ImageKind) -> Result<Bytes, ProfileError> {
    if body.len() > MAX_IMAGE_BYTES {
        return Err(ProfileError::TooLarge);
    }
    let Some(demuxer) = image_demuxer(body) else {
        return Err(ProfileError::Image(
            "The file is not a PNG, JPEG or WebP picture.".into(),
        ));
    };
    let dir = data_dir.join("work");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ProfileError::Internal(format!("cannot create {}: {e}", dir.display())))?;
    let input = WorkFile(dir.join(format!("profile-{}.img", super::videos::new_video_id())));
    tokio::fs::write(&input.0, body)
        .await
        .map_err(|e| ProfileError::Internal(format!("cannot write {}: {e}", input.0.display())))?;
    let (w, h) = kind.size();
    let max_pixels = MAX_PIXELS.to_string();
    let path = input.0.display().to_string();
    let filter = if kind == ImageKind::Post {
        format!("scale='min({w},iw)':'min({h},ih)':force_original_aspect_ratio=decrease,setsar=1")
    } else {
        format!("scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1")
    };
    // A post's picture is WebP; profile pictures stay JPEG (every mail client shows them).
    let (codec, quality_flag, quality, muxer) = if kind == ImageKind::Post {
        ("libwebp", "-quality", "82", "webp")
    } else {
        ("mjpeg", "-q:v", "3", "image2")
    };
    let args: Vec<String> = [
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "error",
        "-threads",
        "2",
        // Only the file itself: no playlist or reference may make ffmpeg open anything else.
        "-protocol_whitelist",
        "file",
        "-max_pixels",
        max_pixels.as_str(),
        "-f",
        demuxer,
        "-i",
        path.as_str(),
        "-frames:v",
        "1",
        "-an",
        "-vf",
        filter.as_str(),
        "-c:v",
        codec,
        quality_flag,
        quality,
        "-f",
        muxer,
        "pipe:1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let end = run_child("ffmpeg", &args, IMAGE_TIME_LIMIT, |stdout| async move {
        let mut jpeg = Vec::new();
        if let Some(out) = stdout {
            let _ = out.take(MAX_OUTPUT_BYTES + 1).read_to_end(&mut jpeg).await;
        }
        jpeg
    })
    .await
    .map_err(|e| ProfileError::Internal(e.message))?;
    let Some((jpeg, status, stderr)) = end else {
        return Err(ProfileError::Image(
            "Reading the picture took too long; it may be damaged. Try another file.".into(),
        ));
    };
    let ok = status.is_ok_and(|s| s.success());
    let made = if kind == ImageKind::Post {
        jpeg.len() >= 12 && &jpeg[..4] == b"RIFF" && &jpeg[8..12] == b"WEBP"
    } else {
        jpeg.len() >= 4 && jpeg.starts_with(&[0xFF, 0xD8])
    };
    if !ok || !made {
        return Err(ProfileError::Image(format!(
            "The picture cannot be read ({}); save it again as PNG or JPEG and retry.",
            last_line(&stderr)
        )));
    }
    if jpeg.len() as u64 > MAX_OUTPUT_BYTES {
        return Err(ProfileError::Image("The picture is too detailed.".into()));
    }
    let mut jpeg = jpeg;
    if kind == ImageKind::Post {
        seal_riff(&mut jpeg);
    }
    Ok(Bytes::from(jpeg))
}

/// Makes a WebP written to a pipe whole: ffmpeg cannot seek back in a pipe to write the RIFF
/// size (it leaves 0) and ends with bytes of no chunk, and browsers refuse such a file. The
/// file is cut after its last whole chunk and the RIFF size set to what precedes it.
pub fn seal_riff(webp: &mut Vec<u8>) {
    let mut end = 12usize;
    while end + 8 <= webp.len() {
        let size = u32::from_le_bytes([webp[end + 4], webp[end + 5], webp[end + 6], webp[end + 7]])
            as usize;
        let next = end
            .saturating_add(8)
            .saturating_add(size)
            .saturating_add(size & 1);
        if next > webp.len() {
            break;
        }
        end = next;
    }
    webp.truncate(end);
    let riff = u32::try_from(end.saturating_sub(8)).unwrap_or(u32::MAX);
    if webp.len() >= 8 {
        webp[4..8].copy_from_slice(&riff.to_le_bytes());
    }
}

/// Replaces the avatar or banner with the picture in `body`; the previous one is deleted.
pub async fn set_image(
    db: &Db,
    storage: &Storage,
    data_dir: &Path,
    user: &UserRecord,
    kind: ImageKind,
    body: &[u8],
    now: i64,
) -> Result<UserRecord, ProfileError> {
    let jpeg = render(data_dir, body, kind).await?;
    let key = image_key(&user.uuid, kind);
    replace_picture(storage, &key, jpeg, || {
        db.set_profile_image(user.id, kind == ImageKind::Banner, Some(&key), now)
    })
    .await?;
    reload(db, user.id).await
}

/// Replaces the slate picture of the source `source_id` (owned by the account `owner_uuid`)
/// with the picture in `body`, made 1280×720; the previous one is deleted. Returns its key.
pub async fn set_slate_picture(
    db: &Db,
    storage: &Storage,
    data_dir: &Path,
    owner_uuid: &str,
    source_id: i64,
    body: &[u8],
    now: i64,
) -> Result<String, ProfileError> {
    let jpeg = render(data_dir, body, ImageKind::Slate).await?;
    let key = image_key(owner_uuid, ImageKind::Slate);
    replace_picture(storage, &key, jpeg, || {
        db.set_source_slate_picture(source_id, Some(&key), now)
    })
    .await?;
    Ok(key)
}

/// Removes a source's slate picture (its stream gets the default slate).
pub async fn remove_slate_picture(
    db: &Db,
    storage: &Storage,
    source_id: i64,
    now: i64,
) -> Result<(), ProfileError> {
    let old = db.set_source_slate_picture(source_id, None, now).await?;
    delete_old(storage, old).await;
    Ok(())
}

/// Removes the avatar or banner.
pub async fn remove_image(
    db: &Db,
    storage: &Storage,
    user: &UserRecord,
    kind: ImageKind,
    now: i64,
) -> Result<UserRecord, ProfileError> {
    let old = db
        .set_profile_image(user.id, kind == ImageKind::Banner, None, now)
        .await?;
    delete_old(storage, old).await;
    reload(db, user.id).await
}

/// Stores `jpeg` at `key`, then has `record` point at it (returning the key it replaced),
/// then deletes the replaced picture; a failed `record` deletes the new one instead.
async fn replace_picture<F, Fut>(
    storage: &Storage,
    key: &str,
    jpeg: Bytes,
    record: F,
) -> Result<(), ProfileError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, ferrocast_db::DbError>>,
{
    storage.put(key, jpeg).await?;
    let old = match record().await {
        Ok(old) => old,
        Err(e) => {
            let _ = storage.delete(key).await;
            return Err(e.into());
        }
    };
    delete_old(storage, old).await;
    Ok(())
}

async fn delete_old(storage: &Storage, old: Option<String>) {
    if let Some(old) = old {
        if let Err(e) = storage.delete(&old).await {
            if !e.is_not_found() {
                tracing::warn!(key = %old, error = %e, "cannot delete a replaced profile picture");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piped_webp_is_sealed() {
        // RIFF with size 0, WEBP, a 4-byte VP8 chunk, then 4 bytes of no chunk.
        let mut w = b"RIFF\0\0\0\0WEBPVP8 \x04\0\0\0abcdjunk".to_vec();
        seal_riff(&mut w);
        assert_eq!(w, b"RIFF\x10\0\0\0WEBPVP8 \x04\0\0\0abcd".to_vec());
        // An odd chunk is padded; a chunk that claims more than there is ends the file.
        let mut w = b"RIFF\0\0\0\0WEBPVP8 \x03\0\0\0abc\0VP8X\xff\0\0\0x".to_vec();
        seal_riff(&mut w);
        assert_eq!(w.len(), 24);
        assert_eq!(&w[4..8], &16u32.to_le_bytes());
    }

    #[test]
    fn keys_and_magic() {
        let uuid = "0b6f8c1e-2f4a-4d8e-9a51-3c0f1e2d4b6a";
        let key = image_key(uuid, ImageKind::Avatar);
        assert!(is_profile_key(&key), "{key}");
        assert!(is_profile_key(&image_key(uuid, ImageKind::Banner)));
        for bad in [
            "videos/abc/thumb.jpg",
            "profiles/../x/avatar-abcdefgh.jpg",
            &format!("profiles/{uuid}/avatar-abc.jpg"),
            &format!("profiles/{uuid}/other-abcdefghij.jpg"),
            &format!("profiles/{uuid}/avatar-abcdefghij.png"),
            &format!("profiles/{uuid}/x/avatar-abcdefghij.jpg"),
        ] {
            assert!(!is_profile_key(bad), "{bad}");
        }
        assert_eq!(image_demuxer(b"\x89PNG\r\n\x1a\nxxxx"), Some("png_pipe"));
        assert_eq!(image_demuxer(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("jpeg_pipe"));
        assert_eq!(image_demuxer(b"RIFF\0\0\0\0WEBPVP8 "), Some("webp_pipe"));
        assert_eq!(image_demuxer(b"#EXTM3U\n"), None);
        assert_eq!(image_demuxer(b"GIF89a"), None);
    }
}
