"""The figures shared by the chapters."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from course_lib.book import plots  # noqa: E402


def test_interval_plot_draws_one_point_and_bar_per_row():
    table = pd.DataFrame({"level": ["90%", "90%", "99%", "99%"], "group": ["a", "b", "a", "b"],
                          "change": [1.0, 2.0, 3.0, 4.0], "low": [0.0, 1.0, 2.0, 3.0], "high": [2.0, 3.0, 4.0, 6.0]})
    ax = plots.interval_plot(table, x="level", y="change", hue="group")
    points = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(points) == 2                              # one series per group
    assert np.allclose(points[1].get_ydata(), [2.0, 4.0])  # group b at both levels
    assert [t.get_text() for t in ax.get_xticklabels()] == ["90%", "99%"]
    with pytest.raises(ValueError, match=r"table must have columns .* missing \['high'\]"):
        plots.interval_plot(table.drop(columns="high"), x="level", y="change", hue="group")


def test_figures_are_opaque_so_that_they_read_in_dark_mode():
    """The book theme has a dark mode: a figure on a transparent background would show black text on black."""
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    from course_lib import book

    book.start("smoke")  # the chapters' figure settings (seaborn's theme)
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")  # as the inline backend of a chapter's kernel saves it
    plt.close(fig)
    alpha = Image.open(buffer).convert("RGBA").getchannel("A")
    assert alpha.getextrema() == (255, 255), "every pixel of a figure must be opaque"
