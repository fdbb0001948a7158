//! Broadcast analytics: viewer samples written a round at a time.

use ferrocast_db::analytics::ViewerSampleRow;
use ferrocast_db::Db;

use crate::support::{both_backends, live_session, source, user, NOW};

both_backends!(a_round_of_samples_is_stored_in_one_write);

async fn a_round_of_samples_is_stored_in_one_write(db: &Db) {
    let u = user(db, "samples@example.com").await;
    let s = source(db, u.id, "cam").await;
    let a = live_session(db, u.id, &s).await;
    let b = live_session(db, u.id, &s).await;
    let row = |id, at, viewers| ViewerSampleRow {
        stream_session_id: id,
        at,
        viewers,
        peak: viewers + 1,
        hls: viewers,
        ..ViewerSampleRow::default()
    };
    // 300 rows (more than one statement takes), one instant twice: the later row wins.
    let mut rows: Vec<ViewerSampleRow> = (0..150)
        .flat_map(|i| [row(a, NOW + i * 5000, i), row(b, NOW + i * 5000, 2 * i)])
        .collect();
    rows.push(row(a, NOW, 42));
    db.insert_viewer_samples(&rows).await.expect("insert");
    let got = db.viewer_samples(a, 1000).await.expect("samples");
    assert_eq!(got.len(), 150);
    assert_eq!(got[0], row(a, NOW, 42));
    assert_eq!(got[149], row(a, NOW + 149 * 5000, 149));
    let got = db.viewer_samples(b, 1000).await.expect("samples");
    assert_eq!(got.len(), 150);
    assert_eq!(got[7], row(b, NOW + 7 * 5000, 14));
    // Written again for the same instants, they replace what was there.
    db.insert_viewer_samples(&[row(b, NOW + 7 * 5000, 99)])
        .await
        .expect("again");
    let got = db.viewer_samples(b, 1000).await.expect("samples");
    assert_eq!((got.len(), got[7]), (150, row(b, NOW + 7 * 5000, 99)));
}
