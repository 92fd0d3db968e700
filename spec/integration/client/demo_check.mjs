// Checks a running test-app chat (bin/demo) the way a visitor uses it, with the stock
// @rails/actioncable consumer: GET / (200, the join form), POST /join with the form's CSRF token
// (the encrypted name cookie), then /cable: connect, subscribe to ChatChannel, `speak`, and
// receive that message back. Exits 0 when all of it worked, 1 with the reason otherwise.
//
//   node demo_check.mjs http://127.0.0.1:3000
import http from "node:http";
import ActionCable from "@rails/actioncable";
import WebSocket from "ws";

const base = new URL(process.argv[2] || "http://127.0.0.1:3000");
const room = "lobby";
const name = `check-${process.pid}`;
const body = `hello from ${name}`;
const deadline = setTimeout(() => fail("no answer within 30 s"), 30_000);

function fail(reason) {
  console.error(`demo check failed: ${reason}`);
  process.exit(1);
}

// One HTTP request; resolves to { status, cookies (name=value pairs it set), body }. (node:http
// rather than fetch: Node 18's fetch cannot list several Set-Cookie headers.)
function request(path, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    if (body !== undefined) headers["Content-Length"] = Buffer.byteLength(body);
    const req = http.request(new URL(path, base), { method, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => {
        const cookies = (res.headers["set-cookie"] || []).map((cookie) => cookie.split(";")[0]);
        resolve({ status: res.statusCode, cookies, body: text });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const index = await request("/");
if (index.status !== 200) fail(`GET / answered ${index.status}`);
const token = index.body.match(/name="authenticity_token" value="([^"]+)"/)?.[1];
if (!token) fail("GET / has no join form with a CSRF token");

const join = await request("/join", {
  method: "POST",
  headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: index.cookies.join("; ") },
  body: new URLSearchParams({ authenticity_token: token, name, room }).toString(),
});
const cookie = join.cookies.join("; ");
if (join.status !== 302 || !cookie.includes("user_name=")) fail(`POST /join answered ${join.status} without the name cookie`);

// A `ws` socket with the cookie and Origin a browser on the page would send.
class BrowserLikeWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols, { headers: { Cookie: cookie }, origin: base.origin });
  }
}
ActionCable.adapters.WebSocket = BrowserLikeWebSocket;
globalThis.addEventListener ||= () => {};
globalThis.removeEventListener ||= () => {};
globalThis.document ||= { visibilityState: "visible" };

const cable = new URL("/cable", base);
cable.protocol = base.protocol === "https:" ? "wss:" : "ws:";
const consumer = ActionCable.createConsumer(cable.href);
const subscription = consumer.subscriptions.create(
  { channel: "ChatChannel", room },
  {
    connected: () => subscription.perform("speak", { body }),
    rejected: () => fail("ChatChannel rejected the subscription"),
    disconnected: (details) => details?.willAttemptReconnect === false && fail("the server closed the connection"),
    received: (data) => {
      if (data.body !== body) return;
      if (data.user !== name) fail(`the message came back from ${data.user}, not ${name}`);
      console.log(`demo check passed: ${base.origin} served / and /cable (${name} joined ${room} and heard itself)`);
      clearTimeout(deadline);
      consumer.disconnect();
      process.exit(0);
    },
  },
);
