"""The data every stage reads: the dataset registry and the evaluation sets shipped with it.

``datasets.resolve_dataset`` turns a spec into rows in the row format of ``reasoning.schema``:
a file or ``s3://`` URI, a ``synthetic:math?n=..`` spec, or a known name (``gsm8k``,
``math500``, ``folio``, ``humaneval``, ``synthetic-test``); ``evalsets/`` holds the small
GSM8K, MATH-500 and FOLIO evaluation sets (with their licenses), so the defaults work in the
images and on a cluster without a data volume.
"""
