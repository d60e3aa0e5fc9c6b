/* Search across every channel (GET /api/search): the customers and messages that have every
 * word, shown in the conversation list as hits that open their conversation.
 *
 * A snippet arrives as plain-text parts, the matched words flagged; each part goes into the
 * page through textContent (matched ones inside <mark>), never as HTML.
 */

import { el, formatTime } from "./inbox-core.js";
import { channelIcon } from "./inbox-icons.js";

const WHERE = {
  name: "name",
  address: "address",
  subject: "subject",
  text: "message",
};

export function searchPath(words) {
  return `/api/search?q=${encodeURIComponent(words)}`;
}

/** The list's items for a search answer: customers first, then messages, best first. */
export function hitItems(answer, selectedId, open) {
  return [...answer.customers, ...answer.messages].map((hit) => hitItem(hit, selectedId, open));
}

function hitItem(hit, selectedId, open) {
  const item = el("li", "conversation-item search-hit");
  item.dataset.testid = "search-hit";
  item.dataset.conversationId = String(hit.conversation_id);
  item.classList.toggle("is-selected", hit.conversation_id === selectedId);
  const button = el("button");
  button.type = "button";
  const name = el("span", "conv-name");
  name.append(channelIcon(hit.channel), el("span", "", hit.customer.name));
  const where = hit.direction === "note" ? "note" : WHERE[hit.field];
  button.append(name, el("span", "hit-where", where));
  button.append(snippetLine(hit.snippet), el("span", "conv-time", formatTime(hit.at)));
  button.addEventListener("click", () => open(hit.conversation_id));
  item.append(button);
  return item;
}

function snippetLine(parts) {
  const line = el("span", "conv-preview hit-snippet");
  line.dataset.testid = "hit-snippet";
  line.append(
    ...parts.map((part) => (part.match ? el("mark", "", part.text) : document.createTextNode(part.text)))
  );
  return line;
}
