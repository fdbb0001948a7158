//! Writes gathered into rounds: work that many live streams do at the same instants (viewer
//! samples, usage heartbeats) reaches one writer, which stores a round in one transaction or a
//! few multi-row statements instead of one write per stream.

use std::time::Duration;
use tokio::sync::mpsc;

/// The next round from `rx`: its first item, then whatever else arrives within `window` of it,
/// at most `max` in all. `None` once every sender is gone.
pub async fn next_round<T>(
    rx: &mut mpsc::Receiver<T>,
    window: Duration,
    max: usize,
) -> Option<Vec<T>> {
    let mut round = vec![rx.recv().await?];
    let gather = tokio::time::sleep(window);
    tokio::pin!(gather);
    while round.len() < max {
        tokio::select! {
            item = rx.recv() => match item {
                Some(item) => round.push(item),
                None => break,
            },
            _ = &mut gather => break,
        }
    }
    Some(round)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Paused time: the windows are exact whatever the machine is doing.
    #[tokio::test(start_paused = true)]
    async fn a_round_ends_at_its_window_or_its_size() {
        let (tx, mut rx) = mpsc::channel(16);
        for i in 0..5 {
            tx.send(i).await.expect("send");
        }
        let window = Duration::from_millis(50);
        assert_eq!(next_round(&mut rx, window, 3).await, Some(vec![0, 1, 2]));
        let late = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            late.send(9).await.expect("send");
        });
        // 3 and 4 are waiting; 9 comes after the window, so it starts the next round.
        assert_eq!(next_round(&mut rx, window, 10).await, Some(vec![3, 4]));
        drop(tx);
        assert_eq!(next_round(&mut rx, window, 10).await, Some(vec![9]));
        assert_eq!(next_round(&mut rx, window, 10).await, None);
    }
}
