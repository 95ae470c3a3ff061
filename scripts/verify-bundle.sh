#!/usr/bin/env bash
# Verify a homediag bundle with standard tools only (tar, base64, sha256sum, openssl >= 3).
# Usage: scripts/verify-bundle.sh BUNDLE.tar.gz AGENT_PUBLIC_KEY_BASE64
# Documented in docs/bundle-format.md ("Verifying a bundle by hand").
set -euo pipefail
bundle=$(realpath "$1")
public_key=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# Listing first: refuse links, absolute paths and '..' before extracting anything.
if tar -tvzf "$bundle" | grep -Eq '^[^-]'; then echo "non-regular member" >&2; exit 1; fi
if tar -tzf "$bundle" | grep -Eq '^/|(^|/)\.\.(/|$)'; then echo "unsafe member name" >&2; exit 1; fi
mkdir content && tar -xzf "$bundle" -C content --no-same-owner --no-same-permissions
cd content
# 1. The signature, over the DSSE pre-authentication encoding of the payload.
python3 -c 'import json,sys; e=json.load(open("manifest.dsse.json")); print(e["payload"]); print(e["signatures"][0]["sig"], file=sys.stderr)' \
    > ../payload.b64 2> ../sig.b64
base64 -d ../payload.b64 > ../payload.json
base64 -d ../sig.b64 > ../sig.bin
type=application/vnd.homediag.manifest+json
{ printf 'DSSEv1 %d %s %d ' "${#type}" "$type" "$(stat -c %s ../payload.json)"; cat ../payload.json; } > ../pae.bin
# An Ed25519 SubjectPublicKeyInfo is this fixed 12-byte DER prefix followed by the raw 32-byte key.
{ printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; printf '%s' "$public_key" | base64 -d; } > ../pub.der
openssl pkey -pubin -inform DER -in ../pub.der -out ../pub.pem
openssl pkeyutl -verify -pubin -inkey ../pub.pem -rawin -in ../pae.bin -sigfile ../sig.bin
# 2. manifest.json is the signed payload, byte for byte.
cmp ../payload.json manifest.json
# 3. Every listed file's sha256 (sizes follow from the hashes).
python3 -c 'import json; [print(f["sha256"] + "  " + f["path"]) for f in json.load(open("manifest.json"))["files"]]' | sha256sum --strict -c
# 4. Nothing unlisted.
listed=$(python3 -c 'import json; print("\n".join(sorted(["manifest.dsse.json", "manifest.json"] + [f["path"] for f in json.load(open("manifest.json"))["files"]])))')
present=$(find . -type f | sed 's|^\./||' | sort)
[ "$listed" = "$present" ] || { echo "archive members differ from the manifest" >&2; exit 1; }
echo "bundle verified"
