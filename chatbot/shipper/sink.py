"""Writing a batch of entries to the Logging API (`entries.write`, one call per batch), and telling a failure
worth retrying from one that retrying cannot fix."""

from __future__ import annotations

import random
from collections.abc import Sequence

from chatbot.logs import CloudTarget
from chatbot.shipper.entries import Entry


class Rejected(Exception):
    """The API refused some entries for good (INVALID_ARGUMENT): the others were written (partial success)."""


class CloudSink:
    def __init__(self, target: CloudTarget, log_name: str) -> None:
        from google.cloud.logging_v2.handlers._monitored_resources import (  # noqa: PLC0415
            detect_resource,
        )

        self._client = target.client
        # The same resource as the service's own records: detected on Google Cloud (the VM), global elsewhere.
        resource = target.resource or detect_resource(self._client.project)  # type: ignore[no-untyped-call]
        self._logger = self._client.logger(log_name, resource=resource)

    @property
    def project(self) -> str:
        return str(self._client.project)

    def write(self, entries: Sequence[Entry]) -> None:
        """Returns once the API has accepted the batch; raises Rejected, or whatever the transport raised."""
        from google.api_core.exceptions import InvalidArgument  # noqa: PLC0415

        batch = self._logger.batch()
        for entry in entries:
            batch.log_struct(entry.payload, **entry.log_struct_kwargs())
        try:
            # partial_success: one bad entry must not hold back the others, nor block the log behind it.
            batch.commit(partial_success=True)
        except InvalidArgument as error:
            raise Rejected(str(error)[:300]) from error


class Backoff:
    """Exponential delays with jitter between attempts: 1 s, 2 s, 4 s... up to `cap`."""

    def __init__(self, first: float = 1.0, cap: float = 60.0) -> None:
        self._first = first
        self._cap = cap
        self._attempt = 0

    def next_delay(self) -> float:
        delay = min(self._cap, self._first * 2**self._attempt)
        self._attempt += 1
        return float(delay * random.uniform(0.5, 1.0))  # noqa: S311 (jitter, not a secret)

    def reset(self) -> None:
        self._attempt = 0
