"""What autonet writes to disk, and how it reads it back safely.

- :mod:`autonet.storage.files` -- atomic writes (temporary file, fsync, rename);
- :mod:`autonet.storage.models` -- trained models as plain ``.npz`` (no pickles);
- :mod:`autonet.storage.checkpoints` -- the trainer's full state, for exact resumes.
"""
