import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` serves the app on :5173 and sends the API, players and Socket.IO to a
// ferrocast node on :8080; `npm run build` writes web/dist, which `ferrocast serve` serves.
const node = process.env.FERROCAST_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 600 },
  server: {
    proxy: {
      "/api": node,
      "/hls": node,
      "/live": node,
      "/socket.io": { target: node, ws: true },
    },
  },
});
