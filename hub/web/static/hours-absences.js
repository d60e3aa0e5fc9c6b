/* One agent's working hours and absences, edited through the hub's API: the admin
 * console shows it for any agent (/api/admin/agents/ID), the account page for the
 * signed-in agent (/api/me). Dates of absences are days in the zone of the agent's
 * hours (UTC without hours), as the hub reads them. Text goes in through textContent.
 */
import { button, calendarEditor, el, input, labelled } from "./calendar-editor.js";

const REASONS = ["holiday", "sick", "other"];

function testId(node, id) {
  node.dataset.testid = id;
  return node;
}

function showProblems(list, problems) {
  list.replaceChildren(...problems.map((p) => el("li", null, `${p.field}: ${p.reason}`)));
}

/** "Wed 4 Mar 2026" for a day, with the time when the moment is not a midnight. */
function formatMoment(iso, zone, endOfDay) {
  const moment = new Date(iso);
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).format(moment);
  const atMidnight = parts === "00:00";
  const shown = atMidnight && endOfDay ? new Date(moment.getTime() - 1) : moment;
  const options = { timeZone: zone, weekday: "short", day: "numeric", month: "short", year: "numeric" };
  const day = new Intl.DateTimeFormat(undefined, options).format(shown);
  return atMidnight ? day : `${day} ${parts}`;
}

/** Build the editor inside ``root``; ``load()`` fills it from the hub. */
export function hoursAndAbsences(root, api, base) {
  const state = { zone: "UTC" };
  const none = testId(input("checkbox"), "agent-hours-none");
  const noneLabel = el("label", "check");
  noneLabel.append(none, " No working hours: always working");
  const fields = el("fieldset", "calendar-fields");
  fields.setAttribute("aria-label", "Working hours");
  root.classList.add("hours-editor");
  const editor = calendarEditor(fields);
  const save = testId(button("Save hours", () => saveHours()), "agent-hours-save");
  const saved = testId(el("span", "result"), "agent-hours-saved");
  saved.setAttribute("role", "status");
  const hoursError = testId(el("p", "error"), "agent-hours-error");
  hoursError.setAttribute("role", "alert");
  const hoursProblems = testId(el("ul", "error problems"), "agent-hours-problems");
  const hoursActions = el("div", "actions");
  hoursActions.append(save, saved);

  const list = testId(el("ul", "absences"), "absences");
  const reason = testId(document.createElement("select"), "absence-reason");
  for (const name of REASONS) {
    const choice = el("option", null, name);
    choice.value = name;
    reason.append(choice);
  }
  const from = testId(input("date"), "absence-from");
  const to = testId(input("date"), "absence-to");
  const add = testId(button("Add absence", () => addAbsence()), "absence-add");
  const sick = testId(button("Sick today", () => addAbsence({ reason: "sick" })), "absence-sick-today");
  sick.className = "secondary";
  const absenceError = testId(el("p", "error"), "absence-error");
  absenceError.setAttribute("role", "alert");
  const absenceProblems = testId(el("ul", "error problems"), "absence-problems");
  const form = el("div", "absence-form");
  form.append(labelled("Reason", reason), labelled("From", from), labelled("To", to), add, sick);

  root.append(
    el("h3", null, "Working hours"),
    el("p", "hint", "Outside these hours, while absent or away, the backup answers new " +
      "messages; the customers stay with their owner."),
    noneLabel,
    fields,
    hoursActions,
    hoursError,
    hoursProblems,
    el("h3", null, "Absences"),
    list,
    form,
    absenceError,
    absenceProblems,
  );
  none.addEventListener("change", () => {
    fields.disabled = none.checked;
  });
  root.addEventListener("input", () => {
    saved.textContent = "";
  });

  function renderHours(hours) {
    none.checked = hours === null;
    fields.disabled = none.checked;
    editor.render(hours);
    state.zone = hours ? hours.zone : "UTC";
  }

  function absenceRow(absence) {
    const row = testId(el("li", "absence"), "absence");
    const period = `${formatMoment(absence.starts_at, state.zone, false)} – ` +
      formatMoment(absence.ends_at, state.zone, true);
    row.append(el("span", "absence-reason", absence.reason), el("span", "absence-period", period));
    if (absence.handed_over_at && !absence.handed_back_at) {
      row.append(el("span", "hint", "conversations handed to the backup"));
    }
    const remove = button("Remove", () => run(absenceError, absenceProblems, async () => {
      await api("DELETE", `${base}/absences/${absence.id}`);
      await loadAbsences();
    }), "secondary small");
    remove.setAttribute("aria-label", `Remove the ${absence.reason} absence`);
    row.append(testId(remove, "absence-remove"));
    return row;
  }

  async function loadAbsences() {
    const absences = await api("GET", `${base}/absences`);
    list.replaceChildren(...absences.map(absenceRow));
    if (!absences.length) list.append(el("li", "hint", "No absences planned."));
  }

  /** Run ``action``; what went wrong is shown under it and returned (``null``: nothing). */
  async function run(error, problems, action) {
    error.textContent = "";
    showProblems(problems, []);
    try {
      await action();
    } catch (failure) {
      error.textContent = failure.message || String(failure);
      showProblems(problems, failure.problems || []);
      return failure;
    }
    return null;
  }

  async function saveHours() {
    saved.textContent = "";
    editor.markProblems([]);
    const hours = none.checked ? null : editor.read();
    const failure = await run(hoursError, hoursProblems, async () => {
      const stored = await api("PUT", `${base}/hours`, { hours });
      renderHours(stored.hours);
      await loadAbsences();
    });
    if (failure) editor.markProblems(failure.problems || []);
    else saved.textContent = "Saved.";
  }

  /** Add the absence the form describes, or ``preset`` (sick today: no dates, the hub's today). */
  async function addAbsence(preset) {
    const body = preset || { reason: reason.value, from_date: from.value || null };
    if (!preset && to.value) body.to_date = to.value;
    const failure = await run(absenceError, absenceProblems, async () => {
      await api("POST", `${base}/absences`, body);
      await loadAbsences();
    });
    if (!failure && !preset) {
      from.value = "";
      to.value = "";
    }
  }

  return {
    async load() {
      const stored = await api("GET", `${base}/hours`);
      renderHours(stored.hours);
      await loadAbsences();
    },
  };
}
