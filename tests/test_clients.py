"""The client's address: X-Forwarded-For only from a trusted proxy, and only its trusted part."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from hub.clients import client_address, proxy_networks

PROXY = proxy_networks(["10.0.0.0/8", "192.168.1.5"])


def request_from(peer: str, forwarded: str | None = None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return make_mocked_request("GET", "/", headers=headers).clone(remote=peer)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # not a proxy: header ignored
        ("10.1.2.3", "198.51.100.1", "198.51.100.1"),
        ("10.1.2.3", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the client wrote 6.6.6.6
        ("10.1.2.3", "198.51.100.1, 192.168.1.5", "198.51.100.1"),  # two proxies
        ("10.1.2.3", "10.9.9.9", "10.1.2.3"),  # only proxies: the nearest one
        ("10.1.2.3", "not-an-address", "10.1.2.3"),
        ("192.168.1.5", None, "192.168.1.5"),
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(peer, forwarded, expected):
    assert client_address(request_from(peer, forwarded), PROXY) == expected


def test_without_trusted_proxies_the_peer_is_the_client():
    assert client_address(request_from("10.1.2.3", "198.51.100.1"), ()) == "10.1.2.3"
