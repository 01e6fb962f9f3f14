import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The build goes where the server looks for it: ATRIUM_WEB_OUT (the CMake build passes
// <build>/web), else dist/. API_URL (e.g. http://127.0.0.1:8080) makes `vite` proxy the API, git
// and environment paths to a running server while developing the UI.
const api = process.env.API_URL;
const proxy = api
  ? Object.fromEntries(["/api", "/env"].map((p) => [p, { target: api, changeOrigin: false, ws: true }]))
  : undefined;

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: process.env.ATRIUM_WEB_OUT ?? "dist",
    emptyOutDir: true,
    // No inline module preload polyfill: the Content-Security-Policy allows no inline script.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 700,
    // terminal.html: the terminal page Atrium serves on each environment's own origin.
    rollupOptions: { input: { index: "index.html", terminal: "terminal.html" } },
  },
  experimental: {
    // On an environment's origin only /_atrium/ is Atrium's: terminal.html names its files from
    // there (the server maps /_atrium/assets/ to assets/); chunks import each other relatively.
    renderBuiltUrl(filename, { hostType, hostId }) {
      if (hostType === "html") return hostId.endsWith("terminal.html") ? `/_atrium/${filename}` : `/${filename}`;
      return { relative: true };
    },
  },
  server: { proxy },
  // Unit tests of the client logic (upload resume, log decoding, ...): src/**/*.test.ts.
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
