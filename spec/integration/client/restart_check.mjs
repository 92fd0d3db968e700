// A server restart, as restart_spec.rb runs it: extended clients (@anycable/core with
// actioncable-v1-ext-json) and stock ones (@rails/actioncable) subscribe to RoomChannel on the
// given Puma and stay connected while the spec restarts it and broadcasts through Redis. Lines
// on stdout and stdin say where the run is:
//
//   node restart_check.mjs '{"url":"ws://127.0.0.1:3000","origin":"http://127.0.0.1:3000",
//                            "room":"restart","extended":4,"stock":1}'
//   → {"subscribed":true}        every client is subscribed
//   ← {"expect":15}              the spec broadcast 1..15; wait until every extended client has
//                                them and every stock client is connected again (bounded by
//                                wait_ms, default 30 s)
//   → {"clients":[{"name","kind","received":[n...],"connects":[{reconnect,restored}]}]}
import readline from "node:readline";
import { extendedClient, stockClient, useOrigin } from "./reliable_clients.mjs";

const config = JSON.parse(process.argv[2] || "{}");
useOrigin(config.origin);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

async function main() {
  const clients = [];
  for (let i = 0; i < config.extended; i++) clients.push(extendedClient(`ext${i}`, config.url, false, config.room));
  for (let i = 0; i < (config.stock || 0); i++) clients.push(stockClient(`stock${i}`, config.url, false, config.room));
  await Promise.all(clients.map((client) => client.subscribed));
  say({ subscribed: true });

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const { expect } = JSON.parse(line);
    const deadline = Date.now() + (config.wait_ms || 30000);
    const pending = (c) =>
      c.record.kind === "extended" ? c.record.received.length < expect : c.record.connects.length < 2;
    while (Date.now() < deadline && clients.some(pending)) await sleep(100);
    await sleep(500); // anything sent twice would arrive by now
    say({ clients: clients.map((client) => client.record) });
    break;
  }
  clients.forEach((client) => client.stop());
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
