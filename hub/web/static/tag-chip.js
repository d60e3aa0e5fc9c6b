/* A tag as a chip: its name (textContent) after a dot of its colour.
 *
 * The hub checks colours when they are stored; the chip checks again before the
 * colour reaches a style property, so nothing but #rrggbb is ever put there.
 */

const COLOUR = /^#[0-9a-fA-F]{6}$/;

export function tagChip(tag) {
  const chip = document.createElement("span");
  chip.className = "tag-chip";
  chip.dataset.testid = "tag-chip";
  chip.dataset.tagId = String(tag.id);
  if (COLOUR.test(tag.colour)) chip.style.setProperty("--tag-colour", tag.colour);
  const name = document.createElement("span");
  name.className = "tag-name";
  name.textContent = tag.name;
  chip.append(name);
  return chip;
}
