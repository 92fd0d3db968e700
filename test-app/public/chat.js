// The chat page: one Action Cable subscription to ChatChannel for the room, a form that
// performs `speak`, and a list that shows every message broadcast to the room.
document.addEventListener("DOMContentLoaded", () => {
  const chat = document.getElementById("chat");
  if (!chat) return;

  const status = document.getElementById("status");
  const list = document.getElementById("messages");
  const form = document.getElementById("message-form");
  const input = document.getElementById("message");
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
        const item = document.createElement("li");
        item.className = "message";
        const who = document.createElement("strong");
        who.textContent = data.user;
        item.append(who, ": ", data.body);
        list.append(item);
      },
    },
  );

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (body === "") return;
    subscription.perform("speak", { body });
    input.value = "";
  });
});
