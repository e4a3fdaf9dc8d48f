"""Mutation testing of Anbu's core modules: ``make mutation MODULE=anomaly/ladder.py``.

mutmut 3 changes one module a little at a time (a mutant), runs the tests that reach the changed
function, and counts the mutants no test notices (survivors). This script is the one place that
knows which tests guard which core module (``MODULES``) and how mutmut must run so that nothing
but the tests decides a mutant's fate (docs/testing.md, "Mutation testing"):

- **A fresh interpreter state per mutant.** mutmut's default forks every mutant from a process
  that has already run the whole suite once, so module-level caches (the gateway's route memo,
  Tasmota's layouts) hold answers computed by the *original* code, and a mutant of the cached
  function is never called: it "survives". Here each mutant runs in a child of a fork server
  that has imported only third-party libraries (``PRELOAD``); Anbu's modules are imported after
  the mutant is chosen. ``tests/conftest.py`` also empties those caches before every test, so
  mutmut's map of which test reaches which function is not thinned out by cache hits.
- **Every verdict but "killed" is checked again in a fresh process**: survivors, timeouts (a
  busy machine is not an infinite loop) and mutants mutmut found no test for are re-run with
  ``MUTANT_UNDER_TEST`` set, by a new ``python -m pytest`` over *all* of the module's tests
  (the tests that reach the mutated function go first, alone: a failure there settles it fast).
  Before that, the same fresh-process command must pass without a mutant and fail with mutmut's
  ``fail`` pseudo-mutant (every mutated function raises): proof that it runs the mutated code.
- **Nothing is reused between runs**: each run starts from an empty work directory
  (``var/mutation/<module>/``), so a result always belongs to the code as it is now.
  ``--mutants PATTERN ...`` runs only the mutants named (mutmut's names or ``fnmatch`` patterns,
  e.g. to finish a run that was cut short): same safeguards, and the figures it prints are those
  of that subset, never the module's score.

Run one module at a time and niced (the make target does both); the work directory keeps
mutmut's files, so ``cd var/mutation/<module> && ../../../.venv/bin/mutmut show <name>``
still works after a run.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "mutation"
PACKAGES = ("core", "gateway", "anomaly", "notifier", "api", "simulator", "anbu")

# Module -> the tests that pin its behaviour: the fastest selection that kills (unit tests where
# they pin the same rule as an integration test). Keep a module's own test files first.
MODULES: dict[str, tuple[str, ...]] = {
    "anomaly/ladder.py": (
        "tests/unit/anomaly/test_severity_ladder.py",
        "tests/unit/anomaly/test_severity_ladder_rules.py",
        "tests/unit/anomaly/test_deadlines.py",
    ),
    "anomaly/deadlines.py": (
        "tests/unit/anomaly/test_deadlines.py",
        "tests/unit/anomaly/test_deadline_explanations.py",
        "tests/unit/anomaly/test_severity_ladder.py",
    ),
    "anomaly/activity.py": (
        "tests/unit/anomaly/test_activity_from_power.py",
        "tests/unit/anomaly/test_activity_rules.py",
    ),
    "anomaly/long_on.py": ("tests/unit/anomaly/test_long_on_rules.py", "tests/unit/anomaly/test_long_on.py"),
    "gateway/edges.py": (
        "tests/integration/gateway/test_ingest_edges_rules.py",
        "tests/integration/gateway/test_edges_detector_db.py",
    ),
    "notifier/lifecycle.py": (
        "tests/unit/lifecycle/test_transition_table.py",
        "tests/integration/lifecycle/test_lifecycle_db.py",
        "tests/integration/notifier_engine/test_lifecycle_every_transition_db.py",
        "tests/integration/lifecycle/test_lifecycle_rules_db.py",
        "tests/integration/lifecycle/test_lifecycle_races_pg.py",
        # open_many's rows against open_or_redetect's: the only caller of the batch writers
        # new_case_values and record_events (notifier/opening.py).
        "tests/integration/lifecycle/test_open_many.py",
    ),
    "notifier/ladder.py": (
        "tests/unit/notifier_engine/test_plan_step_ladders.py",
        "tests/unit/notifier_engine/test_policy_new_steps.py",  # hand-off purpose, self_harm_actions
        "tests/unit/notifier_family/test_family_loop_rules.py",  # contact_channels
    ),
    "notifier/recipients.py": ("tests/unit/notifier_family/test_family_loop_rules.py",),
    "notifier/classifier.py": (
        "tests/unit/notifier_calls/test_reply_classifier.py",
        "tests/unit/notifier_calls/test_reply_safety_thresholds.py",  # no model: thresholds, exact verdicts
        "tests/unit/notifier_calls/test_reply_self_harm.py",  # apply_safety's self-harm guards
        "tests/unit/notifier_calls/test_reply_denials.py",  # ... its denial and everyday branches
        "tests/unit/notifier_calls/test_reply_short_answers.py",  # ... its short-answer branch
    ),
    "notifier/classifier_rules.py": (
        "tests/unit/notifier_calls/test_reply_self_harm.py",
        "tests/unit/notifier_calls/test_reply_denials.py",
        "tests/unit/notifier_calls/test_reply_short_answers.py",
        "tests/unit/notifier_calls/test_reply_classifier.py",
    ),
    "notifier/outbox.py": (
        "tests/unit/notifier_engine/test_outbox_rules.py",
        "tests/integration/notifier_engine/test_outbox_delivery_db.py",
        "tests/integration/notifier_engine/test_outbox_uncertain_sends_db.py",
        "tests/integration/notifier_engine/test_outbox_clock_skew_db.py",
        "tests/integration/notifier_engine/test_outbox_rules_db.py",
        "tests/integration/notifier_engine/test_outbox_log_db.py",
        "tests/integration/notifier_engine/test_call_pacing_and_priority_db.py",
        "tests/integration/notifier_engine/test_outbox_twilio_faults.py",
    ),
    "gateway/adapters/tasmota.py": (
        "tests/unit/gateway/test_tasmota_adapter.py",
        "tests/unit/gateway/test_tasmota_rules.py",
        "tests/unit/gateway/test_vendor_adapters.py",
    ),
    "gateway/adapters/shelly.py": (
        "tests/unit/gateway/test_shelly_rules.py",
        "tests/unit/gateway/test_vendor_adapters.py",
    ),
    "gateway/adapters/shelly_gen1.py": (
        "tests/unit/gateway/test_shelly_gen1_rules.py",
        "tests/unit/gateway/test_vendor_adapters.py",
    ),
    "gateway/adapters/zigbee2mqtt.py": (
        "tests/unit/gateway/test_zigbee2mqtt_rules.py",
        "tests/unit/gateway/test_vendor_adapters.py",
    ),
    "gateway/adapters/esphome.py": (
        "tests/unit/gateway/test_esphome_rules.py",
        "tests/unit/gateway/test_vendor_adapters.py",
    ),
    "gateway/adapters/native.py": (
        "tests/unit/gateway/test_native_rules.py",
        "tests/unit/gateway/test_native_adapter.py",
    ),
    "gateway/adapters/_common.py": (
        "tests/unit/gateway/test_common_rules.py",
        "tests/unit/gateway/test_vendor_adapters.py",
        "tests/unit/gateway/test_native_adapter.py",
        "tests/unit/gateway/test_tasmota_adapter.py",
    ),
    "gateway/adapters/plain.py": (
        "tests/unit/gateway/test_plain_rules.py",
        "tests/unit/gateway/test_shelly_gen1_rules.py",
        "tests/unit/gateway/test_esphome_rules.py",
        "tests/unit/gateway/test_vendor_adapters.py",
    ),
    "gateway/adapters/route.py": (
        "tests/unit/gateway/test_route_rules.py",
        "tests/unit/gateway/test_vendor_adapters.py",
    ),
    "gateway/adapters/__init__.py": (
        "tests/unit/gateway/test_router_rules.py",
        "tests/unit/gateway/test_vendor_adapters.py",
        "tests/unit/gateway/test_topic_routing_cache.py",
        "tests/unit/gateway/test_native_adapter.py",  # the native matcher, the default subscriptions
    ),
}

# Imported once by the fork server, inherited by every mutant's process: the slow third-party
# imports. Never one of Anbu's modules (they must be imported after the mutant is chosen).
PRELOAD = (
    "pytest",
    "_pytest.python",
    # the pytest plugins installed in the virtualenv (entry points of group pytest11)
    "pytest_timeout",
    "_hypothesis_pytestplugin",
    "anyio.pytest_plugin",
    "platformdirs.pytest_plugin",
    "schemathesis.pytest.plugin",
    "hypothesis",
    "numpy",
    "sklearn.linear_model",
    "sklearn.feature_extraction.text",
    "sqlalchemy",
    "sqlmodel",
    "alembic.command",
    "alembic.config",
    "pydantic",
    "pydantic_settings",
    "fastapi",
    "starlette.testclient",
    "httpx",
    "jinja2",
    "paho.mqtt.client",
    "psycopg",
    "orjson",
    "twilio.rest",
    "twilio.request_validator",
    "apscheduler.schedulers.background",
    "argon2",
    "jwt",
)

PYTEST_ARGS = ("-p", "no:cacheprovider", "-p", "no:randomly", "--hypothesis-profile=mutation")
RECHECK_TIMEOUT_S = 120  # per test, in the re-check (an endless loop stops here and counts as a timeout)
KILLED = frozenset({"killed", "timeout", "segfault", "caught by type check"})

# mutmut's exit codes (mutmut.stats.status_by_exit_code, 3.8).
_STATUS = {
    0: "survived",
    1: "killed",
    3: "killed",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    -9: "segfault",
    -11: "segfault",
    37: "caught by type check",
}


def status_of(exit_code: int | None) -> str:
    if exit_code is None:
        return "not checked"
    return _STATUS.get(exit_code, "suspicious")


@dataclass
class Outcome:
    module: str
    statuses: dict[str, str]  # mutant name -> final status
    rechecked: dict[str, str] = field(default_factory=dict)  # mutant -> mutmut's verdict, overturned
    wall_s: float = 0.0
    subset: tuple[str, ...] = ()  # the --mutants patterns: the figures are this subset's only

    @property
    def total(self) -> int:
        return len(self.statuses)

    @property
    def killed(self) -> int:
        return sum(1 for s in self.statuses.values() if s in KILLED)

    @property
    def survivors(self) -> list[str]:
        return sorted((m for m, s in self.statuses.items() if s not in KILLED), key=_mutant_order)

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 0.0


def _mutant_order(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return (stem, int(number) if number.isdigit() else 0)


def slug(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def mutmut_config(module: str, tests: tuple[str, ...]) -> str:
    """The [tool.mutmut] table for one module (TOML)."""

    def toml_list(items: tuple[str, ...] | list[str]) -> str:
        return "[" + ", ".join(json.dumps(i) for i in items) + "]"

    return "\n".join(
        [
            "",
            "[tool.mutmut]",
            f"source_paths = {toml_list(list(PACKAGES))}",
            f"only_mutate = {toml_list([module])}",
            f"pytest_add_cli_args_test_selection = {toml_list(tests)}",
            f"pytest_add_cli_args = {toml_list(PYTEST_ARGS)}",
            'process_isolation = "forkserver"',
            'forkserver_warmup = "import"',
            'preload_modules_file = "preload.txt"',
            "use_git_change_detection = false",
            # An endless loop is cut off after ~10x its tests' usual time; every timeout is re-checked anyway.
            "timeout_multiplier = 10.0",
            "timeout_constant = 2.0",
            "",
        ]
    )


def prepare(module: str) -> Path:
    """An empty work directory laid out like the repository, with this module's mutmut config."""
    work = WORK / slug(module)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name in (*PACKAGES, "tests"):
        (work / name).symlink_to(ROOT / name, target_is_directory=True)
    pyproject = (ROOT / "pyproject.toml").read_text()
    if "[tool.mutmut]" in pyproject:
        raise SystemExit("pyproject.toml must not have a [tool.mutmut] table: tools/mutation.py writes it")
    (work / "pyproject.toml").write_text(pyproject + mutmut_config(module, MODULES[module]))
    (work / "preload.txt").write_text("\n".join(PRELOAD) + "\n")
    return work


class Rechecker:
    """Runs the module's tests against one mutant at a time, each in a process new to Anbu's code.

    A worker process imports only ``PRELOAD`` (it checks that none of Anbu's packages got in),
    then forks a child per mutant, which sets ``MUTANT_UNDER_TEST`` and runs pytest over *all*
    of the module's tests in mutmut's tree. ``fresh=True`` starts a whole new interpreter per
    mutant instead (slow: every third-party import again, ~20 s a mutant on a loaded machine).
    """

    def __init__(
        self, work: Path, tests: tuple[str, ...], *, fresh: bool, junit_dir: Path | None = None
    ) -> None:
        self.mutants_dir = work / "mutants"
        self.tests = tests
        self.fresh = fresh
        self.env = {**os.environ, "PY_IGNORE_IMPORTMISMATCH": "1"}
        self.worker: subprocess.Popen[str] | None = None
        if not fresh:
            self.worker = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--recheck-worker",
                    str(self.mutants_dir),
                    str(junit_dir) if junit_dir else NO_MUTANT,
                    *tests,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=self.env,
            )

    def exit_code(self, mutant: str) -> int:
        """pytest's exit code with *mutant* active ("" = no mutant, "fail" = every mutant raises)."""
        if self.worker is None:
            cmd = [sys.executable, "-m", "pytest", *pytest_args(self.tests)]
            env = {**self.env, "MUTANT_UNDER_TEST": mutant}
            done = subprocess.run(
                cmd,
                cwd=self.mutants_dir,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            return done.returncode
        assert self.worker.stdin is not None and self.worker.stdout is not None
        self.worker.stdin.write((mutant or NO_MUTANT) + "\n")
        self.worker.stdin.flush()
        answer = self.worker.stdout.readline()
        if not answer:
            raise SystemExit(f"re-check worker died (exit {self.worker.wait()})")
        return int(answer)

    def check_setup(self) -> None:
        """The tests pass on the real code and fail when every mutated function raises."""
        clean = self.exit_code("")
        if clean != 0:
            raise SystemExit(f"re-check: the tests fail without any mutant (exit {clean})")
        forced = self.exit_code("fail")
        if forced in (0, 5):
            raise SystemExit(
                f"re-check: mutmut's 'fail' pseudo-mutant went unnoticed (exit {forced}): "
                "the tests do not run the mutated code"
            )

    def close(self) -> None:
        if self.worker is not None:
            assert self.worker.stdin is not None
            self.worker.stdin.close()
            self.worker.wait()


NO_MUTANT = "-"


def pytest_args(tests: tuple[str, ...], junit: Path | None = None) -> list[str]:
    """Stop at the first failure, or (``junit``) run every test and write a JUnit report there."""
    stop = ["-x"] if junit is None else [f"--junitxml={junit}"]
    return [*stop, "-q", "--rootdir=.", f"--timeout={RECHECK_TIMEOUT_S}", *PYTEST_ARGS, *tests]


def covering_tests(mutants_dir: Path, mutant: str, tests: tuple[str, ...]) -> list[str]:
    """The tests mutmut saw reach *mutant*'s function (its stats file), those in *tests*' files only."""
    try:
        stats = json.loads((mutants_dir / "mutmut-stats.json").read_text())
    except (OSError, ValueError):
        return []
    reaching = stats.get("tests_by_mangled_function_name", {}).get(mutant.rpartition("__mutmut_")[0], [])
    return sorted(t for t in reaching if t.split("::")[0] in tests)


def recheck_worker(mutants_dir: str, junit_dir: str, tests: tuple[str, ...]) -> int:
    """The re-check worker (``--recheck-worker``): forked pytest runs per mutant named on stdin.

    First the tests that reach the mutant's function (mutmut's record), so that a mutant a test
    kills is known in seconds; if none of them fails, *all* of the module's tests: only that
    full run can say "survived". A JUnit report (``--which``) always runs all of them.
    """
    import importlib

    with warnings.catch_warnings():  # third-party deprecation notes are not ours to act on here
        warnings.simplefilter("ignore")
        for name in PRELOAD:
            importlib.import_module(name)
    ours = sorted({m.split(".")[0] for m in sys.modules} & {*PACKAGES, "tests"})
    if ours:
        raise SystemExit(f"re-check worker: {ours} imported before the mutant was chosen")
    os.chdir(mutants_dir)
    sys.path.insert(0, mutants_dir)  # mutmut's tree first: its modules shadow the repository's

    def run(mutant: str, selection: tuple[str, ...], junit: Path | None) -> int:
        pid = os.fork()
        if pid == 0:  # the child: choose the mutant, then import and test
            os.environ["MUTANT_UNDER_TEST"] = "" if mutant == NO_MUTANT else mutant
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import pytest

            os._exit(int(pytest.main(pytest_args(selection, junit))))
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    for line in sys.stdin:
        mutant = line.strip()
        junit = None if junit_dir == NO_MUTANT else Path(junit_dir) / f"{mutant}.xml"
        first = (
            () if junit or mutant in (NO_MUTANT, "fail") else covering_tests(Path(mutants_dir), mutant, tests)
        )
        code = run(mutant, tuple(first), None) if first else 0
        if code != 1:  # only a failing test decides early; anything else asks all the tests
            code = run(mutant, tests, junit)
        print(code, flush=True)
    return 0


def run_quietly(cmd: list[str], cwd: Path, every_s: float = 60.0) -> int:
    """Run mutmut, passing its output through but its spinner only once a minute."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    last_progress, last_spun = 0.0, ""
    pending = b""
    while chunk := os.read(proc.stdout.fileno(), 65536):
        pending += chunk
        *lines, pending = pending.replace(b"\r", b"\n").split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace").strip()
            if line[:1] in _SPINNER:  # "⠋ Running stats", "⠋ 41/204  🎉 39 ...": a redrawn line
                line = line[1:].strip()
                if line == last_spun or ("/" in line and time.monotonic() - last_progress < every_s):
                    continue
                last_spun, last_progress = line, time.monotonic()
            if line:
                print(line, flush=True)
    return proc.wait()


_SPINNER = set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")


def load_statuses(work: Path, module: str) -> dict[str, str]:
    meta = json.loads((work / "mutants" / (module + ".meta")).read_text())
    return {name: status_of(code) for name, code in meta["exit_code_by_key"].items()}


def matching(names: list[str] | dict[str, str], patterns: tuple[str, ...]) -> list[str]:
    """The mutant names that *patterns* select, as ``mutmut run <patterns>`` does (a name, or an
    ``fnmatch`` pattern). Raises if a pattern selects nothing: a typo must not pass as a clean run."""
    unmatched = [p for p in patterns if not any(n == p or fnmatch.fnmatch(n, p) for n in names)]
    if unmatched:
        raise SystemExit(f"--mutants: no mutant matches {unmatched}")
    return [n for n in names if any(n == p or fnmatch.fnmatch(n, p) for p in patterns)]


def run_module(
    module: str, jobs: int, *, recheck: bool, fresh: bool, mutants: tuple[str, ...] = ()
) -> Outcome:
    """Run mutmut on *module* (only on *mutants*, names or patterns, if given), then re-check."""
    tests = MODULES[module]
    started = time.monotonic()
    work = prepare(module)
    mutmut = Path(sys.executable).with_name("mutmut")
    print(f"== {module}: mutmut over {' '.join(tests)}", flush=True)
    code = run_quietly([str(mutmut), "run", "--max-children", str(jobs), *mutants], work)
    if code != 0:
        raise SystemExit(f"mutmut run failed for {module} (exit {code}); see the output above")
    statuses = load_statuses(work, module)
    if mutants:  # mutmut's file lists every mutant; only the named ones were run
        statuses = {name: statuses[name] for name in matching(statuses, mutants)}
    outcome = Outcome(module=module, statuses=statuses, subset=mutants)
    doubtful = sorted(
        (m for m, s in outcome.statuses.items() if s not in KILLED or s == "timeout"), key=_mutant_order
    )
    if recheck and doubtful:
        print(f"== re-checking {len(doubtful)} mutants, each in a process new to Anbu's code", flush=True)
        checker = Rechecker(work, tests, fresh=fresh)
        try:
            checker.check_setup()
            for mutant in doubtful:
                code = checker.exit_code(mutant)
                before = outcome.statuses[mutant]
                # pytest-timeout fails a test (exit 1) after RECHECK_TIMEOUT_S: then it is a real timeout.
                after = "survived" if code == 0 else "no tests" if code == 5 else "killed"
                if after == "killed" and before == "timeout":
                    after = "timeout"
                if (after in KILLED) != (before in KILLED):
                    outcome.rechecked[mutant] = before
                outcome.statuses[mutant] = after
        finally:
            checker.close()
    outcome.wall_s = time.monotonic() - started
    return outcome


def which_tests(module: str, mutants: list[str], only: tuple[str, ...] = ()) -> None:
    """For each mutant of the last run of *module*: the mapped tests (or *only* these) failing on it."""
    import xml.etree.ElementTree as ET

    work = WORK / slug(module)
    if not (work / "mutants").is_dir():
        raise SystemExit(f"no run of {module} to look at: make mutation MODULE={module} first")
    junit_dir = work / "which"
    shutil.rmtree(junit_dir, ignore_errors=True)
    junit_dir.mkdir()
    checker = Rechecker(work, only or MODULES[module], fresh=False, junit_dir=junit_dir)
    try:
        for mutant in [NO_MUTANT, *mutants]:
            checker.exit_code("" if mutant == NO_MUTANT else mutant)
            failed = []
            for case in ET.parse(junit_dir / f"{mutant}.xml").iter("testcase"):
                if case.find("failure") is not None or case.find("error") is not None:
                    failed.append(f"{case.get('classname', '')}::{case.get('name', '')}")
            if mutant == NO_MUTANT:
                if failed:
                    raise SystemExit(f"tests fail without a mutant: {failed}")
                continue
            print(f"{mutant}: {len(failed)} failing test(s)")
            for name in failed:
                print(f"    {name}")
    finally:
        checker.close()


def show(work: Path, mutant: str) -> str:
    mutmut = Path(sys.executable).with_name("mutmut")
    done = subprocess.run(
        [str(mutmut), "show", mutant], cwd=work, capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def report(outcome: Outcome, show_diffs: bool) -> None:
    counts = Counter(outcome.statuses.values())
    print()
    print(f"== {outcome.module}")
    if outcome.subset:
        print(f"SUBSET ({' '.join(outcome.subset)}): these figures are not the module's score")
    print(
        f"mutants {outcome.total}, killed {outcome.killed} "
        f"(incl. {counts.get('timeout', 0)} timeouts), survived {len(outcome.survivors)}"
        f" ({counts.get('no tests', 0)} with no covering test)"
    )
    print(f"score {outcome.score:.1f} %   wall time {outcome.wall_s / 60:.1f} min")
    for mutant, before in sorted(outcome.rechecked.items()):
        print(f"  re-check overturned mutmut's '{before}' for {mutant}: now {outcome.statuses[mutant]}")
    if outcome.survivors:
        print("survivors:")
        work = WORK / slug(outcome.module)
        for mutant in outcome.survivors:
            print(f"  {mutant} ({outcome.statuses[mutant]})")
            if show_diffs:
                for line in show(work, mutant).splitlines():
                    if line.startswith(("+", "-")) and not line.startswith(("+++", "---")):
                        print(f"      {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("module", nargs="?", help="a module path from the map, or 'all'")
    parser.add_argument("--jobs", type=int, default=1, help="mutants at once (default 1: a shared machine)")
    parser.add_argument("--no-recheck", action="store_true", help="trust mutmut's verdicts")
    parser.add_argument(
        "--fresh", action="store_true", help="re-check in a new interpreter per mutant (slow; a cross-check)"
    )
    parser.add_argument(
        "--which", nargs="+", metavar="MUTANT", help="after a run: which mapped tests fail on these mutants"
    )
    parser.add_argument(
        "--only", nargs="+", default=(), metavar="TEST", help="with --which: these tests only"
    )
    parser.add_argument(
        "--mutants",
        nargs="+",
        default=(),
        metavar="PATTERN",
        help="run only these mutants (names or fnmatch patterns; one module); prints the subset's figures",
    )
    parser.add_argument("--recheck-worker", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    parser.add_argument("--no-diffs", action="store_true", help="list survivors without their diffs")
    args = parser.parse_args(argv)
    if args.recheck_worker:
        mutants_dir, junit_dir, *tests = args.recheck_worker
        return recheck_worker(mutants_dir, junit_dir, tuple(tests))
    if not args.module:
        print("usage: make mutation MODULE=<module>; modules:\n  " + "\n  ".join(MODULES))
        return 2
    modules = list(MODULES) if args.module == "all" else [args.module.removeprefix("./")]
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        print(f"not in tools/mutation.py's map: {unknown[0]}; modules:\n  " + "\n  ".join(MODULES))
        return 2
    if args.which:
        which_tests(modules[0], args.which, tuple(args.only))
        return 0
    if args.mutants and len(modules) != 1:
        print("--mutants names the mutants of one module")
        return 2
    outcomes = []
    for module in modules:
        outcome = run_module(
            module, args.jobs, recheck=not args.no_recheck, fresh=args.fresh, mutants=tuple(args.mutants)
        )
        report(outcome, show_diffs=not args.no_diffs)
        outcomes.append(outcome)
    if len(outcomes) > 1:
        print("\nmodule | mutants | killed | survived | score | wall")
        for o in outcomes:
            print(
                f"{o.module} | {o.total} | {o.killed} | {len(o.survivors)} | {o.score:.1f} % "
                f"| {o.wall_s / 60:.1f} min"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
