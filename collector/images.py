"""Screenshots from customers: only PNG and JPEG, checked chunk by chunk, with the metadata a photo carries
(EXIF with GPS position and camera serial, XMP, IPTC, text chunks, comments) removed before anything is stored.

Pure: bytes in, (media type, cleaned bytes) out, or ``ImageRefused``. What the pixels show cannot be redacted
automatically; the portal says so next to the upload.
"""

from __future__ import annotations

import struct

MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_SIDE = 16_384
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_METADATA = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}
# JPEG APP1 (EXIF, XMP), APP12, APP13 (IPTC/Photoshop), APP14 is colour info (kept), COM (comments)
_JPEG_METADATA = {0xE1, 0xEC, 0xED, 0xFE}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: markers without a length


class ImageRefused(ValueError):
    """Not an image we accept; the message says why in words a customer understands."""


def _clean_png(data: bytes) -> bytes:
    out, at, first = [PNG_SIGNATURE], len(PNG_SIGNATURE), True
    while at < len(data):
        if at + 12 > len(data):
            raise ImageRefused("the PNG file is cut short")
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        end = at + 12 + length
        if end > len(data) or not kind.isalpha():
            raise ImageRefused("the PNG file is damaged")
        if first:
            if kind != b"IHDR" or length != 13:
                raise ImageRefused("the PNG file has no header")
            width, height = struct.unpack(">II", data[at + 8 : at + 16])
            if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
                raise ImageRefused("the image is too large in pixels")
            first = False
        if kind not in _PNG_METADATA:
            out.append(data[at:end])
        at = end
        if kind == b"IEND":
            return b"".join(out)
    raise ImageRefused("the PNG file is cut short")


def _clean_jpeg(data: bytes) -> bytes:
    out, at = [b"\xff\xd8"], 2
    while at < len(data):
        if data[at] != 0xFF or at + 2 > len(data):
            raise ImageRefused("the JPEG file is damaged")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _JPEG_STANDALONE:
            out.append(data[at : at + 2])
            at += 2
            continue
        if at + 4 > len(data):
            raise ImageRefused("the JPEG file is cut short")
        length = struct.unpack(">H", data[at + 2 : at + 4])[0]
        end = at + 2 + length
        if length < 2 or end > len(data):
            raise ImageRefused("the JPEG file is damaged")
        if marker not in _JPEG_METADATA:
            out.append(data[at:end])
        at = end
        if marker == 0xDA:  # start of scan: the compressed picture follows up to the end
            out.append(data[at:])
            return b"".join(out)
    raise ImageRefused("the JPEG file has no picture")


def checked_image(data: bytes) -> tuple[str, bytes]:
    """(media type, the image without its metadata); ``ImageRefused`` for anything else."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageRefused(f"the image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB")
    if data.startswith(PNG_SIGNATURE):
        return "image/png", _clean_png(data)
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", _clean_jpeg(data)
    raise ImageRefused("only PNG and JPEG images can be added")
