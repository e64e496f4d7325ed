"""Model cards: Markdown written from what the registry knows, plus the fields only people can fill in."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loopml.registry._registry import get_model_version

if TYPE_CHECKING:
    from loopml.store import ModelVersion
    from loopml.tracking import TrackingClient

# fields people fill in: from model tags ``card.<field>`` or the ``fields`` argument
USER_FIELDS = {
    "intended_use": "Intended use",
    "limitations": "Limitations",
    "ethics": "Ethical considerations",
}


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def model_card(
    ref: str | ModelVersion, *, fields: Mapping[str, str] | None = None, client: TrackingClient | None = None
) -> str:
    """The card of a version as Markdown: purpose, training data and its profile, metrics overall and per
    slice, lineage, gate decisions, who promoted it, and the fields people fill in."""
    from loopml.tracking import get_client

    client = client or get_client()
    store = client.store
    version = get_model_version(ref, client)
    model = store.models.get_model(version.name)
    lines = [f"# Model card: {version.ref}", ""]
    lines += [f"**Purpose.** {model.description or version.description or '_Not described yet._'}", ""]
    lines += [
        f"- Flavor: {version.flavor}; bundle `{version.bundle_digest[:16]}`",
        f"- Registered {_when(version.created_ms)} by {version.created_by}",
        f"- Aliases: {', '.join(version.aliases) or 'none'}",
        "",
    ]

    lines += ["## Training data", ""]
    if not version.datasets:
        lines += ["_No dataset version was recorded with this model._", ""]
    for dataset_id in version.datasets:
        dv = store.datasets.get_by_id(dataset_id)
        columns = dv.schema.get("columns", [])
        lines += [f"- `{dv.ref}`: {dv.num_rows:,} rows, {len(columns)} columns, digest `{dv.digest[:16]}`"]
        lines += _profile_lines(dv, client)
    lines.append("")

    evaluations = store.models.evaluations(version.id)
    lines += ["## Metrics", ""]
    if version.metrics:
        lines += ["| Metric | Value |", "| --- | --- |"]
        lines += [f"| {k} | {_num(v)} |" for k, v in sorted(version.metrics.items())]
        lines.append("")
    else:
        lines += ["_No metrics yet: run `lm.evaluate` on this version._", ""]
    if evaluations:
        latest = evaluations[-1].evaluation
        for column, by_value in sorted((latest.get("slices") or {}).items()):
            metric_names = sorted({m for values in by_value.values() for m in values if m != "n_rows"})[:5]
            lines += [f"Per slice of `{column}`:", ""]
            lines += ["| " + " | ".join([column, "rows", *metric_names]) + " |"]
            lines += ["| " + " | ".join(["---"] * (len(metric_names) + 2)) + " |"]
            for value, metrics in sorted(by_value.items()):
                cells = [
                    value,
                    _num(metrics.get("n_rows", "")),
                    *(_num(metrics.get(m, "")) for m in metric_names),
                ]
                lines += ["| " + " | ".join(str(c) for c in cells) + " |"]
            lines.append("")
        latency = latest.get("latency") or {}
        if latency:
            lines += [
                "Latency: " + ", ".join(f"{k} {_num(v)}" for k, v in sorted(latency.items())),
                "",
            ]

    lines += ["## Lineage", ""]
    lines += _lineage_lines(version, client)
    lines.append("")

    lines += ["## Gate decisions", ""]
    gates = store.models.gate_records(version.id)
    if not gates:
        lines += ["_No gate has judged this version._", ""]
    for g in gates:
        verdict = "passed" if g.passed else "failed"
        lines += [f"- {_when(g.created_ms)}, by {g.created_by}: **{verdict}**"]
        for result in g.decision.get("results", []):
            mark = "✓" if result.get("passed") else "✗"
            lines += [f"  - {mark} {result.get('reason') or result.get('rule')}"]
    lines.append("")

    lines += ["## Promotions", ""]
    moves = [
        e
        for e in store.audit.events("model", version.name)
        if e.action == "alias.set" and e.details.get("version") == version.version
    ]
    if not moves:
        lines += ["_Never given an alias._", ""]
    for e in moves:
        why = f": {e.reason}" if e.reason else ""
        lines += [f"- `{e.details.get('alias')}` set by {e.actor} on {_when(e.at_ms)}{why}"]
    lines.append("")

    given = {
        **{k.removeprefix("card."): v for k, v in model.tags.items() if k.startswith("card.")},
        **(fields or {}),
    }
    for key, title in USER_FIELDS.items():
        lines += [
            f"## {title}",
            "",
            given.get(key) or f"_To fill in: `loopml models card {version.ref} --field {key}=...`._",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _profile_lines(dv: Any, client: TrackingClient) -> list[str]:
    if dv.profile_digest is None:
        return []
    from loopml.data import profile

    try:
        prof = profile(dv, client)
    except Exception:  # a card is still useful without the profile
        return []
    out = []
    for col in prof.columns[:8]:
        if col.mean is not None:
            spread = "" if col.std is None else f", std {col.std:.4g}"
            out.append(f"  - `{col.name}`: mean {col.mean:.4g}{spread}, nulls {col.nulls}")
        else:
            distinct = "?" if col.distinct is None else f"~{col.distinct:,}"
            out.append(f"  - `{col.name}`: {distinct} distinct values, nulls {col.nulls}")
    return out


def _lineage_lines(version: ModelVersion, client: TrackingClient) -> list[str]:
    if version.source_run_id is None:
        return ["_No source run was recorded._"]
    run = client.store.runs.get_run(version.source_run_id)
    commit = run.git_commit[:12] + (" (dirty)" if run.git_dirty else "") if run.git_commit else "unknown"
    lines = [f"- Run `{run.id}` ({run.name}, experiment {run.experiment_name}), commit {commit}"]
    if run.parent_id:
        parent = client.store.runs.get_run(run.parent_id)
        kind = "pipeline" if parent.tags.get("loopml.kind") == "pipeline" else "parent"
        lines.append(f"- Part of {kind} run `{parent.id}` ({parent.name})")
    if run.params:
        lines.append("- Params: " + ", ".join(f"{k}={v}" for k, v in sorted(run.params.items())[:12]))
    return lines
