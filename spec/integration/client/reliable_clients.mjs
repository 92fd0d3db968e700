// The clients of the reliable-delivery checks (reliable_check.mjs, restart_check.mjs): an
// @anycable/core client over AnyCable's extended protocol and a stock @rails/actioncable one,
// both subscribed to RoomChannel, each keeping a record of what it got and how it connected.
import { createCable } from "@anycable/core";
import ActionCable from "@rails/actioncable";
import WebSocket from "ws";

// What @rails/actioncable touches outside the WebSocket (its ConnectionMonitor), as in
// cable_client.mjs.
globalThis.addEventListener ||= () => {};
globalThis.removeEventListener ||= () => {};
globalThis.document ||= { visibilityState: "visible" };

// The Origin every socket sends (the app's allowed origin); set by the check before clients.
let origin;

export function useOrigin(value) {
  origin = value;
  ActionCable.adapters.WebSocket = class OriginWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { origin });
    }
  };
}

function socketOptions(name) {
  return { headers: { Cookie: `user=${name}` }, origin };
}

export function extendedClient(name, url, cut, room) {
  const record = { name, kind: "extended", cut, received: [], connects: [] };
  const cable = createCable(`${url}/cable`, {
    protocol: "actioncable-v1-ext-json",
    websocketImplementation: WebSocket,
    websocketOptions: socketOptions(name),
    protocolOptions: { pongs: true },
    logLevel: process.env.CABLE_CLIENT_DEBUG ? "debug" : "error",
  });
  cable.on("connect", (event) => record.connects.push(event));
  const channel = cable.subscribeTo("RoomChannel", { room });
  channel.on("message", (message) => record.received.push(message.n));
  return { record, subscribed: channel.ensureSubscribed(), stop: () => cable.disconnect() };
}

export function stockClient(name, url, cut, room) {
  const record = { name, kind: "stock", cut, received: [], connects: [] };
  // The adapter is global and reconnects make new sockets: the user goes in the URL.
  const consumer = ActionCable.createConsumer(`${url}/cable?user=${name}`);
  const subscribed = new Promise((resolve) => {
    consumer.subscriptions.create({ channel: "RoomChannel", room }, {
      connected: () => {
        record.connects.push({ reconnect: record.connects.length > 0, restored: false });
        resolve();
      },
      received: (data) => record.received.push(data.n),
    });
  });
  return { record, subscribed, stop: () => consumer.disconnect() };
}
