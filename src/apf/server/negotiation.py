"""Response content negotiation: which representation an ``Accept`` header asks for.

kube-apiserver serves JSON, YAML and protobuf, plus two server-side transforms
selected by media type parameters: ``as=Table`` (what ``kubectl get`` asks
for) and ``as=PartialObjectMetadata``/``PartialObjectMetadataList`` (metadata
only). We serve all of them except protobuf; a header that allows nothing we
can produce is answered 406 NotAcceptable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from apf.api import errors

META_GROUP = "meta.k8s.io"
TABLE_VERSIONS = ("v1", "v1beta1")
SUPPORTED_MEDIA_TYPES = "application/json, application/yaml, application/json;stream=watch"


class Representation(enum.StrEnum):
    OBJECT = "Object"
    TABLE = "Table"
    METADATA = "PartialObjectMetadata"


class Encoding(enum.StrEnum):
    JSON = "application/json"
    YAML = "application/yaml"


@dataclass(frozen=True, slots=True)
class Output:
    """What to send: an encoding, and the object itself or a ``meta.k8s.io`` transform of it."""

    encoding: Encoding = Encoding.JSON
    representation: Representation = Representation.OBJECT
    # The meta.k8s.io version of a Table or PartialObjectMetadata transform.
    meta_version: str = "v1"

    def content_type(self) -> str:
        """The Content-Type header value of a response in this representation."""
        if self.representation is Representation.OBJECT:
            return str(self.encoding)
        return f"{self.encoding};as={self.representation};v={self.meta_version};g={META_GROUP}"


@dataclass(frozen=True, slots=True)
class _Offer:
    media_type: str
    params: dict[str, str]
    quality: float


def negotiate(accept: str) -> Output:
    """The representation ``accept`` prefers among those we serve; 406 when none fits."""
    offers = _parse_accept(accept)
    if not offers:
        return Output()
    for offer in sorted(offers, key=lambda o: -o.quality):
        if offer.quality <= 0:
            continue
        chosen = _match(offer)
        if chosen is not None:
            return chosen
    raise errors.not_acceptable(
        f"only the following media types are accepted: {SUPPORTED_MEDIA_TYPES}"
    )


def _parse_accept(accept: str) -> list[_Offer]:
    offers: list[_Offer] = []
    for raw in accept.split(","):
        parts = [p.strip() for p in raw.split(";")]
        if not parts[0]:
            continue
        params: dict[str, str] = {}
        for part in parts[1:]:
            name, _, value = part.partition("=")
            params[name.strip().lower()] = value.strip().strip('"')
        quality = _quality(params.pop("q", "1"))
        offers.append(_Offer(parts[0].lower(), params, quality))
    return offers


def _quality(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        return 0.0


def _match(offer: _Offer) -> Output | None:
    encoding = _encoding(offer.media_type)
    if encoding is None:
        return None
    transform = offer.params.get("as")
    if transform is None:
        return Output(encoding=encoding)
    if offer.params.get("g") != META_GROUP or offer.params.get("v") not in TABLE_VERSIONS:
        return None
    version = offer.params["v"]
    if transform == "Table":
        return Output(encoding, Representation.TABLE, version)
    if transform in ("PartialObjectMetadata", "PartialObjectMetadataList"):
        return Output(encoding, Representation.METADATA, version)
    return None


def _encoding(media_type: str) -> Encoding | None:
    if media_type in ("application/json", "application/*", "*/*"):
        return Encoding.JSON
    if media_type == "application/yaml":
        return Encoding.YAML
    return None
