"""The protected groups the chapters audit, read off a dataset's attribute table.

A subgroup audit (:mod:`course_lib.analysis.subgroups`) takes one column per protected attribute.
These functions build those columns for the synthetic CelebA-like set, with the labels the book
uses, so every chapter names the groups alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _check_attributes(attributes: pd.DataFrame, columns: tuple[str, ...]) -> None:
    if not isinstance(attributes, pd.DataFrame):
        raise TypeError(f"attributes must be a pandas DataFrame, got {type(attributes).__name__}")
    missing = [column for column in columns if column not in attributes.columns]
    if missing:
        raise ValueError(f"attributes must have the columns {list(columns)}, missing {missing}")


def gender_age(attributes: pd.DataFrame) -> pd.DataFrame:
    """Columns ``gender`` (``"female"``/``"male"``) and ``age`` (``"young"``/``"old"``), one row per example.

    Parameters
    ----------
    attributes : pandas.DataFrame
        With boolean columns ``male`` and ``young`` (CelebA's ``Male`` and ``Young``), e.g. the
        attributes of the synthetic CelebA-like set.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``attributes``: the grouping of Hooker et al. (2020, Table 3).
    """
    _check_attributes(attributes, ("male", "young"))
    return pd.DataFrame({"gender": np.where(attributes["male"], "male", "female"),
                         "age": np.where(attributes["young"], "young", "old")}, index=attributes.index)


def hair_gender(attributes: pd.DataFrame) -> pd.Series:
    """``"Blond male"``, ``"non-Blond female"``, ... for every row of a CelebA-like attribute table.

    Parameters
    ----------
    attributes : pandas.DataFrame
        With boolean columns ``blond`` (the label, possibly flipped) and ``male``.

    Returns
    -------
    pandas.Series
        Named ``group``, indexed like ``attributes``.
    """
    _check_attributes(attributes, ("blond", "male"))
    labels = (np.where(attributes["blond"], "Blond ", "non-Blond ").astype(object)
              + np.where(attributes["male"], "male", "female").astype(object))
    return pd.Series(labels, index=attributes.index, name="group")


def exemplar_flags(attributes: pd.DataFrame) -> pd.DataFrame:
    """The flags and groups whose enrichment among exemplars the chapters measure on the synthetic set.

    Parameters
    ----------
    attributes : pandas.DataFrame
        The synthetic CelebA-like attribute table: boolean ``atypical``, ``label_flipped``,
        ``blond``, ``male``, ``young`` and the ``rendering`` of every image.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``attributes``: boolean ``atypical``, ``noisy: corrupted image`` and
        ``noisy: flipped label``, and the categorical ``group`` (:func:`hair_gender`) and
        ``age`` (:func:`gender_age`), as :func:`~course_lib.analysis.exemplars.enrichment` takes them.
    """
    _check_attributes(attributes, ("atypical", "label_flipped", "rendering"))
    return pd.DataFrame({"atypical": attributes["atypical"],
                         "noisy: corrupted image": attributes["rendering"] == "corrupted",
                         "noisy: flipped label": attributes["label_flipped"],
                         "group": hair_gender(attributes),
                         "age": gender_age(attributes)["age"]}, index=attributes.index)
