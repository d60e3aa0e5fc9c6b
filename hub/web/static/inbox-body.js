/* HTML message bodies (email): sanitized by the hub and shown in a sandboxed frame that may
 * run no script. The hub's policy for the frame blocks remote images until the agent asks.
 */

import { actionButton, el } from "./inbox-core.js";

const SANDBOX = "allow-same-origin allow-popups allow-popups-to-escape-sandbox";
const MAX_HEIGHT_PX = 600;

/** The frame for a message's HTML body, with the "Show remote images" button. */
export function htmlBody(message) {
  const box = el("div", "message-html");
  const frame = document.createElement("iframe");
  frame.className = "message-body";
  frame.dataset.testid = "message-body";
  frame.setAttribute("sandbox", SANDBOX);
  frame.title = "Message as sent (HTML)";
  frame.referrerPolicy = "no-referrer";
  frame.src = bodyUrl(message.id, false);
  frame.addEventListener("load", () => fitHeight(frame));
  const images = actionButton("Show remote images", "show-images", (button) => {
    frame.src = bodyUrl(message.id, true);
    button.remove();
  });
  images.classList.add("show-images");
  box.append(frame, images);
  return box;
}

function bodyUrl(messageId, withImages) {
  return `/api/messages/${Number(messageId)}/body.html${withImages ? "?images=1" : ""}`;
}

/** Tall enough for the body (the frame is same-origin without scripts, so we can measure). */
function fitHeight(frame) {
  const root = frame.contentDocument && frame.contentDocument.documentElement;
  if (!root) return;
  frame.height = String(Math.min(MAX_HEIGHT_PX, root.scrollHeight + 4));
}
