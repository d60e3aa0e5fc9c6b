/* The account page's "How the hub reaches you" section: the agent's notification channel
 * (email, Slack DM, Telegram chat linked with a one-time code), the events they hear of
 * and how much message text a notification may show. See docs/agents.md.
 *
 * The section is built here (account.html only loads this file); every text goes in
 * through textContent or form values.
 */
import { apiClient } from "./api.js";

const PATH = "/api/me/notifications";
const KINDS = [
  ["new_message", "A customer I own writes"],
  ["backup_message", "A customer writes whom I cover as backup"],
  ["due_soon", "A reply is due soon or overdue"],
  ["delivery_failed", "A reply could not be delivered"],
];
const CHANNELS = [
  ["none", "No notifications"],
  ["email", "Email"],
  ["slack", "Slack direct message"],
  ["telegram", "Telegram chat"],
];
const TEXTS = [
  ["none", "No message text"],
  ["first_line", "The first line"],
  ["full", "The full text"],
];
const state = { csrf: null, channels: {} };
const api = apiClient(() => state.csrf);

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function labelled(text, control) {
  return el("label", { className: "field" }, el("span", { textContent: text }), control);
}

function choices(id, options) {
  const select = el("select", { id, name: id });
  select.dataset.testid = id;
  for (const [value, text] of options) select.append(el("option", { value, textContent: text }));
  return select;
}

function buildSection() {
  const form = el("form", { id: "notify-form", noValidate: true });
  // Disabled until the settings (and the session's CSRF token) are loaded.
  const fields = el("fieldset", { id: "notify-fields", className: "plain", disabled: true });
  fields.append(
    labelled("Notify me by", choices("notify-channel", CHANNELS)),
    labelled("Through the hub's channel", choices("notify-via", [])),
    labelled("My address", el("input", { id: "notify-address", type: "text", spellcheck: false })),
    el("button", { id: "notify-link", type: "button", textContent: "Link my Telegram chat" }),
    el("p", { id: "notify-link-help", hidden: true }),
    el("fieldset", {}, el("legend", { textContent: "Tell me when" }), ...kindBoxes()),
    labelled("Text a notification may show", choices("notify-text", TEXTS)),
    labelled("First line up to (characters)", el("input", { id: "notify-chars", type: "number", min: 10, max: 500 })),
    el("button", { id: "notify-save", type: "submit", textContent: "Save" }),
  );
  form.append(
    fields,
    el("p", { id: "notify-saved", className: "saved", role: "status" }),
    el("p", { id: "notify-error", className: "error", role: "alert" }),
  );
  for (const node of form.querySelectorAll("[id]")) node.dataset.testid ||= node.id;
  const section = el("section", { className: "panel", id: "notify-section" });
  section.setAttribute("aria-labelledby", "notify-title");
  section.append(el("h2", { id: "notify-title", textContent: "How the hub reaches you" }), form);
  document.querySelector("main").append(section);
  return form;
}

function kindBoxes() {
  return KINDS.map(([kind, text]) =>
    el("label", { className: "check" }, el("input", { type: "checkbox", name: kind }), text),
  );
}

const $ = (id) => document.getElementById(id);

function showVia(selected) {
  const kind = $("notify-channel").value;
  const names = state.channels[kind] || [];
  $("notify-via").replaceChildren(...names.map((n) => el("option", { value: n, textContent: n })));
  if (names.includes(selected)) $("notify-via").value = selected;
  const telegram = kind === "telegram";
  $("notify-via").closest("label").hidden = kind === "none";
  $("notify-address").closest("label").hidden = kind === "none";
  $("notify-address").readOnly = telegram;
  $("notify-link").hidden = !telegram;
}

function show(settings) {
  state.channels = settings.channels;
  $("notify-channel").value = settings.channel;
  showVia(settings.via);
  $("notify-address").value = settings.address;
  for (const [kind] of KINDS) $("notify-form").elements[kind].checked = settings.kinds[kind];
  $("notify-text").value = settings.text;
  $("notify-chars").value = settings.excerpt_chars;
}

function chosen() {
  const kinds = Object.fromEntries(KINDS.map(([k]) => [k, $("notify-form").elements[k].checked]));
  return {
    channel: $("notify-channel").value,
    via: $("notify-via").value || "",
    address: $("notify-address").value,
    kinds,
    text: $("notify-text").value,
    excerpt_chars: Number($("notify-chars").value),
  };
}

async function attempt(action) {
  $("notify-error").textContent = "";
  $("notify-saved").textContent = "";
  try {
    await action();
  } catch (error) {
    $("notify-error").textContent = error.message || String(error);
  }
}

async function save(event) {
  event.preventDefault();
  await attempt(async () => {
    show(await api("PUT", PATH, chosen()));
    $("notify-saved").textContent = "Saved.";
  });
}

async function requestCode() {
  await attempt(async () => {
    const issued = await api("POST", `${PATH}/telegram-code`);
    const help = $("notify-link-help");
    help.replaceChildren(`Within 10 minutes, send “${issued.send}” to the hub's bot`);
    if (issued.link) {
      const link = el("a", { href: issued.link, target: "_blank", rel: "noopener" });
      link.textContent = "open the chat with the bot";
      link.dataset.testid = "notify-deep-link";
      help.append(" or ", link);
    }
    help.append(". Then reload this page.");
    help.hidden = false;
  });
}

async function boot() {
  const me = await api("GET", "/api/me");
  // Nothing else is open until two-factor is set up: asking would send the page to itself.
  if (me.must_enrol_two_factor) return;
  const form = buildSection();
  $("notify-channel").addEventListener("change", () => showVia());
  $("notify-link").addEventListener("click", requestCode);
  form.addEventListener("submit", save);
  await attempt(async () => {
    state.csrf = me.csrf_token;
    show(await api("GET", PATH));
    $("notify-fields").disabled = false;
  });
}

boot();
