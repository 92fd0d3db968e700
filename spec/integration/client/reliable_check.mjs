// A network drop, as reliable_spec.rb runs it: extended clients (@anycable/core with
// actioncable-v1-ext-json) and stock ones (@rails/actioncable) subscribe to RoomChannel, then
// numbered broadcasts are posted to the app (POST /broadcast) while the links of some extended
// clients are cut for a while: their sockets are destroyed and new ones refused, by a TCP
// proxy this script runs in front of Puma. Prints one JSON line with what every client got.
//
//   node reliable_check.mjs '{"puma":"http://127.0.0.1:3000","extended":6,"cut":3,"stock":1,"stock_cut":1,
//                             "messages":40,"interval_ms":100,"cut_at":10,"cut_ms":2000}'
//
// Output: {"rpc_calls":N,"clients":[{"name","kind","cut","received":[n...],"connects":[{reconnect,restored}]}]}
// (rpc_calls: the app's RPC calls from before the first client connected until the end).
import net from "node:net";
import { extendedClient, stockClient, useOrigin } from "./reliable_clients.mjs";

const config = JSON.parse(process.argv[2] || "{}");
const puma = new URL(config.puma);
const identifier = { channel: "RoomChannel", room: "reliable" };
useOrigin(config.puma);

// The flaky link: forwards to Puma until `cut`, then refuses everything for `ms`.
function flakyProxy() {
  const pairs = new Set();
  let blockedUntil = 0;
  const server = net.createServer((client) => {
    if (Date.now() < blockedUntil) return client.destroy();
    const upstream = net.connect(Number(puma.port), puma.hostname);
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return {
    listen: () => new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port))),
    cut(ms) {
      blockedUntil = Date.now() + ms;
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
    },
    close: () => server.close(),
  };
}

// The app's RPC calls so far (GET /stats): connects, commands, disconnects.
async function rpcCalls() {
  const response = await fetch(`${config.puma}/stats`);
  return (await response.json()).rpc_call_total;
}

async function broadcast(n) {
  const response = await fetch(`${config.puma}/broadcast`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ stream: `room:${identifier.room}`, message: { n } }),
  });
  if (!response.ok) throw new Error(`POST /broadcast: ${response.status}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const proxy = flakyProxy();
  const before = await rpcCalls();
  const flaky = `ws://127.0.0.1:${await proxy.listen()}`;
  const clients = [];
  for (let i = 0; i < config.extended; i++) {
    const cut = i < config.cut;
    clients.push(extendedClient(`ext${i}`, cut ? flaky : `ws://${puma.host}`, cut, identifier.room));
  }
  for (let i = 0; i < (config.stock || 0) + (config.stock_cut || 0); i++) {
    const cut = i >= (config.stock || 0);
    clients.push(stockClient(`stock${i}`, cut ? flaky : `ws://${puma.host}`, cut, identifier.room));
  }
  await Promise.all(clients.map((client) => client.subscribed));

  for (let n = 1; n <= config.messages; n++) {
    if (n === config.cut_at) proxy.cut(config.cut_ms);
    await broadcast(n);
    await sleep(config.interval_ms);
  }
  const deadline = Date.now() + (config.wait_ms || 20000);
  // Extended clients until they have everything, cut stock ones until they are back (the stock
  // client reconnects only once its monitor finds the connection stale: several seconds).
  const pending = (c) =>
    c.record.kind === "extended" ? c.record.received.length < config.messages : c.record.cut && c.record.connects.length < 2;
  while (Date.now() < deadline && clients.some(pending)) await sleep(100);
  await sleep(500); // anything sent twice would arrive by now
  const rpc_calls = (await rpcCalls()) - before;
  process.stdout.write(`${JSON.stringify({ rpc_calls, clients: clients.map((client) => client.record) })}\n`);
  clients.forEach((client) => client.stop());
  proxy.close();
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
