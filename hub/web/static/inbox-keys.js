/* Keyboard shortcuts: j/k next/previous conversation, r reply, e resolve, ? help.
 * Ignored while typing in a field, and with Ctrl, Alt or Meta held.
 */

import { $ } from "./inbox-core.js";

const TYPING = new Set(["TEXTAREA", "SELECT"]);
const NOT_TYPING_INPUTS = new Set(["checkbox", "radio", "button", "submit", "reset"]);

/** ``actions``: {next, previous, reply, resolve}, each a function. */
export function bindShortcuts(actions) {
  const keys = { j: actions.next, k: actions.previous, r: actions.reply, e: actions.resolve };
  const help = $("shortcuts");
  $("shortcuts-open").addEventListener("click", () => help.showModal());
  $("shortcuts-close").addEventListener("click", () => help.close());
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (isTyping(event.target) || help.open || $("inbox-view").hidden) return;
    if (event.key === "?") {
      event.preventDefault();
      help.showModal();
      return;
    }
    const action = keys[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });
}

function isTyping(target) {
  if (!target) return false;
  if (target.tagName === "INPUT") return !NOT_TYPING_INPUTS.has(target.type);
  return TYPING.has(target.tagName) || target.isContentEditable;
}
