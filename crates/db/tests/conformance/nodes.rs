//! The node registry: heartbeats replace a node's stream list; the origin of a stream is a fresh
//! node holding it as published (never a relay, never the asking node); stale nodes expire with
//! their streams; a node removes itself.

use ferrocast_db::nodes::{NodeRecord, NodeStream};
use ferrocast_db::Db;

use crate::support::{both_backends, MINUTE, NOW};

both_backends!(
    heartbeats_replace_the_stream_list,
    the_origin_is_a_fresh_publishing_node,
    stale_nodes_expire_and_nodes_remove_themselves,
);

fn node(id: &str, role: &str, at: i64) -> NodeRecord {
    NodeRecord {
        id: id.into(),
        role: role.into(),
        rtmp_url: format!("rtmp://{id}:1935"),
        http_url: format!("http://{id}:8080"),
        started_at: NOW,
        heartbeat_at: at,
    }
}

fn stream(pid: &str, relay: bool) -> NodeStream {
    NodeStream {
        playback_id: pid.into(),
        source_id: 9,
        relay,
        since: NOW,
    }
}

async fn heartbeats_replace_the_stream_list(db: &Db) {
    db.node_heartbeat(
        &node("a", "origin", NOW),
        &[stream("p1", false), stream("p2", false)],
    )
    .await
    .unwrap();
    db.node_heartbeat(&node("a", "origin", NOW + 5_000), &[stream("p2", false)])
        .await
        .unwrap();
    let nodes = db.list_nodes().await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].0.heartbeat_at, NOW + 5_000);
    assert_eq!(nodes[0].1, vec![stream("p2", false)]);
}

async fn the_origin_is_a_fresh_publishing_node(db: &Db) {
    db.node_heartbeat(&node("a", "origin", NOW), &[stream("p1", false)])
        .await
        .unwrap();
    db.node_heartbeat(&node("b", "edge", NOW), &[stream("p1", true)])
        .await
        .unwrap();
    let found = db
        .stream_origin("p1", "c", NOW - MINUTE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.node.id, "a");
    assert_eq!(found.node.rtmp_url, "rtmp://a:1935");
    assert_eq!(found.source_id, 9);
    // Never the asking node itself, never a relay, never a stale node.
    assert_eq!(
        db.stream_origin("p1", "a", NOW - MINUTE).await.unwrap(),
        None
    );
    assert_eq!(db.stream_origin("p1", "c", NOW + 1).await.unwrap(), None);
    assert_eq!(
        db.stream_origin("p9", "c", NOW - MINUTE).await.unwrap(),
        None
    );
}

async fn stale_nodes_expire_and_nodes_remove_themselves(db: &Db) {
    db.node_heartbeat(&node("old", "origin", NOW - MINUTE), &[stream("p1", false)])
        .await
        .unwrap();
    db.node_heartbeat(&node("new", "edge", NOW), &[stream("p1", true)])
        .await
        .unwrap();
    assert_eq!(db.expire_nodes(NOW - 30_000).await.unwrap(), 1);
    let nodes = db.list_nodes().await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].0.id, "new");
    assert_eq!(db.stream_origin("p1", "x", 0).await.unwrap(), None);
    assert!(db.remove_node("new").await.unwrap());
    assert!(!db.remove_node("new").await.unwrap());
    assert!(db.list_nodes().await.unwrap().is_empty());
}
