"""A synthetic city's food businesses: the case framing (each inspection at its own date).

`synth_food(out_dir, businesses, seed)` writes entities.csv, events/ (complaints, licences),
area/ (sanitation and garbage complaints, burglaries: coordinates, no business), weather.csv,
outcomes.csv (one row per inspection, with the inspector), features.csv (a ready feature table
as a city publishes it), queue.csv (the inspections due next week) and truth/ (the true
probability of a critical violation at each inspection). Parts: _city (the hidden world and
business-as-usual inspections), _food (files, mess, the ready table).
"""

from riskengine.synth.food._food import FoodSummary, synth_food

__all__ = ["FoodSummary", "synth_food"]
