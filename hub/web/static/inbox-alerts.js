/* New customer messages while the inbox tab is in the background.
 *
 * The tab title counts them ("(3) Inbox") until the tab has the focus again. Once the
 * agent allowed it, each also shows a browser notification: permission is asked only
 * from a click on the "Desktop notifications" button, as browsers require. Only
 * conversations the agent handles count. Notification titles and bodies are plain text
 * by the Notification API's definition: nothing in them is markup.
 */

const BASE_TITLE = document.title;
const alerts = { unseen: 0, button: null, status: null };

function inBackground() {
  return document.visibilityState === "hidden" || !document.hasFocus();
}

function showCount() {
  document.title = alerts.unseen ? `(${alerts.unseen}) ${BASE_TITLE}` : BASE_TITLE;
}

function seen() {
  if (inBackground()) return;
  alerts.unseen = 0;
  showCount();
}

const PERMISSION_TEXT = {
  granted: "Desktop notifications on",
  denied: "Desktop notifications blocked by the browser",
  default: "",
};

function showPermission() {
  const permission = "Notification" in window ? Notification.permission : "unsupported";
  alerts.button.hidden = permission !== "default";
  alerts.status.textContent = PERMISSION_TEXT[permission] ?? "";
}

async function askPermission() {
  alerts.button.disabled = true;
  try {
    await Notification.requestPermission();
  } finally {
    alerts.button.disabled = false;
    showPermission();
  }
}

/** Wire the permission button and the title count; call once the inbox shows. */
export function bindAlerts(button, status) {
  alerts.button = button;
  alerts.status = status;
  if (!("Notification" in window)) {
    button.hidden = true;
    return;
  }
  button.addEventListener("click", askPermission);
  window.addEventListener("focus", seen);
  document.addEventListener("visibilitychange", seen);
  showPermission();
}

/** A ``message.created`` event: counted and shown if it is a customer's message for ``me``
 * while the tab is in the background. */
export function alertNewMessage(data, me) {
  const message = data.message;
  if (!me || message.direction !== "in" || data.assignee_id !== me.id) return;
  if (!inBackground()) return;
  alerts.unseen += 1;
  showCount();
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const shown = new Notification(data.customer.name, {
    body: "New message",
    tag: `conversation-${message.conversation_id}`,
  });
  shown.addEventListener("click", () => window.focus());
}
