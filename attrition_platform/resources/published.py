"""The published location as a Dagster resource: where the graph puts what serving reads.

A directory by default (`$ATTRITION_HOME/serving`), `s3://bucket/prefix` in production
(`ATTRITION_SERVING_URI`). The layout and its rules (immutable bundles with a SHA-256 manifest,
`scores/<date>/`, an atomic `CURRENT`) are in attrition_platform/contracts/published.py, shared
with the serving service.

On S3 the graph talks through dagster-aws's `S3Resource` (nested here, so its settings show in
the launchpad and it takes the standard AWS credential chain: IRSA on EKS). Without one, the
client is built from the same AWS_* variables as the lake (contracts/storage_options.py), the
way serving builds its own.
"""

from __future__ import annotations

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from attrition_platform.contracts.object_store import S3Store
from attrition_platform.contracts.published import Store, store_from_uri
from attrition_platform.contracts.storage_options import is_remote, storage_options_from_env


class PublishedLocation(dg.ConfigurableResource):
    uri: str = Field(description="The published location: a directory, file:// or s3://bucket/prefix URI.")
    s3: S3Resource | None = Field(
        default=None,
        description="dagster-aws S3 resource used for an s3:// uri (default: a client from the AWS_* "
        "environment variables, as the lake uses).",
    )

    def storage_options(self) -> dict[str, str] | None:
        return storage_options_from_env() if is_remote(self.uri) else None

    def store(self) -> Store:
        if self.s3 is not None and self.uri.startswith("s3://"):
            return S3Store.from_uri(self.uri, self.s3.get_client())
        return store_from_uri(self.uri, self.storage_options())
