"""Networks that are not one of the report's three models: the layer blocks every network is built from, and
the frozen networks that losses and metrics use (the landmark regressor, VGG19 and its offline stand-in).

Nothing here imports :mod:`animelib.models`, so losses, metrics and data code can use these freely.
"""
