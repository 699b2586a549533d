"""Finding a meeting link in pasted or clipboard text.

The appliance parses the link itself (`POST /bots` with `meeting_url`, contract section 2); the
client only picks the first link that looks like a Meet, Teams or Zoom meeting out of whatever
was copied (an invitation's whole text, say), so "Send a bot" can offer it.
"""

from __future__ import annotations

import re

_LINK = re.compile(
    r"https://(?:meet\.google\.com/[a-z0-9-]+"
    r"|teams\.(?:live|microsoft)\.com/[^\s<>\"']+"
    r"|(?:[a-z0-9-]+\.)?zoom\.us/(?:j|wc/join)/[^\s<>\"']+)",
    re.IGNORECASE,
)


def meeting_link_in(text: str) -> str | None:
    """The first meeting link in `text`, without trailing punctuation; None when there is none."""
    found = _LINK.search(text)
    return found.group(0).rstrip(").,;>") if found else None
