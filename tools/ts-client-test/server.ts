// A `marketplace serve` of its own for the tests: a free 127.0.0.1 port and
// a new embedded database in a temp dir (seeded by a script first, when
// asked), stopped with SIGTERM.

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Server {
  url: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface ServerOptions {
  /** A Rhai script run on the database before the server starts. */
  seed?: string;
  /** More environment variables of the server. */
  env?: Record<string, string>;
}

export async function startServer(options: ServerOptions = {}): Promise<Server> {
  const bin = process.env.MARKETPLACE_BIN ?? "target/debug/marketplace";
  const dir = mkdtempSync(join(tmpdir(), "marketplace-ts-"));
  const db = `redb://${join(dir, "m.redb")}`;
  if (options.seed !== undefined) {
    execFileSync(bin, ["run", options.seed, "--db", db], { stdio: ["ignore", "ignore", "inherit"] });
  }
  const port = await freePort();
  const child: ChildProcess = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, "--db", db], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, RUST_LOG: "warn", ...options.env },
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`marketplace serve exited: ${stderr}`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`marketplace serve did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `${base}/rpc`,
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}
