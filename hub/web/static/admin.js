/* The admin console: channels, agents (and the two-factor rule), customers, calendars,
 * auto-replies, SLA, tags (admin-tags.js), audit log; a warning while demo accounts keep their demo passwords.
 *
 * One page, no build step. Talks to the hub's JSON API with the HttpOnly
 * session cookie plus the X-CSRF-Token header on every state-changing request.
 * User-supplied text only ever goes into the page through textContent.
 * Calendar previews and auto-reply previews are computed by the hub.
 */
import { ApiError, apiClient } from "./api.js";
import { button, calendarEditor, el, input, labelled } from "./calendar-editor.js";
import { privacyActions } from "./customer-privacy.js";
import { formatTime } from "./dates.js";
import { hoursAndAbsences } from "./hours-absences.js";
import { tagsSection } from "./admin-tags.js";

(function () {
  "use strict";

  const SIGN_IN = "/?next=/admin";
  const PREVIEW_DELAY_MS = 300;
  const DEFAULT_CALENDAR = "";
  const RULE_FIELDS = [
    "never_hold",
    "autoreply_template",
    "first_response_minutes",
    "next_response_minutes",
  ];
  /** Disabled while their data loads, so nobody edits (or saves) what is about to change. */
  const CALENDAR_CONTROLS = ["calendar-none", "calendar-save"];
  const RULES_CONTROLS = [
    "rules-never-hold",
    "rules-template",
    "rules-first",
    "rules-next",
    "rules-save",
  ];
  const DAY_FORMAT = new Intl.DateTimeFormat(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    timeZone: "UTC",
  });

  const state = {
    csrf: null,
    me: null,
    agents: [],
    channels: [],
    loaded: new Set(),
  };

  const $ = (id) => document.getElementById(id);
  const byTestId = (root, id) => root.querySelector(`[data-testid="${id}"]`);

  /* ---------- HTTP ---------- */

  const api = apiClient(
    () => state.csrf,
    () => window.location.assign(SIGN_IN),
  );

  /** Show what went wrong next to the form that caused it. */
  function report(error, element, problemList) {
    element.textContent = error.message || String(error);
    if (problemList) showProblems(problemList, error.problems || []);
  }

  function showProblems(list, problems) {
    list.replaceChildren(
      ...problems.map((p) => el("li", null, `${p.field}: ${p.reason}`)),
    );
  }

  /* ---------- Small DOM helpers (el, button, labelled, input: calendar-editor.js) ---------- */

  /** A <select> of agents; ``none`` adds an empty choice with that text. */
  function agentSelect(selected, none, onlyActive) {
    const select = document.createElement("select");
    if (none) select.append(option("", none));
    for (const agent of state.agents) {
      if (onlyActive && !agent.active && agent.id !== selected) continue;
      select.append(option(String(agent.id), `${agent.name} (${agent.email})`));
    }
    select.value = selected ? String(selected) : "";
    return select;
  }

  function option(value, text) {
    const node = el("option", null, text);
    node.value = value;
    return node;
  }

  function agentName(id) {
    const agent = state.agents.find((a) => a.id === id);
    return agent ? agent.name : `agent ${id}`;
  }

  function debounce(fn, delay) {
    let timer = null;
    return () => {
      clearTimeout(timer);
      timer = setTimeout(fn, delay);
    };
  }

  /** Run ``load`` unless a newer call started meanwhile (stale answers are dropped). */
  function latestOnly(load) {
    let seq = 0;
    return async (...args) => {
      const mine = ++seq;
      const result = await load(...args);
      return mine === seq ? result : undefined;
    };
  }

  function setDisabled(ids, disabled) {
    for (const id of ids) $(id).disabled = disabled;
  }

  /** An event handler running ``load``, with a failure shown in the banner. */
  function reportingErrors(load) {
    return () => load().catch((error) => report(error, $("console-error")));
  }

  /* ---------- Start, sections, sign-out ---------- */

  async function boot() {
    for (const tab of document.querySelectorAll(".section-tab")) {
      tab.addEventListener("click", () => showSection(tab.dataset.section));
    }
    $("logout").addEventListener("click", logout);
    bindAgents();
    bindCustomers();
    bindCalendar();
    bindRules();
    bindCanned();
    tags.bind();
    $("audit-refresh").addEventListener("click", loadAudit);
    try {
      const me = await api("GET", "/api/me");
      state.csrf = me.csrf_token;
      state.me = me;
      $("admin-name").textContent = me.name;
      await Promise.all([loadAgents(), loadChannelList(), loadSecurity()]);
      showSection(sectionFromHash());
    } catch (error) {
      report(error, $("console-error"));
    }
  }

  function sectionFromHash() {
    const name = window.location.hash.slice(1);
    return document.querySelector(`.section-tab[data-section="${CSS.escape(name)}"]`)
      ? name
      : "channels";
  }

  const SECTION_LOADERS = {
    channels: loadChannelList,
    agents: loadAgents,
    customers: prepareCustomers,
    calendars: loadCalendar,
    rules: loadRules,
    canned: loadCanned,
    tags: () => tags.load(),
    audit: loadAudit,
  };

  function showSection(name) {
    for (const tab of document.querySelectorAll(".section-tab")) {
      tab.setAttribute("aria-pressed", String(tab.dataset.section === name));
    }
    for (const section of document.querySelectorAll(".section")) {
      section.hidden = section.id !== name;
    }
    if (window.location.hash.slice(1) !== name) history.replaceState(null, "", `#${name}`);
    SECTION_LOADERS[name]().catch((error) => report(error, $("console-error")));
  }

  async function logout() {
    try {
      await api("POST", "/api/logout");
    } catch (error) {
      if (error.status !== 401) {
        report(error, $("console-error"));
        return;
      }
    }
    window.location.assign("/");
  }

  /* ---------- Channels ---------- */

  async function loadChannelList() {
    state.channels = await api("GET", "/api/admin/channels");
    $("channel-list").replaceChildren(...state.channels.map(channelCard));
    fillChannelPickers();
  }

  function channelCard(channel) {
    const card = el("li", "card");
    card.dataset.testid = "channel";
    card.dataset.channel = channel.name;
    card.dataset.enabled = String(channel.enabled);
    const head = el("div", "card-head");
    head.append(el("strong", null, channel.name), el("span", "kind", channel.kind));
    const status = el("span", "status", channel.enabled ? "enabled" : "disabled");
    status.dataset.testid = "channel-status";
    head.append(status);
    card.append(head);
    const credentials = channel.credentials.length
      ? `Credentials from: ${channel.credentials.join(", ")}`
      : "No credentials needed";
    card.append(el("p", "credentials", credentials));
    if (channel.status === "stopped") {
      const halted = el("p", "error", `Stopped: ${channel.reason}`);
      halted.dataset.testid = "channel-halted";
      card.append(halted);
    }
    const result = el("p", "result");
    result.setAttribute("role", "status");
    result.dataset.testid = "channel-test-result";
    const error = el("p", "error");
    error.setAttribute("role", "alert");
    error.dataset.testid = "channel-error";
    const toggle = button(channel.enabled ? "Disable" : "Enable", () =>
      switchChannel(channel, toggle, error),
    );
    toggle.dataset.testid = "channel-toggle";
    const test = button("Test connection", () => testChannel(channel, test, result, error));
    test.dataset.testid = "channel-test";
    test.disabled = !channel.enabled;
    const actions = el("div", "actions");
    actions.append(toggle, test);
    card.append(actions, result, error);
    return card;
  }

  async function switchChannel(channel, toggle, error) {
    toggle.disabled = true;
    error.textContent = "";
    try {
      await api("PATCH", `/api/admin/channels/${encodeURIComponent(channel.name)}`, {
        enabled: !channel.enabled,
      });
      await loadChannelList();
    } catch (failure) {
      toggle.disabled = false;
      report(failure, error);
    }
  }

  async function testChannel(channel, test, result, error) {
    test.disabled = true;
    result.textContent = "Testing…";
    delete result.dataset.ok;
    error.textContent = "";
    try {
      const outcome = await api(
        "POST",
        `/api/admin/channels/${encodeURIComponent(channel.name)}/test`,
      );
      result.dataset.ok = String(outcome.ok);
      result.textContent = `${outcome.ok ? "Connection ok" : "Connection failed"}: ${outcome.detail}`;
    } catch (failure) {
      result.textContent = "";
      report(failure, error);
    } finally {
      test.disabled = false;
    }
  }

  function fillChannelPickers() {
    const calendars = $("calendar-picker");
    const chosenCalendar = calendars.value;
    calendars.replaceChildren(option(DEFAULT_CALENDAR, "Hub default hours"));
    const rules = $("rules-channel");
    const chosenRules = rules.value;
    rules.replaceChildren();
    for (const channel of state.channels) {
      calendars.append(option(channel.name, `Channel ${channel.name} (${channel.kind})`));
      rules.append(option(channel.name, `${channel.name} (${channel.kind})`));
    }
    calendars.value = chosenCalendar;
    if (chosenRules) rules.value = chosenRules;
  }

  /* ---------- Agents ---------- */

  function bindAgents() {
    $("agent-form").addEventListener("submit", createAgent);
    $("require-two-factor").addEventListener("change", changeTwoFactorRule);
    $("agent-hours-close").addEventListener("click", closeAgentHours);
  }

  /** The two-factor rule and the demo-password warning, both from /api/admin/security. */
  async function loadSecurity() {
    showSecurity(await api("GET", "/api/admin/security"));
  }

  function showSecurity(security) {
    $("require-two-factor").checked = security.require_two_factor;
    const demo = security.demo_passwords;
    $("demo-warning").hidden = demo.length === 0;
    $("demo-warning").textContent =
      `These accounts still take their published demo passwords: ${demo.join(", ")}. ` +
      "Give them new passwords or deactivate them.";
  }

  async function changeTwoFactorRule(event) {
    const box = event.target;
    const error = byTestId($("agents"), "two-factor-policy-error");
    error.textContent = "";
    try {
      showSecurity(
        await api("PATCH", "/api/admin/security", { require_two_factor: box.checked }),
      );
    } catch (failure) {
      box.checked = !box.checked;
      report(failure, error);
    }
  }

  async function loadAgents() {
    state.agents = await api("GET", "/api/admin/agents");
    $("agent-list").replaceChildren(...state.agents.map(agentCard));
    fillReassignPickers();
  }

  async function createAgent(event) {
    event.preventDefault();
    const form = event.target;
    const error = byTestId(form, "agent-form-error");
    error.textContent = "";
    const body = {
      email: form.elements.email.value,
      name: form.elements.name.value,
      password: form.elements.password.value,
      role: form.elements.role.value,
    };
    try {
      await api("POST", "/api/admin/agents", body);
      form.reset();
      await loadAgents();
    } catch (failure) {
      report(failure, error);
    }
  }

  function agentCard(agent) {
    const card = el("li", "card");
    card.dataset.testid = "agent";
    card.dataset.agentId = String(agent.id);
    card.dataset.active = String(agent.active);
    const head = el("div", "card-head");
    head.append(el("strong", null, agent.name), el("span", "kind", agent.role));
    const status = el("span", "status", agentStatus(agent));
    status.dataset.testid = "agent-status";
    head.append(status);
    card.append(head, el("p", "email", agent.email));

    const error = el("p", "error");
    error.setAttribute("role", "alert");
    const away = input("checkbox");
    away.checked = Boolean(agent.away);
    away.dataset.testid = "agent-away";
    const backup = agentSelect(agent.backup_id, "no backup", true);
    backup.dataset.testid = "agent-backup";
    const save = button("Save", () =>
      patchAgent(agent, { away: away.checked, backup_id: numberOrNull(backup.value) }, error),
    );
    save.dataset.testid = "agent-save";
    const awayLabel = el("label", "check");
    awayLabel.append(away, " Away");
    const toggle = button(agent.active ? "Deactivate" : "Reactivate", () =>
      patchAgent(agent, { active: !agent.active }, error),
    );
    toggle.dataset.testid = "agent-toggle";
    const hours = button("Hours & absences", reportingErrors(() => openAgentHours(agent)), "secondary");
    hours.dataset.testid = "agent-hours-open";
    const actions = el("div", "actions");
    actions.append(awayLabel, labelled("Backup", backup), save, toggle, hours);
    if (agent.two_factor) actions.append(twoFactorReset(agent, error));
    card.append(actions, error);
    return card;
  }

  /** One agent's working hours and absences, in a fresh editor below the list. */
  async function openAgentHours(agent) {
    closeAgentHours();
    $("agent-hours-title").textContent = `Hours and absences: ${agent.name}`;
    const editor = hoursAndAbsences($("agent-hours-editor"), api, `/api/admin/agents/${agent.id}`);
    $("agent-hours").hidden = false;
    await editor.load();
    $("agent-hours").scrollIntoView({ block: "nearest" });
  }

  function closeAgentHours() {
    $("agent-hours").hidden = true;
    $("agent-hours-editor").replaceChildren();
  }

  /** For an agent who lost their phone and their recovery codes. */
  function twoFactorReset(agent, error) {
    const reset = button("Turn off two-factor", async () => {
      error.textContent = "";
      try {
        await api("DELETE", `/api/admin/agents/${agent.id}/two-factor`);
        await loadAgents();
      } catch (failure) {
        report(failure, error);
      }
    });
    reset.dataset.testid = "agent-two-factor-off";
    return reset;
  }

  function agentStatus(agent) {
    const twoFactor = agent.two_factor ? ", two-factor on" : "";
    if (!agent.active) return "deactivated";
    if (agent.away) {
      const away = agent.backup_id ? `away, backup ${agentName(agent.backup_id)}` : "away";
      return away + twoFactor;
    }
    return "active" + twoFactor;
  }

  async function patchAgent(agent, changes, error) {
    error.textContent = "";
    try {
      await api("PATCH", `/api/admin/agents/${agent.id}`, changes);
      await loadAgents();
    } catch (failure) {
      report(failure, error);
    }
  }

  function numberOrNull(value) {
    return value === "" ? null : Number(value);
  }

  /* ---------- Customers ---------- */

  function bindCustomers() {
    $("customer-search").addEventListener("submit", (event) => {
      event.preventDefault();
      searchCustomers();
    });
    $("reassign-form").addEventListener("submit", reassign);
  }

  async function prepareCustomers() {
    await loadAgents();
    if (!state.loaded.has("customers")) {
      state.loaded.add("customers");
      await searchCustomers();
    }
  }

  const fetchCustomers = latestOnly((query) =>
    api("GET", `/api/admin/customers?q=${encodeURIComponent(query)}`),
  );

  async function searchCustomers() {
    const error = byTestId($("customer-search"), "customer-search-error");
    error.textContent = "";
    $("customer-result").textContent = "";
    try {
      const found = await fetchCustomers($("customer-search").elements.q.value.trim());
      if (found === undefined) return;
      $("customer-list").replaceChildren(...found.map(customerCard));
      $("customer-empty").hidden = found.length > 0;
    } catch (failure) {
      report(failure, error);
    }
  }

  function customerCard(customer) {
    const card = el("li", "card");
    card.dataset.testid = "customer";
    card.dataset.customerId = String(customer.id);
    const head = el("div", "card-head");
    head.append(el("strong", null, customer.name), el("span", "kind", `#${customer.id}`));
    const owner = el("span", "status", customer.owner_id ? `owner ${agentName(customer.owner_id)}` : "no owner");
    owner.dataset.testid = "customer-owner";
    head.append(owner);
    card.append(head);
    const identities = el("ul", "identities");
    identities.setAttribute("aria-label", `Addresses of ${customer.name}`);
    for (const identity of customer.identities) {
      identities.append(el("li", null, `${identity.kind}: ${identity.address}`));
    }
    card.append(identities);
    const ownerSelect = agentSelect(customer.owner_id, "no owner", true);
    ownerSelect.dataset.testid = "customer-owner-select";
    const backupSelect = agentSelect(customer.backup_id, "no backup", true);
    backupSelect.dataset.testid = "customer-backup-select";
    const error = el("p", "error");
    error.setAttribute("role", "alert");
    const save = button("Save", async () => {
      error.textContent = "";
      try {
        await api("PATCH", `/api/admin/customers/${customer.id}`, {
          owner_id: numberOrNull(ownerSelect.value),
          backup_id: numberOrNull(backupSelect.value),
        });
        await searchCustomers();
      } catch (failure) {
        report(failure, error);
      }
    });
    save.dataset.testid = "customer-save";
    const actions = el("div", "actions");
    actions.append(labelled("Owner", ownerSelect), labelled("Backup", backupSelect), save);
    card.append(actions, error, privacyActions(customer, api, report, customerDeleted));
    return card;
  }

  async function customerDeleted(message) {
    await searchCustomers();
    $("customer-result").textContent = message;
  }

  function fillReassignPickers() {
    const form = $("reassign-form");
    for (const name of ["from", "to"]) {
      const chosen = form.elements[name].value;
      const fresh = agentSelect(numberOrNull(chosen), null, name === "to");
      form.elements[name].replaceChildren(...fresh.childNodes);
      form.elements[name].value = chosen;
    }
  }

  async function reassign(event) {
    event.preventDefault();
    const form = event.target;
    const result = byTestId(form, "reassign-result");
    const error = byTestId(form, "reassign-error");
    result.textContent = "";
    error.textContent = "";
    const from = Number(form.elements.from.value);
    const to = Number(form.elements.to.value);
    try {
      const moved = await api("POST", `/api/admin/agents/${from}/reassign`, { to_agent_id: to });
      const count = moved.moved_customers.length;
      result.textContent = `Moved ${count} customer${count === 1 ? "" : "s"} from ${agentName(from)} to ${agentName(to)}.`;
      await searchCustomers();
    } catch (failure) {
      report(failure, error);
    }
  }

  /* ---------- Calendars: a structured editor with a preview by the hub ---------- */

  const calendar = { form: null, editor: null, subject: DEFAULT_CALENDAR };

  const schedulePreview = debounce(() => previewCalendar(), PREVIEW_DELAY_MS);
  const fetchLatest = {
    calendar: latestOnly((path) => api("GET", path)),
    rules: latestOnly((path) => api("GET", path)),
  };

  function bindCalendar() {
    calendar.form = $("calendar-form");
    calendar.editor = calendarEditor($("calendar-fields"));
    $("calendar-picker").addEventListener("change", reportingErrors(loadCalendar));
    $("calendar-none").addEventListener("change", syncCalendarDisabled);
    for (const kind of ["input", "change", "click"]) {
      calendar.form.addEventListener(kind, (event) => {
        if (kind === "click" && event.target.type !== "button") return; // buttons change spans
        byTestId(calendar.form, "calendar-saved").textContent = "";
        schedulePreview();
      });
    }
    calendar.form.addEventListener("submit", saveCalendar);
  }

  function renderCalendar(hours) {
    $("calendar-none").checked = hours === null;
    calendar.editor.render(hours);
    syncCalendarDisabled();
  }

  function syncCalendarDisabled() {
    $("calendar-fields").disabled = $("calendar-none").checked;
  }

  /** The editor's calendar as the hub takes it; ``null`` when there are no hours. */
  function readCalendar() {
    return $("calendar-none").checked ? null : calendar.editor.read();
  }

  function calendarPath() {
    return calendar.subject === DEFAULT_CALENDAR
      ? "/api/admin/hours"
      : `/api/admin/channels/${encodeURIComponent(calendar.subject)}/rules`;
  }

  async function loadCalendar() {
    calendar.subject = $("calendar-picker").value;
    const isDefault = calendar.subject === DEFAULT_CALENDAR;
    $("calendar-none-label").textContent = isDefault
      ? "No default hours: always open"
      : "No hours of its own: the hub's default hours apply";
    clearCalendarMessages();
    setDisabled(CALENDAR_CONTROLS, true);
    $("calendar-fields").disabled = true;
    const stored = await fetchLatest.calendar(calendarPath());
    if (stored === undefined) return; // a newer load is under way
    renderCalendar(stored.hours);
    setDisabled(CALENDAR_CONTROLS, false);
    syncCalendarDisabled();
    await previewCalendar();
  }

  function clearCalendarMessages() {
    byTestId(calendar.form, "calendar-error").textContent = "";
    byTestId(calendar.form, "calendar-saved").textContent = "";
    markProblems(calendar.form, []);
  }

  /** Show the API's problems in the list and on the inputs they name. */
  function markProblems(form, problems) {
    showProblems(form.querySelector(".problems"), problems);
    calendar.editor.markProblems(problems);
  }

  const requestPreview = latestOnly((hours) =>
    api("POST", "/api/admin/hours/preview", { hours, days: 14 }),
  );

  async function previewCalendar() {
    const hours = readCalendar();
    const note = $("preview-note");
    const error = byTestId(calendar.form, "calendar-error");
    if (hours === null) {
      $("preview").replaceChildren();
      $("preview-zone").textContent = "";
      note.textContent =
        calendar.subject === DEFAULT_CALENDAR
          ? "Always open: messages are never held by the default hours."
          : "This channel follows the hub's default hours.";
      markProblems(calendar.form, []);
      return;
    }
    try {
      const preview = await requestPreview(hours);
      if (preview === undefined) return;
      error.textContent = "";
      markProblems(calendar.form, []);
      note.textContent = "";
      $("preview-zone").textContent = `(${preview.zone})`;
      $("preview").replaceChildren(...preview.days.map(previewDay));
    } catch (failure) {
      if (failure.status !== 422) throw failure;
      error.textContent = "Fix these to see the preview:";
      markProblems(calendar.form, failure.problems);
    }
  }

  function previewDay(day) {
    const item = el("li", "preview-day");
    item.dataset.testid = "preview-day";
    item.dataset.date = day.date;
    item.dataset.open = String(day.open.length > 0);
    item.append(el("span", "preview-date", DAY_FORMAT.format(new Date(`${day.date}T00:00:00Z`))));
    const hours = day.open.length
      ? day.open.map((span) => `${span.from}–${span.to}`).join(", ")
      : "closed";
    item.append(el("span", "preview-hours", hours));
    const why = day.holiday ? day.holiday : day.exception ? "exception" : "";
    if (why) item.append(el("span", "preview-why", why));
    return item;
  }

  async function saveCalendar(event) {
    event.preventDefault();
    clearCalendarMessages();
    const hours = readCalendar();
    const error = byTestId(calendar.form, "calendar-error");
    try {
      if (calendar.subject === DEFAULT_CALENDAR) {
        await api("PUT", calendarPath(), { hours });
      } else {
        await saveChannelRules(calendar.subject, { hours });
      }
      byTestId(calendar.form, "calendar-saved").textContent = "Saved.";
    } catch (failure) {
      error.textContent = "The hours were not saved:";
      markProblems(calendar.form, failure.problems || []);
      if (!failure.problems || !failure.problems.length) report(failure, error);
    }
  }

  /** Replace a channel's rules with the stored ones plus ``changes`` (the API replaces all). */
  async function saveChannelRules(channel, changes) {
    const path = `/api/admin/channels/${encodeURIComponent(channel)}/rules`;
    const stored = await api("GET", path);
    const body = { hours: stored.hours };
    for (const field of RULE_FIELDS) {
      if (stored[field] !== undefined) body[field] = stored[field];
    }
    return api("PUT", path, { ...body, ...changes });
  }

  /* ---------- Auto-reply templates and SLA targets, per channel ---------- */

  const scheduleTemplatePreview = debounce(() => previewTemplate(), PREVIEW_DELAY_MS);

  function bindRules() {
    $("rules-channel").addEventListener("change", reportingErrors(loadRules));
    $("rules-template").addEventListener("input", scheduleTemplatePreview);
    $("rules-form").addEventListener("submit", saveRules);
    $("rules-form").addEventListener("input", () => {
      byTestId($("rules-form"), "rules-saved").textContent = "";
    });
  }

  async function loadRules() {
    const channel = $("rules-channel").value;
    if (!channel) return;
    const form = $("rules-form");
    byTestId(form, "rules-error").textContent = "";
    byTestId(form, "rules-saved").textContent = "";
    showProblems(byTestId(form, "rules-problems"), []);
    setDisabled(RULES_CONTROLS, true);
    const rules = await fetchLatest.rules(
      `/api/admin/channels/${encodeURIComponent(channel)}/rules`,
    );
    if (rules === undefined) return; // a newer load is under way
    setDisabled(RULES_CONTROLS, false);
    $("rules-never-hold").checked = Boolean(rules.never_hold);
    $("rules-template").value = rules.autoreply_template || "";
    $("rules-first").value = rules.first_response_minutes || "";
    $("rules-next").value = rules.next_response_minutes || "";
    await previewTemplate();
  }

  const requestTemplate = latestOnly((body) => api("POST", "/api/admin/templates/preview", body));

  async function previewTemplate() {
    const form = $("rules-form");
    const error = byTestId(form, "template-error");
    const text = $("rules-template").value;
    try {
      const preview = await requestTemplate({
        template: text.trim() ? text : null,
        channel: $("rules-channel").value || null,
      });
      if (preview === undefined) return;
      error.textContent = "";
      $("template-preview").textContent = preview.text;
    } catch (failure) {
      report(failure, error);
    }
  }

  async function saveRules(event) {
    event.preventDefault();
    const form = event.target;
    const error = byTestId(form, "rules-error");
    const saved = byTestId(form, "rules-saved");
    error.textContent = "";
    saved.textContent = "";
    const text = $("rules-template").value;
    try {
      await saveChannelRules($("rules-channel").value, {
        never_hold: $("rules-never-hold").checked,
        autoreply_template: text.trim() ? text : null,
        first_response_minutes: minutesOrNull($("rules-first").value),
        next_response_minutes: minutesOrNull($("rules-next").value),
      });
      showProblems(byTestId(form, "rules-problems"), []);
      saved.textContent = "Saved.";
    } catch (failure) {
      report(failure, error, byTestId(form, "rules-problems"));
    }
  }

  function minutesOrNull(value) {
    return value === "" ? null : Number(value);
  }

  const tags = tagsSection(api, report);

  /* ---------- Canned responses ---------- */

  function bindCanned() {
    $("canned-form").addEventListener("submit", addCanned);
  }

  async function loadCanned() {
    let items;
    try {
      items = await api("GET", "/api/canned-responses");
    } catch (failure) {
      if (failure.status !== 404) throw failure;
      $("canned-unavailable").hidden = false;
      $("canned-form").hidden = true;
      return;
    }
    $("canned-list").replaceChildren(...items.map(cannedCard));
  }

  function cannedCard(item) {
    const card = el("li", "card");
    card.dataset.testid = "canned";
    card.append(el("strong", null, item.title), el("p", "canned-text", item.text));
    const error = el("p", "error");
    error.setAttribute("role", "alert");
    const remove = button("Delete", async () => {
      error.textContent = "";
      try {
        await api("DELETE", `/api/admin/canned-responses/${item.id}`);
        await loadCanned();
      } catch (failure) {
        report(failure, error);
      }
    }, "secondary");
    remove.setAttribute("aria-label", `Delete canned response ${item.title}`);
    card.append(remove, error);
    return card;
  }

  async function addCanned(event) {
    event.preventDefault();
    const form = event.target;
    const error = byTestId(form, "canned-error");
    error.textContent = "";
    try {
      await api("POST", "/api/admin/canned-responses", {
        title: form.elements.title.value,
        text: form.elements.text.value,
      });
      form.reset();
      await loadCanned();
    } catch (failure) {
      report(failure, error);
    }
  }

  /* ---------- Audit log ---------- */

  async function loadAudit() {
    const error = byTestId($("audit"), "audit-error");
    error.textContent = "";
    try {
      const entries = await api("GET", "/api/admin/audit?limit=200");
      $("audit-rows").replaceChildren(...entries.map(auditRow));
    } catch (failure) {
      report(failure, error);
    }
  }

  function auditRow(entry) {
    const row = el("tr");
    row.dataset.testid = "audit-entry";
    const when = el("td");
    const time = el("time", null, formatTime(entry.at));
    time.dateTime = entry.at;
    when.append(time);
    const who = entry.actor_name || (entry.actor_id ? `agent ${entry.actor_id}` : "the hub");
    row.append(
      when,
      el("td", null, who),
      el("td", "action", entry.action),
      el("td", null, `${entry.subject_type} ${entry.subject_id}`),
      el("td", "details", JSON.stringify(entry.details)),
    );
    return row;
  }

  boot();
})();
