"""`edgepick serve RUN`: a measured candidate behind HTTP (FastAPI + uvicorn), and `edgepick loadtest URL` (LoadGen).

Needs the `serve` extra: pip install 'edgepick[serve]' (fastapi, uvicorn, prometheus-client).
"""
