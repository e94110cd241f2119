"""The self-checks of the implementation exercises: the reference passes, wrong answers and stubs fail clearly."""

import numpy as np
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


def _stub(*args, **kwargs):
    raise NotImplementedError("write this function")


@pytest.mark.parametrize("check, reference, wrong", [
    (selfcheck.check_modal_labels_largest, _largest, exemplars.modal_labels),  # ties to the smallest
    (selfcheck.check_quantizer_4bit, _quantize_4bit,
     lambda w: (torch.round(w / (w.abs().max() / 127)), w.abs().max() / 127)),  # int8's arithmetic
    (selfcheck.check_vog, _vog, lambda g: g.mean(2).std(0).mean((1, 2))),  # the sample std (ddof 1)
    (selfcheck.check_distillation_loss, _distillation,  # without the T**2 factor of the soft term
     lambda s, t, y, *, temperature, alpha, gamma: _distillation(s, t, y, temperature=temperature,
                                                                 alpha=alpha / temperature**2, gamma=gamma)),
])
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


def test_vog_check_catches_absolute_values_taken_before_the_channel_mean():
    assert not selfcheck.check_vog(lambda g: g.abs().mean(2).std(0, correction=0).mean((1, 2))).passed
