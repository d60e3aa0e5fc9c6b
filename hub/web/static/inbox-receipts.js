/* A message's status under it. A reply that waits says so in words (queued, scheduled
 * for ..., held); once sent it shows ticks as WhatsApp users know them: one grey tick
 * sent (the platform took it), two grey ticks delivered, two blue ticks read, from the
 * platform's last receipt (meta.receipt). A channel without receipts (email) shows one
 * tick once sent. A failed reply shows a red mark and the reason. The ticks are inline
 * SVG, labelled in words for screen readers and on hover ("Read 10:42", in the agent's
 * time zone). Also the line under a reply that left as something else (sent_instead).
 */

import { el, formatClock, formatWhen } from "./inbox-core.js";

const SVG = "http://www.w3.org/2000/svg";
const FIRST_TICK = "M1 6l3 3 6.5-7.5";
const SECOND_TICK = "M8 8.6l0.9 0.9L15.5 1.5";
const TICKS = {
  sent: { words: "Sent", paths: [FIRST_TICK] },
  delivered: { words: "Delivered", paths: [FIRST_TICK, SECOND_TICK] },
  read: { words: "Read", paths: [FIRST_TICK, SECOND_TICK] },
};

/** The last receipt in a message's meta: ``{state, at}``, or null. */
export function receiptOf(meta) {
  const receipt = meta?.receipt;
  return receipt ? { state: receipt.state, at: receipt.at } : null;
}

/** The receipt a ``message.status`` event carries, else the one shown (it never goes back). */
export function eventReceipt(item, data) {
  if (data.receipt) return { state: data.receipt, at: data.receipt_at };
  const shown = item.dataset.receipt;
  return shown ? { state: shown, at: item.dataset.receiptAt } : null;
}

/** Show ``status`` (the message's state) with ``receipt`` and the failure ``reason``. */
export function renderStatus(item, status, receipt, reason) {
  item.dataset.status = status;
  const label = item.querySelector(".message-status");
  label.className = `message-status status-${status}`;
  label.replaceChildren();
  for (const name of ["role", "aria-label", "title"]) label.removeAttribute(name);
  if (item.dataset.direction === "out" && status === "sent") {
    showTicks(item, label, receipt);
    return;
  }
  delete item.dataset.receipt;
  delete item.dataset.receiptAt;
  const text = statusText(item, status, reason);
  label.hidden = !text;
  if (text && status === "failed") label.append(failedMark());
  label.append(text);
}

function showTicks(item, label, receipt) {
  const state = TICKS[receipt?.state] ? receipt.state : "sent";
  const at = receipt?.state === state ? receipt.at : null;
  const words = at ? `${TICKS[state].words} ${formatClock(at)}` : TICKS[state].words;
  item.dataset.receipt = state;
  if (at) item.dataset.receiptAt = at;
  else delete item.dataset.receiptAt;
  label.hidden = false;
  label.setAttribute("role", "img");
  label.setAttribute("aria-label", words);
  label.title = words;
  label.append(icon(`ticks ticks-${state}`, "0 0 17 11", TICKS[state].paths));
}

function statusText(item, status, reason) {
  const when = formatWhen(item.dataset.releaseAt);
  if (item.dataset.direction === "in") return status === "held" ? `held until ${when}` : "";
  if (item.dataset.direction !== "out") return "";
  if (status === "scheduled") return `scheduled for ${when}`;
  return reason ? `${status}: ${reason}` : status;
}

/** A red disc with an exclamation mark, before the words that say why. */
function failedMark() {
  const mark = icon("failed-mark", "0 0 16 16", ["M8 4.2v4.8", "M8 11.6v0.2"]);
  const disc = document.createElementNS(SVG, "circle");
  for (const [name, value] of [["cx", 8], ["cy", 8], ["r", 7.5]]) disc.setAttribute(name, value);
  mark.prepend(disc);
  return mark;
}

function icon(className, viewBox, paths) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", className);
  svg.setAttribute("viewBox", viewBox);
  svg.setAttribute("aria-hidden", "true");
  for (const shape of paths) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", shape);
    svg.append(path);
  }
  return svg;
}

/** The platform allowed only something else (a WhatsApp template): this text never left. */
export function showSentInstead(item, instead) {
  if (!instead) return;
  const text = `Not sent as written; sent instead: ${instead}.`;
  const shown = item.querySelector(".sent-instead");
  if (shown) {
    shown.textContent = text;
    return;
  }
  const note = el("p", "sent-instead", text);
  note.dataset.testid = "sent-instead";
  item.insertBefore(note, item.querySelector(".message-meta"));
}
