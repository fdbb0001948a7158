// Links for sharing a stream: its watch page, its embeddable player and the `<iframe>` code a
// site pastes to show it.

/** The watch page of a stream, absolute (to share). */
export function watchUrl(playbackId: string, origin = location.origin): string {
  return `${origin}/watch/${encodeURIComponent(playbackId)}`;
}

/** The embeddable player of a stream (`/embed/<playback_id>`), absolute. */
export function embedUrl(playbackId: string, origin = location.origin): string {
  return `${origin}/embed/${encodeURIComponent(playbackId)}`;
}

/** The HTML a site pastes to embed the stream: a 16:9 `<iframe>` of the embed page that may
 * go full screen and autoplay (muted). */
export function iframeCode(playbackId: string, origin = location.origin): string {
  return (
    `<iframe src="${embedUrl(playbackId, origin)}" width="640" height="360" ` +
    `style="border:0;max-width:100%;aspect-ratio:16/9;height:auto" ` +
    `allow="autoplay; fullscreen; picture-in-picture" allowfullscreen title="Live stream on ferrocast"></iframe>`
  );
}
