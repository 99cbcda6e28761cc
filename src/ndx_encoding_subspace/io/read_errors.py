"""What an error raised while a file is read says: damage to the file (HDF5, Zarr and
hdmf failing on its bytes), the operating system refusing a write (a full disk or quota,
reported by HDF5 in an error of its own), or the machine (no usable temporary folder)."""

from __future__ import annotations

import errno
import re

__all__ = ["is_damage", "of_this_machine", "write_refused"]

#: h5py's wrappers of the HDF5 library, and Zarr's and its codecs' modules: what they
#: raise while reading comes from the stored bytes
_HDF5_LIBRARY = re.compile(
    r"^(h5py\.(h5[a-z]*|_errors|_objects|_proxy|_conv)|zarr\.(core|storage|meta|_storage\..*)|numcodecs(\..*)?)$")


#: what HDF5 says of a write the operating system refused (full disk, quota, read-only)
_REFUSED = {28: "No space left on device", 122: "Disk quota exceeded", 30: "Read-only file system"}
_FILENAME = re.compile(r"filename = '([^']+)'")


def write_refused(err: Exception) -> OSError | None:
    """The operating system's refusal behind ``err`` (HDF5 reports it in a RuntimeError of
    its own), as an :class:`OSError` naming the file written; None for any other error."""
    text = str(err)
    for code, said in _REFUSED.items():
        if said in text or f"errno = {code}," in text:
            named = _FILENAME.search(text)
            return OSError(code, said, named.group(1) if named else None)
    return None


#: what an OSError says of the machine, not of the file read: a full disk or quota, a file
#: size limit, a read-only folder
_MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def of_this_machine(err: Exception) -> bool:
    """Whether ``err`` is the machine's (a full disk, no usable temporary folder while a
    library loads), said as it is rather than as damage to the file."""
    return isinstance(err, OSError) and (err.errno in _MACHINE_ERRNOS
                                          or "temporary directory" in str(err))


def is_damage(err: Exception) -> bool:
    """Whether ``err`` means a damaged file rather than a bug of the code reading it."""
    if isinstance(err, OSError):  # h5py reports failed reads (and the OS its own) so
        return True
    from hdmf.build.errors import ConstructError

    if isinstance(err, ConstructError):  # hdmf could not build an object from the file
        return True
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "") if tb is not None else ""
    return bool(_HDF5_LIBRARY.match(module))
