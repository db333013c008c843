"""The one place HTTP clients are built: Ollama, OpenAI-compatible servers and the Hub.

Every client the app makes goes through here, so the same rules hold everywhere:

- **Loopback is loopback.** A URL on this computer (``localhost``, ``127.x``, ``::1``, or the
  embedded server) is reached directly: ``trust_env`` is off, so ``HTTP_PROXY``/``HTTPS_PROXY``/
  ``ALL_PROXY``, ``NETRC`` and ``SSL_CERT_FILE`` from the environment never apply to it. Other
  computers honour the environment's proxy settings as usual (httpx's ``trust_env``).
- **Explicit timeouts.** A connect timeout always (:data:`CONNECT_TIMEOUT_S`); a read timeout
  chosen by the caller (None only where a stream has its own idle timeout).
- **No ambient credentials.** The ``ollama`` client reads ``OLLAMA_API_KEY`` and ``OLLAMA_HOST``
  from the environment by itself; here the host is always explicit and the environment's key is
  dropped (an Ollama key is the user's to give, per server).
- **Closed after use** (:func:`ollama_session`, or ``async with`` on the returned client), and
  transport/protocol failures are turned into the app's own error type with the server named.

The heavy libraries (httpx, ollama, openai) are imported when a client is first built.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from qwen_desktop.core.errors import QwenDesktopError

if TYPE_CHECKING:
    import ssl

    import httpx
    import ollama

CONNECT_TIMEOUT_S = 5.0
"""Seconds to open a TCP connection (a server on this computer or the LAN answers in ms)."""

DEFAULT_READ_TIMEOUT_S = 30.0
"""Seconds between bytes of a non-streaming answer when the caller gives no other value."""


def is_loopback(url: str | None) -> bool:
    """True for the embedded server (``None``) and URLs whose host is on this computer.

    ``localhost`` (and ``*.localhost``, RFC 6761), any ``127.0.0.0/8`` address and ``::1``.
    A URL without a scheme (``127.0.0.1:11434``, as ``OLLAMA_HOST`` is often written) is read
    as ``http://``.
    """
    if url is None:
        return True
    try:
        host = urlsplit(url if "://" in url else f"http://{url}").hostname or ""
    except ValueError:
        return False
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_plain_http_remote(url: str) -> bool:
    """True when ``url`` is ``http://`` (no TLS) to another computer: a secret sent there can
    be read by anyone on the path."""
    scheme = urlsplit(url if "://" in url else f"http://{url}").scheme.lower()
    return scheme == "http" and not is_loopback(url)


def timeout(read_s: float | None, connect_s: float = CONNECT_TIMEOUT_S) -> httpx.Timeout:
    """An ``httpx.Timeout``: ``connect_s`` to connect, ``read_s`` between bytes (None: none;
    only for streams that keep their own idle timeout), the same for writes and the pool."""
    import httpx

    return httpx.Timeout(read_s, connect=connect_s)


@functools.cache
def _tls_context(trust_env: bool) -> ssl.SSLContext:
    """One verifying TLS context per policy (building one costs ~20 ms; certificates are always
    verified)."""
    import httpx

    return httpx.create_ssl_context(trust_env=trust_env)


def _client_kwargs(url: str | None, read_s: float | None, connect_s: float) -> dict[str, Any]:
    trust_env = not is_loopback(url)
    return {
        "timeout": timeout(read_s, connect_s),
        "trust_env": trust_env,
        "verify": _tls_context(trust_env),
    }


def ollama_client(
    url: str,
    *,
    read_timeout_s: float | None = DEFAULT_READ_TIMEOUT_S,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    headers: dict[str, str] | None = None,
) -> ollama.AsyncClient:
    """An ``ollama.AsyncClient`` for the server at ``url`` (close it: ``await client.close()``
    or ``async with``).

    Args:
        url: The server (``http://127.0.0.1:11434``); never taken from ``OLLAMA_HOST``.
        read_timeout_s: Seconds between bytes of an answer; None only for streams with an idle
            timeout of their own.
        connect_timeout_s: Seconds to connect.
        headers: Extra headers (e.g. ``Authorization`` for a remote Ollama behind a gateway).
    """
    import ollama

    client = ollama.AsyncClient(
        host=url, headers=headers, **_client_kwargs(url, read_timeout_s, connect_timeout_s)
    )
    if not (headers and any(k.lower() == "authorization" for k in headers)):
        # The client adds ``OLLAMA_API_KEY`` from the environment on its own; no ambient key.
        client._client.headers.pop("authorization", None)
    return client


def http_client(
    url: str | None,
    *,
    read_timeout_s: float | None = DEFAULT_READ_TIMEOUT_S,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    base_url: bool = False,
    follow_redirects: bool = False,
    verify_tls: bool = True,
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    """A plain ``httpx.AsyncClient`` for requests to ``url``'s host (close it after use).

    Args:
        url: The server the client talks to; decides the proxy policy (loopback: none).
        read_timeout_s: Seconds between bytes.
        connect_timeout_s: Seconds to connect.
        base_url: Use ``url`` as the client's base URL (requests then take paths).
        follow_redirects: Follow redirects (the Hub redirects file downloads to its CDN; a
            redirect to another host keeps the policy decided for ``url``).
        verify_tls: Verify certificates (False only for probes of the app's own loopback
            server, which speaks plain http anyway).
        headers: Default headers.
    """
    import httpx

    kwargs = _client_kwargs(url, read_timeout_s, connect_timeout_s)
    if not verify_tls:
        kwargs["verify"] = False
    if base_url and url:
        kwargs["base_url"] = url
    return httpx.AsyncClient(follow_redirects=follow_redirects, headers=headers, **kwargs)


def openai_http_client(
    url: str,
    *,
    read_timeout_s: float | None,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
) -> Any:
    """The ``httpx`` client to hand to ``openai.AsyncOpenAI(http_client=…)`` for ``url``
    (the openai library's own defaults: connection limits, redirects)."""
    import openai

    # The openai library brings its own httpx (``httpx2`` in recent releases): its own types.
    return openai.DefaultAsyncHttpxClient(
        timeout=openai.Timeout(read_timeout_s, connect=connect_timeout_s),
        trust_env=not is_loopback(url),
        verify=True,
    )


def describe_failure(error: BaseException) -> tuple[str, bool]:
    """A short description of a client failure, and whether the server was reachable at all.

    Returns:
        ``(words, reached)``: ``reached`` is False for connection failures (refused, DNS,
        connect timeout), True when a server answered but the answer was wrong.
    """
    import httpx
    import ollama

    if isinstance(error, ollama.ResponseError):
        status = f" (HTTP {error.status_code})" if error.status_code > 0 else ""
        return f"{error.error}{status}", True
    if isinstance(error, httpx.ConnectTimeout):
        return "it did not accept the connection in time", False
    if isinstance(error, httpx.ConnectError | ConnectionError):
        return "nothing accepts connections there", False
    if isinstance(error, httpx.TimeoutException):
        return "it stopped answering (timed out)", True
    if isinstance(error, httpx.RemoteProtocolError):
        return f"it broke the HTTP protocol ({error})", True
    if isinstance(error, httpx.HTTPError):
        return f"{type(error).__name__}: {error}", True
    if isinstance(error, ValueError):  # JSONDecodeError, pydantic ValidationError
        return "its answer was not what Ollama sends (malformed or wrong-shaped JSON)", True
    return f"{type(error).__name__}: {error}", True


@contextlib.asynccontextmanager
async def ollama_session(
    url: str,
    *,
    doing: str,
    error: type[QwenDesktopError] = QwenDesktopError,
    action: str = "Check the request and the server's log; try again.",
    read_timeout_s: float | None = DEFAULT_READ_TIMEOUT_S,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
) -> AsyncIterator[ollama.AsyncClient]:
    """``async with ollama_session(url, doing="list its models") as client:`` — a client closed
    on exit; any transport or protocol failure inside the block becomes ``error``.

    Args:
        url: The Ollama server.
        doing: What the block does, for the message ("Ollama at URL could not <doing>").
        error: The app error type to raise (``LibraryError``, ``DownloadError``…).
        action: What to do when the server answered but refused or answered wrongly.

    Raises:
        error: The server refused (its own words quoted), could not be reached, timed out or
            answered something that is not Ollama's protocol. Errors that already are app
            errors pass through unchanged.
    """
    import httpx
    import ollama

    client = ollama_client(url, read_timeout_s=read_timeout_s, connect_timeout_s=connect_timeout_s)
    try:
        yield client
    except QwenDesktopError:
        raise
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError, ValueError) as exc:
        words, reached = describe_failure(exc)
        if reached:
            raise error(f"Ollama at {url} could not {doing}: {words}.", action) from exc
        raise error(
            f"No Ollama answers at {url} ({words}).",
            "Start the app (it runs its own Ollama) or `ollama serve`, or pass --ollama URL.",
        ) from exc
    finally:
        with contextlib.suppress(Exception):
            await client.close()
