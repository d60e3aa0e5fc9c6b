/* The WhatsApp window under the reply box: when free-form replies stop being allowed
 * (24 hours after the customer last wrote there), and that after it a reply leaves as the
 * re-engagement template, not as written. Shown only when the reply leaves by WhatsApp.
 * When the customer's contact hours open only after the window closes, the agent must
 * choose how the reply leaves: now, inside the window, or at their hours as the template. */

import { $, formatWhen } from "./inbox-core.js";

/** The channel kinds whose replies depend on a window (hub/service_windows.py WINDOWED_KINDS). */
export const WINDOWED_KINDS = new Set(["whatsapp"]);

/** The window of the customer's number ``identityId`` on ``channel`` among the
 * conversation's ``windows`` (one per number: a message in any conversation opens it),
 * in words (or hidden). */
export function showWindow(identityId, channel, windows) {
  const line = $("window-notice");
  const window = (windows || []).find(
    (each) => each.channel === channel && each.identity_id === identityId
  );
  showChoice(window);
  if (!window) {
    line.hidden = true;
    return;
  }
  const when = formatWhen(window.closes_at);
  line.textContent = window.open
    ? `The WhatsApp window closes ${when}; after that only a template can be sent.`
    : `The WhatsApp window closed ${when}: a reply now leaves as the re-engagement template, not as written.`;
  line.classList.toggle("window-closed", !window.open);
  line.hidden = false;
}

/** What the hub said of a reply just written that leaves after the window. */
export function showReplyNotice(notice) {
  const line = $("window-notice");
  line.textContent = `This reply: ${notice}.`;
  line.classList.add("window-closed");
  line.hidden = false;
}

/** Whether the customer's hours open only after the window closes: a reply must choose. */
function hoursOpenAfterWindow(window) {
  return Boolean(
    window?.open && window.hours_open_at && new Date(window.hours_open_at) > new Date(window.closes_at)
  );
}

/** The choice, shown when needed; a choice made for another number or window is undone. */
function showChoice(window) {
  const choice = $("window-choice");
  const needed = hoursOpenAfterWindow(window);
  const madeFor = needed ? `${window.channel} ${window.identity_id} ${window.closes_at}` : "";
  if (needed) {
    $("window-choice-why").textContent =
      `Their contact hours open ${formatWhen(window.hours_open_at)}, after the window closes: how does this reply leave?`;
  }
  choice.hidden = !needed;
  if (choice.dataset.madeFor !== madeFor) clearChoice();
  choice.dataset.madeFor = madeFor;
}

/** What the agent chose for a reply, as the reply's ``send_now``; an error when a choice is
 * needed and none was made. */
export function sendNowChoice() {
  const choice = $("window-choice");
  if (choice.hidden) return false;
  const chosen = choice.querySelector("input:checked");
  if (!chosen) {
    throw new Error(
      "Choose how this reply leaves: now, inside the WhatsApp window, or at their hours as the template."
    );
  }
  return chosen.value === "now";
}

/** After a reply left, or another conversation opened: the next reply chooses again. */
export function clearChoice() {
  for (const input of $("window-choice").querySelectorAll("input")) input.checked = false;
}
