"""The contract between a channel connector and the hub.

A connector knows its platform's protocol and nothing about owners or hours:
it turns platform events into :class:`InboundMessage` and hands them to
:meth:`HubPort.ingest`, and it sends one :class:`OutboundMessage` when the
outbox asks. Lifecycle: ``async with connector`` (the hub enters it; a failed start
stops what it took).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, ClassVar, Protocol

from aiohttp import web

from connectors.dns import Resolver
from connectors.proof import Proof as Proof
from connectors.send_errors import AuthFailed as AuthFailed
from connectors.send_errors import ConnectorError as ConnectorError
from connectors.send_errors import PermanentError as PermanentError
from connectors.send_errors import RateLimited as RateLimited
from connectors.send_errors import TransientError as TransientError
from connectors.verification import Verifier


@dataclass(frozen=True)
class Address:
    """Where a customer can be reached: channel kind plus address, e.g. email + a@b.c."""

    kind: str
    address: str


@dataclass(frozen=True)
class Link:
    """Another address proven to be the sender's, and what proved it."""

    address: Address
    proof: Proof


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    size: int
    data: bytes | None = None
    """The file itself; ``None`` when it was over the channel's limit (then only listed)."""


@dataclass(frozen=True)
class Reaction:
    """A customer's emoji on an earlier message of their chat: ``to`` is that message's
    platform id (ours: the id it gave our send); ``emoji`` ``None``: taken back."""

    to: str
    emoji: str | None


@dataclass(frozen=True)
class InboundMessage:
    """One customer message, normalized; ``external_id`` is unique within ``channel``."""

    channel: str
    external_id: str
    sender: Address
    text: str
    sender_name: str | None = None
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    sent_at: datetime | None = None
    thread_refs: tuple[str, ...] = ()
    """External ids of earlier messages on this channel that this one answers (email References)."""
    conversation_hint: int | None = None
    """A conversation the connector has verified this answers (a signed reply address)."""
    linked: tuple[Link, ...] = ()
    """Other identities proven to be the sender's (a Slack profile email, a signed identity):
    the sender joins the customer who has one of them."""
    claimed: tuple[Address, ...] = ()
    """Identities the sender says are theirs without proof (an email typed in the widget):
    recorded as claims for agents to see, never linked."""
    sender_proof: Proof | None = Proof.CHANNEL
    """What proved the sender's own address; ``None``: nothing could (mail the hub cannot
    check). A known address still reaches its customer then."""
    auth_failure: str | None = None
    """Why the sender's address is disputed (mail that failed authentication): the message is
    stored and flagged for a customer of its own, never joined to the address's customer."""
    automated: bool = False
    """Sent by a machine (RFC 3834 Auto-Submitted, bulk mail, a bot): never auto-answered."""
    zone: str | None = None
    locale: str | None = None
    """What the platform says of the sender's IANA zone and language (``de-AT``): hints."""
    opt_out: bool | None = None
    """The sender asked this channel to stop (``True``: an SMS STOP) or to start again
    (``False``: START) sending them messages: recorded with the message."""
    content_digest: str | None = None
    """A digest of what the message says: one with a stored message's ``external_id`` but
    another digest is stored apart, not dropped as a redelivery."""
    reaction: Reaction | None = None
    """The message is a reaction: kept on the message it reacts to where the hub has it
    (not as work; the result names that message, as for a repeat), else stored as written."""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cursor:
    """How far a connector has read its platform (a Telegram offset, an IMAP UID), saved in
    the same transaction as the message it was read with: neither is kept without the other."""

    key: str
    value: str


@dataclass(frozen=True)
class IngestResult:
    message_id: int
    conversation_id: int
    customer_id: int
    duplicate: bool


@dataclass(frozen=True)
class Thread:
    """Where a message belongs on its channel, for a channel with threads (email, Slack)."""

    subject: str | None = None
    external_ids: tuple[str, ...] = ()
    """External ids of the conversation's messages on that channel, oldest first."""
    latest_inbound_meta: Mapping[str, Any] = field(default_factory=dict)
    """What the connector kept with the customer's latest message on the channel (the Slack
    thread it was written in)."""


@dataclass(frozen=True)
class Delivery:
    """What the platform said when it took the message, or the parts of it it took.

    Merged into the message's meta (``meta()``), next to what was there (an
    auto-reply's mark), and given back to the next attempt as
    :attr:`OutboundMessage.delivered`.
    """

    external_id: str | None = None
    parts_sent: int = 0
    """Of a message sent in parts (Telegram's 4096 characters): how many the platform has."""
    relay: Mapping[str, Any] | None = None
    """What this channel's connector in every hub process must hear once the send is recorded
    (web chat: the reply, for whichever process holds the visitor's sockets); stored in the
    transaction that records the send and heard through :meth:`HubPort.broadcasts`."""
    sent_instead: str | None = None
    """What left in place of the message's text, in words (a WhatsApp template sent because
    the customer's window had closed): kept in its meta for the inbox to show."""
    media_ids: tuple[str, ...] = ()
    """The platform's ids of the message's files it already holds, in order (WhatsApp media
    uploaded before a send failed): a retry sends them without uploading them again."""

    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        if self.external_id:
            meta["delivery_id"] = self.external_id
        if self.parts_sent:
            meta["parts_sent"] = self.parts_sent
        if self.sent_instead:
            meta["sent_instead"] = self.sent_instead
        if self.media_ids:
            meta["media_ids"] = list(self.media_ids)
        return meta

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> Delivery:
        media_ids = tuple(str(i) for i in meta.get("media_ids") or ())
        return cls(meta.get("delivery_id"), int(meta.get("parts_sent") or 0), media_ids=media_ids)


@dataclass(frozen=True)
class OutboundMessage:
    """One message to send, with everything the connector needs: it never asks the hub."""

    message_id: int
    conversation_id: int | None
    """``None``: a notice to an agent (``message_id``: its batch), in no thread; its subject,
    where the platform has one, is ``thread.subject``."""
    channel: str
    to: Address
    """The customer's identity on the channel (or the agent's address, for a notice)."""
    text: str
    html: str | None = None
    written_at: datetime | None = None
    """When the agent wrote it (the time a customer is shown)."""
    thread: Thread = field(default_factory=Thread)
    automatic: bool = False
    """The hub answered on its own (the auto-reply): marked so auto-responders do not answer."""
    delivered: Delivery = field(default_factory=Delivery)
    """What an earlier attempt got through before it failed (parts of a long message)."""
    last_inbound_at: datetime | None = None
    """When ``to`` last wrote on ``channel``, in any conversation (the platform's stamp of
    its latest message; ``None``: never): where a platform allows free-form messages only
    for a while after that (WhatsApp's 24-hour window)."""
    choices: tuple[tuple[str, str], ...] = ()  # (label, url): link buttons, where shown
    customer_name: str | None = None
    author_name: str | None = None
    """The customer's and the writing agent's names as the hub knows them (a WhatsApp
    template's parameters); ``None``: unknown, or the hub wrote it."""
    attachments: tuple[Attachment, ...] = ()
    """Files the agent attached, with their data: only for a channel that
    :class:`connectors.abilities.SendsFiles`."""


class DeliveryState(StrEnum):
    """What a platform's receipt says became of a sent message, in the order it advances."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


@dataclass(frozen=True)
class DeliveryReport:
    """A platform's receipt for one of our messages (an SMS status callback)."""

    message_id: int
    external_id: str
    state: DeliveryState
    reason: str | None = None
    """Why it failed, in words agents read (with the platform's error code)."""


class HubPort(Protocol):
    """What a connector may ask of the hub."""

    secret_key: bytes
    """Key for what a connector signs itself (visitor tokens); set once the hub started."""

    public_url: str
    """Where the platform reaches the hub's ``routes()`` (``http.base_url``), for webhooks."""

    verifier: Verifier

    resolver: Resolver
    """DNS lookups (DKIM keys, SPF and DMARC records); tests inject their own."""

    async def ingest(
        self, message: InboundMessage, *, cursor: Cursor | None = None
    ) -> IngestResult:
        """Store ``message`` durably (and ``cursor`` with it, as :meth:`save_state` would)."""
        ...

    def request_urls(self, request: web.Request) -> tuple[str, ...]:
        """The URLs a platform may have signed ``request`` for: ``public_url`` with its path
        and query, and behind a trusted proxy the one X-Forwarded-Proto/Host name."""
        ...

    def client_key(self, request: web.Request) -> str:
        """Who sent a request to ``routes()``, for limits per client: the address through the
        hub's trusted proxies (an IPv6 one by its /64, which one subscriber usually holds)."""
        ...

    async def identity_history(self, address: Address, limit: int) -> list[dict[str, Any]]:
        """Messages to and from one identity, oldest first (what a widget shows on connect)."""
        ...

    async def quarantine(self, channel: str, raw: bytes, reason: str) -> int:
        """Keep input that cannot become a message, for admins to see; its id."""
        ...

    async def greeting(
        self, channel: str, sender: Address | None, team: str, zone: str | None, locale: str | None
    ) -> str:
        """Who answers ``sender`` (``None``: someone new) writing now, and when: one line."""
        ...

    def now(self) -> datetime:
        """The hub's clock (tests move it): what a connector stamps or signs with."""
        ...

    async def load_state(self, key: str) -> str | None: ...

    async def delivery_report(self, channel: str, report: DeliveryReport) -> bool:
        """Record a receipt on the message it names (never moving its state back);
        ``False``: no such message was sent on ``channel``."""
        ...

    async def link_chat(self, channel: str, code: str, chat_id: str, cursor: Cursor | None) -> bool:
        """Link ``chat_id`` to the agent whose one-time ``code`` it sent (with ``cursor``);
        ``False``: no live code."""
        ...

    async def save_state(self, key: str, value: str) -> None:
        """A connector's own small durable state (an IMAP mailbox's last UID)."""
        ...

    async def run_alone(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work()`` in one hub process at a time (pollers), taking over if that one dies.

        Returns when ``work`` does; may restart it if this process loses its turn.
        """
        ...

    def broadcasts(self, channel: str) -> AsyncIterator[dict[str, Any]]:
        """Each :attr:`Delivery.relay` of ``channel``'s sends, in every hub process, in the
        order recorded, while it is read: for what only the process holding a client's
        connection can do (push to a widget's socket)."""
        ...


class Connector(ABC):
    """A channel: ``async with`` it (``start``/``stop``), the hub runs its ``listen``
    meanwhile and serves its ``routes()``; the outbox calls ``send``."""

    kind: ClassVar[str]

    def __init__(self, name: str, hub: HubPort) -> None:
        self.name = name
        self.hub = hub
        self.halted: ConnectorError | None = None
        """Why the channel stopped by itself while running (a refused credential): the admin
        console shows it until the channel starts again."""

    def halt(self, error: ConnectorError) -> None:
        """Record that a session gave up for good (``keep_trying``'s ``on_stop``)."""
        self.halted = error

    @property
    @abstractmethod
    def identity_kind(self) -> str:
        """The kind of :class:`Address` this channel's customers have."""

    def routes(self) -> Iterable[web.RouteDef]:
        """HTTP routes the connector serves inside the hub's app (webhooks, sockets)."""
        return ()

    async def start(self) -> None:  # noqa: B027 - most connectors need no start
        """Connect to the platform; called once the hub is ready to ingest."""

    async def stop(self) -> None:  # noqa: B027
        """Release everything ``start`` took; safe to call after a failed start."""

    async def listen(self) -> None:  # noqa: B027 - webhook-only connectors receive in routes()
        """Receive from the platform until cancelled (a poller, a socket, a relay reader),
        handing what arrives to :meth:`HubPort.ingest`.

        The hub runs it as a task once :meth:`start` returned and cancels it before
        :meth:`stop`, so a connector keeps no background tasks of its own. It may
        return early (nothing more to receive, or a session that gave up and called
        :meth:`halt`). What only arrives through ``routes()`` needs no ``listen``.
        """

    async def close_client_connections(self) -> None:  # noqa: B027
        """Close long-lived connections clients opened to ``routes()`` (web server stopping)."""

    @abstractmethod
    async def send(self, message: OutboundMessage) -> Delivery:
        """Deliver one message or raise a :class:`ConnectorError`; never calls the hub."""

    @abstractmethod
    async def test_connection(self) -> str:
        """Check the platform and credentials; return what was found, or raise."""

    async def __aenter__(self) -> Connector:
        self.halted = None
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
