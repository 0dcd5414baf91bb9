"""Robust HTTP downloads and checksum-verified copies of pre-staged files.

:func:`download` streams to ``<dest>.part`` next to the destination, resumes an interrupted
transfer with an HTTP ``Range`` request, detects truncation (fewer bytes than announced by
``Content-Length``/``Content-Range``), verifies an optional sha256 and size and only then
renames the file into place (no partial output under the final name).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from pathlib import Path

import requests

from dhbv.errors import DhbvInputError
from dhbv.io.atomic import atomic_path

log = logging.getLogger(__name__)

_RETRY_EXC = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def sha256_of(path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, sha256: str | None, size: int | None, what: str) -> None:
    if size is not None and path.stat().st_size != int(size):
        got = path.stat().st_size
        path.unlink(missing_ok=True)
        raise DhbvInputError(f"{what}: size {got} B differs from the expected {size} B; file removed, fetch it again")
    if sha256 is not None:
        got = sha256_of(path)
        if got.lower() != sha256.lower():
            path.unlink(missing_ok=True)
            raise DhbvInputError(f"{what}: sha256 {got} differs from the expected {sha256}; file removed, check the source or the registry checksum")


def _expected_total(r: requests.Response, offset: int) -> int | None:
    cr = r.headers.get("Content-Range")
    if cr and "/" in cr:
        total = cr.rsplit("/", 1)[1].strip()
        if total.isdigit():
            return int(total)
    cl = r.headers.get("Content-Length")
    if cl and cl.isdigit():
        return offset + int(cl)
    return None


def download(url: str, dest, *, sha256: str | None = None, size: int | None = None, retries: int = 3,
             timeout: float = 60.0, chunk_size: int = 1 << 16, backoff: float = 1.0,
             session: requests.Session | None = None) -> Path:
    """Download ``url`` to ``dest`` robustly and return ``dest``.

    * An existing ``dest`` whose sha256 (or, without a checksum, size) matches is kept.
    * Data go to ``dest.part``; after an interruption (connection error or a body shorter than
      announced) the next attempt asks for the rest with ``Range: bytes=<have>-`` (a server that
      ignores ranges answers 200 and the file restarts). ``retries`` extra attempts, with
      ``backoff`` × attempt seconds between them.
    * 404 → :class:`DhbvInputError` naming the URL (no retry); other 4xx likewise; 5xx retried.
    * A body still truncated after the last attempt → error ("truncated"), the part file is
      kept for a later resume. Size/sha256 mismatch → the file is removed and an error raised.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and (sha256 or size is not None):
        try:
            _verify(dest, sha256, size, f"existing {dest}")
            log.info("%s already present and verified", dest)
            return dest
        except DhbvInputError:
            log.info("existing %s failed verification; downloading again", dest)
    part = dest.with_name(dest.name + ".part")
    sess = session or requests.Session()
    total: int | None = None
    last_err = ""
    try:
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff * attempt)
            have = part.stat().st_size if part.exists() else 0
            headers = {"Accept-Encoding": "identity"}
            if have:
                headers["Range"] = f"bytes={have}-"
            try:
                with sess.get(url, headers=headers, stream=True, timeout=timeout) as r:
                    if r.status_code == 404:
                        raise DhbvInputError(f"download failed: {url} not found (HTTP 404); check the URL in the dataset registry")
                    if r.status_code == 416 and have:  # range beyond the end: part may already be complete
                        total = total or have
                        break
                    if 400 <= r.status_code < 500:
                        raise DhbvInputError(f"download failed: {url} answered HTTP {r.status_code} {r.reason}; check the URL/access rights")
                    if r.status_code >= 500:
                        last_err = f"HTTP {r.status_code}"
                        continue
                    if r.status_code == 206 and have:
                        start = r.headers.get("Content-Range", "bytes 0-").split()[1].split("-")[0]
                        if not start.isdigit() or int(start) != have:
                            have, mode = 0, "wb"  # inconsistent range answer: start over
                        else:
                            mode = "ab"
                    else:
                        have, mode = 0, "wb"
                    total = _expected_total(r, have)
                    with open(part, mode) as fh:
                        for block in r.iter_content(chunk_size=chunk_size):
                            if block:
                                fh.write(block)
            except _RETRY_EXC as exc:
                got = part.stat().st_size if part.exists() else 0
                if total is not None and got < total or "IncompleteRead" in str(exc):
                    last_err = f"truncated: connection closed after {got} of {total if total is not None else '?'} bytes"
                else:
                    last_err = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                log.warning("download of %s interrupted (%s); attempt %d/%d", url, last_err, attempt + 1, retries + 1)
                continue
            got = part.stat().st_size if part.exists() else 0
            if total is not None and got < total:
                last_err = f"truncated: got {got} of {total} bytes"
                log.warning("download of %s %s; attempt %d/%d", url, last_err, attempt + 1, retries + 1)
                continue
            if total is not None and got > total:
                part.unlink(missing_ok=True)
                raise DhbvInputError(f"download of {url}: received {got} bytes, more than the announced {total}; file removed")
            break
        else:
            if "truncated" in last_err:
                raise DhbvInputError(f"download of {url} truncated after {retries + 1} attempts ({last_err}); the partial file {part} is kept for resuming")
            raise DhbvInputError(f"download of {url} failed after {retries + 1} attempts ({last_err}); check the network or retry later")
        _verify(part, sha256, size, f"download of {url}")
        os.replace(part, dest)
    finally:
        if session is None:
            sess.close()
    log.info("downloaded %s -> %s", url, dest)
    return dest


def copy_prestaged(src, dest, *, sha256: str | None = None, size: int | None = None, link: bool = False) -> Path:
    """Copy (or hard-link with ``link``) a pre-staged file to ``dest`` after verifying it.

    The source is checked (sha256/size) before anything is written; the copy goes through a
    temporary file in the destination folder and an atomic rename.
    """
    src, dest = Path(src), Path(dest)
    if not src.exists():
        raise DhbvInputError(f"pre-staged file {src} does not exist; put it there or switch data.source to online")
    if src.is_dir():
        raise DhbvInputError(f"pre-staged path {src} is a folder; use copy_prestaged_folder")
    _verify_readonly(src, sha256, size)
    with atomic_path(dest) as tmp:
        if link:
            os.unlink(tmp)
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copy2(src, tmp)
        else:
            shutil.copy2(src, tmp)
    return dest


def _verify_readonly(path: Path, sha256: str | None, size: int | None) -> None:
    if size is not None and path.stat().st_size != int(size):
        raise DhbvInputError(f"pre-staged file {path}: size {path.stat().st_size} B differs from the expected {size} B; replace it")
    if sha256 is not None:
        got = sha256_of(path)
        if got.lower() != sha256.lower():
            raise DhbvInputError(f"pre-staged file {path}: sha256 {got} differs from the expected {sha256}; replace it")


def read_sha256sums(path) -> dict[str, str]:
    """Parse a ``sha256sum`` listing (``<hex>  <relative path>``) into {path: hex}."""
    out = {}
    for ln in Path(path).read_text().splitlines():
        ln = ln.strip()
        if not ln or ln.startswith("#"):
            continue
        digest, name = ln.split(maxsplit=1)
        out[name.lstrip("*").strip()] = digest
    return out


def copy_prestaged_folder(src_dir, dest_dir, *, sums_file: str | None = "SHA256SUMS", files=None) -> list[Path]:
    """Copy a pre-staged folder (``files`` or all), verifying each file against ``sums_file``.

    Files listed in the sums file must match; with ``files`` given, each must exist.
    """
    src_dir, dest_dir = Path(src_dir), Path(dest_dir)
    if not src_dir.is_dir():
        raise DhbvInputError(f"pre-staged folder {src_dir} does not exist; stage the data there or switch data.source to online")
    sums = read_sha256sums(src_dir / sums_file) if sums_file and (src_dir / sums_file).exists() else {}
    names = list(files) if files is not None else sorted(str(p.relative_to(src_dir)) for p in src_dir.rglob("*") if p.is_file())
    out = []
    for name in names:
        out.append(copy_prestaged(src_dir / name, dest_dir / name, sha256=sums.get(name)))
    return out


def retrieve_file(dest, *, source: str, url: str | None = None, prestaged_path=None, sha256: str | None = None,
                  size: int | None = None, manual: str | None = None, **download_kw) -> Path:
    """Fetch one file according to ``data.source``: "online" (download ``url``) or
    "prestaged" (verified copy of ``prestaged_path``). Without a usable location the error
    repeats ``manual`` (how to obtain the file) and names the expected path."""
    dest = Path(dest)
    if source == "online":
        if url:
            return download(url, dest, sha256=sha256, size=size, **download_kw)
        if prestaged_path and Path(prestaged_path).exists():
            return copy_prestaged(prestaged_path, dest, sha256=sha256, size=size)
    elif source == "prestaged":
        if prestaged_path:
            return copy_prestaged(prestaged_path, dest, sha256=sha256, size=size)
    else:
        raise DhbvInputError(f"data.source must be 'online' or 'prestaged', got {source!r}")
    where = f" (expected pre-staged file {prestaged_path})" if prestaged_path else ""
    raise DhbvInputError(
        f"cannot obtain {dest.name}{where}: {manual or 'no URL configured for data.source=' + source}; "
        f"place the file at {dest} or at the pre-staged path"
    )
