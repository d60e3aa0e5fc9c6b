"""WhatsApp's customer-service window: free-form messages only within 24 hours of the
customer's last message; after that, only an approved template may open the chat again.

Pure: the connector asks it at send time, the inbox when a reply is written or scheduled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class ServiceWindow:
    """``closes_at``: when free-form messages stop being allowed (``None``: the customer
    never wrote, so the window was never open); ``open``: whether they are at the time asked."""

    closes_at: datetime | None
    open: bool


def service_window(last_inbound: datetime | None, at: datetime) -> ServiceWindow:
    """The window at ``at``, from when the customer last wrote (the platform's timestamp)."""
    if last_inbound is None:
        return ServiceWindow(None, False)
    closes_at = last_inbound + WINDOW
    return ServiceWindow(closes_at, at < closes_at)
