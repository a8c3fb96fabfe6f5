"""Shuffle-sharding dealer: reference hands, validity rules, distinct cards."""

import hashlib
import random

import pytest

from apf.flowcontrol.shuffleshard import Dealer, dealer_error


def flow_hash(flow_schema: str, distinguisher: str) -> int:
    data = flow_schema.encode() + b"\x00" + distinguisher.encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "little")


@pytest.mark.parametrize(
    ("flow_schema", "distinguisher", "expected_hash", "deck", "hand"),
    [
        pytest.param(
            "global-default",
            "alice",
            0xF4DE3BD42CCDF6B7,
            128,
            [55, 62, 126, 125, 105, 1],
            id="global-default",
        ),
        pytest.param(
            "system-nodes",
            "system:node:n1",
            0x7C71AE117BF78D24,
            64,
            [36, 37, 40, 20, 55, 27],
            id="system-nodes",
        ),
    ],
)
def test_dealer_deals_spec_vectors(
    flow_schema: str, distinguisher: str, expected_hash: int, deck: int, hand: list[int]
) -> None:
    hash_value = flow_hash(flow_schema, distinguisher)

    dealt = Dealer(deck, 6).deal(hash_value)

    assert hash_value == expected_hash
    assert dealt == hand


@pytest.mark.parametrize(
    ("deck", "hand", "fragment"),
    [
        pytest.param(0, 1, "not positive", id="zero-deck"),
        pytest.param(4, 0, "not positive", id="zero-hand"),
        pytest.param(4, 5, "greater than deckSize", id="hand-over-deck"),
        pytest.param((1 << 26) + 1, 1, "at most", id="deck-too-big"),
        pytest.param(1 << 26, 3, "entropy", id="too-many-bits"),
        pytest.param(128, 9, "entropy", id="hand-too-wide"),
    ],
)
def test_dealer_error_names_the_problem_when_invalid(deck: int, hand: int, fragment: str) -> None:
    error = dealer_error(deck, hand)

    assert error is not None
    assert fragment in error
    with pytest.raises(ValueError, match=fragment):
        Dealer(deck, hand)


@pytest.mark.parametrize(
    ("deck", "hand"),
    [(1, 1), (64, 8), (128, 8), (1 << 26, 2), (512, 6)],
)
def test_dealer_error_is_none_when_valid(deck: int, hand: int) -> None:
    assert dealer_error(deck, hand) is None


def test_dealer_deals_distinct_cards_within_the_deck() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        deck = rng.randint(1, 512)
        hand = rng.randint(1, min(deck, 6))
        dealer = Dealer(deck, hand)

        cards = dealer.deal(rng.getrandbits(64))

        assert len(cards) == hand
        assert len(set(cards)) == hand
        assert all(0 <= card < deck for card in cards)


def test_dealer_deals_whole_deck_when_hand_equals_deck() -> None:
    cards = Dealer(5, 5).deal(123456789)

    assert sorted(cards) == [0, 1, 2, 3, 4]
