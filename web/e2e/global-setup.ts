// Starts the real binary (`edgebridge all --dev`: api, scheduler, a worker and the sandbox
// MongoDB) over a fresh database, and hands its address, owner key, operator token and the
// sandbox's connection string to the tests. Stops it and drops the database afterwards.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, existsSync, createWriteStream } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    url: string;
    ownerKey: string;
    operatorToken: string;
    mongoUri: string;
    artifacts: string;
  }
}

const root = resolve(import.meta.dirname, "../..");

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? ok(address.port) : fail(new Error("no port"))));
    });
  });
}

export default async function setup(project: TestProject) {
  const bin = process.env.EDGEBRIDGE_BIN ?? join(root, "target/debug/edgebridge");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`cargo build -p edgebridge\` first`);
  const server = process.env.DATABASE_SERVER ?? "postgres://postgres@127.0.0.1:5432";
  const db = `edgebridge_web_${process.pid}`;
  const psql = (sql: string) => execFileSync("psql", [`${server}/postgres`, "-qc", sql], { stdio: "pipe" });
  psql(`drop database if exists ${db} with (force)`);
  psql(`create database ${db}`);
  const work = mkdtempSync(join(tmpdir(), "edgebridge-web-"));
  const artifacts = process.env.E2E_ARTIFACTS ?? join(root, "web/e2e-artifacts");
  mkdirSync(artifacts, { recursive: true });
  const port = await freePort();
  const operatorToken = randomBytes(24).toString("base64url");
  const log = createWriteStream(join(artifacts, "server.log"));
  const child: ChildProcess = spawn(bin, ["all", "--dev"], {
    env: {
      ...process.env,
      DATABASE_URL: `${server}/${db}`,
      EDGEBRIDGE_LISTEN: `127.0.0.1:${port}`,
      EDGEBRIDGE_SANDBOX_PORT: "0",
      EDGEBRIDGE_DEV_KEYS_FILE: join(work, "dev-keys"),
      EDGEBRIDGE_OPERATOR_TOKEN: operatorToken,
      EDGEBRIDGE_RATE_LIMIT: "0",
      EDGEBRIDGE_AUTH_FAILURE_LIMIT: "0",
      EDGEBRIDGE_ALERT_INTERVAL_SECS: "2",
      EDGEBRIDGE_LOG_FORMAT: "json",
      RUST_LOG: process.env.RUST_LOG ?? "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
    log.write(d);
  });
  const started = Date.now();
  let ownerKey: string | undefined;
  let mongoUri: string | undefined;
  while (!(ownerKey && mongoUri)) {
    if (child.exitCode !== null) throw new Error(`edgebridge exited (${child.exitCode}):\n${stderr}`);
    if (Date.now() - started > 60_000) throw new Error(`edgebridge did not start within 60 s:\n${stderr}`);
    ownerKey = stdout.match(/ebk_[A-Za-z0-9_-]+/)?.[0];
    mongoUri = stderr.match(/MONGO='([^']+)'/)?.[1];
    await new Promise((r) => setTimeout(r, 100));
  }
  const url = `http://127.0.0.1:${port}`;
  project.provide("url", url);
  project.provide("ownerKey", ownerKey);
  project.provide("operatorToken", operatorToken);
  project.provide("mongoUri", mongoUri);
  project.provide("artifacts", artifacts);

  return async () => {
    child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    if (child.exitCode === null) child.kill("SIGKILL");
    log.end();
    try {
      psql(`drop database if exists ${db} with (force)`);
    } catch {
      // best effort
    }
    rmSync(work, { recursive: true, force: true });
  };
}
