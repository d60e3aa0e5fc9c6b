/* The WhatsApp window under the reply box: when free-form replies stop being allowed
 * (24 hours after the customer last wrote there), and that after it a reply leaves as the
 * re-engagement template, not as written. Shown only when the reply leaves by WhatsApp. */

import { $, formatWhen } from "./inbox-core.js";

/** The window of the customer's number ``identityId`` on ``channel`` among the
 * conversation's ``windows`` (one per number: a message in any conversation opens it),
 * in words (or hidden). */
export function showWindow(identityId, channel, windows) {
  const line = $("window-notice");
  const window = (windows || []).find(
    (each) => each.channel === channel && each.identity_id === identityId
  );
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
