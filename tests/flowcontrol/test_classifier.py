"""Classification: matching rules, order, distinguishers, hashes, and index equivalence."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from apf.flowcontrol.classifier import (
    RECENT_ROUTES,
    SEEN_CACHE_SIZE,
    Classifier,
    FlowSchemaDigest,
    digest_flow_schema,
    flow_distinguisher,
    flow_hash,
)
from apf.flowcontrol.digest import RequestDigest, RequestInfo, UserInfo

Object = dict[str, Any]

ALL_RESOURCES: Object = {
    "verbs": ["*"],
    "apiGroups": ["*"],
    "resources": ["*"],
    "clusterScope": True,
    "namespaces": ["*"],
}


def flow_schema(
    name: str,
    rules: list[Object],
    *,
    precedence: int = 1000,
    method: str | None = None,
) -> Object:
    spec: Object = {
        "priorityLevelConfiguration": {"name": "pl"},
        "matchingPrecedence": precedence,
        "rules": rules,
    }
    if method is not None:
        spec["distinguisherMethod"] = {"type": method}
    return {"metadata": {"name": name, "uid": f"uid-{name}"}, "spec": spec}


def group(name: str) -> Object:
    return {"kind": "Group", "group": {"name": name}}


def user(name: str) -> Object:
    return {"kind": "User", "user": {"name": name}}


def service_account(namespace: str, name: str) -> Object:
    return {"kind": "ServiceAccount", "serviceAccount": {"namespace": namespace, "name": name}}


def resource_request(
    verb: str = "get",
    *,
    group: str = "",
    resource: str = "pods",
    subresource: str = "",
    namespace: str = "",
    user_name: str = "alice",
    groups: tuple[str, ...] = ("system:authenticated",),
) -> RequestDigest:
    info = RequestInfo(
        is_resource_request=True,
        path="/x",
        verb=verb,
        api_group=group,
        api_version="v1",
        namespace=namespace,
        resource=resource,
        subresource=subresource,
    )
    return RequestDigest(info, UserInfo(name=user_name, groups=groups))


def path_request(
    path: str,
    verb: str = "get",
    *,
    user_name: str = "alice",
    groups: tuple[str, ...] = ("system:authenticated",),
) -> RequestDigest:
    info = RequestInfo(is_resource_request=False, path=path, verb=verb)
    return RequestDigest(info, UserInfo(name=user_name, groups=groups))


def matched_name(schemas: list[Object], digest: RequestDigest) -> str | None:
    classifier = Classifier([digest_flow_schema(obj) for obj in schemas])
    found = classifier.classify(digest)
    return None if found is None else found.name


def one_rule_schema(rule: Object, subjects: list[Object] | None = None) -> list[Object]:
    return [flow_schema("fs", [{"subjects": subjects or [group("*")], **rule}])]


# --- table tests ------------------------------------------------------------------------

RESOURCE_CASES = [
    pytest.param(
        {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "namespaces": ["*"]},
        resource_request(namespace="ns1"),
        True,
        id="namespaced-star-matches-namespaced",
    ),
    pytest.param(
        {"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"], "namespaces": ["*"]},
        resource_request(resource="nodes"),
        False,
        id="star-namespace-never-matches-cluster-scoped",
    ),
    pytest.param(
        {"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"], "clusterScope": True},
        resource_request(resource="nodes"),
        True,
        id="cluster-scope-matches-cluster-scoped",
    ),
    pytest.param(
        {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "clusterScope": True},
        resource_request(namespace="ns1"),
        False,
        id="cluster-scope-alone-misses-namespaced",
    ),
    pytest.param(
        {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "namespaces": ["a", "b"]},
        resource_request(namespace="b"),
        True,
        id="namespace-listed",
    ),
    pytest.param(
        {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "namespaces": ["a", "*"]},
        resource_request(namespace="b"),
        False,
        id="star-among-namespaces-is-literal",
    ),
    pytest.param(
        {"verbs": ["get", "*"], "apiGroups": ["*"], "resources": ["*"], "namespaces": ["*"]},
        resource_request("list", namespace="a"),
        False,
        id="star-among-verbs-is-literal",
    ),
    pytest.param(
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["pods"], "namespaces": ["*"]},
        resource_request(namespace="a", subresource="status"),
        False,
        id="resource-without-subresource-misses-subresource",
    ),
    pytest.param(
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["pods/status"], "namespaces": ["*"]},
        resource_request(namespace="a", subresource="status"),
        True,
        id="resource-slash-subresource",
    ),
    pytest.param(
        {"verbs": ["*"], "apiGroups": ["apps"], "resources": ["*"], "namespaces": ["*"]},
        resource_request(namespace="a"),
        False,
        id="api-group-differs",
    ),
    pytest.param(
        {"verbs": ["*"], "apiGroups": ["apps"], "resources": ["*"], "namespaces": ["*"]},
        resource_request(namespace="a", group="apps", resource="deployments"),
        True,
        id="api-group-equal",
    ),
    pytest.param(
        {"verbs": ["list"], "apiGroups": ["*"], "resources": ["*"], "namespaces": ["*"]},
        resource_request("get", namespace="a"),
        False,
        id="verb-differs",
    ),
]


@pytest.mark.parametrize(("resource_rule", "digest", "expected"), RESOURCE_CASES)
def test_classifier_resource_rules(
    resource_rule: Object, digest: RequestDigest, expected: bool
) -> None:
    schemas = one_rule_schema({"resourceRules": [resource_rule]})

    found = matched_name(schemas, digest)

    assert (found == "fs") is expected


PATH_CASES = [
    pytest.param(["/healthz"], "/healthz", True, id="exact"),
    pytest.param(["/healthz"], "/healthz/etcd", True, id="plain-url-covers-subpaths"),
    pytest.param(["/healthz"], "/healthzx", False, id="no-partial-segment"),
    pytest.param(["/apis/*"], "/apis/x", True, id="suffix-wildcard-matches-below"),
    pytest.param(["/apis/*"], "/apis", False, id="suffix-wildcard-misses-itself"),
    pytest.param(["/apis/*"], "/apis/", True, id="suffix-wildcard-matches-trailing-slash"),
    pytest.param(["*"], "/anything/at/all", True, id="star"),
    pytest.param(["/a", "/b"], "/b/c", True, id="second-url"),
    pytest.param(["/metrics"], "/livez", False, id="other-path"),
]


@pytest.mark.parametrize(("urls", "path", "expected"), PATH_CASES)
def test_classifier_non_resource_urls(urls: list[str], path: str, expected: bool) -> None:
    schemas = one_rule_schema({"nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": urls}]})

    found = matched_name(schemas, path_request(path))

    assert (found == "fs") is expected


def test_classifier_non_resource_rule_ignores_resource_requests() -> None:
    schemas = one_rule_schema({"nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]})

    assert matched_name(schemas, resource_request(namespace="a")) is None


def test_classifier_non_resource_verb_must_match() -> None:
    rule = {"nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["*"]}]}

    found = matched_name(one_rule_schema(rule), path_request("/x", "post"))

    assert found is None


SUBJECT_CASES = [
    pytest.param(user("alice"), "alice", (), True, id="user-equal"),
    pytest.param(user("bob"), "alice", (), False, id="user-differs"),
    pytest.param(user("*"), "alice", (), True, id="user-star"),
    pytest.param(group("devs"), "alice", ("devs",), True, id="group-member"),
    pytest.param(group("devs"), "alice", ("ops",), False, id="group-not-member"),
    pytest.param(group("*"), "alice", (), True, id="group-star-without-groups"),
    pytest.param(
        service_account("ns1", "sa1"), "system:serviceaccount:ns1:sa1", (), True, id="sa-equal"
    ),
    pytest.param(
        service_account("ns1", "sa1"),
        "system:serviceaccount:ns1:sa2",
        (),
        False,
        id="sa-other-name",
    ),
    pytest.param(
        service_account("ns1", "*"), "system:serviceaccount:ns1:any", (), True, id="sa-star"
    ),
    pytest.param(
        service_account("ns1", "*"),
        "system:serviceaccount:ns10:any",
        (),
        False,
        id="sa-star-other-namespace",
    ),
    pytest.param(service_account("ns1", "*"), "ns1:any", (), False, id="sa-star-not-an-sa"),
    pytest.param({"kind": "User"}, "alice", (), False, id="missing-member"),
]


@pytest.mark.parametrize(("subject", "user_name", "groups", "expected"), SUBJECT_CASES)
def test_classifier_subjects(
    subject: Object, user_name: str, groups: tuple[str, ...], expected: bool
) -> None:
    rule = {"nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}
    schemas = one_rule_schema(rule, [subject])

    found = matched_name(schemas, path_request("/x", user_name=user_name, groups=groups))

    assert (found == "fs") is expected


def test_classifier_orders_by_precedence_then_name() -> None:
    rule = {
        "subjects": [group("*")],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
    }
    schemas = [
        flow_schema("zeta", [rule], precedence=500),
        flow_schema("beta", [rule], precedence=600),
        flow_schema("alpha", [rule], precedence=500),
    ]

    assert matched_name(schemas, path_request("/x")) == "alpha"


def test_classifier_returns_none_when_no_rules() -> None:
    assert matched_name([flow_schema("empty", [])], path_request("/x")) is None


def test_flow_distinguisher_by_method() -> None:
    digest = resource_request(namespace="ns1", user_name="carol")
    by_user = digest_flow_schema(flow_schema("a", [], method="ByUser"))
    by_namespace = digest_flow_schema(flow_schema("b", [], method="ByNamespace"))
    plain = digest_flow_schema(flow_schema("c", []))

    values = [flow_distinguisher(fs, digest) for fs in (by_user, by_namespace, plain)]

    assert values == ["carol", "ns1", ""]


@pytest.mark.parametrize(
    ("schema", "distinguisher", "expected"),
    [
        pytest.param("global-default", "alice", 0xF4DE3BD42CCDF6B7, id="global-default"),
        pytest.param("system-nodes", "system:node:n1", 0x7C71AE117BF78D24, id="system-nodes"),
    ],
)
def test_flow_hash_vectors(schema: str, distinguisher: str, expected: int) -> None:
    assert flow_hash(schema, distinguisher) == expected


# --- bootstrap configuration --------------------------------------------------------------


@pytest.mark.parametrize(
    ("digest", "expected"),
    [
        pytest.param(
            resource_request(groups=("system:masters", "system:authenticated")),
            "exempt",
            id="masters",
        ),
        pytest.param(
            path_request(
                "/healthz", user_name="system:anonymous", groups=("system:unauthenticated",)
            ),
            "probes",
            id="anonymous-healthz",
        ),
        pytest.param(
            resource_request(
                "list",
                namespace="default",
                user_name="system:serviceaccount:default:builder",
                groups=("system:serviceaccounts", "system:authenticated"),
            ),
            "service-accounts",
            id="service-account",
        ),
        pytest.param(
            resource_request(
                "list",
                namespace="kube-system",
                user_name="system:serviceaccount:kube-system:job",
                groups=("system:serviceaccounts", "system:authenticated"),
            ),
            "kube-system-service-accounts",
            id="kube-system-service-account",
        ),
        pytest.param(
            resource_request(
                "update",
                resource="nodes",
                subresource="status",
                user_name="system:node:n1",
                groups=("system:nodes", "system:authenticated"),
            ),
            "system-node-high",
            id="node-status",
        ),
        pytest.param(
            resource_request("list", namespace="a", user_name="alice"),
            "global-default",
            id="ordinary-user",
        ),
        pytest.param(
            path_request(
                "/metrics", user_name="system:anonymous", groups=("system:unauthenticated",)
            ),
            "global-default",
            id="anonymous-metrics",
        ),
    ],
)
def test_classifier_bootstrap_config(digest: RequestDigest, expected: str) -> None:
    bootstrap = pytest.importorskip("apf.api.bootstrap")
    schemas = [*bootstrap.MANDATORY_FLOW_SCHEMAS, *bootstrap.SUGGESTED_FLOW_SCHEMAS]

    assert matched_name(schemas, digest) == expected


# --- equivalence with a linear matcher ----------------------------------------------------


def oracle_contains(values: list[str], value: str) -> bool:
    return values == ["*"] or value in values


def oracle_subject(subject: Object, user_info: UserInfo) -> bool:
    kind = subject["kind"]
    if kind == "User":
        return subject["user"]["name"] in ("*", user_info.name)
    if kind == "Group":
        return subject["group"]["name"] == "*" or subject["group"]["name"] in user_info.groups
    sa = subject["serviceAccount"]
    prefix = f"system:serviceaccount:{sa['namespace']}:"
    if sa["name"] == "*":
        return user_info.name.startswith(prefix)
    return user_info.name == prefix + str(sa["name"])


def oracle_url(urls: list[str], path: str) -> bool:
    for url in urls:
        prefix = url[:-1] if url.endswith("*") else url
        if not prefix.endswith("/"):
            prefix += "/"
        if url == "*" or url == path or path.startswith(prefix):
            return True
    return False


def oracle_rule(rule: Object, digest: RequestDigest) -> bool:
    info = digest.request_info
    if not any(oracle_subject(s, digest.user) for s in rule["subjects"]):
        return False
    if not info.is_resource_request:
        return any(
            oracle_contains(nr["verbs"], info.verb)
            and oracle_url(nr["nonResourceURLs"], info.path)
            for nr in rule.get("nonResourceRules", [])
        )
    resource = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
    for rr in rule.get("resourceRules", []):
        if not (
            oracle_contains(rr["verbs"], info.verb)
            and oracle_contains(rr["apiGroups"], info.api_group)
            and oracle_contains(rr["resources"], resource)
        ):
            continue
        if info.namespace == "":
            if rr.get("clusterScope", False):
                return True
        elif oracle_contains(rr.get("namespaces") or [], info.namespace):
            return True
    return False


def oracle_classify(schemas: list[Object], digest: RequestDigest) -> str | None:
    ordered = sorted(
        schemas, key=lambda o: (o["spec"]["matchingPrecedence"], o["metadata"]["name"])
    )
    for obj in ordered:
        if any(oracle_rule(rule, digest) for rule in obj["spec"]["rules"]):
            return str(obj["metadata"]["name"])
    return None


NAMES = st.sampled_from(["a", "b", "c"])
VERBS = st.sampled_from(["get", "list", "create"])
PATHS = st.sampled_from(["/", "/a", "/a/", "/a/b", "/b", "/a/b/c", "/ab"])
URLS = st.sampled_from(["/", "/a", "/a/", "/a/*", "/a/b", "/b/*", "/ab", "*"])


def lists(values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just(["*"]), st.lists(values, min_size=1, max_size=2, unique=True))


SUBJECTS = st.one_of(
    st.builds(user, st.sampled_from(["alice", "bob", "*"])),
    st.builds(group, st.sampled_from(["g1", "g2", "*"])),
    st.builds(service_account, NAMES, st.sampled_from(["x", "y", "*"])),
)
RESOURCE_RULES = st.fixed_dictionaries(
    {
        "verbs": lists(VERBS),
        "apiGroups": lists(st.sampled_from(["", "apps"])),
        "resources": lists(st.sampled_from(["pods", "pods/log", "nodes"])),
        "clusterScope": st.booleans(),
        "namespaces": st.one_of(st.just([]), lists(NAMES)),
    }
)
NON_RESOURCE_RULES = st.fixed_dictionaries(
    {"verbs": lists(VERBS), "nonResourceURLs": st.lists(URLS, min_size=1, max_size=2)}
)
RULES = st.fixed_dictionaries(
    {
        "subjects": st.lists(SUBJECTS, min_size=1, max_size=3),
        "resourceRules": st.lists(RESOURCE_RULES, max_size=2),
        "nonResourceRules": st.lists(NON_RESOURCE_RULES, max_size=2),
    }
)
CONFIGS = st.lists(
    st.builds(
        lambda i, rules, precedence: flow_schema(f"fs{i}", rules, precedence=precedence),
        st.integers(0, 10**6),
        st.lists(RULES, max_size=2),
        st.integers(1, 5),
    ),
    max_size=12,
    unique_by=lambda o: o["metadata"]["name"],
)
USERS = st.builds(
    UserInfo,
    name=st.sampled_from(
        ["alice", "bob", "system:serviceaccount:a:x", "system:serviceaccount:b:y", "a:x"]
    ),
    groups=st.lists(st.sampled_from(["g1", "g2", "g3"]), max_size=2, unique=True).map(tuple),
)
RESOURCE_INFOS = st.builds(
    lambda verb, grp, res, ns: RequestInfo(
        is_resource_request=True,
        path="/x",
        verb=verb,
        api_group=grp,
        namespace=ns,
        resource=res.partition("/")[0],
        subresource=res.partition("/")[2],
    ),
    VERBS,
    st.sampled_from(["", "apps"]),
    st.sampled_from(["pods", "pods/log", "nodes", "nodes/status"]),
    st.sampled_from(["", "a", "b", "c", "d"]),
)
PATH_INFOS = st.builds(
    lambda verb, path: RequestInfo(is_resource_request=False, path=path, verb=verb),
    VERBS,
    PATHS,
)
DIGESTS = st.builds(RequestDigest, st.one_of(RESOURCE_INFOS, PATH_INFOS), USERS)


@settings(max_examples=400, deadline=None)
@given(schemas=CONFIGS, digests=st.lists(DIGESTS, min_size=1, max_size=8))
def test_classifier_index_agrees_with_linear_matcher(
    schemas: list[Object], digests: list[RequestDigest]
) -> None:
    classifier = Classifier([digest_flow_schema(obj) for obj in schemas])

    for digest in digests:
        found: FlowSchemaDigest | None = classifier.classify(digest)
        assert (None if found is None else found.name) == oracle_classify(schemas, digest)


def _by_name_classifier() -> Classifier:
    return Classifier(
        [
            digest_flow_schema(
                flow_schema(
                    "alice-only", [{"subjects": [user("alice")], "resourceRules": [ALL_RESOURCES]}]
                )
            ),
            digest_flow_schema(
                flow_schema(
                    "rest",
                    [
                        {
                            "subjects": [group("system:authenticated")],
                            "resourceRules": [ALL_RESOURCES],
                        }
                    ],
                    precedence=2000,
                )
            ),
        ]
    )


def test_a_repeated_request_gets_the_same_answer_from_the_memo() -> None:
    classifier = _by_name_classifier()
    alice, bob = resource_request(), resource_request(user_name="bob")

    first = [classifier.classify(d) for d in (alice, bob, alice, bob)]
    # The same objects again, and equal objects that are not the same.
    again = [classifier.classify(d) for d in (alice, resource_request(), bob)]

    names = [fs.name if fs else None for fs in first + again]
    assert names == [
        "alice-only",
        "rest",
        "alice-only",
        "rest",
        "alice-only",
        "alice-only",
        "rest",
    ]


def test_routes_found_by_identity_never_mix_up_requests_or_users() -> None:
    classifier = _by_name_classifier()
    infos = [
        RequestInfo(is_resource_request=True, path=f"/p/{i}", verb="get", resource="pods")
        for i in range(40)
    ]
    users = [
        UserInfo(name=name, groups=("system:authenticated",)) for name in ("alice", "bob", "carol")
    ]
    pairs = [(info, u) for info in infos for u in users]
    expected = {
        (id(info), id(u)): "alice-only" if u.name == "alice" else "rest" for info, u in pairs
    }

    # Three passes in different orders: more pairs than the direct-mapped table has slots.
    # (Pairs may share a slot or a key; a route is then worked out again, never mixed up.)
    for order in (pairs, pairs[::-1], pairs[::7] + pairs):
        for info, u in order:
            found = classifier.route(info, u)
            assert classifier.route(info, u) is found  # right after: from the table
            assert found.request_info is info
            assert found.user is u
            assert found.flow_schema is not None
            assert found.flow_schema.name == expected[(id(info), id(u))]
            assert found.distinguisher == ""  # neither schema distinguishes flows
            assert found.hash_value == flow_hash(found.flow_schema.name, "")


def test_the_memos_stay_bounded_and_skip_large_requests() -> None:
    classifier = _by_name_classifier()
    user_info = UserInfo(name="alice", groups=("system:authenticated",))
    for i in range(3 * SEEN_CACHE_SIZE):
        info = RequestInfo(is_resource_request=True, path=f"/p/{i}", verb="get", resource="pods")
        assert classifier.classify(RequestDigest(info, user_info)) is not None
    large = [
        RequestInfo(is_resource_request=True, path="/" + "p" * 5000, verb="get", resource="pods"),
        RequestInfo(
            is_resource_request=True,
            path="/p",
            verb="list",
            resource="pods",
            query={"labelSelector": "x" * 5000},
        ),
    ]
    big_user = UserInfo(name="alice", groups=("system:authenticated",), extra={"k": ("v" * 5000,)})

    answers = [classifier.classify(RequestDigest(info, user_info)) for info in large]
    answers.append(classifier.classify(RequestDigest(large[0], big_user)))

    assert [fs.name if fs else None for fs in answers] == ["alice-only"] * 3
    assert 0 < len(classifier._seen) <= SEEN_CACHE_SIZE
    recent = [route for route in classifier._recent if route is not None]
    assert 0 < len(recent) <= RECENT_ROUTES
    remembered = [(seen.request_info, seen.user) for seen in [*classifier._seen.values(), *recent]]
    assert all(info not in large and user is user_info for info, user in remembered)
