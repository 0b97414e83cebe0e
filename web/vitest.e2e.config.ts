import { defineConfig } from "vitest/config";

// End-to-end tests: Chromium (Debian's, through playwright-core) against the real binary with the
// sandbox MongoDB, started once by e2e/global-setup.ts over a fresh database. `npm run e2e`
// (after `npm run build` and `cargo build -p edgebridge`; scripts/test-dashboard does all of it).
export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.ts"],
    environment: "node",
    globalSetup: ["e2e/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ["verbose"],
  },
});
