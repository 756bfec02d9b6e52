"""The Ray engine: shards of per-image work on Ray tasks and actors, results merged on the driver.

The driver (the `curate` process) joins a cluster (`--ray-address`, else $RAY_ADDRESS) or
starts a local Ray with this machine's CPUs, puts what every shard shares (the fetch
callable, the backbone settings) in the object store once, and keeps a bounded number of
shards in flight. A shard that raises, or whose worker dies, is run again by Ray up to
`max_retries` times; one that still fails stops the command with one line, and what the
finished shards produced is kept (journal, cache parts) for the next run to resume from.

Workers read and write the workspace by its path: the workspace must be on a filesystem
every node mounts at the same path (one machine, NFS, a shared volume), and the nodes must
have curate installed (the same container image as the driver). Ray is imported lazily:
without it, asking for `--engine ray` is one line and exit 2.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import textwrap
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from curate.engines import EngineConfig
from curate.errors import CurateError, UpstreamError, UsageError
from curate.objectstore import mask_secrets

log = logging.getLogger(__name__)

NEEDS_RAY = "--engine ray needs Ray: pip install '.[ray]'"


def import_ray():
    """The `ray` module, or a UsageError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(NEEDS_RAY) from None
    return ray


def connect(config: EngineConfig):
    """Join the cluster `config` names, or start a local Ray; returns the `ray` module.

    An already initialised Ray (a test's, a notebook's) is used as it is.
    """
    ray = import_ray()
    address = config.address
    if address:
        check_address(address)
    if ray.is_initialized():
        return ray
    try:
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        else:
            _quiet_auth_notice()
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
    except CurateError:
        raise
    except Exception as exc:  # ConnectionError, ValueError, RuntimeError, grpc errors: all one line
        detail = textwrap.shorten(mask_secrets(str(exc)), 200, placeholder=" …") or type(exc).__name__  # whole words
        where = f"the Ray cluster at '{mask_secrets(address)}'" if address else "a local Ray"
        raise UpstreamError(f"cannot start or join {where} ({detail}); check --ray-address / RAY_ADDRESS "
                            "(e.g. ray://head:10001, or leave both unset for a local Ray)") from None
    return ray


def loaded() -> bool:
    """Whether this process has loaded Ray (only the Ray engine imports it), without importing it: a Ctrl-C can
    come while `ray.init` is still starting the local cluster, before Ray counts as initialised."""
    import sys

    return "ray" in sys.modules


class _AuthNotice(logging.Filter):
    """Drops Ray's notice that a new local cluster uses token authentication (its default since
    2.5x): it is logged before `logging_level` applies, into the command's output (docs/scale.md
    says Ray's logs stay out of it). Any other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled for this Ray cluster")


def _quiet_auth_notice() -> None:
    auth = logging.getLogger("ray._private.authentication.authentication_token_setup")
    if not any(isinstance(existing, _AuthNotice) for existing in auth.filters):
        auth.addFilter(_AuthNotice())


def check_address(address: str) -> None:
    """A `host:port` address that does not answer: one line now, rather than Ray's minutes of retries."""
    if "://" in address or address in ("auto", "local"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--ray-address '{mask_secrets(address)}' is not HOST:PORT, ray://HOST:PORT or auto; "
                         "pass the head node's address (e.g. 10.0.0.5:6379)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise UpstreamError(f"no Ray cluster answers at {mask_secrets(address)} ({exc.strerror or exc}); start one "
                            "(`ray start --head`, `ray up`, KubeRay) or fix --ray-address / RAY_ADDRESS") from None


def cluster_resources(config: EngineConfig) -> dict[str, float]:
    """The cluster's total resources (CPU, GPU, memory...), joining it first."""
    return dict(connect(config).cluster_resources())


# Shards per slot a collection is cut into at least: shards differ in cost (real photos differ in
# size, bad files are cheap), and with one round per slot the slowest shard leaves the other
# slots idle; with four the last round is a quarter of the work (docs/benchmarks.md).
ROUNDS = 4


def shard_size(config: EngineConfig, items: int, slots: int | None = None) -> int:
    """Items per shard: config.shard_size, smaller when that would give the cluster's `slots`
    (default: its CPUs) fewer than ROUNDS shards each (a small collection is spread, not queued).

    >>> shard_size(EngineConfig(engine="ray"), 2000, slots=8)   # not 250: one round for 8 CPUs
    63
    >>> shard_size(EngineConfig(engine="ray"), 10**6, slots=8), shard_size(EngineConfig(engine="ray"), 3, slots=8)
    (500, 1)
    """
    if slots is None:
        slots = max(1, int(cluster_resources(config).get("CPU", 1)))
    return max(1, min(config.shard_size, math.ceil(items / (ROUNDS * max(1, slots)))))


def _failure(ray, exc: Exception, index: int, total: int, tries: int) -> Exception:
    """What a shard that failed for good becomes on the driver: its own curate error or out-of-space
    OSError as it was (the caller knows those), else one UpstreamError line."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, (CurateError, OSError)):
        return cause
    detail = " ".join(str(cause or exc).split())[-200:] or type(exc).__name__
    return UpstreamError(f"shard {index + 1} of {total} failed {tries} times on Ray ({detail}); the finished "
                         "shards are kept: run the same command again to resume")


def _result(ray, ref, index: int, total: int, config: EngineConfig) -> Any:
    """A finished shard's result; a shard that failed for good raises `_failure`'s error."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        raise _failure(ray, exc, index, total, config.max_retries + 1) from None


def remote_task(config: EngineConfig, fn: Callable[..., Any], *, num_cpus: float = 1.0):
    """`fn` as a Ray task (call `.remote(...)` for an ObjectRef) that Ray runs again, up to
    `max_retries` times, when it raises or its worker dies."""
    return connect(config).remote(fn).options(num_cpus=num_cpus, max_retries=config.max_retries,
                                              retry_exceptions=True)


def map_shards(config: EngineConfig, fn: Callable[..., Any], shards: Sequence, shared: Sequence = (), *,
               num_cpus: float = 1.0, in_flight: int | None = None) -> Iterator[tuple[int, Any]]:
    """(index, fn(*shared, shard)) for every shard, each run as a Ray task, as they finish.

    `shared` values go to the object store once. At most `in_flight` shards (default: twice
    the cluster's CPUs) are submitted at a time, so a million records never sit in the
    object store together. Closing the iterator (an interrupt on the driver) cancels the
    shards still running.
    """
    ray = connect(config)
    if not len(shards):
        return
    remote = remote_task(config, fn, num_cpus=num_cpus)
    refs = [ray.put(value) for value in shared]
    window = in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    queue = iter(enumerate(shards))
    pending: dict[Any, int] = {}
    try:
        while True:
            while len(pending) < window:
                item = next(queue, None)
                if item is None:
                    break
                pending[remote.remote(*refs, item[1])] = item[0]
            if not pending:
                return
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index = pending.pop(ref)
                yield index, _result(ray, ref, index, len(shards), config)
    finally:
        _cancel(ray, pending)


def map_actors(config: EngineConfig, actor_class: type, init_args: Sequence, method: str, shards: Sequence, *,
               actors: int, num_cpus: float = 1.0, num_gpus: float = 0.0,
               per_actor: int = 2, feed: Callable[[Any], Any] | None = None) -> Iterator[tuple[int, Any]]:
    """(index, actor.method(shard)) for every shard, on `actors` long-lived actors, as they finish.

    Each actor is built once (`actor_class(*init_args)`: load a model, say) and given up to
    `per_actor` shards at a time. A dead actor is restarted, and its shards run again, up
    to `max_retries` times. With `feed`, the method gets the argument of `feed(shard) -> (argument,
    refs)`, made on the driver just before the shard's call is submitted: the shard's inputs as
    ObjectRefs of tasks started there (decoding on the cluster's CPUs, say), so that only
    `per_actor` shards' inputs are in flight; `refs` are those tasks, cancelled with the shard's
    call when the iterator is closed (an interrupt on the driver).
    """
    ray = connect(config)
    if not len(shards):
        return
    remote_class = ray.remote(actor_class).options(num_cpus=num_cpus, num_gpus=num_gpus,
                                                   max_restarts=config.max_retries,
                                                   max_task_retries=config.max_retries)
    handles = [remote_class.remote(*init_args) for _ in range(max(1, min(actors, len(shards))))]
    load = dict.fromkeys(range(len(handles)), 0)
    queue = iter(enumerate(shards))
    pending: dict[Any, tuple[int, int]] = {}  # ref -> (shard index, actor number)
    started: dict[Any, list] = {}  # ref -> the tasks `feed` started for its shard
    try:
        exhausted = False
        while True:
            while not exhausted and min(load.values()) < per_actor:
                item = next(queue, None)
                if item is None:
                    exhausted = True
                    break
                number = min(load, key=load.get)
                load[number] += 1
                argument, inputs = (item[1], []) if feed is None else feed(item[1])
                ref = getattr(handles[number], method).remote(argument)
                pending[ref], started[ref] = (item[0], number), list(inputs)
            if not pending:
                return
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index, number = pending.pop(ref)
                started.pop(ref)
                load[number] -= 1
                yield index, _result(ray, ref, index, len(shards), config)
    finally:
        _cancel(ray, pending)
        _cancel(ray, [task for tasks in started.values() for task in tasks])  # their inputs' tasks
        for handle in handles:
            try:
                ray.kill(handle)
            except Exception:  # already dead, or the cluster went away: nothing left to free
                log.debug("could not kill a Ray actor", exc_info=True)


def _cancel(ray, pending: Iterable) -> None:
    for ref in pending:
        try:
            ray.cancel(ref, force=True)
        except Exception:  # finished meanwhile, or an actor task (not force-cancellable): let it be
            try:
                ray.cancel(ref)
            except Exception:
                log.debug("could not cancel a Ray shard", exc_info=True)
