"""Prefect artifacts, published through the run's own API client.

`create_markdown_artifact` builds a new API client (and TLS context) on every call, ~0.1 s each;
the run context already holds an open one.
"""

from __future__ import annotations

import inspect

from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.actions import ArtifactCreate
from prefect.context import FlowRunContext, TaskRunContext


def publish_markdown(key: str, markdown: str, description: str | None = None) -> None:
    ctx = TaskRunContext.get() or FlowRunContext.get()
    client = getattr(ctx, "client", None)
    if ctx is None or client is None or inspect.iscoroutinefunction(getattr(client, "create_artifact", None)):
        create_markdown_artifact(key=key, markdown=markdown, description=description)
        return
    flow_run_id = ctx.task_run.flow_run_id if isinstance(ctx, TaskRunContext) else ctx.flow_run.id
    task_run_id = ctx.task_run.id if isinstance(ctx, TaskRunContext) else None
    client.create_artifact(ArtifactCreate(type="markdown", key=key, description=description, data=markdown,
                                          flow_run_id=flow_run_id, task_run_id=task_run_id))
