/* Canned responses: a picker in the reply box that inserts the chosen text at the cursor. */

import { $, api } from "./inbox-core.js";

export async function loadCanned() {
  const responses = await api("GET", "/api/canned-responses");
  const picker = $("canned");
  const placeholder = new Option(
    responses.length ? "Insert a canned response…" : "No canned responses",
    ""
  );
  const options = responses.map((canned) => {
    const option = new Option(canned.title, String(canned.id));
    option.dataset.text = canned.text;
    return option;
  });
  picker.replaceChildren(placeholder, ...options);
  picker.disabled = responses.length === 0;
}

export function bindCanned() {
  $("canned").addEventListener("change", (event) => {
    const chosen = event.target.selectedOptions[0];
    if (chosen && chosen.dataset.text) insertAtCursor($("reply-text"), chosen.dataset.text);
    event.target.value = "";
  });
}

function insertAtCursor(box, text) {
  const start = box.selectionStart ?? box.value.length;
  const end = box.selectionEnd ?? box.value.length;
  box.setRangeText(text, start, end, "end");
  box.focus();
}
