"""The transcribed numbers are consistent with each other and with the slides' printed shares."""

import pytest

from course_lib.book import papers
from course_lib.data.synthetic import CELEBA_TRAIN_COUNTS


def test_table3_layout_and_the_repeated_columns_flagged_in_the_docstring():
    table = papers.hooker2020_table3()
    assert list(table.columns) == list(papers.TABLE3_COLUMNS) == list(papers.TABLE3_GROUPS)
    assert table.shape == (6, 9)
    assert table.loc["baseline FNR", "M"] == 62.65 and table.loc["baseline FNR", "F"] == 19.09
    assert (table["FY"] == table["Y"]).all() and (table["FO"] == table["O"]).all()
    assert (table["MY"] != table["Y"]).any()


@pytest.mark.parametrize("attribute, printed", [
    ("male", {(True, True): 0.8, (True, False): 14.1, (False, True): 41.1, (False, False): 44.0}),
    ("young", {(True, True): 12.4, (True, False): 2.5, (False, True): 65.5, (False, False): 19.6}),
])
def test_celeba_counts_give_the_printed_shares(attribute, printed):
    counts = CELEBA_TRAIN_COUNTS[attribute]
    total = sum(counts.values())
    assert total == 162_770
    for cell, share in printed.items():
        assert 100 * counts[cell] / total == pytest.approx(share, abs=0.06)  # the slides print 0.85% as 0.8%
