"""Networks of the three models, built from the blocks in :mod:`animelib.models.common`."""
