"""The ``Stack``: bring the local services up (reusing live ones), report on them, stop them."""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

from devstack.stack.services import (
    HOST,
    ServiceSpec,
    health_check,
    netsuite_spec,
    page_spec,
    prefect_spec,
    s3_spec,
    slack_spec,
    smtp_spec,
)
from devstack.stack.state import (
    DEFAULT_BUCKET,
    SERVICE_NAMES,
    STATE_FILE,
    ServiceName,
    ServiceState,
    StackError,
    StackNotStarted,
    StackPorts,
    StackState,
    load_state,
    resolve_state_dir,
    save_state,
)
from quoteflow import processes

logger = logging.getLogger("devstack.stack")


class ServiceStatus(BaseModel):
    """What ``status`` found for one service."""

    name: ServiceName
    up: bool
    pid: int | None = None
    url: str | None = None
    detail: str = ""


def parse_services(services: Iterable[str] | None) -> list[ServiceName]:
    """Validate service names (None = all four), in the canonical order."""
    if services is None:
        return list(SERVICE_NAMES)
    wanted = {s.strip() for s in services if s.strip()}
    unknown = wanted - set(SERVICE_NAMES)
    if unknown:
        raise StackError(
            f"unknown service(s) {sorted(unknown)}; choose from {', '.join(SERVICE_NAMES)}"
        )
    return [name for name in SERVICE_NAMES if name in wanted]


class Stack:
    """The local service stack kept in ``state_dir`` (default: Settings.state_dir).

    ``ports`` given explicitly means "on these ports": a live service on another port is
    restarted. Without it, live services are reused wherever they are, new ones get the
    default ports.
    """

    def __init__(
        self,
        state_dir: Path | None = None,
        ports: StackPorts | None = None,
        *,
        bucket: str = DEFAULT_BUCKET,
    ) -> None:
        self.state_dir = resolve_state_dir(state_dir).resolve()
        self.ports = ports or StackPorts()
        self._ports_explicit = ports is not None
        self.bucket = bucket

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def state(self) -> StackState:
        """The recorded state (empty if the stack was never brought up here)."""
        try:
            return load_state(self.state_dir)
        except StackNotStarted:
            return StackState(state_dir=self.state_dir)

    def _spec(self, name: ServiceName) -> ServiceSpec:
        port = self.ports.of(name)
        if name == "prefect":
            return prefect_spec(self.state_dir, port)
        if name == "s3":
            return s3_spec(self.state_dir, port, self.bucket)
        if name == "netsuite":
            return netsuite_spec(self.state_dir, port)
        if name == "slack":
            return slack_spec(self.state_dir, port)
        if name == "page":
            prefect = self.state.prefect
            return page_spec(self.state_dir, port, prefect.port if prefect else self.ports.prefect)
        return smtp_spec(self.state_dir, port)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialize up/down of the same state dir across processes."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / "stack.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _is_live(self, name: ServiceName, entry: ServiceState) -> bool:
        return processes.pid_alive(entry.pid) and health_check(name, entry)

    def up(self, services: Iterable[str] | None = None) -> StackState:
        """Start the services (all four by default) that are not already running and healthy.

        Idempotent: a service whose recorded pid is alive and whose port is healthy is kept
        (same pid). Returns the new state; raises StackError if any service failed to start
        (the others stay up and are recorded).
        """
        names = parse_services(services)
        with self._locked():
            state = self.state
            started: list[tuple[ServiceSpec, ServiceState]] = []
            errors: list[str] = []
            # Spawn everything first so the slow Prefect start overlaps the others.
            for name in names:
                entry = getattr(state, name)
                if entry is not None:
                    if self._is_live(name, entry) and (
                        not self._ports_explicit or entry.port == self.ports.of(name)
                    ):
                        logger.info("%s: reusing pid %s on %s", name, entry.pid, entry.url)
                        continue
                    self._stop_entry(name, entry)
                    setattr(state, name, None)
                spec = self._spec(name)
                if processes.port_open(HOST, spec.port):
                    errors.append(
                        f"{name}: port {spec.port} on {HOST} is already in use by a process "
                        "this stack did not start; stop it or choose another port"
                    )
                    continue
                spec.prepare()
                log_file = self.logs_dir / f"{name}.log"
                pid = processes.spawn(spec.command, env=spec.env, log_file=log_file)
                entry = spec.make_state(pid, log_file)
                setattr(state, name, entry)
                started.append((spec, entry))
                logger.info("%s: started pid %s", name, pid)
            save_state(state)

            for spec, entry in started:
                healthy = processes.wait_until(
                    spec.health,
                    timeout=spec.startup_timeout,
                    abort=lambda pid=entry.pid: not processes.pid_alive(pid),
                )
                if healthy:
                    try:
                        spec.after_start(entry)
                        continue
                    except Exception as exc:  # noqa: BLE001 - reported with the log below
                        reason = f"post-start step failed: {exc}"
                else:
                    reason = (
                        "exited"
                        if not processes.pid_alive(entry.pid)
                        else f"not healthy after {spec.startup_timeout:.0f} s"
                    )
                self._stop_entry(spec.name, entry)
                setattr(state, spec.name, None)
                errors.append(
                    f"{spec.name}: {reason}; last lines of {entry.log_file}:\n"
                    + processes.log_tail(entry.log_file)
                )

            # Live reused services: make sure post-start invariants still hold (the bucket).
            for name in names:
                entry = getattr(state, name)
                if entry is not None and all(entry is not e for _, e in started):
                    self._spec_for_entry(name, entry).after_start(entry)
            save_state(state)
        if errors:
            raise StackError("stack up failed:\n" + "\n".join(errors))
        return state

    def _spec_for_entry(self, name: ServiceName, entry: ServiceState) -> ServiceSpec:
        if name == "s3":
            bucket = getattr(entry, "bucket", self.bucket)
            return s3_spec(self.state_dir, entry.port, bucket)
        return self._spec(name)

    def _stop_entry(self, name: ServiceName, entry: ServiceState) -> None:
        if processes.pid_alive(entry.pid) or processes.group_alive(entry.pid):
            logger.info("%s: stopping process group %s", name, entry.pid)
            if processes.terminate_group(entry.pid):
                logger.warning("%s: had to SIGKILL process group %s", name, entry.pid)
        if not processes.wait_until(
            lambda: not processes.port_open(entry.host, entry.port), timeout=10.0
        ):
            raise StackError(f"{name}: port {entry.port} still open after stopping pid {entry.pid}")

    def down(self, services: Iterable[str] | None = None) -> None:
        """Stop the services (all by default): SIGTERM each process group, SIGKILL if needed."""
        names = parse_services(services)
        with self._locked():
            state = self.state
            errors: list[str] = []
            for name in names:
                entry = getattr(state, name)
                if entry is None:
                    continue
                try:
                    self._stop_entry(name, entry)
                except StackError as exc:
                    errors.append(str(exc))
                    continue
                setattr(state, name, None)
            if self.state_file.exists() or state.services():
                save_state(state)
        if errors:
            raise StackError("stack down incomplete:\n" + "\n".join(errors))

    def status(self) -> dict[str, ServiceStatus]:
        """Each of the four services: up (pid alive and port healthy) or down, pid and url."""
        state = self.state
        report: dict[str, ServiceStatus] = {}
        for name in SERVICE_NAMES:
            entry: ServiceState | None = getattr(state, name)
            if entry is None:
                report[name] = ServiceStatus(name=name, up=False, detail="not started")
                continue
            alive = processes.pid_alive(entry.pid)
            healthy = alive and health_check(name, entry)
            if healthy:
                detail = ""
            elif alive:
                detail = "process alive, health check failing"
            else:
                detail = "process gone"
            report[name] = ServiceStatus(
                name=name, up=healthy, pid=entry.pid, url=entry.url, detail=detail
            )
        return report
