"""The WhatsApp customer-service window (routing.service_window): 24 hours from the
customer's last message, closed at the instant it ends."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from routing.service_window import ServiceWindow, service_window

WROTE = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
CLOSES = datetime(2026, 3, 3, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (WROTE, True),
        (WROTE + timedelta(hours=23, minutes=59, seconds=59), True),
        (CLOSES, False),
        (CLOSES + timedelta(seconds=1), False),
        (WROTE + timedelta(days=30), False),
    ],
)
def test_free_form_is_allowed_until_24_hours_after_the_customer_wrote(at, is_open):
    assert service_window(WROTE, at) == ServiceWindow(CLOSES, is_open)


def test_a_customer_who_never_wrote_has_no_window():
    assert service_window(None, WROTE) == ServiceWindow(None, False)


def test_a_message_stamped_after_the_send_time_keeps_the_window_open():
    """A scheduled send checked before a later customer message: still inside."""
    assert service_window(WROTE, WROTE - timedelta(minutes=5)) == ServiceWindow(CLOSES, True)


def test_the_window_is_the_same_in_any_zone():
    berlin = WROTE.astimezone(ZoneInfo("Europe/Berlin"))
    assert service_window(berlin, CLOSES - timedelta(seconds=1)).open
    assert service_window(berlin, CLOSES).closes_at == CLOSES
