// The stock tus-js-client against a ferrocast node, driven by the Rust integration tests
// (crates/server/tests/it/uploads.rs). Usage: node tus.mjs '<json params>'; prints JSON.
//
// Scenario "abort-resume": uploads `file` in chunks of `chunkSize`, aborts once more than half
// has been sent, then finds the stored upload (FileUrlStorage) and resumes it to the end.
import fs from "node:fs";
import * as tus from "tus-js-client";

const params = JSON.parse(process.argv[2]);
const data = fs.readFileSync(params.file);
const urlStorage = new tus.FileUrlStorage(params.urlStorage);
const out = { size: data.length, events: [] };

function options(extra) {
  return {
    endpoint: params.endpoint,
    chunkSize: params.chunkSize,
    headers: { Authorization: `Bearer ${params.token}` },
    metadata: { filename: "clip.mp4", filetype: "video/mp4", title: params.title },
    urlStorage,
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: false,
    retryDelays: null,
    onAfterResponse(req, res) {
      const offset = res.getHeader("Upload-Offset");
      out.events.push({ method: req.getMethod(), status: res.getStatus(), offset: offset ?? null });
      const video = res.getHeader("X-Video-Id");
      if (video) out.videoId = video;
    },
    ...extra,
  };
}

function timeout(ms, what) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} timed out`)), ms));
}

async function first() {
  let upload;
  const done = new Promise((resolve, reject) => {
    let aborted = false;
    upload = new tus.Upload(
      data,
      options({
        onProgress(sent, total) {
          if (!aborted && sent / total > 0.5) {
            aborted = true;
            out.abortedAt = sent;
            upload.abort().then(resolve, reject);
          }
        },
        onSuccess() {
          reject(new Error("the first upload finished before it was aborted"));
        },
        onError: reject,
      }),
    );
    upload.start();
  });
  await Promise.race([done, timeout(60000, "the first upload")]);
  out.firstUrl = upload.url;
}

async function second() {
  let upload;
  const done = new Promise((resolve, reject) => {
    upload = new tus.Upload(data, options({ onSuccess: resolve, onError: reject }));
    upload
      .findPreviousUploads()
      .then((previous) => {
        out.previous = previous.length;
        if (previous.length === 0) throw new Error("no previous upload was stored");
        upload.resumeFromPreviousUpload(previous[0]);
        out.eventsBeforeResume = out.events.length;
        upload.start();
      })
      .catch(reject);
  });
  await Promise.race([done, timeout(60000, "the resumed upload")]);
  out.secondUrl = upload.url;
}

try {
  await first();
  // Let the aborted request's end reach the server before asking where the upload is.
  await new Promise((r) => setTimeout(r, 300));
  await second();
  console.log(JSON.stringify(out));
  process.exit(0);
} catch (e) {
  out.error = String(e && e.stack ? e.stack : e);
  console.log(JSON.stringify(out));
  process.exit(1);
}
