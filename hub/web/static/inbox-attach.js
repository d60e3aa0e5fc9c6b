/* Files in the reply box and in the conversation.
 *
 * "Attach" opens the file picker; each chosen file is uploaded at once
 * (POST /api/conversations/<id>/uploads, so a refusal shows before the reply is written)
 * and listed with its size and a Remove button. The reply names the uploads
 * (attachment_ids); it waits until every upload has finished. A message's files, inbound
 * or sent, are listed under it with a download link. Names only ever reach the page through
 * textContent.
 */

import { $, api, el } from "./inbox-core.js";

/** The uploads the next reply carries: {id, name, size}. */
let chosen = [];
/** Uploads still under way; once the chosen files are forgotten, they are not taken. */
let pending = 0;
let generation = 0;
let conversationOf = () => null;
let reportError = () => {};

/** Wire the Attach button; ``conversationId()`` is the open conversation. */
export function bindAttach(conversationId, report) {
  conversationOf = conversationId;
  reportError = report;
  $("reply-attach").addEventListener("click", () => $("reply-file").click());
  $("reply-file").addEventListener("change", uploadChosen);
}

async function uploadChosen(event) {
  const input = event.target;
  const files = Array.from(input.files || []);
  input.value = "";
  const conversationId = conversationOf();
  const forChosen = generation;
  $("reply-error").textContent = "";
  pending += 1;
  try {
    for (const file of files) {
      const form = new FormData();
      form.append("file", file, file.name);
      try {
        const uploaded = await api("POST", `/api/conversations/${conversationId}/uploads`, form);
        if (generation !== forChosen) return;
        chosen.push(uploaded);
        renderChosen();
      } catch (error) {
        reportError(error, $("reply-error"));
      }
    }
  } finally {
    pending -= 1;
  }
}

function renderChosen() {
  const list = $("reply-files");
  list.replaceChildren(
    ...chosen.map((file) => {
      const item = el("li", "reply-file");
      item.dataset.testid = "reply-file-item";
      const remove = el("button", "reply-file-remove", "Remove");
      remove.type = "button";
      remove.dataset.testid = "reply-file-remove";
      remove.setAttribute("aria-label", `Remove ${file.name}`);
      remove.addEventListener("click", () => {
        chosen = chosen.filter((other) => other.id !== file.id);
        renderChosen();
      });
      item.append(el("span", "file-name", file.name), el("span", "file-size", size(file.size)));
      item.append(remove);
      return item;
    })
  );
  list.hidden = chosen.length === 0;
}

/** The ids the reply names, in the order chosen; an error while a file is still uploading. */
export function attachmentIds() {
  if (pending > 0) throw new Error("Wait until the files have uploaded, then send.");
  return chosen.map((file) => file.id);
}

/** Forget the chosen files (sent, or another conversation opened), and those still uploading. */
export function clearAttachments() {
  chosen = [];
  generation += 1;
  renderChosen();
}

/** A message's files (``meta.attachments``), each a download link when it was stored. */
export function fileList(message) {
  const list = el("ul", "message-files");
  list.dataset.testid = "message-files";
  message.meta.attachments.forEach((file, position) => {
    const item = el("li", "message-file");
    const label = `${file.name} (${size(file.size)})`;
    if (file.stored) {
      const link = el("a", "file-link", label);
      link.href = `/api/messages/${Number(message.id)}/attachments/${position}`;
      link.download = file.name;
      item.append(link);
    } else {
      item.append(el("span", "file-name", `${label}: over the size limit, not stored`));
    }
    list.append(item);
  });
  return list;
}

function size(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}
