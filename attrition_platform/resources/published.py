"""The published location as a Dagster resource: where the graph puts what serving reads.

A directory by default (`$ATTRITION_HOME/serving`), `s3://bucket/prefix` in production
(`ATTRITION_SERVING_URI`, same AWS_* settings as the lake). The layout and its rules (immutable
bundles with a SHA-256 manifest, `scores/<date>/`, an atomic `CURRENT`) are in
attrition_platform/contracts/published.py, shared with the serving service.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from attrition_platform.contracts.published import Store, store_from_uri
from attrition_platform.contracts.storage_options import is_remote, storage_options_from_env


class PublishedLocation(dg.ConfigurableResource):
    uri: str = Field(description="The published location: a directory, file:// or s3://bucket/prefix URI.")

    def storage_options(self) -> dict[str, str] | None:
        return storage_options_from_env() if is_remote(self.uri) else None

    def store(self) -> Store:
        return store_from_uri(self.uri, self.storage_options())
