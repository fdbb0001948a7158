// The home feed: your posts and those of the channels you follow, newest first, with the
// composer on top.
import { useEffect } from "react";
import { session } from "../api";
import { Link, navigate } from "../router";
import { PostList } from "../posts";

export default function Feed() {
  useEffect(() => {
    if (!session()) navigate("/login?return_to=/feed");
  }, []);
  if (!session()) return null;
  return (
    <div className="feed-page">
      <h1>Your feed</h1>
      <PostList
        path="/api/feed"
        composer
        empty={
          <>
            Nothing here yet. <Link href="/browse">Follow channels</Link> and their posts show up here; your own posts too.
          </>
        }
      />
    </div>
  );
}
