/* The agent inbox: one page, no build step, no dependencies.
 *
 * Talks to the hub's JSON API with the HttpOnly session cookie plus the
 * X-CSRF-Token header, and follows /api/events over a WebSocket that resumes
 * with ?after=<last event id> after a drop, so no event is missed.
 * User-supplied text only ever goes into the page through textContent.
 * Times are shown in the agent's browser time zone.
 */
(function () {
  "use strict";

  const CSRF_HEADER = "X-CSRF-Token";
  const LIST_RELOAD_DELAY_MS = 80;
  const RECONNECT_BASE_MS = 500;
  const RECONNECT_MAX_MS = 15000;
  const OVERDUE_CHECK_MS = 30000;
  const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  const WHEN_FORMAT = new Intl.DateTimeFormat(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
  });

  const state = {
    csrf: null,
    me: null,
    view: "open",
    selectedId: null,
    detail: null,
    listSeq: 0,
    listTimer: null,
    detailSeq: 0,
    detailLoading: false,
    replyIdentity: null,
  };

  /** The contact hours disclosure: whose hours it shows, and a guard against stale loads. */
  const hours = { customerId: null, seq: 0, loaded: false };

  const live = {
    socket: null,
    lastId: null,
    needsReload: true,
    attempt: 0,
    timer: null,
    stopped: true,
  };

  const $ = (id) => document.getElementById(id);

  /* ---------- HTTP ---------- */

  class ApiError extends Error {
    constructor(status, message, problems) {
      super(message);
      this.status = status;
      this.problems = problems || [];
    }
  }

  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && state.csrf) headers[CSRF_HEADER] = state.csrf;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (_networkError) {
      throw new ApiError(0, "cannot reach the hub: check your connection");
    }
    const isJson = (response.headers.get("Content-Type") || "").includes("application/json");
    const data = isJson ? await response.json() : null;
    if (!response.ok) {
      const reason = data && data.error ? data.error : `request failed (HTTP ${response.status})`;
      throw new ApiError(response.status, reason, data && data.problems);
    }
    return data;
  }

  /** Show an API error where it belongs; a lost session goes back to the login form. */
  function report(error, element) {
    if (error instanceof ApiError && error.status === 401 && state.me) {
      signedOut("Your session ended: please sign in again.");
      return;
    }
    element.textContent = error.message || String(error);
  }

  /* ---------- Small DOM helpers ---------- */

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function formatTime(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  }

  /** A moment that matters (a release, a due time), with its weekday and zone. */
  function formatWhen(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : WHEN_FORMAT.format(date);
  }

  function isOverdue(iso) {
    return Boolean(iso) && Date.parse(iso) <= Date.now();
  }

  function markOverdue(node, iso) {
    if (isOverdue(iso)) node.dataset.overdue = "true";
    else delete node.dataset.overdue;
  }

  /* ---------- Signing in and out ---------- */

  async function boot() {
    bindEvents();
    try {
      const me = await api("GET", "/api/me");
      state.csrf = me.csrf_token;
      showInbox(me);
    } catch (error) {
      showLogin();
      if (error.status !== 401) $("login-error").textContent = error.message;
    }
  }

  async function login(event) {
    event.preventDefault();
    const email = $("login-email").value.trim();
    const password = $("login-password").value;
    const errorBox = $("login-error");
    if (!email || !password) {
      errorBox.textContent = "Enter your email and password.";
      return;
    }
    errorBox.textContent = "";
    const submit = event.target.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const session = await api("POST", "/api/login", { email, password });
      state.csrf = session.csrf_token;
      $("login-password").value = "";
      showInbox(session.agent);
    } catch (error) {
      errorBox.textContent = error.message;
    } finally {
      submit.disabled = false;
    }
  }

  async function logout() {
    try {
      await api("POST", "/api/logout");
    } catch (error) {
      if (error.status !== 401) {
        $("inbox-error").textContent = error.message;
        return;
      }
    }
    signedOut("");
  }

  function signedOut(message) {
    stopLive();
    state.csrf = null;
    state.me = null;
    clearSelection();
    $("conversation-list").replaceChildren();
    $("held-list").replaceChildren();
    showHoursOf(null);
    showLogin();
    $("login-error").textContent = message;
  }

  function showLogin() {
    $("inbox-view").hidden = true;
    $("login-view").hidden = false;
    $("login-email").focus();
  }

  function showInbox(agent) {
    state.me = agent;
    $("login-view").hidden = true;
    $("inbox-view").hidden = false;
    $("inbox-error").textContent = "";
    $("agent-name").textContent = agent.name;
    $("away-toggle").checked = Boolean(agent.away);
    loadList();
    startLive();
  }

  async function toggleAway(event) {
    const box = event.target;
    try {
      state.me = await api("PATCH", "/api/me/status", { away: box.checked });
      $("inbox-error").textContent = "";
    } catch (error) {
      box.checked = !box.checked;
      report(error, $("inbox-error"));
    }
  }

  /* ---------- The conversation list ---------- */

  function selectView(view) {
    state.view = view;
    for (const tab of document.querySelectorAll(".tab")) {
      tab.setAttribute("aria-pressed", String(tab.dataset.view === view));
    }
    const held = view === "held";
    $("conversation-list").hidden = held;
    $("list-empty").hidden = true;
    $("held-list").hidden = !held;
    $("held-empty").hidden = true;
    loadList();
  }

  function scheduleListReload() {
    clearTimeout(state.listTimer);
    state.listTimer = setTimeout(loadList, LIST_RELOAD_DELAY_MS);
  }

  async function loadList() {
    clearTimeout(state.listTimer);
    const seq = ++state.listSeq;
    const held = state.view === "held";
    const path = held
      ? "/api/held"
      : `/api/conversations?state=${encodeURIComponent(state.view)}`;
    try {
      const items = await api("GET", path);
      if (seq !== state.listSeq || !state.me) return;
      if (held) renderHeld(items);
      else renderList(items);
    } catch (error) {
      if (seq === state.listSeq) report(error, $("inbox-error"));
    }
  }

  function renderList(items) {
    const list = $("conversation-list");
    list.replaceChildren(...items.map(listItem));
    $("list-empty").hidden = items.length > 0;
    const shown = items.find((c) => c.id === state.selectedId);
    if (shown && state.detail && !state.detailLoading && state.detail.id === shown.id) {
      state.detail.reply_due_at = shown.reply_due_at;
      renderReplyDue();
    }
  }

  function listItem(conversation) {
    const item = el("li", "conversation-item");
    item.dataset.testid = "conversation-item";
    item.dataset.conversationId = String(conversation.id);
    item.classList.toggle("is-selected", conversation.id === state.selectedId);
    const button = el("button");
    button.type = "button";
    button.append(el("span", "conv-name", conversation.customer.name));
    const meta = el("span", "conv-meta");
    if (conversation.waiting_for_owner) meta.append(el("span", "waiting", "waiting"));
    if (conversation.state === "open" && conversation.reply_due_at) {
      item.dataset.dueAt = conversation.reply_due_at;
      markOverdue(item, conversation.reply_due_at);
      const due = el("span", "overdue", "overdue");
      due.title = `reply due by ${formatWhen(conversation.reply_due_at)}`;
      meta.append(due);
    }
    if (conversation.unread_count > 0) {
      const badge = el("span", "badge", conversation.unread_count);
      badge.setAttribute("aria-label", `${conversation.unread_count} unread`);
      meta.append(badge);
    }
    button.append(meta);
    button.append(el("span", "conv-channel", conversation.last_channel || ""));
    button.append(el("span", "conv-time", formatTime(conversation.last_message_at)));
    button.addEventListener("click", () => selectConversation(conversation.id));
    item.append(button);
    return item;
  }

  /** The list and header were drawn earlier: what was due then may be overdue now. */
  function refreshOverdue() {
    for (const item of document.querySelectorAll(".conversation-item[data-due-at]")) {
      markOverdue(item, item.dataset.dueAt);
    }
    if (state.detail) renderReplyDue();
  }

  /* ---------- Held messages: they wait for the contact hours ---------- */

  function renderHeld(items) {
    $("held-list").replaceChildren(...items.map(heldItem));
    $("held-empty").hidden = items.length > 0;
  }

  function heldItem(held) {
    const item = el("li", "held-item");
    item.dataset.testid = "held-item";
    item.dataset.messageId = String(held.id);
    item.dataset.conversationId = String(held.conversation_id);
    const button = el("button");
    button.type = "button";
    button.append(el("span", "conv-name", held.customer_name));
    button.append(el("span", "conv-channel", held.channel || ""));
    button.append(el("span", "held-text", held.text));
    const release = el("span", "held-release", "released ");
    const when = el("time", "", formatWhen(held.release_at));
    when.dateTime = held.release_at;
    release.append(when);
    button.append(release);
    button.addEventListener("click", () => selectConversation(held.conversation_id));
    item.append(button);
    return item;
  }

  function markSelectedInList() {
    for (const item of document.querySelectorAll(".conversation-item")) {
      const selected = Number(item.dataset.conversationId) === state.selectedId;
      item.classList.toggle("is-selected", selected);
    }
  }

  /* ---------- One conversation ---------- */

  function selectConversation(id) {
    state.selectedId = id;
    markSelectedInList();
    $("columns").classList.add("show-conversation");
    $("reply-error").textContent = "";
    state.replyIdentity = null;
    loadConversation();
  }

  function clearSelection() {
    state.selectedId = null;
    state.detail = null;
    state.detailSeq++;
    state.detailLoading = false;
    $("conversation-pane").hidden = true;
    $("no-selection").hidden = false;
    $("columns").classList.remove("show-conversation");
    markSelectedInList();
  }

  async function loadConversation() {
    const id = state.selectedId;
    const seq = ++state.detailSeq;
    state.detailLoading = true;
    try {
      const detail = await api("GET", `/api/conversations/${id}`);
      if (seq !== state.detailSeq) return;
      state.detailLoading = false;
      state.detail = detail;
      renderConversation(detail);
      markRead(id);
    } catch (error) {
      if (seq !== state.detailSeq) return;
      clearSelection();
      report(error, $("inbox-error"));
    }
  }

  async function markRead(id) {
    try {
      await api("POST", `/api/conversations/${id}/read`);
      scheduleListReload();
    } catch (error) {
      report(error, $("inbox-error"));
    }
  }

  function renderConversation(detail) {
    $("no-selection").hidden = true;
    $("conversation-pane").hidden = false;
    $("customer-name").textContent = detail.customer.name;
    renderIdentities(detail.identities, detail.default_identity_id);
    renderOtherConversations(detail.other_conversations);
    showHoursOf(detail.customer.id);
    $("messages").replaceChildren(...detail.messages.map(messageItem));
    renderActions();
    scrollToEnd();
  }

  function renderIdentities(identities, defaultId) {
    $("identities").replaceChildren(...identities.map((i) => el("li", "", identityLabel(i))));
    const options = identities.map((identity) => {
      const where = identity.id === defaultId ? " (where they last wrote)" : "";
      return new Option(identityLabel(identity) + where, String(identity.id));
    });
    if (defaultId === null) options.unshift(new Option("Choose where to reply", ""));
    const select = $("reply-identity");
    select.replaceChildren(...options);
    // The agent's own pick for this conversation wins over the hub's default.
    select.value = state.replyIdentity ?? String(defaultId ?? "");
  }

  function identityLabel(identity) {
    const name = identity.display_name ? ` (${identity.display_name})` : "";
    return `${identity.kind}: ${identity.address}${name}`;
  }

  function renderOtherConversations(others) {
    const list = $("other-conversations");
    list.replaceChildren(
      ...others.map((other) => {
        const label = `#${other.id} ${other.state} ${formatTime(other.created_at)}`;
        const button = el("button", "link", label);
        button.type = "button";
        button.addEventListener("click", () => selectConversation(other.id));
        const item = el("li");
        item.append(button);
        return item;
      })
    );
    list.hidden = others.length === 0;
  }

  function renderActions() {
    const resolved = state.detail.state === "resolved";
    $("resolve").hidden = resolved;
    $("reopen").hidden = !resolved;
    renderReplyDue();
  }

  function renderReplyDue() {
    const box = $("reply-due");
    const due = state.detail.state === "open" ? state.detail.reply_due_at : null;
    box.hidden = !due;
    box.textContent = "";
    if (!due) return;
    box.append(`reply due by ${formatWhen(due)}`);
    if (isOverdue(due)) box.append(el("span", "overdue", "overdue"));
    markOverdue(box, due);
  }

  function scrollToEnd() {
    const list = $("messages");
    list.scrollTop = list.scrollHeight;
  }

  const DIRECTION_LABELS = { in: "from customer", out: "reply", note: "internal note" };

  function messageItem(message) {
    const item = el("li", `message ${message.direction}`);
    item.dataset.testid = "message";
    item.dataset.messageId = String(message.id);
    item.dataset.direction = message.direction;
    if (message.direction === "note") item.append(el("span", "note-label", "Internal note"));
    item.append(el("div", "message-text", message.text));
    const meta = el("div", "message-meta");
    if (message.channel) meta.append(el("span", "message-channel", message.channel));
    const direction = DIRECTION_LABELS[message.direction] || message.direction;
    meta.append(el("span", "message-direction", direction));
    const identity = findIdentity(message.identity_id);
    if (identity) meta.append(el("span", "message-identity", identity.address));
    if (message.author_id) {
      meta.append(el("span", "message-author", authorLabel(message)));
    }
    meta.append(el("time", "message-time", formatTime(message.created_at)));
    meta.append(el("span", "message-status"));
    item.append(meta);
    if (message.release_at) item.dataset.releaseAt = message.release_at;
    setStatus(item, message.state, message.error);
    return item;
  }

  function findIdentity(id) {
    if (!id || !state.detail) return null;
    return state.detail.identities.find((identity) => identity.id === id) || null;
  }

  function authorLabel(message) {
    if (state.me && message.author_id === state.me.id) return "by you";
    return `by ${message.author_name || `agent ${message.author_id}`}`;
  }

  function setStatus(item, status, reason) {
    item.dataset.status = status;
    const label = item.querySelector(".message-status");
    const text = statusText(item, status, reason);
    label.hidden = !text;
    label.textContent = text;
    label.className = `message-status status-${status}`;
    showScheduledActions(item, status === "scheduled");
  }

  function statusText(item, status, reason) {
    const when = formatWhen(item.dataset.releaseAt);
    if (item.dataset.direction === "in") return status === "held" ? `held until ${when}` : "";
    if (item.dataset.direction !== "out") return "";
    if (status === "scheduled") return `scheduled for ${when}`;
    return reason ? `${status}: ${reason}` : status;
  }

  /* ---------- Scheduled replies: they wait for the customer's hours ---------- */

  function showScheduledActions(item, scheduled) {
    const actions = item.querySelector(".scheduled-actions");
    if (!scheduled) {
      if (actions) actions.remove();
      const editor = item.querySelector(".scheduled-editor");
      if (editor) editor.remove();
      return;
    }
    if (actions) return;
    const id = Number(item.dataset.messageId);
    const bar = el("div", "scheduled-actions");
    bar.append(
      actionButton("Send now", "scheduled-send-now", (button) =>
        act(button, () => changeScheduled(id, "POST", `/api/messages/${id}/send-now`))
      ),
      actionButton("Edit", "scheduled-edit", () => toggleEditor(id)),
      actionButton("Cancel", "scheduled-cancel", (button) =>
        act(button, () => changeScheduled(id, "POST", `/api/messages/${id}/cancel`))
      )
    );
    item.append(bar);
  }

  function actionButton(label, testid, onClick) {
    const button = el("button", "", label);
    button.type = "button";
    button.dataset.testid = testid;
    button.addEventListener("click", () => onClick(button));
    return button;
  }

  function toggleEditor(id) {
    const item = messageElement(id);
    if (!item) return;
    const open = item.querySelector(".scheduled-editor");
    if (open) {
      open.remove();
      return;
    }
    const editor = el("div", "scheduled-editor");
    const box = el("textarea");
    box.rows = 3;
    box.value = item.querySelector(".message-text").textContent;
    box.dataset.testid = "scheduled-edit-text";
    box.setAttribute("aria-label", "Edit the scheduled reply");
    const save = actionButton("Save", "scheduled-save", (button) =>
      act(button, () => saveScheduled(id, box.value))
    );
    editor.append(box, save);
    item.append(editor);
    box.focus();
  }

  async function saveScheduled(id, draft) {
    const text = draft.trim();
    if (!text) throw new Error("Write something first.");
    await changeScheduled(id, "PATCH", `/api/messages/${id}`, { text });
    const item = messageElement(id);
    const editor = item && item.querySelector(".scheduled-editor");
    if (editor) editor.remove();
  }

  async function changeScheduled(id, method, path, body) {
    const message = await api(method, path, body);
    showChanged(message, true);
  }

  /**
   * Redraw a changed message in place, keeping an open editor while it is still scheduled.
   * An API answer may arrive after the live event that already moved the message on.
   */
  function showChanged(message, isAnswer) {
    const shown = messageElement(message.id);
    if (!shown || (isAnswer && shown.dataset.status !== "scheduled")) return;
    const fresh = messageItem(message);
    const editor = shown.querySelector(".scheduled-editor");
    if (editor && message.state === "scheduled") fresh.append(editor);
    shown.replaceWith(fresh);
  }

  function messageElement(id) {
    return $("messages").querySelector(`[data-message-id="${Number(id)}"]`);
  }

  /**
   * Add a message the view does not show yet, in id order; a shown one is already newer,
   * unless it was held and is now released.
   */
  function addMessage(message) {
    const shown = messageElement(message.id);
    if (shown) {
      if (shown.dataset.status === "held" && message.state !== "held") {
        shown.replaceWith(messageItem(message));
      }
      return;
    }
    const list = $("messages");
    const later = Array.from(list.children).find(
      (item) => Number(item.dataset.messageId) > message.id
    );
    list.insertBefore(messageItem(message), later || null);
    if (!later) scrollToEnd();
  }

  /* ---------- Acting on the conversation ---------- */

  async function act(button, action) {
    if (button.disabled) return;
    const errorBox = $("reply-error");
    errorBox.textContent = "";
    button.disabled = true;
    try {
      await action(state.selectedId);
    } catch (error) {
      report(error, errorBox);
    } finally {
      button.disabled = false;
    }
  }

  function replyText() {
    const text = $("reply-text").value.trim();
    if (!text) throw new Error("Write something first.");
    return text;
  }

  async function sendReply(id) {
    const body = { text: replyText() };
    const identity = $("reply-identity").value;
    if (identity) body.identity_id = Number(identity);
    const message = await api("POST", `/api/conversations/${id}/replies`, body);
    $("reply-text").value = "";
    if (id === state.selectedId) {
      addMessage(message);
      if (state.detail) {
        state.detail.reply_due_at = null;
        renderReplyDue();
      }
    }
    scheduleListReload();
  }

  async function sendNote(id) {
    const message = await api("POST", `/api/conversations/${id}/notes`, { text: replyText() });
    $("reply-text").value = "";
    if (id === state.selectedId) addMessage(message);
  }

  async function changeState(id, verb) {
    const summary = await api("POST", `/api/conversations/${id}/${verb}`);
    if (id === state.selectedId && state.detail) {
      state.detail.state = summary.state;
      renderActions();
    }
    scheduleListReload();
  }

  /* ---------- The customer's contact hours ---------- */

  /** Show a customer's hours: reload them if the disclosure is open, else when it opens. */
  function showHoursOf(customerId) {
    if (customerId === hours.customerId) return;
    hours.customerId = customerId;
    hours.seq++;
    hours.loaded = false;
    $("hours-summary").textContent = "";
    $("hours-json").value = "";
    $("hours-always").checked = false;
    clearHoursErrors();
    if ($("contact-hours").open) loadContactHours();
  }

  function clearHoursErrors() {
    $("hours-error").textContent = "";
    $("hours-problems").replaceChildren();
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
      report(error, $("hours-error"));
    }
  }

  function renderContactHours(agreed) {
    $("hours-summary").textContent = describeHours(agreed);
    $("hours-always").checked = Boolean(agreed.always_reachable);
    $("hours-json").value = JSON.stringify(agreed.hours, null, 2);
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
    let calendar;
    try {
      calendar = JSON.parse($("hours-json").value.trim() || "null");
    } catch (error) {
      throw new Error(`The hours are not valid JSON: ${error.message}`);
    }
    const body = { hours: calendar, always_reachable: $("hours-always").checked };
    const saved = await api("PUT", `/api/customers/${customerId}/contact-hours`, body);
    if (customerId === hours.customerId) {
      hours.seq++;
      renderContactHours(saved);
    }
    scheduleListReload(); // held messages may have new release times
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
      } else {
        report(error, $("hours-error"));
      }
    } finally {
      button.disabled = false;
    }
  }

  /* ---------- Live events ---------- */

  function startLive() {
    live.stopped = false;
    live.needsReload = true;
    live.lastId = null;
    live.attempt = 0;
    connectLive();
  }

  function stopLive() {
    live.stopped = true;
    clearTimeout(live.timer);
    live.timer = null;
    const socket = live.socket;
    live.socket = null;
    if (socket) socket.close();
    setLive(false);
  }

  function setLive(isLive) {
    const badge = $("live-status");
    badge.textContent = isLive ? "live" : "reconnecting";
    badge.classList.toggle("is-live", isLive);
  }

  function connectLive() {
    live.timer = null;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const after = live.lastId === null ? "" : `?after=${live.lastId}`;
    const socket = new WebSocket(`${scheme}//${location.host}/api/events${after}`);
    live.socket = socket;
    socket.addEventListener("message", (event) => {
      if (socket === live.socket) handleFrame(JSON.parse(event.data));
    });
    socket.addEventListener("close", () => {
      if (socket !== live.socket) return;
      live.socket = null;
      setLive(false);
      if (!live.stopped) scheduleReconnect();
    });
  }

  /** Capped exponential backoff with jitter; a good connection resets it. */
  function scheduleReconnect() {
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** live.attempt);
    live.attempt += 1;
    live.timer = setTimeout(reconnect, ceiling / 2 + Math.random() * (ceiling / 2));
  }

  async function reconnect() {
    live.timer = null;
    try {
      await api("GET", "/api/me");
    } catch (error) {
      if (error.status === 401) {
        signedOut("Your session ended: please sign in again.");
      } else if (!live.stopped) {
        scheduleReconnect();
      }
      return;
    }
    if (!live.stopped && !live.socket) connectLive();
  }

  function reconnectNow() {
    if (live.stopped || live.socket || live.timer === null) return;
    clearTimeout(live.timer);
    live.attempt = 0;
    reconnect();
  }

  function handleFrame(frame) {
    if (frame.kind === "ready") {
      live.lastId = Math.max(live.lastId || 0, frame.last_id);
      live.attempt = 0;
      setLive(true);
      $("inbox-error").textContent = "";
      if (live.needsReload) reloadEverything();
      return;
    }
    if (frame.kind === "reset") {
      live.lastId = null;
      live.needsReload = true;
      return;
    }
    if (typeof frame.id !== "number" || (live.lastId !== null && frame.id <= live.lastId)) return;
    live.lastId = frame.id;
    const handler = EVENT_HANDLERS[frame.kind];
    if (handler) handler(frame.data, frame.conversation_id);
  }

  function reloadEverything() {
    live.needsReload = false;
    loadList();
    if (state.selectedId !== null) loadConversation();
  }

  /** While the open conversation is loading, a fresh load already includes the event. */
  function applyToOpen(conversationId, apply) {
    if (conversationId === null || conversationId !== state.selectedId) return;
    if (state.detailLoading || !state.detail) {
      loadConversation();
      return;
    }
    apply();
  }

  const EVENT_HANDLERS = {
    "message.created": (data, conversationId) => {
      applyToOpen(conversationId, () => {
        addMessage(data.message);
        if (data.message.direction === "in") {
          markRead(conversationId);
          // Replies default to where the customer last wrote: this message.
          state.detail.default_identity_id = data.message.identity_id;
          renderIdentities(state.detail.identities, data.message.identity_id);
        }
      });
      scheduleListReload();
    },
    "message.updated": (data, conversationId) => {
      applyToOpen(conversationId, () => showChanged(data.message, false));
    },
    "message.status": (data, conversationId) => {
      applyToOpen(conversationId, () => {
        const item = messageElement(data.message_id);
        if (item) setStatus(item, data.state, data.error);
      });
    },
    "conversation.state": (data, conversationId) => {
      applyToOpen(conversationId, () => {
        state.detail.state = data.state;
        renderActions();
      });
      scheduleListReload();
    },
    "conversation.assigned": (_data, conversationId) => {
      if (conversationId !== null && conversationId === state.selectedId) loadConversation();
      scheduleListReload();
    },
    "conversation.merged": (data) => {
      if (data.conversation_id === state.selectedId) selectConversation(data.into);
      scheduleListReload();
    },
    "agent.updated": (data) => {
      if (state.me && data.id === state.me.id) {
        state.me = data;
        $("away-toggle").checked = Boolean(data.away);
      }
      scheduleListReload();
    },
  };

  /* ---------- Wiring ---------- */

  function bindEvents() {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("away-toggle").addEventListener("change", toggleAway);
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => selectView(tab.dataset.view));
    }
    $("back").addEventListener("click", clearSelection);
    $("reply-identity").addEventListener("change", (event) => {
      state.replyIdentity = event.target.value;
    });
    $("reply-form").addEventListener("submit", (event) => {
      event.preventDefault();
      act($("reply-send"), sendReply);
    });
    $("reply-text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        $("reply-form").requestSubmit($("reply-send"));
      }
    });
    $("note-send").addEventListener("click", (event) => act(event.currentTarget, sendNote));
    $("resolve").addEventListener("click", (event) =>
      act(event.currentTarget, (id) => changeState(id, "resolve"))
    );
    $("reopen").addEventListener("click", (event) =>
      act(event.currentTarget, (id) => changeState(id, "reopen"))
    );
    $("contact-hours").addEventListener("toggle", (event) => {
      if (event.currentTarget.open && !hours.loaded) loadContactHours();
    });
    $("hours-save").addEventListener("click", submitContactHours);
    window.addEventListener("online", reconnectNow);
    setInterval(refreshOverdue, OVERDUE_CHECK_MS);
  }

  boot();
})();
