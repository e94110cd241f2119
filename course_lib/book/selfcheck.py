"""Self-checks for the exercises that ask the reader to implement a piece of a method.

Each ``check_*`` function runs the reader's function on a few small, fixed inputs, prints one
line per case (``[pass]`` or ``[FAIL]`` with the expected and the received value) and returns a
:class:`SelfCheckReport`, true when every case passed. A function that raises (a stub that is
not written yet, a wrong shape) fails its case with the error's message instead of stopping the
notebook (``verbose=False`` returns the report without printing it). The checks compare outputs
only: they never show how the reference computes them. :func:`assert_case` turns one case into
an assertion for the autograder of the student edition.
In the style of the self-check functions of the MIT EfficientML labs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import pandas as pd

from .. import remedies, training
from ..analysis import changes, class_impact, exemplars, ranking, robustness, subgroups, vog
from ..compression import pruning, quantization, sparse_init


@dataclass
class SelfCheckReport:
    """The cases of one self-check: ``(name, passed, expected, received)`` each."""

    exercise: str
    cases: list[tuple[str, bool, Any, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every case passed."""
        return bool(self.cases) and all(ok for _, ok, _, _ in self.cases)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        lines = [f"{self.exercise}: {sum(ok for _, ok, _, _ in self.cases)} of {len(self.cases)} cases passed"]
        for name, ok, expected, received in self.cases:
            lines.append(f"  [pass] {name}" if ok else f"  [FAIL] {name}\n         expected {expected}\n         received {received}")
        return "\n".join(lines)


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _run(exercise: str, fn: Callable, cases: list[tuple[str, tuple, Any]],
         compare: Callable[[Any, Any], bool], verbose: bool) -> SelfCheckReport:
    """Call ``fn(*args)`` for every ``(name, args, expected)`` case; print the report if ``verbose``."""
    report = SelfCheckReport(exercise)
    for name, args, expected in cases:
        try:
            received = fn(*args)
            ok = compare(received, expected)
        except Exception as error:  # noqa: BLE001 -- a reader's function may fail in any way: report it
            received, ok = f"{type(error).__name__}: {error}", False
        report.cases.append((name, ok, _shown(expected), _shown(received)))
    if verbose:
        print(report)
    return report


def _shown(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_shown(v) for v in value)
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return np.round(_as_array(value).astype(float), 6).tolist()
    return value


def _close(received: Any, expected: Any) -> bool:
    received = _as_array(received)
    return received.shape == np.shape(expected) and np.allclose(received.astype(float), expected, atol=1e-6,
                                                                equal_nan=True)


def _close_number(received: Any, expected: float) -> bool:
    received = float(received)
    return (np.isnan(received) and np.isnan(expected)) or abs(received - expected) <= 1e-6


def _same_series(received: Any, expected: pd.Series) -> bool:
    """Whether ``received`` (a Series or a dict) has ``expected``'s labels and, label by label, its values."""
    received = pd.Series(received)
    return set(received.index) == set(expected.index) and _close(received[expected.index].to_numpy(float),
                                                                  expected.to_numpy())


def check_class_recall(fn: Callable[[np.ndarray, np.ndarray, int], Any], *, verbose: bool = True) -> SelfCheckReport:
    """Check ``fn(preds (N,), targets (N,), num_classes) -> (C,)``: the accuracy of each class (exercise ``ch01-recall``).

    The share of each class's examples predicted as that class (its recall), NaN for a class
    with no examples (:func:`~course_lib.training.metrics.recall_per_class`).
    """
    cases = []
    for name, preds, targets, classes in (("three classes", [0, 1, 1, 2, 2, 0], [0, 1, 2, 2, 2, 1], 3),
                                          ("every prediction right", [1, 0, 1], [1, 0, 1], 2),
                                          ("a class without examples", [0, 0, 2, 2], [0, 2, 2, 2], 3)):
        preds, targets = np.array(preds), np.array(targets)
        cases.append((name, (preds, targets, classes), training.recall_per_class(preds, targets, classes)))
    return _run("accuracy of each class", fn, cases, _close, verbose)


def check_enrichment(fn: Callable[[np.ndarray, np.ndarray], Any], *, verbose: bool = True) -> SelfCheckReport:
    """Check ``fn(flagged (N,), groups (N,)) -> pandas.Series``: over-indexing of each group (exercise ``ch02-enrichment``).

    A group's share of the flagged examples divided by its share of all examples, indexed by
    the group value (Hooker et al. 2020; :func:`~course_lib.analysis.exemplars.enrichment`).
    """
    cases = []
    for name, flagged, groups in (("two groups", [1, 1, 0, 0, 1, 0], ["a", "a", "a", "b", "b", "b"]),
                                  ("a group never flagged", [1, 1, 0, 0, 0, 1, 0, 0], list("aabbbccc")),
                                  ("one flagged example", [0, 0, 0, 1], ["x", "y", "y", "y"])):
        flagged, groups = np.array(flagged, dtype=bool), np.array(groups)
        table = exemplars.enrichment(flagged, pd.DataFrame({"group": groups}))
        cases.append((name, (flagged, groups), table["enrichment"].rename(lambda flag: flag.removeprefix("group="))))

    return _run("over-indexing of each group", fn, cases, _same_series, verbose)


def check_subgroup_fnr(fn: Callable[[np.ndarray, np.ndarray, np.ndarray], Any], *,
                       verbose: bool = True) -> SelfCheckReport:
    """Check ``fn(y_true (N,), y_pred (N,), groups (N,)) -> pandas.Series``: FNR of each group (exercise ``ch03-fnr``).

    The false negative rate of the positive label 1, ``FN / (FN + TP)``, for every group value,
    indexed by the value; NaN for a group without positives
    (:func:`~course_lib.analysis.subgroups.subgroup_metrics`).
    """
    cases = []
    for name, y_true, y_pred, groups in (
            ("two groups", [1, 1, 0, 1, 1, 0], [1, 0, 0, 1, 1, 1], ["a", "a", "a", "b", "b", "b"]),
            ("a group without positives", [1, 0, 0, 1], [0, 1, 0, 1], ["x", "y", "y", "x"]),
            ("three groups, unsorted", [1, 1, 1, 1, 0, 1], [0, 0, 1, 1, 0, 0], ["m", "f", "m", "o", "f", "o"])):
        y_true, y_pred, groups = np.array(y_true), np.array(y_pred), np.array(groups)
        table = subgroups.subgroup_metrics(y_true=y_true, y_pred=y_pred, groups=pd.DataFrame({"group": groups}))
        cases.append((name, (y_true, y_pred, groups), table[table.scope == "unitary"].set_index("group")["fnr"]))

    return _run("FNR of each group", fn, cases, _same_series, verbose)


def check_cubic_schedule(fn: Callable[[int, float, int, int], Any], *, verbose: bool = True) -> SelfCheckReport:
    """Check ``fn(step, final_sparsity, begin_step, end_step) -> float``: the cubic schedule (exercise ``ch04-cubic``).

    Zhu & Gupta's sparsity target from an initial sparsity of 0: 0 up to ``begin_step``,
    ``final_sparsity`` from ``end_step`` on (:func:`~course_lib.compression.pruning.cubic_sparsity`).
    """
    cases = [(name, args, pruning.cubic_sparsity(*args)) for name, args in (
        ("before the window", (3, 0.9, 10, 110)),
        ("a quarter of the way", (35, 0.9, 10, 110)),
        ("half way", (60, 0.99, 10, 110)),
        ("after the window", (500, 0.5, 0, 100)))]
    return _run("cubic sparsity schedule", fn, cases, _close_number, verbose)


def check_normalized_recall(fn: Callable[[np.ndarray, np.ndarray, int], Any], *,
                            verbose: bool = True) -> SelfCheckReport:
    """Check ``fn(preds (K, N), targets (N,), num_classes) -> (K, C)``: normalised recall (exercise ``ch05-normalized``).

    Each member's recall of each class minus the population's mean top-1 accuracy (Hooker et
    al. 2019; :func:`~course_lib.analysis.class_impact.normalized_recall`).
    """
    cases = []
    for name, preds, targets, classes in (
            ("one member", [[0, 1, 1, 2]], [0, 1, 2, 2], 3),
            ("two members", [[0, 1, 1, 0], [1, 1, 0, 0]], [0, 1, 0, 1], 2),
            ("three members, a class without examples", [[0, 0, 2], [0, 2, 2], [2, 2, 2]], [0, 2, 2], 3)):
        preds, targets = np.array(preds), np.array(targets)
        cases.append((name, (preds, targets, classes), class_impact.normalized_recall(preds, targets, classes)))
    return _run("normalised recall", fn, cases, _close, verbose)


def check_contrast(fn: Callable[[torch.Tensor, float], Any], *, verbose: bool = True) -> SelfCheckReport:
    """Check ``fn(images (N, C, H, W), factor) -> images``: the contrast corruption (exercise ``ch08-contrast``).

    Each channel of each image keeps its mean, and its deviations from that mean are multiplied
    by ``factor`` (Hendrycks & Dietterich 2019; :func:`~course_lib.analysis.robustness.corrupt`
    with ``corruption="contrast"``, whose factors are ``robustness.SEVERITY_PARAMETERS["contrast"]``).
    """
    generator = torch.Generator().manual_seed(0)
    cases = []
    for name, images, severity in (("one grey image", torch.tensor([[[[0.0, 0.5], [1.0, 0.5]]]]), 2),
                                   ("a flat image does not change", torch.full((1, 1, 3, 3), 0.3), 1),
                                   ("two colour images", torch.rand(2, 3, 4, 4, generator=generator), 5)):
        factor = robustness.SEVERITY_PARAMETERS["contrast"][severity - 1]
        cases.append((f"{name}, factor {factor}", (images, factor),
                      robustness.corrupt(images, corruption="contrast", severity=severity)))
    return _run("contrast corruption", fn, cases, _close, verbose)


def check_cev(fn: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], Any], *,
              verbose: bool = True) -> SelfCheckReport:
    """Check ``fn(fpr_baseline, fnr_baseline, fpr_compressed, fnr_compressed) -> float``: CEV (exercise ``ch09-cev``).

    The four arguments are ``(C,)`` rates of the classes; CEV is half the mean squared distance
    of the points (relative change of FPR, relative change of FNR), in percent, to their
    centroid (Blakeney et al. 2021, as in the authors' notebook;
    :func:`~course_lib.analysis.changes.cev`).
    """
    cases = []
    for name, rates in (("every class moved alike", ([0.1, 0.2], [0.2, 0.4], [0.2, 0.4], [0.1, 0.2])),
                        ("two classes", ([0.1, 0.2], [0.2, 0.1], [0.15, 0.2], [0.2, 0.3])),
                        ("three classes", ([0.05, 0.1, 0.4], [0.3, 0.2, 0.1], [0.06, 0.2, 0.3], [0.33, 0.1, 0.1]))):
        rates = tuple(np.array(r) for r in rates)
        keys = ("fpr_baseline", "fnr_baseline", "fpr_compressed", "fnr_compressed")
        cases.append((name, rates, changes.cev(**dict(zip(keys, rates)))))
    return _run("CEV", fn, cases, _close_number, verbose)


def check_average_precision(fn: Callable[[np.ndarray, np.ndarray], Any], *, verbose: bool = True) -> SelfCheckReport:
    """Check ``fn(scores (N,), flags (N,)) -> float``: average precision of a ranking (exercise ``ch10-ap``).

    Rank by decreasing score, ties in the order of the examples; AP is the mean, over the
    flagged examples, of the precision among the examples ranked up to each of them
    (:func:`~course_lib.analysis.ranking.average_precision`).
    """
    cases = []
    for name, scores, flags in (("flagged first", [0.9, 0.8, 0.1, 0.2], [True, True, False, False]),
                                ("flagged last", [0.1, 0.9, 0.8, 0.7], [True, False, False, False]),
                                ("interleaved", [5.0, 4.0, 3.0, 2.0, 1.0], [True, False, True, False, True]),
                                ("tied scores, in example order", [1.0, 1.0, 1.0, 0.0], [True, False, False, True])):
        scores, flags = np.array(scores), np.array(flags)
        cases.append((name, (scores, flags), ranking.average_precision(scores, flags, n_boot=1)["ap"]))
    return _run("average precision", fn, cases, _close_number, verbose)


def check_modal_labels_largest(fn: Callable[[np.ndarray], Any], *, verbose: bool = True) -> SelfCheckReport:
    """Check ``fn(preds (K, N)) -> (N,)``: modal labels, ties broken towards the largest class.

    (Exercise ``ch06-ties``; :func:`~course_lib.analysis.exemplars.modal_labels` breaks them
    towards the smallest.)
    """
    cases = []
    for name, preds in (("no ties", [[0, 1, 2], [0, 1, 2], [3, 1, 0]]),
                        ("a 2-2-1 tie among five members", [[1, 4], [1, 4], [3, 0], [3, 0], [2, 2]]),
                        ("every member different", [[0], [5], [2], [9], [7]])):
        preds = np.array(preds)
        top = preds.max()
        cases.append((name, (preds,), top - exemplars.modal_labels(top - preds)))
    return _run("modal labels, ties to the largest", fn, cases, _close, verbose)


def check_quantizer_4bit(fn: Callable[[torch.Tensor], tuple[Any, Any]], *, verbose: bool = True) -> SelfCheckReport:
    """Check ``fn(w) -> (q, scale)``: symmetric 4-bit per-tensor quantization (exercise ``ch07-bits``).

    ``scale = max|w| / 7`` and ``q = clamp(round(w / scale), -7, 7)`` as integers; an all-zero
    tensor gets ``scale = 0`` and ``q = 0``
    (:func:`~course_lib.compression.quantization.quantize_symmetric` with ``bits=4``).
    """
    cases = []
    for name, w in (("a small matrix", torch.tensor([[0.7, -0.33], [0.12, -0.02]])),
                    ("the largest magnitude negative", torch.tensor([-1.4, 0.2, 0.6, 1.0])),
                    ("all zeros", torch.zeros(3))):
        q, scale = quantization.quantize_symmetric(w, per_channel=False, bits=4)
        cases.append((name, (w,), (q.numpy(), float(scale))))

    def compare(received: Any, expected: Any) -> bool:
        q, scale = received
        return _close(q, expected[0]) and abs(float(scale) - expected[1]) <= 1e-6

    return _run("4-bit symmetric quantizer", fn, cases, compare, verbose)


def check_vog(fn: Callable[[torch.Tensor], Any], *, verbose: bool = True) -> SelfCheckReport:
    """Check ``fn(gradients (K, N, C, H, W)) -> (N,)``: Variance of Gradients (exercise ``ch11-vog-by-hand``).

    The channel mean, then the population standard deviation across the ``K`` checkpoints, then
    the mean over pixels (:func:`~course_lib.analysis.vog.vog_scores`, without class normalisation).
    """
    steady = torch.ones(3, 2, 1, 2, 2)
    two = torch.zeros(2, 1, 1, 1, 2)
    two[1] = torch.tensor([2.0, 4.0])  # pixel spreads 1 and 2 across the two checkpoints: VoG 1.5
    varied = torch.sin(torch.arange(4 * 3 * 3 * 2 * 2, dtype=torch.float32)).reshape(4, 3, 3, 2, 2)  # signed
    cases = [(name, (g,), vog.vog_scores(g)) for name, g in (("steady gradients", steady),
                                                              ("two checkpoints, two pixels", two),
                                                              ("three channels, four checkpoints", varied))]
    return _run("VoG from gradients", fn, cases, _close, verbose)


def check_distillation_loss(fn: Callable[..., Any], *, verbose: bool = True) -> SelfCheckReport:
    """Check ``fn(student_logits, teacher_logits, targets, *, temperature, alpha, gamma)``: the distillation loss.

    ``gamma * CE(targets, student) + alpha * T**2 * KL(softmax(teacher / T) || softmax(student /
    T))``, both terms averaged over the batch, a scalar (exercise ``ch12-temperature``;
    :func:`~course_lib.remedies.distillation.distillation_loss`).
    """
    same = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, -2.0]])
    skewed_teacher = torch.tensor([[0.0, float(np.log(3.0))]])  # softmax (1/4, 3/4)
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(4, 5, generator=generator), torch.randn(4, 5, generator=generator)
    cases = [("student equals teacher: only the hard term", (same, same, torch.tensor([0, 2]), 4.0, 0.9, 0.1)),
             ("one example, T = 1, soft term only", (torch.zeros(1, 2), skewed_teacher, torch.tensor([1]), 1.0, 1.0, 0.0)),
             ("a batch of four, T = 4", (student, teacher, torch.tensor([0, 1, 2, 3]), 4.0, 0.9, 0.1))]
    expected = [(name, args, float(remedies.distillation_loss(*args[:3], temperature=args[3], alpha=args[4],
                                                               gamma=args[5]))) for name, args in cases]
    return _run("distillation loss", lambda s, t, y, temperature, alpha, gamma: fn(
        s, t, y, temperature=temperature, alpha=alpha, gamma=gamma), expected,
        lambda received, wanted: abs(float(received) - wanted) <= 1e-5, verbose)


def check_unit_variances(fn: Callable[[torch.Tensor], Any], *, verbose: bool = True) -> SelfCheckReport:
    """Check ``fn(mask) -> variances``: the unit-scaled initialisation's variance of every weight (exercise ``ch13-unit``).

    ``mask`` is bool ``(out, in)`` or ``(out, in, *kernel)``; a kept weight from input unit
    ``j`` to output unit ``i`` gets ``1 / ((fan_in_i + fan_out_j) / 2)``, the fans counted over
    kept connections only (summed over the kernel), and a pruned weight 0 (Evci et al. 2022;
    :func:`~course_lib.compression.sparse_init.unit_variances` with ``mode="fanavg"``).
    """
    conv = torch.zeros(2, 2, 3, 3, dtype=torch.bool)
    conv[0, 0, :, 1] = conv[0, 1, 1, :] = conv[1, 1, 0, 0] = True
    cases = [("dense 2 x 3", torch.ones(2, 3, dtype=torch.bool)),
             ("sparse 3 x 4", torch.tensor([[1, 0, 0, 1], [0, 0, 0, 1], [1, 1, 1, 1]], dtype=torch.bool)),
             ("a row without a kept weight", torch.tensor([[0, 0], [1, 0]], dtype=torch.bool)),
             ("conv 2 x 2 x 3 x 3", conv)]
    expected = [(name, (mask,), sparse_init.unit_variances(mask, mode="fanavg")) for name, mask in cases]
    return _run("unit-scaled variances", fn, expected, _close, verbose)


def _unwritten(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError


def case_names(check: Callable[..., SelfCheckReport]) -> list[str]:
    """The names of the cases of ``check`` (one of the ``check_*`` functions), in order."""
    return [name for name, *_ in check(_unwritten, verbose=False).cases]


def assert_case(check: Callable[..., SelfCheckReport], function: str, case: str,
                namespace: Mapping[str, Any]) -> None:
    """Assert that the reader's ``namespace[function]`` passes the case named ``case`` of ``check``.

    The autograder's tests call this once per case (:mod:`course_lib.book.student`), so that a
    half-done function earns part of the points. A function that is not defined, because its
    cell was deleted or failed before defining it (a syntax error), fails every case with a
    message that says so instead of a bare ``NameError``.

    Raises
    ------
    AssertionError
        naming the case, with the expected and the received value, or the missing function.
    """
    if not callable(namespace.get(function)):
        raise AssertionError(f"`{function}` is not defined: the exercise's code cell is missing or failed before "
                             f"defining it (a syntax error?). Restore the cell, run it, and check again.")
    report = check(namespace[function], verbose=False)
    for name, ok, expected, received in report.cases:
        if name == case:
            assert ok, f"{report.exercise}, case '{case}': expected {expected}, received {received}"
            return
    raise ValueError(f"case must be one of {[name for name, *_ in report.cases]}, got {case!r}")


__all__ = ["SelfCheckReport", "assert_case", "case_names", "check_average_precision", "check_cev",
           "check_class_recall", "check_contrast", "check_cubic_schedule", "check_distillation_loss", "check_enrichment",
           "check_modal_labels_largest", "check_normalized_recall", "check_quantizer_4bit", "check_subgroup_fnr",
           "check_unit_variances", "check_vog"]
