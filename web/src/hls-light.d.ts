// hls.js's light build (no alternate audio, subtitles or DRM: what a live player needs) has the
// same API as the full build, whose types it reuses.
declare module "hls.js/light" {
  import Hls from "hls.js";
  export default Hls;
}
