"""Assemble the server from its options and a storage backend, and run it until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn
from prometheus_client import generate_latest

from apf.api import schema
from apf.api.errors import StatusError
from apf.api.kinds import GROUP
from apf.flowcontrol import ensurer
from apf.flowcontrol.clock import RealClock
from apf.flowcontrol.controller import Controller
from apf.flowcontrol.digest import RequestInfo, UserInfo
from apf.flowcontrol.metrics import Metrics
from apf.registry.store import Store
from apf.server import authz, certs, impersonation, requestinfo
from apf.server.app import ApiServer, Filters
from apf.server.authn import Authenticator
from apf.server.handlers.discovery import Discovery
from apf.server.handlers.health import HealthEndpoint
from apf.server.handlers.info import OpenApi, dump, prometheus_text
from apf.server.handlers.resources import ResourceHandler
from apf.server.http import Request, Response
from apf.server.maxinflight import MaxInFlight
from apf.server.options import ServerOptions
from apf.server.routing import Router
from apf.server.tlsproto import TlsHttpToolsProtocol
from apf.storage.interface import Storage

logger = logging.getLogger(__name__)


@dataclass
class Readiness:
    """Start-up milestones that ``/readyz`` reports on."""

    storage_ok: bool = False
    bootstrapped: bool = False
    config_consumed: bool = False
    shutting_down: bool = False


def _check(flag: Callable[[], bool], reason: str) -> Callable[[], str | None]:
    return lambda: None if flag() else reason


def bind_socket(options: ServerOptions) -> socket.socket:
    """Bind the listening socket first, so port 0 resolves before the kubeconfig is written."""
    family = socket.AF_INET6 if ":" in options.bind_address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((options.bind_address, options.secure_port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def serve(options: ServerOptions, storage: Storage) -> None:
    """Run until SIGINT/SIGTERM: storage, bootstrap, APF controller, HTTPS server."""
    sock = bind_socket(options)
    port = sock.getsockname()[1]
    host = options.bind_address if ":" not in options.bind_address else f"[{options.bind_address}]"
    pki = certs.ensure_pki(options.data_dir, hosts=[options.bind_address])
    kubeconfig = options.data_dir / "admin.kubeconfig"
    certs.write_kubeconfig(kubeconfig, server_url=f"https://{host}:{port}", pki=pki)

    readiness = Readiness()
    await storage.start()
    readiness.storage_ok = True
    store = Store(storage)
    controller = _controller(options, store)
    metrics = controller.metrics if controller else Metrics()
    app = ApiServer(build_filters(options, store, controller, readiness, metrics))
    config = uvicorn.Config(
        app,
        http=TlsHttpToolsProtocol,
        loop="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        # The peer address comes from the connection, as in kube-apiserver; no
        # X-Forwarded-* rewriting (and no middleware call per request).
        proxy_headers=False,
        timeout_keep_alive=120,
        ssl_certfile=str(options.tls_cert_file or pki.serving_cert),
        ssl_keyfile=str(options.tls_private_key_file or pki.serving_key),
    )
    config.load()
    config.ssl = certs.server_ssl_context(
        cert_file=options.tls_cert_file or pki.serving_cert,
        key_file=options.tls_private_key_file or pki.serving_key,
        client_ca_files=[p for p in (pki.ca_cert, options.client_ca_file) if p is not None],
    )
    server = uvicorn.Server(config)
    background = [asyncio.ensure_future(_bootstrap(store, readiness))]
    if controller is not None:
        await controller.start()
    readiness.config_consumed = True
    _install_signal_handlers(server, readiness)
    logger.info(
        "serving",
        extra={
            "address": f"https://{host}:{port}",
            "kubeconfig": str(kubeconfig),
            "try": f"kubectl --kubeconfig {kubeconfig} get flowschemas",
        },
    )
    # What start-up built (schemas, routes, configuration) lives as long as the server:
    # move it out of the collector's generations so collections only scan request garbage.
    gc.collect()
    gc.freeze()
    try:
        await server.serve(sockets=[sock])
    finally:
        for task in background:
            task.cancel()
        if controller is not None:
            await controller.stop()
        await storage.close()


def _controller(options: ServerOptions, store: Store) -> Controller | None:
    """The APF engine, or None when APF is off."""
    if not options.enable_priority_and_fairness:
        return None
    return Controller(
        store,
        RealClock(),
        server_concurrency_limit=options.server_concurrency_limit,
        request_timeout_seconds=options.request_timeout_seconds,
    )


async def _bootstrap(store: Store, readiness: Readiness) -> None:
    """Keep the mandatory and suggested configuration in place (the config producer)."""
    await ensurer.ensure_until_success(store)
    readiness.bootstrapped = True
    await ensurer.ensure_forever(store)


def _install_signal_handlers(server: uvicorn.Server, readiness: Readiness) -> None:
    loop = asyncio.get_running_loop()

    def stop() -> None:
        readiness.shutting_down = True
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop)


def build_filters(
    options: ServerOptions,
    store: Store,
    controller: Controller | None,
    readiness: Readiness,
    metrics: Metrics,
) -> Filters:
    """The filter chain and routes of a server with these options and parts."""
    versions = options.served_versions
    router = Router(
        discovery=Discovery(versions),
        resources=ResourceHandler(store, versions=versions).handle,
        openapi=OpenApi(
            v2=schema.openapi_v2, v3=schema.openapi_v3, group=GROUP, versions=versions
        ),
        health=_health(readiness),
        metrics=prometheus_text(lambda: generate_latest(metrics.registry)),
        dumps=_dumps(controller),
    )
    authenticator = Authenticator(
        client_ca=options.client_ca_file,
        token_file=options.token_auth_file,
        anonymous=options.anonymous_auth,
    )
    max_in_flight = None
    if controller is None:
        max_in_flight = MaxInFlight(
            read_only_limit=options.max_requests_inflight,
            mutating_limit=options.max_mutating_requests_inflight,
        )
    return Filters(
        parse_request_info=requestinfo.ParseCache().parse,
        is_long_running=requestinfo.is_long_running,
        authenticate=authenticator.authenticate,
        impersonate=impersonation.impersonate,
        authorize=_authorize,
        route=router.route,
        admitter=controller,
        max_in_flight=max_in_flight,
        observe=lambda request, code: _record(metrics, request, code),
        in_flight=metrics.in_flight,
    )


# apiserver_request_total's verb label, from the request-info verb.
METRIC_VERBS = {
    "get": "GET",
    "list": "LIST",
    "watch": "WATCH",
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "deletecollection": "DELETE",
}


def _record(metrics: Metrics, request: Request, code: int) -> None:
    info = request.request_info
    if info is None:
        return
    if info.is_resource_request:
        verb = METRIC_VERBS.get(info.verb, info.verb.upper())
        if request.headers.get("content-type", "").startswith("application/apply-patch"):
            verb = "APPLY"
        scope = "resource" if info.name else ("namespace" if info.namespace else "cluster")
    else:
        verb, scope = request.method.upper(), ""
    metrics.record_request(
        verb=verb,
        group=info.api_group,
        version=info.api_version,
        resource=info.resource,
        subresource=info.subresource,
        scope=scope,
        code=code,
    )


def _authorize(user: UserInfo, info: RequestInfo) -> StatusError | None:
    allowed, _ = authz.authorize(user, info)
    return None if allowed else authz.forbidden_error(user, info)


def _health(readiness: Readiness) -> dict[str, HealthEndpoint]:
    def ping() -> str | None:
        return None

    storage = _check(lambda: readiness.storage_ok, "storage not started")
    common = {"ping": ping, "log": ping, "etcd": storage}
    ready = {
        **common,
        "etcd-readiness": storage,
        "poststarthook/apiserver/bootstrap-system-flowcontrol-configuration": _check(
            lambda: readiness.bootstrapped, "bootstrap configuration not yet written"
        ),
        "poststarthook/priority-and-fairness-config-consumer": _check(
            lambda: readiness.config_consumed, "APF configuration not yet consumed"
        ),
        "shutdown": _check(lambda: not readiness.shutting_down, "server is shutting down"),
    }
    return {
        "healthz": HealthEndpoint("healthz", dict(common)),
        "livez": HealthEndpoint("livez", dict(common)),
        "readyz": HealthEndpoint("readyz", ready),
    }


def _dumps(controller: Controller | None) -> dict[str, Callable[[Request], Response]]:
    if controller is None:
        return {}
    c = controller
    return {
        "dump_priority_levels": dump(lambda request: c.dump_priority_levels()),
        "dump_queues": dump(lambda request: c.dump_queues()),
        "dump_requests": dump(
            lambda request: c.dump_requests(bool(request.query_value("includeRequestDetails")))
        ),
    }
