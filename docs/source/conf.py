"""Sphinx configuration of the format documentation (hdmf-docutils)."""

import os
import sys

project = "ndx-encoding-subspace"
copyright = "2026, ndx-encoding-subspace developers"
author = "ndx-encoding-subspace developers"
# the namespace's version, from the spec the documentation describes
_NAMESPACE = os.path.join(os.path.dirname(__file__), "..", "..", "spec",
                          "ndx-encoding-subspace.namespace.yaml")
with open(_NAMESPACE) as f:
    version = release = next(line.split(":", 1)[1].strip().strip("'\"") for line in f
                             if line.strip().startswith("version:"))

extensions = ["sphinx.ext.ifconfig", "sphinx.ext.intersphinx"]
# The core types (TimeSeries, DynamicTable, ...) link to the NWB and hdmf-common schema docs;
# offline, each inventory gives one warning and those links stay plain text.
intersphinx_mapping = {
    "core": ("https://nwb-schema.readthedocs.io/en/latest/", None),
    "hdmf-common": ("https://hdmf-common-schema.readthedocs.io/en/latest/", None),
}
intersphinx_timeout = 5
templates_path = []
exclude_patterns = []
language = "en"
html_theme = "sphinx_rtd_theme"
html_static_path = ["_static"]
numfig = True


def run_doc_autogen(_app: object) -> None:
    """Generate the format pages from ../spec before the build reads its sources."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for conf_doc_autogen
    from hdmf_docutils.generate_format_docs import main as generate_docs

    generate_docs()


def setup(app: object) -> None:
    """Register the generation step and the wide-table style."""
    app.connect("builder-inited", run_doc_autogen)
    app.add_css_file("theme_overrides.css")
