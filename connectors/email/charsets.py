"""Text in whatever charset a mail declares, decoded without ever failing.

Mail often mislabels its charset (gb2312 that is utf-8, latin-1 that is windows-1252), so
decoding falls back step by step and notes what it had to guess.
"""

from __future__ import annotations

import codecs

_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "cn-gb": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "windows-874": "cp874",
    "unicode-1-1-utf-7": "utf-7",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
}
_UNLABELLED = frozenset({"", "us-ascii", "ascii", "unknown-8bit", "x-unknown", "unknown"})
_NOT_FOR_MAIL = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"})


def decode_bytes(data: bytes, charset: str | None, where: str, notes: list[str]) -> str:
    """Decode text in its declared charset, falling back (with a note) when that fails."""
    label = (charset or "").strip().strip("\"'").lower()
    if label in _UNLABELLED:
        return decode_guess(data)
    codec = _codec(_CHARSET_ALIASES.get(label, label))
    if codec is None:
        return _decode_unknown(data, label, where, notes)
    try:
        return data.decode(codec)
    except (ValueError, LookupError):
        if codec == "cp1252":
            return data.decode("latin-1")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        notes.append(f"text declared as {label} is utf-8 (in {where})")
        return text
    notes.append(f"invalid {label} bytes in {where}: replaced")
    try:
        return data.decode(codec, "replace")
    except (ValueError, LookupError):
        return decode_guess(data)


def _codec(name: str) -> str | None:
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_FOR_MAIL:
        return None
    return info.name


def decode_guess(data: bytes) -> str:
    for codec in ("utf-8", "cp1252"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _decode_unknown(data: bytes, label: str, where: str, notes: list[str]) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        notes.append(
            f"unknown charset {label!r} in {where}: decoded as windows-1252 with replacement"
        )
        return data.decode("cp1252", "replace")
    notes.append(f"unknown charset {label!r} in {where}: decoded as utf-8")
    return text


def storable(text: str) -> str:
    """No NUL characters or lone surrogates: databases refuse both."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
