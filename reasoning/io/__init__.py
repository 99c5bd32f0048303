"""Reading and writing files and object storage, never half-written.

``fileio`` writes files and directories atomically and reads row files (JSONL, JSON, Parquet,
CSV) strictly, naming the file and line of bad input; ``s3client`` is the object-store
connection (settings from the environment, retries, errors without secrets); ``storage``
fetches, uploads and caches ``s3://`` / ``minio://`` files and directories behind one
interface with local paths; ``artifacts`` defines the layout of a model or dataset artifact
(metadata, checksums, lineage, train log) that every stage writes and reads the same way.
"""
