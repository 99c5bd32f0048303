"""Compile, run locally (kfp.local) or submit the reasoning pipeline.

    python -m pipelines.cli compile [--image-registry R] [--image-tag T] [--output pipelines/reasoning_pipeline.yaml]
    python -m pipelines.cli run --recipe recipes/pipeline_default_cpu.yaml [--storage s3://bucket/prefix]
                                [--output-dir runs/] [--runner subprocess|docker] [--image IMAGE] [key=value ...]
    python -m pipelines.cli submit --host URL [--recipe R] [--experiment NAME] [--run-name NAME]
                                   [--namespace NS] [--service-account reasoning-pipeline-runner]
                                   [--package pipelines/reasoning_pipeline.yaml] [key=value ...]

`reasoning pipeline ...` runs the same commands. ``key=value`` arguments override the
recipe's pipeline parameters (names as in reasoning/pipeline/params.py).
"""
import argparse
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasoning.errors import InputError, StorageError, exit_code_for
from reasoning.io.fileio import write_json_atomic
from reasoning.pipeline.params import load_pipeline_recipe, validate_parameters

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PACKAGE = ROOT / "pipelines" / "reasoning_pipeline.yaml"
REPORT_OUTPUTS = {"report.html": "report_html", "report.md": "report_markdown", "metrics.json": "metrics"}
# The context task's long-context evaluation (scaling types, choice, gate) lives in its model artifact.
LONG_CONTEXT_REPORTS = {"long_context_report.html": "report.html", "long_context_report.md": "report.md"}
log = logging.getLogger("pipelines")


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        if "=" not in pair:
            raise InputError(f"expected key=value, got {pair!r}", field="parameters")
        key, value = pair.split("=", 1)
        values[key.strip().replace("-", "_")] = value
    return values


def gather_parameters(recipe: str | None, overrides: Sequence[str]) -> dict[str, Any]:
    values: dict[str, Any] = load_pipeline_recipe(recipe) if recipe else {}
    values.update(parse_overrides(overrides))
    return values


# ------------------------------------------------------------------ compile

def compile_command(args: argparse.Namespace) -> int:
    from pipelines.reasoning_pipeline import compile_pipeline
    path = compile_pipeline(args.output, args.image_registry, args.image_tag)
    print(f"compiled {path} (images {args.image_registry}/reasoning-{{cpu,gpu}}:{args.image_tag})")
    return 0


# ------------------------------------------------------------------ local run

RUNNERS = ("subprocess", "docker")


def run_locally(parameters: dict[str, Any], output_dir: str | os.PathLike, *, storage: str | None = None,
                run_name: str | None = None, runner: str = "subprocess", image: str | None = None) -> dict[str, Any]:
    """Run the whole pipeline with kfp.local; returns where the outputs and the report are.

    ``runner="subprocess"`` runs every task in this Python environment; ``"docker"`` runs every
    task in ``image`` (default ``pipelines.local_docker.DEFAULT_IMAGE``) through the engine.
    """
    from kfp import local

    from pipelines.reasoning_pipeline import build_pipeline

    if runner not in RUNNERS:
        raise InputError(f"unknown runner {runner!r}; known: {', '.join(RUNNERS)}", field="--runner")

    run_id = run_name or time.strftime("run-%Y%m%d-%H%M%S")
    parameters = dict(parameters)
    if storage:
        parameters.setdefault("export_destination", f"{storage.rstrip('/')}/models/{run_id}")
    parameters = validate_parameters(parameters)  # fail before kfp starts anything
    run_dir = Path(output_dir).resolve() / run_id
    artifacts_root = run_dir / "artifacts"
    artifacts_root.mkdir(parents=True, exist_ok=True)
    if runner == "docker":
        from pipelines import local_docker
        image = image or local_docker.DEFAULT_IMAGE
        task_runner = local_docker.docker_runner(image)  # engine and image checked before any task
        local_docker.open_for_image_user(artifacts_root)
        pipeline = build_pipeline(image, image, local=True)
    else:
        task_runner = local.SubprocessRunner(use_venv=False)
        pipeline = build_pipeline(local=True)
    write_json_atomic(run_dir / "parameters.json", parameters)
    local.init(runner=task_runner, pipeline_root=str(artifacts_root), raise_on_error=True)
    started, started_at = time.perf_counter(), time.time()
    pipeline(**parameters)
    wall = time.perf_counter() - started
    outputs = collect_outputs(artifacts_root)
    copied = publish_report(outputs, run_dir, Path(output_dir).resolve() / "latest")
    summary = {"run_id": run_id, "runner": runner, **({"image": image} if runner == "docker" else {}),
               "wall_seconds": round(wall, 2), "task_seconds": task_seconds(artifacts_root, started_at),
               "run_dir": str(run_dir), "artifacts": str(artifacts_root), "report": copied,
               "tasks": sorted(outputs)}
    if storage:
        from reasoning.io import storage as object_store
        report_uri = f"{storage.rstrip('/')}/reports/{run_id}"
        for name, path in copied.items():
            object_store.upload(path, f"{report_uri}/{name}")
        summary.update({"report_uri": report_uri, "model_uri": parameters["export_destination"]})
    write_json_atomic(run_dir / "summary.json", summary)
    shutil.copyfile(run_dir / "summary.json", Path(output_dir).resolve() / "latest" / "summary.json")
    return summary


def collect_outputs(artifacts_root: Path) -> dict[str, dict[str, str]]:
    """task name -> output name -> local path, for the single run under ``artifacts_root``."""
    runs = [p for p in artifacts_root.iterdir() if p.is_dir()]
    if len(runs) != 1:
        raise RuntimeError(f"expected one pipeline run under {artifacts_root}, found {len(runs)}")
    outputs: dict[str, dict[str, str]] = {}
    for task in sorted(p for p in runs[0].iterdir() if p.is_dir()):
        found = {o.name: str(o) for o in sorted(task.iterdir()) if not o.name.startswith(".")}
        # Artifacts with no file of their own (a Metrics artifact) are only in the executor output.
        executor_output = task / "executor_output.json"
        if executor_output.exists():
            for name, entry in json.loads(executor_output.read_text()).get("artifacts", {}).items():
                found.setdefault(name, entry["artifacts"][0]["uri"])
        outputs[task.name] = found
    return outputs


def task_seconds(artifacts_root: Path, started_at: float) -> list[list]:
    """[task, wall seconds] in the order the tasks ran (a list: summary.json sorts its keys). kfp.local
    runs one task at a time and each task's executor writes executor_output.json as it ends, so a task
    took from the previous task's end to its own (the first from the run's start, kfp.local's setup
    included)."""
    ends = sorted((path.stat().st_mtime, path.parent.name) for path in artifacts_root.glob("*/*/executor_output.json"))
    seconds, previous = [], started_at
    for end, task in ends:
        seconds.append([task, round(end - previous, 1)])
        previous = end
    return seconds


def task_outputs(outputs: dict[str, dict[str, str]], component: str) -> dict[str, str]:
    """The outputs of the one task of ``component`` that ran (kfp.local names a component's
    task ``evaluate``, ``evaluate-2``, ``evaluate-3-2`` ... depending on the branch it sits in)."""
    pattern = re.compile(rf"^{re.escape(component)}(-\d+)*$")
    ran = [task for task in outputs if pattern.match(task)]
    if len(ran) > 1 and component in ran:  # a root-level task keeps the plain name
        ran = [component]
    if len(ran) != 1:
        raise RuntimeError(f"expected one {component} task in the run, found {ran or 'none'}")
    return outputs[ran[0]]


def publish_report(outputs: dict[str, dict[str, str]], run_dir: Path, latest: Path) -> dict[str, str]:
    """Copy the evaluation report and metrics (and the context stage's long-context report, when it
    evaluated one) to ``<run>/`` and to a stable ``latest/``."""
    evaluation = task_outputs(outputs, "evaluate")
    latest.mkdir(parents=True, exist_ok=True)
    sources = {name: Path(evaluation[output]) for name, output in REPORT_OUTPUTS.items()}
    long_model = task_outputs(outputs, "extend-context").get("long_model")
    for name, file in LONG_CONTEXT_REPORTS.items():
        if long_model and (Path(long_model) / "long_context" / file).is_file():
            sources[name] = Path(long_model) / "long_context" / file
    copied = {}
    for name, source in sources.items():
        for target_dir in (run_dir, latest):
            shutil.copyfile(source, target_dir / name)
        copied[name] = str(run_dir / name)
    for stale in set(LONG_CONTEXT_REPORTS) - set(sources):  # latest/ must not show an older run's
        (latest / stale).unlink(missing_ok=True)
    return copied


def run_command(args: argparse.Namespace) -> int:
    parameters = gather_parameters(args.recipe, args.parameters)
    summary = run_locally(parameters, args.output_dir, storage=args.storage, run_name=args.run_name,
                          runner=args.runner, image=args.image)
    print(json.dumps(summary, indent=2))
    print(f"\nreport: {summary['report']['report.html']}\n(also under {Path(args.output_dir) / 'latest'})")
    if "long_context_report.html" in summary["report"]:
        print(f"long-context report (scaling types, choice, gate): {summary['report']['long_context_report.html']}")
    return 0


# ------------------------------------------------------------------ submit to a cluster

def submit(host: str, parameters: dict[str, Any], *, package: str | os.PathLike = DEFAULT_PACKAGE,
           experiment: str = "reasoning", run_name: str | None = None, namespace: str | None = None,
           enable_caching: bool | None = None, service_account: str | None = None) -> str:
    """Submit the compiled package to a Kubeflow Pipelines endpoint; returns the run id."""
    import kfp
    parameters = validate_parameters(parameters, check_inputs=False)  # local files are not the cluster's
    client = kfp.Client(host=host, namespace=namespace)
    result = client.create_run_from_pipeline_package(
        str(package), arguments=parameters, run_name=run_name or time.strftime("reasoning-%Y%m%d-%H%M%S"),
        experiment_name=experiment, namespace=namespace, enable_caching=enable_caching,
        service_account=service_account)
    return result.run_id


def submit_command(args: argparse.Namespace) -> int:
    parameters = validate_parameters(gather_parameters(args.recipe, args.parameters), check_inputs=False)
    package = args.package
    if args.compile:  # into a temporary file: the committed YAML stays the default registry's
        import tempfile

        from pipelines.reasoning_pipeline import compile_pipeline
        package = compile_pipeline(str(Path(tempfile.mkdtemp(prefix="reasoning-pipeline-")) / "pipeline.yaml"),
                                   args.image_registry, args.image_tag)
    run_id = submit(args.host, parameters, package=package, experiment=args.experiment, run_name=args.run_name,
                    namespace=args.namespace, enable_caching=False if args.no_cache else None,
                    service_account=args.service_account)
    print(f"submitted run {run_id} to {args.host} (experiment {args.experiment})")
    return 0


def params_command(args: argparse.Namespace) -> int:
    from reasoning.io.fileio import write_text_atomic
    from reasoning.pipeline.params import parameter_table, replace_parameter_table
    if not args.update:
        print(parameter_table())
        return 0
    path = Path(args.update)
    write_text_atomic(path, replace_parameter_table(path.read_text()))
    print(f"updated the pipeline parameter table in {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from components._common import DEFAULT_REGISTRY, DEFAULT_TAG
    parser = argparse.ArgumentParser(prog="python -m pipelines.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def image_flags(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--image-registry", default=DEFAULT_REGISTRY, help="registry of the reasoning images")
        sub.add_argument("--image-tag", default=DEFAULT_TAG, help="tag of the reasoning images")

    compile_parser = commands.add_parser("compile", help="compile the pipeline to YAML")
    image_flags(compile_parser)
    compile_parser.add_argument("--output", default=str(DEFAULT_PACKAGE), help="where to write the YAML")
    compile_parser.set_defaults(handler=compile_command)

    params_parser = commands.add_parser("params", help="print the pipeline parameters as a Markdown table")
    params_parser.add_argument("--update", metavar="README.md", help="replace the table between its markers in this file")
    params_parser.set_defaults(handler=params_command)

    run_parser = commands.add_parser("run", help="run the whole pipeline locally with kfp.local")
    run_parser.add_argument("--recipe", help="YAML of pipeline parameters (recipes/pipeline_*.yaml)")
    run_parser.add_argument("--storage", help="s3://bucket/prefix: export the model and copy the report there")
    run_parser.add_argument("--output-dir", default="runs", help="local runs directory (report in <dir>/latest/)")
    run_parser.add_argument("--run-name", help="name of this run's directory (default: run-<timestamp>)")
    run_parser.add_argument("--runner", choices=RUNNERS, default=os.environ.get("RUNNER") or "subprocess",
                            help="subprocess: every task in this environment; docker: every task in the "
                                 "image (default from $RUNNER, else subprocess)")
    run_parser.add_argument("--image", help="image for --runner docker (default: localhost/reasoning-cpu:dev, "
                                            "built by `make images-local`)")
    run_parser.add_argument("parameters", nargs="*", metavar="key=value", help="pipeline parameter overrides")
    run_parser.set_defaults(handler=run_command)

    submit_parser = commands.add_parser("submit", help="submit to a Kubeflow Pipelines endpoint")
    submit_parser.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    submit_parser.add_argument("--recipe", help="YAML of pipeline parameters")
    submit_parser.add_argument("--experiment", default="reasoning", help="experiment name")
    submit_parser.add_argument("--run-name", help="run name (default: reasoning-<timestamp>)")
    submit_parser.add_argument("--namespace", help="Kubeflow profile namespace (multi-user installs)")
    submit_parser.add_argument("--service-account",
                               help="ServiceAccount the run's pods use; multi-node training needs one allowed to "
                                    "create TrainJobs: reasoning-pipeline-runner from manifests/ (default: the "
                                    "namespace's pipeline runner)")
    submit_parser.add_argument("--package", default=str(DEFAULT_PACKAGE), help="compiled pipeline YAML")
    submit_parser.add_argument("--compile", action="store_true",
                               help="compile for --image-registry/--image-tag instead of using --package")
    submit_parser.add_argument("--no-cache", action="store_true", help="disable caching for this run")
    image_flags(submit_parser)
    submit_parser.add_argument("parameters", nargs="*", metavar="key=value", help="pipeline parameter overrides")
    submit_parser.set_defaults(handler=submit_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("REASONING_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (InputError, StorageError) as exc:  # bad input (2), or the store failed and a retry may pass (4)
        print(f"error: {exc}", file=sys.stderr)
        return exit_code_for(exc)


if __name__ == "__main__":
    sys.exit(main())
