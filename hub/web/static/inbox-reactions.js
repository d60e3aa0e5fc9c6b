/* A customer's reaction (a WhatsApp emoji) to a message, shown beside it: the hub keeps
 * it on the message reacted to (meta.reaction), not as a message of its own. */

import { el } from "./inbox-core.js";

/** Show ``reaction`` ({emoji, at}; emoji null: taken back) on the message ``item``. */
export function showReaction(item, reaction) {
  item.querySelector(":scope > .message-reaction")?.remove();
  // Without ``at``: a reaction message stored before reactions were kept on their target
  // (its meta named the target); that message is the reaction, not something reacted to.
  if (!reaction?.emoji || !reaction.at) return;
  const badge = el("span", "message-reaction", reaction.emoji); // text, never HTML
  badge.title = "the customer reacted";
  badge.setAttribute("aria-label", `The customer reacted ${reaction.emoji}`);
  badge.dataset.testid = "reaction";
  const content = item.querySelector(":scope > .message-text, :scope > .message-content");
  if (content) content.after(badge);
  else item.append(badge);
}
