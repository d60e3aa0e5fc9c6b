/* The console's Tags section: the list agents choose from, each tag renamed, recoloured
 * or deleted in place (deleting takes it off every conversation, after a confirmation).
 *
 * Names go into the page through textContent; colours come from <input type="color">
 * and the hub checks them again (#rrggbb) before they are stored.
 */
import { button, el, input, labelled } from "./calendar-editor.js";
import { tagChip } from "./tag-chip.js";

const TAGS = "/api/admin/tags";

/** ``api`` and ``report(error, element)`` are the console's. */
export function tagsSection(api, report) {
  const $ = (id) => document.getElementById(id);

  async function load() {
    const tags = await api("GET", TAGS);
    $("tag-list").replaceChildren(...tags.map(tagCard));
  }

  function tagCard(tag) {
    const card = el("li", "card tag-card");
    card.dataset.testid = "tag";
    card.dataset.tagId = String(tag.id);
    const name = input("text", tag.name);
    name.maxLength = 40;
    name.dataset.testid = "tag-name";
    const colour = input("color", tag.colour);
    colour.dataset.testid = "tag-colour";
    const error = el("p", "error");
    error.setAttribute("role", "alert");
    error.dataset.testid = "tag-error";
    const run = async (method, path, body) => {
      error.textContent = "";
      try {
        await api(method, path, body);
        await load();
      } catch (failure) {
        report(failure, error);
      }
    };
    const save = button("Save", () =>
      run("PATCH", `${TAGS}/${tag.id}`, { name: name.value, colour: colour.value }),
    );
    save.dataset.testid = "tag-save";
    const remove = button(
      "Delete",
      () => {
        const question = `Delete the tag ${tag.name}? It comes off every conversation carrying it.`;
        if (window.confirm(question)) run("DELETE", `${TAGS}/${tag.id}`);
      },
      "secondary",
    );
    remove.dataset.testid = "tag-delete";
    remove.setAttribute("aria-label", `Delete tag ${tag.name}`);
    card.append(
      tagChip(tag),
      labelled("Name", name),
      labelled("Colour", colour),
      save,
      remove,
      error,
    );
    return card;
  }

  async function add(event) {
    event.preventDefault();
    const form = event.target;
    const error = form.querySelector('[data-testid="tag-add-error"]');
    error.textContent = "";
    try {
      await api("POST", TAGS, { name: form.elements.name.value, colour: form.elements.colour.value });
      form.reset();
      await load();
    } catch (failure) {
      report(failure, error);
    }
  }

  function bind() {
    const form = $("tag-form");
    form.addEventListener("submit", add);
    // What went wrong with the last name stops applying once the name changes.
    form.elements.name.addEventListener("input", () => {
      form.querySelector('[data-testid="tag-add-error"]').textContent = "";
    });
  }

  return { bind, load };
}
