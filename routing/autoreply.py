"""The auto-reply's words: who answers, when (in the customer's zone and language), and how.

Pure: the hub decides who and when (:mod:`routing.promise`) and which zone
and locale are the customer's; these functions only word it. Weekday and
month names and the zone label come from CLDR (Babel), English by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from string import Formatter
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton, get_timezone_gmt, get_timezone_location

PLACEHOLDERS = ("owner", "opens", "zone", "handler", "when", "owner_back", "owner_away", "mode")
DEFAULT_AUTOREPLY = (
    "Thanks for your message; it is saved. {handler} will reply {mode} at {when}.{owner_away}"
)
DEFAULT_LOCALE = "en_GB"
"""English with the day before the month ("Monday 9 March"), as the hub always wrote it."""
NOBODY_BY_NAME = "our team"
SAME_WEEK = timedelta(days=6)
MODES = {
    "email": "by email",
    "telegram": "on Telegram",
    "slack": "on Slack",
    "webchat": "in the chat",
}
HERE = "here"


OFFSET_ZONE_PREFIX = "Etc/"
ANY_INSTANT = datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))


@dataclass(frozen=True)
class Zone:
    """The zone times are told in; ``own``: it is the customer's (agreed or reported)."""

    name: str
    own: bool


def is_offset_zone(zone: str) -> bool:
    """A fixed UTC offset ("Etc/GMT-1"), as an email's Date header tells: a hint of where the
    customer is, not a place (daylight saving time moves them off it)."""
    return zone.startswith(OFFSET_ZONE_PREFIX)


@dataclass(frozen=True)
class AutoreplyFacts:
    """Everything the auto-reply says, as plain values."""

    owner_name: str | None
    handler_name: str | None
    answer_at: datetime
    owner_back: datetime | None
    by_owner: bool
    opens_at: datetime
    """When the held message is released (the agreed hours open)."""
    zone: Zone
    locale: str | None = None
    mode: str | None = None
    """The kind of the channel the reply goes to when it is not the one written on."""


def template_problems(template: str) -> list[str]:
    """What is wrong with an auto-reply template (unknown or malformed placeholders)."""
    try:
        fields = [field for _, field, _, _ in Formatter().parse(template) if field is not None]
    except ValueError as error:
        return [f"malformed placeholder: {error}"]
    allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    return [
        f"unknown placeholder {{{field}}}; use {allowed}"
        for field in dict.fromkeys(fields)
        if field not in PLACEHOLDERS
    ]


def autoreply_text(template: str, facts: AutoreplyFacts, now: datetime) -> str:
    locale = customer_locale(facts.locale)
    owner = facts.owner_name or NOBODY_BY_NAME
    when = told_time(facts.answer_at, facts.zone, locale, now)
    back = when
    if facts.owner_back is not None:
        back = told_time(facts.owner_back, facts.zone, locale, now)
    covered = not facts.by_owner and facts.owner_name and facts.owner_back
    away = f" {owner} is back at {back}." if covered else ""
    return template.format(
        owner=owner,
        opens=moment_phrase(facts.opens_at, facts.zone.name, locale, now),
        zone=facts.zone.name,
        handler=facts.handler_name or owner,
        when=when,
        owner_back=back,
        owner_away=away,
        mode=MODES.get(facts.mode or "", HERE),
    )


def customer_locale(tag: str | None) -> Locale:
    """The customer's locale from a tag such as ``de``, ``de-AT`` or ``pt_BR``; else English."""
    if tag:
        try:
            return Locale.parse(tag.replace("-", "_"))
        except (ValueError, UnknownLocaleError):
            pass
    return Locale.parse(DEFAULT_LOCALE)


def told_time(moment: datetime, zone: Zone, locale: Locale, now: datetime) -> str:
    """'09:00 Monday, your time', or with the zone named when it is not the customer's own."""
    return f"{moment_phrase(moment, zone.name, locale, now)}, {zone_label(zone, locale)}"


def zone_label(zone: Zone, locale: Locale) -> str:
    if zone.own and locale.language == "en":
        return "your time"
    if is_offset_zone(zone.name):
        # A fixed offset is the same at every instant: "GMT+01:00".
        return str(get_timezone_gmt(ANY_INSTANT.astimezone(ZoneInfo(zone.name)), locale=locale))
    city = get_timezone_location(ZoneInfo(zone.name), locale=locale, return_city=True)
    return str(locale.zone_formats["region"]) % city


def moment_phrase(moment: datetime, zone: str, locale: Locale, now: datetime) -> str:
    """'09:00 Monday' in ``zone``; with the date when it is a week or more away."""
    local = moment.astimezone(ZoneInfo(zone))
    phrase = f"{local:%H:%M} {format_date(local, 'EEEE', locale=locale)}"
    if moment - now >= SAME_WEEK:
        phrase += " " + format_skeleton("MMMMd", local, locale=locale)
    return phrase


def greeting_line(
    who: str, at: datetime | None, zone: Zone, locale_tag: str | None, now: datetime
) -> str:
    """What a chat widget shows before the customer writes: who answers, and when."""
    if at is None:
        return f"{who} will answer as soon as they can"
    if at <= now:
        return f"{who} is here to answer"
    locale = customer_locale(locale_tag)
    return f"{who}, back at {told_time(at, zone, locale, now)}"
