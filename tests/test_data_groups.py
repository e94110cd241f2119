"""The protected groups of the synthetic set, as the chapters name them."""

import pandas as pd
import pytest

from course_lib.data.groups import gender_age, hair_gender

ATTRIBUTES = pd.DataFrame({"blond": [True, False, True, False], "male": [True, True, False, False],
                           "young": [False, True, True, False]}, index=pd.Index(["a", "b", "c", "d"], name="example_id"))


def test_gender_age_labels_every_row_and_keeps_the_index():
    table = gender_age(ATTRIBUTES)
    assert table.to_dict("list") == {"gender": ["male", "male", "female", "female"],
                                     "age": ["old", "young", "young", "old"]}
    assert table.index.equals(ATTRIBUTES.index)


def test_hair_gender_labels_every_row_and_keeps_the_index():
    groups = hair_gender(ATTRIBUTES)
    assert groups.tolist() == ["Blond male", "non-Blond male", "Blond female", "non-Blond female"]
    assert groups.name == "group" and groups.index.equals(ATTRIBUTES.index)


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"attributes must have the columns \['blond', 'male'\], missing \['blond'\]"):
        hair_gender(ATTRIBUTES.drop(columns="blond"))
