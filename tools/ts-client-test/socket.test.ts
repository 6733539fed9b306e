// The WebSocket side of the client, against an in-memory peer that speaks
// the subscription protocol of the API (`auth.use_token`, `event.subscribe`,
// `event` notifications, `event.unsubscribe`, close code 1008).

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  RpcError,
  RpcSocket,
  TransportError,
  type MarketEvent,
  type WebSocketLike,
} from "../../target/ts-client/package/src/index.js";

/** The server end: records what the client sent, answers by hand. */
class FakePeer implements WebSocketLike {
  sent: { id: number; method: string; params: Record<string, unknown> }[] = [];
  /** Events sent right behind a subscription's answer. */
  backlog: number[] = [];
  closed: { code?: number; reason?: string } | undefined;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  send(data: string): void {
    this.sent.push(JSON.parse(data));
    // answer at once what the peer knows
    const last = this.sent[this.sent.length - 1]!;
    if (last.method === "auth.use_token") this.reply(last.id, { ok: true });
    if (last.method === "event.subscribe") {
      const subscription = `s${last.id}`;
      // the answer and the backlog arrive in one read, as over a real socket
      queueMicrotask(() => {
        this.push({ jsonrpc: "2.0", id: last.id, result: { subscription } });
        for (const seq of this.backlog) this.event(subscription, seq);
      });
    }
    if (last.method === "event.unsubscribe") this.reply(last.id, { ok: true });
    if (last.method === "order.get") {
      this.push({ jsonrpc: "2.0", id: last.id, error: { code: 4040, message: "not found", data: { kind: "not_found" } } });
    }
  }
  close(code?: number, reason?: string): void {
    this.closed = { code, reason };
  }
  reply(id: number, result: unknown): void {
    queueMicrotask(() => this.push({ jsonrpc: "2.0", id, result }));
  }
  push(msg: unknown): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  event(subscription: string, seq: number): void {
    const event: MarketEvent = {
      seq,
      id: `e${seq}`,
      type: "order.paid",
      at: "2026-01-31T12:00:00Z",
      actor_id: null,
      object_type: "Order",
      object_id: "o1",
      data: {},
    };
    this.push({ jsonrpc: "2.0", method: "event", params: { subscription, event } });
  }
}

async function open(peer: FakePeer, onClose?: (code: number, reason: string) => void): Promise<RpcSocket> {
  const socket = RpcSocket.open({ url: "ws://127.0.0.1:1/rpc", token: "t0k", connect: () => peer, onClose });
  queueMicrotask(() => peer.onopen?.({}));
  return socket;
}

test("signs in first, subscribes, and delivers events once each, in order", async () => {
  const peer = new FakePeer();
  const socket = await open(peer);
  assert.deepEqual(peer.sent[0], { jsonrpc: "2.0", id: 1, method: "auth.use_token", params: { token: "t0k" } });

  const seen: number[] = [];
  const sub = await socket.subscribe({ types: ["order.paid"], after_seq: 4 }, (e) => seen.push(e.seq));
  assert.deepEqual(peer.sent[1], {
    jsonrpc: "2.0",
    id: 2,
    method: "event.subscribe",
    params: { types: ["order.paid"], after_seq: 4 },
  });
  assert.equal(sub.id, "s2");
  assert.equal(sub.lastSeq, 4);

  peer.event("s2", 4); // not after after_seq: dropped
  peer.event("s2", 5);
  peer.event("s2", 6);
  peer.event("s2", 6); // a repeat: dropped
  peer.event("other", 7); // another subscription's: not this one's
  peer.event("s2", 8);
  assert.deepEqual(seen, [5, 6, 8]);
  assert.equal(sub.lastSeq, 8);

  await sub.unsubscribe();
  assert.deepEqual(peer.sent[2]?.params, { subscription: "s2" });
  peer.event("s2", 9);
  assert.deepEqual(seen, [5, 6, 8], "nothing after unsubscribe");

  const err = await socket.call("order.get", { id: "01J9Z3K4M5N6P7Q8R9S0T1V2W3" }).then(
    () => assert.fail("resolved"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RpcError);
  assert.equal(err.code, 4040);
  assert.equal(err.kind, "not_found");

  socket.close();
  assert.deepEqual(peer.closed, { code: 1000, reason: "done" });
});

test("a slow client's close (1008) is reported and fails pending calls", async () => {
  const peer = new FakePeer();
  const closes: [number, string][] = [];
  const socket = await open(peer, (code, reason) => closes.push([code, reason]));
  const sub = await socket.subscribe({}, () => {});
  peer.event(sub.id, 41);
  const pending = socket.call("system.health", {});
  peer.onclose?.({ code: 1008, reason: "too slow" });
  await assert.rejects(pending, (e: unknown) => e instanceof TransportError && /1008/.test(e.message));
  assert.deepEqual(closes, [[1008, "too slow"]]);
  assert.equal(sub.lastSeq, 41, "resume with after_seq: 41");
  await assert.rejects(socket.call("system.health", {}), TransportError);
});

test("events read right behind the subscription's answer are delivered", async () => {
  const peer = new FakePeer();
  peer.backlog = [1, 2];
  const socket = await open(peer);
  const seen: number[] = [];
  const sub = await socket.subscribe({ after_seq: 0 }, (e) => seen.push(e.seq));
  assert.deepEqual(seen, [1, 2]);
  assert.equal(sub.lastSeq, 2);
});
