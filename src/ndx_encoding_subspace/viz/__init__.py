"""Looking at results: matplotlib figures, nwbwidgets views and the static HTML report."""
