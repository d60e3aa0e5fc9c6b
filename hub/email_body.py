"""HTML message bodies for the inbox: sanitized again when served, shown in a sandboxed frame.

Connectors store HTML as they got it (the email parser already cleans it, others
may not), so the body is cleaned with nh3 every time it leaves. Its own
Content-Security-Policy lets nothing load or run; remote images only when the
agent asks for them.
"""

from __future__ import annotations

import nh3

FRAME = (
    '<!doctype html><html><head><meta charset="utf-8">'
    '<meta name="referrer" content="no-referrer">'
    "<style>body{{margin:8px;font:14px/1.45 system-ui,sans-serif;color:#1d2330;"
    "overflow-wrap:anywhere}}img{{max-width:100%;height:auto}}</style>"
    "</head><body>{body}</body></html>"
)
BLOCKED_IMAGES = "img-src data:"
REMOTE_IMAGES = "img-src https: http: data:"


def _absolute_image_sources(tag: str, attribute: str, value: str) -> str | None:
    """Drop image sources that are not absolute web URLs: a relative one would load
    from the hub itself once remote images are allowed."""
    if tag == "img" and attribute == "src" and not value.lower().startswith(("https:", "http:")):
        return None
    return value


def sanitized_body(html: str) -> str:
    """No scripts, styles, event handlers or javascript: URLs; links open a new tab."""
    return nh3.clean(
        html,
        clean_content_tags={"script", "style", "title"},
        set_tag_attribute_values={"a": {"target": "_blank"}},
        attribute_filter=_absolute_image_sources,
        link_rel="noopener noreferrer nofollow",
    )


def body_document(html: str) -> str:
    return FRAME.format(body=sanitized_body(html))


def body_policy(remote_images: bool) -> str:
    """The body's CSP: only our inline style; framed by the inbox and nothing else."""
    images = REMOTE_IMAGES if remote_images else BLOCKED_IMAGES
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; {images}; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    )
