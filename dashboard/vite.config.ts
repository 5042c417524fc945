/// <reference types="vitest" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The built dashboard goes where axonize-server serves it from (and the wheel ships it).
const outDir = "../backend/axonize_backend/static";

export default defineConfig({
  plugins: [react()],
  base: "./",
  build: { outDir, emptyOutDir: true, chunkSizeWarningLimit: 1000 },
  // `npm run dev` talks to a local axonize-server.
  server: { proxy: { "/api": "http://127.0.0.1:8080" } },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test-setup.ts"],
  },
});
