"""Request info parsing, with cases modelled on kube-apiserver's own table."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from apf.api.errors import StatusError
from apf.flowcontrol.digest import RequestInfo
from apf.server.requestinfo import (
    PARSE_CACHE_MAX_KEY_CHARS,
    ParseCache,
    is_long_running,
    parse,
)

FS = "flowschemas"
GROUP = "flowcontrol.apiserver.k8s.io"


def _parse(method: str, url: str) -> RequestInfo:
    path, _, raw_query = url.partition("?")
    return parse(method, path, parse_qs(raw_query, keep_blank_values=True))


def _summary(info: RequestInfo) -> tuple[str, str, str, str, str, str, str, str]:
    return (
        info.verb,
        info.api_prefix,
        info.api_group,
        info.api_version,
        info.namespace,
        info.resource,
        info.name,
        info.subresource,
    )


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        pytest.param(
            "GET", "/api/v1/namespaces", ("list", "api", "", "v1", "", "namespaces", "", ""),
            id="list-namespaces",
        ),
        pytest.param(
            "GET", "/api/v1/namespaces/other",
            ("get", "api", "", "v1", "other", "namespaces", "other", ""),
            id="get-namespace",
        ),
        pytest.param(
            "GET", "/api/v1/namespaces/other/pods",
            ("list", "api", "", "v1", "other", "pods", "", ""),
            id="list-namespaced",
        ),
        pytest.param(
            "GET", "/api/v1/namespaces/other/pods/foo",
            ("get", "api", "", "v1", "other", "pods", "foo", ""),
            id="get-namespaced",
        ),
        pytest.param(
            "HEAD", "/api/v1/namespaces/other/pods/foo",
            ("get", "api", "", "v1", "other", "pods", "foo", ""),
            id="head-is-get",
        ),
        pytest.param(
            "GET", "/api/v1/pods", ("list", "api", "", "v1", "", "pods", "", ""),
            id="list-across-namespaces",
        ),
        pytest.param(
            "GET", "/api/v1/namespaces/other/pods/foo/status",
            ("get", "api", "", "v1", "other", "pods", "foo", "status"),
            id="subresource",
        ),
        pytest.param(
            "GET", "/api/v1/namespaces/other/pods/foo/proxy/subpath",
            ("get", "api", "", "v1", "other", "pods", "foo", "proxy"),
            id="proxy-subresource",
        ),
        pytest.param(
            "GET", "/api/v1/watch/pods", ("watch", "api", "", "v1", "", "pods", "", ""),
            id="watch-path",
        ),
        pytest.param(
            "GET", "/api/v1/pods?watch=true", ("watch", "api", "", "v1", "", "pods", "", ""),
            id="watch-query",
        ),
        pytest.param(
            "GET", "/api/v1/pods?watch=false", ("list", "api", "", "v1", "", "pods", "", ""),
            id="watch-false",
        ),
        pytest.param(
            "GET", "/api/v1/pods?watch=FALSE", ("list", "api", "", "v1", "", "pods", "", ""),
            id="watch-false-any-case",
        ),
        pytest.param(
            "GET", "/api/v1/pods?watch=0", ("list", "api", "", "v1", "", "pods", "", ""),
            id="watch-zero",
        ),
        pytest.param(
            "GET", "/api/v1/pods?watch=", ("watch", "api", "", "v1", "", "pods", "", ""),
            id="watch-empty-is-true",
        ),
        pytest.param(
            "GET", "/api/v1/pods?watch=1", ("watch", "api", "", "v1", "", "pods", "", ""),
            id="watch-one",
        ),
        pytest.param(
            "GET", "/api/v1/namespaces/other/watch/pods",
            ("get", "api", "", "v1", "other", "watch", "pods", ""),
            id="watch-after-namespace-is-not-a-verb",
        ),
        pytest.param(
            "GET", "/api/v1/watch/namespaces/other/pods",
            ("watch", "api", "", "v1", "other", "pods", "", ""),
            id="watch-namespaced",
        ),
        pytest.param(
            "GET", "/api/v1/watch/namespaces/other/pods/foo",
            ("watch", "api", "", "v1", "other", "pods", "foo", ""),
            id="watch-named",
        ),
        pytest.param(
            "GET", "/api/v1/proxy/namespaces/other/pods/foo/sub/path",
            ("proxy", "api", "", "v1", "other", "pods", "foo", ""),
            id="proxy-verb-has-no-subresource",
        ),
        pytest.param(
            "POST", "/api/v1/namespaces/other/pods",
            ("create", "api", "", "v1", "other", "pods", "", ""),
            id="create",
        ),
        pytest.param(
            "PUT", "/api/v1/namespaces/other/pods/foo",
            ("update", "api", "", "v1", "other", "pods", "foo", ""),
            id="update",
        ),
        pytest.param(
            "PATCH", "/api/v1/namespaces/other/pods/foo",
            ("patch", "api", "", "v1", "other", "pods", "foo", ""),
            id="patch",
        ),
        pytest.param(
            "DELETE", "/api/v1/namespaces/other/pods/foo",
            ("delete", "api", "", "v1", "other", "pods", "foo", ""),
            id="delete",
        ),
        pytest.param(
            "DELETE", "/api/v1/namespaces/other/pods",
            ("deletecollection", "api", "", "v1", "other", "pods", "", ""),
            id="deletecollection",
        ),
        pytest.param(
            "OPTIONS", "/api/v1/namespaces/other/pods/foo",
            ("", "api", "", "v1", "other", "pods", "foo", ""),
            id="unknown-method",
        ),
        pytest.param(
            "PUT", "/api/v1/namespaces/other/finalize",
            ("update", "api", "", "v1", "other", "namespaces", "other", "finalize"),
            id="namespace-finalize",
        ),
        pytest.param(
            "PUT", "/api/v1/namespaces/other/status",
            ("update", "api", "", "v1", "other", "namespaces", "other", "status"),
            id="namespace-status",
        ),
        pytest.param(
            "GET", f"/apis/{GROUP}/v1/{FS}", ("list", "apis", GROUP, "v1", "", FS, "", ""),
            id="grouped-list",
        ),
        pytest.param(
            "GET", f"/apis/{GROUP}/v1/{FS}/exempt",
            ("get", "apis", GROUP, "v1", "", FS, "exempt", ""),
            id="grouped-get",
        ),
        pytest.param(
            "PUT", f"/apis/{GROUP}/v1beta3/{FS}/exempt/status",
            ("update", "apis", GROUP, "v1beta3", "", FS, "exempt", "status"),
            id="grouped-status",
        ),
        pytest.param(
            "GET", f"/apis/{GROUP}/v1/watch/{FS}/exempt",
            ("watch", "apis", GROUP, "v1", "", FS, "exempt", ""),
            id="grouped-watch-path",
        ),
        pytest.param(
            "GET", f"/apis/{GROUP}/v1/{FS}/",
            ("list", "apis", GROUP, "v1", "", FS, "", ""),
            id="trailing-slash",
        ),
    ],
)  # fmt: skip
def test_parse_resource_request_attributes(
    method: str, url: str, expected: tuple[str, ...]
) -> None:
    info = _parse(method, url)

    assert info.is_resource_request
    assert _summary(info) == expected


@pytest.mark.parametrize(
    ("method", "url", "verb"),
    [
        pytest.param("GET", "/", "get", id="root"),
        pytest.param("GET", "/api", "get", id="api"),
        pytest.param("GET", "/api/v1", "get", id="legacy-version"),
        pytest.param("GET", "/apis", "get", id="apis"),
        pytest.param("GET", f"/apis/{GROUP}", "get", id="group"),
        pytest.param("GET", f"/apis/{GROUP}/v1", "get", id="group-version"),
        pytest.param("POST", "/healthz", "post", id="post-is-lower-cased-method"),
        pytest.param("HEAD", "/version", "head", id="head"),
        pytest.param("GET", "/other/v1/pods", "get", id="unknown-prefix"),
        pytest.param("GET", "/openapi/v3/apis/x", "get", id="openapi"),
        pytest.param("GET", "/apis/v1/flowschemas", "get", id="apis-without-group"),
        pytest.param("GET", "/api/v1/", "get", id="legacy-version-slash"),
    ],
)
def test_parse_non_resource_request_keeps_path_and_method(
    method: str, url: str, verb: str
) -> None:
    info = _parse(method, url)

    assert not info.is_resource_request
    assert info.verb == verb
    assert info.path == url
    assert (info.resource, info.api_group, info.parts) == ("", "", ())


@pytest.mark.parametrize(
    ("url", "name"),
    [
        pytest.param(f"/apis/{GROUP}/v1/{FS}?fieldSelector=metadata.name%3Dfoo", "foo", id="eq"),
        pytest.param(
            f"/apis/{GROUP}/v1/{FS}?fieldSelector=metadata.name%3D%3Dfoo", "foo", id="double-eq"
        ),
        pytest.param(
            f"/apis/{GROUP}/v1/{FS}?fieldSelector=a%3Db,metadata.name%3Dfoo", "foo", id="and"
        ),
        pytest.param(
            f"/apis/{GROUP}/v1/{FS}?watch=1&fieldSelector=metadata.name%3Dfoo", "foo", id="watch"
        ),
        pytest.param(f"/apis/{GROUP}/v1/{FS}?fieldSelector=metadata.name!%3Dfoo", "", id="ne"),
        pytest.param(f"/apis/{GROUP}/v1/{FS}?fieldSelector=metadata.name%3Da/b", "", id="slash"),
        pytest.param(f"/apis/{GROUP}/v1/{FS}?fieldSelector=metadata.name%3D..", "", id="dots"),
        pytest.param(f"/apis/{GROUP}/v1/{FS}?fieldSelector=metadata.name%3Da%3Db", "", id="bad"),
        pytest.param(
            f"/apis/{GROUP}/v1/{FS}?limit=x&fieldSelector=metadata.name%3Dfoo", "", id="bad-limit"
        ),
        pytest.param(
            f"/apis/{GROUP}/v1/{FS}?fieldSelector=metadata.name%3Da%5C,b", "a,b", id="escaped"
        ),
    ],
)
def test_parse_field_selector_name_pins_collection_request(url: str, name: str) -> None:
    info = _parse("GET", url)

    assert info.name == name
    assert info.verb in ("list", "watch")


def test_parse_watch_is_kept_when_other_list_options_are_invalid() -> None:
    info = _parse("GET", f"/apis/{GROUP}/v1/{FS}?watch=true&limit=abc")

    assert info.verb == "watch"


def test_parse_fills_parts_and_first_query_values() -> None:
    info = _parse("GET", "/api/v1/namespaces/ns/pods/p/log?limit=5&limit=6&container=c")

    assert info.parts == ("pods", "p", "log")
    assert info.query == {"limit": "5", "container": "c"}


def test_parse_fails_when_watch_path_names_nothing() -> None:
    with pytest.raises(StatusError, match="unable to determine kind and namespace") as caught:
        _parse("GET", "/api/v1/watch")

    assert caught.value.code == 500


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        pytest.param("GET", "/api/v1/watch/pods", True, id="watch-verb"),
        pytest.param("GET", f"/apis/{GROUP}/v1/{FS}?watch=true", True, id="watch-query"),
        pytest.param("GET", "/api/v1/proxy/nodes/n/x", True, id="proxy-verb"),
        pytest.param("POST", "/api/v1/namespaces/a/pods/p/exec", True, id="exec"),
        pytest.param("POST", "/api/v1/namespaces/a/pods/p/attach", True, id="attach"),
        pytest.param("GET", "/api/v1/namespaces/a/pods/p/log", True, id="log"),
        pytest.param("POST", "/api/v1/namespaces/a/pods/p/portforward", True, id="portforward"),
        pytest.param("GET", "/api/v1/namespaces/a/services/s/proxy/x", True, id="proxy-sub"),
        pytest.param("GET", "/debug/pprof/profile", True, id="pprof"),
        pytest.param("GET", "/debug/pprof", False, id="pprof-root"),
        pytest.param("GET", f"/apis/{GROUP}/v1/{FS}", False, id="list"),
        pytest.param("GET", f"/apis/{GROUP}/v1/{FS}/x/status", False, id="status"),
        pytest.param("GET", "/healthz", False, id="healthz"),
        pytest.param("GET", "/log", False, id="non-resource-log"),
    ],
)
def test_is_long_running_matches_kube_apiserver(method: str, url: str, expected: bool) -> None:
    assert is_long_running(_parse(method, url)) is expected


def test_parse_cache_answers_as_parse_does() -> None:
    cache = ParseCache()

    for url in (f"/apis/{GROUP}/v1/{FS}?watch=1&limit=2", "/version", "/api/v1/namespaces/a"):
        path, _, raw_query = url.partition("?")
        assert cache.parse("GET", path, raw_query) == _parse("GET", url)


def test_parse_cache_reuses_an_answer_and_keeps_the_query_apart() -> None:
    cache = ParseCache()
    path = f"/apis/{GROUP}/v1/{FS}"

    first = cache.parse("GET", path, "")

    assert cache.parse("GET", path, "") is first
    assert cache.parse("GET", path, "watch=true").verb == "watch"
    assert cache.parse("DELETE", path, "").verb == "deletecollection"


def test_parse_cache_forgets_the_oldest_when_full() -> None:
    cache = ParseCache(size=2)
    oldest = cache.parse("GET", "/a", "")
    cache.parse("GET", "/b", "")
    cache.parse("GET", "/c", "")

    assert cache.parse("GET", "/a", "") is not oldest


def test_parse_cache_fails_each_time_for_a_bad_url() -> None:
    cache = ParseCache()

    for _ in range(2):
        with pytest.raises(StatusError, match="unable to determine kind"):
            cache.parse("GET", "/api/v1/watch", "")


def test_parse_cache_does_not_keep_long_requests() -> None:
    cache = ParseCache()
    long_path = "/api/v1/namespaces/" + "n" * PARSE_CACHE_MAX_KEY_CHARS

    first = cache.parse("GET", long_path, "")
    again = cache.parse("GET", long_path, "")

    assert again == first
    assert again is not first  # parsed again: anonymous clients cannot fill memory with them
