"""Parsing raw mail: the real-world corpus, hand-built messages, and arbitrary bytes."""

# ruff: noqa: RUF001  (Cyrillic text in the expected subjects and names is meant)

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.email import mime
from connectors.email.parse import ParsedMail, Unparseable, parse_mail
from tests.support.corpus import corpus_bytes, corpus_files, corpus_params

REFUSED = {"mail_outlook_1": ("Outlook", ".msg")}

# What each corpus file is reported to have wrong, in order; every other file has no notes.
EXPECTED_DEFECTS = {
    "mail_malformed_1": (
        "multipart/mixed at top level: parts after the closing boundary recovered",
        "declared MIME boundary never found (multipart/alternative in part 1)",
    ),
    "mail_malformed_2": ("declared MIME boundary never found (multipart/alternative in part 3.1)",),
    "mail_malformed_3": (
        "multipart/alternative at top level: parts recovered using the boundary found in the body",
        "invalid characters in base64 data (text/html in part 1)",
        "invalid base64 padding (text/html in part 1)",
        "declared MIME boundary never found (multipart/alternative at top level)",
        "multipart without any parts (multipart/alternative at top level)",
    ),
    "mail_test_1": (
        "missing closing MIME boundary (multipart/mixed at top level)",
        "no Date header",
    ),
    "mail_test_11": (
        "missing closing MIME boundary (multipart/mixed at top level)",
        "no Date header",
    ),
    "mail_test_12": (
        "text declared as gb2312 is utf-8 (in text/plain at top level)",
        "unencoded 8-bit characters in the To header",
    ),
    "mail_test_17": ("missing closing MIME boundary (multipart/mixed at top level)",),
    "mail_test_6": (
        "invalid utf-8 bytes in text/html in part 1: replaced",
        "invalid transfer encoding in multipart (multipart/related at top level)",
    ),
}


def corpus(name: str) -> ParsedMail:
    return parse_mail(corpus_bytes(name))


def build(*headers: str, body: str = "Hello.\r\n") -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


def plain_mail(*extra_headers: str, body: str = "Hello.\r\n") -> bytes:
    return build(
        "From: Jane Customer <Jane@Example.com>",
        "To: support@hub.example",
        "Subject: Where is my parcel?",
        "Date: Mon, 03 Jun 2024 10:00:00 +0200",
        *extra_headers,
        body=body,
    )


# --- The real-world corpus -----------------------------------------------------


def test_the_corpus_is_there() -> None:
    assert len(corpus_files()) == 23


@pytest.mark.parametrize("path", corpus_params(), ids=lambda path: getattr(path, "name", path))
def test_every_corpus_file_is_stored_or_refused_with_a_reason(path: Path) -> None:
    if path.name in REFUSED:
        with pytest.raises(Unparseable) as refused:
            parse_mail(path.read_bytes())
        assert all(word in refused.value.reason for word in REFUSED[path.name])
        return
    parsed = parse_mail(path.read_bytes())
    assert "@" in parsed.from_address
    assert parsed.defects == EXPECTED_DEFECTS.get(path.name, ())
    assert parsed.text.strip() or parsed.attachments or parsed.html is not None


def test_outlook_msg_is_refused_as_not_rfc822() -> None:
    with pytest.raises(Unparseable) as refused:
        corpus("mail_outlook_1")
    assert refused.value.reason == "not an RFC 822 message (looks like an Outlook .msg file)"


@pytest.mark.parametrize(
    ("name", "subject"),
    [
        ("mail_test_1", "письмо уведом-е"),  # UTF-8, base64
        ("mail_test_12", "代开各地增值税发票"),  # GB2312, base64
        ("mail_test_5", "Je prépare mon été zéro complexe !"),  # ISO-8859-1, quoted-printable
        ("mail_test_6", "Быстрее вкладывайте в золото!"),  # folded over two encoded words
        ("mail_test_13", "New Webinar: So, You Have A Disaster... Now What?"),
    ],
)
def test_encoded_subjects_decode_to_readable_text(name: str, subject: str) -> None:
    assert corpus(name).subject == subject


def test_gb2312_label_on_gbk_text_decodes_without_replacement_characters() -> None:
    subject = corpus("mail_test_9").subject
    assert subject.startswith("我把镜头拉近些")
    assert "\ufffd" not in subject


@pytest.mark.parametrize(
    ("name", "address", "display_name"),
    [
        ("mail_test_19", "bob@example.com", "alice@example.com"),
        ("mail_test_15", "do-not-reply@ncs.gov.ng", "purchasing@aquillaindustries.com"),
        ("mail_test_18", "comma.name@example.com", "LastßlName, FirstName"),
        ("mail_test_12", "baoguan@hotmail.com", "张先生"),
        ("mail_test_17", "notificaccion-clientes@bbva.mx", None),  # name equals the address
        ("mail_test_2", "meteo@regione.vda.it", None),
    ],
)
def test_sender_is_the_address_in_angle_brackets(
    name: str, address: str, display_name: str | None
) -> None:
    parsed = corpus(name)
    assert (parsed.from_address, parsed.from_name) == (address, display_name)


def test_recipients_with_addresses_as_display_names() -> None:
    assert corpus("mail_test_19").to == (
        "charlie@example.com",
        "dave@example.com",
        "frank@example.com",
    )


def test_unquoted_comma_in_a_display_name_does_not_split_the_address() -> None:
    assert corpus("mail_test_2").to == ("echo@tu-berlin.de", "mporcile@server_mail.it")


def test_corpus_attachments_keep_their_decoded_names() -> None:
    assert [a.name for a in corpus("mail_test_1").attachments] == ["ФНС_РФ558.zip"]
    (pdf,) = corpus("mail_test_11").attachments
    assert pdf.name.startswith("Prokuratura Rejonowa Warszawa-Śródmieście")
    assert pdf.size == len(pdf.data or b"") == 8932


def test_attachment_after_the_closing_boundary_is_recovered() -> None:
    (attachment,) = corpus("mail_malformed_1").attachments
    assert attachment.name == "20160523_916527.jpg_.zip"
    assert attachment.data is not None
    assert attachment.data.startswith(b"PK")


def test_parts_under_a_wrong_boundary_are_recovered() -> None:
    parsed = corpus("mail_malformed_3")
    assert parsed.html is not None
    assert "Calefactor Ultradelgado de Porcelanato" in parsed.text


def test_html_only_corpus_mail_gets_plain_text() -> None:
    parsed = corpus("mail_test_1")
    assert parsed.text.startswith("Налогоплательщик!\nИнформируем Вас")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("mail_malformed_2", "bounce (delivery status notification)"),
        ("mail_test_13", "list mail (List-Id)"),
        ("mail_test_16", "precedence: junk"),
        ("mail_test_5", "precedence: bulk"),
        ("mail_test_19", None),
    ],
)
def test_corpus_machine_mail(name: str, reason: str | None) -> None:
    assert corpus(name).automated == reason


def test_corpus_dates_are_aware() -> None:
    assert corpus("mail_test_6").date == datetime(2017, 7, 15, 9, 18, 41, tzinfo=UTC)
    assert corpus("mail_test_1").date is None


# --- Quoted replies and signatures ---------------------------------------------

NEW_TEXT = "Thanks, but the parcel still has not arrived.\n\nCould you check again?"


@pytest.mark.parametrize(
    "rest",
    [
        "On Mon, 3 Jun 2024 at 10:00, Support <support@hub.example> wrote:\n> It shipped.\n",
        "On Mon, 3 Jun 2024 at 10:00, Acme Customer Support\n<support@hub.example> wrote:\n\n"
        "> It shipped.\n",
        "Am 03.06.2024 um 10:00 schrieb Support <support@hub.example>:\n> Es ist unterwegs.\n",
        "-----Original Message-----\nFrom: Support\nSent: Monday\n\nIt shipped.\n",
        "________________________________\nFrom: Support <support@hub.example>\n"
        "Sent: Monday, June 3, 2024 10:00 AM\nTo: Jane\nSubject: Re: parcel\n\nIt shipped.\n",
        "Von: Support <support@hub.example>\nGesendet: Montag, 3. Juni 2024 10:00\n\nUnterwegs.\n",
        "Sent from my iPhone\n\n> On 3 Jun 2024, at 10:00, Support wrote:\n> It shipped.\n",
        "-- \nJane Customer\nACME Ltd, +49 30 1234567\n",
        "--\nJane\n",
        "Support wrote:\n> It shipped.\n",
    ],
)
def test_quoted_reply_and_signature_are_split_off(rest: str) -> None:
    full = f"{NEW_TEXT}\n\n{rest}"
    parsed = parse_mail(plain_mail(body=full.replace("\n", "\r\n")))
    assert parsed.text == NEW_TEXT
    assert parsed.full_text == full.rstrip("\n")


def test_interleaved_answers_stay_and_quoted_lines_go() -> None:
    body = "> What is your order number?\r\n42-1234\r\n\r\n> Since when?\r\nLast Monday.\r\n"
    parsed = parse_mail(plain_mail(body=body))
    assert parsed.text == "42-1234\n\nLast Monday."


def test_from_line_without_outlook_header_block_is_kept() -> None:
    body = "From: the shop in Berlin, via DHL.\r\nIt never arrived.\r\n"
    assert (
        parse_mail(plain_mail(body=body)).text
        == "From: the shop in Berlin, via DHL.\nIt never arrived."
    )


def test_message_that_is_only_quote_keeps_its_text() -> None:
    body = "> It shipped.\r\n> Regards\r\n"
    assert parse_mail(plain_mail(body=body)).text == "> It shipped.\n> Regards"


# --- HTML ----------------------------------------------------------------------

HOSTILE_HTML = """<html><head><title>Hi</title><style>p {color: red}</style>
<script>alert(1)</script></head><body>
<p>Hello <b>there</b>,</p><div>my order&nbsp;#42 is late.</div>
<div><img src="https://img.example/p.png" onerror="alert(1)"></div>
<p><a href="javascript:alert(2)" onclick="steal()">click</a> or
<a href="https://shop.example/o/42">track</a><br>Line three</p>
<div>On Mon, 3 Jun 2024 at 10:00, Support &lt;support@hub.example&gt; wrote:<br>
<blockquote>Your order shipped.<br>Regards</blockquote></div></body></html>"""


def test_html_only_mail_is_sanitized_and_gets_plain_text() -> None:
    parsed = parse_mail(plain_mail("Content-Type: text/html; charset=utf-8", body=HOSTILE_HTML))
    assert parsed.html is not None
    for hostile in ("<script", "alert(1)", "onerror", "onclick", "javascript:", "<style", "<title"):
        assert hostile not in parsed.html
    assert '<a href="https://shop.example/o/42"' in parsed.html
    assert parsed.text == "Hello there,\n\nmy order #42 is late.\n\nclick or track\nLine three"
    assert parsed.full_text.endswith("wrote:\n\n> Your order shipped.\n> Regards")


def test_plain_text_is_preferred_over_html() -> None:
    body = (
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain words.\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML <i>words</i>.</p>\r\n"
        "--b--\r\n"
    )
    parsed = parse_mail(plain_mail('Content-Type: multipart/alternative; boundary="b"', body=body))
    assert parsed.text == "Plain words."
    assert parsed.html == "<p>HTML <i>words</i>.</p>"


def test_absurdly_deep_html_is_not_kept_but_text_is() -> None:
    body = "<div>" * 5000 + "deep words"
    parsed = parse_mail(plain_mail("Content-Type: text/html", body=body))
    assert parsed.html is None
    assert parsed.text == "deep words"
    assert "HTML nested 5000 levels deep: not kept, text derived from it" in parsed.defects


# --- Attachments ---------------------------------------------------------------


def mixed_mail(*parts: str) -> bytes:
    body = "".join(f"--b\r\n{part}\r\n" for part in parts) + "--b--\r\n"
    return plain_mail('Content-Type: multipart/mixed; boundary="b"', body=body)


def attachment_part(disposition: str, data: bytes, content_type: str = "application/pdf") -> str:
    encoded = base64.encodebytes(data).decode().replace("\n", "\r\n")
    return (
        f"Content-Type: {content_type}\r\nContent-Disposition: {disposition}\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
    )


TEXT_PART = "Content-Type: text/plain; charset=utf-8\r\n\r\nSee attached."


def test_attachment_over_the_limit_is_listed_without_data() -> None:
    raw = mixed_mail(
        TEXT_PART,
        attachment_part('attachment; filename="big.pdf"', b"x" * 2000),
        attachment_part('attachment; filename="small.pdf"', b"y" * 1000),
    )
    parsed = parse_mail(raw, max_attachment_bytes=1000)
    big, small = parsed.attachments
    assert (big.name, big.content_type, big.size, big.data) == (
        "big.pdf",
        "application/pdf",
        2000,
        None,
    )
    assert (small.name, small.size, small.data) == ("small.pdf", 1000, b"y" * 1000)
    assert parsed.text == "See attached."


@pytest.mark.parametrize(
    ("disposition", "name"),
    [
        ("attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf", "Rechnung März.pdf"),
        (
            "attachment; filename*0*=UTF-8''Sehr%20lange%20; filename*1*=Rechnung%20%C3%BCber.pdf",
            "Sehr lange Rechnung über.pdf",
        ),
        ("attachment; filename*=iso-8859-1'de'Gr%FC%DFe.txt", "Grüße.txt"),
        ('attachment; filename="=?UTF-8?B?0YTQsNC50LsucGRm?="', "файл.pdf"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="C:\\\\Users\\\\x\\\\report.pdf"', "report.pdf"),
        ("attachment", "attachment-1"),
    ],
)
def test_attachment_names_are_decoded(disposition: str, name: str) -> None:
    (attachment,) = parse_mail(
        mixed_mail(TEXT_PART, attachment_part(disposition, b"data"))
    ).attachments
    assert attachment.name == name


def test_a_part_that_fails_is_noted_and_the_rest_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    real_part_bytes = mime._part_bytes

    def failing_for_pdf(part):
        if part.get_content_type() == "application/pdf":
            raise ValueError("broken payload")
        return real_part_bytes(part)

    monkeypatch.setattr(mime, "_part_bytes", failing_for_pdf)
    raw = mixed_mail(
        TEXT_PART,
        attachment_part('attachment; filename="bad.pdf"', b"x"),
        attachment_part('attachment; filename="ok.png"', b"png", "image/png"),
    )
    parsed = parse_mail(raw)
    assert parsed.text == "See attached."
    assert [a.name for a in parsed.attachments] == ["ok.png"]
    assert "application/pdf in part 2 skipped: ValueError: broken payload" in parsed.defects


def test_attached_message_is_kept_whole() -> None:
    inner = "From: other@example.com\r\nSubject: forwarded\r\n\r\nOriginal body.\r\n"
    raw = mixed_mail(TEXT_PART, f"Content-Type: message/rfc822\r\n\r\n{inner}")
    (attachment,) = parse_mail(raw).attachments
    assert attachment.content_type == "message/rfc822"
    assert attachment.data is not None
    assert b"Subject: forwarded" in attachment.data
    assert b"Original body." in attachment.data


# --- Broken MIME structure, built here -----------------------------------------

DINGUS = "Hi there,\r\n\r\nThis is the dingus fish.\r\n"


@pytest.mark.parametrize(
    ("content_type", "notes"),
    [
        (  # CPython's test corpus, msg_17: the boundary is declared and never used
            'multipart/mixed; boundary="BOUNDARY"',
            (
                "multipart/mixed at top level: body not split into parts, kept as text",
                "declared MIME boundary never found (multipart/mixed at top level)",
                "multipart without any parts (multipart/mixed at top level)",
            ),
        ),
        (  # msg_41: no boundary declared at all
            "multipart/alternative;",
            (
                "multipart/alternative at top level: body not split into parts, kept as text",
                "multipart without a boundary parameter (multipart/alternative at top level)",
                "multipart without any parts (multipart/alternative at top level)",
            ),
        ),
    ],
)
def test_a_multipart_without_its_boundary_shows_its_text(
    content_type: str, notes: tuple[str, ...]
) -> None:
    parsed = parse_mail(
        plain_mail("MIME-Version: 1.0", f"Content-Type: {content_type}", body=DINGUS)
    )
    assert parsed.text == "Hi there,\n\nThis is the dingus fish."
    assert parsed.attachments == ()
    assert parsed.defects == notes


def test_an_unsplit_body_is_read_in_the_declared_charset() -> None:
    raw = plain_mail('Content-Type: multipart/mixed; boundary="gone"; charset=iso-8859-1')
    latin1 = raw.replace(b"Hello.", "Grüße aus München".encode("latin-1"))
    assert parse_mail(latin1).text == "Grüße aus München"


def test_an_unsplit_body_that_is_no_text_stays_an_attachment() -> None:
    raw = plain_mail('Content-Type: multipart/mixed; boundary="gone"', body="GIF89a\x00\x01\x02")
    parsed = parse_mail(raw)
    (attachment,) = parsed.attachments
    assert (attachment.content_type, attachment.data) == (
        "application/octet-stream",
        b"GIF89a\x00\x01\x02",
    )
    assert parsed.text == ""
    assert "multipart/mixed at top level: body not split into parts, kept as attachment" in (
        parsed.defects
    )


def test_parts_under_another_boundary_than_the_declared_one_are_recovered() -> None:
    body = (
        "--real\r\nContent-Type: text/plain\r\n\r\nThe text.\r\n"
        "--real\r\nContent-Type: text/html\r\n\r\n<p>The text.</p>\r\n--real--\r\n"
    )
    parsed = parse_mail(
        plain_mail('Content-Type: multipart/alternative; boundary="declared"', body=body)
    )
    assert (parsed.text, parsed.html) == ("The text.", "<p>The text.</p>")
    assert parsed.defects[0] == (
        "multipart/alternative at top level: parts recovered using the boundary found in the body"
    )


def test_a_part_after_the_closing_boundary_is_recovered() -> None:
    late = attachment_part('attachment; filename="late.zip"', b"PK\x03\x04", "application/zip")
    raw = mixed_mail(TEXT_PART) + f"--b\r\n{late}\r\n--b--\r\n".encode()
    parsed = parse_mail(raw)
    (attachment,) = parsed.attachments
    assert (attachment.name, attachment.data) == ("late.zip", b"PK\x03\x04")
    assert parsed.defects == (
        "multipart/mixed at top level: parts after the closing boundary recovered",
    )


def test_a_missing_closing_boundary_keeps_every_part() -> None:
    raw = mixed_mail(TEXT_PART).removesuffix(b"--b--\r\n")
    parsed = parse_mail(raw)
    assert parsed.text == "See attached."
    assert parsed.defects == ("missing closing MIME boundary (multipart/mixed at top level)",)


# --- Machine mail --------------------------------------------------------------

DSN_BODY = (
    "--r\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
    "--r\r\nContent-Type: message/delivery-status\r\n\r\n"
    "Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; gone@example.com\r\n"
    "Action: failed\r\nStatus: 5.1.1\r\n--r--\r\n"
)


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        (["Auto-Submitted: auto-replied"], "I am away.", "auto-submitted: auto-replied"),
        (
            ["Auto-Submitted: auto-generated; owner-email=x@y.z"],
            "",
            "auto-submitted: auto-generated",
        ),
        (["Auto-Submitted: no"], "Hello.", None),
        (
            ['Content-Type: multipart/report; report-type=delivery-status; boundary="r"'],
            DSN_BODY,
            "bounce (delivery status notification)",
        ),
        (
            ['Content-Type: multipart/report; report-type=disposition-notification; boundary="r"'],
            DSN_BODY,
            "read receipt (disposition notification)",
        ),
        (
            ['Content-Type: multipart/mixed; boundary="r"'],
            DSN_BODY,
            "bounce (delivery status notification)",
        ),
        (["Precedence: bulk"], "News.", "precedence: bulk"),
        (["Precedence: list"], "News.", "precedence: list"),
        (["List-Id: Product news <news.shop.example>"], "News.", "list mail (List-Id)"),
        (
            ["List-Unsubscribe: <mailto:leave@shop.example>"],
            "News.",
            "list mail (List-Unsubscribe)",
        ),
        (["X-Autoreply: yes"], "Away.", "x-autoreply"),
        (["X-Autorespond: yes"], "Away.", "auto-responder (X-Autorespond)"),
        # Exchange sets it on mail from people too (distribution lists, replies): not a sign
        (["X-Auto-Response-Suppress: All"], "Hello.", None),
        ([], "Hello.", None),
    ],
)
def test_machine_mail_is_recognised(headers: list[str], body: str, reason: str | None) -> None:
    assert parse_mail(plain_mail(*headers, body=body)).automated == reason


def test_mailer_daemon_is_a_bounce() -> None:
    raw = build("From: MAILER-DAEMON@mx.example", "Subject: failure notice", body="Sorry.")
    assert parse_mail(raw).automated == "bounce (from MAILER-DAEMON)"


# --- Headers -------------------------------------------------------------------


def test_thread_ids_with_folding_and_several_ids() -> None:
    parsed = parse_mail(
        plain_mail(
            "Message-ID:\r\n <new.1@mail.example> ",
            "In-Reply-To: <prev@hub.example>\r\n <prev-alt@hub.example>",
            "References: <root@hub.example>\r\n\t<mid@hub.example>\r\n <prev@hub.example>"
            " <root@hub.example>",
        )
    )
    assert parsed.message_id == "new.1@mail.example"
    assert parsed.in_reply_to == ("prev@hub.example", "prev-alt@hub.example")
    assert parsed.references == ("root@hub.example", "mid@hub.example", "prev@hub.example")


def test_thread_ids_missing_or_without_brackets() -> None:
    parsed = parse_mail(plain_mail("Message-ID: bare@mail.example"))
    assert (parsed.message_id, parsed.in_reply_to, parsed.references) == (
        "bare@mail.example",
        (),
        (),
    )
    assert parse_mail(plain_mail()).message_id is None


def test_addresses_lowercased_and_deduplicated() -> None:
    raw = build(
        'From: "Jane Q. Customer" <Jane@Example.COM>',
        'To: Support <Support@Hub.example>, "Porcile, M." <m@x.it>, Porcile, M. <m2@x.it>',
        "Cc: support@hub.example, undisclosed-recipients:;",
        "Delivered-To: sales@hub.example",
        "Delivered-To: support@hub.example",
    )
    parsed = parse_mail(raw)
    assert (parsed.from_address, parsed.from_name) == ("jane@example.com", "Jane Q. Customer")
    assert parsed.to == ("support@hub.example", "m@x.it", "m2@x.it", "sales@hub.example")


def test_encoded_display_name_and_unencoded_utf8_subject() -> None:
    raw = (
        b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>\r\n"
        b"Subject: Lieferung f\xc3\xbcr M\xc3\xa4rz\r\n\r\nHallo\r\n"
    )
    parsed = parse_mail(raw)
    assert parsed.from_name == "Jürgen Müller"
    assert parsed.subject == "Lieferung für März"
    assert "unencoded 8-bit characters in the Subject header" in parsed.defects


def test_multibyte_character_split_across_encoded_words() -> None:
    # "ü" is C3 BC: the two bytes sit in two encoded words
    raw = plain_mail().replace(
        b"Subject: Where is my parcel?", b"Subject: =?utf-8?q?gr=C3?= =?utf-8?q?=BCn?="
    )
    assert parse_mail(raw).subject == "grün"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 03 Jun 2024 10:00:00 +0200", datetime(2024, 6, 3, 8, 0, tzinfo=UTC)),
        ("3 Jun 2024 10:00:00 -0000", datetime(2024, 6, 3, 10, 0, tzinfo=UTC)),
        ("Mon, 3 Jun 2024 10:00:00 +0200 (CEST)", datetime(2024, 6, 3, 8, 0, tzinfo=UTC)),
    ],
)
def test_dates_are_aware(value: str, expected: datetime) -> None:
    raw = build("From: a@b.example", f"Date: {value}")
    parsed = parse_mail(raw)
    assert parsed.date == expected
    assert parsed.date is not None
    assert parsed.date.utcoffset() is not None


def test_unparseable_date_is_none_and_noted() -> None:
    parsed = parse_mail(build("From: a@b.example", "Date: yesterday-ish"))
    assert parsed.date is None
    assert "unparseable Date header: 'yesterday-ish'" in parsed.defects


def test_date_offset_is_kept() -> None:
    date = parse_mail(plain_mail()).date
    assert date is not None
    assert date.utcoffset() == timedelta(hours=2)


def encoded_word(charset: str, text: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


@pytest.mark.parametrize(
    ("subject", "decoded"),
    [
        (encoded_word("utf-8", "письмо уведом-е"), "письмо уведом-е"),
        (encoded_word("gb2312", "代开各地增值税发票"), "代开各地增值税发票"),
        ("=?iso-8859-1?Q?Je_pr=E9pare_mon_=E9t=E9?=", "Je prépare mon été"),
        (  # folded over two encoded words: the space between them is no text
            encoded_word("utf-8", "Быстрее вкладывайте ")
            + "\r\n "
            + encoded_word("utf-8", "в золото!"),
            "Быстрее вкладывайте в золото!",
        ),
        # gb2312 is the label, gbk what was written (镕 is not in gb2312)
        (f"=?gb2312?B?{base64.b64encode('朱镕基'.encode('gbk')).decode()}?=", "朱镕基"),
    ],
)
def test_encoded_subjects_in_several_charsets(subject: str, decoded: str) -> None:
    parsed = parse_mail(
        plain_mail().replace(b"Subject: Where is my parcel?", f"Subject: {subject}".encode())
    )
    assert parsed.subject == decoded
    assert parsed.defects == ()


def test_addresses_as_display_names_are_names_not_addresses() -> None:
    raw = build(
        'From: "alice@example.com" <bob@example.com>',
        'To: "charlie@example.com" <charlie@example.com>, dave@example.com <dave@example.com>',
        "Cc: LastName, FirstName <comma.name@example.com>",
    )
    parsed = parse_mail(raw)
    assert (parsed.from_address, parsed.from_name) == ("bob@example.com", "alice@example.com")
    assert parsed.to == ("charlie@example.com", "dave@example.com", "comma.name@example.com")


@pytest.mark.parametrize(
    ("sender", "name"),
    [
        ("notify@bank.example <notify@bank.example>", None),  # the name is the address
        ("LastName, FirstName <comma.name@example.com>", "LastName, FirstName"),
    ],
)
def test_sender_names_that_are_no_names_or_hold_a_comma(sender: str, name: str | None) -> None:
    assert parse_mail(build(f"From: {sender}")).from_name == name


# --- Charsets ------------------------------------------------------------------


def test_unknown_charset_is_decoded_with_a_note() -> None:
    raw = plain_mail("Content-Type: text/plain; charset=gb2312x", body="café")
    parsed = parse_mail(raw)
    assert parsed.text == "café"
    assert (
        "unknown charset 'gb2312x' in text/plain at top level: decoded as utf-8" in parsed.defects
    )


def test_unknown_charset_that_is_not_utf8_is_replaced() -> None:
    raw = plain_mail("Content-Type: text/plain; charset=x-klingon").replace(b"Hello.", b"caf\xe9")
    parsed = parse_mail(raw)
    assert parsed.text == "café"
    assert parsed.defects == (
        "unknown charset 'x-klingon' in text/plain at top level: "
        "decoded as windows-1252 with replacement",
    )


def test_not_a_text_codec_is_treated_as_unknown() -> None:
    raw = plain_mail("Content-Type: text/plain; charset=unicode_escape").replace(
        b"Hello.", b"\\x41 stays"
    )
    assert parse_mail(raw).text == "\\x41 stays"


def test_latin1_label_on_windows_1252_text() -> None:
    raw = plain_mail("Content-Type: text/plain; charset=iso-8859-1").replace(
        b"Hello.", b"\x93quoted\x94"
    )
    assert parse_mail(raw).text == "\u201cquoted\u201d"


def test_nul_characters_are_removed() -> None:
    raw = plain_mail().replace(b"Hello.", b"Hel\x00lo.")
    assert parse_mail(raw).text == "Hello."


# --- Refused -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message"),
        (b"\r\n \r\n", "empty message"),
        (b"To: support@hub.example\r\nSubject: hi\r\n\r\nbody", "no From address"),
        (
            b"From: Support Team\r\nSubject: hi\r\n\r\nbody",
            "no usable From address in 'Support Team'",
        ),
        (b"%PDF-1.4\n%binary", "not an RFC 822 message (looks like a PDF document)"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00",
            "not an RFC 822 message (looks like an Outlook .msg file)",
        ),
        (b"just some text\nwithout any header\n", "not an RFC 822 message (no header lines)"),
        (
            b"From: a@b.example\r\nX-Junk: \x00\x01\r\n\r\nbody",
            "not an RFC 822 message (binary data: NUL bytes in the header area)",
        ),
    ],
)
def test_refused_with_a_clear_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(Unparseable) as refused:
        parse_mail(raw)
    assert refused.value.reason == reason


def test_random_binary_is_refused() -> None:
    noise = random.Random(0).randbytes(4096)
    with pytest.raises(Unparseable) as refused:
        parse_mail(noise)
    assert refused.value.reason.startswith("not an RFC 822 message")


def nested_mail(levels: int) -> bytes:
    nested = "".join(
        f"Content-Type: multipart/mixed; boundary=b{level}\r\n\r\n--b{level}\r\n"
        for level in range(levels)
    )
    return f"From: a@b.example\r\n{nested}".encode()


def mail_of_parts(count: int) -> bytes:
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {n}\r\n" for n in range(count))
    head = "From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    return f"{head}{parts}--b--\r\n".encode()


def test_parts_nested_deeper_than_the_limit_are_refused() -> None:
    assert parse_mail(nested_mail(20)).from_address == "a@b.example"
    with pytest.raises(Unparseable) as refused:
        parse_mail(nested_mail(21))
    assert refused.value.reason == "MIME parts nested deeper than 20 levels"


def test_more_parts_than_the_limit_are_refused_without_parsing_them_all() -> None:
    limits = mime.MimeLimits(max_parts=100)
    assert len(parse_mail(mail_of_parts(99), limits=limits).full_text.split("\n\n")) == 99
    budget = mime.PartBudget(limits)
    with pytest.raises(mime.TooComplex) as refused:
        budget.parse(mail_of_parts(5000))
    assert refused.value.reason == "more than 100 MIME parts"
    assert budget.parts == 101, "the parse stopped at the first part over the limit"


def test_parts_recovered_from_the_body_count_against_the_limit() -> None:
    epilogue = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\nlate {n}\r\n" for n in range(60))
    raw = mail_of_parts(50) + epilogue.encode()
    with pytest.raises(Unparseable) as refused:
        parse_mail(raw, limits=mime.MimeLimits(max_parts=100))
    assert refused.value.reason == "more than 100 MIME parts"


def test_parser_recursion_becomes_unparseable() -> None:
    unlimited = mime.MimeLimits(max_parts=10_000, max_depth=10_000)
    with pytest.raises(Unparseable) as refused:
        parse_mail(nested_mail(2000), limits=unlimited)
    assert refused.value.reason == "MIME parts nested too deeply to parse"


def test_leading_blank_lines_are_tolerated() -> None:
    parsed = parse_mail(b"\r\n\r\n" + plain_mail())
    assert parsed.from_address == "jane@example.com"
    assert "blank lines before the first header removed" in parsed.defects


# --- Arbitrary input -----------------------------------------------------------

FUZZ = settings(  # no example database: the tests leave nothing behind in the checkout
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def parses_or_refuses(raw: bytes) -> str:
    """'stored', or the reason it was refused."""
    try:
        parsed = parse_mail(raw)
    except Unparseable as refused:
        reason = refused.reason
    else:
        reason = "stored"
        assert "@" in parsed.from_address
        assert "\x00" not in parsed.full_text
    assert reason
    return reason


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise_anything_but_unparseable(raw: bytes) -> None:
    parses_or_refuses(raw)


MIME_PIECES = st.sampled_from(
    [
        b"\r\n",
        b"\r\n\r\n",
        b"--b\r\n",
        b"--b--\r\n",
        b"Content-Type: multipart/mixed; boundary=b\r\n",
        b"Content-Type: text/html; charset=x-unknown\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Disposition: attachment; filename*0*=utf-8''%ff; filename*1=x\r\n",
        b"Subject: =?utf-8?b?8J+Y?= =?gb2312?q?=B4=FA?=\r\n",
        b"To: a@b.c, Porcile, M. <m@x.it>, ;:<>\r\n",
        b"Date: Mon, 99 Foo 2024 25:61:00 +9999\r\n",
        b"<blockquote><script>x</script><div>",
        b"> quoted\r\nOn Mon wrote:\r\n-- \r\n",
    ]
)


@FUZZ
@given(st.lists(st.one_of(MIME_PIECES, st.binary(max_size=64)), max_size=40))
def test_mail_shaped_garbage_never_raises_anything_but_unparseable(pieces: list[bytes]) -> None:
    outcome = parses_or_refuses(b"From: a@b.example\r\n" + b"".join(pieces))
    assert not outcome.startswith("message could not be parsed")
