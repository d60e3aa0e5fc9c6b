/* Channel icons drawn as inline SVG (the page's CSP allows no remote images, and a
 * machine without an emoji font would show emoji as empty boxes): a chat bubble, an
 * envelope, code brackets for the API, a hash for Slack, a paper plane for Telegram,
 * a phone for SMS, a speech bubble with a handset's mark for WhatsApp.
 */

import { api } from "./inbox-core.js";

const SVG = "http://www.w3.org/2000/svg";
const PATHS = {
  webchat: ["M4 5h16v10H9l-5 4z"],
  email: ["M3 6h18v12H3z", "M3 7l9 6 9-6"],
  api: ["M8 7l-5 5 5 5", "M16 7l5 5-5 5", "M14 4l-4 16"],
  slack: ["M9 4 7 20", "M17 4l-2 16", "M4 9h16", "M3 15h16"],
  telegram: ["M21 4 3 11l6 2 2 6 3-4 5 4z", "M9 13l12-9"],
  twilio: ["M7 3h10v18H7z", "M11 18h2"],
  whatsapp: ["M4 20l1.5-4.5A8 8 0 1 1 8.5 19z", "M9 9c0 3 3 6 6 6"],
  other: ["M12 4a8 8 0 1 0 0.01 0z"],
};

/** Channel name -> kind (webchat, email, api, slack, telegram, twilio, whatsapp), from the hub. */
const kinds = new Map();

export async function loadChannelKinds() {
  const channels = await api("GET", "/api/channels");
  kinds.clear();
  for (const channel of channels) kinds.set(channel.name, channel.kind);
}

/** The kind of a channel by its name (``undefined`` before the list is loaded). */
export function channelKind(channel) {
  return kinds.get(channel);
}

/** An icon for a channel, labelled with its name for screen readers and on hover. */
export function channelIcon(channel) {
  const kind = kinds.get(channel) || (channel in PATHS ? channel : "other");
  const icon = document.createElementNS(SVG, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("class", `channel-icon channel-${kind}`);
  icon.setAttribute("role", "img");
  icon.setAttribute("aria-label", channel || "no channel");
  icon.dataset.kind = kind;
  const title = document.createElementNS(SVG, "title");
  title.textContent = channel || "no channel";
  icon.append(title);
  for (const shape of PATHS[kind] || PATHS.other) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", shape);
    icon.append(path);
  }
  return icon;
}
