"""Whose address a request is judged by: the spoofing matrix of the reliability reference (S5), as unit cases."""

from __future__ import annotations

import ipaddress

import pytest

from bridge.web.sources import SOURCE_ALIASES, client_address, contains, forwarded_hops, parse_address, parse_networks

TV = "52.89.214.238"
ATTACKER = "198.51.100.66"
TRUSTED = parse_networks(["127.0.0.1", "10.0.0.0/8", "::1"], aliases=False)
TRADINGVIEW = parse_networks(["tradingview"])


def judged(peer: str, xff: list[str] | None = None, header: str = "x-forwarded-for") -> str:
    return client_address(peer, forwarded_hops(xff or [], header), TRUSTED).shown


@pytest.mark.parametrize(
    ("case", "peer", "values", "expected"),
    [
        ("direct, no header", ATTACKER, [], ATTACKER),
        ("untrusted peer forging XFF", ATTACKER, [TV], ATTACKER),
        ("untrusted loopback-looking forgery", ATTACKER, ["127.0.0.1"], ATTACKER),
        ("tunnel on this host, real client", "127.0.0.1", [TV], TV),
        ("cloudflared-style append after a client forgery", "127.0.0.1", [f"{TV}, {ATTACKER}"], ATTACKER),
        ("client forged the left, proxy appended TV", "127.0.0.1", [f"{ATTACKER}, {TV}"], TV),
        ("two trusted hops then the client", "127.0.0.1", [f"{ATTACKER}, {TV}, 10.1.2.3"], TV),
        ("repeated header fields join in order", "127.0.0.1", [ATTACKER, TV], TV),
        ("every hop trusted: leftmost", "127.0.0.1", ["10.0.0.5, 10.0.0.6"], "10.0.0.5"),
        ("garbage at the right is nobody", "127.0.0.1", [f"{TV}, not-an-ip"], "not-an-ip"),
        ("port and IPv6 peer", "::1", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("IPv4-mapped peer is the IPv4 proxy", "::ffff:127.0.0.1", [TV], TV),
    ],
)
def test_client_address_walks_forwarded_hops_from_the_right_only_behind_a_trusted_peer(
    case: str, peer: str, values: list[str], expected: str
) -> None:
    assert judged(peer, values) == expected, case


def test_the_rfc_7239_forwarded_header_is_read_the_same_way() -> None:
    values = [f'for={ATTACKER};proto=https, for="{TV}:4711";by=10.0.0.1', "for=10.0.0.9"]
    assert judged("127.0.0.1", values, "forwarded") == TV
    assert judged("127.0.0.1", ["for=unknown"], "forwarded") == "unknown"
    assert judged(ATTACKER, [f"for={TV}"], "forwarded") == ATTACKER


def test_forgeries_never_pass_the_tradingview_allowlist() -> None:
    for peer, values in [(ATTACKER, [TV]), ("127.0.0.1", [f"{TV}, {ATTACKER}"]), ("127.0.0.1", [f"{TV}, junk"])]:
        client = client_address(peer, forwarded_hops(values, "x-forwarded-for"), TRUSTED)
        assert not contains(TRADINGVIEW, client.address), (peer, values)
    honest = client_address("127.0.0.1", forwarded_hops([f"{ATTACKER}, {TV}"], "x-forwarded-for"), TRUSTED)
    assert contains(TRADINGVIEW, honest.address)


def test_aliases_expand_to_the_published_sender_addresses() -> None:
    assert {str(n.network_address) for n in TRADINGVIEW} == {
        "52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7",
    }  # fmt: skip
    assert SOURCE_ALIASES["trendspider"] == ("3.12.143.24",)
    mixed = parse_networks(["TrendSpider", "203.0.113.0/24"])
    assert contains(mixed, ipaddress.ip_address("203.0.113.200"))
    assert contains(mixed, ipaddress.ip_address("3.12.143.24"))
    assert not contains(mixed, ipaddress.ip_address("203.0.114.1"))
    assert not contains(mixed, parse_address("2001:db8::1"))


@pytest.mark.parametrize("entry", ["tradingvew", "300.1.1.1", "10.0.0.0/33", ""])
def test_a_misspelt_source_is_a_config_error_naming_it(entry: str) -> None:
    with pytest.raises(ValueError, match="is not"):
        parse_networks([entry])


def test_sender_aliases_are_not_proxies() -> None:
    with pytest.raises(ValueError):
        parse_networks(["tradingview"], aliases=False)
