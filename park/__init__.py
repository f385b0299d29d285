"""The park's layout: zones drawn in GeoJSON (boundary, roads, lots, bays, restricted areas, gates,
assembly points), validated, versioned, and asked where a vehicle is.

- ``park.geometry``: plane geometry on a park's scale (pure).
- ``park.layout``: parsing and validating a GeoJSON FeatureCollection; the typed, immutable
  :class:`~park.layout.Layout` that answers "which zones contain this point" (pure).
- ``park.store``: the versioned layout tables (migration 0013) and the import (adapter).

See docs/park.md.
"""
