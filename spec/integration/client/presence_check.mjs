// Presence with AnyCable's own client, as presence_spec.rb runs it: @anycable/core over the
// extended protocol, its `channel.presence` API (join, info, leave; events on "presence"), once
// on a $pubsub stream (the server answers it all: streams_presence) and once on PresenceChannel,
// whose `subscribed` joins with join_presence. Prints one JSON line of what the clients saw.
//
//   node presence_check.mjs '{"puma":"http://127.0.0.1:3000","room":"r1"}'
//
// Output: {"pubsub":{"info":{...},"events":[...],"after_leave":{...}},"channel":{"info":{...}}}
import { createCable } from "@anycable/core";
import WebSocket from "ws";

const config = JSON.parse(process.argv[2] || "{}");
const deadline = setTimeout(() => {
  console.error("presence check: no answer within 20 s");
  process.exit(1);
}, 20_000);

function client(name) {
  return createCable(`${config.puma.replace(/^http/, "ws")}/cable`, {
    protocol: "actioncable-v1-ext-json",
    websocketImplementation: WebSocket,
    websocketOptions: { headers: { Cookie: `user=${name}` }, origin: config.puma },
    logLevel: process.env.CABLE_CLIENT_DEBUG ? "debug" : "error",
  });
}

const until = async (what, test) => {
  for (let i = 0; i < 200; i++) {
    if (test()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`presence check: ${what} did not happen`);
};

const [alice, bob] = [client(`alice-${config.room}`), client(`bob-${config.room}`)];

// $pubsub: the clients join from the browser side.
const stream = `lobby:${config.room}`;
const [aliceLobby, bobLobby] = [alice.streamFrom(stream), bob.streamFrom(stream)];
const events = [];
aliceLobby.on("presence", (event) => events.push(event));
await Promise.all([aliceLobby.ensureSubscribed(), bobLobby.ensureSubscribed()]);
await aliceLobby.presence.join("a", { name: "Alice" });
await bobLobby.presence.join("b", { name: "Bob" });
await until("bob's join", () => events.some((e) => e.type === "join" && e.id === "b"));
const info = { ...(await bobLobby.presence.info()) }; // a copy: the client keeps it up to date
await bobLobby.presence.leave();
await until("bob's leave", () => events.some((e) => e.type === "leave" && e.id === "b"));
const afterLeave = await aliceLobby.presence.info(); // kept up to date from the events

// A Rails channel whose `subscribed` joins for the user.
const room = { channel: "PresenceChannel", room: config.room };
const [aliceRoom, bobRoom] = [alice.subscribeTo("PresenceChannel", room), bob.subscribeTo("PresenceChannel", room)];
await Promise.all([aliceRoom.ensureSubscribed(), bobRoom.ensureSubscribed()]);
const roomInfo = await aliceRoom.presence.info(); // then kept up to date from the events
await until("both in the room", () => Object.keys(roomInfo).length === 2);

console.log(JSON.stringify({ pubsub: { info, events, after_leave: afterLeave }, channel: { info: roomInfo } }));
clearTimeout(deadline);
alice.disconnect();
bob.disconnect();
process.exit(0);
