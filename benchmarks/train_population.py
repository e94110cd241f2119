"""Train one population two ways and compare their speed: a tutorial-style loop and the engine.

Usage::

    python benchmarks/train_population.py [--members K] [--epochs E] [--n-train N] [--repeats R] [--batch-norm]

Both ways follow one recipe: the reference ``SmallCNN`` of :func:`course_lib.training.models.make_model`
(with ``--batch-norm``, its BatchNorm variant), a stratified Fashion-MNIST subset of ``N``
training images, batch size 64, Adam with learning rate 1e-3, ``E`` epochs, member ``k``
initialised from seed ``k``.

(a) ``plain loop``: what most tutorials write -- a ``DataLoader`` over a ``TensorDataset``
    (batch 64, ``shuffle=True``, samples collated one by one), one model after another.
(b) ``engine``: :func:`course_lib.populations.population.train_population` itself (``cache=False``), the
    function every chapter calls: members trained side by side as one stacked network.

On a CPU a third row repeats (a) with one intra-op thread, to show how much of (a)'s time its
two threads spend waiting for each other (the engine gives every core a group of members of its
own instead). The table reports model-epochs per second, the test accuracies of the members
(equal within seed noise: same work, same recipe), the achieved FLOP/s -- convolution and
linear forward FLOPs counted analytically, training taken as 3x forward -- as a fraction of the
FLOP/s of a large ``torch.matmul`` measured on the same machine, and, on the last line, the
speedup of (b) over (a). Every way runs ``R`` times, the ways interleaved, and its fastest run
counts: on a shared machine, other programs only ever slow a run down.
Requires Fashion-MNIST under ``$COURSE_DATA_DIR``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib import data, training
from course_lib.populations import population
from course_lib.training import TrainingRecipe, make_model


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=4, help="models in the population (default 4)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs (default 2)")
    parser.add_argument("--n-train", type=int, default=10_000, help="training images (default 10000)")
    parser.add_argument("--n-test", type=int, default=2_000, help="test images for the accuracies (default 2000)")
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds; the fastest counts (default 2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--batch-norm", action="store_true", help="the SmallCNN with BatchNorm after every convolution")
    return parser.parse_args()


BATCH_SIZE, LR = 64, 1e-3


def forward_flops(model: nn.Module, images: torch.Tensor) -> int:
    """Multiply-add FLOPs (2 per multiply-accumulate) of one forward pass per image, Conv2d and Linear only."""
    total = 0

    def count(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += 2 * output[0].numel() * (module.in_channels // module.groups) * kh * kw
        else:
            total += 2 * module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(images[:1])
    for hook in hooks:
        hook.remove()
    return total


def matmul_flops_per_second(device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of an ``n x n`` float32 ``torch.matmul`` (``2 n^3`` FLOPs) over ``repeats`` runs."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(repeats + 1):
        sync(device)
        start = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


MODEL: dict = {}
"""Arguments of ``make_model`` besides the data's: ``{"batch_norm": True}`` under ``--batch-norm``."""


def plain_loop(images: torch.Tensor, targets: torch.Tensor, seeds: range, epochs: int,
               device: torch.device) -> list[nn.Module]:
    """The tutorial loop: DataLoader over a TensorDataset, one model after another."""
    trained = []
    for seed in seeds:
        model = make_model(in_channels=images.shape[1], num_classes=10, image_size=images.shape[-1], seed=seed,
                           **MODEL)
        model.to(device).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=LR)
        loader = DataLoader(TensorDataset(images, targets), batch_size=BATCH_SIZE, shuffle=True,
                            generator=torch.Generator().manual_seed(seed))
        loss_fn = nn.CrossEntropyLoss()
        for _ in range(epochs):
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                optimizer.zero_grad()
                loss_fn(model(x), y).backward()
                optimizer.step()
        trained.append(model.eval())
    return trained


def plain_loop_one_thread(images: torch.Tensor, targets: torch.Tensor, seeds: range, epochs: int,
                          device: torch.device) -> list[nn.Module]:
    """The same loop with one intra-op thread: shows how much of the gap is threads waiting for each other."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return plain_loop(images, targets, seeds, epochs, device)
    finally:
        torch.set_num_threads(saved)


def engine(images: torch.Tensor, targets: torch.Tensor, seeds: range, epochs: int,
           device: torch.device) -> list[nn.Module]:
    """The population engine, exactly as the chapters call it (cache off, so it trains)."""
    return population.train_population((images, targets), size=len(seeds), seeds=seeds,
                                       recipe=TrainingRecipe(epochs=epochs, batch_size=BATCH_SIZE, lr=LR),
                                       model_kwargs=MODEL, device=device, progress=False,
                                       cache=False).models()


def timed(fn, *args) -> tuple[list[nn.Module], float]:
    """``fn(*args)`` and its wall-clock seconds (the device is the last argument)."""
    device = args[-1]
    sync(device)
    start = time.perf_counter()
    result = fn(*args)
    sync(device)
    return result, time.perf_counter() - start


def best_of(methods: dict, repeats: int, *args) -> dict[str, tuple[list[nn.Module], float]]:
    """The models of every method and its fastest time over ``repeats`` rounds, methods interleaved."""
    best: dict[str, tuple[list[nn.Module], float]] = {}
    for _ in range(repeats):
        for name, fn in methods.items():
            trained, seconds = timed(fn, *args)
            if name not in best or seconds < best[name][1]:
                best[name] = (trained, seconds)
    return best


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    MODEL.update(batch_norm=args.batch_norm)
    train = data.load("fashion-mnist", split="train").sample(args.n_train, seed=0)
    test = data.load("fashion-mnist", split="test").sample(args.n_test, seed=0)
    seeds = range(args.members)
    model_epochs = args.members * args.epochs

    methods = {"plain loop": plain_loop, "engine": engine}
    if device.type == "cpu":
        methods["plain, 1 thread"] = plain_loop_one_thread
    load_before = os.getloadavg()[0]
    peak_before = matmul_flops_per_second(device)
    # Warm-up (oneDNN kernel generation, allocator), then the timed rounds.
    for fn in methods.values():
        fn(train.images[:256], train.targets[:256], range(2), 1, device)
    results = best_of(methods, args.repeats, train.images, train.targets, seeds, args.epochs, device)

    reference = make_model(in_channels=train.images.shape[1], num_classes=len(train.classes),
                           image_size=train.images.shape[-1], seed=0, **MODEL)
    flops_per_image = 3 * forward_flops(reference, train.images)
    peak = max(peak_before, matmul_flops_per_second(device))  # measured twice: interference only slows it
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"device {device}; load average before the runs {load_before:.2f} "
          "(other programs competing for the cores slow both ways, the plain loop most)")
    print(f"recipe: {args.members} {'BatchNorm ' * args.batch_norm}SmallCNNs x {args.epochs} epochs on "
          f"{args.n_train} Fashion-MNIST images, "
          f"batch {BATCH_SIZE}, Adam lr {LR}; test on {args.n_test} images; best of {args.repeats} rounds")
    print(f"training FLOPs per image (3x forward): {flops_per_image / 1e6:.2f} MFLOP; "
          f"matmul rate: {peak / 1e9:.1f} GFLOP/s")
    print()
    print(f"{'method':<16} {'seconds':>8} {'model-epochs/s':>15} {'GFLOP/s':>8} {'of matmul':>10} "
          f"{'test accuracy (mean +- sd)':>27}")
    rates, shares = {}, {}
    for name, (trained, seconds) in results.items():
        rates[name] = model_epochs / seconds
        flops = flops_per_image * args.n_train * model_epochs / seconds
        shares[name] = flops / peak
        accs = np.array([training.accuracy(training.predict_logits(m, test.images).argmax(1), test.targets)
                         for m in trained])
        print(f"{name:<16} {seconds:>8.1f} {rates[name]:>15.3f} {flops / 1e9:>8.2f} {flops / peak:>10.1%} "
              f"{accs.mean():>19.4f} +- {accs.std(ddof=1) if len(accs) > 1 else 0:.4f}")
    print()
    print(f"speedup: {rates['engine'] / rates['plain loop']:.2f}x "
          f"(engine at {shares['engine']:.0%} of the matmul rate, plain loop at {shares['plain loop']:.0%})")


if __name__ == "__main__":
    main()
