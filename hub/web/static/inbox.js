/* The agent inbox: one page, no build step, no dependencies (ES modules served as they are).
 *
 * This module holds the list, the conversation and the live events. It talks to the
 * hub's JSON API with the HttpOnly session cookie plus the X-CSRF-Token header
 * (inbox-core.js), and follows /api/events over a WebSocket that resumes with
 * ?after=<last event id> after a drop, so no event is missed.
 * User-supplied text only ever goes into the page through textContent.
 * Times are shown in the agent's browser time zone.
 */

import { alertNewMessage, bindAlerts } from "./inbox-alerts.js";
import { attachmentIds, bindAttach, clearAttachments, fileList } from "./inbox-attach.js";
import { htmlBody } from "./inbox-body.js";
import { bindCanned, loadCanned } from "./inbox-canned.js";
import {
  $,
  ApiError,
  actionButton,
  api,
  el,
  formatClock,
  formatTime,
  formatWhen,
  isOverdue,
  markOverdue,
  session,
} from "./inbox-core.js";
import { channelIcon, channelKind, loadChannelKinds } from "./inbox-icons.js";
import { hitItems, searchPath } from "./inbox-search.js";
import { bindShortcuts } from "./inbox-keys.js";
import { initPanel, refreshPanel, showCustomer } from "./inbox-panel.js";
import { eventReceipt, receiptOf, renderStatus, showSentInstead } from "./inbox-receipts.js";
import { showReaction } from "./inbox-reactions.js";
import { renderSatisfaction } from "./inbox-satisfaction.js";
import { bindSignIn, forgetNextPage, showPasswordStep } from "./inbox-signin.js";
import { bindSmsCount } from "./inbox-sms.js";
import {
  WINDOWED_KINDS,
  clearChoice,
  sendNowChoice,
  showReplyNotice,
  showWindow,
} from "./inbox-window.js";
import { bindTagFilter, chosenTag, listTags, loadTags, renderTagEditor } from "./inbox-tags.js";
import { identityItem, identityLabel, mergeInto, renderClaims } from "./inbox-trust.js";

const LIST_RELOAD_DELAY_MS = 80;
const SEARCH_DELAY_MS = 250;
const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 15000;
const OVERDUE_CHECK_MS = 30000;
/** The hub closes the live socket with this code once the session behind it ends. */
const CLOSE_SESSION_ENDED = 4401;

/** Views listing messages that wait (held for contact hours, replies for the customer's). */
const WAITING_VIEWS = {
  held: { path: "/api/held", testid: "held-item", empty: "held-empty", label: "held until" },
  scheduled: {
    path: "/api/scheduled",
    testid: "scheduled-item",
    empty: "scheduled-empty",
    label: "sends",
  },
};

const state = {
  me: null,
  view: "open",
  search: "",
  searchTimer: null,
  selectedId: null,
  detail: null,
  listSeq: 0,
  listTimer: null,
  detailSeq: 0,
  detailLoading: false,
  replyIdentity: null,
};

const live = {
  socket: null,
  lastId: null,
  needsReload: true,
  attempt: 0,
  timer: null,
  stopped: true,
};

/** Show an API error where it belongs; a lost session goes back to the login form. */
function report(error, element) {
  if (error instanceof ApiError && error.status === 401 && state.me) {
    signedOut("Your session ended: please sign in again.");
    return;
  }
  element.textContent = error.message || String(error);
}

/* ---------- Signing in and out ---------- */

async function boot() {
  bindEvents();
  try {
    const me = await api("GET", "/api/me");
    if (me.must_enrol_two_factor) {
      window.location.assign("/account");
      return;
    }
    session.csrf = me.csrf_token;
    showInbox(me);
  } catch (error) {
    showLogin();
    if (error.status !== 401) $("login-error").textContent = error.message;
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
  session.csrf = null;
  state.me = null;
  clearSelection();
  $("conversation-list").replaceChildren();
  $("waiting-list").replaceChildren();
  showCustomer(null);
  showLogin();
  $("login-error").textContent = message;
}

function showLogin() {
  $("inbox-view").hidden = true;
  $("login-view").hidden = false;
  showPasswordStep();
}

function showInbox(agent) {
  state.me = agent;
  $("login-view").hidden = true;
  $("inbox-view").hidden = false;
  $("inbox-error").textContent = "";
  $("agent-name").textContent = agent.name;
  $("admin-link").hidden = agent.role !== "admin";
  forgetNextPage();
  $("away-toggle").checked = Boolean(agent.away);
  loadList();
  startLive();
  loadReferenceData();
}

/** Channel kinds (for icons), canned responses and tags: they change rarely, loaded at sign-in. */
async function loadReferenceData() {
  try {
    await Promise.all([loadChannelKinds(), loadCanned(), loadTags()]);
    if (state.detail) renderTags();
    if (state.me) scheduleListReload(); // redraw the icons with their kinds
  } catch (error) {
    report(error, $("inbox-error"));
  }
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
    tab.setAttribute("aria-pressed", String(tab.dataset.view === view && !state.search));
  }
  loadList();
}

function searchChanged() {
  clearTimeout(state.searchTimer);
  state.searchTimer = setTimeout(() => {
    state.search = $("search").value.trim();
    selectView(state.view);
  }, SEARCH_DELAY_MS);
}

function scheduleListReload() {
  clearTimeout(state.listTimer);
  state.listTimer = setTimeout(loadList, LIST_RELOAD_DELAY_MS);
}

/** What the list shows now: search hits (every channel and state), a waiting view, or
 * conversations; conversations (found or listed) only with the chosen tag, if one is. */
function listSource() {
  const tag = chosenTag() ? `&tag=${encodeURIComponent(chosenTag())}` : "";
  if (state.search) return { path: searchPath(state.search) + tag, waiting: null, search: true };
  const waiting = WAITING_VIEWS[state.view] || null;
  if (waiting) return { path: waiting.path, waiting };
  const path = `/api/conversations?state=${encodeURIComponent(state.view)}${tag}`;
  return { path, waiting: null };
}

async function loadList() {
  clearTimeout(state.listTimer);
  const seq = ++state.listSeq;
  const source = listSource();
  try {
    const items = await api("GET", source.path);
    if (seq !== state.listSeq || !state.me) return;
    showListKind(source.waiting);
    if (source.search) renderHits(items);
    else if (source.waiting) renderWaiting(items, source.waiting);
    else renderList(items);
  } catch (error) {
    if (seq === state.listSeq) report(error, $("inbox-error"));
  }
}

function showListKind(waiting) {
  $("conversation-list").hidden = Boolean(waiting);
  $("waiting-list").hidden = !waiting;
  $("list-empty").hidden = true;
  for (const view of Object.values(WAITING_VIEWS)) $(view.empty).hidden = true;
  $("search-status").textContent = state.search
    ? `Matches for “${state.search}” across every channel and state`
    : "";
}

function renderHits(answer) {
  const items = hitItems(answer, state.selectedId, selectConversation);
  $("conversation-list").replaceChildren(...items);
  $("list-empty").hidden = items.length > 0;
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
  const name = el("span", "conv-name");
  name.append(channelIcon(conversation.last_channel), el("span", "", conversation.customer.name));
  button.append(name, listMarkers(item, conversation));
  button.append(previewLine(conversation.last_message));
  if (conversation.tags.length) button.append(listTags(conversation.tags));
  button.append(el("span", "conv-time", formatTime(conversation.last_message_at)));
  button.addEventListener("click", () => selectConversation(conversation.id));
  item.append(button);
  return item;
}

/** Waiting for an owner, due (soon) or overdue, held messages, unread messages. */
function listMarkers(item, conversation) {
  const meta = el("span", "conv-meta");
  if (conversation.waiting_for_owner) meta.append(el("span", "waiting", "waiting"));
  if (conversation.state === "open" && conversation.reply_due_at) {
    item.dataset.dueAt = conversation.reply_due_at;
    markOverdue(item, conversation.reply_due_at);
    markEscalation(item, conversation.escalation);
    const title = `reply due by ${formatWhen(conversation.reply_due_at)}`;
    const due = el("span", "due", `due ${formatClock(conversation.reply_due_at, undefined, true)}`);
    const soon = el("span", "due-soon", "due soon");
    soon.dataset.testid = "due-soon-marker";
    const overdue = el("span", "overdue", "overdue");
    overdue.dataset.testid = "overdue-marker";
    due.title = soon.title = overdue.title = title;
    meta.append(due, soon, overdue);
  }
  if (conversation.held_count > 0) {
    const held = el("span", "held-count", `${conversation.held_count} held`);
    held.dataset.testid = "held-count";
    held.title = "messages waiting for the contact hours";
    meta.append(held);
  }
  if (conversation.unread_count > 0) {
    const badge = el("span", "badge", conversation.unread_count);
    badge.setAttribute("aria-label", `${conversation.unread_count} unread`);
    meta.append(badge);
  }
  return meta;
}

function previewLine(last) {
  const preview = el("span", "conv-preview");
  preview.dataset.testid = "conversation-preview";
  if (!last) return preview;
  if (last.direction === "out") {
    const who = last.author_id === null ? "Auto-reply: " : "You: ";
    preview.append(el("span", "preview-who", who));
  }
  preview.append(last.text);
  return preview;
}

/** The hub's escalation marker ("due_soon", "overdue" or null); overdue also by our clock. */
function markEscalation(item, escalation) {
  if (escalation) item.dataset.escalation = escalation;
  else delete item.dataset.escalation;
  if (escalation === "overdue") item.dataset.overdue = "true";
}

/** The hub told its handler (due soon) or the backup and admins (overdue): mark the row now. */
function escalated(data, conversationId) {
  const item = document.querySelector(
    `.conversation-item[data-conversation-id="${Number(conversationId)}"]`
  );
  if (item) markEscalation(item, data.escalation);
  scheduleListReload(); // it may enter or leave the Due soon and Overdue views
}

/** The list and header were drawn earlier: what was due then may be overdue now. */
function refreshOverdue() {
  for (const item of document.querySelectorAll(".conversation-item[data-due-at]")) {
    markOverdue(item, item.dataset.dueAt);
  }
  if (state.detail) renderReplyDue();
}

/* ---------- Waiting messages: held ones and scheduled replies ---------- */

function renderWaiting(items, view) {
  $("waiting-list").replaceChildren(...items.map((message) => waitingItem(message, view)));
  $(view.empty).hidden = items.length > 0;
}

function waitingItem(message, view) {
  const item = el("li", "waiting-item");
  item.dataset.testid = view.testid;
  item.dataset.messageId = String(message.id);
  item.dataset.conversationId = String(message.conversation_id);
  const button = el("button");
  button.type = "button";
  const name = el("span", "conv-name");
  name.append(channelIcon(message.channel), el("span", "", message.customer_name));
  button.append(name, el("span", "conv-channel", message.channel || ""));
  button.append(el("span", "waiting-text", message.text));
  const release = el("span", "waiting-release", `${view.label} `);
  const when = el("time", "", formatWhen(message.release_at));
  when.dateTime = message.release_at;
  release.append(when);
  button.append(release);
  button.addEventListener("click", () => selectConversation(message.conversation_id));
  item.append(button);
  return item;
}

function markSelectedInList() {
  for (const item of document.querySelectorAll(".conversation-item, .waiting-item")) {
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
  clearAttachments();
  clearChoice();
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
  $("panel-name").textContent = detail.customer.name;
  renderIdentities(detail.identities, detail.default_identity_id);
  renderClaims(detail.claims, { isAdmin: state.me?.role === "admin", merge: mergeCustomer });
  renderOtherConversations(detail.other_conversations);
  showCustomer(detail.customer.id);
  renderSatisfaction(detail.satisfaction);
  $("messages").replaceChildren(...detail.messages.map(messageItem));
  renderTags();
  renderActions();
  scrollToEnd();
}

function renderTags() {
  renderTagEditor(
    state.detail,
    (tags) => {
      state.detail.tags = tags;
      renderTags();
      scheduleListReload();
    },
    (error) => report(error, $("reply-error"))
  );
}

/** An admin renamed, recoloured or deleted a tag: the menu, the header and the list follow. */
async function tagListChanged(data) {
  if (state.detail) {
    const others = state.detail.tags.filter((tag) => tag.id !== data.tag.id);
    const carried = others.length < state.detail.tags.length;
    state.detail.tags = carried && !data.deleted ? [...others, data.tag] : others;
  }
  try {
    await loadTags();
  } catch (error) {
    report(error, $("inbox-error"));
  }
  if (state.detail) renderTags();
  scheduleListReload();
}

function renderIdentities(identities, defaultId) {
  $("identities").replaceChildren(...identities.map(identityItem));
  const agreed = state.detail.agreed_channel;
  const options = identities.map((identity) => {
    const why = agreed && identity.kind === agreed ? " (agreed)" : " (where they last wrote)";
    const where = identity.id === defaultId ? why : "";
    return new Option(identityLabel(identity) + where, String(identity.id));
  });
  if (defaultId === null) options.unshift(new Option("Choose where to reply", ""));
  const select = $("reply-identity");
  select.replaceChildren(...options);
  // The agent's own pick for this conversation wins over the hub's default.
  select.value = state.replyIdentity ?? String(defaultId ?? "");
  refreshSmsCount();
}

async function mergeCustomer(holderId) {
  try {
    const kept = await mergeInto(holderId, state.detail.customer.id);
    selectConversation(kept.open_conversation_id ?? state.selectedId);
    scheduleListReload();
  } catch (error) {
    report(error, $("inbox-error"));
  }
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
  $("no-earlier").hidden = others.length > 0;
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
  // Sent by the hub itself (an auto-reply outside the owner's hours), not by an agent.
  if (message.automatic) item.append(markLabel("Automatic reply", "automatic-label"));
  if (message.meta?.outside_hours) {
    // The agent chose to send it before their hours opened (the WhatsApp window closes first).
    item.append(markLabel("Sent outside their contact hours, by choice", "outside-hours-label"));
  }
  if (message.meta && message.meta.auth_failure) item.append(authWarning(message.meta));
  if (message.meta && message.meta.reused_id) item.append(reusedIdNote());
  item.append(messageContent(message));
  if (message.meta?.attachments?.length) item.append(fileList(message));
  const meta = el("div", "message-meta");
  if (message.channel) {
    meta.append(channelIcon(message.channel), el("span", "message-channel", message.channel));
  }
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
  showSentInstead(item, message.meta?.sent_instead);
  if (message.release_at) item.dataset.releaseAt = message.release_at;
  setStatus(item, message.state, receiptOf(message.meta), message.error);
  showReaction(item, message.meta?.reaction);
  return item;
}

/** A line under a message saying how it left (automatic, outside the customer's hours). */
function markLabel(text, testid) {
  const label = el("span", "automatic-label", text);
  label.dataset.testid = testid;
  return label;
}

/** Mail that came with the Message-ID of an earlier, different mail: kept, as its own message. */
function reusedIdNote() {
  const text = "Came with the Message-ID of an earlier, different mail: kept as a message of its own";
  const note = el("p", "reused-id-note", text);
  note.dataset.testid = "reused-id-note";
  return note;
}

/** Mail whose From failed authentication: stored, but kept apart from that address's customer. */
function authWarning(meta) {
  const whose = meta.from ? `${meta.from}'s` : "its From address's";
  const text = `Sender not verified (${meta.auth_failure}): this mail is kept apart from ${whose} customer`;
  const warning = el("p", "auth-warning", text);
  warning.dataset.testid = "auth-warning";
  return warning;
}

/** The text; for an HTML body (email), the sanitized HTML with the text under a disclosure. */
function messageContent(message) {
  const text = el("div", "message-text", message.text);
  if (!message.html) return text;
  const content = el("div", "message-content");
  const plain = el("details", "message-plain");
  plain.append(el("summary", "", "Plain text"), text);
  content.append(htmlBody(message), plain);
  return content;
}

function findIdentity(id) {
  if (!id || !state.detail) return null;
  return state.detail.identities.find((identity) => identity.id === id) || null;
}

function authorLabel(message) {
  if (state.me && message.author_id === state.me.id) return "by you";
  return `by ${message.author_name || `agent ${message.author_id}`}`;
}

/** Shows the SMS count for the reply box again (set once the events are bound). */
let refreshSmsCount = () => {};

function setStatus(item, status, receipt, reason) {
  renderStatus(item, status, receipt, reason);
  showScheduledActions(item, status === "scheduled");
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

function replyText(withFiles = false) {
  const text = $("reply-text").value.trim();
  if (!text && !withFiles) throw new Error("Write something first.");
  return text;
}

async function sendReply(id) {
  const files = attachmentIds();
  const body = { text: replyText(files.length > 0) };
  if (files.length) body.attachment_ids = files;
  const identity = $("reply-identity").value;
  if (identity) body.identity_id = Number(identity);
  if (sendNowChoice()) body.send_now = true;
  const message = await api("POST", `/api/conversations/${id}/replies`, body);
  $("reply-text").value = "";
  clearAttachments();
  clearChoice();
  refreshSmsCount();
  if (message.window_notice) showReplyNotice(message.window_notice);
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
  if (attachmentIds().length) throw new Error("Files go with replies, not notes: send a reply.");
  const message = await api("POST", `/api/conversations/${id}/notes`, { text: replyText() });
  $("reply-text").value = "";
  refreshSmsCount();
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
    if (socket !== live.socket) return;
    const frame = JSON.parse(event.data);
    // Events come in arrays (as many as were waiting), "ready" and "reset" alone.
    for (const item of Array.isArray(frame) ? frame : [frame]) {
      if (socket === live.socket) handleFrame(item);
    }
  });
  socket.addEventListener("close", (event) => {
    if (socket !== live.socket) return;
    live.socket = null;
    setLive(false);
    if (event.code === CLOSE_SESSION_ENDED) {
      signedOut("Your session ended: please sign in again.");
    } else if (!live.stopped) {
      scheduleReconnect();
    }
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

/** In a view of waiting messages, any change to a message may move it in or out. */
function reloadWaitingView() {
  if (WAITING_VIEWS[state.view] && !state.search) scheduleListReload();
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

/** Whether a customer's message on ``channel`` opens a window replies depend on (WhatsApp). */
function opensAWindow(channel) {
  return WINDOWED_KINDS.has(channelKind(channel));
}

const EVENT_HANDLERS = {
  "message.created": (data, conversationId) => {
    alertNewMessage(data, state.me);
    applyToOpen(conversationId, () => {
      if (data.message.direction === "in" && opensAWindow(data.message.channel)) {
        loadConversation(); // the hub says until when the window of that number is open now
        return;
      }
      addMessage(data.message);
      if (data.message.direction === "in") {
        markRead(conversationId);
        // Replies default to where the customer last wrote (this message), unless agreed.
        if (!state.detail.agreed_channel) {
          state.detail.default_identity_id = data.message.identity_id;
          renderIdentities(state.detail.identities, data.message.identity_id);
        }
      }
    });
    scheduleListReload();
  },
  "message.updated": (data, conversationId) => {
    applyToOpen(conversationId, () => showChanged(data.message, false));
    reloadWaitingView();
  },
  "message.status": (data, conversationId) => {
    applyToOpen(conversationId, () => {
      const item = messageElement(data.message_id);
      if (!item) return;
      setStatus(item, data.state, eventReceipt(item, data), data.error);
      showSentInstead(item, data.sent_instead);
    });
    scheduleListReload(); // the preview shows the last message's state
  },
  "message.reaction": (data, conversationId) => {
    applyToOpen(conversationId, () => {
      const item = messageElement(data.message_id);
      if (item) showReaction(item, data.reaction);
    });
  },
  "conversation.state": (data, conversationId) => {
    applyToOpen(conversationId, () => {
      state.detail.state = data.state;
      renderActions();
    });
    scheduleListReload();
  },
  "conversation.satisfaction": (data, conversationId) => {
    applyToOpen(conversationId, () => {
      state.detail.satisfaction = data.satisfaction;
      renderSatisfaction(data.satisfaction);
    });
  },
  "conversation.assigned": (_data, conversationId) => {
    if (conversationId !== null && conversationId === state.selectedId) loadConversation();
    scheduleListReload();
    refreshPanel(); // the owner may have changed
  },
  "conversation.tags": (data, conversationId) => {
    applyToOpen(conversationId, () => {
      state.detail.tags = data.tags;
      renderTags();
    });
    scheduleListReload();
  },
  "tags.changed": tagListChanged,
  "conversation.due_soon": escalated,
  "conversation.overdue": escalated,
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

/* ---------- Keyboard ---------- */

/** Open the next (+1) or previous (-1) conversation of the list on screen. */
function stepConversation(step) {
  const list = $("conversation-list").hidden ? $("waiting-list") : $("conversation-list");
  const items = Array.from(list.children);
  if (!items.length) return;
  const current = items.findIndex((item) => item.classList.contains("is-selected"));
  const index = current < 0 ? (step > 0 ? 0 : items.length - 1) : current + step;
  const target = items[Math.max(0, Math.min(items.length - 1, index))];
  target.querySelector("button").focus();
  const id = Number(target.dataset.conversationId);
  if (id !== state.selectedId) selectConversation(id);
}

function focusReply() {
  if (!$("conversation-pane").hidden) $("reply-text").focus();
}

function resolveShortcut() {
  if (state.detail && state.detail.state === "open") $("resolve").click();
}

/* ---------- Wiring ---------- */

function bindEvents() {
  bindSignIn(showInbox);
  $("logout").addEventListener("click", logout);
  $("away-toggle").addEventListener("change", toggleAway);
  bindAlerts($("desktop-alerts"), $("desktop-alerts-status"));
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
  $("search").addEventListener("input", searchChanged);
  $("search-form").addEventListener("submit", (event) => event.preventDefault());
  bindCanned();
  bindAttach(() => state.selectedId, report);
  const replyChannel = () => findIdentity(Number($("reply-identity").value))?.last_channel;
  const smsCount = bindSmsCount(replyChannel);
  refreshSmsCount = () => {
    smsCount();
    showWindow(Number($("reply-identity").value), replyChannel(), state.detail?.service_windows);
  };
  $("reply-identity").addEventListener("change", refreshSmsCount);
  bindTagFilter(() => selectView(state.view));
  initPanel({
    report,
    onHoursSaved: () => {
      scheduleListReload();
      loadConversation(); // when their hours open decides whether a reply must choose
    },
    onAgreed: loadConversation,
  });
  bindShortcuts({
    next: () => stepConversation(1),
    previous: () => stepConversation(-1),
    reply: focusReply,
    resolve: resolveShortcut,
  });
  window.addEventListener("online", reconnectNow);
  setInterval(refreshOverdue, OVERDUE_CHECK_MS);
}

boot();
