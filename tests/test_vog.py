"""Variance of Gradients: the score, class normalisation, stage windows, batched input gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import training
from course_lib.analysis import vog
from course_lib.populations import population

BN = {"batch_norm": True, "channels": (16, 16), "hidden": 16}


@pytest.fixture(scope="module")
def pop() -> population.Population:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(96, 3, 8, 8, generator=g)
    y = (x[:, 0, :4].mean((1, 2)) > x[:, 0, 4:].mean((1, 2))).long()
    recipe = training.TrainingRecipe(epochs=2, batch_size=32)
    return population.train_population((x, y), size=2, recipe=recipe, model_kwargs=BN, checkpoint_epochs=[0, 1, 2],
                                       cache=False, progress=False)


def test_vog_is_the_pixel_mean_of_the_checkpoint_std_of_channel_averaged_gradients():
    # one example, 2 channels, 1 x 2 pixels; channel averages: checkpoint 1 (0, 2), checkpoint 2 (2, 2)
    grads = torch.tensor([[[[[0.0, 0.0]], [[0.0, 4.0]]]],
                          [[[[2.0, 4.0]], [[2.0, 0.0]]]]])  # (K=2, N=1, C=2, H=1, W=2)
    # pixel 1: values 0 and 2, std 1 (ddof 0); pixel 2: 2 and 2, std 0; mean over pixels 0.5
    assert vog.vog_scores(grads).tolist() == [0.5]
    three = torch.stack([grads[0], grads[1], grads[1]])  # pixel 1: 0, 2, 2 -> std sqrt(8/9)
    assert vog.vog_scores(three)[0] == pytest.approx(np.sqrt(8 / 9) / 2)


def test_class_normalisation_is_a_z_score_within_each_class_with_ddof_0():
    scores = np.array([1.0, 2.0, 3.0, 10.0, 10.0])
    out = vog.class_normalise(scores, [0, 0, 0, 1, 1])
    z = np.sqrt(1.5)  # (3 - 2) / sqrt(2/3)
    np.testing.assert_allclose(out, [-z, 0.0, z, 0.0, 0.0])
    per_member = vog.class_normalise(np.stack([scores, 2 * scores]), np.array([[0, 0, 0, 1, 1], [0, 0, 1, 1, 1]]))
    np.testing.assert_allclose(per_member[0], out)
    np.testing.assert_allclose(per_member[1, :2], [-1.0, 1.0])
    with_labels = vog.vog_scores(torch.rand(3, 5, 1, 2, 2), labels=[0, 0, 0, 1, 1])
    assert with_labels[:3].mean() == pytest.approx(0.0) and with_labels[:3].std() == pytest.approx(1.0)


def test_stage_windows_split_the_checkpoints_in_consecutive_thirds():
    windows = vog.stage_windows([6, 0, 1, 2, 3, 4, 5])
    assert windows == {"early": (0, 1, 2), "middle": (3, 4), "late": (5, 6), "complete": (0, 1, 2, 3, 4, 5, 6)}
    with pytest.raises(ValueError, match="epochs must hold at least 6 distinct checkpoints, got \\[0, 1, 2\\]"):
        vog.stage_windows([0, 1, 2, 2])


@pytest.mark.parametrize("score", vog.SCORES)
def test_batched_input_gradients_equal_a_loop_over_examples(pop, score):
    images = torch.rand(7, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    classes = torch.tensor([[0, 1, 1, 0, 1, 0, 0], [1, 1, 0, 0, 1, 1, 0]])  # another class per member
    batched = vog.input_gradients(pop, images, classes, epoch=1, score=score, batch_size=6)  # 3 per pass
    assert batched.shape == (2, 7, 3, 8, 8)
    for k, model in enumerate(pop.models(epoch=1)):
        for i in range(len(images)):
            x = images[i:i + 1].clone().requires_grad_()
            out = model(x)
            picked = (out.softmax(1) if score == "probability" else out)[0, classes[k, i]]
            picked.backward()
            torch.testing.assert_close(batched[k, i], x.grad[0], rtol=1e-4, atol=1e-6)


def test_population_vog_is_vog_scores_of_the_gradients_whatever_the_chunks(pop):
    images = torch.rand(9, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(9) % 2
    grads = torch.stack([vog.input_gradients(pop, images, labels, epoch=e) for e in (0, 1, 2)])
    expected = np.stack([vog.vog_scores(grads[:, k]) for k in range(2)])
    late = np.stack([vog.vog_scores(grads[1:, k]) for k in range(2)])
    for batch_size in (4, 1000):
        scores = vog.population_vog(pop, images, labels, windows={"all": [2, 0, 1], "late": (1, 2)},
                                    batch_size=batch_size, cache=False)
        np.testing.assert_allclose(scores["all"], expected, rtol=1e-5)
        np.testing.assert_allclose(scores["late"], late, rtol=1e-5)


def test_population_vog_is_cached_and_keyed_by_what_it_depends_on(pop, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    images = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    labels = torch.arange(6) % 2
    windows = {"late": (1, 2)}
    first = vog.population_vog(pop, images, labels, windows=windows)
    calls = []
    real = vog.input_gradients
    monkeypatch.setattr(vog, "input_gradients", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = vog.population_vog(pop, images, labels, windows=windows)
    assert not calls and np.array_equal(again["late"], first["late"])  # loaded, not recomputed
    vog.population_vog(pop, images, 1 - labels, windows=windows)  # other classes: another entry
    assert calls
    calls.clear()
    vog.population_vog(pop, images, labels, windows=windows, score="probability")
    assert calls


def test_bad_vog_inputs_are_named(pop):
    images = torch.rand(3, 3, 8, 8)
    with pytest.raises(ValueError, match="score must be one of"):
        vog.input_gradients(pop, images, [0, 1, 0], score="loss")
    with pytest.raises(ValueError, match=r"classes must have shape \(N,\) = \(3,\) or \(K, N\) = \(2, 3\), got \(4,\)"):
        vog.input_gradients(pop, images, [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"gradients must have shape \(K, N, C, H, W\), got \(2, 3\)"):
        vog.vog_scores(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="at least 2 checkpoints"):
        vog.vog_scores(np.zeros((1, 3, 1, 2, 2)))
    with pytest.raises(ValueError, match="windows\\['late'\\] must hold at least 2 distinct checkpoints, got \\[1\\]"):
        vog.population_vog(pop, images, [0, 1, 0], windows={"late": [1, 1]})
    with pytest.raises(ValueError, match="epoch must be one of the checkpoint epochs"):
        vog.input_gradients(pop, images, [0, 1, 0], epoch=5)
    with pytest.raises(ValueError, match=r"windows must hold checkpoint epochs of the population, \[0, 1, 2\], got \[5\]"):
        vog.population_vog(pop, images, [0, 1, 0], windows={"w": [1, 5]})


# --------------------------------------------------------------------------- learning speed (two long tails)

def test_msp_label_probability_and_learning_speed_exact():
    from course_lib.analysis import learning_speed as ls
    # 2 checkpoints, 1 member, 2 examples, 2 classes
    probs = np.array([[[[0.9, 0.1], [0.4, 0.6]]],
                      [[[0.7, 0.3], [0.2, 0.8]]]])
    labels = np.array([0, 0])  # example 1 is "mislabelled": the model prefers class 1
    np.testing.assert_allclose(ls.max_softmax_probability(probs), [[[0.9, 0.6]], [[0.7, 0.8]]])
    np.testing.assert_allclose(ls.label_probability(probs, labels), [[[0.9, 0.4]], [[0.7, 0.2]]])
    np.testing.assert_allclose(ls.learning_speed(probs, labels), [[0.8, 0.3]])
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\) = \(2,\), got \(3,\)"):
        ls.label_probability(probs, [0, 0, 1])
    with pytest.raises(ValueError, match="probabilities must have shape"):
        ls.learning_speed(probs[0], labels)


def test_checkpoint_probabilities_are_the_members_softmax_at_each_checkpoint(pop):
    from course_lib.analysis import learning_speed as ls
    images = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    probs = ls.checkpoint_probabilities(pop, images, epochs=[2, 0])
    assert probs.shape == (2, 2, 5, 2)
    expected = training.predict_logits(pop.models(epoch=0)[1], images).softmax(-1)
    np.testing.assert_allclose(probs[1, 1], expected.numpy(), rtol=1e-4, atol=1e-6)


def test_paired_speed_change_averages_the_member_differences_by_kind():
    from course_lib.analysis import learning_speed as ls
    before = np.array([[0.5, 0.5, 0.2], [0.7, 0.3, 0.4]])
    after = np.array([[0.6, 0.7, 0.2], [0.7, 0.5, 0.1]])
    table = ls.paired_speed_change(before=before, after=after, kinds=np.array(["a", "a", "b"]), n_boot=200)
    assert table.loc["a", "count"] == 2 and table.loc["b", "count"] == 1
    assert table.loc["a", "change"] == pytest.approx((0.1 + 0.2 + 0.0 + 0.2) / 4)
    assert table.loc["b", "change"] == pytest.approx((0.0 - 0.3) / 2)
    assert table.loc["a", "before"] == pytest.approx(0.5) and table.loc["a", "after"] == pytest.approx(0.625)
    assert table.loc["a", "low"] <= table.loc["a", "change"] <= table.loc["a", "high"]
    with pytest.raises(ValueError, match="kinds must have shape"):
        ls.paired_speed_change(before=before, after=after, kinds=np.array(["a"]))


def test_accuracy_over_training_is_each_kinds_member_mean_at_each_checkpoint():
    from course_lib.analysis import learning_speed as ls
    # 2 checkpoints, 2 members, 3 examples, 2 classes; labels all 0
    probs = np.array([[[[0.9, 0.1], [0.4, 0.6], [0.3, 0.7]], [[0.6, 0.4], [0.2, 0.8], [0.8, 0.2]]],
                      [[[0.9, 0.1], [0.7, 0.3], [0.6, 0.4]], [[0.6, 0.4], [0.9, 0.1], [0.8, 0.2]]]])
    table = ls.accuracy_over_training(probabilities=probs, labels=np.zeros(3, dtype=int),
                                      kinds=np.array(["easy", "late", "late"]), epochs=[1, 5], n_boot=200)
    got = table.set_index(["epoch", "kind"])
    assert got.loc[(1, "easy"), "accuracy"] == 1.0 and got.loc[(1, "late"), "accuracy"] == pytest.approx(0.25)
    assert got.loc[(5, "late"), "accuracy"] == 1.0 and got.loc[(5, "late"), "count"] == 2
    assert (got.loc[(5, "late"), "low"], got.loc[(5, "late"), "high"]) == (1.0, 1.0)
    assert got.loc[(1, "late"), "low"] <= 0.25 <= got.loc[(1, "late"), "high"]
    with pytest.raises(ValueError, match="E = len\\(epochs\\) = 3"):
        ls.accuracy_over_training(probabilities=probs, labels=np.zeros(3, dtype=int), kinds=np.array(["a"] * 3),
                                  epochs=[1, 2, 3])
    with pytest.raises(ValueError, match="labels and kinds must have shape"):
        ls.accuracy_over_training(probabilities=probs, labels=np.zeros(3, dtype=int), kinds=np.array(["a"] * 2),
                                  epochs=[1, 5])
