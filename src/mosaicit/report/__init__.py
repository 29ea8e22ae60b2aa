"""The HTML report of a run: what the samples hold and what they cost to train (``mosaicit report``).

runs.py reads a run (output, summary, rejects) -> cost.py does the training-cost arithmetic ->
plots.py draws the figures (matplotlib) -> page.py lays out the HTML -> write.py writes it all.
"""
