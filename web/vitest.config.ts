import { defineConfig } from "vitest/config";

// Unit tests of the client logic (no browser): `npm test`.
export default defineConfig({
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
