"""What a compressed model really costs on disk, measured by serializing it.

Unstructured sparsity only saves storage when few weights remain, and quantization saves it by
storing fewer bits per weight. Both are measured here the same way: the arrays a format needs
are written with :func:`torch.save` into memory and their bytes counted.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..core.validation import check_option
from .masks import effective_weights
from .quantization import SCHEMES, encode


def serialized_size(encoded: Mapping[str, Sequence[torch.Tensor]]) -> dict[str, int]:
    """Size of tensors stored with :func:`torch.save`, measured by serializing them into memory.

    Parameters
    ----------
    encoded : mapping of str to sequence of torch.Tensor
        The arrays that store each layer in some format.

    Returns
    -------
    dict
        ``bytes``: length of the real ``torch.save`` file (zip container and per-tensor records
        included, about 1 kB plus some hundred bytes per tensor); ``payload_bytes``: the bytes
        of the arrays themselves (``numel * element_size``), what a lean format would need.
    """
    buffer = io.BytesIO()
    # Clones get compact storages: torch.save writes the whole storage behind a view.
    torch.save({name: [part.clone() for part in parts] for name, parts in encoded.items()}, buffer)
    payload = sum(part.numel() * part.element_size() for parts in encoded.values() for part in parts)
    return {"bytes": buffer.getbuffer().nbytes, "payload_bytes": payload}


def _coo(weight: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """COO via ``to_sparse()``: int64 indices ``(ndim, nnz)`` and values ``(nnz,)``."""
    sparse = weight.to_sparse()
    return sparse.indices(), sparse.values()


def _csr(weight: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """CSR via ``to_sparse_csr()`` of the weight as ``(out, fan_in)``: int64 row pointers
    ``(out + 1,)`` and column indices ``(nnz,)``, values ``(nnz,)``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        sparse = weight.reshape(weight.shape[0], -1).to_sparse_csr()
    return sparse.crow_indices(), sparse.col_indices(), sparse.values()


def _bitmask(weight: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """One bit per weight (``uint8``, ``ceil(n / 8)`` bytes) and the nonzero values ``(nnz,)``."""
    flat = weight.flatten()
    return torch.from_numpy(np.packbits(flat.ne(0).numpy())), flat[flat.ne(0)]


SPARSE_FORMATS: dict[str, Callable[[torch.Tensor], tuple[torch.Tensor, ...]]] = {
    "dense": lambda weight: (weight,),
    "coo": _coo,
    "csr": _csr,
    "bitmask": _bitmask,
}


def storage_bytes(model: nn.Module) -> pd.DataFrame:
    """Real storage of the prunable weights (masks applied) in dense and sparse formats.

    Every format is serialized with :func:`torch.save` into memory and measured
    (:func:`serialized_size`). Unstructured sparsity only saves storage when few weights
    remain: COO costs ``4 + 8 * ndim`` bytes per nonzero float32 weight, CSR about 12, against
    4 per weight dense; a bitmask pays 1 bit per weight plus 4 bytes per nonzero.

    Returns
    -------
    pandas.DataFrame
        Index ``format`` (``dense`` float32, ``coo``, ``csr``, ``bitmask``); columns ``bytes``
        (serialized), ``payload_bytes`` (arrays only) and ``vs_dense`` (``bytes`` relative to
        the dense file). Biases and other parameters, identical in every format, are left out.
    """
    weights = {name: weight.cpu() for name, weight in effective_weights(model).items()}
    table = pd.DataFrame.from_dict(
        {fmt: serialized_size({name: encode(weight) for name, weight in weights.items()})
         for fmt, encode in SPARSE_FORMATS.items()}, orient="index")
    table.index.name = "format"
    table["vs_dense"] = table["bytes"] / table.loc["dense", "bytes"]
    return table


def quantized_storage_bytes(model: nn.Module, scheme: str) -> dict[str, int]:
    """Real storage of the Conv/Linear weights (masks applied) under ``scheme``.

    Measured like :func:`storage_bytes` (serialized with :func:`torch.save`): returns
    ``{"bytes": ..., "payload_bytes": ...}``. int8 stores one byte per weight plus float32
    scales; ``"float32"`` matches the ``dense`` row of :func:`storage_bytes`. Biases are left out.
    """
    check_option(scheme, "scheme", SCHEMES)
    return serialized_size({name: encode(weight.cpu(), scheme) for name, weight in effective_weights(model).items()})
