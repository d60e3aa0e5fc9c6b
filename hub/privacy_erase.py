"""Erasing a customer (the GDPR right to erasure): every row about them, in one transaction.

What stays is the audit trail, without content: a ``customer.deleted`` entry with who,
when, the customer's id and counts, and earlier entries about the customer with the
personal data (addresses, a merged customer's record) taken out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update

from hub.assignment import record_audit
from hub.db.database import Tx
from hub.db.schema import (
    agent_notices,
    attachments,
    audit_log,
    contact_hours,
    conversation_tags,
    conversations,
    customers,
    events,
    identities,
    identity_claims,
    messages,
    notice_batches,
    outbox,
    satisfaction_surveys,
    verification_codes,
)
from hub.errors import BadRequest, Conflict, NotFound
from hub.events import CHANNEL_BROADCAST
from hub.report_store import forget_counts

EXPORTED = {
    "customers": "customer.json: the customer, owner and backup named",
    "identities": "customer.json: each identity with its proof",
    "identity_claims": "customer.json: the customer's claims",
    "contact_hours": "customer.json: the customer's own hours (scope customer)",
    "conversations": "conversations.json",
    "messages": "conversations.json: messages, notes and scheduled replies",
    "outbox": "conversations.json: each reply's delivery",
    "attachments": "conversations.json lists them, attachments/ holds the files",
    "conversation_tags": "conversations.json: each conversation's tags, by name",
    "satisfaction_surveys": "conversations.json: the satisfaction question and the answer",
}
"""Tables whose rows about the customer the export holds (``hub/privacy_export.py``)."""

NOT_EXPORTED = {
    "agent_notices": "an agent's queue of excerpts of messages the export holds whole",
    "events": "copies of messages and states sent to live inboxes",
    "verification_codes": "keyed hashes of one-time codes: nothing readable",
    "audit_log": "the team's record of who did what; erasure scrubs its personal data",
    "notice_batches": "notifications to agents; erasure replaces the lines naming the customer",
    "quarantine": "input no channel could read, so never tied to any customer",
    "waits": "the reports' timing of each wait: when, how long, who answered; no content",
    "conversation_answers": "the reports' record of who answered a conversation",
}
"""Tables that hold (or may hold) something about a customer, left out of the export, and why."""

ERASED = set(EXPORTED) | {
    "agent_notices",
    "events",
    "verification_codes",
    "waits",
    "conversation_answers",
}
"""Tables erasure deletes the customer's rows from; ``audit_log`` is scrubbed instead."""

ERASED_LINE = "- (a customer since erased)"
PERSONAL_DETAILS = ("address", "merged_customer")
"""Keys of audit details that hold personal data (``identity.added``, ``customer.merged``)."""


def check_confirmation(conn: Connection, customer_id: int, confirm: str) -> str:
    """The customer's name, if ``confirm`` is it or their id; else a 400 saying what to type."""
    name = conn.execute(select(customers.c.name).where(customers.c.id == customer_id)).scalar()
    if name is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if confirm.strip() not in (name, str(customer_id)):
        raise BadRequest(
            f"to delete customer {customer_id}, confirm with their name or their id",
            field="confirm",
        )
    return name


def erase_customer(actor_id: int, customer_id: int, confirm: str, tx: Tx) -> dict[str, Any]:
    """A write unit: delete everything about the customer; the counts (audited, no content)."""
    name = check_confirmation(tx.conn, customer_id, confirm)
    conn = tx.conn
    conversation_ids = select(conversations.c.id).where(conversations.c.customer_id == customer_id)
    message_ids = select(messages.c.id).where(messages.c.conversation_id.in_(conversation_ids))
    refuse_while_sending(tx, conversation_ids)
    files = or_(  # the messages' files, and those uploaded for a reply not yet sent
        attachments.c.message_id.in_(message_ids),
        attachments.c.conversation_id.in_(conversation_ids),
    )
    counts = {
        "identities": count(conn, identities.c.customer_id == customer_id),
        "claims": count(conn, identity_claims.c.customer_id == customer_id),
        "conversations": count(conn, conversations.c.customer_id == customer_id),
        "messages": count(conn, messages.c.conversation_id.in_(conversation_ids)),
        "attachments": conn.execute(
            select(func.count()).select_from(attachments).where(files)
        ).scalar_one(),
    }
    forget_codes(tx, customer_id)
    forget_broadcasts(tx, customer_id, message_ids)
    scrubbed, about = scrub_audit(tx, customer_id, name)
    forget_events(tx, conn.execute(conversation_ids).scalars().all(), set(about))
    redact_notifications(tx, set(about.values()) - {""})
    forget_counts(tx, conversation_ids)
    for statement in (
        delete(attachments).where(files),
        delete(outbox).where(
            or_(
                outbox.c.conversation_id.in_(conversation_ids),
                outbox.c.message_id.in_(message_ids),
            )
        ),
        delete(agent_notices).where(
            or_(
                agent_notices.c.customer_id == customer_id,
                agent_notices.c.conversation_id.in_(conversation_ids),
            )
        ),
        delete(conversation_tags).where(conversation_tags.c.conversation_id.in_(conversation_ids)),
        delete(satisfaction_surveys).where(satisfaction_surveys.c.customer_id == customer_id),
        delete(messages).where(messages.c.conversation_id.in_(conversation_ids)),
        delete(conversations).where(conversations.c.customer_id == customer_id),
        delete(identity_claims).where(identity_claims.c.customer_id == customer_id),
        delete(identities).where(identities.c.customer_id == customer_id),
        delete(contact_hours).where(
            contact_hours.c.scope == "customer", contact_hours.c.subject == str(customer_id)
        ),
        delete(customers).where(customers.c.id == customer_id),
    ):
        conn.execute(statement)
    record_audit(
        tx,
        actor_id,
        "customer.deleted",
        "customer",
        customer_id,
        **counts,
        scrubbed_entries=scrubbed,
    )
    return {"customer_id": customer_id, "deleted": counts}


def refuse_while_sending(tx: Tx, conversation_ids: Any) -> None:
    """A reply being sent now would be recorded against rows that are gone: wait for it.

    The customer's outbox rows are locked first (PostgreSQL), so no sender claims one
    between this check and the delete."""
    rows = tx.conn.execute(
        select(outbox.c.state, outbox.c.lease_until)
        .where(outbox.c.conversation_id.in_(conversation_ids))
        .with_for_update()
    )
    if any(row.state == "sending" and row.lease_until > tx.now for row in rows):
        raise Conflict("a reply to this customer is being sent right now: try again in a minute")


def count(conn: Connection, where: Any) -> int:
    table = where.left.table
    return conn.execute(select(func.count()).select_from(table).where(where)).scalar_one()


def forget_codes(tx: Tx, customer_id: int) -> None:
    """One-time codes sent for the customer's addresses or asked for by their web chat visitors."""
    addresses = [
        row.address
        for table in (identities, identity_claims)
        for row in tx.conn.execute(
            select(table.c.address).where(table.c.customer_id == customer_id)
        )
    ]
    visitors = select(identities.c.address).where(
        identities.c.customer_id == customer_id, identities.c.kind == "webchat"
    )
    tx.conn.execute(
        delete(verification_codes).where(
            or_(
                verification_codes.c.address.in_(addresses),
                verification_codes.c.visitor.in_(visitors),
            )
        )
    )


def forget_broadcasts(tx: Tx, customer_id: int, message_ids: Any) -> None:
    """Replies relayed to web chat widgets are stored as events without a conversation: those
    carrying one of the customer's messages, or addressed to one of their identities, go."""
    data = events.c.payload["data"]
    addresses = select(identities.c.address).where(identities.c.customer_id == customer_id)
    tx.conn.execute(
        delete(events).where(
            events.c.kind == CHANNEL_BROADCAST,
            or_(
                data["frame"]["message"]["id"].as_integer().in_(message_ids),
                data["visitor"].as_string().in_(addresses),
            ),
        )
    )


def forget_events(tx: Tx, conversation_ids: list[int], customer_ids: set[int]) -> None:
    """Events of the customer's conversations and of those merged into them (whose rows are
    gone, but whose events still carry what was said), and messages told about them."""
    found = set(conversation_ids)
    pending = set(conversation_ids)
    while pending:
        folded = tx.conn.execute(
            select(events.c.payload["conversation_id"].as_integer()).where(
                events.c.kind == "conversation.merged", events.c.conversation_id.in_(pending)
            )
        )
        pending = set(folded.scalars()) - found
        found |= pending
    about_them = events.c.payload["customer"]["id"].as_integer().in_(customer_ids)
    tx.conn.execute(delete(events).where(or_(events.c.conversation_id.in_(found), about_them)))


def redact_notifications(tx: Tx, names: set[str]) -> None:
    """Notifications written for agents name customers in lines of their own ("- <name>",
    a count, a quote: ``hub.notice_batches.batch_text``) and are not linked to them: lines
    naming the customer are replaced (so would a namesake's be: a small price)."""
    for name in names:
        rows = tx.conn.execute(
            select(notice_batches.c.id, notice_batches.c.text).where(
                notice_batches.c.text.contains(f"- {name}", autoescape=True)
            )
        ).all()
        for row in rows:
            lines = [
                ERASED_LINE if names_customer(line, name) else line for line in row.text.split("\n")
            ]
            tx.conn.execute(
                update(notice_batches)
                .where(notice_batches.c.id == row.id)
                .values(text="\n".join(lines))
            )


def names_customer(line: str, name: str) -> bool:
    lead = f"- {name}"
    return line == lead or line.startswith((f"{lead} (", f"{lead}: "))


def scrub_audit(tx: Tx, customer_id: int, name: str) -> tuple[list[int], dict[int, str]]:
    """Take personal data out of audit entries about the customer and about customers merged
    into them (their data became this customer's): the entries changed, and all their names
    by id."""
    about = {customer_id: name}
    scrubbed: list[int] = []
    pending = [customer_id]
    while pending:
        rows = tx.conn.execute(
            select(audit_log.c.id, audit_log.c.details).where(
                audit_log.c.subject_type == "customer", audit_log.c.subject_id.in_(pending)
            )
        ).all()
        pending = []
        for row in rows:
            details = dict(row.details or {})
            merged = details.get("merged_customer") or {}
            merged_id = merged.get("id")
            if merged_id is not None and merged_id not in about:
                about[merged_id] = merged.get("name", "")
                pending.append(merged_id)
            if any(key in details for key in PERSONAL_DETAILS):
                scrub_entry(tx, row.id, details, merged_id)
                scrubbed.append(row.id)
    return scrubbed, about


def scrub_entry(tx: Tx, entry_id: int, details: dict[str, Any], merged_id: int | None) -> None:
    kept = {key: value for key, value in details.items() if key not in PERSONAL_DETAILS}
    if merged_id is not None:
        kept["merged_customer_id"] = merged_id
    kept["erased_at"] = tx.now.isoformat()
    tx.conn.execute(update(audit_log).where(audit_log.c.id == entry_id).values(details=kept))
