"""`hazgate simulate`: a seeded park (gates, tankers, detectors) publishing realistic traffic."""
