// Drives the stock @rails/actioncable consumer under Node for the integration specs.
//
//   node cable_client.mjs '{"url":"ws://127.0.0.1:3000/cable","origin":"http://127.0.0.1:3000",
//                           "cookie":"user=alice","headers":{"X-Api-Token":"t0k"}}'
//
// stdin: one JSON command per line
//   {"cmd":"connect"}                                      open the socket (subscribe does it too)
//   {"cmd":"subscribe","sub":"s1","params":{"channel":"EchoChannel","room":"a"}}
//   {"cmd":"perform","sub":"s1","action":"echo","data":{"text":"hi"}}
//   {"cmd":"whisper","sub":"s1","data":{"typing":true}}
//   {"cmd":"send","sub":"s1","frame":{"command":"join","presence":{"id":"1"}}}   any command
//                                                          of the subscription (identifier added)
//   {"cmd":"unsubscribe","sub":"s1"}
//   {"cmd":"close"}                                        consumer.disconnect() (no reconnect)
//   {"cmd":"exit"}
// stdout: one JSON event per line, each with a sequence number `seq`
//   ready | open | frame (every text frame the server sent, parsed) | sent (every frame sent)
//   | close (code, reason) | error | connected/rejected/received/disconnected (per `sub`)
//   | bad_command
import { createInterface } from "node:readline";
import ActionCable from "@rails/actioncable";
import WebSocket from "ws";

const config = JSON.parse(process.argv[2] || "{}");
let seq = 0;

function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ seq: ++seq, event, ...fields })}\n`);
}

// What the library touches outside the WebSocket: ConnectionMonitor listens for
// "visibilitychange" on the global object and reads document.visibilityState.
globalThis.addEventListener ||= () => {};
globalThis.removeEventListener ||= () => {};
globalThis.document ||= { visibilityState: "visible" };

// A `ws` socket that sends the cookie, Origin and extra headers a browser would, and reports
// every frame in both directions before the library sees it.
class SpecWebSocket extends WebSocket {
  constructor(url, protocols) {
    const headers = { ...(config.headers || {}) };
    if (config.cookie) headers.Cookie = config.cookie;
    super(url, protocols, { headers, origin: config.origin });
    this.on("open", () => emit("open", { protocol: this.protocol }));
    this.on("message", (data, isBinary) => {
      const text = data.toString();
      let parsed = null;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: reported raw below
      }
      emit("frame", { data: parsed, raw: text, binary: isBinary });
    });
    this.on("close", (code, reason) => emit("close", { code, reason: reason.toString() }));
    this.on("error", (error) => emit("error", { message: error.message }));
    this.on("unexpected-response", (_request, response) => {
      emit("unexpected_response", { status: response.statusCode });
      this.emit("error", new Error(`unexpected response ${response.statusCode}`));
    });
  }

  send(data, ...rest) {
    emit("sent", { data: JSON.parse(data) });
    return super.send(data, ...rest);
  }
}

ActionCable.adapters.WebSocket = SpecWebSocket;
ActionCable.adapters.logger = { log: (...args) => console.error(...args) };
ActionCable.logger.enabled = Boolean(process.env.CABLE_CLIENT_DEBUG);

const consumer = ActionCable.createConsumer(config.url);
const subscriptions = new Map();

function subscribe(sub, params) {
  const subscription = consumer.subscriptions.create(params, {
    connected: (details) => emit("connected", { sub, ...details }),
    disconnected: (details) => emit("disconnected", { sub, ...details }),
    rejected: () => emit("rejected", { sub }),
    received: (data) => emit("received", { sub, data }),
  });
  subscriptions.set(sub, subscription);
}

function run(command) {
  const subscription = subscriptions.get(command.sub);
  switch (command.cmd) {
    case "connect":
      return consumer.connect();
    case "subscribe":
      return subscribe(command.sub, command.params);
    case "perform":
      return command.data === undefined ? subscription.perform(command.action) : subscription.perform(command.action, command.data);
    case "whisper": // AnyCable's command: to the other subscribers of the whisper stream
      return consumer.send({ command: "whisper", identifier: subscription.identifier, data: command.data });
    case "send": // another command of the subscription: AnyCable's join, leave, presence
      return consumer.send({ ...command.frame, identifier: subscription.identifier });
    case "unsubscribe":
      subscriptions.delete(command.sub);
      return subscription.unsubscribe();
    case "close":
      return consumer.disconnect();
    case "exit":
      consumer.disconnect();
      return setTimeout(() => process.exit(0), 50);
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
}

const input = createInterface({ input: process.stdin });
input.on("line", (line) => {
  if (!line.trim()) return;
  try {
    run(JSON.parse(line));
  } catch (error) {
    emit("bad_command", { line, message: error.message });
  }
});
input.on("close", () => process.exit(0));

emit("ready");
