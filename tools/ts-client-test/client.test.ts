// The generated client against a live server: typed calls, batches,
// notifications, typed errors with their code and kind, and event
// subscriptions over a WebSocket.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  Client,
  ERROR_KINDS,
  ProductCategory,
  RpcError,
  RpcSocket,
  request,
  type MarketEvent,
  type MethodName,
} from "../../target/ts-client/package/src/index.js";
import { startServer, type Server } from "./server.js";

let server: Server;
const email = `ada${Date.now()}@example.com`;
const password = "correct-horse-battery";

before(async () => {
  server = await startServer();
});

after(async () => {
  await server.stop();
});

async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RpcError, `an RpcError, got ${String(e)}`);
    return e;
  }
  assert.fail("the call succeeded");
}

test("register, log in and call as the user", async () => {
  const api = new Client({ url: server.url });
  const registered = await api.auth.register({ email, password, display_name: "Ada" });
  assert.equal(registered.user.email, email);
  assert.deepEqual(registered.user.roles, ["customer"]);
  assert.match(registered.token, /\S{16,}/);

  const login = await api.auth.login({ email, password });
  assert.equal(login.user.id, registered.user.id);
  assert.notEqual(login.token, registered.token);
  api.setToken(login.token);
  const me = await api.auth.me();
  assert.equal(me.id, registered.user.id);
  assert.equal(me.version, registered.user.version);

  const health = await api.system.health();
  assert.equal(health.status, "ok");
  assert.equal(health.db, "ok");

  const page = await api.product.list({ limit: 5 });
  assert.deepEqual(page.items, []);
  assert.equal(page.next_cursor, null);
  assert.ok(ProductCategory.includes("compute_slice"));
});

test("application errors are RpcErrors with code and kind", async () => {
  const api = new Client({ url: server.url });
  await api.auth.register({ email: `bob${Date.now()}@example.com`, password, display_name: "Bob" });

  const wrong = await rejection(api.auth.login({ email, password: "wrong-password-1" }));
  assert.equal(wrong.code, 4010);
  assert.equal(wrong.kind, "unauthenticated");
  assert.equal(wrong.code, ERROR_KINDS[wrong.kind as keyof typeof ERROR_KINDS]);
  assert.equal(wrong.method, "auth.login");

  const taken = await rejection(api.auth.register({ email, password, display_name: "Again" }));
  assert.equal(taken.code, 4090);
  assert.equal(taken.kind, "conflict");

  const short = await rejection(api.auth.register({ email: "c@example.com", password: "short", display_name: "C" }));
  assert.equal(short.code, 4000);
  assert.equal(short.kind, "invalid_input");
  assert.ok("password" in short.fields, JSON.stringify(short.data));

  const anonymous = await rejection(api.auth.me());
  assert.equal(anonymous.code, 4010);
  assert.equal(anonymous.kind, "unauthenticated");

  const missing = await rejection(api.product.get({ id: "01J9Z3K4M5N6P7Q8R9S0T1V2W3" }));
  assert.equal(missing.code, 4040);
  assert.equal(missing.kind, "not_found");

  // a standard JSON-RPC error keeps its code and gets its standard kind
  const unknown = await rejection(api.call("no.such_method" as MethodName, {} as never));
  assert.equal(unknown.code, -32601);
  assert.equal(unknown.kind, "method_not_found");
});

test("a batch settles each call on its own, in order", async () => {
  const api = new Client({ url: server.url });
  const { token } = await api.auth.login({ email, password });
  api.setToken(token);
  const [me, health, missing, page] = await api.batch([
    request("auth.me", {}),
    request("system.health", {}),
    request("product.get", { id: "01J9Z3K4M5N6P7Q8R9S0T1V2W3" }),
    request("product.list", { limit: 1 }),
  ] as const);
  assert.ok(me.ok && health.ok && page.ok, JSON.stringify([me, health, page]));
  assert.equal(me.value.email, email);
  assert.equal(health.value.status, "ok");
  assert.deepEqual(page.value.items, []);
  assert.ok(!missing.ok);
  assert.equal(missing.error.code, 4040);
  assert.equal(missing.error.kind, "not_found");
  assert.equal(missing.error.method, "product.get");
  assert.deepEqual(await api.batch([]), []);
});

test("a notification gets no answer", async () => {
  const api = new Client({ url: server.url });
  assert.equal(await api.notify("system.health", {}), undefined);
});

test("a live subscription gets the backlog, then new events, in seq order", async () => {
  const stamp = Date.now();
  const writer = new Client({ url: server.url });
  const reader = new Client({ url: server.url });
  const w = await writer.auth.register({ email: `writer${stamp}@example.com`, password, display_name: "Writer" });
  const r = await reader.auth.register({ email: `reader${stamp}@example.com`, password, display_name: "Reader" });
  writer.setToken(w.token);
  await writer.message.send({ to_user_id: r.user.id, body: "before" });

  const socket = await RpcSocket.open({ url: server.url.replace(/^http/, "ws"), token: r.token });
  const seen: MarketEvent[] = [];
  let more: () => void = () => {};
  // after_seq 0: the whole backlog the reader may see, then live events
  const sub = await socket.subscribe({ types: ["message.received"], after_seq: 0 }, (event) => {
    seen.push(event);
    more();
  });
  const until = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${seen.length} of ${n} events after 10 s`)), 10_000);
      more = () => {
        if (seen.length >= n) {
          clearTimeout(timer);
          resolve();
        }
      };
      more();
    });
  await until(1);
  await writer.message.send({ to_user_id: r.user.id, body: "after" });
  await until(2);
  assert.deepEqual(seen.map((e) => e.type), ["message.received", "message.received"]);
  assert.ok(seen[0]!.seq < seen[1]!.seq, "in seq order");
  assert.equal(sub.lastSeq, seen[1]!.seq);
  // the same socket answers calls, as the reader
  assert.equal((await socket.call("auth.me", {})).id, r.user.id);
  await sub.unsubscribe();
  socket.close();
});
