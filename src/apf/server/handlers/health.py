"""``/healthz``, ``/livez`` and ``/readyz`` with named checks, as kube-apiserver renders them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from apf.server.http import Request, Response, text_response

# A check returns None when healthy, else the reason it failed.
Check = Callable[[], str | None]


@dataclass
class HealthEndpoint:
    """One endpoint (``healthz``, ``livez`` or ``readyz``) and its ordered checks."""

    name: str
    checks: dict[str, Check] = field(default_factory=dict)

    def handle(self, request: Request, check_name: str = "") -> Response:
        """Run all checks (or ``check_name`` only) and answer 200 or 500."""
        if check_name:
            check = self.checks.get(check_name)
            if check is None:
                return text_response("404 page not found\n", 404)
            reason = check()
            if reason is None:
                return text_response("ok")
            return text_response(f"internal server error: {reason}\n", 500)
        excluded = set(request.query.get("exclude", []))
        lines: list[str] = []
        failed = False
        for name, check in self.checks.items():
            if name in excluded:
                lines.append(f"[+]{name} excluded: ok")
                continue
            reason = check()
            if reason is None:
                lines.append(f"[+]{name} ok")
            else:
                failed = True
                lines.append(f"[-]{name} failed: reason withheld")
        verdict = f"{self.name} check {'failed' if failed else 'passed'}"
        if failed or request.has_query("verbose"):
            body = "\n".join([*lines, verdict]) + "\n"
        else:
            body = "ok"
        return text_response(body, 500 if failed else 200)
