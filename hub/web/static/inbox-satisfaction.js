/* The customer's answer to the satisfaction question, one line under the conversation's head.
 *
 * The comment is the customer's own text: it goes in through textContent only.
 */

import { $, formatWhen } from "./inbox-core.js";

/** "Rated 4/5: comment", "Asked, not answered yet", or nothing when no question was asked. */
export function renderSatisfaction(satisfaction) {
  const line = $("satisfaction");
  line.hidden = !satisfaction;
  if (!satisfaction) return;
  if (satisfaction.score === null) {
    const when = satisfaction.sent_at ? `asked ${formatWhen(satisfaction.sent_at)}` : "to be asked";
    line.textContent = `Satisfaction: ${when}, no answer yet`;
    delete line.dataset.score;
    return;
  }
  line.dataset.score = String(satisfaction.score);
  line.textContent = satisfaction.comment
    ? `Rated ${satisfaction.score}/5: ${satisfaction.comment}`
    : `Rated ${satisfaction.score}/5`;
}
