"""After deployment: the training data's reference profile (``profile.py``), drift measures
(``drift.py``), the server's live monitor (``live.py``) and traffic capture (``capture.py``)."""
