/* The structured calendar editor: a time zone, weekly spans (overnight ones marked),
 * dated exceptions and public holidays, in the shape the hub's HoursSettings takes.
 *
 * Used by the admin console (hub and channel hours, agents' hours), the agent's own
 * settings page and the inbox's customer panel. Everything is found inside the
 * editor's own element, so a page may hold several. Text goes in through textContent.
 */

const WEEKDAYS = [
  ["mon", "Monday"],
  ["tue", "Tuesday"],
  ["wed", "Wednesday"],
  ["thu", "Thursday"],
  ["fri", "Friday"],
  ["sat", "Saturday"],
  ["sun", "Sunday"],
];
const OFFICE_DAYS = ["mon", "tue", "wed", "thu", "fri"];
/** The IANA zones the hub itself knows (the browser's own list may differ), fetched once. */
const ZONES_PATH = "/time-zones.json";
let zonesAsked = null;
let editors = 0;

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function button(text, onClick, className) {
  const node = el("button", className, text);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

export function labelled(text, control) {
  const label = el("label", null, `${text} `);
  label.append(control);
  return label;
}

export function input(type, value) {
  const node = document.createElement("input");
  node.type = type;
  if (value !== undefined && value !== null) node.value = String(value);
  return node;
}

function testId(node, id) {
  node.dataset.testid = id;
  return node;
}

function isOvernight(opens, closes) {
  return Boolean(opens && closes) && closes !== "00:00" && closes < opens;
}

function renumber(list, path) {
  list.dataset.path = path;
  [...list.children].forEach((row, index) => {
    row.dataset.field = `${path}.${index}`;
  });
}

/** One span: opens, closes, and whether it runs past midnight (derived, shown). */
function addSpan(list, path, opens, closes) {
  const row = testId(el("li", "span-row"), "span");
  const from = testId(input("time", opens), "span-from");
  from.required = true;
  const to = testId(input("time", closes), "span-to");
  to.required = true;
  const overnight = testId(el("span", "overnight"), "span-overnight");
  const markOvernight = () => {
    overnight.textContent = isOvernight(from.value, to.value) ? "overnight" : "";
  };
  from.addEventListener("input", markOvernight);
  to.addEventListener("input", markOvernight);
  markOvernight();
  const remove = button("Remove", () => {
    const parent = row.parentElement;
    row.remove();
    renumber(parent, parent.dataset.path);
    parent.dispatchEvent(new Event("input", { bubbles: true }));
  }, "secondary small");
  remove.setAttribute("aria-label", "Remove this span");
  row.append(labelled("from", from), labelled("to", to), overnight, remove);
  list.append(row);
  renumber(list, path);
}

function setSpans(list, spans, path) {
  list.replaceChildren();
  list.dataset.path = path;
  for (const entry of spans) {
    const text = typeof entry === "string" ? entry : entry.span;
    const [opens, closes] = text.split("-").map((part) => part.trim());
    addSpan(list, path, opens, closes === "24:00" ? "00:00" : closes);
  }
}

/** The spans of one list as the hub takes them. */
function readSpans(list) {
  return [...list.querySelectorAll(".span-row")].map((row) => {
    const [from, to] = row.querySelectorAll("input[type=time]");
    const closes = to.value === "00:00" ? "24:00" : to.value;
    const span = `${from.value}-${closes}`;
    return isOvernight(from.value, to.value) ? { span, overnight: true } : span;
  });
}

function weekdayRow(key, name) {
  const row = testId(el("div", "weekday"), `weekday-${key}`);
  row.dataset.day = key;
  row.append(el("span", "weekday-name", name));
  const spans = el("ul", "spans");
  spans.dataset.day = key;
  spans.setAttribute("aria-label", `${name} spans`);
  const add = button("Add span", () => {
    addSpan(spans, `weekly.${key}`, "09:00", "17:00");
  }, "secondary small");
  add.setAttribute("aria-label", `Add a span on ${name}`);
  row.append(spans, testId(add, `span-add-${key}`));
  return row;
}

function exceptionRow(date, spans) {
  const row = testId(el("li", "exception"), "exception");
  const day = testId(input("date", date), "exception-date");
  day.required = true;
  const closed = testId(input("checkbox"), "exception-closed");
  closed.checked = spans.length === 0;
  const closedLabel = el("label", "check");
  closedLabel.append(closed, " closed all day");
  const list = el("ul", "spans");
  const path = () => `exceptions.${day.value}`;
  setSpans(list, spans, path());
  day.addEventListener("change", () => {
    row.dataset.field = path();
    renumber(list, path());
  });
  const add = button("Add span", () => {
    closed.checked = false;
    addSpan(list, path(), "10:00", "14:00");
  }, "secondary small");
  closed.addEventListener("change", () => {
    if (closed.checked) list.replaceChildren();
    else if (!list.children.length) addSpan(list, path(), "10:00", "14:00");
  });
  const remove = button("Remove exception", () => {
    const parent = row.parentElement;
    row.remove();
    parent.dispatchEvent(new Event("input", { bubbles: true }));
  }, "secondary small");
  row.dataset.field = path();
  const head = el("div", "exception-head");
  head.append(labelled("Date", day), closedLabel, testId(add, "exception-span-add"), remove);
  row.append(head, list);
  return row;
}

function knownZones() {
  zonesAsked ||= fetch(ZONES_PATH, { credentials: "same-origin" })
    .then((response) => (response.ok ? response.json() : []))
    .catch(() => []);
  return zonesAsked;
}

/** The zones to choose from as one types: a <datalist> filled once the hub answers. */
function zoneList(id) {
  const list = el("datalist");
  list.id = id;
  list.dataset.testid = "zone-choices";
  knownZones().then((zones) => {
    list.replaceChildren(...zones.map((zone) => Object.assign(el("option"), { value: zone })));
  });
  return list;
}

/** Build an editor inside ``root``; returns ``{render(hours), read(), markProblems(problems)}``. */
export function calendarEditor(root) {
  const zonesId = `zones-${++editors}`;
  const zone = testId(input("text"), "calendar-zone");
  zone.setAttribute("list", zonesId);
  zone.autocomplete = "off";
  zone.dataset.field = "zone";
  const weekly = el("div", "weekly");
  for (const [key, name] of WEEKDAYS) weekly.append(weekdayRow(key, name));
  const spanList = (day) => weekly.querySelector(`ul.spans[data-day="${day}"]`);
  const preset = button("Mon–Fri 09:00–17:00", () => {
    for (const [key] of WEEKDAYS) {
      setSpans(spanList(key), OFFICE_DAYS.includes(key) ? ["09:00-17:00"] : [], `weekly.${key}`);
    }
  }, "secondary");
  const exceptions = el("ul", "exceptions");
  const nextFreeDate = () => {
    const taken = new Set([...exceptions.querySelectorAll("input[type=date]")].map((i) => i.value));
    const day = new Date();
    while (taken.has(day.toISOString().slice(0, 10))) day.setUTCDate(day.getUTCDate() + 1);
    return day.toISOString().slice(0, 10);
  };
  const addException = button("Add exception", () => {
    const row = exceptionRow(nextFreeDate(), []);
    exceptions.append(row);
    row.querySelector("input[type=date]").focus();
  }, "secondary");
  const country = testId(input("text"), "holiday-country");
  Object.assign(country, { maxLength: 3, placeholder: "GB", autocomplete: "off" });
  country.dataset.field = "holidays.country";
  const subdivision = testId(input("text"), "holiday-subdivision");
  Object.assign(subdivision, { maxLength: 10, placeholder: "ENG", autocomplete: "off" });
  subdivision.dataset.field = "holidays.subdivision";
  const holidays = el("div", "holidays");
  holidays.append(labelled("Country", country), labelled("Subdivision (optional)", subdivision));
  root.append(
    labelled("Time zone", zone),
    zoneList(zonesId),
    el("h3", null, "Weekly hours"),
    el("p", "hint", "A span that closes before it opens runs overnight into the next day. " +
      "Closing at 00:00 means midnight."),
    weekly,
    testId(preset, "office-preset"),
    el("h3", null, "Exceptions"),
    el("p", "hint", "A date with its own hours, or closed all day."),
    exceptions,
    testId(addException, "exception-add"),
    el("h3", null, "Public holidays"),
    holidays,
  );

  return {
    render(hours) {
      const shown = hours || { zone: "", weekly: {}, exceptions: {}, holidays: null };
      zone.value = shown.zone;
      for (const [key] of WEEKDAYS) {
        setSpans(spanList(key), (shown.weekly || {})[key] || [], `weekly.${key}`);
      }
      const dated = Object.entries(shown.exceptions || {}).sort();
      exceptions.replaceChildren(...dated.map(([day, spans]) => exceptionRow(day, spans)));
      country.value = shown.holidays ? shown.holidays.country : "";
      subdivision.value = (shown.holidays && shown.holidays.subdivision) || "";
    },

    /** The calendar as the hub takes it. */
    read() {
      const days = {};
      for (const [key] of WEEKDAYS) {
        const spans = readSpans(spanList(key));
        if (spans.length) days[key] = spans;
      }
      const dated = {};
      for (const row of exceptions.querySelectorAll(".exception")) {
        dated[row.querySelector("input[type=date]").value] = readSpans(row.querySelector(".spans"));
      }
      const hours = { zone: zone.value.trim(), weekly: days, exceptions: dated };
      const place = country.value.trim().toUpperCase();
      const region = subdivision.value.trim().toUpperCase();
      if (place) hours.holidays = region ? { country: place, subdivision: region } : { country: place };
      return hours;
    },

    /** Mark the inputs the API's problems name (fields under ``hours.``). */
    markProblems(problems) {
      const fields = new Set(problems.map((p) => p.field.replace(/^hours\./, "")));
      for (const node of root.querySelectorAll("[data-field]")) {
        const invalid = fields.has(node.dataset.field);
        const controls = node.matches("input") ? [node] : node.querySelectorAll(":scope > label > input");
        for (const control of controls) {
          if (invalid) control.setAttribute("aria-invalid", "true");
          else control.removeAttribute("aria-invalid");
        }
        node.classList.toggle("invalid", invalid);
      }
    },
  };
}
