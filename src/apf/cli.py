"""Command line: ``apf serve`` (the API server) and ``apf convert`` (old manifests to v1)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from apf import __version__, logsetup
from apf.server.options import ServerOptions, parse_bool, parse_duration, parse_runtime_config


def _bool_flag(parser: argparse.ArgumentParser, name: str, default: bool, help_text: str) -> None:
    parser.add_argument(
        name,
        nargs="?",
        const=True,
        default=default,
        type=_go_bool,
        metavar="BOOL",
        help=f"{help_text} (default {str(default).lower()}; e.g. {name}=false)",
    )


def _go_bool(raw: str) -> bool:
    try:
        return parse_bool(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _duration(raw: str) -> float:
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _runtime_config(raw: str) -> dict[str, bool]:
    try:
        return parse_runtime_config(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the API server",
        description="Run the flowcontrol.apiserver.k8s.io API server with API Priority and "
        "Fairness in front of every request. On first start it creates a CA, serving and "
        "admin client certificates and DIR/admin.kubeconfig.",
    )
    p.add_argument(
        "--data-dir", type=Path, default=Path(".apf"), help="state directory (default ./.apf)"
    )
    p.add_argument(
        "--bind-address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    p.add_argument(
        "--secure-port",
        type=int,
        default=6443,
        help="HTTPS port; 0 picks a free one (default 6443)",
    )
    p.add_argument(
        "--max-requests-inflight",
        type=int,
        default=400,
        help="read-only request limit; with APF, added to the mutating limit to form "
        "the server's seat count (default 400)",
    )
    p.add_argument(
        "--max-mutating-requests-inflight",
        type=int,
        default=200,
        help="mutating request limit; see --max-requests-inflight (default 200)",
    )
    p.add_argument(
        "--request-timeout",
        type=_duration,
        default=60.0,
        metavar="DURATION",
        help="default request deadline; APF queue waits get a quarter of it (default 60s)",
    )
    _bool_flag(
        p,
        "--enable-priority-and-fairness",
        True,
        "use APF; false falls back to max-in-flight limits",
    )
    p.add_argument(
        "--token-auth-file",
        type=Path,
        help='static bearer tokens, CSV: token,user,uid,"group1,group2"',
    )
    p.add_argument(
        "--client-ca-file",
        type=Path,
        help="extra CA bundle for client certificates (CN=user, O=groups)",
    )
    p.add_argument(
        "--tls-cert-file",
        type=Path,
        help="serving certificate (default: generated in the data dir)",
    )
    p.add_argument("--tls-private-key-file", type=Path, help="key of --tls-cert-file")
    _bool_flag(
        p, "--anonymous-auth", True, "treat requests without credentials as system:anonymous"
    )
    p.add_argument(
        "--storage-backend",
        default="sqlite",
        help="storage engine: sqlite or memory (default sqlite)",
    )
    p.add_argument(
        "--runtime-config",
        type=_runtime_config,
        default={},
        metavar="GROUP/VERSION=BOOL,...",
        help="enable or disable API versions, e.g. flowcontrol.apiserver.k8s.io/v1beta2=true",
    )
    p.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log line format (default text)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="default info",
    )


def _convert_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "convert",
        help="print flowcontrol manifests (v1beta1..v1beta3) as v1",
        description="Read YAML manifests of FlowSchemas and PriorityLevelConfigurations in any "
        "version and print them as flowcontrol.apiserver.k8s.io/v1.",
    )
    p.add_argument(
        "-f", "--filename", required=True, help="manifest file, or - for standard input"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="apf", description=__doc__)
    parser.add_argument("--version", action="version", version=f"apf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _convert_parser(sub)
    return parser


def _options(args: argparse.Namespace) -> ServerOptions:
    return ServerOptions(
        data_dir=args.data_dir,
        bind_address=args.bind_address,
        secure_port=args.secure_port,
        max_requests_inflight=args.max_requests_inflight,
        max_mutating_requests_inflight=args.max_mutating_requests_inflight,
        request_timeout_seconds=args.request_timeout,
        enable_priority_and_fairness=args.enable_priority_and_fairness,
        token_auth_file=args.token_auth_file,
        client_ca_file=args.client_ca_file,
        tls_cert_file=args.tls_cert_file,
        tls_private_key_file=args.tls_private_key_file,
        anonymous_auth=args.anonymous_auth,
        storage_backend=args.storage_backend,
        runtime_config=args.runtime_config,
    )


def _serve(args: argparse.Namespace) -> int:
    from apf.storage.registry import open_storage

    options = _options(args)
    if options.server_concurrency_limit <= 0:
        print(
            "apf: --max-requests-inflight plus --max-mutating-requests-inflight must be > 0",
            file=sys.stderr,
        )
        return 2
    options.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        storage = open_storage(options.storage_backend, data_dir=options.data_dir)
    except ValueError as exc:
        print(f"apf: {exc}", file=sys.stderr)
        return 2
    import uvloop

    from apf.server.run import serve
    from apf.storage.interface import StorageError

    try:
        uvloop.run(serve(options, storage))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"apf: cannot serve: {exc}", file=sys.stderr)
        return 1
    except StorageError as exc:
        print(f"apf: storage: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        # Bad configuration found at start-up (token file, certificates).
        print(f"apf: {exc}", file=sys.stderr)
        return 2
    return 0


def _convert(args: argparse.Namespace) -> int:
    from apf.api.conversion import convert, set_version_defaults

    text = sys.stdin.read() if args.filename == "-" else Path(args.filename).read_text()
    try:
        documents = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as exc:
        print(f"apf: {args.filename} is not valid YAML: {exc}", file=sys.stderr)
        return 1
    converted = []
    for doc in documents:
        try:
            set_version_defaults(doc)
            converted.append(convert(doc, "v1"))
        except (ValueError, KeyError) as exc:
            name = doc.get("metadata", {}).get("name")
            print(
                f"apf: cannot convert {doc.get('kind')} {name}: {exc}",
                file=sys.stderr,
            )
            return 1
    print(yaml.safe_dump_all(converted, sort_keys=False), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        logsetup.configure(level=args.log_level, fmt=args.log_format)
        return _serve(args)
    return _convert(args)


if __name__ == "__main__":
    sys.exit(main())
