import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

// The API serves the build at /app/ (assets) and / (index.html); see src/gamehub/web.
export default defineConfig({
  base: "/app/",
  plugins: [preact()],
  build: {
    outDir: "../src/gamehub/web/static",
    emptyOutDir: true,
    // One stable file name per asset kind: the committed build changes only when its
    // sources do, and the staleness test compares hashes of the sources, not of the output.
    rollupOptions: {
      output: {
        entryFileNames: "assets/app.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
      },
    },
  },
  server: { proxy: { "^/(?!app/|src/|@|node_modules/).*": "http://127.0.0.1:8000" } },
});
