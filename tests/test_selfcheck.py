"""The self-checks of the implementation exercises: the reference passes, wrong answers and stubs fail clearly."""

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.analysis import exemplars
from course_lib.book import selfcheck


def _largest(preds):
    preds = np.asarray(preds)
    top = preds.max()
    return top - exemplars.modal_labels(top - preds)


def _quantize_4bit(w):
    scale = w.abs().max() / 7
    q = torch.zeros_like(w, dtype=torch.int8) if scale == 0 else torch.clamp(torch.round(w / scale), -7, 7).to(torch.int8)
    return q, scale


def _vog(g):
    return g.mean(2).std(0, correction=0).mean((1, 2))


def _distillation(student, teacher, targets, *, temperature, alpha, gamma):
    hard = torch.nn.functional.cross_entropy(student, targets)
    p_teacher = torch.softmax(teacher / temperature, 1)
    kl = (p_teacher * (torch.log_softmax(teacher / temperature, 1) - torch.log_softmax(student / temperature, 1))).sum(1)
    return gamma * hard + alpha * temperature**2 * kl.mean()


def _recall(preds, targets, num_classes):
    return np.array([(preds[targets == c] == c).mean() if (targets == c).any() else np.nan
                     for c in range(num_classes)])


def _precision(preds, targets, num_classes):  # the share of each predicted class that is right
    return np.array([(targets[preds == c] == c).mean() if (preds == c).any() else np.nan
                     for c in range(num_classes)])


def _fnr(y_true, y_pred, groups):
    return pd.Series({g: ((y_pred == 0) & (y_true == 1) & (groups == g)).sum() / ((y_true == 1) & (groups == g)).sum()
                      if ((y_true == 1) & (groups == g)).any() else np.nan for g in np.unique(groups)})


def _cubic(step, final, begin, end):
    progress = min(max((step - begin) / (end - begin), 0.0), 1.0)
    return final * (1 - (1 - progress) ** 3)


def _normalized(preds, targets, num_classes):
    top1 = (preds == targets).mean()
    return np.stack([_recall(p, targets, num_classes) for p in preds]) - top1


def _contrast(images, factor):
    means = images.mean((-2, -1), keepdim=True)
    return (images - means) * factor + means


def _cev(fpr_b, fnr_b, fpr_c, fnr_c, relative=True):
    points = np.stack([fpr_c - fpr_b, fnr_c - fnr_b], 1) * 100
    if relative:
        points = points / np.stack([fpr_b, fnr_b], 1)
    return ((points - points.mean(0)) ** 2).sum(1).mean() / 2


def _ap(scores, flags):
    ranked = flags[np.argsort(-scores, kind="stable")]
    return (np.cumsum(ranked) / np.arange(1, len(ranked) + 1))[ranked].mean()


def _enrichment(flagged, groups):
    return pd.Series({g: flagged[groups == g].sum() / flagged.sum() / (groups == g).mean() for g in np.unique(groups)})


def _unit(mask):
    kept = mask.float()
    fan_in = kept.flatten(1).sum(1).reshape([-1, 1] + [1] * (mask.dim() - 2))
    fan_out = kept.transpose(0, 1).flatten(1).sum(1).reshape([1, -1] + [1] * (mask.dim() - 2))
    return kept / ((fan_in + fan_out) / 2).clamp(min=1)


def _stub(*args, **kwargs):
    raise NotImplementedError("write this function")


PARAMETRIZED = [pytest.param(*case) for case in [
    (selfcheck.check_modal_labels_largest, _largest, exemplars.modal_labels),  # ties to the smallest
    (selfcheck.check_quantizer_4bit, _quantize_4bit,
     lambda w: (torch.round(w / (w.abs().max() / 127)), w.abs().max() / 127)),  # int8's arithmetic
    (selfcheck.check_vog, _vog, lambda g: g.mean(2).std(0).mean((1, 2))),  # the sample std (ddof 1)
    (selfcheck.check_class_recall, _recall, _precision),
    (selfcheck.check_enrichment, _enrichment,  # the group's flag rate instead of its share of the flagged
     lambda f, g: pd.Series({v: f[g == v].mean() for v in np.unique(g)})),
    (selfcheck.check_subgroup_fnr, _fnr,  # the false positive rate instead
     lambda y, p, g: _fnr(1 - y, 1 - p, g)),
    (selfcheck.check_cubic_schedule, _cubic,  # a linear schedule
     lambda t, final, begin, end: final * min(max((t - begin) / (end - begin), 0.0), 1.0)),
    (selfcheck.check_normalized_recall, _normalized,  # each member's own top-1 instead of the population's mean
     lambda p, t, c: np.stack([_recall(m, t, c) - (m == t).mean() for m in p])),
    (selfcheck.check_contrast, _contrast,  # the mean over the channels too
     lambda x, f: (x - x.mean((-3, -2, -1), keepdim=True)) * f + x.mean((-3, -2, -1), keepdim=True)),
    (selfcheck.check_cev, _cev,  # absolute changes of the rates instead of relative ones
     lambda *rates: _cev(*rates, relative=False)),
    (selfcheck.check_average_precision, _ap,  # precision at the number of flagged examples
     lambda s, f: f[np.argsort(-s, kind="stable")][:f.sum()].mean()),
    (selfcheck.check_unit_variances, _unit,  # the dense fans: the layer's shape, whatever the mask keeps
     lambda m: m.float() / ((m[0].numel() + m[:, 0].numel()) / 2)),
    (selfcheck.check_distillation_loss, _distillation,  # without the T**2 factor of the soft term
     lambda s, t, y, *, temperature, alpha, gamma: _distillation(s, t, y, temperature=temperature,
                                                                 alpha=alpha / temperature**2, gamma=gamma)),
]]


@pytest.mark.parametrize("check, reference, wrong", PARAMETRIZED)
def test_a_check_passes_the_reference_and_fails_a_wrong_answer_and_a_stub(check, reference, wrong, capsys):
    assert check(reference).passed
    assert "[FAIL]" not in capsys.readouterr().out
    report = check(wrong)
    assert not report.passed and not report
    out = capsys.readouterr().out
    assert "[FAIL]" in out and "expected" in out and "received" in out
    stub = check(_stub)
    assert not stub.passed and all(not ok for _, ok, _, _ in stub.cases)
    assert "NotImplementedError: write this function" in capsys.readouterr().out


def test_the_report_counts_cases_and_shows_expected_and_received():
    report = selfcheck.SelfCheckReport("demo", [("one", True, 1, 1), ("two", False, [1.0], [2.0])])
    assert str(report) == ("demo: 1 of 2 cases passed\n  [pass] one\n  [FAIL] two\n"
                           "         expected [1.0]\n         received [2.0]")
    assert not selfcheck.SelfCheckReport("empty").passed  # no case run is no pass


def test_the_checks_expect_the_values_computed_by_hand():
    """The expected values, pinned: the checks cannot pass a reference that shares their mistake."""
    expected = {name: exp for name, _, exp, _ in selfcheck.check_modal_labels_largest(_largest).cases}
    assert expected == {"no ties": [0, 1, 2], "a 2-2-1 tie among five members": [3, 4], "every member different": [9]}
    expected = {name: exp for name, _, exp, _ in selfcheck.check_quantizer_4bit(_quantize_4bit).cases}
    assert expected["a small matrix"] == ([[7.0, -3.0], [1.0, 0.0]], pytest.approx(0.1))
    assert expected["the largest magnitude negative"] == ([-7.0, 1.0, 3.0, 5.0], pytest.approx(0.2))
    assert expected["all zeros"] == ([0.0, 0.0, 0.0], 0.0)
    expected = {name: exp for name, _, exp, _ in selfcheck.check_vog(_vog).cases}
    assert expected["steady gradients"] == [0.0, 0.0] and expected["two checkpoints, two pixels"] == [1.5]
    expected = {name: exp for name, _, exp, _ in selfcheck.check_distillation_loss(_distillation).cases}
    # KL((1/4, 3/4) || (1/2, 1/2)) = 1/4 ln(1/2) + 3/4 ln(3/2)
    assert expected["one example, T = 1, soft term only"] == pytest.approx(0.25 * np.log(0.5) + 0.75 * np.log(1.5))


def test_the_new_checks_expect_the_values_computed_by_hand():
    expected = {name: exp for name, _, exp, _ in selfcheck.check_class_recall(_recall).cases}
    assert expected["three classes"] == [1.0, 0.5, pytest.approx(2 / 3, abs=1e-6)]
    assert np.isnan(expected["a class without examples"][1])
    expected = {name: exp for name, _, exp, _ in selfcheck.check_cubic_schedule(_cubic).cases}
    assert expected == {"before the window": 0.0, "a quarter of the way": pytest.approx(0.9 * (1 - 0.75**3)),
                        "half way": pytest.approx(0.99 * 7 / 8), "after the window": 0.5}
    expected = {name: exp for name, _, exp, _ in selfcheck.check_average_precision(_ap).cases}
    assert expected == {"flagged first": 1.0, "flagged last": 0.25, "interleaved": pytest.approx((1 + 2 / 3 + 3 / 5) / 3),
                        "tied scores, in example order": pytest.approx((1 + 2 / 4) / 2)}
    expected = {name: exp for name, _, exp, _ in selfcheck.check_cev(_cev).cases}
    assert expected["every class moved alike"] == 0.0
    # two classes: dFPR (+50, 0), dFNR (0, +200): half the mean squared distance to the centroid (25, 100)
    assert expected["two classes"] == pytest.approx((25**2 + 100**2) / 2)
    expected = {name: exp for name, _, exp, _ in selfcheck.check_subgroup_fnr(_fnr).cases}
    assert list(expected["two groups"]) == [0.5, 0.0]


def test_every_check_is_in_the_reference_and_wrong_answer_test():
    checked = {case.values[0].__name__ for case in PARAMETRIZED}
    assert checked == {name for name in selfcheck.__all__ if name.startswith("check_")}


def test_average_precision_check_catches_ties_ranked_in_reverse_order():
    def reversed_ties(scores, flags):  # reversing the examples reverses the order of the ties only
        return _ap(scores[::-1], flags[::-1])

    report = selfcheck.check_average_precision(reversed_ties)
    assert [name for name, ok, *_ in report.cases if not ok] == ["tied scores, in example order"]


def test_vog_check_catches_absolute_values_taken_before_the_channel_mean():
    assert not selfcheck.check_vog(lambda g: g.abs().mean(2).std(0, correction=0).mean((1, 2))).passed
