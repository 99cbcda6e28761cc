"""Looking at results.

- :mod:`.plotting`: matplotlib drawing from arrays (filters, variance, SSRF maps, tuning
  curves, score scatters, matrices), shared by the views and the report;
- :mod:`.widgets`: nwbwidgets views of the extension's types (``viz`` extra); the public
  entry point is :mod:`ndx_encoding_subspace.widgets`;
- :mod:`.report`: the static HTML report of a results file (matplotlib only).
"""
