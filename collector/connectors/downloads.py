"""Signed, expiring download links for bundles larger than a helpdesk takes as an attachment.

The link names the bundle and its expiry and carries an HMAC-SHA256 over both with the database's own key
(``collector.store.connectors.download_key``): whoever holds the link may fetch that one bundle until then, as
whoever reads the helpdesk ticket could have opened an attachment; nothing else is readable with it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from urllib.parse import urlencode

DOWNLOAD_PATH = "/api/v1/connectors/downloads/{bundle_id}"


def link_signature(key: bytes, bundle_id: str, expires: int) -> str:
    return hmac.new(key, f"{bundle_id}\n{expires}".encode(), hashlib.sha256).hexdigest()


def download_url(public_url: str, key: bytes, bundle_id: str, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    query = urlencode({"expires": expires, "signature": link_signature(key, bundle_id, expires)})
    return f"{public_url.rstrip('/')}{DOWNLOAD_PATH.format(bundle_id=bundle_id)}?{query}"


def link_valid(key: bytes, bundle_id: str, expires: str, signature: str, now: datetime) -> bool:
    """The signature matches and the link has not expired (checked in constant time, expiry second)."""
    if not expires.isdecimal() or len(expires) > 12:
        return False
    expected = link_signature(key, bundle_id, int(expires))
    return hmac.compare_digest(expected, signature) and int(expires) >= now.timestamp()
