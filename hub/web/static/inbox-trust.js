/* Who the customer is, and how sure we are: each identity with what proved it, and what the
 * customer only claims ("says they are lena@example.org, not verified").
 *
 * A claim never links anything. Admins may merge the claimant into the customer who holds
 * the address (audited); anyone else is told how the visitor can prove it.
 */

import { $, api, el } from "./inbox-core.js";
import { channelIcon } from "./inbox-icons.js";

const PROOFS = {
  channel: "verified by the channel",
  "mail-auth": "mail authenticated",
  workspace: "from the Slack workspace",
  system: "vouched for by the sending system",
  signed: "signed by the website",
  code: "confirmed with a code",
  person: "linked by a person",
};

const REASONS = {
  typed: "typed it in the chat",
  unauthenticated: "mail from it failed authentication",
  code: "confirmed it with a code, but it is another customer's",
};

export function identityLabel(identity) {
  const name = identity.display_name ? ` (${identity.display_name})` : "";
  return `${identity.kind}: ${identity.address}${name}`;
}

export function identityItem(identity) {
  const item = el("li");
  item.dataset.testid = "identity";
  const proof = PROOFS[identity.verified_by];
  const badge = el("span", proof ? "proof" : "proof proof--none", proof || "not verified");
  item.append(channelIcon(identity.last_channel || identity.kind), identityLabel(identity), badge);
  if (identity.opted_out_channel) {
    const stopped = el("span", "opted-out", `opted out of ${identity.opted_out_channel} (STOP)`);
    stopped.dataset.testid = "opted-out";
    item.append(stopped);
  }
  return item;
}

/** The customer's claims; ``merge(holderId)`` folds the claimant into the holder. */
export function renderClaims(claims, { isAdmin, merge }) {
  $("claims-heading").hidden = claims.length === 0;
  $("claims").replaceChildren(...claims.map((claim) => claimItem(claim, isAdmin, merge)));
}

function claimItem(claim, isAdmin, merge) {
  const item = el("li", "claim");
  item.dataset.testid = "claim";
  const why = REASONS[claim.reason] || claim.reason;
  item.append(el("p", "", `Says they are ${claim.address}, not verified (${why}).`));
  if (!claim.holder) {
    item.append(el("p", "hint", "Nobody has this address yet; the visitor can confirm it from the chat."));
    return item;
  }
  item.append(el("p", "hint", `That address belongs to ${claim.holder.name} (#${claim.holder.id}).`));
  if (isAdmin) {
    const button = el("button", "", `Merge into ${claim.holder.name}`);
    button.type = "button";
    button.dataset.testid = "claim-merge";
    button.addEventListener("click", () => confirmMerge(button, claim, merge));
    item.append(button);
  } else {
    item.append(el("p", "hint", "Ask the visitor to confirm it from the chat, or an admin to merge."));
  }
  return item;
}

async function confirmMerge(button, claim, merge) {
  const sure = window.confirm(
    `Merge this customer into ${claim.holder.name}? Their conversations and identities move ` +
      "there. Only do this if you are sure it is the same person; it is recorded in the audit log.",
  );
  if (!sure) return;
  button.disabled = true;
  try {
    await merge(claim.holder.id);
  } finally {
    button.disabled = false;
  }
}

/** Merge ``customerId`` into ``holderId`` (admins; audited by the hub). */
export function mergeInto(holderId, customerId) {
  return api("POST", `/api/admin/customers/${holderId}/merge`, { merge_customer_id: customerId });
}
