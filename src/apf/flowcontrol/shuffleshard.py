"""Shuffle sharding: deal a hand of distinct queue indexes from a flow's hash.

The dealing is the reference dealer's, card for card, so a flow lands in the
same queues as it would on kube-apiserver.
"""

from __future__ import annotations

import math
from typing import Final

MAX_HASH_BITS: Final = 60
MAX_DECK_SIZE: Final = 1 << 26


def entropy_bits(deck_size: int, hand_size: int) -> int:
    """Bits of hash a hand consumes: ceil(log2(deck) * hand)."""
    return math.ceil(math.log2(deck_size) * hand_size)


def dealer_error(deck_size: int, hand_size: int) -> str | None:
    """Why (deck_size, hand_size) cannot be dealt, or None when it can."""
    if deck_size <= 0 or hand_size <= 0:
        return f"deckSize {deck_size} or handSize {hand_size} is not positive"
    if hand_size > deck_size:
        return f"handSize {hand_size} is greater than deckSize {deck_size}"
    if deck_size > MAX_DECK_SIZE:
        return f"deckSize {deck_size} should be at most {MAX_DECK_SIZE}"
    if entropy_bits(deck_size, hand_size) > MAX_HASH_BITS:
        return (
            f"required entropy bits of deckSize {deck_size} and handSize {hand_size} "
            f"should not be greater than {MAX_HASH_BITS}"
        )
    return None


class Dealer:
    """Deals ``hand_size`` distinct cards from ``deck_size`` for any 64-bit hash."""

    __slots__ = ("deck_size", "hand_size")

    def __init__(self, deck_size: int, hand_size: int) -> None:
        error = dealer_error(deck_size, hand_size)
        if error is not None:
            raise ValueError(error)
        self.deck_size = deck_size
        self.hand_size = hand_size

    def deal(self, hash_value: int) -> list[int]:
        """The hand for ``hash_value``, in dealing order."""
        remainders = []
        for i in range(self.hand_size):
            hash_value, remainder = divmod(hash_value, self.deck_size - i)
            remainders.append(remainder)
        hand = []
        for i, card in enumerate(remainders):
            # Skip over the cards already dealt: each earlier remainder at or
            # below the running value pushes this card one place up.
            for j in range(i, 0, -1):
                if card >= remainders[j - 1]:
                    card += 1
            hand.append(card)
        return hand
