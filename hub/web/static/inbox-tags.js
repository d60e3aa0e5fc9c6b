/* Tags in the inbox: chips on conversations, the header's editor (a menu of the admins'
 * tags to add, a remove button on each chip) and the tag filter over the list.
 *
 * Agents only choose from the admins' list (GET /api/tags); the console keeps it.
 */

import { $, api, el } from "./inbox-core.js";
import { tagChip } from "./tag-chip.js";

const known = { tags: [] };

/** The admins' list, for the editor's menu and the filter. */
export async function loadTags() {
  known.tags = await api("GET", "/api/tags");
  renderFilter();
}

/** A row of chips for a conversation in the list (nothing when it has no tags). */
export function listTags(tags) {
  const row = el("span", "conv-tags");
  row.append(...tags.map(tagChip));
  return row;
}

/** The filter's tag id ("" for every tag), for ?tag= on the list. */
export function chosenTag() {
  return $("tag-filter").value;
}

export function bindTagFilter(onChange) {
  $("tag-filter").addEventListener("change", onChange);
}

function renderFilter() {
  const filter = $("tag-filter");
  const chosen = filter.value;
  const options = known.tags.map((tag) => new Option(tag.name, String(tag.id)));
  filter.replaceChildren(new Option("Every tag", ""), ...options);
  filter.value = known.tags.some((tag) => String(tag.id) === chosen) ? chosen : "";
  filter.disabled = known.tags.length === 0;
}

/**
 * The header's tags for ``detail`` (a conversation): chips with a remove button and a menu
 * of the tags it does not carry. ``changed(tags)`` gets the conversation's tags after an edit.
 */
export function renderTagEditor(detail, changed, failed) {
  const path = (tag) => `/api/conversations/${detail.id}/tags/${tag.id}`;
  const edit = async (method, tag) => {
    try {
      changed(await api(method, path(tag)));
    } catch (error) {
      failed(error);
    }
  };
  $("conversation-tags").replaceChildren(
    ...detail.tags.map((tag) => removableChip(tag, () => edit("DELETE", tag)))
  );
  const carried = new Set(detail.tags.map((tag) => tag.id));
  const free = known.tags.filter((tag) => !carried.has(tag.id));
  const menu = $("tag-add");
  const label = known.tags.length ? "Add tag…" : "No tags yet";
  menu.replaceChildren(new Option(free.length ? label : "All tags added", ""));
  menu.append(...free.map((tag) => new Option(tag.name, String(tag.id))));
  menu.disabled = free.length === 0;
  menu.onchange = () => {
    const tag = free.find((candidate) => String(candidate.id) === menu.value);
    menu.value = "";
    if (tag) edit("PUT", tag);
  };
}

function removableChip(tag, remove) {
  const chip = tagChip(tag);
  const button = el("button", "tag-remove", "×");
  button.type = "button";
  button.dataset.testid = "tag-remove";
  button.setAttribute("aria-label", `Remove tag ${tag.name}`);
  button.addEventListener("click", remove);
  chip.append(button);
  return chip;
}
