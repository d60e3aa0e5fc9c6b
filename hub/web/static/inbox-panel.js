/* The customer panel: owner and backup, whether their contact window is open right now,
 * and the editor for the hours agreed with them.
 *
 * "Now", open or closed and the next change come from the hub (its clock and its
 * calendars); the browser only formats them, in the customer's zone and the agent's.
 */

import { calendarEditor } from "./calendar-editor.js";
import { $, api, el, formatClock, formatDuration } from "./inbox-core.js";

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const REFRESH_MS = 60000;
const SOURCES = {
  customer: "hours agreed with them",
  channel: "the channel's hours",
  default: "the hub's default hours",
};

const PANEL_TEXTS = ["panel-owner", "panel-backup", "contact-now", "contact-next", "contact-source"];

const panel = { customerId: null, seq: 0, report: null, onHoursSaved: null, onAgreed: null };
/** The contact hours editor: whose hours it shows, and a guard against stale loads. */
const hours = { customerId: null, seq: 0, loaded: false, editor: null };

export function initPanel({ report, onHoursSaved, onAgreed }) {
  panel.report = report;
  panel.onHoursSaved = onHoursSaved;
  panel.onAgreed = onAgreed;
  $("panel-agreed").addEventListener("change", saveAgreedChannel);
  $("contact-hours").addEventListener("toggle", (event) => {
    if (event.currentTarget.open && !hours.loaded) loadContactHours();
  });
  $("hours-save").addEventListener("click", submitContactHours);
  hours.editor = calendarEditor($("hours-fields"));
  $("hours-none").addEventListener("change", syncHoursDisabled);
  $("panel-toggle").addEventListener("click", togglePanel);
  setInterval(refreshPanel, REFRESH_MS);
}

/** Show a customer in the panel (``null``: nobody); reloads if it is the same one. */
export function showCustomer(customerId) {
  if (customerId !== panel.customerId) {
    panel.customerId = customerId;
    for (const id of PANEL_TEXTS) $(id).textContent = "";
  }
  showHoursOf(customerId);
  refreshPanel();
}

export async function refreshPanel() {
  const customerId = panel.customerId;
  if (customerId === null) return;
  const seq = ++panel.seq;
  try {
    const customer = await api("GET", `/api/customers/${customerId}`);
    if (seq === panel.seq && customerId === panel.customerId) renderPanel(customer);
  } catch (error) {
    if (seq === panel.seq) panel.report(error, $("hours-error"));
  }
}

function togglePanel() {
  const shown = $("conversation-pane").classList.toggle("show-panel");
  $("panel-toggle").setAttribute("aria-expanded", String(shown));
}

function renderPanel(customer) {
  $("panel-owner").textContent = customer.owner ? customer.owner.name : "nobody yet";
  $("panel-backup").textContent = customer.backup ? customer.backup.name : "none";
  renderAgreedChannel(customer);
  const contact = customer.contact;
  const theirNow = formatClock(contact.now, contact.zone);
  $("contact-now").textContent = `now ${theirNow} for them, ${windowPhrase(contact)}`;
  $("contact-next").textContent = nextChange(contact);
  $("contact-source").textContent = sourcePhrase(contact);
}

/** The agreed channel: replies go to that kind of identity by default. */
function renderAgreedChannel(customer) {
  const kinds = [...new Set(customer.identities.map((identity) => identity.kind))];
  const options = [new Option("where they last wrote", "")];
  for (const kind of kinds) options.push(new Option(kind, kind));
  const select = $("panel-agreed");
  select.replaceChildren(...options);
  select.value = customer.agreed_channel ?? "";
}

async function saveAgreedChannel(event) {
  const customerId = panel.customerId;
  const select = event.currentTarget;
  $("agreed-error").textContent = "";
  try {
    const body = { agreed_channel: select.value || null };
    await api("PUT", `/api/customers/${customerId}/agreed-channel`, body);
    panel.onAgreed(); // the composer's default changes with it
  } catch (error) {
    panel.report(error, $("agreed-error"));
  }
  refreshPanel();
}

function windowPhrase(contact) {
  if (contact.always_reachable) return "always reachable";
  if (contact.source === null) return "no contact hours: reachable any time";
  if (contact.open) {
    return contact.closes_at
      ? `window open, closes in ${formatDuration(contact.now, contact.closes_at)}`
      : "window open";
  }
  return contact.opens_at
    ? `window opens in ${formatDuration(contact.now, contact.opens_at)}`
    : "window closed, no opening within a year";
}

/** "08:10 for you · opens Mon 09:00 their time, Mon 18:00 yours". */
function nextChange(contact) {
  const parts = [`${formatClock(contact.now)} for you`];
  const at = contact.open ? contact.closes_at : contact.opens_at;
  if (at) {
    const verb = contact.open ? "closes" : "opens";
    const theirs = formatClock(at, contact.zone, true);
    parts.push(`${verb} ${theirs} their time, ${formatClock(at, undefined, true)} yours`);
  }
  return parts.join(" · ");
}

function sourcePhrase(contact) {
  const whose = SOURCES[contact.source] || "no hours set";
  return `${contact.zone} · ${whose}`;
}

/* ---------- Editing the hours agreed with the customer ---------- */

function showHoursOf(customerId) {
  if (customerId === hours.customerId) return;
  hours.customerId = customerId;
  hours.seq++;
  hours.loaded = false;
  $("hours-summary").textContent = "";
  showAgreedHours(null);
  $("hours-always").checked = false;
  clearHoursErrors();
  if ($("contact-hours").open) loadContactHours();
}

function clearHoursErrors() {
  $("hours-error").textContent = "";
  $("hours-problems").replaceChildren();
  hours.editor.markProblems([]);
}

function showAgreedHours(calendar) {
  $("hours-none").checked = calendar === null;
  hours.editor.render(calendar);
  syncHoursDisabled();
}

function syncHoursDisabled() {
  $("hours-fields").disabled = $("hours-none").checked;
}

async function loadContactHours() {
  const customerId = hours.customerId;
  if (customerId === null) return;
  const seq = ++hours.seq;
  hours.loaded = true;
  clearHoursErrors();
  try {
    const agreed = await api("GET", `/api/customers/${customerId}/contact-hours`);
    if (seq === hours.seq) renderContactHours(agreed);
  } catch (error) {
    if (seq !== hours.seq) return;
    hours.loaded = false;
    panel.report(error, $("hours-error"));
  }
}

function renderContactHours(agreed) {
  $("hours-summary").textContent = describeHours(agreed);
  $("hours-always").checked = Boolean(agreed.always_reachable);
  showAgreedHours(agreed.hours);
}

function describeHours(agreed) {
  const parts = [];
  if (agreed.always_reachable) parts.push("always reachable");
  const calendar = agreed.hours;
  if (!calendar) {
    parts.push("no hours agreed with this customer");
    return parts.join(" · ");
  }
  parts.push(calendar.zone);
  const weekly = calendar.weekly || {};
  for (const day of WEEKDAYS) {
    const spans = weekly[day] || [];
    if (spans.length) parts.push(`${day} ${spans.map(spanLabel).join(", ")}`);
  }
  const exceptions = Object.keys(calendar.exceptions || {}).length;
  if (exceptions) parts.push(`${exceptions} dated exception${exceptions === 1 ? "" : "s"}`);
  const holidays = calendar.holidays;
  if (holidays) {
    const region = holidays.subdivision ? `-${holidays.subdivision}` : "";
    parts.push(`closed on ${holidays.country}${region} public holidays`);
  }
  return parts.join(" · ");
}

function spanLabel(span) {
  if (typeof span === "string") return span;
  return span.overnight ? `${span.span} (overnight)` : String(span.span);
}

async function saveContactHours(customerId) {
  clearHoursErrors();
  const calendar = $("hours-none").checked ? null : hours.editor.read();
  const body = { hours: calendar, always_reachable: $("hours-always").checked };
  const saved = await api("PUT", `/api/customers/${customerId}/contact-hours`, body);
  if (customerId === hours.customerId) {
    hours.seq++;
    renderContactHours(saved);
  }
  refreshPanel();
  panel.onHoursSaved(); // held messages and scheduled replies may have new times
}

async function submitContactHours(event) {
  const button = event.currentTarget;
  const customerId = hours.customerId;
  if (button.disabled || customerId === null) return;
  button.disabled = true;
  try {
    await saveContactHours(customerId);
  } catch (error) {
    if (customerId !== hours.customerId) return;
    if (error.problems && error.problems.length) {
      $("hours-error").textContent = "The hours were not saved:";
      const problems = error.problems.map((p) => el("li", "", `${p.field}: ${p.reason}`));
      $("hours-problems").replaceChildren(...problems);
      hours.editor.markProblems(error.problems);
    } else {
      panel.report(error, $("hours-error"));
    }
  } finally {
    button.disabled = false;
  }
}
