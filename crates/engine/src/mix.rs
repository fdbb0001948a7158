//! A composite of several live streams as one (a hangout's broadcast): one ffmpeg plays each
//! input over RTMP from this node, lays the pictures out in a grid on a 1280×720 canvas, mixes
//! the sounds, and publishes the result over RTMP (to a creator's source, so that it is
//! packaged, restreamed and recorded like any live stream). [`Mix`] keeps it running: when the
//! inputs change it starts ffmpeg again with the new layout, and an ffmpeg that ends by itself
//! is started again after a pause.

use std::process::Stdio;
use std::time::Duration;

use tokio::sync::watch;

/// The canvas.
pub const WIDTH: u32 = 1280;
/// The canvas.
pub const HEIGHT: u32 = 720;
/// The most inputs laid out (a hangout's stage).
pub const MAX_INPUTS: usize = 9;

/// Where each input sits: `(x, y, width, height)` on the canvas, a grid of `ceil(√n)` columns.
pub fn layout(n: usize) -> Vec<(u32, u32, u32, u32)> {
    let n = n.clamp(1, MAX_INPUTS);
    let cols = (1..=3).find(|c| c * c >= n).unwrap_or(3);
    let rows = n.div_ceil(cols);
    // Even sizes, as yuv420p wants.
    let (w, h) = ((WIDTH / cols as u32) & !1, (HEIGHT / rows as u32) & !1);
    (0..n)
        .map(|i| {
            let (c, r) = ((i % cols) as u32, (i / cols) as u32);
            // The last row's cells are centred when it is not full.
            let in_row = if r as usize == rows - 1 {
                n - (rows - 1) * cols
            } else {
                cols
            };
            let offset = (WIDTH - in_row as u32 * w) / 2;
            (offset + c * w, r * h + (HEIGHT - rows as u32 * h) / 2, w, h)
        })
        .collect()
}

/// The ffmpeg arguments (after the program name) compositing `inputs` (RTMP URLs) to `output`.
pub fn arguments(inputs: &[String], output: &str) -> Vec<String> {
    let mut a: Vec<String> = ["-hide_banner", "-loglevel", "error", "-nostdin"]
        .map(String::from)
        .to_vec();
    a.extend(
        ["-f", "lavfi", "-i"]
            .map(String::from)
            .into_iter()
            .chain([format!("color=c=0x111827:s={WIDTH}x{HEIGHT}:r=30")]),
    );
    a.extend(["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"].map(String::from));
    for url in inputs {
        a.extend(
            ["-rw_timeout", "10000000", "-fflags", "nobuffer", "-i"]
                .map(String::from)
                .into_iter()
                .chain([url.clone()]),
        );
    }
    let cells = layout(inputs.len());
    let mut graph = String::new();
    let mut last = "[0:v]".to_string();
    for (i, (x, y, w, h)) in cells.iter().enumerate().take(inputs.len()) {
        let input = i + 2;
        graph.push_str(&format!(
            "[{input}:v]scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=0x111827,setsar=1[c{i}];"
        ));
        let out = format!("[v{i}]");
        graph.push_str(&format!(
            "{last}[c{i}]overlay=x={x}:y={y}:eof_action=pass:repeatlast=0{out};"
        ));
        last = out;
    }
    graph.push_str(&format!("{last}format=yuv420p[v];"));
    // The silence comes first: amix's `duration=first` follows it, and it never ends, so the
    // mix goes on when every input is quiet or gone.
    let sounds: String = std::iter::once("[1:a]".to_string())
        .chain((0..inputs.len()).map(|i| format!("[{}:a]", i + 2)))
        .collect();
    graph.push_str(&format!(
        "{sounds}amix=inputs={}:duration=first:dropout_transition=0:normalize=0[a]",
        inputs.len() + 1
    ));
    a.extend(["-filter_complex".to_string(), graph]);
    a.extend(
        [
            "-map",
            "[v]",
            "-map",
            "[a]",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-g",
            "60",
            "-b:v",
            "2500k",
            "-maxrate",
            "2500k",
            "-bufsize",
            "5000k",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ar",
            "48000",
            "-f",
            "flv",
        ]
        .map(String::from),
    );
    a.push(output.to_string());
    a
}

/// A running composite; dropping it stops ffmpeg.
pub struct Mix {
    inputs: watch::Sender<Vec<String>>,
}

impl Mix {
    /// Starts compositing `inputs` (RTMP URLs) to `output` (an RTMP URL).
    pub fn start(inputs: Vec<String>, output: String) -> Mix {
        let (tx, rx) = watch::channel(inputs);
        tokio::spawn(run(rx, output));
        Mix { inputs: tx }
    }

    /// Changes the inputs: ffmpeg starts again with the new layout (nothing happens when they
    /// are the same).
    pub fn set_inputs(&self, inputs: Vec<String>) {
        self.inputs.send_if_modified(|i| {
            let changed = *i != inputs;
            *i = inputs;
            changed
        });
    }
}

async fn run(mut inputs: watch::Receiver<Vec<String>>, output: String) {
    let mut failures = 0u32;
    loop {
        let now = inputs.borrow_and_update().clone();
        if now.is_empty() {
            // Nothing to show: wait for an input (or for the mix to be dropped).
            if inputs.changed().await.is_err() {
                return;
            }
            continue;
        }
        let mut child = match tokio::process::Command::new("ffmpeg")
            .args(arguments(&now, &output))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start ffmpeg for a composite");
                return;
            }
        };
        tracing::info!(inputs = now.len(), "composite started");
        let started = tokio::time::Instant::now();
        tokio::select! {
            _ = child.wait() => {
                // Ended by itself (an input or the output went away): again, after a pause that
                // grows while it keeps failing at once.
                failures = if started.elapsed() > Duration::from_secs(30) { 0 } else { failures + 1 };
                let pause = Duration::from_millis(500 * u64::from(failures.min(10)));
                tracing::warn!(failures, "the composite's ffmpeg ended; starting it again");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    r = inputs.changed() => if r.is_err() { return },
                }
            }
            r = inputs.changed() => {
                let _ = child.kill().await;
                if r.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cells_fit_the_canvas_without_overlapping() {
        for n in 1..=MAX_INPUTS {
            let cells = layout(n);
            assert_eq!(cells.len(), n);
            for (i, a) in cells.iter().enumerate() {
                assert!(a.0 + a.2 <= WIDTH && a.1 + a.3 <= HEIGHT, "{n}: {a:?}");
                assert!(a.2 % 2 == 0 && a.3 % 2 == 0);
                for b in &cells[i + 1..] {
                    let apart = a.0 + a.2 <= b.0
                        || b.0 + b.2 <= a.0
                        || a.1 + a.3 <= b.1
                        || b.1 + b.3 <= a.1;
                    assert!(apart, "{n}: {a:?} overlaps {b:?}");
                }
            }
        }
        assert_eq!(layout(1), vec![(0, 0, 1280, 720)]);
        assert_eq!(layout(2), vec![(0, 0, 640, 720), (640, 0, 640, 720)]);
        // Three: two above, one centred below.
        assert_eq!(layout(3)[2], (320, 360, 640, 360));
    }

    #[test]
    fn the_filter_graph_names_every_input() {
        let a = arguments(&["rtmp://a".into(), "rtmp://b".into()], "rtmp://out");
        let graph = &a[a.iter().position(|x| x == "-filter_complex").unwrap() + 1];
        assert!(graph.contains("[2:v]") && graph.contains("[3:v]"));
        assert!(
            graph.contains("[1:a][2:a][3:a]amix=inputs=3:duration=first"),
            "{graph}"
        );
        assert_eq!(a.last().unwrap(), "rtmp://out");
    }
}
