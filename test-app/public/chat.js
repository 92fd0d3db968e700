// The chat page: one Action Cable subscription to ChatChannel for the room, a form that
// performs `speak`, and a list that shows every message broadcast to the room. While someone
// types, their page whispers (AnyCable's `whisper` command: the server relays it to the other
// pages of the room, no Ruby runs) and the others show "… is typing" for a few seconds.
document.addEventListener("DOMContentLoaded", () => {
  const chat = document.getElementById("chat");
  if (!chat) return;

  const status = document.getElementById("status");
  const list = document.getElementById("messages");
  const form = document.getElementById("message-form");
  const input = document.getElementById("message");
  const typing = document.getElementById("typing");
  const me = document.getElementById("me").textContent;
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
      connected() { setState(true, "connected"); },
      disconnected() { setState(false, "reconnecting…"); },
      rejected() { setState(false, "rejected"); },
      received(data) {
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
