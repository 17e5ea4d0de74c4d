"""boostgen_trainer trains SpatialBoost's three stages on boostgen datasets.

Run it as `python -m boostgen_trainer --stage 1|2|3 --data URI --out URI ...`.
"""
