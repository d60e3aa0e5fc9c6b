"""Email: customer mail in by IMAP and/or SMTP, replies out by SMTP, in the right thread."""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
from collections.abc import Iterable
from email.headerregistry import Address as MailboxAddress
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from aiohttp import web

from connectors.base import (
    Address,
    Attachment,
    Connector,
    Cursor,
    Delivery,
    HubPort,
    InboundMessage,
    OutboundMessage,
    PermanentError,
    Proof,
)
from connectors.email.authentication import Outcome, Verdict, domain_of, verdict_from_headers
from connectors.email.checks import Envelope, MailChecker
from connectors.email.headers import offset_zone
from connectors.email.imap import ImapPoller, ImapSettings, MailboxCursors
from connectors.email.mime import MimeLimits
from connectors.email.parse import ParsedMail, Unparseable, parse_mail
from connectors.email.settings import EmailChannel
from connectors.email.smtp import SmtpClient, SmtpReceiver, SmtpSettings, check_relay, send_mail
from connectors.email.thread_tokens import (
    answered_conversation,
    base_address,
    message_id_for,
    reply_address,
)
from connectors.media import FileRefusal

LONGEST_EXTERNAL_ID = 255
"""What ``messages.external_id`` holds."""
log = logging.getLogger(__name__)

IDENTITY_KIND = "email"
MAX_REFERENCES = 20
DEFAULT_SUBJECT = "Your message"
PARSERS = 2
"""Mails parsed at once, each in a thread; parsing holds the GIL, so more would not be faster."""


class EmailConnector(Connector):
    kind = "email"

    def __init__(self, settings: EmailChannel, hub: HubPort) -> None:
        super().__init__(settings.name, hub)
        self.settings = settings
        self._receiver: SmtpReceiver | None = None
        self._checker: MailChecker | None = None
        self._poller: ImapPoller | None = None
        self._parsing = asyncio.Semaphore(PARSERS)
        self._limits = MimeLimits(settings.max_mime_parts, settings.max_mime_depth)

    @property
    def identity_kind(self) -> str:
        return IDENTITY_KIND

    @property
    def domain(self) -> str:
        return self.settings.address.partition("@")[2]

    def routes(self) -> Iterable[web.RouteDef]:
        return []

    async def start(self) -> None:
        listener = self.settings.smtp_in
        if self.settings.checks_received_mail:
            self._checker = MailChecker(
                self.hub.resolver, self.settings.authentication.timeout_seconds
            )
        if listener is not None:
            self._receiver = SmtpReceiver(
                listener.host,
                listener.port,
                self.accepts,
                self.receive_smtp,
                max_bytes=listener.max_bytes,
                max_recipients=listener.max_recipients,
                hostname=self.domain,
            )
            await self._receiver.start()
        mailbox = self.settings.imap
        if mailbox is not None:
            self._poller = ImapPoller(
                self.name,
                ImapSettings(
                    host=mailbox.host,
                    port=mailbox.port,
                    username=mailbox.username,
                    password=mailbox.password_env.reveal(),
                    mailbox=mailbox.mailbox,
                    ssl=mailbox.ssl,
                    poll_seconds=mailbox.poll_seconds,
                    after_import=mailbox.after_import,
                    move_to=mailbox.move_to,
                ),
                MailboxCursors(self.name, self.hub.load_state),
                self.receive_imap,
                on_stop=self.halt,
            )

    async def listen(self) -> None:
        """SMTP mail arrives through the receiver ``start`` opened; an IMAP mailbox is
        polled here, in one hub process at a time."""
        if self._poller is not None:
            await self.hub.run_alone(f"imap:{self.name}", self._poller.run)

    async def stop(self) -> None:
        if self._poller is not None:
            await self._poller.close()
            self._poller = None
        if self._receiver is not None:
            await self._receiver.stop()
            self._receiver = None
        if self._checker is not None:
            self._checker.close()
            self._checker = None

    @property
    def smtp_port(self) -> int | None:
        """The listening SMTP port (useful when configured as 0)."""
        return self._receiver.port if self._receiver is not None else None

    def accepts(self, recipient: str) -> bool:
        mailboxes = {self.settings.address, *self.settings.aliases}
        return base_address(recipient) in mailboxes

    async def receive_smtp(
        self, raw: bytes, mail_from: str, recipients: list[str], client: SmtpClient
    ) -> None:
        envelope = Envelope(client.address, client.helo, mail_from)
        await self.receive(raw, tuple(r.lower() for r in recipients), envelope)

    async def receive_imap(self, raw: bytes, cursor: Cursor) -> None:
        await self.receive(raw, (), cursor=cursor)

    async def receive(
        self,
        raw: bytes,
        recipients: tuple[str, ...],
        envelope: Envelope | None = None,
        cursor: Cursor | None = None,
    ) -> None:
        """Store one mail as a message, or keep it in quarantine with the reason.

        ``envelope``: what the SMTP client said, for mail the hub's listener received.
        ``cursor``: how far the IMAP import got with this mail, saved with the message
        (after the quarantine row, for mail quarantined).

        Returns only once it is durably stored, so SMTP can answer 250 and
        IMAP can move past it.
        """
        try:
            mail = await self.parse(raw)
        except Unparseable as refused:
            await self.quarantine(raw, refused.reason, cursor)
            return
        references = (*mail.in_reply_to, *mail.references)
        hint = answered_conversation(self.hub.secret_key, references, (*recipients, *mail.to))
        if mail.automated and hint is None:
            reason = f"automated mail ({mail.automated}) answering no conversation"
            await self.quarantine(raw, reason, cursor)
            return
        verdict = await self.authenticate(mail, raw, envelope)
        await self.hub.ingest(self.inbound(mail, raw, references, hint, verdict), cursor=cursor)

    async def quarantine(self, raw: bytes, reason: str, cursor: Cursor | None) -> None:
        await self.hub.quarantine(self.name, raw, reason)
        if cursor is not None:
            await self.hub.save_state(cursor.key, cursor.value)

    async def authenticate(
        self, mail: ParsedMail, raw: bytes, envelope: Envelope | None
    ) -> Verdict | None:
        """Whether the From is authentic: by the hub's own checks for mail its listener
        received (when on), else by the trusted server's Authentication-Results (when an
        authserv_id is set); ``None`` when nothing is set up to tell."""
        if envelope is not None and self._checker is not None:
            return await self._checker.verdict(raw, mail.from_address, envelope)
        authserv_id = self.settings.authentication.authserv_id
        if authserv_id is None:
            return None
        return verdict_from_headers(
            mail.authentication_results, authserv_id, domain_of(mail.from_address)
        )

    async def parse(self, raw: bytes) -> ParsedMail:
        """Parse off the event loop: a large mail takes seconds of CPU, other requests none."""
        async with self._parsing:
            return await asyncio.to_thread(
                parse_mail,
                raw,
                max_attachment_bytes=self.settings.max_attachment_bytes,
                limits=self._limits,
            )

    def inbound(
        self,
        mail: ParsedMail,
        raw: bytes,
        references: tuple[str, ...],
        hint: int | None,
        verdict: Verdict | None,
    ) -> InboundMessage:
        outcome = verdict.outcome if verdict else None
        return InboundMessage(
            channel=self.name,
            external_id=external_id_of(mail, raw),
            sender=Address(IDENTITY_KIND, mail.from_address),
            sender_name=mail.from_name,
            text=mail.text or mail.full_text or "(no text)",
            html=mail.html,
            attachments=tuple(
                Attachment(a.name, a.content_type, a.size, a.data) for a in mail.attachments
            ),
            sent_at=mail.date,
            zone=offset_zone(mail.date),
            thread_refs=references,
            conversation_hint=hint,
            automated=mail.automated is not None,
            sender_proof=Proof.MAIL_AUTH if outcome == Outcome.PASS else None,
            auth_failure=verdict.reason if verdict and outcome == Outcome.FAIL else None,
            content_digest=mail.digest,
            meta={
                "subject": mail.subject,
                "full_text": mail.full_text,
                "defects": list(mail.defects),
                "automated_reason": mail.automated,
                **authentication_meta(verdict, mail.from_address),
            },
        )

    async def send(self, message: OutboundMessage) -> Delivery:
        try:
            if message.conversation_id is None:
                our_id = make_msgid(domain=self.domain)[1:-1]
                mail = self.notice_mail(message, our_id)
            else:
                our_id = message_id_for(
                    self.hub.secret_key, message.conversation_id, message.message_id, self.domain
                )
                mail = self.reply_mail(message, message.conversation_id, our_id)
        except ValueError as error:  # retrying would build the same mail
            raise PermanentError(f"cannot build the reply mail: {error}") from error
        await send_mail(self.relay_settings(), mail)
        return Delivery(our_id)

    def notice_mail(self, message: OutboundMessage, our_id: str) -> EmailMessage:
        """A notice to an agent: the hub's own words, answered by nobody."""
        subject = message.thread.subject or ""
        return self.generated_mail(message.to.address, subject, message.text, f"<{our_id}>")

    def generated_mail(self, to: str, subject: str, text: str, message_id: str) -> EmailMessage:
        mail = self.new_mail(to, subject, message_id)
        mark_automatic(mail, "auto-generated")
        mail.set_content(text)
        return mail

    def reply_mail(
        self, message: OutboundMessage, conversation_id: int, our_id: str
    ) -> EmailMessage:
        """The reply as a mail; raises ValueError where a header cannot hold a value."""
        thread = message.thread
        mail = self.new_mail(message.to.address, reply_subject(thread.subject), f"<{our_id}>")
        mail["Reply-To"] = reply_address(
            self.hub.secret_key, conversation_id, self.settings.address
        )
        if message.automatic:
            mark_automatic(mail, "auto-replied")
        earlier = thread.external_ids[-MAX_REFERENCES:]
        if earlier:
            mail["In-Reply-To"] = f"<{earlier[-1]}>"
            mail["References"] = " ".join(f"<{ref}>" for ref in earlier)
        mail.set_content(message.text)
        mail.add_alternative(text_as_html(message.text), subtype="html")
        for file in message.attachments:
            maintype, _, subtype = file.content_type.partition("/")
            mail.add_attachment(file.data or b"", maintype, subtype, filename=file.name)
        return mail

    def file_refusal(self, attachment: Attachment) -> FileRefusal | None:
        """Mail carries any file the hub takes (``http.max_upload_bytes``); a relay that
        refuses the mail's size fails the reply with its reason."""
        return None

    async def send_notice(self, to: str, subject: str, text: str) -> None:
        """Send a message that belongs to no conversation (a one-time code) at once.

        Not through the outbox: whoever asked for it is waiting and is told if it failed.
        """
        mail = self.generated_mail(to, subject, text, make_msgid(domain=self.domain))
        await send_mail(self.relay_settings(), mail)

    def new_mail(self, to: str, subject: str, message_id: str) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = MailboxAddress(
            self.settings.from_name or "", addr_spec=self.settings.address
        )
        mail["To"] = to
        mail["Subject"] = subject
        mail["Date"] = format_datetime(self.hub.now())
        mail["Message-ID"] = message_id
        return mail

    def relay_settings(self) -> SmtpSettings:
        relay = self.settings.smtp_out
        return SmtpSettings(
            host=relay.host,
            port=relay.port,
            security=relay.security,
            username=relay.username,
            password=relay.password_env.reveal() if relay.password_env else None,
            timeout=relay.timeout_seconds,
        )

    async def test_connection(self) -> str:
        """Reach the relay as sending would (raises the ConnectorError family)."""
        parts = [await check_relay(self.relay_settings())]
        if self._receiver is not None:
            parts.append(f"SMTP listener on port {self._receiver.port}")
        return "; ".join(parts)


def mark_automatic(mail: EmailMessage, kind: str) -> None:
    """Mail no person wrote (RFC 3834 ``kind``: auto-generated, or auto-replied for an answer
    to the customer's mail), so auto-responders, Exchange's too, do not answer it."""
    mail["Auto-Submitted"] = kind
    mail["X-Auto-Response-Suppress"] = "All"


def authentication_meta(verdict: Verdict | None, from_address: str) -> dict[str, object]:
    """The verdict for the inbox; with a failure also the From, as no identity shows it."""
    if verdict is None:
        return {}
    meta: dict[str, object] = {
        "authentication": {"result": str(verdict.outcome), "reason": verdict.reason}
    }
    if verdict.outcome == Outcome.FAIL:
        meta["from"] = from_address
    return meta


def reply_subject(subject: str | None) -> str:
    """One line: an encoded word can put line breaks in a subject, a header cannot hold them."""
    subject = " ".join((subject or "").split())
    if not subject:
        return DEFAULT_SUBJECT
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def text_as_html(text: str) -> str:
    paragraphs = (html.escape(block).replace("\n", "<br>") for block in text.split("\n\n"))
    return "".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)


def external_id_of(mail: ParsedMail, raw: bytes) -> str:
    """The Message-ID, or a digest of it where it is longer than the hub stores (255
    characters); a digest of the whole mail where it has none. The same for a redelivery."""
    if mail.message_id is None:
        return f"sha256:{hashlib.sha256(raw).hexdigest()}"
    if len(mail.message_id) > LONGEST_EXTERNAL_ID:
        return f"sha256:{hashlib.sha256(mail.message_id.encode()).hexdigest()}"
    return mail.message_id
