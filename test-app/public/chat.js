// The chat page: one Action Cable subscription to ChatChannel for the room, a form that
// performs `speak`, and a list that shows every message broadcast to the room. While someone
// types, their page whispers (AnyCable's `whisper` command: the server relays it to the other
// pages of the room, no Ruby runs) and the others show "… is typing" for a few seconds. The
// channel puts each user in the room's presence set: the page asks who is here once connected
// (AnyCable's `presence` command), then follows the `join` and `leave` events.
document.addEventListener("DOMContentLoaded", () => {
  const chat = document.getElementById("chat");
  if (!chat) return;

  const status = document.getElementById("status");
  const list = document.getElementById("messages");
  const form = document.getElementById("message-form");
  const input = document.getElementById("message");
  const typing = document.getElementById("typing");
  const me = document.getElementById("me").textContent;
  const here = document.getElementById("here");
  const present = new Map();
  const showPresent = () => {
    const names = [...present.values()].sort();
    here.textContent = names.length ? `Here: ${names.join(", ")}` : "";
  };
  let typingUntil = null;
  let lastWhisper = 0;
  const setState = (connected, text) => {
    chat.dataset.connected = String(connected);
    status.textContent = text;
  };

  const consumer = ActionCable.createConsumer();
  const subscription = consumer.subscriptions.create(
    { channel: "ChatChannel", room: chat.dataset.room },
    {
      connected() {
        setState(true, "connected");
        consumer.send({ command: "presence", identifier: this.identifier, data: { return_records: true } });
      },
      disconnected() { setState(false, "reconnecting…"); },
      rejected() { setState(false, "rejected"); },
      received(data) {
        // The stock client hands presence frames to `received` as their message.
        if (data.type === "info") {
          present.clear();
          for (const record of data.records || []) present.set(record.id, record.info?.name ?? record.id);
          return showPresent();
        }
        if (data.type === "join") {
          present.set(data.id, data.info?.name ?? data.id);
          return showPresent();
        }
        if (data.type === "leave") {
          present.delete(data.id);
          return showPresent();
        }
        if (data.typing) {
          typing.textContent = `${data.typing} is typing…`;
          clearTimeout(typingUntil);
          typingUntil = setTimeout(() => { typing.textContent = ""; }, 3000);
          return;
        }
        const item = document.createElement("li");
        item.className = "message";
        const who = document.createElement("strong");
        who.textContent = data.user;
        item.append(who, ": ", data.body);
        list.append(item);
      },
    },
  );

  input.addEventListener("input", () => {
    if (Date.now() - lastWhisper < 1000) return;
    lastWhisper = Date.now();
    consumer.send({ command: "whisper", identifier: subscription.identifier, data: { typing: me } });
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (body === "") return;
    subscription.perform("speak", { body });
    input.value = "";
  });
});
