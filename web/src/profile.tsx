// A person as the app shows them: their avatar (or the first letter of their name) and the link
// to their channel (`/c/<handle>`), used by the channel, watch and video pages and Settings.
import { Link } from "./router";
import "./channel.css";

/** The first letter of a name, for someone without an avatar. */
function initial(name: string): string {
  return Array.from(name.trim())[0]?.toUpperCase() ?? "?";
}

export function Avatar({ url, name, className = "" }: { url?: string | null; name: string; className?: string }) {
  return url ? (
    <img className={`avatar ${className}`} src={url} alt="" />
  ) : (
    // The initial is drawn by CSS (`data-initial`), so it is not part of the text around it.
    <span className={`avatar avatar-none ${className}`} aria-hidden="true" data-initial={initial(name)} />
  );
}

/** A creator's avatar and name, linking to their channel. */
export function CreatorLink({ handle, name, avatarUrl, testId }: { handle: string; name: string; avatarUrl?: string | null; testId?: string }) {
  if (!handle) return <span data-testid={testId}>{name}</span>;
  return (
    <Link href={`/c/${encodeURIComponent(handle)}`} className="creator-link" data-testid={testId}>
      <Avatar url={avatarUrl} name={name} />
      <span>{name}</span>
    </Link>
  );
}
