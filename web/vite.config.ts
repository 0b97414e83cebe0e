import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

// Served by the api at /dashboard/ (embedded in the binary at compile time from dist/app).
// `npm run dev` serves it on :5173 and sends /v1 to an api on :8080 (EDGEBRIDGE_API to change).
export default defineConfig({
  base: "/dashboard/",
  plugins: [preact()],
  build: {
    outDir: "dist/app",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: false,
    target: "es2022",
  },
  server: {
    proxy: { "/v1": process.env.EDGEBRIDGE_API ?? "http://127.0.0.1:8080" },
  },
});
