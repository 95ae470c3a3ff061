"""Customers' screenshots: PNG and JPEG only, checked chunk by chunk, metadata (EXIF/GPS, XMP, text) removed;
any other bytes are refused with a reason and never raise anything else."""

from __future__ import annotations

import contextlib
import re
import struct
import zlib

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.images import MAX_IMAGE_BYTES, PNG_SIGNATURE, ImageRefused, checked_image
from collector.models import Role

from .conftest import Collector
from .sessions import sign_in

GPS = b"GPSLatitude 31.2304 N; GPSLongitude 121.4737 E; BodySerialNumber 0042"


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(extra: bytes = b"") -> bytes:
    """A 2×1 RGB PNG as the PNG specification builds it (filter byte per row, zlib-compressed IDAT)."""
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0))
    pixels = chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00\x00\x00\xff"))
    return PNG_SIGNATURE + header + extra + pixels + chunk(b"IEND", b"")


def jpeg_with_exif() -> bytes:
    exif = b"Exif\x00\x00" + GPS
    segment = lambda marker, body: bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body  # noqa: E731
    return (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + segment(0xE1, exif)
        + segment(0xFE, b"a comment")
        + segment(0xDB, bytes(65))
        + segment(0xDA, bytes(10))
        + b"\x12\x34\xff\xd9"
    )


def test_png_metadata_is_removed_and_the_picture_kept() -> None:
    media_type, clean = checked_image(png(chunk(b"tEXt", b"Comment\x00" + GPS) + chunk(b"eXIf", GPS)))
    assert media_type == "image/png" and GPS not in clean and clean == png()


def test_jpeg_exif_and_comments_are_removed() -> None:
    media_type, clean = checked_image(jpeg_with_exif())
    assert media_type == "image/jpeg" and GPS not in clean and b"a comment" not in clean
    assert clean.startswith(b"\xff\xd8\xff\xe0") and clean.endswith(b"\x12\x34\xff\xd9")


@pytest.mark.parametrize(
    "data",
    [
        b"<svg onload='alert(1)'/>",
        b"GIF89a",
        png()[:40],
        jpeg_with_exif()[:30],
        b"\xff\xd8\xff" + b"\x00" * 10,
        bytes(MAX_IMAGE_BYTES + 1),
    ],
)
def test_other_bytes_are_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(ImageRefused):
        checked_image(data)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=200).map(lambda b: PNG_SIGNATURE + b),
        st.binary(max_size=200).map(lambda b: b"\xff\xd8\xff" + b),
    )
)
def test_any_bytes_are_an_image_or_a_refusal(data: bytes) -> None:
    with contextlib.suppress(ImageRefused):
        checked_image(data)


def _form(csrf: str, image: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf", csrf)
    form.add_field("image", image, filename="shot.png", content_type="image/png")
    return form


async def test_a_customer_adds_a_screenshot_staff_see_it_another_household_cannot(collector: Collector) -> None:
    token = collector.user("eve-api", Role.ENGINEER)
    _, ticket = await collector.call(
        "POST",
        "/api/v1/tickets",
        token,
        json={"household": "hh-1", "device": "plug", "symptom": "off", "when": "now", "priority": "P3"},
    )
    carol = await sign_in(collector, "carol", Role.CUSTOMER, "hh-1")
    await carol.get(f"/portal/tickets/{ticket['id']}")
    answer = await collector.client.post(
        f"/portal/tickets/{ticket['id']}/images",
        allow_redirects=False,
        headers={"Cookie": carol.cookie, "Accept": "text/html"},
        data=_form(carol.csrf, png(chunk(b"tEXt", b"Comment\x00" + GPS))),
    )
    assert answer.status == 303, await answer.text()
    _, _, page = await carol.get(f"/portal/tickets/{ticket['id']}")
    image = re.search(r'<img src="([^"]+)"', page)
    assert image is not None, page
    src = image.group(1)
    answer = await collector.client.get(src, headers={"Cookie": carol.cookie})
    assert answer.content_type == "image/png" and await answer.read() == png()
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    eve = await sign_in(collector, "eve", Role.ENGINEER)
    _status, _, history = await eve.get(f"/ui/tickets/{ticket['id']}")
    assert "metadata removed" in history and src.replace("/portal/", "/ui/") in history
    dave = await sign_in(collector, "dave", Role.CUSTOMER, "hh-2")
    assert (await dave.get(src))[0] == 404
    answer = await collector.client.post(
        f"/portal/tickets/{ticket['id']}/images",
        headers={"Cookie": carol.cookie, "Accept": "text/html"},
        data=_form(carol.csrf, b"<svg/>"),
        allow_redirects=False,
    )
    assert answer.status == 400 and "only PNG and JPEG" in await answer.text()
    collector.client.session.cookie_jar.clear()


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("multipart/form-data", b"garbage"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--xyz--\r\n"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nnot a header line\r\n"),
        ("multipart/mixed; boundary=xyz", b"--xyz--\r\n"),
        ("application/x-www-form-urlencoded", b"csrf=x"),
    ],
)
async def test_a_broken_upload_is_a_clear_refusal(collector: Collector, content_type: str, body: bytes) -> None:
    token = collector.user("eve-api", Role.ENGINEER)
    _, ticket = await collector.call(
        "POST",
        "/api/v1/tickets",
        token,
        json={"household": "hh-1", "device": "plug", "symptom": "off", "when": "now", "priority": "P3"},
    )
    carol = await sign_in(collector, "carol", Role.CUSTOMER, "hh-1")
    for path in (f"/portal/tickets/{ticket['id']}/images", "/ui/tickets"):
        answer = await collector.client.post(
            path,
            data=body,
            allow_redirects=False,
            headers={"Cookie": carol.cookie, "Content-Type": content_type, "Accept": "text/html"},
        )
        assert 400 <= answer.status < 500 or answer.status == 303, (path, answer.status, await answer.text())
    collector.client.session.cookie_jar.clear()
