"""The protected groups of the synthetic set, as the chapters name them."""

import pandas as pd
import pytest

from course_lib.data.groups import exemplar_flags, gender_age, hair_gender

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


def test_exemplar_flags_name_the_flags_and_groups_of_every_row():
    attributes = ATTRIBUTES.assign(atypical=[True, False, False, True][:len(ATTRIBUTES)],
                                   label_flipped=[False, True, False, False][:len(ATTRIBUTES)],
                                   rendering=["clean", "clean", "corrupted", "clean"][:len(ATTRIBUTES)])
    flags = exemplar_flags(attributes)
    assert list(flags.columns) == ["atypical", "noisy: corrupted image", "noisy: flipped label", "group", "age"]
    assert flags.index.equals(attributes.index)
    assert flags["noisy: corrupted image"].tolist() == (attributes.rendering == "corrupted").tolist()
    assert flags["group"].tolist() == hair_gender(attributes).tolist()
    with pytest.raises(ValueError, match="missing \\['rendering'\\]"):
        exemplar_flags(attributes.drop(columns="rendering"))
