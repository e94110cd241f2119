"""Helpers every chapter notebook calls: reproducible set-up and checked claims."""

from __future__ import annotations

import json
import os
import random
from dataclasses import replace

import numpy as np
import torch

from ..core.profiles import Profile, get_profile
from ..core.validation import check_integer


def start(profile: str | Profile, *, seed: int = 0, data_seed: int = 0, seed_offset: int = 0) -> Profile:
    """Prepare a chapter run and return its :class:`~course_lib.core.profiles.Profile`.

    Seeds Python, NumPy and PyTorch with ``seed``, turns on PyTorch's deterministic algorithms
    (the same numbers on every re-execution on the same machine; on a GPU also
    ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` unless already set) and sets the plotting theme.
    ``data_seed`` and ``seed_offset`` (the chapters' parameters, 0 by default) are set on the
    returned profile: ``make claims`` re-executes the chapters with other data and other
    population seeds to count how often each claim holds.
    """
    profile = replace(get_profile(profile), data_seed=check_integer(data_seed, "data_seed", low=0),
                      seed_offset=check_integer(seed_offset, "seed_offset", low=0))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # Deterministic cuBLAS products need this workspace setting, read when CUDA starts (on a GPU).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    import seaborn as sns  # plotting is needed only in notebooks

    sns.set_theme(context="notebook", style="whitegrid")
    return profile


def check_claim(profile: str | Profile, condition: bool, claim: str) -> bool:
    """Assert that the data support a sentence of the text.

    Under profiles that set ``check_claims`` (``course`` and ``full``) a false ``condition``
    raises, so that executing the book fails when the numbers stop supporting the prose.
    Under ``smoke`` (too few examples for the science to hold) it only reports.

    When the environment variable ``COURSE_CLAIMS_RECORD`` names a file, every claim is
    appended to it as a JSON line ``{"claim": ..., "holds": ...}`` and none raises: ``make
    claims`` (``tools/claims.py``) executes the chapters with other data and population seeds
    and counts how often each claim holds.

    Returns
    -------
    bool
        ``condition``, so the result can be glued or printed.

    Raises
    ------
    AssertionError
        If ``condition`` is false and the profile checks claims.
    """
    profile = get_profile(profile)
    holds = bool(condition)
    record = os.environ.get("COURSE_CLAIMS_RECORD")
    if record:
        with open(record, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"claim": claim, "holds": holds}) + "\n")
        return holds
    if not holds and profile.check_claims:
        raise AssertionError(f"The data no longer support the claim: {claim}")
    return holds


def glue(name: str, value: object, fmt: str = "") -> str:
    """Glue ``value``, formatted with ``fmt``, for the prose to cite as ``{glue:md}`name```.

    The value is glued as Markdown text, so that numbers and names appear in sentences as
    written (``89.4``, ``Shirt``) rather than as Python literals (``'89.4'``). Nothing is
    displayed in the notebook itself.

    Returns
    -------
    str
        The formatted text, e.g. for a print statement or an assertion message.
    """
    from IPython.display import Markdown
    from myst_nb import glue as myst_glue

    text = format(value, fmt)
    myst_glue(name, Markdown(text), display=False)
    return text
