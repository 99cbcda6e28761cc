"""HDF5 compression filters: the plugins of hdf5plugin when installed, and a clear error
naming the dataset when a file needs a filter this installation cannot decode.

Writers may compress with filters that HDF5 does not ship (Zstd, Blosc, LZ4, Bitshuffle:
``hdf5plugin``, as neuroconv and hdmf offer). Reading such a dataset without the plugin
fails inside HDF5 with a message about plugin folders; :func:`missing_filter_message`
turns that into one line naming the dataset, its filter and the package to install.
"""

from __future__ import annotations

import contextlib

import h5py

__all__ = ["load_filter_plugins", "missing_filter", "missing_filter_message", "mentions_filter"]

_INSTALL = "pip install hdf5plugin"


def load_filter_plugins() -> bool:
    """Register the filters of ``hdf5plugin`` with HDF5 when it is installed; whether it was."""
    with contextlib.suppress(ImportError):
        import hdf5plugin  # noqa: F401

        return True
    return False


def missing_filter(h5: h5py.File) -> tuple[str, int, str] | None:
    """The first dataset of ``h5`` compressed with a filter HDF5 cannot apply here:
    ``(dataset path, filter id, filter name)``, or None when every filter is available."""
    found: list[tuple[str, int, str]] = []

    def visit(name: str, obj: object) -> object:
        if not isinstance(obj, h5py.Dataset):
            return None
        plist = obj.id.get_create_plist()
        for i in range(plist.get_nfilters()):
            code, _flags, _values, label = plist.get_filter(i)
            if not h5py.h5z.filter_avail(code):
                text = (label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label))
                text = text.split(";")[0].strip()
                found.append((f"/{name}", int(code), text))
                return True  # stops the visit
        return None

    h5.visititems(visit)
    return found[0] if found else None


def mentions_filter(err: BaseException) -> bool:
    """Whether an HDF5 read error may come from a filter that is not available."""
    text = str(err).lower()
    return isinstance(err, OSError) and ("filter" in text or "plugin" in text)


def missing_filter_message(h5: h5py.File, name: str) -> str:
    """One line naming the dataset of ``h5`` (file ``name``) whose filter is missing, and
    how to get it ('' when every filter is available)."""
    try:
        found = missing_filter(h5)
    except (OSError, RuntimeError, ValueError):
        return ""
    if found is None:
        return ""
    path, code, label = found
    what = f"HDF5 filter {code}" + (f" ({label})" if label else "")
    return (f"{name}: dataset {path} is compressed with {what}, which this installation cannot "
            f"decode: install hdf5plugin ({_INSTALL}); the reader loads it when it is installed")
