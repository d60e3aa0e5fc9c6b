/* A customer's data on request, in the admin console's customer cards: "Export data"
 * downloads the zip the hub builds (everything stored about them); "Delete customer"
 * erases them once the admin has typed the customer's name, as the hub also demands.
 * Names only ever enter the page through textContent.
 */
import { button, el, input, labelled } from "./calendar-editor.js";

/** The privacy controls for ``customer``; ``onDeleted(message)`` runs after an erasure. */
export function privacyActions(customer, api, report, onDeleted) {
  const path = `/api/admin/customers/${customer.id}`;
  const box = el("div", "privacy actions");
  const exportLink = el("a", "button-link", "Export data");
  exportLink.href = `${path}/export`;
  exportLink.download = `customer-${customer.id}.zip`;
  exportLink.dataset.testid = "customer-export";
  const open = button("Delete customer…", () => {
    confirmForm.hidden = !confirmForm.hidden;
    if (!confirmForm.hidden) typed.focus();
  }, "danger");
  open.dataset.testid = "customer-delete";
  box.append(exportLink, open);

  const confirmForm = el("form", "confirm-delete");
  confirmForm.hidden = true;
  const typed = input("text");
  typed.autocomplete = "off";
  typed.dataset.testid = "customer-delete-confirm";
  const erase = el("button", "danger", "Delete for good");
  erase.type = "submit";
  erase.disabled = true;
  erase.dataset.testid = "customer-delete-submit";
  const error = el("p", "error");
  error.setAttribute("role", "alert");
  const warning = el(
    "p",
    "hint",
    `Deletes ${customer.name}, their addresses, conversations, notes and files. ` +
      "This cannot be undone; the audit log keeps only who deleted whom and when.",
  );
  typed.addEventListener("input", () => {
    erase.disabled = typed.value.trim() !== customer.name;
  });
  confirmForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const erased = await api("DELETE", path, { confirm: typed.value.trim() });
      const gone = erased.deleted;
      const counted = [
        counting(gone.conversations, "conversation"),
        counting(gone.messages, "message"),
        counting(gone.attachments, "file"),
        counting(gone.identities, "address", "addresses"),
      ];
      await onDeleted(`Deleted customer #${erased.customer_id}: ${counted.join(", ")}.`);
    } catch (failure) {
      report(failure, error);
    }
  });
  confirmForm.append(warning, labelled("Type the customer's name to confirm", typed), erase, error);
  const wrapper = el("div", "privacy-box");
  wrapper.append(box, confirmForm);
  return wrapper;
}

function counting(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}
