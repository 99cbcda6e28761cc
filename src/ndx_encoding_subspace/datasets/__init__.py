"""Datasets: NS1 (Harper et al. 2016) to NWB, and a simulated auditory-cortex site."""
