// Prints the gzipped size of what the dashboard loads first (index.html's scripts and styles,
// and the modules they preload) and fails the build above the 250 KB budget.
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const dir = new URL("../dist/app/", import.meta.url).pathname;
const html = readFileSync(join(dir, "index.html"), "utf8");
const initial = [...html.matchAll(/(?:src|href)="\/dashboard\/([^"]+\.(?:js|css))"/g)].map((m) => m[1]);
const gz = (file) => gzipSync(readFileSync(join(dir, file)), { level: 9 }).length;
let total = 0;
for (const file of initial) total += gz(file);
let all = 0;
for (const file of readdirSync(join(dir, "assets"))) all += gz(join("assets", file));
const kb = (n) => (n / 1024).toFixed(1);
console.log(`dashboard_initial_js_css_gzip: ${kb(total)} KB (${initial.length} files)`);
console.log(`dashboard_all_assets_gzip: ${kb(all)} KB`);
if (total > 250 * 1024) {
  console.error(`the dashboard's initial JS + CSS is ${kb(total)} KB gzipped, over the 250 KB budget`);
  process.exit(1);
}
