/* The inbox's plumbing: the JSON API with the CSRF header, DOM building, time formats.
 *
 * User-supplied text only ever goes into the page through textContent (el()).
 */
import { ApiError, apiClient } from "./api.js";

export { formatTime, formatWhen } from "./dates.js";

/** The signed-in session's CSRF token, sent with every state-changing request. */
export const session = { csrf: null };

export { ApiError };

export const api = apiClient(() => session.csrf);

export const $ = (id) => document.getElementById(id);

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** "Mon 09:00" in ``zone`` (the agent's own zone when undefined). */
export function formatClock(iso, zone, withDay) {
  const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: zone };
  if (withDay) options.weekday = "short";
  return new Intl.DateTimeFormat("en-GB", options).format(new Date(iso));
}

/** "9 h 50 min", "2 d 3 h", "5 min": the time from one ISO moment to a later one. */
export function formatDuration(fromIso, toIso) {
  const minutes = Math.max(0, Math.ceil((Date.parse(toIso) - Date.parse(fromIso)) / 60000));
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  const parts = [];
  if (days) parts.push(`${days} d`);
  if (hours) parts.push(`${hours} h`);
  if (rest && !days) parts.push(`${rest} min`);
  return parts.length ? parts.join(" ") : "less than a minute";
}

export function isOverdue(iso) {
  return Boolean(iso) && Date.parse(iso) <= Date.now();
}

export function markOverdue(node, iso) {
  if (isOverdue(iso)) node.dataset.overdue = "true";
  else delete node.dataset.overdue;
}

export function actionButton(label, testid, onClick) {
  const button = el("button", "", label);
  button.type = "button";
  button.dataset.testid = testid;
  button.addEventListener("click", () => onClick(button));
  return button;
}
