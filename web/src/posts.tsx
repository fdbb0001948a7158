// Social posts: the composer (text and up to four pictures, each uploaded as it is picked and
// shown as a thumbnail), a post's card (its pictures, the like button, comments that open below
// it), and lists of posts — the home feed and a channel's posts — that page with "Show older".
import { useEffect, useState, type FormEvent } from "react";
import { api, type Schemas } from "./api";
import { Avatar } from "./profile";
import { Link } from "./router";
import { Empty, Loading, Problem, useUser } from "./ui";
import { ago } from "./format";
import { ReportButton } from "./safety";
import "./posts.css";

type Post = Schemas["PostView"];
type Comment = Schemas["PostCommentView"];
const MAX_PICTURES = 4;

/** Write a post: text, pictures, Post. */
export function PostComposer({ onPosted }: { onPosted: (p: Post) => void }) {
  const [body, setBody] = useState("");
  const [pictures, setPictures] = useState<Schemas["PostImage"][]>([]);
  const [uploading, setUploading] = useState(0);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function add(files: FileList | null) {
    if (!files) return;
    setError(null);
    const room = MAX_PICTURES - pictures.length;
    const picked = Array.from(files).slice(0, room);
    if (files.length > room) setError(new Error(`A post holds ${MAX_PICTURES} pictures at most; the first ${room} were added`));
    for (const f of picked) {
      setUploading((n) => n + 1);
      try {
        const img = await api<Schemas["PostImage"]>("POST", "/api/posts/images", f);
        setPictures((p) => [...p, img]);
      } catch (e) {
        setError(e);
      } finally {
        setUploading((n) => n - 1);
      }
    }
  }
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const post = await api<Post>("POST", "/api/posts", { body, images: pictures.map((p) => p.key) } satisfies Schemas["NewPost"]);
      setBody("");
      setPictures([]);
      onPosted(post);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="card composer" onSubmit={submit} aria-label="New post" data-testid="composer">
      <label>
        <span className="sr-only">What's new?</span>
        <textarea value={body} onChange={(e) => setBody(e.target.value)} placeholder="What's new? Share it with your followers…" rows={3} maxLength={2000} aria-label="What's new?" />
      </label>
      {pictures.length > 0 && (
        <ul className="composer-pictures">
          {pictures.map((p) => (
            <li key={p.key}>
              <img src={p.url} alt="" />
              <button type="button" className="link small" aria-label="Remove this picture" onClick={() => setPictures((all) => all.filter((x) => x.key !== p.key))}>
                ✕
              </button>
            </li>
          ))}
        </ul>
      )}
      <Problem error={error} />
      <div className="composer-actions">
        <label className={`button ghost small ${pictures.length >= MAX_PICTURES ? "disabled" : ""}`}>
          {uploading > 0 ? "Uploading…" : "Add pictures"}
          <input type="file" accept="image/png,image/jpeg,image/webp" multiple hidden disabled={pictures.length >= MAX_PICTURES} onChange={(e) => (add(e.target.files), (e.target.value = ""))} />
        </label>
        <span className="muted small">{pictures.length}/{MAX_PICTURES} pictures</span>
        <button type="submit" disabled={busy || uploading > 0 || (!body.trim() && pictures.length === 0)}>
          {busy ? "Posting…" : "Post"}
        </button>
      </div>
    </form>
  );
}

/** One post, with its likes and comments. */
export function PostCard({ post, onDeleted }: { post: Post; onDeleted: (uuid: string) => void }) {
  const user = useUser();
  const [likes, setLikes] = useState({ likes: post.likes, liked: post.liked });
  const [open, setOpen] = useState(false);
  const [count, setCount] = useState(post.comments);
  const [error, setError] = useState<unknown>(null);
  async function like() {
    if (!user) return void (location.href = "/login");
    setError(null);
    try {
      setLikes(await api<Schemas["PostLikes"]>(likes.liked ? "DELETE" : "PUT", `/api/posts/${post.uuid}/like`));
    } catch (e) {
      setError(e);
    }
  }
  async function remove() {
    if (!confirm("Delete this post? Its pictures, likes and comments go with it.")) return;
    try {
      await api("DELETE", `/api/posts/${post.uuid}`);
      onDeleted(post.uuid);
    } catch (e) {
      setError(e);
    }
  }
  return (
    <article className="card post" data-testid="post">
      <header className="post-head">
        <Link href={post.author.channel_url} className="post-author">
          <Avatar url={post.author.avatar_url} name={post.author.display_name} />
          <strong>{post.author.display_name}</strong>
        </Link>
        <time className="muted small" dateTime={post.created_at} title={new Date(post.created_at).toLocaleString()}>
          {ago(post.created_at)}
        </time>
        <span className="post-tools">
          {user && user.handle !== post.author.handle && <ReportButton kind="post" target={post.uuid} label={`${post.author.display_name}'s post`} compact testId="post-report" />}
          {post.can_delete && (
            <button className="link small danger" onClick={remove} aria-label="Delete this post">
              Delete
            </button>
          )}
        </span>
      </header>
      {post.body && <p className="post-body">{post.body}</p>}
      {post.images.length > 0 && (
        <div className={`post-pictures n${post.images.length}`}>
          {post.images.map((src) => (
            <a key={src} href={src} target="_blank" rel="noopener">
              <img src={src} alt="" loading="lazy" />
            </a>
          ))}
        </div>
      )}
      <Problem error={error} />
      <footer className="post-actions">
        <button className={`ghost small ${likes.liked ? "on" : ""}`} aria-pressed={likes.liked} onClick={like} data-testid="post-like">
          {likes.liked ? "♥" : "♡"} {likes.likes} {likes.likes === 1 ? "like" : "likes"}
        </button>
        <button className="ghost small" aria-expanded={open} onClick={() => setOpen(!open)} data-testid="post-comments-toggle">
          💬 {count} {count === 1 ? "comment" : "comments"}
        </button>
      </footer>
      {open && <PostComments uuid={post.uuid} count={count} onCount={setCount} />}
    </article>
  );
}

function PostComments({ uuid, count, onCount }: { uuid: string; count: number; onCount: (n: number) => void }) {
  const user = useUser();
  const [comments, setComments] = useState<Comment[] | null>(null);
  const [text, setText] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    let live = true;
    api<Schemas["PostComments"]>("GET", `/api/posts/${uuid}/comments`).then(
      (r) => live && setComments(r.comments),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [uuid]);
  async function send(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const c = await api<Comment>("POST", `/api/posts/${uuid}/comments`, { body: text } satisfies Schemas["NewPostComment"]);
      setComments([...(comments ?? []), c]);
      onCount(count + 1);
      setText("");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  async function remove(id: number) {
    try {
      await api("DELETE", `/api/posts/comments/${id}`);
      setComments((comments ?? []).filter((c) => c.id !== id));
      onCount(Math.max(0, count - 1));
    } catch (err) {
      setError(err);
    }
  }
  return (
    <section className="post-comments" aria-label="Comments">
      {comments === null && !error && <Loading what="the comments" />}
      {comments && comments.length === 0 && <p className="muted small">No comments yet.</p>}
      <ul>
        {comments?.map((c) => (
          <li key={c.id} data-testid="post-comment">
            <Avatar url={c.author.avatar_url} name={c.author.display_name} />
            <div>
              <Link href={c.author.channel_url}><strong>{c.author.display_name}</strong></Link> <span className="muted small">{ago(c.created_at)}</span>
              <p>{c.body}</p>
            </div>
            {user && user.handle !== c.author.handle && <ReportButton kind="post_comment" target={String(c.id)} label={`${c.author.display_name}'s comment`} compact />}
            {c.can_delete && (
              <button className="link small danger" onClick={() => remove(c.id)} aria-label={`Delete ${c.author.display_name}'s comment`}>
                Delete
              </button>
            )}
          </li>
        ))}
      </ul>
      <Problem error={error} />
      {user ? (
        <form onSubmit={send} className="post-comment-form">
          <input value={text} onChange={(e) => setText(e.target.value)} placeholder="Write a comment" aria-label="Write a comment" maxLength={2000} required />
          <button type="submit" className="small" disabled={busy || !text.trim()}>{busy ? "Sending…" : "Send"}</button>
        </form>
      ) : (
        <p className="muted small"><Link href="/login">Log in</Link> to comment.</p>
      )}
    </section>
  );
}

/** Posts from `path` (a page of `PostPage`), newest first, with "Show older". */
export function PostList({ path, empty, composer = false }: { path: string; empty: React.ReactNode; composer?: boolean }) {
  const [posts, setPosts] = useState<Post[] | null>(null);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [generation, setGeneration] = useState(0);
  async function load(before: number | null, isLive: () => boolean = () => true) {
    setError(null);
    try {
      const sep = path.includes("?") ? "&" : "?";
      const page = await api<Schemas["PostPage"]>("GET", before ? `${path}${sep}before=${before}` : path);
      if (!isLive()) return;
      setPosts((p) => (before ? [...(p ?? []), ...page.posts] : page.posts));
      setNext(page.next ?? null);
    } catch (e) {
      if (isLive()) setError(e);
    }
  }
  useEffect(() => {
    // A page for another path (another channel) that answers late is dropped.
    let live = true;
    setPosts(null);
    load(null, () => live);
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [path, generation]);
  const gone = (uuid: string) => setPosts((p) => (p ?? []).filter((x) => x.uuid !== uuid));
  return (
    <div className="post-list">
      {composer && <PostComposer onPosted={(p) => setPosts((all) => [p, ...(all ?? [])])} />}
      {error ? <Problem error={error} onRetry={() => setGeneration((g) => g + 1)} /> : null}
      {posts === null && !error && <Loading what="posts" />}
      {posts && posts.length === 0 && <Empty>{empty}</Empty>}
      {posts?.map((p) => <PostCard key={p.uuid} post={p} onDeleted={gone} />)}
      {next && (
        <p className="post-more">
          <button className="ghost" onClick={() => load(next)}>Show older posts</button>
        </p>
      )}
    </div>
  );
}
